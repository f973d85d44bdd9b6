#!/bin/bash
# Agents that cannot start, crash, die of a signal, hang past their
# timeout or leave processes behind: each chunk fails with a clear reason
# and is routed by its failure class, the job goes on, and nothing is left
# running.
. "$(dirname "$0")/lib.sh"
printf '[retries]\nbackoff = 0.2\nbackoff_max = 0.4\n' >>"$CONF"
start_daemon
# A command that does not exist fails its chunks (class unknown: straight
# to the dead letters); the job still ends.
f=$(job_file nocmd '["no-such-command-xyz","{task}"]' 2)
job=$(swarmctl submit "$f") || fail "submit nocmd"
wait_until 20 job_is "$job" done || fail "nocmd job did not end"
assert_eq "$(count "$job" dead)" 2 "nocmd dead"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["attempts"]')" 1 "no retry for an unknown failure"
assert_contains "$(swarmctl show "$job/c0" --json | json 'j["reason"]')" 'command not found: "no-such-command-xyz"'
# A path that does not exist: the exec error is named.
f=$(job_file nopath '["/nonexistent/agent"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "nopath job did not end"
assert_contains "$(swarmctl show "$job/c0" --json | json 'j["reason"]')" "No such file or directory"

# Crashes: an exit status and a signal, each recorded as such.
f=$(job_file crash '["'"$AGENTS"'/crash-agent","{task}"]' 1)
sed -i 's/"task 0"/"exit"/' "$f"
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "crash job"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["reason"]')" "exit status 3"
swarmctl logs "$(swarmctl show "$job/c0" --json | json 'j["agent"]')" | grep -q "failing on purpose" || fail "stderr not in the log"
f=$(job_file segv '["'"$AGENTS"'/crash-agent","segv"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "segv job"
assert_contains "$(swarmctl show "$job/c0" --json | json 'j["reason"]')" "signal 11"
assert_eq "$(swarmctl events --job "$job" --json | grep subagent_completed | jsonl 'j["signal"]')" 11

# A hanging agent is stopped at its timeout: a transient failure, retried
# twice after a backoff, then a dead letter.
f=$(job_file slow '["'"$AGENTS"'/hang-agent"]' 1 '{"timeout":1}')
printf '[spawn]\nabort_grace = 1\n[retries]\nbackoff = 0.2\nbackoff_max = 0.4\n' >"$CONF"
kill -HUP "$DAEMON_PID"
job=$(swarmctl submit "$f")
wait_until 30 job_is "$job" done || fail "timeout job"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["reason"]')" "timeout after 1 s"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["state"]')" dead
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["attempts"]')" 3 "two retries"
assert_eq "$(swarmctl events --job "$job" --json | grep -c '"retry_scheduled"')" 2 "retries scheduled"
swarmctl events --job "$job" --json | grep '"retry_scheduled"' | jsonl 'j["delay"] <= 0.4' | grep -qv true && fail "backoff beyond its bound"

# Processes an agent leaves in its group die with it.
f=$(job_file leave '["sh","-c","sleep 300 & echo $! >'"$T"'/left; exit 0"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "leave job"
left=$(cat "$T/left")
wait_until 10 sh -c "! kill -0 $left" || fail "left-behind process $left survived"
assert_eq "$(count "$job" done)" 1 "exit 0 is done"
swarmctl jobs >/dev/null || fail "daemon stopped serving"
ok
