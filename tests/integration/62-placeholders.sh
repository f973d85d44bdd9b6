#!/bin/bash
# Job files: a chunk's own string fields are placeholders of command
# ({"id": "c1", "task": "...", "file": "src/a.c"} -> {file}), kept in the
# store so a chunk started after a restart has them; an unknown
# {placeholder} is refused at submit by name and path, nothing stored.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/job.json" <<J
{"name": "fields", "concurrency": 1,
 "command": ["sh", "-c", "echo \"\$0 task=\$1 \${SWARM_CHUNK}\"; while [ ! -e \"\$2\" ]; do sleep 0.05; done; swarmctl done", "file={file}", "{task}", "{gate}"],
 "chunks": [{"id": "c0", "task": "first", "file": "src/a.c", "gate": "$T/g0"},
            {"id": "c1", "task": "second", "file": "src/b c.c", "gate": "$T/g1"}]}
J
job=$(swarmctl submit "$T/job.json") || fail "a job with chunk fields refused"
wait_until 20 sh -c "swarmctl logs $job/c0 | grep -q file=" || fail "c0 said nothing"
assert_eq "$(swarmctl logs "$job/c0")" "file=src/a.c task=first c0" "c0's fields"
# c1 starts under the next swarmd: its fields come from the store.
stop_daemon
start_daemon
touch "$T/g0"
wait_until 20 sh -c "swarmctl logs $job/c1 2>/dev/null | grep -q file=" || fail "c1 said nothing"
assert_eq "$(swarmctl logs "$job/c1")" "file=src/b c.c task=second c1" "c1's fields"
touch "$T/g1"
wait_until 20 job_is "$job" done || fail "the job did not end"
assert_eq "$(count "$job" done)" 2 "chunks done"

# Refused by name and path; nothing stored.
njobs=$(swarmctl jobs --json | json 'len(j)')
nevents=$(swarmctl events --json | wc -l)
refused() {
	swarmctl submit "$1" 2>"$T/err" && fail "$1 accepted"
	assert_contains "$(cat "$T/err")" "$2"
	assert_eq "$(swarmctl jobs --json | json 'len(j)')" "$njobs" "jobs stored"
	assert_eq "$(swarmctl events --json | wc -l)" "$nevents" "events stored"
}
refused "$(job_file typo '["echo", "{tsak}"]' 2)" \
	'command[1]: unknown placeholder {tsak}: not {task}, {chunk}, {job}, {agent} nor a field of the chunks'
cat >"$T/partial.json" <<'J'
{"name": "partial", "command": ["echo", "{file}"],
 "chunks": [{"id": "a", "task": "t", "file": "a.c"}, {"id": "b", "task": "t"}]}
J
refused "$T/partial.json" 'command[1]: {file} has no value in chunks[1] (a string field "file"; 1 chunks lack it)'
cat >"$T/badfield.json" <<'J'
{"name": "badfield", "command": ["echo", "{task}"],
 "chunks": [{"id": "a", "task": "t", "n": 3}, {"id": "b", "task": "t", "agent": "x"}]}
J
refused "$T/badfield.json" "chunks[0].n: unknown field; a chunk's own fields are strings"
assert_contains "$(cat "$T/err")" "chunks[1].agent: swarmd sets {agent} itself"
# Braces that are no placeholder, and the shell's \${NAME}, stay as they are.
job2=$(swarmctl submit "$(job_file braces '["sh", "-c", "echo \"{ a } {} ${SWARM_CHUNK}\""]' 1)") || fail "braces refused"
wait_until 20 job_is "$job2" done || fail "$job2 did not end"
assert_eq "$(swarmctl logs "$job2/c0")" "{ a } {} c0" "other braces"
ok
