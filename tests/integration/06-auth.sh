#!/bin/bash
# Operator verbs need root, the daemon's uid or the operator group
# (SO_PEERCRED); an agent's token works for that agent alone.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is required"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to act as another uid"; exit 77; }
chmod 755 "$T"
printf '[swarmd]\nsocket_mode = 0666\noperator_group = users\n' >"$CONF"
start_daemon
users_gid=$(getent group users | cut -d: -f3)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# An unrelated uid can connect (mode 0666 here) but not use operator verbs.
as_nobody "$SWARMCTL" jobs 2>"$T/err"; assert_eq $? 1 "nobody: exit status"
assert_contains "$(cat "$T/err")" "forbidden"
echo '{"name":"x","command":["true"],"chunks":[{"id":"a","task":"t"}]}' >"$T/j.json"
chmod 644 "$T/j.json"
as_nobody "$SWARMCTL" submit "$T/j.json" 2>/dev/null && fail "nobody submitted a job"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "nothing stored"
# hello is open to anyone who can connect: said over the socket as uid
# 65534, by a python3 that uid can run.
py=""
for p in $(type -ap python3); do
	as_nobody "$p" -c "" 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || fail "no python3 that uid 65534 may run"
cp "$(dirname "$0")/rawclient.py" "$T/" # the tree may be closed to uid 65534
as_nobody env PYTHONPATH="$T" "$py" - "$SOCK" <<'PY' || fail "hello refused to a stranger"
import sys
from rawclient import Conn
c = Conn(sys.argv[1])
r = c.call("hello", {"version": 1})
assert r.get("ok") is True, r
r = c.call("jobs", rid=2)
assert r.get("ok") is False and r["error"]["code"] == "forbidden", r
PY
# Members of the operator group may, by primary or supplementary group.
setpriv --reuid=65534 --regid="$users_gid" --clear-groups "$SWARMCTL" jobs >/dev/null ||
	fail "primary operator group refused"
setpriv --reuid=65534 --regid=65534 --groups="$users_gid" "$SWARMCTL" jobs >/dev/null ||
	fail "supplementary operator group refused"

# Tokens: each agent may act only as itself.
f=$(job_file two '["'"$AGENTS"'/hang-agent"]' 2 '{"concurrency":2,"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "[ \$(wc -l <'$T/pids' 2>/dev/null || echo 0) -ge 2 ]" || fail "agents did not start"
envof() { tr '\0' '\n' <"/proc/$1/environ" | sed -n "s/^$2=//p"; }
p1=$(sed -n 1p "$T/pids"); p2=$(sed -n 2p "$T/pids")
a1=$(envof "$p1" SWARM_AGENT); t1=$(envof "$p1" SWARM_TOKEN)
a2=$(envof "$p2" SWARM_AGENT); t2=$(envof "$p2" SWARM_TOKEN)
[ -n "$t1" ] && [ "$a1" != "$a2" ] || fail "agents' environment"
SWARM_AGENT=$a1 SWARM_TOKEN=$t1 swarmctl heartbeat --note mine || fail "own token refused"
SWARM_AGENT=$a1 SWARM_TOKEN=$t2 swarmctl heartbeat --note theirs 2>"$T/err" && fail "foreign token accepted"
assert_contains "$(cat "$T/err")" "unauthorized"
SWARM_AGENT=$a2 SWARM_TOKEN=0000 swarmctl checkpoint --note forged 2>/dev/null && fail "forged token accepted"
SWARM_AGENT=agent-999 SWARM_TOKEN=$t1 swarmctl heartbeat 2>/dev/null && fail "unknown agent accepted"
# Agent verbs outside an agent: a usage error.
env -u SWARM_AGENT -u SWARM_TOKEN "$SWARMCTL" heartbeat 2>/dev/null; assert_eq $? 2 "heartbeat outside an agent"
# Only the legitimate heartbeat left a trace.
notes=$(swarmctl events --job "$job" --json | jsonl 'j.get("note")' | grep -v -e null -e hanging)
assert_eq "$notes" "mine" "heartbeat notes"
assert_eq "$(swarmctl events --job "$job" --json | grep -c '"checkpoint"')" 0 "no forged checkpoint"
# A token is never stored or logged.
grep -r -q -a "$t1" "$STATE" "$T/swarmd.log" && fail "token found in state or log"
swarmctl abort "$job" --grace 1 >/dev/null

# With the default mode 0660 another uid cannot even connect: exit 69.
stop_daemon || fail "stop"
: >"$CONF"
start_daemon
as_nobody "$SWARMCTL" jobs 2>"$T/err"; assert_eq $? 69 "mode 0660 keeps others out"
ok
