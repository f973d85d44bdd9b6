#!/bin/bash
# An invalid job file is refused whole, every problem named by its path,
# and nothing is stored.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/bad.json" <<'J'
{"name": "bad", "command": ["true", 3], "concurrency": "four", "extra": 1,
 "workdir": "/nonexistent/dir",
 "chunks": [{"id": "issue-1", "task": "a"}, {"id": "issue-2", "task": "b"},
            {"id": "issue-3", "task": 7}, {"id": "issue-12", "task": "c"},
            {"id": "issue-12", "task": "d", "oops": true}]}
J
if swarmctl submit "$T/bad.json" 2>"$T/err"; then fail "bad job accepted"; fi
for p in 'command[1]: expected a string' 'concurrency: expected an integer' \
	'extra: unknown field' 'workdir: no such directory "/nonexistent/dir"' \
	'chunks[2].task: expected a string' 'chunks[4].id: duplicate "issue-12"' \
	'chunks[4].oops: unknown field'; do
	grep -qF "$p" "$T/err" || fail "missing problem: $p ($(cat "$T/err"))"
done
head -n1 "$T/err" | grep -q '^swarmctl: invalid_job: ' || fail "first line: $(head -n1 "$T/err")"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "jobs stored"
assert_eq "$(swarmctl events --json | wc -l)" 0 "events stored"

# Not JSON at all: a clear error from swarmctl, exit 1, nothing stored.
echo '{"name": "x", ' >"$T/trunc.json"
swarmctl submit "$T/trunc.json" 2>"$T/err2" && fail "truncated accepted"
grep -q 'trunc.json:' "$T/err2" || fail "parse error names the file: $(cat "$T/err2")"
# Wrong top-level type, missing required members.
echo '[1,2]' | swarmctl submit - 2>"$T/err3" && fail "array accepted"
grep -qF 'expected a JSON object' "$T/err3" || fail "$(cat "$T/err3")"
echo '{"name":"x"}' | swarmctl submit - 2>"$T/err4" && fail "empty accepted"
grep -qF 'command: required' "$T/err4" && grep -qF 'chunks: required' "$T/err4" || fail "$(cat "$T/err4")"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "still nothing stored"

# A valid job from stdin is accepted and the daemon kept serving.
job=$(printf '{"name":"ok","command":["true"],"chunks":[{"id":"a","task":"t"}]}' | swarmctl submit -) || fail "stdin submit"
assert_eq "$job" job-1
wait_until 20 job_is job-1 done || fail "job-1 not done"
ok
