#!/bin/bash
# tools/sim-agent against the fake upstream: calls made as an SDK makes
# them (plain and streamed, usage read from the reply or the stream), the
# SDK's retries (retry-after honoured, at most 2, exponential backoff
# without it, no retry of a stream cut after its 200), its exit status;
# then as a swarmd job through the proxy, with heartbeats, metered once.
. "$(dirname "$0")/lib.sh"
SIM=${SIM_AGENT:-$(dirname "$FAKE_UPSTREAM")/sim-agent}
[ -x "$SIM" ] || fail "no sim-agent at $SIM"
cat >"$T/fake.json" <<'J'
{"stream": {"gap_ms": 1, "delta_bytes": 64}, "cache": false}
J
start_fake "$T/fake.json"
fault() { curl -sS -o /dev/null -d "$1" "$UP/_fake/faults"; }
tokens() { curl -sS "$UP/_fake/stats" | json '[j["tokens"][k] for k in ("input","output")]'; }
# sim NAME ARGS...: run sim-agent straight to the fake; its lines in $T/NAME
sim() {
	local name=$1
	shift
	ANTHROPIC_BASE_URL=$UP ANTHROPIC_API_KEY=test "$SIM" "$@" >"$T/$name"
}
line() { sed -n "${2}p" "$T/$1" | json "$3"; }
summary() { tail -n 1 "$T/$1" | json "$2"; }

# Plain and streamed calls: every token the fake served is in the lines.
sim plain -n 3 -i 200 -o 40 || fail "plain calls: $(cat "$T/plain")"
sim stream -n 2 -i 200 -o 40 -s || fail "streamed calls: $(cat "$T/stream")"
assert_eq "$(wc -l <"$T/plain")" 4 "3 calls and a summary"
assert_eq "$(line plain 1 'j["usage"]["input_tokens"]')" 200 "input size"
assert_eq "$(line stream 2 'j["usage"]["output_tokens"]')" 40 "streamed output, the last delta's"
assert_eq "$(line stream 1 'j["id"][:4]')" msg_ "message id from message_start"
assert_eq "$(summary plain '[j["ok"], j["failed"], j["attempts"]]')" "[3, 0, 3]" "plain summary"
assert_eq "$(python3 -c 'import json,sys
t=[0,0]
for f in sys.argv[1:]:
    s=json.loads(open(f).read().splitlines()[-1])["usage"]
    t[0]+=s["input_tokens"]; t[1]+=s["output_tokens"]
print(json.dumps(t))' "$T/plain" "$T/stream")" "$(tokens)" "usage in the lines = served"

# A 529 with retry-after: retried after exactly that, twice, then served.
fault '{"fail": {"status": 529, "count": 2, "retry_after": 1}}'
sim r529 -n 1 || fail "529 twice then 200 must succeed: $(cat "$T/r529")"
assert_eq "$(line r529 1 '[j["status"], j["attempts"], j["5xx"]]')" "[200, 3, 2]" "529 retries"
assert_eq "$(line r529 1 'int(j["waited_ms"])')" 2000 "retry-after honoured"
# A 500 without retry-after: 0.5 s less up to 25% of jitter.
fault '{"fail": {"status": 500, "count": 1}}'
sim r500 -n 1 || fail "500 then 200"
w=$(line r500 1 'int(j["waited_ms"])')
[ "$w" -ge 375 ] && [ "$w" -le 500 ] || fail "backoff after a 500: $w ms"
# Three 429s: two retries, then the call fails and the run stops there.
fault '{"fail": {"status": 429, "count": 3, "retry_after": 1}}'
sim r429 -n 3 && fail "a failed call must exit nonzero"
assert_eq "$(line r429 1 '[j["ok"], j["status"], j["attempts"], j["429s"]]')" \
	"[false, 429, 3, 3]" "429 after 2 retries"
assert_eq "$(summary r429 '[j["failed"], j["not_made"]]')" "[1, 2]" "stopped at the failure"
# -k goes on after it.
fault '{"fail": {"status": 400, "count": 1}}'
sim r400 -n 2 -k && fail "-k still exits nonzero"
assert_eq "$(line r400 1 '[j["attempts"], j["error"]]')" '[1, "HTTP 400 invalid_request_error"]' "400 not retried"
assert_eq "$(summary r400 '[j["ok"], j["failed"]]')" "[1, 1]" "-k"
# A stream cut by an error event after its 200 is not retried.
fault '{"stream_error": {"after": 1}}'
sim cut -n 1 -s -o 200 && fail "an error event must fail the call"
assert_eq "$(line cut 1 '[j["attempts"], j["error"]]')" '[1, "error event: overloaded_error"]' "stream error"
# A reset before any byte is a connection error: retried.
fault '{"reset": {"after": 0}}'
sim reset -n 1 || fail "reset then 200"
assert_eq "$(line reset 1 '[j["attempts"], j["conn_errors"]]')" "[2, 1]" "reset retried"
# Bad usage.
"$SIM" -n x >/dev/null 2>&1
assert_eq $? 2 "usage error"

# As a swarmd job, through the proxy: heartbeats, lines to a file, every
# token metered once and attributed to its agent.
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
max_hold = 10s
C
start_daemon
before=$(tokens)
f=$(job_file sims "[\"$SIM\", \"-n\", \"3\", \"-s\", \"-i\", \"100\", \"-o\", \"20\", \"-H\", \"-w\", \"$T/{chunk}.jsonl\"]" 2 \
	'{"concurrency": 2, "env": {"ANTHROPIC_API_KEY": "test"}}')
job=$(swarmctl submit "$f")
wait_until 60 job_is "$job" done || fail "sim-agent job: $(tail -n 5 "$STATE"/logs/*.log)"
for c in c0 c1; do
	agent=$(swarmctl show "$job/$c" --json | json 'j["agent"]')
	assert_eq "$(tail -n 1 "$T/$c.jsonl" | json '[j["ok"], j["agent"]]')" "[3, \"$agent\"]" "$c: summary"
	assert_eq "$(swarmctl show "$agent" --json | json '[j["usage"]["input"], j["usage"]["output"]]')" \
		"[300, 60]" "$c: metered once"
done
assert_eq "$(swarmctl events --job "$job" --json | jsonl 'j.get("note")' | grep -c '^call [123]/3: 200$')" 6 \
	"a heartbeat after each call"
served=$(python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps([y-x for x,y in zip(a,b)]))' "$before" "$(tokens)")
assert_eq "$served" "[600, 120]" "served through the proxy"
ok
