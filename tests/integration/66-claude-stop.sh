#!/bin/bash
# The Stop hook and the preset's merge with a job's own flags.  Mail
# waiting when the agent would stop continues the conversation (the
# model gets it as the Stop hook's reason and answers it); the next
# Stop, with no mail, records done with that answer as the summary.
# The job gives its own --output-format and --settings: the preset adds
# no second format, and the attempt's settings file holds the job's
# settings with the hooks and the permission beside them.
. "$(dirname "$0")/claude-lib.sh"
start_daemon

cat >"$T/work/own.json" <<'J'
{"permissions": {"allow": ["Bash(true:*)"]}, "env": {"OWN_SETTING": "kept"},
 "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "true"}]}]}}
J
python3 - "$(claude_job stop '["say hi"]')" <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["command"] += ["--output-format", "stream-json", "--settings", "own.json"]
json.dump(j, open(p, "w"))
PY
hold 1
job=$(swarmctl submit "$T/stop.json") || fail "submit"
wait_until 120 held_is 1 || { dump_logs; fail "the first request did not arrive"; }
a=$(agent_of "$job/c0")
argv=$(tr '\0' '\n' <"/proc/$(agent_pid "$a")/cmdline")
s="$STATE/logs/$a.settings.json"
assert_eq "$(grep -c -x -- --output-format <<<"$argv")" 1 "--output-format once"
assert_eq "$(grep -x -A1 -- --settings <<<"$argv" | tail -n 1)" "$s" "--settings is the attempt's file"
python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
assert s["permissions"]["allow"] == ["Bash(true:*)", "Bash(swarmctl:*)"], s
assert s["env"] == {"OWN_SETTING": "kept"}, s
stop = [h["hooks"][0]["command"] for h in s["hooks"]["Stop"]]
assert stop == ["true", "swarmctl hook claude-code Stop"], stop' "$s" ||
	fail "the job's settings were not merged: $(cat "$s")"
swarmctl send "$a" "MAIL-AT-STOP read me" >/dev/null || fail "send"
release
wait_until 150 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }

# The mail went to the model after the first answer, as the Stop hook's
# reason, and the agent answered it before it stopped.
requests | python3 -c 'import json, sys
rs = json.load(sys.stdin)["requests"]
assert len(rs) == 2, len(rs)
assert "MAIL-AT-STOP" not in json.dumps(rs[0]["body"])
last = rs[1]["body"]["messages"][-1]
assert "MAIL-AT-STOP read me" in json.dumps(last), last' ||
	fail "the mail did not continue the conversation: $(requests | head -c 2000)"
summary=$(event_data "$job" subagent_completed | jsonl 'j.get("via", "") + " " + j.get("summary", "")')
case $summary in
"done Hello! You said: Stop hook feedback: Message from operator: MAIL-AT-STOP read me") ;;
*) fail "not done by the second Stop with the answer as its summary: $summary" ;;
esac
ok
