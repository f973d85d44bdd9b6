#!/bin/bash
# The proxy paces requests instead of letting upstream refuse them: it
# learns the upstream's buckets from its headers, absorbs a 429 inside
# max_hold, and serves the waiting agents in turn (round robin), not in
# arrival order; a rejected account window holds requests until it resets
# and past max_hold swarmd answers 429 naming the window.
. "$(dirname "$0")/lib.sh"
# One request every ten seconds, so the order of service shows, and so
# the bucket emptied behind swarmd's back stays empty long enough for A's
# first request to meet it even on a loaded machine (at one a second,
# the fraction left by the last refusal often refilled it first).
cat >"$T/fake.json" <<'J'
{"limits": {"requests_per_minute": 6}, "cache": false}
J
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
max_hold = 60s
C
start_daemon
stats() { curl -sS "$UP/_fake/stats"; }
BODY='{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"fake:tokens 5 hi"}]}'
# Idle agents that print what the test appends to $T/say.CHUNK.
f=$(job_file idle '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.$SWARM_CHUNK; touch '"$T"'/say.$SWARM_CHUNK; exec tail -n +1 -f '"$T"'/say.$SWARM_CHUNK"]' 2)
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/url.c0" -a -s "$T/url.c1" || fail "the agents did not start"
# call NAME URL: one request in the background; status and end time in $T/NAME.*
call() {
	(curl -sS -o "$T/$1.b" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" -d "$BODY" "$2/v1/messages" >"$T/$1.code"
	date +%s%N >"$T/$1.end") &
}
queued() { swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]["queued"]'; }

# Empty the upstream's request bucket behind swarmd's back.
drain() {
	for i in $(seq 100); do
		code=$(curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
			-H "content-type: application/json" -d "$BODY" "$UP/v1/messages")
		[ "$code" = 429 ] && return 0
	done
	return 1
}

# Agent A asks three times; its first is refused upstream and held, and
# the other two join it once swarmd has learned the bucket from that
# refusal (sent together, all three could meet the empty bucket before
# any answer taught swarmd anything).  Then agent B asks once: it is
# served before A's last.
A=$(cat "$T/url.c0") B=$(cat "$T/url.c1")
absorbed() { [ "$(swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]["absorbed_429"]')" -ge 1 ]; }
# Should A's first request still come after the refill, it is served:
# then wait out two refills (swarmd paces by what that answer taught
# it), empty the bucket again and ask again.
for try in 1 2 3; do
	drain || fail "the upstream's bucket did not empty"
	limited=$(stats | json 'j["rate_limited"]')
	rm -f "$T"/a1.*
	s0=$(date +%s%N)
	call a1 "$A"
	wait_until 10 sh -c "swarmctl quota --json | grep -q '\"absorbed_429\": *[1-9]' || test -s $T/a1.end" ||
		fail "A's first request neither held nor answered"
	absorbed && break
	echo "try $try: A's first request was served before the bucket was met; again"
	wait_until 10 test -s "$T/a1.end"
	next=$(( $(cat "$T/a1.end") + 21000000000 ))
	wait_until 25 sh -c "[ \$(date +%s%N) -ge $next ]"
done
absorbed || fail "A's first request was not refused and held"
call a2 "$A"
call a3 "$A"
wait_until 10 sh -c '[ "$(swarmctl quota --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"proxy_queues\"][\"anthropic\"][\"queued\"])")" -ge 2 ]' ||
	fail "A's requests were not queued: $(swarmctl quota --json | json 'j["proxy_queues"]')"
call b1 "$B"
wait_until 90 sh -c "test -s $T/a1.end -a -s $T/a2.end -a -s $T/a3.end -a -s $T/b1.end" || fail "requests did not finish"
for r in a1 a2 a3 b1; do
	assert_eq "$(cat "$T/$r.code")" 200 "$r: no 429 reached the agent"
done
for r in a1 a2 a3 b1; do echo "$r $(( ($(cat "$T/$r.end") - s0) / 1000000 ))"; done
# a2 and a3 were sent together: either may be A's last.
alast=$(cat "$T/a2.end" "$T/a3.end" | sort -n | tail -n1)
[ "$(cat "$T/b1.end")" -lt "$alast" ] || fail "B waited behind all of A: not round robin"
q=$(swarmctl quota --json)
[ "$(echo "$q" | json 'j["proxy_queues"]["anthropic"]["absorbed_429"]')" -ge 1 ] || fail "no 429 absorbed: $q"
assert_eq "$(echo "$q" | json 'j["proxy_queues"]["anthropic"]["refused_429"]')" 0 "429s sent to agents"
assert_eq "$(echo "$q" | json 'j["proxy_queues"]["anthropic"]["buckets"]["requests"]["limit"]')" 6.0 "the request bucket learned"
# Paced by what it learned: after the first refusal, at most one more.
[ $(( $(stats | json 'j["rate_limited"]') - limited )) -le 2 ] || fail "upstream kept refusing: $(stats)"

# The account's five-hour window rejected (as the CLI reports it): held
# until it resets, then served; past max_hold, a 429 naming the window.
echo '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":'$(( $(date +%s) + 3 ))',"rateLimitType":"five_hour"}}' >>"$T/say.c1"
wait_until 10 sh -c "swarmctl quota --json | grep -q rejected" || fail "the window was not seen"
s=$(date +%s%N)
call w1 "$B"
wait_until 40 test -s "$T/w1.end" || fail "held request did not finish"
assert_eq "$(cat "$T/w1.code")" 200 "served after the reset"
[ $(( ($(cat "$T/w1.end") - s) / 1000000 )) -ge 1500 ] || fail "not held for the window"
echo '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":'$(( $(date +%s) + 120 ))',"rateLimitType":"five_hour"}}' >>"$T/say.c1"
resets() { swarmctl quota --json | json 'j["subscription"]["five_hour"]["resets_at"]'; }
wait_until 10 sh -c "[ \$(swarmctl quota --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"subscription\"][\"five_hour\"][\"resets_at\"])') -gt $(( $(date +%s) + 30 )) ]" ||
	fail "the second rejection was not seen: $(resets)"
call w2 "$B"
wait_until 10 test -s "$T/w2.end" || fail "refused request did not finish"
assert_eq "$(cat "$T/w2.code")" 429 "past max_hold"
assert_contains "$(json 'j["error"]["message"]' <"$T/w2.b")" "five_hour window is rejected" "429 names the window"
swarmctl abort "$job" --grace 1 >/dev/null || fail "abort the idle agents"
wait_until 20 job_is "$job" aborted || fail "the idle agents did not end"
ok
