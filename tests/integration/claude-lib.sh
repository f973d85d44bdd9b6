# claude-lib.sh: for the tests of the claude-code preset (65 to 69),
# which run the real Claude Code CLI under swarmd against the fake
# upstream.  Skips (77) when claude is not installed, fails instead with
# SWARM_REQUIRE_CLIENTS=1 (CI).  Sources lib.sh and starts the fake (UP).
CLAUDE=${CLAUDE:-$(command -v claude || true)}
if [ -z "$CLAUDE" ] || [ ! -x "$CLAUDE" ]; then
	if [ "${SWARM_REQUIRE_CLIENTS:-0}" = 1 ]; then
		echo "FAIL: claude is not installed; SWARM_REQUIRE_CLIENTS=1 (CI) needs it"
		exit 1
	fi
	echo "SKIP: claude is not installed (tools/deps.sh: swarm_claude)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"
start_fake

# The agent's command: claude with the chunk's own API key, so the fake
# tells the chunks' requests apart; with PER_CHUNK_HOME=1 in the job's
# env, the chunk's own HOME too (agents at once must not share one).
cat >"$T/claude" <<A
#!/bin/sh
if [ "\${PER_CHUNK_HOME:-}" = 1 ]; then
	HOME="\$HOME/\$SWARM_CHUNK"
	mkdir -p "\$HOME"
	export HOME
fi
ANTHROPIC_API_KEY="key-\$SWARM_CHUNK" exec "$CLAUDE" "\$@"
A
chmod +x "$T/claude"
mkdir -p "$T/home" "$T/work"

# claude_job NAME TASKS_JSON [EXTRA_JSON]: a preset job file, $T/NAME.json.
claude_job() {
	python3 - "$T" "$UP" "$@" >"$T/$1.json" <<'PY'
import json, sys
t, up, name, tasks = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
job = {"name": name, "agent": "claude-code", "workdir": t + "/work",
       "command": [t + "/claude", "-p", "{task}"],
       "env": {"HOME": t + "/home", "ANTHROPIC_BASE_URL": up,
               "DISABLE_TELEMETRY": "1",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
       "chunks": [{"id": "c%d" % i, "task": task} for i, task in enumerate(tasks)]}
if len(sys.argv) > 5:
    extra = json.loads(sys.argv[5])
    job["env"].update(extra.pop("env", {}))
    job.update(extra)
print(json.dumps(job))
PY
	echo "$T/$1.json"
}

# hold N: the fake holds the next N message requests until release.
hold() {
	curl -sS -X POST -d '{"slow_first_byte": {"delay_ms": 600000, "count": '"$1"'}}' \
		"$UP/_fake/faults" >/dev/null || fail "cannot set the hold"
}
held_is() { [ "$(curl -sS "$UP/_fake/stats" | json 'j["streams"]["held"]')" = "$1" ]; }
release() { curl -sS -X POST "$UP/_fake/release" >/dev/null || fail "no release"; }
# requests: what the fake received, {"requests": [{"key", "body"}]}.
requests() { curl -sS "$UP/_fake/requests"; }
agent_of() { swarmctl show "$1" --json | json 'j["agent"]'; }
# agent_pid AGENT: its pid while it runs.
agent_pid() { swarmctl show "$1" --json | json 'j["pid"]'; }
# notes AGENT: its heartbeat notes, one a line.
notes() { swarmctl show "$1" --json | json '"\n".join(h["note"] or "" for h in j["heartbeats"])'; }
# event_data JOB EVENT: the data of JOB's events named EVENT, one a line.
event_data() {
	swarmctl events --job "$1" --json | jsonl 'j if j["event"] == "'"$2"'" else ""' | grep -v '^$'
}
dump_logs() {
	local a
	for a in "$STATE"/logs/agent-*.log; do
		echo "--- $a" >&2
		tail -c 1500 "$a" >&2
	done
}
