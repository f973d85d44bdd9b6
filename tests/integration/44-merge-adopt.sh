#!/bin/bash
# A landed rebase owes the chunk its adoption: the chunk's branch moved
# to the commits that landed (its old head kept) and those commits
# recorded for blame.  swarmd is killed while the adoption's git runs
# (a stand-in git first on swarmd's PATH holds the keep step); the next
# start finds the entry owed and finishes it.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
real=$(command -v git)
mkdir "$T/bin"
cat >"$T/bin/git" <<W
#!/bin/sh
# Hold the adoption's keep step (update-ref refs/swarm/merged/...).
case "\$*" in
*update-ref\ refs/swarm/merged/*)
	echo \$\$ >"$T/held"
	while :; do sleep 0.05; done ;;
esac
exec "$real" "\$@"
W
cat >"$T/agent.sh" <<'A'
#!/bin/sh
set -e
echo "from $SWARM_CHUNK" >"$SWARM_CHUNK.txt"
git add -A && git commit -q -m "$SWARM_CHUNK"
# The target moves meanwhile: the landing rebases, making a new commit.
git -C "$T/repo" -c user.name=h -c user.email=h@h commit -q --allow-empty -m human
A
chmod +x "$T/bin/git" "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "adopt", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "worktree": {"repo": "$T/repo", "base": "main"},
 "gates": [{"name": "test", "command": ["true"]}],
 "merge": {"into": "main"},
 "chunks": [{"id": "c1", "task": "t"}]}
J
PATH="$T/bin:$PATH" start_daemon
job=$(swarmctl submit "$T/job.json") || fail submit
wait_until 60 test -s "$T/held" || fail "no adoption began: $(swarmctl merges --all)"
assert_eq "$(chunk_state "$job/c1")" merged "state while adopting"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
kill -KILL "$(cat "$T/held")"
orig=$(git -C "$T/repo" rev-parse "swarm/$job/c1")
landed=$(git -C "$T/repo" rev-parse main)
[ "$orig" != "$landed" ] || fail "the branch moved before the kill"
start_daemon
wait_until 30 sh -c "[ \"\$(git -C '$T/repo' rev-parse 'swarm/$job/c1')\" = $landed ]" ||
	fail "the branch was not adopted after the restart"
assert_eq "$(git -C "$T/repo" rev-parse "refs/swarm/merged/$job/c1")" "$orig" "the old head kept"
wait_until 30 sh -c "'$SWARMCTL' blame $landed --json | grep -q '\"landed\": *\"main\"'" ||
	fail "the landed commit is not recorded: $(swarmctl blame "$landed" 2>&1)"
assert_eq "$(swarmctl blame "$landed" --json | json 'j[0]["chunk"]+","+j[0]["agent"][:6]')" "c1,agent-"
wait_until 30 sh -c "'$SWARMCTL' worktrees '$job' --json | grep -q removable" ||
	fail "the worktree is not removable: $(swarmctl worktrees "$job")"
ok
