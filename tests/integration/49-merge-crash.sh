#!/bin/bash
# kill -9 of swarmd at random moments of gating and merging, 20 times.
# Chunks each commit a file of their own; their gates, and the merge
# queue's on the target, take a random moment each, so the kills land
# in gates, rebases, resets and target updates.  After each kill,
# `swarmd --check` runs on the state swarmd left.  At the end every
# chunk is merged, each once: its commit is on the target exactly once,
# the target's history is linear, `git fsck` is clean, the queue's
# worktree is clean, and no entry is left in the queue.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "from $SWARM_CHUNK" >"$SWARM_CHUNK.txt"
git add -A && git commit -q -m "$SWARM_CHUNK" || true
A
cat >"$T/gate.sh" <<'G'
#!/bin/sh
r=$(od -An -N1 -tu1 /dev/urandom)
sleep "0.$(( r % 3 ))"
# Now and then long enough on the target to outlive a killed swarmd.
[ -z "${SWARM_CHUNK:-}" ] && [ $(( r % 3 )) = 0 ] && sleep 1
echo pass
G
chmod +x "$T/agent.sh" "$T/gate.sh"
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon
jobs=""
next_job() {
	local n=$1
	cat >"$T/job$n.json" <<J
{"name": "crash$n", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 6,
 "worktree": {"repo": "$T/repo", "base": "main"},
 "gates": [{"name": "test", "command": ["$T/gate.sh"]}],
 "merge": {"into": "main", "batch": 3},
 "chunks": [$(for i in $(seq 1 9); do printf '{"id":"j%dc%d","task":"t"}%s' "$n" "$i" "$([ "$i" -lt 9 ] && echo ,)"; done)]}
J
	jobs="$jobs $(swarmctl submit "$T/job$n.json")" || fail "submit"
}
n=1
next_job $n
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
for kill in $(seq 1 20); do
	# A job that ended before the kills did: the next one.
	last=${jobs##* }
	if job_is "$last" done; then n=$((n + 1)); next_job $n; fi
	sleep "0.$(printf '%02d' $(( $(rnd) % 50 + 10 )))" # a random moment
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
	"$SWARMD" --check "$STATE" >"$T/check" || fail "swarmd --check after kill $kill: $(cat "$T/check")"
	start_daemon
done
for job in $jobs; do
	wait_until 180 job_is "$job" done || fail "$job: $(swarmctl show "$job" --json | json 'j["counts"]'); $(swarmctl merges --all)"
	assert_eq "$(count "$job" merged)" 9 "$job merged"
done
assert_eq "$(swarmctl merges --json | json 'len(j)')" 0 "entries left"
# Where the kills landed, for the log (random, so not asserted).
echo "entries that went round again: $(swarmctl merges --all --json | json 'sum(1 for r in j if r["rounds"] > 0)'); gates left running and killed: $(grep -c 'a gate left running' "$T/swarmd.log"); waits for a git left running: $(grep -c 'waiting for a git' "$T/swarmd.log")"
stop_daemon || fail stop
cd "$T/repo"
total=$((n * 9))
assert_eq "$(git log --format=%s main | grep -c '^j')" "$total" "chunk commits on main"
assert_eq "$(git log --format=%s main | grep '^j' | sort | uniq -d)" "" "a chunk landed twice"
for i in $(seq 1 "$n"); do
	for c in $(seq 1 9); do
		assert_eq "$(git show "main:j${i}c$c.txt")" "from j${i}c$c" "j${i}c$c.txt"
	done
done
assert_eq "$(git rev-list --merges main | wc -l)" 0 "merge commits"
git fsck --no-progress 2>&1 | grep -v '^dangling' | grep . && fail "git fsck"
for wt in "$STATE"/merge/*; do
	assert_eq "$(git -C "$wt" status --porcelain)" "" "the queue's worktree $wt"
done
cd - >/dev/null
"$SWARMD" --check "$STATE" >"$T/check" || fail "swarmd --check: $(cat "$T/check")"
assert_contains "$(cat "$T/check")" "0 inconsistencies"
ok
