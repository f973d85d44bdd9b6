#!/bin/bash
# The quota meter counts stream-json usage to the token (each API message
# once, the result settling the totals), agents' own reports, and shows
# them in quota and show agent.
. "$(dirname "$0")/lib.sh"
DATA="$(cd "$(dirname "$0")/../data" && pwd)"
cat >>"$CONF" <<'C'
[quota]
window = 1h
window_tokens = 1000000
[prices]
claude-sonnet-4-5-20250929 = 3, 15, 3.75, 0.30
C
start_daemon
cat >"$T/job.json" <<J
{"name": "meter", "command": ["$AGENTS/stream-agent", "$DATA/{task}"],
 "chunks": [{"id": "two", "task": "stream-two-messages.jsonl"},
            {"id": "settle", "task": "stream-settle.jsonl"}]}
J
job=$(swarmctl submit "$T/job.json")
wait_until 20 job_is "$job" done || fail "job did not finish"
usage() { swarmctl show "$(swarmctl show "$job/$1" --json | json 'j["agent"]')" --json | json 'j["usage"]'; }
assert_eq "$(usage two | json '[j[k] for k in ("input","output","cache_creation","cache_read")]')" \
	"[13, 170, 1200, 5000]" "two messages, counted once each"
assert_eq "$(usage two | json 'j["records"]')" 2 "two records for two messages"
# 13*3 + 170*15 + 1200*3.75 + 5000*0.30 per million
assert_eq "$(usage two | json 'round(j["usd"], 6)')" 0.008589 "priced"
assert_eq "$(usage settle | json '[j[k] for k in ("input","output","cache_creation","cache_read")]')" \
	"[25, 60, 0, 0]" "the result line settles the totals"
# An agent's own report.
f=$(job_file rep '["sh","-c","swarmctl report --input 100 --output 50 --cache-read 7 --model m1"]' 1)
job2=$(swarmctl submit "$f")
wait_until 20 job_is "$job2" done || fail "report job"
assert_eq "$(swarmctl show agent-3 --json | json '[j["usage"][k] for k in ("input","output","cache_read")]')" \
	"[100, 50, 7]" "report"
# The window counts input, output and cache writes: 1383 + 85 + 150.
q=$(swarmctl quota --json)
assert_eq "$(echo "$q" | json '[(w["name"], w["used"], w["limit"]) for w in j["windows"]]')" \
	'[["window", 1618.0, 1000000.0]]' "window use"
assert_eq "$(echo "$q" | json 'j["spawn"]["state"]')" open
assert_eq "$(echo "$q" | json 'j["top"][0]["agent"]')" "$(swarmctl show "$job/two" --json | json 'j["agent"]')" "top consumer"
assert_eq "$(echo "$q" | json 'sorted(j["subscription"])')" '["five_hour", "seven_day"]' "subscription windows"
swarmctl quota | grep -q "^window" || fail "quota table"
swarmctl events --json | grep -q '"rate_limit_event"' || fail "rate_limit_event recorded"
# Bad reports change nothing.
f=$(job_file bad '["sh","-c","swarmctl report --input -5; echo rc=$? >'"$T"'/rc; swarmctl report --input lots; echo rc=$? >>'"$T"'/rc"]' 1)
job3=$(swarmctl submit "$f")
wait_until 20 job_is "$job3" done || fail "bad report job"
assert_eq "$(cat "$T/rc" | tr '\n' ' ')" "rc=2 rc=2 " "bad report arguments"
assert_eq "$(swarmctl quota --json | json 'j["windows"][0]["used"]')" 1618.0 "nothing counted"
# A restart forgets nothing spent.
stop_daemon || fail stop
start_daemon
assert_eq "$(swarmctl quota --json | json 'j["windows"][0]["used"]')" 1618.0 "window after restart"
ok
