#!/bin/bash
# Session continuity: an attempt killed mid-turn (a transient failure)
# is retried in the same Claude Code session.  The first attempt runs a
# tool and is killed while its next request waits at the fake; the
# second attempt's first request carries the first attempt's
# conversation (its tool call, by id), the events say it resumed which
# session, and the tokens are metered once (the agents' sum is what the
# fake served).  A job with "session_resume": false starts afresh.
. "$(dirname "$0")/claude-lib.sh"
# Through the proxy, which sees every request, so that a killed attempt
# is metered whole too.
printf '[retries]\nbackoff = 0\n[proxy]\nlisten = 127.0.0.1:0\nupstream = %s\n' "$UP" >>"$CONF"
start_daemon

task='fake:tool Bash {"command": "swarmctl heartbeat --note ran", "description": "beat"}'
# run_killed NAME [EXTRA]: submit; the first attempt is killed after its
# tool, while its second request is held; prints the job id.
run_killed() {
	local job a
	# Nothing of an earlier run may still be held at the fake.
	release
	wait_until 10 held_is 0 || fail "$1: the fake still holds a request"
	hold 2
	job=$(swarmctl submit "$(claude_job "$1" "[$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$task")]" "${2:-{\}}")") ||
		fail "submit $1"
	wait_until 120 held_is 1 || { dump_logs; fail "$1: no first request"; }
	release
	a=$(agent_of "$job/c0")
	wait_until 120 sh -c "swarmctl show $a --json | grep -q 'tool: Bash'" ||
		{ dump_logs; fail "$1: the tool's hook did not run"; }
	wait_until 60 held_is 1 || { dump_logs; fail "$1: no second request"; }
	kill -KILL -- "-$(agent_pid "$a")" || fail "$1: cannot kill $a"
	wait_until 60 sh -c "[ \"\$(swarmctl show $job/c0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"attempts\"])')\" = 2 ]" ||
		fail "$1: no second attempt"
	echo "$job"
}

job=$(run_killed resume)
wait_until 150 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
first=$(swarmctl show "$job/c0" --json | json '[a["agent"] for a in j["agents"]]')
a1=$(json 'j[0]' <<<"$first")
a2=$(json 'j[1]' <<<"$first")
sid=$(event_data "$job" session_started | jsonl 'j["session_id"] if j["agent"] == "'"$a1"'" else ""' | grep -v '^$' | head -n 1)
[ -n "$sid" ] || fail "no session recorded for $a1"
assert_eq "$(event_data "$job" session_resumed | jsonl '[j["agent"], j["session_id"], j["from_agent"]]')" \
	"[\"$a2\", \"$sid\", ${a1#agent-}]" "the second attempt resumed the first's session"
# The first attempt's tool call, by its id, is in the second's first request.
requests | python3 -c 'import json, sys
rs = [r["body"] for r in json.load(sys.stdin)["requests"]]
# 1: attempt 1 asks (tool_use); 2: its tool result, held and killed;
# 3: the second attempt begins.
assert len(rs) >= 3, len(rs)
ids = [b["id"] for m in rs[1]["messages"] if isinstance(m["content"], list)
       for b in m["content"] if b.get("type") == "tool_use"]
assert ids, "no tool call in attempt 1"
assert ids[0] in json.dumps(rs[2]["messages"]), "attempt 2 did not carry it"' ||
	fail "the second attempt did not carry the first's conversation"
# Metered once: the agents together, what the fake told its clients.
sum=$(for a in $a1 $a2; do swarmctl show "$a" --json | json '[j["usage"][k] for k in ("input","output","cache_creation","cache_read")]'; done |
	python3 -c 'import json, sys; print(json.dumps([sum(x) for x in zip(*map(json.loads, sys.stdin))]))')
assert_eq "$sum" "$(curl -sS "$UP/_fake/stats" | json '[j["tokens"][k] for k in ("input","output","cache_creation_input","cache_read_input")]')" \
	"metered once"

# The per-job switch: no resume, and the events say why.
job=$(run_killed fresh '{"session_resume": false}')
wait_until 150 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
assert_eq "$(event_data "$job" session_resumed)" "" "session_resume false resumed"
assert_eq "$(event_data "$job" session_fresh | jsonl 'j["reason"]')" \
	"the job's session_resume is false" "why it started fresh"
ok
