#!/bin/bash
# An overloaded API (529) past the real Claude Code CLI's own retries:
# the agent fails transiently (StopFailure server_error, reported by the
# hook) and its retry resumes the session.  The second attempt's first
# request carries the first attempt's conversation (its tool call, by
# id), and the tokens are metered once.
#
# The path matters.  With swarmd's proxy on, a 529 that fits in [proxy]
# max_hold never reaches the CLI: the proxy waits and sends the request
# again, and the agent sees one slow answer.  So the first part runs
# without the proxy, the CLI straight at the fake, where the 529s are
# the CLI's to retry (CLAUDE_CODE_MAX_RETRIES=1 keeps that short: one
# retry, then StopFailure); the second part turns the proxy on and shows
# the same burst absorbed: the CLI retries nothing, one attempt, done.
. "$(dirname "$0")/claude-lib.sh"
printf '[retries]\nbackoff = 0\n' >>"$CONF"
start_daemon

faults() { curl -sS -X POST -d "$1" "$UP/_fake/faults" >/dev/null || fail "faults"; }
task='fake:tool Bash {"command": "swarmctl heartbeat --note ran", "description": "beat"}'
tasks=$(python3 -c 'import json,sys; print(json.dumps([sys.argv[1]]))' "$task")
env='{"env": {"CLAUDE_CODE_MAX_RETRIES": "1"}}'
# retries AGENT: the API retries the CLI made, from its stream-json.
retries() {
	jsonl '"x" if j.get("subtype") == "api_retry" and j.get("error_status") == 529 else ""' \
		<"$STATE/logs/$1.log" | grep -c x
}

# The first request (the tool call) passes; the tool result's request
# and the CLI's one retry of it are answered 529.
faults '{"fail": {"status": 529, "skip": 1, "count": 2}}'
job=$(swarmctl submit "$(claude_job overloaded "$tasks" "$env")") || fail "submit"
wait_until 120 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
agents=$(swarmctl show "$job/c0" --json | json '[a["agent"] for a in j["agents"]]')
a1=$(json 'j[0]' <<<"$agents")
a2=$(json 'j[1]' <<<"$agents")
assert_eq "$(json 'len(j)' <<<"$agents")" 2 "attempts"
assert_eq "$(retries "$a1")" 1 "529s the CLI retried"
assert_eq "$(curl -sS "$UP/_fake/stats" | json 'j["status"]["529"]')" 2 "529s the fake sent"
assert_eq "$(event_data "$job" failure_reported | jsonl '[j["agent"], j["class"], j["reason"]]')" \
	"[\"$a1\", \"transient\", \"claude-code: server_error\"]" "the hook's report"
sid=$(event_data "$job" session_started | jsonl 'j["session_id"] if j["agent"] == "'"$a1"'" else ""' | grep -v '^$' | head -n 1)
[ -n "$sid" ] || fail "no session recorded for $a1"
assert_eq "$(event_data "$job" session_resumed | jsonl '[j["agent"], j["session_id"], j["from_agent"]]')" \
	"[\"$a2\", \"$sid\", ${a1#agent-}]" "the second attempt resumed the first's session"
# The fake records every request, the refused too: 0 asks (tool_use),
# 1 and 2 are the tool result refused, 3 is the second attempt's first.
requests | python3 -c 'import json, sys
rs = [r["body"] for r in json.load(sys.stdin)["requests"]]
assert len(rs) >= 4, len(rs)
ids = [b["id"] for m in rs[1]["messages"] if isinstance(m["content"], list)
       for b in m["content"] if b.get("type") == "tool_use"]
assert ids, "no tool call in attempt 1"
assert ids[0] in json.dumps(rs[3]["messages"]), "attempt 2 did not carry it"' ||
	fail "the second attempt did not carry the first's conversation"
# Metered once: the agents together, what the fake told its clients.
sum=$(for a in $a1 $a2; do swarmctl show "$a" --json | json '[j["usage"][k] for k in ("input","output","cache_creation","cache_read")]'; done |
	python3 -c 'import json, sys; print(json.dumps([sum(x) for x in zip(*map(json.loads, sys.stdin))]))')
assert_eq "$sum" "$(curl -sS "$UP/_fake/stats" | json '[j["tokens"][k] for k in ("input","output","cache_creation_input","cache_read_input")]')" \
	"metered once"

# The proxy on: the same burst is absorbed before the CLI sees it.
stop_daemon || fail "stop"
printf '[proxy]\nlisten = 127.0.0.1:0\nupstream = %s\n' "$UP" >>"$CONF"
start_daemon
faults '{"fail": {"status": 529, "skip": 1, "count": 2}}'
job=$(swarmctl submit "$(claude_job proxied "$tasks" "$env")") || fail "submit"
wait_until 120 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
a=$(agent_of "$job/c0")
assert_eq "$(swarmctl show "$job/c0" --json | json 'len(j["agents"])')" 1 "attempts through the proxy"
assert_eq "$(retries "$a")" 0 "529s the CLI saw through the proxy"
assert_eq "$(swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]["absorbed_429"]')" 2 "529s the proxy absorbed"
assert_eq "$(curl -sS "$UP/_fake/stats" | json 'j["status"]["529"]')" 4 "529s the fake sent in all"
ok
