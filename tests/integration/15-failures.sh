#!/bin/bash
# Failure routing by class: a transient failure is retried after a
# jittered backoff; an unknown one goes to the dead letters at once; dead
# letters are listed with their last output and can be retried.
. "$(dirname "$0")/lib.sh"
printf '[retries]\ntransient = 2\nbackoff = 0.3\nbackoff_max = 1\n' >>"$CONF"
start_daemon
cat >"$T/flaky.sh" <<'A'
#!/bin/sh
echo "attempt $SWARM_ATTEMPT of $SWARM_CHUNK"
if [ "$SWARM_ATTEMPT" = 1 ]; then
	swarmctl fail --transient --reason "upstream 529"
	exit 1
fi
exit 0
A
chmod +x "$T/flaky.sh"
f=$(job_file flaky '["'"$T"'/flaky.sh"]' 2)
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "flaky job"
assert_eq "$(count "$job" done)" 2 "retried to success"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["attempts"]')" 2 "attempts"
swarmctl events --job "$job" --json >"$T/ev"
assert_eq "$(grep -c '"retry_scheduled"' "$T/ev")" 2 "one retry each"
grep '"retry_scheduled"' "$T/ev" | jsonl 'j["class"] == "transient" and 0 <= j["delay"] <= 0.3' | grep -qv true && fail "first backoff outside [0, 0.3]"
grep '"subagent_completed"' "$T/ev" | grep -q '"class": *"transient"' || fail "class on the completion"
grep -q '"failure_reported"' "$T/ev" || fail "failure_reported event"

# Unknown failures: dead at once, listed with their last output.
cat >"$T/broken.sh" <<'A'
#!/bin/sh
echo "working on $SWARM_CHUNK"
if [ ! -f "$T/fixed" ]; then echo "fatal: cannot parse input" >&2; exit 4; fi
exit 0
A
chmod +x "$T/broken.sh"
f=$(job_file broken '["'"$T"'/broken.sh"]' 3 '{"env":{"T":"'"$T"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "broken job"
assert_eq "$(count "$job" dead)" 3 "dead letters"
swarmctl dead --job "$job" --json >"$T/dead"
assert_eq "$(json 'len(j)' <"$T/dead")" 3
assert_eq "$(json 'j[0]["class"]' <"$T/dead")" unknown
assert_eq "$(json 'j[0]["last_output"][-1]' <"$T/dead")" "fatal: cannot parse input"
swarmctl dead | grep -q "fatal: cannot parse input" || fail "human dead listing"
# Retry one, then the rest: the job runs again under the same id.
touch "$T/fixed"
out=$(swarmctl retry "$job/c1") || fail "retry one"
assert_eq "$out" "requeued $job/c1"
wait_until 20 chunk_is "$job/c1" done || fail "retried chunk"
assert_eq "$(swarmctl retry --dead "$job" --json | json 'len(j)')" 2 "retry --dead"
wait_until 20 job_is "$job" done || fail "job after retries"
assert_eq "$(count "$job" done)" 3 "all done after retry"
assert_eq "$(swarmctl dead --job "$job" --json | json 'len(j)')" 0 "no dead letters left"
# Nothing to retry: a clear error, nothing changes.
swarmctl retry "$job/c0" 2>"$T/err"; assert_eq $? 1 "retry of a done chunk"
assert_contains "$(cat "$T/err")" "conflict"
swarmctl retry "$job/nope" 2>"$T/err"; assert_eq $? 1 "retry of an unknown chunk"
assert_contains "$(cat "$T/err")" "not_found"
swarmctl retry "$job" 2>"$T/err"; assert_eq $? 1 "retry of a job without --dead"
assert_eq "$(count "$job" done)" 3 "unchanged"
ok
