#!/bin/bash
# events --follow streams as events happen; logs and logs --follow show an
# agent's output; pending lists dispatched chunks that never completed;
# pause holds queued chunks back and resume releases them.
. "$(dirname "$0")/lib.sh"
start_daemon
swarmctl events --follow --json >"$T/follow" 2>&1 &
follower=$!
f=$(job_file hang '["'"$AGENTS"'/hang-agent"]' 3 '{"concurrency":1,"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "agent did not start"
wait_until 10 grep -q '"subagent_started"' "$T/follow" || fail "follow missed subagent_started"
# pending: dispatched, never completed.
assert_eq "$(swarmctl pending)" "$job/c0" "pending while running"
assert_eq "$(swarmctl pending --job "$job" --json | json 'j')" "[\"$job/c0\"]"
# pause: nothing new starts after the running agent ends.
swarmctl pause "$job" >/dev/null || fail pause
swarmctl abort agent-1 --grace 1 >/dev/null
wait_until 20 chunk_is "$job/c0" aborted || fail "c0 not aborted"
assert_eq "$(must swarmctl pending)" "" "pending after abort"
assert_eq "$(count "$job" queued)" 2 "paused job keeps its queue"
assert_eq "$(swarmctl ps --json | json 'len(j)')" 0 "nothing runs while paused"
swarmctl jobs | grep -q paused || fail "jobs shows paused"
swarmctl resume "$job" >/dev/null || fail resume
wait_until 20 sh -c "[ \$(wc -l <'$T/pids') -ge 2 ]" || fail "resume did not start c1"
# The follower prints on its own time: wait for it, do not assume.
wait_until 10 grep -q '"job_resumed"' "$T/follow" && grep -q '"job_paused"' "$T/follow" || fail "follow missed pause/resume"

# logs: an agent's stdout and stderr; --follow streams until it ends.
f=$(job_file talk '["sh","-c","echo out-line; echo err-line >&2; swarmctl recv --wait 30; echo after-mail"]' 1)
job2=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl ps --job $job2 --json | grep -q running" || fail "talker not running"
a=$(swarmctl show "$job2/c0" --json | json 'j["agent"]')
wait_until 10 sh -c "swarmctl logs $a | grep -q err-line" || fail "logs missing output"
swarmctl logs "$a" --follow >"$T/logf" &
lf=$!
wait_until 10 grep -q out-line "$T/logf" || fail "logs --follow did not start"
swarmctl send "$a" "go on" >/dev/null
wait_until 20 grep -q after-mail "$T/logf" || fail "logs --follow missed new output"
wait_until 20 sh -c "! kill -0 $lf" || fail "logs --follow did not end with the agent"
kill "$follower" 2>/dev/null
swarmctl abort "$job" --grace 1 >/dev/null
ok
