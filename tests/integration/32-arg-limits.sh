#!/bin/bash
# Every stored string argument has a size limit: one over it is refused
# with bad_args naming the argument and the limit, and nothing is stored;
# one at the limit is stored whole while the journal gets its head and
# size.  The daemon and the agent keep working.
. "$(dirname "$0")/lib.sh"
start_daemon
f=$(job_file lim '["'"$AGENTS"'/hang-agent"]' 1 '{"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "agent did not start"
pid=$(head -n 1 "$T/pids")
envof() { tr '\0' '\n' <"/proc/$pid/environ" | sed -n "s/^$1=//p"; }
agent=$(envof SWARM_AGENT)
token=$(envof SWARM_TOKEN)
wait_until 10 sh -c "swarmctl events --job $job --json | grep -q hanging" || fail "first heartbeat"
PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" "$agent" "$token" "$job" <<'PY' || fail "limits"
import sys
from rawclient import Conn
path, agent, token, job = sys.argv[1:]
auth = {"agent": agent, "token": token}
c = Conn(path)

def refused(verb, args, name, limit, auth=None):
    r = c.call(verb, args, auth)
    assert r.get("ok") is False and r["error"]["code"] == "bad_args", (verb, r)
    m = r["error"]["message"]
    assert '"%s"' % name in m and "limit is %d" % limit in m, (verb, m)

N, T = 4096, 65536
refused("heartbeat", {"note": "n" * (N + 1)}, "note", N, auth)
refused("checkpoint", {"note": "n" * (N + 1)}, "note", N, auth)
refused("fail", {"reason": "r" * (N + 1)}, "reason", N, auth)
refused("done", {"summary": "s" * (T + 1)}, "summary", T, auth)
refused("report", {"input": 5, "model": "m" * 257}, "model", 256, auth)
refused("send", {"target": agent, "text": "t" * (T + 1)}, "text", T)
refused("abort", {"target": agent, "reason": "r" * (N + 1)}, "reason", N)
refused("resolve", {"target": "esc-1", "action": "kill", "note": "n" * (N + 1)}, "note", N)
refused("ps", {"job": "j" * 257}, "job", 256)
# Multibyte text counts in bytes: 2049 two-byte characters are 4098.
refused("heartbeat", {"note": "\u00e9" * 2049}, "note", N, auth)
# At the limit: stored whole.
r = c.call("heartbeat", {"note": "\u00e9" * 2047 + "xy"}, auth)
assert r["ok"], r
PY
ev() { swarmctl events --job "$job" --json; }
# Nothing refused was stored: no checkpoint, failure report, message,
# abort or usage; the agent runs on.
assert_eq "$(ev | jsonl 'j["event"]' | grep -c -e checkpoint -e failure_reported -e message_sent -e abort_requested)" 0 "refused events"
assert_eq "$(ev | jsonl 'len(j["note"].encode()) if j["event"] == "heartbeat" else 0' | grep -v '^0$' | tr '\n' ' ')" \
	"7 4096 " "heartbeat notes stored, the longest whole"
assert_eq "$(swarmctl show "$agent" --json | json '[j["state"], j["usage"]["records"]]')" '["running", 0]' "agent untouched"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["checkpoints"]')" "[]" "no checkpoint"
SWARM_AGENT=$agent SWARM_TOKEN=$token swarmctl heartbeat --note "still here" || fail "agent refused after"
# The journal (here the log) gets the head of the long event and its size.
line=$(grep -a "^<6>heartbeat $job/c0 $agent " "$T/swarmd.log" | grep -a -F 'xy' | tail -n 1)
[ -z "$line" ] || fail "the whole note went to the log"
line=$(grep -a "^<6>heartbeat $job/c0 $agent " "$T/swarmd.log" | grep -a -E '\.\.\. \([0-9]+ bytes\)$' | tail -n 1)
[ -n "$line" ] || fail "no cut heartbeat in the log"
bytes=$(printf '%s' "$line" | wc -c)
[ "$bytes" -le 1100 ] || fail "journal line of $bytes bytes"
full=$(printf 'heartbeat %s/c0 %s attempt 1: {"note":"%s"}' "$job" "$agent" "$(PYTHONIOENCODING=utf-8 python3 -c 'print("\u00e9" * 2047 + "xy")')" | wc -c)
assert_contains "$line" "... ($full bytes)" "its size"
# swarmctl says the same, exit 1.
SWARM_AGENT=$agent SWARM_TOKEN=$token swarmctl heartbeat --note "$(head -c 5000 /dev/zero | tr '\0' x)" 2>"$T/err"
assert_eq $? 1 "swarmctl exit status"
assert_contains "$(cat "$T/err")" 'argument "note" is 5000 bytes; the limit is 4096'
swarmctl abort "$job" --grace 1 >/dev/null || fail "abort"
wait_until 20 job_is "$job" aborted || fail "job did not end"
ok
