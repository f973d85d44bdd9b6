#!/bin/bash
# A job's worktree that cannot be had is refused at submit, naming what is
# wrong, when git or the store can tell then (no repository, no base, a
# branch of another job, a root that cannot be made, names git would
# take as options); otherwise the attempt fails before anything runs,
# with a clear reason (a branch with someone else's commits, a worktree
# replaced by a plain directory inside the checkout, a locked index), and
# nothing half made is left.  The daemon keeps serving throughout.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
mkdir "$T/plain"
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK $SWARM_ATTEMPT" >>"$T/ran"
[ "$SWARM_ATTEMPT" -gt 1 ] && exit 0
while [ ! -f "$T/go" ]; do sleep 0.05; done
swarmctl fail --transient --reason again
exit 1
A
chmod +x "$T/agent.sh"
# job WORKTREE_JSON [CHUNK_ID]: a job file of one chunk.
job() {
	cat >"$T/j.json" <<J
{"name": "bad", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "worktree": $1, "chunks": [{"id": "${2:-c0}", "task": "x"}]}
J
	echo "$T/j.json"
}
refused() { # WORKTREE_JSON WANT [CHUNK_ID]
	swarmctl submit "$(job "$1" "${3:-c0}")" >"$T/out" 2>&1 && fail "submitted: $1"
	assert_contains "$(cat "$T/out")" "$2" "refusal of $1"
}
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon
refused '{"repo": "'"$T"'/plain", "base": "main"}' "worktree.repo: $T/plain is not a git repository"
refused '{"repo": "'"$T"'/nope", "base": "main"}' "worktree.repo: no such directory"
refused '{"repo": "repo", "base": "main"}' "worktree.repo: expected an absolute path"
refused '{"repo": "'"$T"'/repo", "base": "gone"}' "worktree.base: no commit \"gone\" in $T/repo"
refused '{"repo": "'"$T"'/repo"}' "worktree.base: required"
refused '{"repo": "'"$T"'/repo", "base": "--upload-pack=x"}' "worktree.base: expected a name"
refused '{"repo": "'"$T"'/repo", "base": "main", "branch": "all"}' "must contain {chunk}"
refused '{"repo": "'"$T"'/repo", "base": "main", "root": "'"$T"'/agent.sh/x"}' "is not a directory"
refused '{"repo": "'"$T"'/repo", "base": "main", "colour": 1}' "worktree.colour: unknown field"
refused '{"repo": "'"$T"'/repo", "base": "main"}' "cannot name a branch" "a..b"
refused '{"repo": "'"$T"'/repo", "base": "main"}' "cannot name a branch" ".hidden"
# A dry run asks git too.
swarmctl submit --dry-run "$(job '{"repo": "'"$T"'/repo", "base": "gone"}')" >/dev/null 2>&1 &&
	fail "a dry run took a missing base"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "jobs stored by refused submits"
[ -e "$STATE/worktrees" ] && fail "a refused submit made $(ls -R "$STATE/worktrees")"

# A branch without {job} is a name the next job cannot take.
fixed='{"repo": "'"$T"'/repo", "base": "main", "branch": "fixed/{chunk}"}'
j1=$(swarmctl submit "$(job "$fixed")") || fail "submit fixed"
wait_until 20 grep -q "^c0 1" "$T/ran" || fail "the fixed job did not run"
refused "$fixed" "worktree.branch: fixed/c0 of $T/repo belongs to $j1"
swarmctl pause "$j1" >/dev/null || fail pause
touch "$T/go"
wait_until 20 sh -c "swarmctl worktrees --json | grep -qE '\"state\": *\"(kept|removable)\"'" || fail "kept"

# Replaced by a plain directory inside the checkout: git there would
# find the main checkout, so the retry fails and nothing runs.
wt="$STATE/worktrees/$j1/c0"
git -C "$T/repo" worktree remove --force "$wt" || fail "remove by hand"
mkdir -p "$T/repo/inside" && rm -rf "$wt" && ln -s "$T/repo/inside" "$wt"
swarmctl resume "$j1" >/dev/null || fail resume
wait_until 20 chunk_is "$j1/c0" dead || fail "the retry in a plain directory was not refused"
assert_contains "$(swarmctl dead --json | json 'j[0]["reason"]')" "is not the top of a worktree: git finds $T/repo"
assert_eq "$(grep -c "^c0 " "$T/ran")" 1 "attempts that ran"

# A branch of that name with commits of someone else's: not taken.
git -C "$T/repo" branch pre/c0 main
git -C "$T/repo" -c user.name=o -c user.email=o@o commit-tree -p main -m theirs 'main^{tree}' |
	xargs git -C "$T/repo" update-ref refs/heads/pre/c0
tip=$(git -C "$T/repo" rev-parse pre/c0)
j2=$(swarmctl submit "$(job '{"repo": "'"$T"'/repo", "base": "main", "branch": "pre/{chunk}"}')") || fail submit
wait_until 20 chunk_is "$j2/c0" dead || fail "a branch with foreign commits was taken"
assert_contains "$(swarmctl dead --job "$j2" --json | json 'j[0]["reason"]')" "branch pre/c0 already exists in $T/repo with 1 commits not on main"
assert_eq "$(git -C "$T/repo" rev-parse pre/c0)" "$tip" "the foreign branch moved"
[ -e "$STATE/worktrees/$j2/c0" ] && fail "a worktree was left for the refused branch"

# A locked index in the worktree fails the attempt, naming the lock.
rm -f "$T/go"
j3=$(swarmctl submit "$(job '{"repo": "'"$T"'/repo", "base": "main"}' c3)") || fail submit
wait_until 20 grep -q "^c3 1" "$T/ran" || fail "c3 did not run"
swarmctl pause "$j3" >/dev/null || fail pause
touch "$T/go"
wait_until 20 sh -c "swarmctl worktrees --json $j3 | grep -qE '\"state\": *\"(kept|removable)\"'" || fail "kept"
gitdir=$(git -C "$STATE/worktrees/$j3/c3" rev-parse --path-format=absolute --git-dir)
: >"$gitdir/index.lock"
swarmctl resume "$j3" >/dev/null || fail resume
wait_until 20 chunk_is "$j3/c3" dead || fail "a locked index was not refused"
assert_contains "$(swarmctl dead --job "$j3" --json | json 'j[0]["reason"]')" "is locked ($gitdir/index.lock)"
assert_eq "$(grep -c "^c3 " "$T/ran")" 1 "c3 attempts that ran"
# Still serving, and --check finds the store and git agree.
swarmctl jobs >/dev/null || fail "swarmd stopped serving"
stop_daemon || fail stop
ok
