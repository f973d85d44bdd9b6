#!/bin/bash
# The real Claude Code CLI in a chunk's worktree: the fake upstream has it
# run `git commit` through its Bash tool, and the commit is attributed:
# author and committer are the agent, the four Swarm-* trailers are in
# its message (swarmd's hook, set in the agent's environment alone), and
# swarmctl blame and show name the agent, job, chunk and attempt.
. "$(dirname "$0")/claude-lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
start_daemon
tool='fake:tool Bash {\"command\": \"echo from-claude >claude.txt && git add claude.txt && git commit -q -m claude-commit\", \"description\": \"commit\"}'
f=$(claude_job commit "[\"$tool\"]" '{"worktree": {"repo": "'"$T"'/repo", "base": "main"}}')
# Its Bash tool may run git (the preset allows swarmctl alone).
python3 - "$f" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["command"] += ["--allowedTools", "Bash"]
json.dump(j, open(sys.argv[1], "w"))
PY
job=$(swarmctl submit "$f") || fail submit
wait_until 150 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
assert_eq "$(count "$job" done)" 1 "chunk done"
a=$(agent_of "$job/c0")
c=$(git -C "$T/repo" rev-parse "swarm/$job/c0")
[ "$(git -C "$T/repo" log -1 --format=%s "$c")" = claude-commit ] ||
	{ dump_logs; fail "no commit by claude on the chunk's branch: $(git -C "$T/repo" log --oneline "swarm/$job/c0")"; }
assert_eq "$(git -C "$T/repo" log -1 --format='%an %cn %ae' "$c")" "$a $a $a@$job.swarmd.invalid" "identity"
for t in "Swarm-Agent: $a" "Swarm-Job: $job" "Swarm-Chunk: c0" "Swarm-Attempt: 1"; do
	git -C "$T/repo" log -1 --format=%B "$c" | grep -qx "$t" || fail "no trailer $t: $(git -C "$T/repo" log -1 --format=%B "$c")"
done
wait_until 30 sh -c "swarmctl show $a --json | grep -q claude-commit" || fail "show lists no commit"
out=$(swarmctl blame "${c:0:10}" --json) || fail blame
assert_eq "$(echo "$out" | json 'j[0]["agent"]+" "+j[0]["chunk"]+" "+str(j[0]["attempt"])')" "$a c0 1" "blame"
ok
