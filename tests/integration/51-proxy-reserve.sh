#!/bin/bash
# Caps hold under concurrency: the proxy holds each request's most (its
# input and all the output it asks for) against the agent's token cap
# and the account's rolling window before it leaves, and settles to what
# was used when the answer is in.  Ten requests sent at once by an agent
# with a 10,000-token cap, each asking for 2,000 tokens of output: the
# cap is overrun by one request's estimate at most, the rest are refused
# 403 naming the cap without reaching upstream.  The same for a window
# of 6,000 tokens: what does not fit waits and is answered 429.
. "$(dirname "$0")/lib.sh"
# Every answer takes 1.5 s, so the ten are in flight together.
cat >"$T/fake.json" <<'J'
{"cache": false, "faults": {"slow_first_byte": {"delay_ms": 1500, "count": -1}}}
J
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
max_hold = 3s
C
start_daemon
stats() { curl -sS "$UP/_fake/stats"; }
requests() { stats | json 'j["requests"]'; }
BODY='{"model":"claude-sonnet-4-5","max_tokens":2000,"messages":[{"role":"user","content":"fake:tokens 2000 go"}]}'
# volley NAME URL: ten requests at once; the statuses, sorted, one a line.
volley() {
	local i pids=""
	for i in $(seq 10); do
		curl -sS -o "$T/$1.$i" -w '%{http_code}\n' -H "x-api-key: test" \
			-H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
			--data-binary "$BODY" "$2/v1/messages" >"$T/$1.code.$i" &
		pids="$pids $!"
	done
	wait $pids
	cat "$T/$1".code.* | sort
}
agent_of() { swarmctl show "$1" --json | json 'j["agent"]'; }
spent() { swarmctl show "$1" --json | json 'j["usage"]["input"] + j["usage"]["output"]'; }
start_agent() { # NAME EXTRA: one idle agent whose base URL lands in $T/url.NAME
	local f
	f=$(job_file "$1" '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.'"$1"'; exec sleep 600"]' 1 "$2")
	swarmctl submit "$f"
	wait_until 20 test -s "$T/url.$1" || fail "agent $1 did not start"
}

# The per-agent cap.
job=$(start_agent capped '{"per_agent_tokens": 10000}')
AGENT=$(agent_of "$job/c0")
n=$(requests)
codes=$(volley cap "$(cat "$T/url.capped")")
ok_n=$(echo "$codes" | grep -c '^200$')
no_n=$(echo "$codes" | grep -c '^403$')
assert_eq "$((ok_n + no_n))" 10 "every request answered 200 or 403: $codes"
[ "$no_n" -ge 1 ] || fail "no request was refused: $codes"
assert_eq "$(( $(requests) - n ))" "$ok_n" "only the served reached upstream"
used=$(spent "$AGENT")
# One request uses about 2,010 tokens and holds about 2,050.
[ "$used" -le $((10000 + 2100)) ] || fail "the cap was overrun: $used tokens for $ok_n requests"
for i in $(seq 10); do
	[ "$(cat "$T/cap.code.$i")" = 403 ] || continue
	assert_contains "$(json 'j["error"]["message"]' <"$T/cap.$i")" "10000-token cap" "403 names the cap"
done

# The account's rolling window, for an agent with no cap of its own.
# A daemon of its own: the first part's usage is not in its window.
stop_daemon
STATE="$T/state2"
cat >>"$CONF" <<C
[quota]
window = 1h
window_tokens = 1000000
C
start_daemon
# Its cap (60,000) is far above the window, lowered once it runs.
job=$(start_agent free '{"per_agent_tokens": 60000, "concurrency": 1}')
AGENT=$(agent_of "$job/c0")
sed -i 's/^window_tokens = 1000000$/window_tokens = 6000/' "$CONF"
kill -HUP "$DAEMON_PID"
lowered() { swarmctl quota --json | python3 -c 'import json,sys; print([v["limit"] for v in json.load(sys.stdin)["windows"] if v["name"] == "window"])' | grep -q 6000; }
wait_until 10 lowered || fail "the window was not lowered: $(swarmctl quota --json)"

codes=$(volley win "$(cat "$T/url.free")")
ok_n=$(echo "$codes" | grep -c '^200$')
held_n=$(echo "$codes" | grep -c '^429$')
assert_eq "$((ok_n + held_n))" 10 "every request answered 200 or 429: $codes"
[ "$held_n" -ge 1 ] || fail "nothing waited for the window: $codes"
used=$(spent "$AGENT")
[ "$used" -le $((6000 + 2100)) ] || fail "the window was overrun: $used tokens for $ok_n requests"
assert_contains "$(cat "$T"/win.* | grep -o 'rolling window[^"]*' | head -n1)" "rolling window's 6000 tokens" "429 names the window"
swarmctl quota >/dev/null || fail "the daemon stopped serving"
swarmctl abort "$job" >/dev/null || fail "abort"
wait_until 30 job_is "$job" aborted || fail "the idle agent did not end"
ok
