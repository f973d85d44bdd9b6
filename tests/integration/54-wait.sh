#!/bin/bash
# swarmctl wait JOB...: blocks until the jobs end; exit 0 when every
# chunk ended done, 1 when any ended failed, aborted or dead, 124 past
# --timeout; the counts printed, or with --json as an object.  And
# events --follow notices a reader that left (grep -m1) without waiting
# for another event.
. "$(dirname "$0")/lib.sh"
start_daemon
ok_job=$(swarmctl submit "$(job_file fine '["true"]' 2)")
assert_eq "$(swarmctl wait "$ok_job")" "$ok_job: 2 done, 0 failed, 0 aborted, 0 dead" "a job that ends well"
# Already over: at once, the same answer.
swarmctl wait "$ok_job" >/dev/null || fail "an ended job"
# An unknown exit code is a failure nobody can classify: dead at once.
bad_job=$(swarmctl submit "$(job_file broken '["sh", "-c", "exit 3"]' 1)")
swarmctl wait "$ok_job" "$bad_job" >"$T/out" && fail "wait said 0 with a dead chunk"
assert_eq "$(tail -n1 "$T/out")" "$bad_job: 0 done, 0 failed, 0 aborted, 1 dead" "the dead one's counts"
assert_eq "$(swarmctl wait --json "$bad_job" | json 'j["'"$bad_job"'"]["dead"]')" 1 "--json counts"
# Over, but not well: no plain "done" where people read it.
assert_contains "$(swarmctl jobs | grep "^$bad_job ")" "done (1 dead)" "jobs"
assert_contains "$(swarmctl show "$bad_job")" "done (1 dead)" "show"
assert_eq "$(swarmctl show "$bad_job" --json | json 'j["state"]')" done "the JSON state"
# Waiting while it runs: it returns when the job ends, not before.
gate_job=$(swarmctl submit "$(job_file gated '["sh", "-c", "until [ -e '"$T"'/go ]; do sleep 0.05; done"]' 1)")
swarmctl wait "$gate_job" >"$T/gated" 2>&1 &
waiter=$!
KILL_AT_EXIT="$KILL_AT_EXIT $waiter"
wait_until 10 job_is "$gate_job" running || fail "the gated job is not running"
kill -0 "$waiter" 2>/dev/null || fail "wait returned while the job ran: $(cat "$T/gated")"
touch "$T/go"
wait "$waiter" || fail "wait on the gated job: $(cat "$T/gated")"
assert_eq "$(cat "$T/gated")" "$gate_job: 1 done, 0 failed, 0 aborted, 0 dead" "the gated job's counts"
# Past --timeout: 124.
slow_job=$(swarmctl submit "$(job_file slow '["sleep", "600"]' 1)")
s=$(date +%s%N)
swarmctl wait --timeout 1 "$slow_job" 2>"$T/err"
assert_eq "$?" 124 "timed out"
ms=$(( ($(date +%s%N) - s) / 1000000 ))
[ "$ms" -ge 900 ] && [ "$ms" -lt 10000 ] || fail "timed out after $ms ms"
assert_contains "$(cat "$T/err")" "timed out"
swarmctl abort "$slow_job" >/dev/null || fail "abort"
swarmctl wait "$slow_job" >/dev/null && fail "an aborted job waited as good"
# A job that does not exist: the daemon's error, not a hang.
swarmctl wait job-99 2>"$T/err" && fail "wait on an unknown job"
assert_contains "$(cat "$T/err")" "not_found"
# grep -m1 leaves after the first match; nothing else happens, and
# events --follow must still end.
timeout 20 sh -c 'swarmctl events --follow | grep -m1 -q job_done'
assert_eq "$?" 0 "events --follow ended when its reader left"
ok
