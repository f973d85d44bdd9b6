#!/bin/bash
# The torture test, with worktrees: a 40-chunk job whose agents commit a
# file and leave another uncommitted in their worktrees, at random short
# times, while swarmd is killed with SIGKILL at random moments 15 times
# (now and then an agent with it), so some kills land while git adds,
# snapshots or unlocks a worktree.  Afterwards every chunk is done, every
# file any attempt finished writing is reachable from a ref of the
# repository, no commit on a chunk's branch lacks its trailers, no
# worktree is left locked, git fsck is clean and swarmd --check (store
# against git) finds nothing wrong.
. "$(dirname "$0")/lib.sh"
printf '[retries]\ntransient = 8\nbackoff = 0.1\nbackoff_max = 0.5\n' >>"$CONF"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
log() { echo "$*" >>"$T/runs"; }
rnd() { od -An -N1 -tu1 /dev/urandom | tr -d ' '; }
tag="$SWARM_CHUNK-$SWARM_ATTEMPT"
sleep "0.$(( $(rnd) % 3 + 1 ))"
echo "kept by $SWARM_AGENT in $tag" >"kept-$tag.txt"
git add "kept-$tag.txt" && git commit -q -m "work $tag" || exit 3
log "KEPT $tag $SWARM_AGENT $$"
echo "loose by $SWARM_AGENT in $tag" >"loose-$tag.txt"
log "LOOSE $tag $SWARM_AGENT $$"
sleep "0.$(( $(rnd) % 3 + 1 ))"
exit 0
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "torture", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 8, "worktree": {"repo": "$T/repo", "base": "main"},
 "chunks": [$(for i in $(seq 0 39); do printf '{"id":"w%d","task":"t"}%s' $i "$([ $i -lt 39 ] && echo ,)"; done)]}
J
job=$(swarmctl submit "$T/job.json") || fail "submit"
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
for round in $(seq 1 15); do
	sleep "0.$(printf '%02d' $(( $(rnd) % 60 + 10 )))" # a random moment
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
	if [ $(( $(rnd) % 3 )) = 0 ] && [ -s "$T/runs" ]; then
		# Past its commit (a kill inside one leaves git's index lock,
		# which the next attempt refuses to run under, by design).
		victim=$(grep '^LOOSE' "$T/runs" | tail -n 4 | shuf -n 1 | cut -d' ' -f4)
		[ -n "$victim" ] && grep -qa "SWARM_SOCKET=$SOCK" "/proc/$victim/environ" 2>/dev/null &&
			kill -KILL "$victim" 2>/dev/null
	fi
	start_daemon
done
wait_until 180 job_is "$job" done || fail "job did not finish: $(swarmctl show "$job" --json | json 'j["counts"]')"
[ "$(count "$job" done)" = 40 ] || fail "not all done: $(swarmctl dead --json)"
settled() { [ "$(swarmctl worktrees --json | json 'sorted(set(r["state"] in ("kept", "removable") for r in j))')" = '[true]' ]; }
wait_until 60 settled || fail "worktrees not settled: $(swarmctl worktrees)"
stop_daemon || fail "stop"

cd "$T/repo"
revs=$(git rev-list --all)
n=0
while read -r kind tag agent pid; do
	f=$([ "$kind" = KEPT ] && echo kept || echo loose)
	git grep -q -F "$f by $agent in $tag" $revs -- "$f-$tag.txt" ||
		fail "$f-$tag.txt of $agent is in no commit of the repository"
	n=$((n + 1))
done <"$T/runs"
[ "$n" -ge 80 ] || fail "only $n files written"
for b in $(git for-each-ref --format='%(refname:short)' refs/heads/swarm/); do
	for c in $(git rev-list "$b" --not main); do
		git show -s --format='%(trailers:key=Swarm-Agent,valueonly)' "$c" | grep -q '^agent-' ||
			fail "$c on $b has no Swarm-Agent trailer"
	done
done
git worktree list --porcelain | grep '^locked' && fail "a lock was left"
git fsck --no-progress 2>&1 | grep -v '^dangling' | grep . && fail "git fsck"
cd - >/dev/null
"$SWARMD" --check "$STATE" >"$T/check" || fail "swarmd --check: $(cat "$T/check")"
assert_contains "$(cat "$T/check")" "0 inconsistencies"
ok
