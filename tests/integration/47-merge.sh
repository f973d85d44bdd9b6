#!/bin/bash
# The merge queue, against a local bare repository as the remote: ten
# chunks, six on files of their own, two that conflict with each other
# (both add shared.txt), one whose test gate fails once, one whose gate
# always fails.  While the queue tests its first round, someone else
# pushes to the target: the queue finds the target moved, goes round
# again, and both changes are there.  Afterwards the target holds every
# chunk that could land, once each, in the order they were merged, its
# history linear (rebase mode); the second of the conflicting pair was
# sent back told the paths and the diff, resolved it and landed after;
# the failing one is dead with its gate's output; no line any agent
# wrote is missing from the target or from a kept branch; no wake-up was
# missed; the merged chunks' worktrees are removable.
. "$(dirname "$0")/lib.sh"
git init -q --bare -b main "$T/origin.git"
git clone -q "$T/origin.git" "$T/repo" 2>/dev/null
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
git -C "$T/repo" push -q origin main
cat >"$T/agent.sh" <<'A'
#!/bin/sh
set -e
if printf '%s' "${SWARM_REJECTION:-}" | grep -q '"conflicts"'; then
	# Rework of a conflict: onto the target, both sides kept.
	printf '%s' "$SWARM_REJECTION" >"$T/rejection.$SWARM_CHUNK"
	onto=$(printf '%s' "$SWARM_REJECTION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["onto"])')
	if ! git rebase -q "$onto" >/dev/null 2>&1; then
		{ git show "$onto:shared.txt"; echo "from $SWARM_CHUNK"; } >shared.txt
		git add shared.txt
		GIT_EDITOR=true git rebase --continue >/dev/null
	fi
	exit 0
fi
[ -n "${SWARM_REJECTION:-}" ] && exit 0 # a gate's rework: nothing to change
case $SWARM_CHUNK in
x*) echo "from $SWARM_CHUNK" >shared.txt ;;
always) echo BAD >always.txt ;;
*) echo "from $SWARM_CHUNK" >"$SWARM_CHUNK.txt" ;;
esac
git add -A && git commit -q -m "$SWARM_CHUNK"
A
cat >"$T/gate.sh" <<'G'
#!/bin/sh
if grep -qs BAD always.txt; then echo "always.txt is BAD"; exit 1; fi
if [ -f flaky.txt ] && mkdir "$T/flaky.once" 2>/dev/null; then
	echo "flaky fails once"; exit 1
fi
# On the target (no chunk), the first round waits for someone's push.
if [ -z "${SWARM_CHUNK:-}" ] && [ ! -f "$T/pushed" ]; then
	touch "$T/waiting"
	while [ ! -f "$T/pushed" ]; do sleep 0.05; done
fi
echo "tests pass"
G
chmod +x "$T/agent.sh" "$T/gate.sh"
chunks=""
for c in a1 a2 a3 a4 a5 a6 x1 x2 flaky always; do
	chunks="$chunks${chunks:+,}{\"id\":\"$c\",\"task\":\"t\"}"
done
cat >"$T/job.json" <<J
{"name": "merged", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 10,
 "worktree": {"repo": "$T/repo", "base": "origin/main"},
 "gates": [{"name": "test", "command": ["$T/gate.sh"], "timeout": 60}],
 "gate_retries": 2,
 "merge": {"into": "main", "push": "origin"},
 "chunks": [$chunks]}
J
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon
# A target or a remote the repository lacks: refused at submit.
refused() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); m=j["merge"]; exec(sys.argv[2]); print(json.dumps(j))' \
		"$T/job.json" "$1" >"$T/bad.json"
	swarmctl submit "$T/bad.json" 2>"$T/err" && fail "took a job with $1"
	assert_contains "$(cat "$T/err")" "$2"
}
refused 'm["push"] = "nosuch"' "merge.push: no remote \"nosuch\" in $T/repo"
refused 'del m["push"]; m["into"] = "nosuch"' "merge.into: no branch \"nosuch\" in $T/repo"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "jobs stored"
job=$(swarmctl submit "$T/job.json") || fail submit
# Someone else pushes while the first round is tested.
wait_until 60 test -f "$T/waiting" || fail "no round reached the gates: $(swarmctl merges)"
git clone -q "$T/origin.git" "$T/human" 2>/dev/null
echo "by a human" >"$T/human/human.txt"
git -C "$T/human" add human.txt
git -C "$T/human" -c user.name=h -c user.email=h@h commit -q -m human
git -C "$T/human" push -q origin main
touch "$T/pushed"
wait_until 120 job_is "$job" done || fail "job: $(swarmctl show "$job" --json | json 'j["counts"]'); $(swarmctl merges --all)"
for c in a1 a2 a3 a4 a5 a6 x1 x2 flaky; do
	assert_eq "$(chunk_state "$job/$c")" merged "$c"
done
assert_eq "$(chunk_state "$job/always")" dead always
git -C "$T/repo" fetch -q origin
main=refs/remotes/origin/main
# Every line: on the target, or on the dead chunk's kept branch.
for c in a1 a2 a3 a4 a5 a6 flaky; do
	assert_eq "$(git -C "$T/repo" show "$main:$c.txt")" "from $c" "$c.txt on main"
done
assert_eq "$(git -C "$T/repo" show "$main:human.txt")" "by a human" "the human's push"
shared=$(git -C "$T/repo" show "$main:shared.txt")
assert_contains "$shared" "from x1"
assert_contains "$shared" "from x2"
assert_eq "$(git -C "$T/repo" show "swarm/$job/always:always.txt")" BAD "the dead chunk's branch"
# Linear, each chunk once, in the order of the merged events.
assert_eq "$(git -C "$T/repo" rev-list --merges "$main" | wc -l)" 0 "merge commits on main"
landed=$(git -C "$T/repo" log --reverse --format=%s "$main" | grep -v -e '^base$' -e '^human$' | tr '\n' ' ')
order=$(swarmctl events --json --job "$job" --type merged | jsonl 'j["chunk_id"]' | tr '\n' ' ')
assert_eq "$landed" "$order" "the target's history against the merged events"
assert_eq "$(echo "$order" | wc -w)" 9 "chunks merged"
must git -C "$T/origin.git" fsck --no-progress
# A rebase made new commits: blame knows them as the agents' own.
blamed() {
	swarmctl blame "$1" --json | json '",".join(str(c[k]) for c in j for k in ("job", "chunk", "landed")) + ("," + j[0]["agent"] if j and j[0]["agent"] else "")'
}
for c in a1 a6 flaky; do
	id=$(git -C "$T/repo" log --format='%H %s' "$main" | awk -v s="$c" '$2 == s { print $1 }')
	wait_until 30 test -n "$(blamed "$id")" || fail "blame $id ($c): nothing known"
	b=$(blamed "$id")
	assert_contains "$b" "$job,$c,main,agent-"
done
assert_contains "$(swarmctl blame "$id")" "landed:  on main"
# The target moved under the first round: noticed, and gone round again.
[ "$(swarmctl events --json --type merge_retry | wc -l)" -ge 1 ] || fail "no merge_retry after the push"
assert_eq "$(swarmctl events --json --type merge_stalled | wc -l)" 0 "missed wake-ups"
# The conflict: described to the second of the pair, which landed after.
second=$(ls "$T" | sed -n 's/^rejection\.\(x[12]\)$/\1/p')
[ -n "$second" ] || fail "neither conflicting chunk was sent back"
r=$(cat "$T/rejection.$second")
assert_eq "$(echo "$r" | json 'j["gate"]+"|"+j["stage"]+"|"+",".join(j["conflicts"])')" "merge|merge|shared.txt"
assert_contains "$(echo "$r" | json 'j["output"]')" "<<<<<<<"
assert_eq "$(swarmctl events --json --job "$job" --type merge_conflict | jsonl 'j["chunk_id"]')" "$second"
# The dead chunk: its gate's output shown by `swarmctl dead`.
assert_contains "$(swarmctl dead --job "$job")" "always.txt is BAD"
# Merged chunks' branches read as merged; their worktrees are removable.
assert_eq "$(swarmctl worktrees "$job" --json | json '",".join(sorted(r["chunk"] for r in j if r["state"] == "removable"))')" \
	"a1,a2,a3,a4,a5,a6,flaky,x1,x2"
assert_eq "$(swarmctl merges --json | json 'len(j)')" 0 "live entries left"
ok
