#!/bin/bash
# Where the proxy listens.  With port 0 a restart binds the port of the
# last run again, so agents that outlived it (and were re-adopted) keep
# working base URLs.  As a Unix socket: made like the control socket
# (mode 0660), agents get SWARM_PROXY_SOCKET and a base URL naming
# localhost, requests through it (curl's and tools/sim-agent's) are
# forwarded and metered, and the socket is gone after a clean stop.
. "$(dirname "$0")/lib.sh"
start_fake
BODY='{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"fake:tokens 9 hi"}]}'
post() { # post BASE [CURL ARGS]: the status
	local base=$1
	shift
	curl -sS -o "$T/r.b" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" -d "$BODY" "$@" "$base/v1/messages"
}

# Port 0, a restart, the same port: the old agent's URL still works.
cp "$CONF" "$T/base.conf"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
C
start_daemon
f=$(job_file keep '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/keep.url; exec sleep 600"]' 1)
kjob=$(swarmctl submit "$f")
wait_until 20 test -s "$T/keep.url" || fail "the agent did not start"
KURL=$(cat "$T/keep.url")
assert_eq "$(post "$KURL")" 200 "before the restart"
stop_daemon || fail "unclean stop"
start_daemon
assert_eq "$(post "$KURL")" 200 "the same URL after the restart"
kagent=$(swarmctl show "$kjob/c0" --json | json 'j["agent"]')
assert_eq "$(swarmctl show "$kagent" --json | json 'j["usage"]["output"]')" 18 "both metered to the re-adopted agent"
swarmctl abort "$kjob" --grace 1 >/dev/null || fail "abort keep"
wait_until 20 job_is "$kjob" aborted || fail "the keep agent did not end"
stop_daemon || fail "unclean stop"

cp "$T/base.conf" "$CONF"
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
assert_eq "$(post "$BASE" --unix-socket "$PSOCK")" 200 "a request through the socket"
agent=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
assert_eq "$(swarmctl show "$agent" --json | json 'j["usage"]["output"]')" 9 "metered"
# An SDK-like client that honours SWARM_PROXY_SOCKET: tools/sim-agent.
SIM=$(dirname "$FAKE_UPSTREAM")/sim-agent
f=$(job_file sim "[\"$SIM\", \"-n\", \"2\", \"-o\", \"5\"]" 1)
sjob=$(swarmctl submit "$f")
wait_until 30 job_is "$sjob" done || fail "sim-agent job: $(cat "$STATE"/logs/*.log | tail -3)"
sagent=$(swarmctl show "$sjob/c0" --json | json 'j["agent"]')
assert_eq "$(swarmctl show "$sagent" --json | json 'j["usage"]["output"]')" 10 "sim-agent metered through the socket"
swarmctl abort "$job" --grace 1 >/dev/null || fail "abort idle"
wait_until 20 job_is "$job" aborted || fail "the idle agent did not end"
stop_daemon || fail "unclean stop"
[ -e "$T/proxy.sock" ] && fail "the socket was left behind"
ok
