#!/bin/bash
# Gates: a chunk whose attempt succeeds is gating until its job's gates,
# run in order in its worktree, pass; then it is done.  A failing gate
# reworks the chunk on its branch, the next attempt told in
# SWARM_REJECTION which gate failed, its command, status, the last 200
# lines of its output and the attempt; work left uncommitted fails as
# the gate "clean"; a gate that hangs is killed at its timeout, its whole
# process group; once gate_retries are spent the chunk is dead and
# `swarmctl dead` shows the gate's output.  A kill -9 of swarmd while a
# gate runs: the gate left running is stopped, the gates run again.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
cat >"$T/agent.sh" <<'A'
#!/bin/sh
[ "$SWARM_ATTEMPT" -gt 1 ] && printf '%s' "$SWARM_REJECTION" >"$T/rejection.$SWARM_CHUNK"
commit() { git add -A && git commit -q -m "$SWARM_CHUNK $SWARM_ATTEMPT"; }
case "$SWARM_CHUNK" in
always) echo BAD >always.txt; commit ;;
dirty) echo x >dirty.txt; [ "$SWARM_ATTEMPT" -gt 1 ] && commit ;;
hang) [ "$SWARM_ATTEMPT" -gt 1 ] && while [ ! -f "$T/go" ]; do sleep 0.05; done
	echo good >hang.txt; commit ;;
*) echo good >"$SWARM_CHUNK.txt"; commit ;;
esac
exit 0
A
cat >"$T/gate-lint.sh" <<'G'
#!/bin/sh
echo "lint of $SWARM_GATE_OF in $(pwd)"
! grep -l BAD -- *.txt
G
cat >"$T/gate-test.sh" <<'G'
#!/bin/sh
if [ "$SWARM_ATTEMPT" = 1 ]; then
	case "$SWARM_CHUNK" in
	flaky)	i=1; while [ $i -le 300 ]; do echo "line $i"; i=$((i + 1)); done
		echo "FAILED: flaky"; exit 1 ;;
	hang)	sleep 3600 & echo $! >>"$T/hang.pids"; echo $$ >>"$T/hang.pids"
		exec sleep 3600 ;;
	esac
fi
echo "tests pass"
G
chmod +x "$T/agent.sh" "$T/gate-lint.sh" "$T/gate-test.sh"
cat >"$T/job.json" <<J
{"name": "gated", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "worktree": {"repo": "$T/repo", "base": "main"},
 "gates": [{"name": "lint", "command": ["$T/gate-lint.sh"]},
           {"name": "test", "command": ["$T/gate-test.sh"], "timeout": 6}],
 "gate_retries": 1,
 "chunks": [{"id": "ok1", "task": "x"}, {"id": "ok2", "task": "x"},
   {"id": "flaky", "task": "x"}, {"id": "always", "task": "x"},
   {"id": "dirty", "task": "x"}, {"id": "hang", "task": "x"}]}
J
# Gates need a worktree; a gate without a command is refused.
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); del j["worktree"]; j["gates"][0]["command"]=[]; print(json.dumps(j))' "$T/job.json" >"$T/bad.json"
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon
swarmctl submit "$T/bad.json" >"$T/out" 2>&1 && fail "a bad gates job was taken"
assert_contains "$(cat "$T/out")" "gates: need a worktree"
assert_contains "$(cat "$T/out")" "gates[0].command: expected a non-empty array"
job=$(swarmctl submit "$T/job.json") || fail submit
# While the hanging gate runs, kill -9; the chunk is still gating after.
wait_until 30 test -s "$T/hang.pids" || fail "the hang chunk's gate did not start"
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
start_daemon
assert_eq "$(chunk_state "$job/hang")" gating
for p in $(head -n 2 "$T/hang.pids"); do
	wait_until 10 sh -c "! kill -0 $p" || fail "a gate left running by the crash ($p) is alive"
done
# The gate run again after the restart hangs too and is killed at its
# timeout, its whole process group, before the rework starts.
wait_until 60 test -s "$T/rejection.hang" || fail "the hang chunk was not reworked"
assert_eq "$(wc -l <"$T/hang.pids")" 4 "hung gate processes ($(cat "$T/rejection.hang"))"
for p in $(tail -n 2 "$T/hang.pids"); do
	wait_until 10 sh -c "! kill -0 $p" || fail "the hung gate's process $p outlived its timeout"
done
touch "$T/go"
wait_until 60 job_is "$job" done || fail "job: $(swarmctl show "$job" --json | json 'j["counts"]')"
for c in ok1 ok2 flaky dirty hang; do
	assert_eq "$(chunk_state "$job/$c")" done "$c"
done
assert_eq "$(chunk_state "$job/always")" dead always
# Rework: what the next attempt was told.
r=$(cat "$T/rejection.flaky")
assert_eq "$(echo "$r" | json 'j["gate"]+"|"+j["status"]+"|"+str(j["attempt"])+"|"+j["command"][0]')" \
	"test|exit status 1|1|$T/gate-test.sh"
assert_eq "$(echo "$r" | json 'len(j["output"].splitlines())')" 200 "lines of output"
assert_eq "$(echo "$r" | json 'j["output"].splitlines()[0]')" "line 102"
assert_eq "$(echo "$r" | json 'j["output"].splitlines()[-1]')" "FAILED: flaky"
assert_eq "$(cat "$T/rejection.dirty" | json 'j["gate"]')" clean
assert_contains "$(cat "$T/rejection.dirty" | json 'j["output"]')" "dirty.txt"
assert_contains "$(cat "$T/rejection.hang" | json 'j["status"]')" "timed out after 6 s"
# The dead letter shows the gate's output.
d=$(swarmctl dead --json)
assert_contains "$(echo "$d" | json 'j[0]["reason"]')" "gate lint failed: exit status 1"
assert_contains "$(echo "$d" | json 'j[0]["last_output"]')" "always.txt"
swarmctl dead | grep -q "always.txt" || fail "swarmctl dead does not show the gate's output"
# Events.
ev=$(swarmctl events --job "$job" --json --limit 1000)
for e in gate_started gate_passed gate_failed gates_passed; do
	echo "$ev" | grep -q "\"$e\"" || fail "no $e event"
done
stop_daemon || fail stop
"$SWARMD" --check "$STATE" >"$T/check" || fail "--check: $(cat "$T/check")"
ok
