#!/bin/bash
# A job of three real Claude Code CLI agents under swarmd, through the
# metering proxy, to the fake upstream.  Each chunk's agent has its own
# API key, so the fake can say what it served to each: every agent is
# metered exactly that, the agents together exactly what the fake served
# in all (nothing twice, nothing lost), and every agent ends with its
# result.  Skips (77) when claude is not installed, fails
# instead with SWARM_REQUIRE_CLIENTS=1 (CI).
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
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
C
start_daemon

# The agent: claude with the chunk's own key and home (claude keeps its
# state there; three at once must not share it).  swarmd sets
# ANTHROPIC_BASE_URL to its proxy.
cat >"$T/agent" <<A
#!/bin/sh
mkdir -p "$T/home-\$SWARM_CHUNK"
HOME="$T/home-\$SWARM_CHUNK" ANTHROPIC_API_KEY="key-\$SWARM_CHUNK" \\
	exec "$CLAUDE" -p "\$1" --output-format stream-json --verbose \\
	--allowedTools Bash
A
chmod +x "$T/agent"
# Plain turns of different sizes, and a tool turn (two requests, the
# second reading the first's prompt cache).
python3 - "$T" >"$T/job.json" <<'PY'
import json, sys
t = sys.argv[1]
tool = 'fake:tool Bash {"command": "echo from-c2 > %s/marker", "description": "mark"}' % t
print(json.dumps({
    "name": "claude-swarm",
    "command": [t + "/agent", "{task}"],
    "env": {"DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
    "chunks": [{"id": "c0", "task": "fake:tokens 20 first"},
               {"id": "c1", "task": "fake:tokens 45 second"},
               {"id": "c2", "task": tool}]}))
PY
job=$(swarmctl submit "$T/job.json") || fail "submit"
agent_of() { swarmctl show "$1" --json | json 'j["agent"]'; }
wait_until 150 job_is "$job" done || {
	for c in c0 c1 c2; do
		a=$(agent_of "$job/$c")
		echo "--- $c ($(chunk_state "$job/$c")), $a:" >&2
		tail -c 1500 "$STATE/logs/$a.log" >&2
	done
	fail "job did not finish: $(job_state "$job")"
}
assert_eq "$(count "$job" done)" 3 "chunks done"
assert_eq "$(cat "$T/marker" 2>/dev/null)" from-c2 "the tool ran"

stats=$(curl -sS "$UP/_fake/stats") || fail "no stats"
echo "$stats" >"$T/stats.json"
served() { # served KEY: what the fake told that key's clients
	json '[j["by_key"]["'"$1"'"]["tokens"][k] for k in ("input","output","cache_creation_input","cache_read_input")]' <"$T/stats.json"
}
usage_of() {
	swarmctl show "$1" --json | json '[j["usage"][k] for k in ("input","output","cache_creation","cache_read")]'
}
assert_eq "$(json 'sorted(j["by_key"])' <"$T/stats.json")" '["key-c0", "key-c1", "key-c2"]' "keys served"
sum="[0, 0, 0, 0]"
for c in c0 c1 c2; do
	a=$(agent_of "$job/$c")
	case $a in agent-[0-9]*) ;; *) fail "$c: no agent: $a" ;; esac
	u=$(usage_of "$a")
	s=$(served "key-$c")
	assert_eq "$u" "$s" "$c ($a) metered what the fake served its key"
	[ "$(json 'j[1]' <<<"$s")" -gt 0 ] || fail "$c: no output served: $s"
	[ "$(swarmctl show "$a" --json | json 'j["usage"]["records"]')" -ge 1 ] ||
		fail "$c: no usage records"
	# Its own result: filler for c0 and c1, the tool's answer for c2.
	python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
r = [l for l in lines if l.get("type") == "result"]
assert r and r[-1]["subtype"] == "success", r
want = "Done: the tool" if sys.argv[2] == "c2" else "lorem ipsum"
assert r[-1]["result"].startswith(want), r[-1]' "$STATE/logs/$a.log" "$c" ||
		fail "$c: no result line of its own: $(tail -c 1000 "$STATE/logs/$a.log")"
	sum=$(python3 -c 'import json, sys; print(json.dumps([a + b for a, b in zip(*map(json.loads, sys.argv[1:]))]))' "$sum" "$u")
done
# Each key's output is its own: the sizes asked for tell them apart.
[ "$(json 'j[1]' <<<"$(served key-c1)")" -gt "$(json 'j[1]' <<<"$(served key-c0)")" ] ||
	fail "outputs not told apart: $(served key-c0) $(served key-c1)"
assert_eq "$sum" "$(json '[j["tokens"][k] for k in ("input","output","cache_creation_input","cache_read_input")]' <"$T/stats.json")" \
	"agents together metered what the fake served in all"
[ "$(json 'j[3]' <<<"$(served key-c2)")" -gt 0 ] || fail "the tool turn read no cache"
assert_eq "$(json 'j["streams"]["in_flight"]' <"$T/stats.json")" 0 "streams in flight"
ok
