#!/bin/bash
# The proxy's bad input and faults, each with a clear answer in the API's
# error shape, nothing sent upstream that should not be, nothing metered
# that was not served, and the daemon serving on: a body that is not JSON
# (400), a body over the limit (413), a GET (405), an unknown path under a
# good token (404), an agent past its token cap (403, naming the cap), an
# unreachable upstream (502), a silent upstream (504 after [proxy]
# timeout), a client that leaves mid-stream (the upstream transfer is
# cancelled and what was seen is metered).  A clean stop leaves every
# metered token on disk.
. "$(dirname "$0")/lib.sh"
cat >"$T/fake.json" <<'J'
{"stream": {"gap_ms": 100, "delta_bytes": 8}, "cache": false}
J
start_fake "$T/fake.json"
# Nothing listens on port 1: the OpenAI side is the unreachable upstream.
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
openai_upstream = http://127.0.0.1:1
timeout = 2s
C
start_daemon
stats() { curl -sS "$UP/_fake/stats"; }
requests() { stats | json 'j["requests"]'; }
fault() { curl -sS -o /dev/null -d "$1" "$UP/_fake/faults"; }
# One idle agent per chunk; the test speaks for it with its base URL.
url_of() { cat "$T/url.$1" 2>/dev/null; }
f=$(job_file idle '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.$SWARM_CHUNK; exec sleep 600"]' 1 \
	'{"per_agent_tokens": 1000000}')
job=$(swarmctl submit "$f")
wait_until 60 url_of c0 || fail "the agent did not start"
BASE=$(url_of c0)
AGENT=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
usage() { swarmctl show "$AGENT" --json | json '[j["usage"][k] for k in ("input","output")]'; }
BODY='{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"fake:tokens 20 hi"}]}'
# post NAME PATH BODY [CURL ARGS]: the status; the body in $T/NAME
post() {
	local name=$1 path=$2 body=$3
	shift 3
	curl -sS -o "$T/$name" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" --data-binary "$body" "$@" "$BASE$path"
}
etype() { json 'j["error"]["type"]' <"$T/$1"; }

# A body that is not JSON, or not an object: 400, nothing sent upstream.
n=$(requests)
assert_eq "$(post bad /v1/messages '{"model": ')" 400 "truncated JSON"
assert_eq "$(etype bad)" invalid_request_error "400 error type"
assert_contains "$(json 'j["error"]["message"]' <"$T/bad")" "not a JSON object" "400 message"
assert_eq "$(post arr /v1/messages '[1, 2]')" 400 "an array"
assert_eq "$(requests)" "$n" "nothing sent upstream"

# A body over the 32 MiB limit: 413 from the HTTP layer; the proxy serves on.
head -c $((33 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: test" \
	-H "content-type: application/json" --data-binary @"$T/big" "$BASE/v1/messages")
assert_eq "$code" 413 "oversized body"
assert_eq "$(requests)" "$n" "the oversized body was not sent upstream"

# A GET and an unknown path under a good token.
code=$(curl -sS -o "$T/get" -w '%{http_code}' -H "x-api-key: test" "$BASE/v1/messages")
assert_eq "$code" 405 "GET"
assert_eq "$(etype get)" invalid_request_error "405 error type"
assert_eq "$(post nowhere /v1/models "$BODY")" 404 "unknown path"
assert_eq "$(etype nowhere)" not_found_error "404 error type"

# Still serving: a good request goes through and is metered.
assert_eq "$(post good /v1/messages "$BODY")" 200 "a good request"
assert_eq "$(usage)" "$(stats | json '[j["tokens"]["input"], j["tokens"]["output"]]')" "metered as served"

# An unreachable upstream: 502 in the Anthropic shape.
assert_eq "$(post unreach /v1/chat/completions '{"model":"gpt-4o","messages":[]}')" 502 "unreachable upstream"
assert_eq "$(etype unreach)" api_error "502 error type"
assert_contains "$(json 'j["error"]["message"]' <"$T/unreach")" "upstream openai" "502 names the upstream"

# A silent upstream: given up after [proxy] timeout, 504.
fault '{"slow_first_byte": {"delay_ms": 8000}}'
s=$(date +%s%N)
assert_eq "$(post slow /v1/messages "$BODY")" 504 "silent upstream"
ms=$(( ($(date +%s%N) - s) / 1000000 ))
[ "$ms" -ge 1500 ] && [ "$ms" -lt 6000 ] || fail "504 after $ms ms, not after the 2 s timeout"
assert_eq "$(etype slow)" timeout_error "504 error type"
fault '{}'

# A client that leaves mid-stream: the transfer upstream is cancelled
# (the fake sees its client go) and what the stream showed is metered.
before=$(usage)
closed=$(stats | json 'j["streams"]["client_closed"]')
SBODY='{"model":"claude-sonnet-4-5","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"fake:tokens 300 hi"}]}'
curl -sS -N -o "$T/cut" -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
	-H "content-type: application/json" --data-binary "$SBODY" --max-time 1 "$BASE/v1/messages" 2>/dev/null
grep -q '^event: message_start' "$T/cut" || fail "the stream did not start: $(head -c 300 "$T/cut")"
grep -q '^event: message_stop' "$T/cut" && fail "the stream was not cut"
wait_until 60 sh -c "[ \"\$(curl -sS $UP/_fake/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"streams\"][\"client_closed\"])')\" -gt $closed ]" ||
	fail "the upstream transfer was not cancelled: $(stats)"
wait_until 60 sh -c "swarmctl events --json | grep -q proxy_incomplete" || fail "no proxy_incomplete event"
after=$(usage)
python3 -c 'import json,sys; b,a=json.loads(sys.argv[1]),json.loads(sys.argv[2]); sys.exit(0 if a[0]>b[0] and a[1]>b[1] else 1)' \
	"$before" "$after" || fail "the cut stream was not metered: $before -> $after"

# An agent at its token cap: 403 naming the cap, nothing sent upstream.
# The cap is what one request uses, so the first reaches it exactly.
# Measured on the agent's own meter: the fake's totals may still grow
# from the silent request above, which it finishes after we gave up.
spent() { usage | json 'j[0] + j[1]'; }
cost=$(spent)
assert_eq "$(post probe /v1/messages "$BODY")" 200 "the probe"
cost=$(( $(spent) - cost ))
f=$(job_file capped '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.cap; exec sleep 600"]' 1 \
	"{\"per_agent_tokens\": $cost}")
swarmctl submit "$f" >/dev/null
wait_until 60 url_of cap || fail "the capped agent did not start"
BASE=$(url_of cap)
assert_eq "$(post cap1 /v1/messages "$BODY")" 200 "up to the cap"
n=$(requests)
assert_eq "$(post cap2 /v1/messages "$BODY")" 403 "past the cap"
assert_eq "$(etype cap2)" permission_error "403 error type"
assert_contains "$(json 'j["error"]["message"]' <"$T/cap2")" "$cost-token cap" "403 names the cap"
assert_eq "$(requests)" "$n" "the capped request was not sent upstream"
swarmctl quota >/dev/null || fail "the daemon stopped serving"

# Stopped with a request in flight: a clean exit (freeing the connection
# once ran its close callback into a queue already freed).
BASE=$(url_of c0)
fault '{"slow_first_byte": {"delay_ms": 120000}}'
post inflight /v1/messages "$BODY" >/dev/null 2>&1 &
inflight() { swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]["in_flight"]'; }
in_flight() { [ "$(inflight)" -ge 1 ]; }
wait_until 60 in_flight || fail "no request in flight: $(swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]') $(stats)"
metered=$(usage)
stop_daemon || fail "swarmd did not stop cleanly with a request in flight"
end_agents || fail "the idle agents did not end"
stored=$(python3 - "$STATE/swarmd.db" "${AGENT#agent-}" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(list(db.execute("SELECT coalesce(sum(input), 0), coalesce(sum(output), 0) "
                      "FROM usage WHERE agent = ?", (int(sys.argv[2]),)).fetchone()))
PY
)
assert_eq "$stored" "$metered" "the usage records on disk after the stop"
ok
