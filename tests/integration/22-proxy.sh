#!/bin/bash
# The metering proxy against the fake upstream: agents reach it through
# ANTHROPIC_BASE_URL; responses pass through as upstream sent them; the
# meter counts exactly what the upstream served, once per message even
# when the agent also prints it as stream-json; an unknown token is 401;
# a 529 with retry-after holds every agent's next request; past max_hold
# swarmd answers 429 itself; the real Claude Code CLI meters once.
. "$(dirname "$0")/lib.sh"
cat >"$T/fake.json" <<'J'
{"stream": {"gap_ms": 40, "delta_bytes": 8}}
J
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
openai_upstream = $UP
max_hold = 10s
C
start_daemon
PROXY=$(swarmctl quota --json | json 'j["proxy"]')
case $PROXY in 127.0.0.1:[1-9]*) ;; *) fail "no proxy address: $PROXY" ;; esac
stats() { curl -sS "$UP/_fake/stats"; }
tokens() { stats | json '[j["tokens"][k] for k in ("input","output","cache_creation_input","cache_read_input")]'; }
agent_of() { swarmctl show "$1" --json | json 'j["agent"]'; }
usage_of() { swarmctl show "$(agent_of "$1")" --json | json '[j["usage"][k] for k in ("input","output","cache_creation","cache_read")]'; }

# The agent: one request per argument, each "MODE NAME"; MODE plain,
# stream (which prints the message as stream-json as soon as it starts).
cat >"$T/agent" <<'A'
#!/bin/bash
out=$1
shift
for req in "$@"; do
	set -- $req
	mode=$1 name=$2
	stream=false
	[ "$mode" = stream ] && stream=true
	body='{"model":"claude-sonnet-4-5","max_tokens":200,"stream":'$stream',"messages":[{"role":"user","content":"fake:tokens 30 hello"}]}'
	if [ "$mode" = stream ]; then
		curl -sS -N -D "$out/$name.h" -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
			-H "content-type: application/json" -d "$body" "$ANTHROPIC_BASE_URL/v1/messages?beta=true" |
			tee "$out/$name.b" | python3 -u -c '
import json, sys
for line in sys.stdin:
    if line.startswith("data:"):
        j = json.loads(line[5:])
        if j["type"] == "message_start":
            m = j["message"]
            print(json.dumps({"type": "assistant", "message": {"id": m["id"],
                "model": m["model"], "usage": {"input_tokens": 1, "output_tokens": 1}}}), flush=True)'
	else
		s=$(date +%s%N)
		curl -sS -D "$out/$name.h" -o "$out/$name.b" -H "x-api-key: test" \
			-H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
			-d "$body" "$ANTHROPIC_BASE_URL/v1/messages"
		echo $(( ($(date +%s%N) - s) / 1000000 )) >"$out/$name.ms"
	fi
done
A
chmod +x "$T/agent"
run() { # run NAME REQ...: one agent making REQs; waits for it
	local f job
	f=$(job_file "$1" "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$T/agent" "$T" "${@:2}")" 1)
	job=$(swarmctl submit "$f")
	wait_until 30 job_is "$job" done || fail "$1: job did not finish: $(cat "$STATE"/logs/*.log | tail -5)"
	echo "$job"
}
status_of() { sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$T/$1.h"; }

# Plain and streamed, each metered exactly as the fake counted.
job=$(run one "plain p1" "stream s1")
assert_eq "$(status_of p1)" 200 "plain status"
assert_eq "$(status_of s1)" 200 "stream status"
json 'j["type"]' <"$T/p1.b" | grep -qx message || fail "plain body: $(cat "$T/p1.b")"
grep -qi '^anthropic-ratelimit-tokens-limit:' "$T/p1.h" || fail "rate limit headers passed on"
grep -qi '^content-type: text/event-stream' "$T/s1.h" || fail "stream content type"
assert_eq "$(grep '^event: ' "$T/s1.b" | sed 's/event: //' | uniq | tr '\n' ' ')" \
	"message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop " "events in order"
assert_eq "$(usage_of "$job/c0")" "$(tokens)" "metered what upstream served"
assert_eq "$(swarmctl show "$(agent_of "$job/c0")" --json | json 'j["usage"]["records"]')" 2 \
	"the stream-json copy counted once"
q=$(swarmctl quota --json)
assert_eq "$(echo "$q" | json 'j["upstream"]["anthropic"]["tokens-limit"]')" 2400000 "upstream limits learned"
swarmctl quota | grep -q "^upstream anthropic tokens: .* of 2400000 left" || fail "quota shows upstream: $(swarmctl quota)"

# An unknown token.
code=$(curl -sS -o "$T/401.b" -w '%{http_code}' -H "x-api-key: test" -d '{}' \
	"http://$PROXY/a/$(printf '0%.0s' $(seq 64))/v1/messages")
assert_eq "$code" 401 "unknown token"
assert_eq "$(json 'j["error"]["type"]' <"$T/401.b")" authentication_error "401 body"
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://$PROXY/nowhere")
assert_eq "$code" 404 "unknown path"

# The real Claude Code CLI as the agent, metered once.
CLAUDE=${CLAUDE:-$(command -v claude || true)}
if [ -n "$CLAUDE" ]; then
	before=$(tokens)
	mkdir -p "$T/home"
	cat >"$T/claude.json" <<J
{"name": "claude", "command": ["$CLAUDE", "-p", "say hi", "--output-format", "stream-json", "--verbose"],
 "env": {"HOME": "$T/home", "ANTHROPIC_API_KEY": "test", "DISABLE_TELEMETRY": "1",
         "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
 "chunks": [{"id": "c0", "task": "hi"}]}
J
	cjob=$(swarmctl submit "$T/claude.json")
	wait_until 120 job_is "$cjob" done || fail "claude job: $(tail -c 1500 "$STATE"/logs/"$(agent_of "$cjob/c0")".log)"
	served=$(python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps([y-x for x,y in zip(a,b)]))' "$before" "$(tokens)")
	assert_eq "$(usage_of "$cjob/c0")" "$served" "claude metered once"
	grep -q '"result"' "$STATE/logs/$(agent_of "$cjob/c0").log" || fail "claude gave no result"
elif [ "${SWARM_REQUIRE_CLIENTS:-0}" = 1 ]; then
	fail "claude is not installed; SWARM_REQUIRE_CLIENTS=1"
else
	echo "SKIP: the real-client part: claude is not installed"
fi

# A stream cut midway (an error event, no message_stop) meters what it
# showed and says so.
before=$(tokens)
curl -sS -o /dev/null -d '{"stream_error": {"after": 2}}' "$UP/_fake/faults"
ejob=$(run cut "stream e1")
grep -q '^event: error' "$T/e1.b" || fail "error event passed on"
served=$(python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps([y-x for x,y in zip(a,b)]))' "$before" "$(tokens)")
assert_eq "$(usage_of "$ejob/c0")" "$served" "cut stream metered as seen"
swarmctl events --json | grep -q '"proxy_incomplete"' || fail "no proxy_incomplete event"

# A 529 with retry-after stops at swarmd: it holds every request to that
# upstream, sends the same request again when the hint has passed, and the
# agent sees one slow 200 instead of an error.
curl -sS -o /dev/null -d '{"fail": {"status": 529, "count": 1, "retry_after": 2}}' "$UP/_fake/faults"
n529=$(stats | json 'j["status"].get("529", 0)')
run hold "plain f1" "plain f2" >/dev/null
assert_eq "$(stats | json 'j["status"].get("529", 0)')" $((n529 + 1)) "upstream answered 529 once"
assert_eq "$(status_of f1)" 200 "the 529 absorbed"
[ "$(cat "$T/f1.ms")" -ge 1800 ] || fail "not held: $(cat "$T/f1.ms") ms"
assert_eq "$(status_of f2)" 200 "the next request served"
assert_eq "$(swarmctl quota --json | json 'j["proxy_queues"]["anthropic"]["absorbed_429"]')" 1 "absorbed count"

# OpenAI's chat completions through OPENAI_BASE_URL: the usage of a whole
# answer and of a stream's include_usage chunk, metered as served; the
# x-ratelimit-* headers learned as the openai upstream's view.
f=$(job_file oai '["sh", "-c", "echo \"$OPENAI_BASE_URL\" >'"$T"'/oai.url; exec sleep 600"]' 1)
ojob=$(swarmctl submit "$f")
wait_until 20 test -s "$T/oai.url" || fail "the openai agent did not start"
OURL=$(cat "$T/oai.url")
case $OURL in http://$PROXY/a/*/v1) ;; *) fail "OPENAI_BASE_URL: $OURL" ;; esac
before=$(tokens)
# A conversation past OpenAI's 1024-token cache minimum, so the second
# request reads the first one's prefix from the cache: cached_tokens are
# part of prompt_tokens and must be counted once, as cache reads.
MSGS='[{"role":"user","content":"'$(printf 'word %.0s' $(seq 1000))'"},{"role":"assistant","content":"ok"},{"role":"user","content":"fake:tokens 25 hello"}]'
code=$(curl -sS -o "$T/o1.b" -w '%{http_code}' -H "authorization: Bearer test" -H "content-type: application/json" \
	-d '{"model":"gpt-4o","messages":'"$MSGS"'}' "$OURL/chat/completions")
assert_eq "$code" 200 "chat completion"
assert_eq "$(json 'j["object"]' <"$T/o1.b")" chat.completion "chat completion body"
curl -sS -N -o "$T/o2.b" -H "authorization: Bearer test" -H "content-type: application/json" \
	-d '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":'"$MSGS"'}' \
	"$OURL/chat/completions"
grep -q '^data: \[DONE\]' "$T/o2.b" || fail "stream did not end with [DONE]: $(tail -c 300 "$T/o2.b")"
served=$(python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps([y-x for x,y in zip(a,b)]))' "$before" "$(tokens)")
[ "$(echo "$served" | json 'j[3]')" -gt 0 ] || fail "no cache read served: $served"
assert_eq "$(usage_of "$ojob/c0")" "$served" "chat completions metered as served"
assert_eq "$(swarmctl show "$(agent_of "$ojob/c0")" --json | json 'j["usage"]["records"]')" 2 "one record a completion"
assert_eq "$(swarmctl quota --json | json 'j["upstream"]["openai"]["tokens-limit"]')" 2400000 "openai limits learned"

# After a backoff one request probes: it does not wait for a long stream
# that was already in flight, and its 200 lets the rest go.
ABASE=${OURL%/v1}
curl -sS -N -o "$T/long.b" -H "x-api-key: test" -H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
	-d '{"model":"claude-sonnet-4-5","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"fake:tokens 300 hi"}]}' \
	"$ABASE/v1/messages" &
long=$!
wait_until 10 grep -q '^event: message_start' "$T/long.b" || fail "the long stream did not start"
curl -sS -o /dev/null -d '{"fail": {"status": 529, "count": 1, "retry_after": 1}}' "$UP/_fake/faults"
s=$(date +%s%N)
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
	-H "content-type: application/json" -d '{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}' \
	"$ABASE/v1/messages")
ms=$(( ($(date +%s%N) - s) / 1000000 ))
assert_eq "$code" 200 "the probe after a 529"
grep -q '^event: message_stop' "$T/long.b" && fail "the probe waited for the long stream ($ms ms)"
[ "$ms" -ge 900 ] || fail "no backoff: $ms ms"
wait "$long"

# Past max_hold swarmd answers 429 itself, at once.
curl -sS -o /dev/null -d '{"fail": {"status": 529, "count": 1, "retry_after": 60}}' "$UP/_fake/faults"
run long "plain g1" "plain g2" >/dev/null
assert_eq "$(status_of g1)" 529 "529 passed back"
assert_eq "$(status_of g2)" 429 "429 past max_hold"
[ "$(cat "$T/g2.ms")" -lt 1000 ] || fail "429 not at once"
grep -qi '^retry-after: [56][0-9]' "$T/g2.h" || fail "429 without retry-after"
assert_eq "$(json 'j["error"]["type"]' <"$T/g2.b")" rate_limit_error "429 body"
swarmctl events --json | grep -q '"proxy_hold"' || fail "no proxy_hold event"
# The openai job's agent lent its token to the requests above: ended now.
swarmctl abort "$ojob" --grace 1 >/dev/null || fail "abort the openai agent"
wait_until 20 job_is "$ojob" aborted || fail "the openai agent did not end"
ok
