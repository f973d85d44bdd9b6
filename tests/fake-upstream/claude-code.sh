#!/bin/bash
# The real Claude Code CLI against the fake: a plain turn and a tool turn
# (it runs Bash and sends the result back) complete, headless, with
# stream-json output.  Skips (77) when no claude is installed, fails
# instead with SWARM_REQUIRE_CLIENTS=1 (CI); set CLAUDE to its path, or
# have it on PATH (npm install -g @anthropic-ai/claude-code).
# Environment: FAKE_UPSTREAM.
CLAUDE=${CLAUDE:-$(command -v claude || true)}
if [ -z "$CLAUDE" ] || [ ! -x "$CLAUDE" ]; then
	if [ "${SWARM_REQUIRE_CLIENTS:-0}" = 1 ]; then
		echo "FAIL: claude is not installed; SWARM_REQUIRE_CLIENTS=1 (CI) needs it"
		exit 1
	fi
	echo "SKIP: claude is not installed (npm install -g @anthropic-ai/claude-code)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"
fake_start -v
mkdir -p "$T/home" "$T/wd"
cd "$T/wd" || fail "no workdir"

# claude_run OUT PROMPT [ARGS...]: one headless session.
claude_run() {
	local out=$1 prompt=$2
	shift 2
	HOME="$T/home" ANTHROPIC_BASE_URL="$URL" ANTHROPIC_API_KEY=test-key \
		DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		timeout 180 "$CLAUDE" -p "$prompt" --output-format stream-json \
		--verbose "$@" >"$T/$out" 2>"$T/$out.err" ||
		fail "claude exited $?: $(tail -c 2000 "$T/$out.err")"
}

# result FILE: the final result line's subtype and text.
result() {
	python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
print(r["type"], r["subtype"], r["result"])' "$1"
}

claude_run hi.jsonl "say hi"
[ "$(result "$T/hi.jsonl")" = "result success Hello! You said: say hi" ] ||
	fail "plain turn: $(result "$T/hi.jsonl")"

claude_run tool.jsonl 'fake:tool Bash {"command":"echo from-tool > marker.txt","description":"write a marker"}' \
	--allowedTools Bash
[ "$(result "$T/tool.jsonl")" = "result success Done: the tool returned its result." ] ||
	fail "tool turn: $(result "$T/tool.jsonl")"
[ "$(cat "$T/wd/marker.txt" 2>/dev/null)" = from-tool ] || fail "the tool did not run"

# What it asked for: the messages endpoint with the beta flag and a
# version header, and a HEAD of the base URL; nothing else.
grep -q '^POST /v1/messages?beta=true anthropic-version=2023-06-01 anthropic-beta=' "$T/stderr" ||
	fail "no beta messages request: $(head -c 1000 "$T/stderr")"
other=$(grep -v -e '^POST /v1/messages?beta=true ' -e '^OTHER /$' "$T/stderr")
[ -z "$other" ] || fail "unexpected requests: $other"
stats=$(curl -sS "$URL/_fake/stats")
python3 -c 'import json, sys
s = json.loads(sys.argv[1])
assert s["messages"] >= 3, s
assert s["streams"]["completed"] == s["messages"], s
assert s["tokens"]["cache_read_input"] > 0, s' "$stats" || fail "stats: $stats"

kill -TERM "$PID"
wait_until 10 sh -c "! kill -0 $PID" || fail "still running after SIGTERM"
wait "$PID"
rc=$?
PID=""
[ $rc = 0 ] || fail "exit status $rc"
echo "ok: claude-code.sh"
