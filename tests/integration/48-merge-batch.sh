#!/bin/bash
# The merge queue tests a batch together and bisects it when the gates
# fail.  The queue is paused ahead of its first entry (REPO:TARGET), so
# four chunks wait together; resumed, one round stacks all four (mode
# merge) and runs the gate once on the top.  One chunk's change passes
# its own gate but breaks the target's: the batch is bisected, the
# other three land, the culprit alone is reworked (told the gate's
# output, stage merge) and lands after.  Each chunk's branch is then on
# the target, and bad requests to the queue's verbs change nothing.  A
# job aborted while its chunks wait in the queue lands nothing.  The
# gates, which run the agents' code, are refused operator verbs.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
cat >"$T/agent.sh" <<'A'
#!/bin/sh
set -e
line="from $SWARM_CHUNK"
if [ -n "${SWARM_REJECTION:-}" ]; then
	printf '%s' "$SWARM_REJECTION" >"$T/rejection.$SWARM_CHUNK"
elif [ "$SWARM_CHUNK" = poison ]; then
	line=bad
	# Last in the queue: after the other three passed their gates.
	i=0
	while [ "$(ls "$T" | grep -c '^gated\.')" -lt 3 ] && [ $i -lt 600 ]; do
		sleep 0.05; i=$((i + 1))
	done
fi
echo "$line" >"$SWARM_CHUNK.txt"
git add -A && git commit -q -m "$SWARM_CHUNK $SWARM_ATTEMPT"
A
cat >"$T/gate.sh" <<'G'
#!/bin/sh
# A gate runs an agent's code: it is no operator.
swarmctl merge pause main 2>>"$T/gate-ctl" && echo ALLOWED >>"$T/gate-ctl"
if [ -n "${SWARM_CHUNK:-}" ]; then # a chunk's own gate: all pass
	touch "$T/gated.$SWARM_CHUNK"; exit 0
fi
ls *.txt | tr '\n' ' ' >>"$T/merge-runs"; echo >>"$T/merge-runs"
if grep -qs bad poison.txt; then echo "poison.txt breaks the build"; exit 1; fi
echo "build ok"
G
chmod +x "$T/agent.sh" "$T/gate.sh"
cat >"$T/job.json" <<J
{"name": "batched", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 4,
 "worktree": {"repo": "$T/repo", "base": "main"},
 "gates": [{"name": "build", "command": ["$T/gate.sh"]}],
 "merge": {"into": "main", "mode": "merge"},
 "chunks": [{"id": "a", "task": "t"}, {"id": "b", "task": "t"},
   {"id": "c", "task": "t"}, {"id": "poison", "task": "t"}]}
J
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon
# Bad requests: refused, nothing changed.
swarmctl merge pause nosuch 2>"$T/err" && fail "paused a queue that does not exist"
assert_contains "$(cat "$T/err")" "no merge queue has the target nosuch"
swarmctl merge frobnicate main 2>"$T/err" && fail "took an unknown merge action"
assert_contains "$(cat "$T/err")" "expected pause or resume"
must swarmctl merge pause "$T/repo:main"
job=$(swarmctl submit "$T/job.json") || fail submit
waiting() { [ "$(swarmctl merges --json | json 'len(j)')" = "$1" ]; }
wait_until 60 waiting 4 ||
	fail "four entries did not queue: $(swarmctl merges)"
assert_eq "$(swarmctl merges --json | json '",".join(str(r["position"]) + r["state"] + str(r["paused"]) for r in j)')" \
	"1queuedTrue,2queuedTrue,3queuedTrue,4queuedTrue" "the paused queue"
assert_contains "$(swarmctl merges)" "main (paused)"
[ -f "$T/merge-runs" ] && fail "a paused queue ran its gates"
must swarmctl merge resume main
wait_until 120 job_is "$job" done || fail "job: $(swarmctl show "$job" --json | json 'j["counts"]'); $(swarmctl merges --all)"
for c in a b c poison; do
	assert_eq "$(chunk_state "$job/$c")" merged "$c"
	must git -C "$T/repo" merge-base --is-ancestor "swarm/$job/$c" main
	assert_eq "$(git -C "$T/repo" show "main:$c.txt")" "from $c" "$c.txt on main"
done
# The gates' processes were refused operator verbs.
assert_contains "$(cat "$T/gate-ctl")" "agents are not operators: merge is an operator verb"
grep -q ALLOWED "$T/gate-ctl" && fail "a gate paused the merge queue"
# One round tested all four together.
assert_eq "$(head -n1 "$T/merge-runs")" "a.txt b.txt c.txt poison.txt " "the first test"
# The culprit alone was sent back, told what failed on the target.
assert_eq "$(swarmctl events --json --job "$job" --type merge_failed | jsonl 'j["chunk_id"]')" poison
r=$(cat "$T/rejection.poison")
assert_eq "$(echo "$r" | json 'j["gate"]+"|"+j["stage"]+"|"+j["target"]')" "build|merge|main"
assert_contains "$(echo "$r" | json 'j["output"]')" "poison.txt breaks the build"
for c in a b c; do
	[ -f "$T/rejection.$c" ] && fail "$c was reworked: $(cat "$T/rejection.$c")"
done
# The culprit was last in the queue: the bisection found it there.
assert_eq "$(swarmctl events --json --job "$job" --type merge_queued | jsonl 'j["chunk_id"]' | sed -n 4p)" poison "the fourth queued"
# The other three landed before the culprit.
order=$(swarmctl events --json --job "$job" --type merged | jsonl 'j["chunk_id"]' | tr '\n' ' ')
assert_eq "${order##* poison}" " " "poison lands last ($order)"
assert_eq "$(git -C "$T/repo" rev-list --merges main | wc -l)" 4 "merge commits"
# A job aborted while its chunks wait in the queue: nothing of it lands.
must swarmctl merge pause main
sed -e 's/"batched"/"aborted"/' -e 's/"id": "\([a-z]*\)"/"id": "late-\1"/g' "$T/job.json" >"$T/job2.json"
job2=$(swarmctl submit "$T/job2.json") || fail submit
wait_until 60 waiting 4 || fail "the second job did not queue: $(swarmctl merges)"
must swarmctl abort "$job2"
must swarmctl merge resume main
wait_until 30 waiting 0 || fail "entries left: $(swarmctl merges)"
wait_until 30 job_is "$job2" aborted || fail "$job2: $(job_state "$job2")"
assert_eq "$(swarmctl merges --all --json | json '" ".join(r["state"] for r in j if r["job"] == "'"$job2"'")')" \
	"dropped dropped dropped dropped" "the aborted job's entries"
assert_eq "$(git -C "$T/repo" log --format=%s main | grep -c late)" 0 "commits of the aborted job on main"
ok
