#!/bin/bash
# The claude-code preset: a 3-chunk job of the real Claude Code CLI whose
# command names no output format, settings or tool permission.  swarmd
# adds them: each agent runs a scripted Bash tool (swarmctl heartbeat,
# allowed by the preset's permission alone), its hooks fire (heartbeats
# naming the tool in show), and a swarmctl send while the agent works
# reaches the model: the text is in the next request the fake receives
# from that agent.  Each Stop without mail records done with the
# agent's last message as the summary.
. "$(dirname "$0")/claude-lib.sh"
start_daemon

tasks='["fake:tool Bash {\"command\": \"swarmctl heartbeat --note ran-c0\", \"description\": \"beat\"}",
        "fake:tool Bash {\"command\": \"swarmctl heartbeat --note ran-c1\", \"description\": \"beat\"}",
        "fake:tool Bash {\"command\": \"swarmctl heartbeat --note ran-c2\", \"description\": \"beat\"}"]'
# Each agent's first request waits at the fake until the mail is in.
hold 3
job=$(swarmctl submit "$(claude_job preset "$tasks" '{"env": {"PER_CHUNK_HOME": "1"}}')") ||
	fail "submit"
wait_until 120 held_is 3 || { dump_logs; fail "the agents' first requests did not arrive"; }
for c in c0 c1 c2; do
	a=$(agent_of "$job/$c")
	case $a in agent-[0-9]*) ;; *) fail "$c: no agent: $a" ;; esac
	swarmctl send "$a" "MAIL-FOR-$c please note" >/dev/null || fail "send to $a"
	# What the preset wrote, kept beside the log.
	s="$STATE/logs/$a.settings.json"
	[ -f "$s" ] || fail "$c: no settings file $s"
	python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
assert "Bash(swarmctl:*)" in s["permissions"]["allow"], s
for ev in ("PostToolUse", "Stop", "PreCompact", "SessionStart", "StopFailure", "SubagentStart", "SubagentStop"):
    cmd = s["hooks"][ev][-1]["hooks"][0]["command"]
    assert cmd == "swarmctl hook claude-code " + ev, (ev, cmd)
assert s["hooks"]["SessionStart"][-1]["matcher"] == "compact", s' "$s" ||
		fail "$c: settings: $(cat "$s")"
	argv=$(tr '\0' ' ' <"/proc/$(agent_pid "$a")/cmdline")
	case $argv in
	*"--output-format stream-json --verbose --settings $s"*) ;;
	*) fail "$c: argv without the preset's flags: $argv" ;;
	esac
done
release
wait_until 150 job_is "$job" done || { dump_logs; fail "job did not finish: $(job_state "$job")"; }
assert_eq "$(count "$job" done)" 3 "chunks done"

requests >"$T/requests.json"
for c in c0 c1 c2; do
	a=$(agent_of "$job/$c")
	# The tool ran (its own heartbeat), and the hook saw it.
	n=$(notes "$a")
	grep -qx "ran-$c" <<<"$n" || fail "$c: the tool did not run: $n"
	grep -qx "tool: Bash" <<<"$n" || fail "$c: no PostToolUse heartbeat: $n"
	# The mail reached the model in the request after the tool, its own.
	python3 -c 'import json, sys
rs = [r for r in json.load(open(sys.argv[1]))["requests"] if r["key"] == "key-" + sys.argv[2]]
mail = ["MAIL-FOR-%s please note" % sys.argv[2] in json.dumps(r["body"]) for r in rs]
assert len(rs) >= 2 and mail[0] is False and mail[1] is True, mail
others = [c for c in ("c0", "c1", "c2") if c != sys.argv[2]]
assert not any("MAIL-FOR-" + o in json.dumps(r["body"]) for r in rs for o in others)' \
		"$T/requests.json" "$c" || fail "$c: the mail did not reach the model as it should"
	# Metered from the stream-json the preset asked for.
	[ "$(swarmctl show "$a" --json | json 'j["usage"]["output"]')" -gt 0 ] ||
		fail "$c: nothing metered"
done
# Done by the Stop hook, with the last message as its summary.
assert_eq "$(event_data "$job" subagent_completed | jsonl '[j["chunk_id"], j.get("via"), j.get("summary")]' | sort | tr '\n' ' ')" \
	'["c0", "done", "Done: the tool returned its result."] ["c1", "done", "Done: the tool returned its result."] ["c2", "done", "Done: the tool returned its result."] ' \
	"done by the Stop hook"
ok
