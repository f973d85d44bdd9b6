#!/bin/bash
# One daemon per state dir and socket; SIGHUP reloads the config; a stop
# with agents running requeues their chunks, a restart finishes the job,
# and agent numbers are never reused.
. "$(dirname "$0")/lib.sh"
start_daemon
"$SWARMD" -f -s "$T/other.sock" -d "$STATE" 2>"$T/err2" && fail "second daemon on the same state dir ran"
assert_contains "$(cat "$T/err2")" "in use by another swarmd"
"$SWARMD" -f -s "$SOCK" -d "$T/state2" 2>"$T/err3" && fail "second daemon on the same socket ran"
assert_contains "$(cat "$T/err3")" "another swarmd is listening"
swarmctl jobs >/dev/null || fail "first daemon stopped serving"
# A config with an unknown key is refused at start, with the line.
printf '[spawn]\nmax_agentz = 3\n' >"$T/bad.conf"
"$SWARMD" -f -c "$T/bad.conf" -s "$T/x.sock" -d "$T/x" 2>"$T/err4" && fail "bad config accepted"
assert_contains "$(cat "$T/err4")" "bad.conf:2: [spawn] max_agentz: unknown key"

# SIGHUP: max_agents 1 holds a 3-wide job to one agent at a time.
printf '[spawn]\nmax_agents = 1\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q "configuration reloaded: max_agents 1" "$T/swarmd.log" || fail "reload"
f=$(job_file hold '["'"$AGENTS"'/hang-agent"]' 3 '{"concurrency":3}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "[ \"\$(swarmctl ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 1 ]" || fail "one agent"
assert_eq "$(count "$job" queued)" 2 "two still queued under max_agents 1"
# A broken config on reload keeps the running one.
printf '[spawn]\nmax_agents = lots\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q "keeping the running configuration" "$T/swarmd.log" || fail "bad reload"
swarmctl jobs >/dev/null || fail "serving after bad reload"

# With stop_agents, a stop ends the agents and their chunks go back to
# the queue (by default they outlive swarmd: see 11-restart.sh).
printf '[spawn]\nmax_agents = 1\nstop_agents = yes\n' >"$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 sh -c "[ \$(grep -c 'configuration reloaded' '$T/swarmd.log') -ge 2 ]" || fail "reload stop_agents"
stop_daemon || fail "stop"
grep -q "swarmd stopped" "$T/swarmd.log" || fail "clean stop"
printf '[spawn]\nmax_agents = 8\n' >"$CONF"
start_daemon
assert_eq "$(swarmctl show agent-1 --json | json 'j["state"]')" killed "interrupted agent"
assert_contains "$(swarmctl show agent-1 --json | json 'j["reason"]')" "interrupted"
wait_until 20 sh -c "[ \"\$(swarmctl ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 3 ]" || fail "three agents after restart"
# agent-1 was used before the restart; the new ones are agent-2..4.
assert_eq "$(swarmctl ps --json | json '" ".join(sorted(a["agent"] for a in j))')" "agent-2 agent-3 agent-4"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["attempts"]')" 2 "c0 attempts"
swarmctl abort "$job" --grace 1 >/dev/null
wait_until 20 job_is "$job" aborted || fail "abort after restart"
ok
