#!/bin/bash
# [proxy] listen as a Unix socket: made like the control socket (mode
# 0660), agents get SWARM_PROXY_SOCKET and a base URL naming localhost,
# requests through the socket are forwarded and metered, and the socket
# is gone after a clean stop.
. "$(dirname "$0")/lib.sh"
"$FAKE_UPSTREAM" -l 127.0.0.1:0 >"$T/fake.out" 2>"$T/fake.err" &
KILL_AT_EXIT=$!
wait_until 10 grep -q '^listening on ' "$T/fake.out" || fail "fake upstream did not start"
UP="http://$(sed -n 's/^listening on //p' "$T/fake.out")"
cat >>"$CONF" <<C
[proxy]
listen = $T/proxy.sock
upstream = $UP
C
start_daemon
assert_eq "$(swarmctl quota --json | json 'j["proxy"]')" "$T/proxy.sock" "quota shows the socket"
assert_eq "$(stat -c %a "$T/proxy.sock")" 660 "socket mode"
f=$(job_file idle '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL $SWARM_PROXY_SOCKET\" >'"$T"'/env.$SWARM_CHUNK; exec sleep 600"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/env.c0" || fail "the agent did not start"
read -r BASE PSOCK <"$T/env.c0"
assert_eq "$PSOCK" "$T/proxy.sock" "SWARM_PROXY_SOCKET"
case $BASE in http://localhost/a/*) ;; *) fail "base URL: $BASE" ;; esac
code=$(curl -sS -o "$T/r.b" -w '%{http_code}' --unix-socket "$PSOCK" -H "x-api-key: test" \
	-H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
	-d '{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"fake:tokens 9 hi"}]}' \
	"$BASE/v1/messages")
assert_eq "$code" 200 "a request through the socket"
agent=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
assert_eq "$(swarmctl show "$agent" --json | json 'j["usage"]["output"]')" 9 "metered"
stop_daemon || fail "unclean stop"
[ -e "$T/proxy.sock" ] && fail "the socket was left behind"
ok
