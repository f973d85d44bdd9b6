#!/bin/bash
# Agents are not operators.  Agents run with swarmd's uid, yet a process
# of an agent's tree (the agent, a grandchild, one that setsid()s while
# its parent lives, one orphaned that kept its environment) is refused
# operator verbs, and a token read from another agent's /proc/PID/environ
# is refused there: the other job is unharmed and nothing is recorded for
# it.  A connection made in an agent's tree stays an agent's after the
# agent is gone.  The operator outside still aborts.
. "$(dirname "$0")/lib.sh"
# With a delegated cgroup v2 each agent has a cgroup of its own, which
# its escaped processes stay in.
printf '[watchdog]\ncgroup_pids_max = 4096\n' >>"$CONF"
start_daemon

victim=$(swarmctl submit "$(job_file victim '["'"$AGENTS"'/hang-agent"]' 1 \
	'{"env":{"HANG_PIDFILE":"'"$T/victim.pid"'"}}')")
wait_until 20 test -s "$T/victim.pid" || fail "victim did not start"
vagent=$(swarmctl ps --job "$victim" --json | json 'j[0]["agent"]')

# orphan.sh PARENT OUT NAME: wait until PARENT (which exits at once) is
# gone, so we are orphaned, then try an operator verb.
cat >"$T/orphan.sh" <<'S'
#!/bin/sh
i=0
while kill -0 "$1" 2>/dev/null && [ $i -lt 500 ]; do
	sleep 0.02 # until orphaned; bounded
	i=$((i + 1))
done
swarmctl jobs >"$2/$3.out" 2>"$2/$3.err"
echo $? >"$2/$3.rc"
S
# held.py OUT: connect, say so, wait for the word, then ask for jobs.
cat >"$T/held.py" <<'P'
import json, os, sys, time
sys.path.insert(0, os.environ["RAW"])
import rawclient
out = sys.argv[1]
c = rawclient.Conn(os.environ["SWARM_SOCKET"], timeout=30)
open(out + "/held.ready", "w").close()
end = time.time() + 30
while not os.path.exists(out + "/held.go") and time.time() < end:
    time.sleep(0.02)  # until the test says go; bounded
json.dump(c.call("jobs"), open(out + "/held.tmp", "w"))
os.rename(out + "/held.tmp", out + "/held.json")
P
# The attacker: everything an agent of one job could try on another.
cat >"$T/attacker.sh" <<'S'
#!/bin/sh
o=$OUT
swarmctl abort "$VICTIM_JOB" >"$o/abort.out" 2>"$o/abort.err"; echo $? >"$o/abort.rc"
vp=$(head -n1 "$VICTIM_PIDFILE")
tok=$(tr '\0' '\n' <"/proc/$vp/environ" | sed -n 's/^SWARM_TOKEN=//p')
ag=$(tr '\0' '\n' <"/proc/$vp/environ" | sed -n 's/^SWARM_AGENT=//p')
echo "$tok" >"$o/stolen"
SWARM_AGENT=$ag SWARM_TOKEN=$tok swarmctl done --summary forged 2>"$o/done.err"; echo $? >"$o/done.rc"
SWARM_AGENT=$ag SWARM_TOKEN=$tok swarmctl checkpoint --note forged 2>"$o/ckpt.err"; echo $? >"$o/ckpt.rc"
# A grandchild: agent verbs as itself, no operator verbs.
sh -c 'swarmctl heartbeat --note grandchild; echo $? >"$0/gc-hb.rc"
	swarmctl jobs 2>"$0/gc.err"; echo $? >"$0/gc.rc"' "$o"
# A child in a session of its own, its parent alive, no SWARM_AGENT.
setsid env -u SWARM_AGENT -u SWARM_TOKEN sh -c 'swarmctl jobs 2>"$0/sid.err"; echo $? >"$0/sid.rc"' "$o"
# Orphans in sessions of their own: one kept its environment, one not.
sh -c 'setsid "$0" $$ "$@" & exit 0' "$ORPHAN" "$o" orphan-env
sh -c 'setsid env -u SWARM_AGENT -u SWARM_TOKEN "$0" $$ "$@" & exit 0' "$ORPHAN" "$o" orphan-clean
# A connection that outlives this agent, with no SWARM_AGENT to tell.
setsid env -u SWARM_AGENT -u SWARM_TOKEN python3 "$HELD" "$o" &
exec sleep 600
S
chmod +x "$T/orphan.sh" "$T/attacker.sh"
attacker=$(swarmctl submit "$(job_file attacker '["'"$T"'/attacker.sh"]' 1 \
	'{"env":{"OUT":"'"$T"'","VICTIM_JOB":"'"$victim"'","VICTIM_PIDFILE":"'"$T/victim.pid"'","ORPHAN":"'"$T"'/orphan.sh","HELD":"'"$T"'/held.py","RAW":"'"$(dirname "$0")"'"}}')")
wait_until 30 sh -c "test -s '$T/sid.rc' && test -s '$T/orphan-env.rc' && test -s '$T/orphan-clean.rc'" ||
	fail "the attacker did not finish: $(cd "$T" && ls | tr "\n" " ")"
aagent=$(swarmctl ps --job "$attacker" --json | json 'j[0]["agent"]')

# abort from an agent: forbidden, and the victim runs on.
assert_eq "$(cat "$T/abort.rc")" 1 "abort from an agent: exit status"
assert_contains "$(cat "$T/abort.err")" "forbidden"
assert_contains "$(cat "$T/abort.err")" "agents are not operators"
assert_contains "$(cat "$T/abort.err")" "$aagent's process"
assert_eq "$(job_state "$victim")" running "victim job"
assert_eq "$(swarmctl show "$vagent" --json | json 'j["state"]')" running "victim agent"

# The stolen token: refused, nothing recorded, a warning naming both.
[ -s "$T/stolen" ] || fail "the attacker could not read the victim's token"
for v in done ckpt; do
	[ "$(cat "$T/$v.rc")" != 0 ] || fail "$v with a stolen token accepted"
	assert_contains "$(cat "$T/$v.err")" "unauthorized"
done
assert_eq "$(chunk_state "$victim/c0")" running "victim chunk"
assert_eq "$(swarmctl events --job "$victim" --json | grep -c -e '"checkpoint' -e '"subagent_completed"')" 0 \
	"events recorded for the victim"
assert_eq "$(swarmctl show "$victim/c0" --json | json 'len(j.get("checkpoints") or [])')" 0 "checkpoints"
grep -q "$aagent's process presented $vagent's token" "$T/swarmd.log" || fail "no warning naming both"
grep -q -a -f "$T/stolen" "$T/swarmd.log" && fail "the token was logged"

# The tree: grandchild, own session with its parent alive, orphan with
# its environment.  The orphan that cleared it is caught by its cgroup
# alone; without one it escapes (swarmd(8) SECURITY): an outsider with
# the operator's uid.
assert_eq "$(cat "$T/gc-hb.rc")" 0 "a grandchild's own heartbeat"
for v in gc sid orphan-env; do
	assert_eq "$(cat "$T/$v.rc")" 1 "$v: exit status"
	assert_contains "$(cat "$T/$v.err")" "agents are not operators"
	assert_contains "$(cat "$T/$v.err")" "$aagent's process"
done
if grep -q "cgroup limits on" "$T/swarmd.log"; then
	assert_eq "$(cat "$T/orphan-clean.rc")" 1 "an escaped orphan in its agent's cgroup"
	assert_contains "$(cat "$T/orphan-clean.err")" "$aagent's process"
else
	assert_eq "$(cat "$T/orphan-clean.rc")" 0 "the documented escape"
fi

# The operator outside: aborts the attacker, whose held connection
# (made in its tree) stays an agent's once the agent is gone.
wait_until 20 test -e "$T/held.ready" || fail "no held connection"
swarmctl abort "$attacker" --grace 1 >/dev/null || fail "operator abort"
wait_until 20 job_is "$attacker" aborted || fail "attacker not aborted"
touch "$T/held.go"
wait_until 20 test -s "$T/held.json" || fail "held connection did not answer"
assert_eq "$(json 'j["error"]["code"]' <"$T/held.json")" forbidden "held connection after its agent"
# ...and aborts the victim.
swarmctl abort "$victim" --grace 1 >/dev/null || fail "operator abort of the victim"
wait_until 20 job_is "$victim" aborted || fail "victim not aborted"
ok
