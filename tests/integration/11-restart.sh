#!/bin/bash
# kill -9 of swarmd loses nothing: agents still running are re-adopted and
# go on under the new daemon (their mail, tokens and exits intact); an
# agent that ended while swarmd was down with a valid result is recovered
# without a new dispatch; one killed with its shim (no exit status, no
# result) is requeued and its next attempt resumes from its latest
# checkpoint; a re-adopted agent's use so far still counts against its
# cap.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK $SWARM_AGENT $SWARM_ATTEMPT" >>"$T/runs"
echo "$SWARM_CHUNK $$" >>"$T/pids"
case "$SWARM_CHUNK" in
r0)	echo '{"verdict": "ok"}' >"$SWARM_RESULT"
	while [ ! -f "$T/r0go" ]; do sleep 0.05; done
	exit 0 ;;
r1)	if [ -n "$SWARM_RESUME" ]; then
		cp "$SWARM_CHECKPOINT" "$T/resumed.r1"
		echo '{"verdict": "resumed"}' >"$SWARM_RESULT"
		exit 0
	fi
	# Two checkpoints: the next attempt resumes from the latter.
	echo "a start on r1" >"$T/ckpt0.r1"
	swarmctl checkpoint --note start --file "$T/ckpt0.r1"
	echo "halfway through r1" >"$T/ckpt.r1"
	swarmctl checkpoint --note half --file "$T/ckpt.r1"
	exec sleep 3600 ;;
cap)	# 900 of its 1000-token cap before the crash, 200 more after.
	swarmctl report --input 900 || exit 1
	while [ ! -f "$T/go" ]; do sleep 0.05; done
	swarmctl report --input 200
	exec sleep 3600 ;;
*)	swarmctl checkpoint --note "started $SWARM_CHUNK"
	while [ ! -f "$T/go" ]; do sleep 0.05; done
	swarmctl recv >>"$T/mail.$SWARM_CHUNK" || exit 1
	echo '{"verdict": "done"}' >"$SWARM_RESULT" ;;
esac
A
chmod +x "$T/agent.sh"
env='{"env":{"T":"'"$T"'"},"concurrency":4}'
fa=$(job_file adopt '["'"$T"'/agent.sh"]' 2 "$env")
ja=$(swarmctl submit "$fa")
cat >"$T/rec.json" <<J
{"name": "recover", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "result": {"schema": {"type": "object", "required": ["verdict"]}},
 "chunks": [{"id": "r0", "task": "x"}, {"id": "r1", "task": "y"}]}
J
jr=$(swarmctl submit "$T/rec.json")
cat >"$T/cap.json" <<J
{"name": "cap", "command": ["$T/agent.sh"], "env": {"T": "$T"}, "per_agent_tokens": 1000,
 "chunks": [{"id": "cap", "task": "x"}]}
J
jc=$(swarmctl submit "$T/cap.json")
wait_until 20 sh -c "[ \$(swarmctl events --json | grep -c '\"checkpoint\"') -ge 4 ]" || fail "checkpoints"
wait_until 20 sh -c "[ \$(wc -l <'$T/pids') -ge 5 ]" || fail "agents did not start"
wait_until 20 sh -c "swarmctl events --job $jc --json | grep -q '\"cap_warning\"'" || fail "the cap's 900 not counted"
a0=$(swarmctl show "$ja/c0" --json | json 'j["agent"]')
swarmctl send "$a0" "mail sent before the crash" >/dev/null || fail send
ar0=$(swarmctl show "$jr/r0" --json | json 'j["agent"]')
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
# While swarmd is down, r0 ends and r1 dies with its shim; the adopt
# agents go on.
p1=$(grep "^r1 " "$T/pids" | cut -d' ' -f2)
s1=$(ps -o ppid= -p "$p1" | tr -d ' ')
assert_eq "$(ps -o comm= -p "$s1")" swarmd-shim "r1's parent"
kill -KILL "$s1" "$p1"
touch "$T/r0go"
# No process of ours (on our socket) is agent $1 or its shim any more.
gone() {
	local f
	for f in $(grep -l -s -a "SWARM_SOCKET=$SOCK" /proc/[0-9]*/environ); do
		grep -qsaP "SWARM_AGENT=$1\x00" "$f" && return 1
	done
	return 0
}
wait_until 20 gone "$ar0" || fail "r0 did not end"
start_daemon
assert_eq "$(swarmctl events --json | grep -c '"subagent_readopted"')" 3 "re-adopted"
assert_eq "$(swarmctl ps --job "$ja" --json | json '[a["state"] for a in j]')" '["running", "running"]'
wait_until 20 chunk_is "$jr/r1" done || fail "r1 not rerun"
assert_eq "$(swarmctl show "$jr/r0" --json | json '[j["state"], j["attempts"]]')" '["done", 1]' "r0 recovered in place"
swarmctl events --job "$jr" --json | grep '"recovered"' | grep -q '"r0"' || fail "recovered event"
assert_eq "$(cat "$T/resumed.r1")" "halfway through r1" "resumed from the checkpoint"
assert_eq "$(swarmctl show "$jr/r1" --json | json 'j["attempts"]')" 2 "r1 attempts"
# The re-adopted agents still hold valid tokens; their exits are seen.
touch "$T/go"
wait_until 20 job_is "$ja" done || fail "adopted agents did not finish"
# The re-adopted agent's use before the crash still counts: 1100 > 1000.
wait_until 20 chunk_is "$jc/cap" aborted || fail "cap not enforced across the restart: $(chunk_state "$jc/cap")"
assert_contains "$(swarmctl show "$jc/cap" --json | json 'j["reason"]')" "token_cap"
assert_eq "$(count "$ja" done)" 2 "adopted chunks done"
grep -q "mail sent before the crash" "$T/mail.c0" || fail "mail lost across the crash"
assert_eq "$(grep -c '^c0 ' "$T/runs")" 1 "c0 ran once"
assert_eq "$(grep -c '^r0 ' "$T/runs")" 1 "r0 ran once"
assert_eq "$(swarmctl show "$ja/c0" --json | json 'j["attempts"]')" 1
assert_eq "$(must swarmctl pending)" "" "nothing pending"
# An ordinary stop leaves agents running too, and they are re-adopted.
f=$(job_file again '["sh","-c","while [ ! -f '"$T"'/go2 ]; do sleep 0.05; done"]' 1)
j3=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl ps --job $j3 --json | grep -q running" || fail "again not running"
stop_daemon || fail stop
start_daemon
assert_eq "$(swarmctl ps --job "$j3" --json | json 'len(j)')" 1 "re-adopted after a clean stop"
touch "$T/go2"
wait_until 20 job_is "$j3" done || fail "again did not finish"
ok
