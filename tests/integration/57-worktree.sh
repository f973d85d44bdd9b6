#!/bin/bash
# A worktree per chunk, and nothing of the agents' work lost.  In a real
# repository made here, six chunks each commit a file and leave another
# uncommitted; then one exits 1, one is aborted, one runs past its
# timeout, one dies with swarmd (kill -9 of both) and is found gone at
# the restart, one calls done, one exits 0.  Afterwards every file each
# attempt wrote is reachable from a ref of the repository, `git fsck` is
# clean, the retries continued on their chunk's branch and saw their own
# commits and snapshot, every commit carries the four trailers and its
# agent's name (`swarmctl blame` agrees), each worktree was locked while
# its agent ran and is unlocked after, `clean` removes only what nothing
# would be lost with, and `swarmd --check` finds git and the store agree
# (and says where they do not).
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
cat >"$T/agent.sh" <<'A'
#!/bin/sh
tag="$SWARM_CHUNK-$SWARM_ATTEMPT"
if [ "$SWARM_ATTEMPT" -gt 1 ]; then
	# A retry: its own branch, its earlier commit, the snapshot.
	{ echo "attempt=$SWARM_ATTEMPT"; git log --format=%s
	  echo "snapshot=$SWARM_SNAPSHOT"
	  git show "$SWARM_SNAPSHOT:loose-$SWARM_CHUNK-1.txt"; } >"$T/retry.$SWARM_CHUNK" 2>&1
fi
echo "committed by $SWARM_AGENT in $tag" >"kept-$tag.txt"
git add "kept-$tag.txt" && git commit -q -m "work on $tag" || exit 3
echo "left loose by $SWARM_AGENT in $tag" >"loose-$tag.txt"
# Both written: the test looks for them in the repository.
echo "$tag $SWARM_AGENT $(pwd)" >>"$T/runs"
[ "$SWARM_ATTEMPT" -gt 1 ] && exit 0
case "$SWARM_CHUNK" in
fail)	swarmctl fail --transient --reason "try again"; exit 1 ;;
done)	swarmctl done --summary finished ;;
ok)	exit 0 ;;
*)	echo $$ >"$T/pid.$SWARM_CHUNK"; exec sleep 3600 ;;
esac
A
chmod +x "$T/agent.sh"
wt='"worktree":{"repo":"'"$T"'/repo","base":"main"}'
cat >"$T/a.json" <<J
{"name": "work", "command": ["$T/agent.sh"], "env": {"T": "$T"}, $wt,
 "chunks": [{"id": "fail", "task": "x"}, {"id": "abort", "task": "x"},
   {"id": "crash", "task": "x"}, {"id": "done", "task": "x"},
   {"id": "ok", "task": "x"}]}
J
cat >"$T/b.json" <<J
{"name": "slow", "command": ["$T/agent.sh"], "env": {"T": "$T"}, $wt,
 "timeout": 5, "chunks": [{"id": "timeout", "task": "x"}]}
J
printf "[retries]\nbackoff = 0\n" >>"$CONF"
start_daemon
ja=$(swarmctl submit "$T/a.json") || fail "submit"
jb=$(swarmctl submit "$T/b.json") || fail "submit"
wait_until 60 test -s "$T/pid.abort" || fail "the abort chunk did not start: $(swarmctl events --job "$ja" | tail -n 20)"
wait_until 30 test -s "$T/pid.crash" || fail "the crash chunk did not start"
# Each agent runs in its own worktree, locked for it.
abort_agent=$(swarmctl show "$ja/abort" --json | json 'j["agent"]')
wt_abort="$(grep "^abort-1 " "$T/runs" | cut -d' ' -f3)"
assert_eq "$(git -C "$wt_abort" symbolic-ref --short HEAD)" "swarm/$ja/abort"
git -C "$T/repo" worktree list --porcelain | grep -A5 "^worktree $wt_abort\$" |
	grep -q "^locked swarmd $abort_agent\$" || fail "the running agent's worktree is not locked for it"
swarmctl abort "$abort_agent" >/dev/null || fail "abort"
wait_until 30 chunk_is "$ja/abort" aborted || fail "abort chunk not aborted"
wait_until 30 chunk_is "$ja/done" done || fail "done chunk"
wait_until 30 chunk_is "$ja/ok" done || fail "ok chunk"
wait_until 30 chunk_is "$ja/fail" done || fail "the failed chunk's retry"
wait_until 30 chunk_is "$jb/timeout" done || fail "the timed-out chunk's retry"

# kill -9 of swarmd, and of the crash agent with its shim.
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
p=$(cat "$T/pid.crash")
s=$(ps -o ppid= -p "$p" | tr -d ' ')
kill -KILL "$s" "$p"
wait_until 10 sh -c "! kill -0 $p" || fail "crash agent alive"
start_daemon
wait_until 30 chunk_is "$ja/crash" done || fail "the crashed chunk's retry"
wait_until 30 job_is "$ja" done || fail "job $ja"
settled() { [ "$(swarmctl worktrees --json | json 'sorted(set(r["state"] for r in j))')" = '["kept"]' ]; }
wait_until 30 settled || fail "worktrees not settled: $(swarmctl worktrees)"

# Every file each attempt wrote is in the repository, under some ref.
cd "$T/repo"
revs=$(git rev-list --all)
while read -r tag agent dir; do
	for f in "kept-$tag.txt" "loose-$tag.txt"; do
		want=$([ "${f%%-*}" = kept ] && echo "committed by" || echo "left loose by")
		git grep -q -F "$want $agent in $tag" $revs -- "$f" ||
			fail "$f of $agent ($tag) is in no commit of the repository"
	done
done <"$T/runs"
# Each chunk wrote in its first attempt; three of them again in a retry.
for c in fail abort crash done ok timeout; do
	grep -q "^$c-1 " "$T/runs" || fail "$c's first attempt did not write"
done
git fsck --no-progress 2>&1 | grep -v '^dangling' | grep . && fail "git fsck"
# The retries went on from their own branch, their commit and snapshot.
for c in fail timeout crash; do
	assert_contains "$(cat "$T/retry.$c")" "work on $c-1" "$c's retry sees its commit"
	assert_contains "$(cat "$T/retry.$c")" "left loose by" "$c's retry gets the snapshot"
	prev=$(( $(sed -n 's/^attempt=//p' "$T/retry.$c") - 1 ))
	assert_eq "$(git rev-parse "refs/swarm/snapshots/$([ $c = timeout ] && echo $jb || echo $ja)/$c/$prev")" \
		"$(sed -n 's/^snapshot=//p' "$T/retry.$c")" "SWARM_SNAPSHOT of $c"
done
# No lock is left; every worktree is still there, kept.
git worktree list --porcelain | grep -q '^locked' && fail "a lock was left: $(git worktree list --porcelain)"
assert_eq "$(git worktree list | grep -c "/job-")" 6 "worktrees"
cd - >/dev/null

# Attribution: each commit on a chunk branch is its agent's, with the
# trailers, and blame says so, with the attempt's cost.
for b in $(git -C "$T/repo" for-each-ref --format='%(refname:short)' refs/heads/swarm/); do
	for c in $(git -C "$T/repo" rev-list "$b" --not main); do
		msg=$(git -C "$T/repo" show -s --format='%an|%cn|%(trailers:key=Swarm-Agent,valueonly)|%(trailers:key=Swarm-Job,valueonly)|%(trailers:key=Swarm-Chunk,valueonly)|%(trailers:key=Swarm-Attempt,valueonly)' "$c" | tr -d '\n')
		IFS='|' read -r an cn ag jo ch at <<<"$msg"
		[ "$an" = "$ag" ] && [ "$cn" = "$ag" ] || fail "$c: author $an committer $cn agent $ag"
		[ "$b" = "swarm/$jo/$ch" ] || fail "$c on $b says $jo/$ch"
		grep -q "^$ch-$at $ag " "$T/runs" || fail "$c: $ch attempt $at by $ag never ran"
		out=$(swarmctl blame "$c" --json) || fail "blame $c"
		assert_eq "$(echo "$out" | json 'j[0]["agent"]+" "+j[0]["job"]+"/"+j[0]["chunk"]+" "+str(j[0]["attempt"])')" \
			"$ag $jo/$ch $at" "blame $c"
		echo "$out" | json 'j[0]["usage"]["records"]' >/dev/null || fail "blame $c: no cost"
	done
done
swarmctl show "$abort_agent" | grep -q "work on abort-1" || fail "show lists the chunk's commits"
swarmctl blame 0000000 2>"$T/err" && fail "blame of an unknown commit"
assert_contains "$(cat "$T/err")" not_found
swarmctl blame "zz; rm -rf /" 2>"$T/err" && fail "blame of a bad id"
assert_contains "$(cat "$T/err")" "not a commit id"

# Removal: nothing unmerged or uncommitted goes.  The "ok" chunk merged,
# its loose file committed on the branch: removable, and removed.
# "done" likewise, but its snapshots are gone from the repository: kept.
wt_ok="$(grep "^ok-1 " "$T/runs" | cut -d' ' -f3)"
for c in ok done; do
	w="$(grep "^$c-1 " "$T/runs" | cut -d' ' -f3)"
	git -C "$w" add -A && git -C "$w" -c user.name=t -c user.email=t@t commit -q -m tidy
	git -C "$T/repo" -c user.name=t -c user.email=t@t merge -q --no-edit "swarm/$ja/$c" || fail "merge $c"
done
for r in $(git -C "$T/repo" for-each-ref --format='%(refname)' "refs/swarm/snapshots/$ja/done/"); do
	git -C "$T/repo" update-ref -d "$r"
done
git -C "$T/repo" reflog expire --expire=now --all && git -C "$T/repo" gc -q --prune=now
out=$(swarmctl worktrees --json)
state() { echo "$out" | json "[r['state'] for r in j if r['chunk']=='$1'][0]"; }
assert_eq "$(state ok)" removable
assert_eq "$(state done)" kept "a worktree whose snapshot is lost"
assert_contains "$(echo "$out" | json "[r['kept_because'] for r in j if r['chunk']=='done'][0]")" "snapshot of it is missing"
assert_eq "$(state fail)" kept
assert_contains "$(echo "$out" | json "[r['kept_because'] for r in j if r['chunk']=='fail'][0]")" "2 commits not merged into main"
out=$(swarmctl clean --json "$ja") || fail "clean"
assert_eq "$(echo "$out" | json "[r['done'] for r in j if 'done' in r]")" '["removed"]' "clean removed only the removable one"
[ -d "$wt_ok" ] && fail "the removable worktree is still there"
git -C "$T/repo" rev-parse -q --verify "swarm/$ja/ok" >/dev/null || fail "clean deleted a branch"
[ -d "$wt_abort" ] || fail "clean removed a worktree that holds work"
# --discard: the kept ones go too, each after a snapshot of what it held.
echo "a last edit" >"$wt_abort/late.txt"
out=$(swarmctl clean --discard --json "$ja") || fail "clean --discard"
assert_contains "$(echo "$out" | json "[r['held'] for r in j if r['chunk']=='abort'][0]")" "uncommitted changes, kept in"
[ -d "$wt_abort" ] && fail "discard left the worktree"
git -C "$T/repo" show "refs/swarm/snapshots/$ja/abort/discarded:late.txt" | grep -q "a last edit" ||
	fail "the discarded worktree's last edit was not kept"
assert_eq "$(swarmctl worktrees --json "$jb" | json 'j[0]["state"]')" kept "the other job's worktree"
stop_daemon || fail "stop"
# --check: the store and git agree; a lock or a removal behind swarmd's
# back is reported.
"$SWARMD" --check "$STATE" >"$T/check" || fail "--check: $(cat "$T/check")"
wt_t="$(grep "^timeout-1 " "$T/runs" | cut -d' ' -f3)"
git -C "$T/repo" worktree lock --reason "swarmd agent-99" "$wt_t"
"$SWARMD" --check "$STATE" >"$T/check" && fail "--check missed a stray lock"
assert_contains "$(cat "$T/check")" "worktree: $jb/timeout: kept, but still locked by swarmd"
git -C "$T/repo" worktree unlock "$wt_t"
git -C "$T/repo" worktree remove --force "$wt_t"
"$SWARMD" --check "$STATE" >"$T/check" && fail "--check missed a removal"
assert_contains "$(cat "$T/check")" "worktree: $jb/timeout: kept, but git does not list $wt_t"
ok
