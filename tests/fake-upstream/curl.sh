#!/bin/bash
# The fake through curl, as a shell script or an operator would use it:
# a stream read as it comes (-N), the error shapes, a reset seen as one,
# and a clean exit on SIGTERM.  Environment: FAKE_UPSTREAM.
. "$(dirname "$0")/lib.sh"
fake_start
H=(-H "x-api-key: test" -H "anthropic-version: 2023-06-01"
	-H "content-type: application/json")
BODY='{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi there you"}]'

# A stream: the API's event order, framed in event:/data:/blank lines.
curl -sS -N "${H[@]}" -d "$BODY,\"stream\":true}" "$URL/v1/messages?beta=true" \
	>"$T/stream" || fail "stream request"
events=$(sed -n 's/^event: //p' "$T/stream" | uniq | tr '\n' ' ')
[ "$events" = "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop " ] ||
	fail "event order: $events"
[ "$(grep -c '^data: ' "$T/stream")" = "$(grep -c '^event: ' "$T/stream")" ] ||
	fail "every event has one data line"
[ "$(grep -c '^$' "$T/stream")" = "$(grep -c '^event: ' "$T/stream")" ] ||
	fail "every event ends with a blank line"

# Errors in the API's shape, with the status to match.
code=$(curl -sS -o "$T/body" -w '%{http_code}' -H "anthropic-version: 2023-06-01" \
	-d "$BODY}" "$URL/v1/messages")
[ "$code" = 401 ] || fail "no key: $code"
grep -q '^{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"},"request_id":"req_' "$T/body" ||
	fail "401 body: $(cat "$T/body")"
code=$(curl -sS -o "$T/body" -w '%{http_code}' "${H[@]}" -d '{"model":"m"}' "$URL/v1/messages")
[ "$code" = 400 ] || fail "bad body: $code"
grep -q '"invalid_request_error"' "$T/body" || fail "400 body: $(cat "$T/body")"
# Claude Code's first request is a HEAD of the base URL.
code=$(curl -sS -I -o /dev/null -w '%{http_code}' "$URL/")
[ "$code" = 404 ] || fail "HEAD /: $code"

# The rate limit headers, on a success.
curl -sS -D "$T/headers" -o /dev/null "${H[@]}" -d "$BODY}" "$URL/v1/messages"
for k in requests tokens input-tokens output-tokens; do
	for f in limit remaining reset; do
		grep -qi "^anthropic-ratelimit-$k-$f: " "$T/headers" ||
			fail "no anthropic-ratelimit-$k-$f"
	done
done
grep -Eqi '^anthropic-ratelimit-tokens-reset: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$T/headers" ||
	fail "reset is not RFC 3339"

# A reset connection is a reset to curl too (56: failure receiving).
curl -sS -d '{"reset":{"after":1}}' "$URL/_fake/faults" >/dev/null
curl -sS -N "${H[@]}" -d "$BODY,\"stream\":true}" "$URL/v1/messages" \
	>"$T/cut" 2>"$T/curl.err"
rc=$?
[ $rc = 56 ] || fail "reset: curl exit $rc: $(cat "$T/curl.err")"
grep -q 'reset by peer' "$T/curl.err" || fail "not a reset: $(cat "$T/curl.err")"
grep -q '^event: content_block_delta' "$T/cut" || fail "nothing before the reset"
grep -q message_stop "$T/cut" && fail "message_stop after a reset"

# A slow first byte.
curl -sS -d '{"slow_first_byte":{"delay_ms":500}}' "$URL/_fake/faults" >/dev/null
ttfb=$(curl -sS -o /dev/null -w '%{time_starttransfer}' "${H[@]}" -d "$BODY}" "$URL/v1/messages")
awk -v t="$ttfb" 'BEGIN { exit !(t >= 0.5) }' || fail "first byte after $ttfb s"

curl -sS "$URL/_fake/stats" | grep -q '"resets":1' || fail "stats: $(curl -sS "$URL/_fake/stats")"

# SIGTERM ends it cleanly.
kill -TERM "$PID"
wait_until 10 sh -c "! kill -0 $PID" || fail "still running after SIGTERM"
wait "$PID"
rc=$?
PID=""
[ $rc = 0 ] || fail "exit status $rc"
echo "ok: curl.sh"
