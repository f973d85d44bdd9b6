#!/bin/bash
# send appends to a persistent per-agent mailbox; recv returns unread
# messages oldest first; recv --wait blocks for the first; send job-N
# broadcasts to the job's running agents.
. "$(dirname "$0")/lib.sh"
start_daemon
f=$(job_file mail '["'"$AGENTS"'/mailbox-agent","'"$T"'/{chunk}.msgs"]' 2 '{"concurrency":2}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "[ \$(swarmctl ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 2 ]" || fail "agents not running"
agent=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
swarmctl send "$agent" "first message" >/dev/null || fail send1
swarmctl send "$agent" "second message" >/dev/null || fail send2
wait_until 20 grep -q "second message" "$T/c0.msgs" || fail "messages not received"
assert_eq "$(head -n1 "$T/c0.msgs")" "first message" "oldest first"
# Broadcast reaches both agents; "quit" ends them.
out=$(swarmctl send "$job" quit) || fail broadcast
assert_contains "$out" "agent-1"
assert_contains "$out" "agent-2"
wait_until 20 job_is "$job" done || fail "agents did not quit"
grep -q '^quit$' "$T/c1.msgs" || fail "c1 missed the broadcast"
swarmctl events --job "$job" --json | grep -c '"message_sent"' | grep -qx 4 || fail "message events"
swarmctl events --job "$job" --json | grep -q '"message_delivered"' || fail "delivery event"
# Sending to an ended agent is refused; to an unknown one, not_found.
swarmctl send agent-1 "late" 2>"$T/err" && fail "send to ended agent"
assert_contains "$(cat "$T/err")" "conflict"
swarmctl send agent-42 "x" 2>"$T/err" && fail "send to unknown agent"
assert_contains "$(cat "$T/err")" "not_found"
ok
