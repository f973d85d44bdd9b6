#!/bin/bash
# The proxy meters real API streams: the Python SDK's recorded streams
# (tests/data/anthropic-sse) replayed by a loopback upstream in 7-byte
# writes, so events and lines arrive split.  Usage is message_start's
# input and the last message_delta's output (cumulative, never summed);
# input fields repeated in the last delta replace the earlier ones; a
# whole message's usage; a stream cut before message_stop is metered as
# far as it went and marked incomplete.  Every stream reaches the client
# byte for byte.
. "$(dirname "$0")/lib.sh"
FIX=${SSE_FIXTURES:-$(dirname "$0")/../data/anthropic-sse}
[ -f "$FIX/basic_response.txt" ] || fail "no recorded streams in $FIX"
mkdir -p "$T/rec"
cp "$FIX/basic_response.txt" "$FIX/tool_use_response.txt" "$T/rec/"
# Two deltas, the last repeating the input side: it replaces message_start's.
python3 - "$FIX/basic_response.txt" "$T/rec/redelta.txt" <<'PY'
import sys
src = open(sys.argv[1]).read()
one = 'data: {"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":3}}'
last = 'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":40,"cache_read_input_tokens":7,"output_tokens":6}}'
i = src.index("event: message_delta")
j = src.index("event: message_stop")
open(sys.argv[2], "w").write(src[:i] + "event: message_delta\n" + one + "\n\nevent: message_delta\n" + last + "\n\n" + src[j:])
# Cut: everything before the message_delta.
open(sys.argv[2].replace("redelta", "cut"), "w").write(src[:i])
PY
cat >"$T/rec/whole.json" <<'J'
{"id":"msg_whole","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":21,"output_tokens":4,"cache_creation_input_tokens":100,"cache_read_input_tokens":50}}
J
python3 "$(dirname "$0")/replay-upstream.py" "$T/rec" >"$T/up.out" 2>"$T/up.err" &
KILL_AT_EXIT=$!
wait_until 10 grep -q '^listening on ' "$T/up.out" || fail "replay upstream did not start"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = http://$(sed -n 's/^listening on //p' "$T/up.out")
C
start_daemon
f=$(job_file idle '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.$SWARM_CHUNK; exec sleep 600"]' 5 '{"concurrency": 5}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "ls $T/url.c* | wc -l | grep -qx 5" || fail "agents did not start"
# replay CHUNK FILE: the agent of CHUNK asks for FILE; its usage after
replay() {
	local stream=false
	case $2 in *.txt) stream=true ;; esac
	curl -sS -N -o "$T/$1.out" -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" \
		-d '{"model":"'"$2"'","max_tokens":100,"stream":'$stream',"messages":[{"role":"user","content":"hi"}]}' \
		"$(cat "$T/url.$1")/v1/messages" || fail "$2: curl failed"
	cmp -s "$T/$1.out" "$T/rec/$2" || fail "$2: the client did not get the stream as sent"
	swarmctl show "$(swarmctl show "$job/$1" --json | json 'j["agent"]')" --json |
		json '[j["usage"][k] for k in ("input","output","cache_creation","cache_read")]'
}
assert_eq "$(replay c0 basic_response.txt)" "[11, 6, 0, 0]" "basic_response (SDK fixture)"
assert_eq "$(replay c1 tool_use_response.txt)" "[377, 65, 0, 0]" "tool_use_response (SDK fixture)"
assert_eq "$(replay c2 redelta.txt)" "[40, 6, 0, 7]" "the last delta's input replaces message_start's"
assert_eq "$(replay c3 whole.json)" "[21, 4, 100, 50]" "a whole message"
assert_eq "$(replay c4 cut.txt)" "[11, 1, 0, 0]" "a cut stream: message_start's usage"
assert_eq "$(swarmctl events --json | grep -c '"proxy_incomplete"')" 1 "only the cut stream is incomplete"
swarmctl abort "$job" --grace 1 >/dev/null || fail "abort the idle agents"
wait_until 20 job_is "$job" aborted || fail "the idle agents did not end"
ok
