#!/bin/bash
# A compaction by the real Claude Code CLI, with the preset's hooks:
# PreCompact checkpoints the transcript's path, and SessionStart with
# source compact gives the chunk's task and the agent's latest own
# checkpoint note back, so the mandate survives: the first request
# after the compaction carries them to the model.
#
# The compaction is a manual one (/compact), one of three user turns
# fed as stream-json on the CLI's stdin: the task, /compact, one more.  An automatic one could not be had against the fake: with
# CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=1 (compact past 1% of the window) and
# 19k tokens of context, CLI 2.1 did not compact in -p mode, at a tool
# turn nor at the start of a resumed turn: its auto-compaction sits
# behind a server-side feature gate (precompute) the fake cannot open.
# The hooks are the same for both triggers; only "trigger" differs.
. "$(dirname "$0")/claude-lib.sh"
start_daemon

# The task, then /compact, then one more turn, as stream-json input,
# each sent when the turn before has its result (queued together, the
# CLI would take the last turn for /compact's instructions).  The
# CLI's output passes on to swarmd's meter line by line.
cat >"$T/claude-compact" <<A
#!/usr/bin/env python3
import json, subprocess, sys
turns = [sys.argv[1], "/compact", "after the compaction"]
cli = subprocess.Popen(["$T/claude", "-p", "--input-format", "stream-json"] + sys.argv[2:],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def send():
    text = turns.pop(0)
    cli.stdin.write(json.dumps({"type": "user", "message": {"role": "user", "content": text}}) + "\\n")
    cli.stdin.flush()
send()
for line in cli.stdout:
    sys.stdout.write(line)
    sys.stdout.flush()
    if line.startswith('{"type":"result"'):
        if turns:
            send()
        else:
            cli.stdin.close()
sys.exit(cli.wait())
A
chmod +x "$T/claude-compact"
task='fake:tool Bash {"command": "swarmctl checkpoint --note \"my own note\"", "description": "note"}'
tasks=$(python3 -c 'import json,sys; print(json.dumps([sys.argv[1]]))' "$task")
job=$(swarmctl submit "$(claude_job compact "$tasks" \
	'{"command": ["'"$T"'/claude-compact", "{task}"]}')") || fail "submit"
a=$(agent_of "$job/c0")
agent_exited() { [ "$(swarmctl show "$1" --json | json 'j["state"]')" = exited ]; }
wait_until 120 agent_exited "$a" || { dump_logs; fail "$a did not end"; }
assert_eq "$(job_state "$job")" done "the job"
grep -q '"compact_boundary"' "$STATE/logs/$a.log" || { dump_logs; fail "no compaction"; }

sid=$(event_data "$job" session_started | jsonl 'j["session_id"]' | head -n 1)
notes=$(swarmctl show "$job/c0" --json | json '[c["note"] for c in j["checkpoints"]]')
assert_eq "$(json 'j[0]' <<<"$notes")" "my own note" "the agent's own checkpoint"
path=$(json 'j[1]' <<<"$notes")
assert_eq "${path%% /*}" "claude-code compaction (manual): transcript" "PreCompact's checkpoint"
path="/${path#* /}"
assert_eq "$(basename "$path")" "$sid.jsonl" "the transcript named"
[ -f "$path" ] || fail "no transcript at $path"
# The request after the compaction: the mandate, given back.
want=$(printf 'Your task, from swarmd (unchanged by the compaction):\n%s\n\nYour latest checkpoint note: my own note' "$task")
requests | python3 -c 'import json, sys
want = sys.argv[1]
rs = [r["body"] for r in json.load(sys.stdin)["requests"]]
last = json.dumps(rs[-1]["messages"])
assert "after the compaction" in last, "not the last turn"
assert json.dumps(want)[1:-1] in last, "the mandate is not in it"
assert not any(json.dumps(want)[1:-1] in json.dumps(r["messages"]) for r in rs[:-1]), "given before the compaction"' "$want" ||
	fail "the request after the compaction did not carry the task and the note"
ok
