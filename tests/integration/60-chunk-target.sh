#!/bin/bash
# A chunk is addressable everywhere an agent is: logs, send, abort and
# retry take job-N/CHUNK (its live agent, else its latest) and show takes
# it as before; retry takes agent-N for its chunk.  An agent's id changes
# with every attempt, a chunk's does not.  An unknown job or chunk, or a
# chunk that never ran, is a clear error.
. "$(dirname "$0")/lib.sh"
start_daemon
# Each attempt prints its chunk and agent, then reads its mailbox.
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "hello from $SWARM_CHUNK as $SWARM_AGENT"
exec "$AGENTS/mailbox-agent" "$T/mail-$SWARM_AGENT"
A
chmod +x "$T/agent.sh"
f=$(job_file mail '["'"$T"'/agent.sh"]' 2 '{"env":{"T":"'"$T"'","AGENTS":"'"$AGENTS"'"}}')
job=$(swarmctl submit "$f") || fail "submit"
agent_of() { swarmctl show "$job/$1" --json | json 'j["agent"]'; }
wait_until 20 sh -c "swarmctl logs $job/c1 | grep -q hello" || fail "c1 never said hello"
a1=$(agent_of c1)
assert_eq "$(swarmctl logs "$job/c1")" "hello from c1 as $a1" "logs of a chunk"
assert_eq "$(swarmctl logs "$job/c1" --json | json 'j["agent"]')" "$a1" "logs names the agent it read"

assert_eq "$(swarmctl send "$job/c1" "for c1")" "sent to $a1" "send to a chunk"
wait_until 20 grep -q "for c1" "$T/mail-$a1" || fail "the message did not reach $a1"

out=$(swarmctl abort "$job/c1" --grace 1) || fail "abort a chunk"
assert_contains "$out" "$a1: abort requested" "abort a chunk"
wait_until 20 chunk_is "$job/c1" aborted || fail "c1 not aborted"
[ "$(chunk_state "$job/c0")" = running ] || fail "c0 was touched: $(chunk_state "$job/c0")"
# Ended: the chunk stands for its latest agent.
assert_eq "$(swarmctl logs "$job/c1")" "hello from c1 as $a1" "logs of an ended chunk"
assert_contains "$(swarmctl abort "$job/c1")" "already ended" "abort of an ended chunk"
swarmctl send "$job/c1" late 2>"$T/err" && fail "send to an ended chunk"
assert_contains "$(cat "$T/err")" "conflict: $a1 has ended"

# retry by agent: its chunk runs again under a new agent.
assert_eq "$(swarmctl retry "$a1")" "requeued $job/c1" "retry an agent's chunk"
wait_until 20 sh -c "[ \"\$(swarmctl show $job/c1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"agent\"])')\" != $a1 ]" ||
	fail "c1 did not run again"
a2=$(agent_of c1)
wait_until 20 sh -c "swarmctl logs $job/c1 | grep -q $a2" || fail "c1's second attempt said nothing"
assert_eq "$(swarmctl logs "$job/c1")" "hello from c1 as $a2" "the live attempt's log"
assert_eq "$(swarmctl send "$job/c1" again)" "sent to $a2" "send follows the live attempt"

# Errors name what is missing, and change nothing.
expect_err() {
	local want=$1
	shift
	swarmctl "$@" 2>"$T/err" >/dev/null && fail "$* succeeded"
	assert_contains "$(cat "$T/err")" "$want" "$*"
}
for verb in logs abort retry show; do
	expect_err "not_found: no such job: job-99" $verb job-99/c0
	expect_err "not_found: no such chunk: $job has no chunk \"c9\"" $verb "$job/c9"
done
expect_err "not_found: no such job: job-99" send job-99/c0 hi
expect_err "not_found: no such chunk: $job has no chunk \"c9\"" send "$job/c9" hi
expect_err "not_found: no such agent: agent-99" retry agent-99
# A chunk still queued has no agent yet.
f=$(job_file one '["'"$T"'/agent.sh"]' 2 '{"concurrency": 1, "env":{"T":"'"$T"'","AGENTS":"'"$AGENTS"'"}}')
job2=$(swarmctl submit "$f") || fail "submit"
wait_until 20 chunk_is "$job2/c0" running || fail "job2/c0 not running"
for verb in logs abort; do
	expect_err "conflict: $job2/c1 has no agent: it has not run yet" $verb "$job2/c1"
done
expect_err "conflict: $job2/c1 has no agent: it has not run yet" send "$job2/c1" hi
[ "$(chunk_state "$job2/c1")" = queued ] || fail "job2/c1 moved"

swarmctl abort "$job" >/dev/null && swarmctl abort "$job2" >/dev/null || fail "abort jobs"
wait_until 30 job_is "$job" aborted && wait_until 30 job_is "$job2" aborted || fail "the jobs did not end"
# Every attempt ended: the chunk stands for the latest.
assert_eq "$(swarmctl logs "$job/c1")" "hello from c1 as $a2" "an ended chunk's latest attempt"
ok
