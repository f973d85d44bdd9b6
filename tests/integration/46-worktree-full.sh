#!/bin/bash
# A full disk where the worktrees go: the attempt fails before anything
# runs, with git's "No space left on device" and the path; what git half
# made is undone (no worktree left in git's list, nothing under the
# root); the branch is kept; the daemon keeps serving.  The small disk is
# a 1 MiB tmpfs in a mount namespace of the test's own (root, namespaces:
# a host without them skips).
if [ -z "${SWARM_IN_NS:-}" ]; then
	unshare --mount true 2>/dev/null ||
		{ echo "SKIP: no mount namespace here (needs root)"; exit 77; }
	SWARM_IN_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
mkdir "$T/small"
mount -t tmpfs -o size=1m tmpfs "$T/small" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
git init -q -b main "$T/repo"
head -c 3000000 /dev/urandom >"$T/repo/big"
git -C "$T/repo" add big
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q -m base
cat >"$T/job.json" <<J
{"name": "full", "command": ["true"],
 "worktree": {"repo": "$T/repo", "base": "main", "root": "$T/small"},
 "chunks": [{"id": "c0", "task": "x"}]}
J
start_daemon
job=$(swarmctl submit "$T/job.json") || fail submit
wait_until 30 chunk_is "$job/c0" dead || fail "the chunk did not fail: $(chunk_state "$job/c0")"
r=$(swarmctl dead --json | json 'j[0]["reason"]')
assert_contains "$r" "unable to write"
assert_contains "$r" "MiB free of 1.0 MiB"
assert_contains "$r" "$T/small/$job/c0"
assert_eq "$(swarmctl show "$job/c0" --json | json 'len(j["agents"])')" 1 "attempts"
wait_until 30 sh -c "[ -z \"\$(ls -A '$T/small/$job')\" ]" || fail "left under the root: $(ls -A "$T/small/$job")"
git -C "$T/repo" worktree list --porcelain | grep -q "^worktree $T/small" && fail "git still lists a worktree"
git -C "$T/repo" rev-parse -q --verify "swarm/$job/c0" >/dev/null || fail "the branch was deleted"
swarmctl jobs >/dev/null || fail "swarmd stopped serving"
stop_daemon || fail stop
umount "$T/small"
ok
