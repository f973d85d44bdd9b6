#!/bin/bash
# Abort records the request, leaves an "abort" message in the mailbox,
# sends SIGTERM to the process group (children included) and SIGKILL
# after the grace period.
. "$(dirname "$0")/lib.sh"
start_daemon
export HANG_PIDFILE="$T/pids"
f=$(job_file hang '["'"$AGENTS"'/hang-agent"]' 1 '{"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "agent did not start"
out=$(swarmctl abort agent-1 --reason "test says stop") || fail "abort"
assert_contains "$out" "agent-1"
wait_until 20 chunk_is "$job/c0" aborted || fail "chunk not aborted"
pid=$(head -n1 "$T/pids")
wait_until 10 sh -c "! kill -0 $pid" || fail "agent pid $pid still alive"
# The whole group goes: hang-agent's sleep too, not the leader alone.
wait_until 10 sh -c "! kill -0 -$pid" || fail "agent's group $pid outlived the abort: $(pgrep -g "$pid" -a)"
swarmctl events --job "$job" --json >"$T/ev"
# The abort message was left in the agent's mailbox, before the end.
msg=$(grep -n '"message_sent"' "$T/ev" | grep '"from": *"swarmd"' | head -n1)
assert_contains "$msg" '"abort: test says stop"' "the abort message"
[ "${msg%%:*}" -lt "$(grep -n subagent_completed "$T/ev" | cut -d: -f1)" ] ||
	fail "the abort message must precede the completion"
# The request is recorded before the completion.
req=$(grep -n abort_requested "$T/ev" | cut -d: -f1)
done_line=$(grep -n subagent_completed "$T/ev" | cut -d: -f1)
[ -n "$req" ] && [ "$req" -lt "$done_line" ] || fail "abort_requested must precede the completion"
grep subagent_completed "$T/ev" | jsonl 'j["success"]' | grep -q false || fail "success false"
assert_eq "$(swarmctl show agent-1 --json | json 'j["state"]')" killed
assert_contains "$(swarmctl show agent-1 --json | json 'j["reason"]')" "test says stop"
# None of its chunks is queued or running: the job is done.
assert_eq "$(job_state "$job")" done "a job whose only chunk was aborted"
# Aborting an agent that already ended says so and exits 0.
out=$(swarmctl abort agent-1) || fail "second abort exit status"
assert_contains "$out" "already ended"
# An unknown agent is an error.
swarmctl abort agent-99 2>"$T/err" && fail "abort of unknown agent succeeded"
assert_contains "$(cat "$T/err")" "not_found"

# An agent that ignores SIGTERM is killed after the grace period.
: >"$T/pids"
f=$(job_file stubborn '["'"$AGENTS"'/hang-agent","ignore-term"]' 1 '{"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "stubborn agent did not start"
pid=$(head -n1 "$T/pids")
swarmctl abort agent-2 --grace 0.5 >/dev/null || fail "abort stubborn"
wait_until 20 chunk_is "$job/c0" aborted || fail "stubborn chunk not aborted"
kill -0 "$pid" 2>/dev/null && fail "stubborn agent survived SIGKILL"
assert_eq "$(swarmctl show agent-2 --json | json 'j["signal"]')" 9 "killed by SIGKILL"

# The message is in the mailbox before the signal: an agent that
# catches SIGTERM reads it there.
cat >"$T/reader.sh" <<'A'
#!/bin/sh
trap 'swarmctl recv >"$T/got"; exit 0' TERM
swarmctl heartbeat --note ready
while :; do sleep 0.05; done
A
chmod +x "$T/reader.sh"
f=$(job_file reader '["'"$T"'/reader.sh"]' 1 '{"env":{"T":"'"$T"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl events --job $job --json | grep -q '\"heartbeat\"'" || fail "reader did not start"
a=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
swarmctl abort "$a" --reason "read this" --grace 5 >/dev/null || fail "abort reader"
wait_until 20 chunk_is "$job/c0" aborted || fail "reader not aborted"
assert_contains "$(cat "$T/got" 2>/dev/null)" "abort: read this" "the aborted agent's mail"

# SIGTERM reaches the agent's whole group, so its children may stop
# cleanly too, not only the leader (the shim's sweep after the leader's
# end is a SIGKILL).  The leader waits for its child on SIGTERM.
cat >"$T/family.sh" <<'A'
#!/bin/sh
sh -c 'trap "echo term >\"$T/child-term\"; exit 0" TERM
	while :; do sleep 0.05; done' &
child=$!
trap 'wait "$child"; exit 0' TERM
swarmctl heartbeat --note ready
while :; do sleep 0.05; done
A
chmod +x "$T/family.sh"
f=$(job_file family '["'"$T"'/family.sh"]' 1 '{"env":{"T":"'"$T"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl events --job $job --json | grep -q '\"heartbeat\"'" || fail "family did not start"
swarmctl abort "$(swarmctl show "$job/c0" --json | json 'j["agent"]')" --grace 2 >/dev/null || fail "abort family"
wait_until 20 chunk_is "$job/c0" aborted || fail "family not aborted"
assert_eq "$(cat "$T/child-term" 2>/dev/null)" term "the agent's child told to stop by SIGTERM"

# Aborting a job aborts its running agents and drops its queued chunks.
: >"$T/pids"
f=$(job_file many '["'"$AGENTS"'/hang-agent"]' 6 '{"concurrency":2,"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "[ \$(wc -l <'$T/pids') -ge 2 ]" || fail "two agents did not start"
out=$(swarmctl abort "$job" --grace 5) || fail "abort job"
assert_contains "$out" "4 queued chunks dropped"
wait_until 20 job_is "$job" aborted || fail "job not aborted: $(job_state "$job")"
assert_eq "$(count "$job" aborted)" 6 "all chunks aborted"
assert_eq "$(swarmctl ps --job "$job" --json | json 'len(j)')" 0 "no live agents"
# Mailbox of an aborted agent held the abort message: seen in events.
swarmctl events --job "$job" --json | grep -c '"abort_requested"' | grep -qx 2 || fail "abort events"
ok
