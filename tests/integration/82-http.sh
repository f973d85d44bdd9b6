#!/bin/bash
# The dashboard's listener and its bad input.  Off loopback it needs
# token_file (swarmd refuses to start without one) and every data path
# needs the bearer token, which never reaches the journal; the page's
# files are served to anyone, and nothing else of the root: no path out
# of it, no dot file, no symlink.  Unknown paths, huge heads and a client
# that stops mid-request get an HTTP error or are cut off, and the
# daemon keeps serving.  The buttons need the operator token in a
# header: not the bearer token, not a cookie, not a form's content type.
. "$(dirname "$0")/lib.sh"

# Not loopback and no token: swarmd will not start.
cat >"$T/open.conf" <<CONF
[http]
listen = 0.0.0.0:0
CONF
if "$SWARMD" -f -c "$T/open.conf" -s "$T/x.sock" -d "$T/x" 2>"$T/open.err"; then
	fail "swarmd started on 0.0.0.0 without a token"
fi
assert_contains "$(cat "$T/open.err")" "is not loopback: it needs token_file"

cp -r "$TOOLS/../web" "$T/web"
ln -s /etc/passwd "$T/web/passwd.html"
: >"$T/web/.secret"
token=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')
optoken=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')
echo "$token" >"$T/token"
echo "$optoken" >"$T/optoken"
cat >>"$CONF" <<CONF
[http]
listen = 0.0.0.0:0
root = $T/web
token_file = $T/token
operator_token_file = $T/optoken
timeout = 1
CONF
start_daemon
port=$(sed -n 's|.*dashboard on http://0.0.0.0:\([0-9]*\)/ (bearer token).*|\1|p' "$T/swarmd.log")
[ -n "$port" ] || fail "no dashboard address in the log"
U="http://127.0.0.1:$port"
# code PATH [CURL ARGS...]: the status; the body in $T/body.
code() {
	local p=$1
	shift
	curl -s -o "$T/body" -w '%{http_code}' "$@" "$U$p"
}
serving() { [ "$(code /api/snapshot -H "Authorization: Bearer $token")" = 200 ]; }

# The page's files: anyone.
assert_eq "$(code /)" 200 "GET /"
assert_contains "$(cat "$T/body")" '<script src="app.js"'
assert_eq "$(code /app.js -D "$T/head")" 200 "GET /app.js"
assert_contains "$(cat "$T/head")" "Content-Type: text/javascript"
assert_contains "$(cat "$T/head")" "Content-Security-Policy: default-src 'self'"

# The swarm: the bearer token only, in the header or (for EventSource)
# the query.
assert_eq "$(code /api/snapshot)" 401 "no token"
assert_contains "$(cat "$T/body")" "a bearer token is needed"
assert_eq "$(code /api/snapshot -H "Authorization: Bearer wrong-$token")" 401 "wrong token"
assert_eq "$(code /events -H "Authorization: Bearer wrong-$token")" 401 "wrong token, events"
assert_eq "$(code "/api/snapshot?access_token=x$token")" 401 "wrong query token"
assert_eq "$(code /api/snapshot -H "Authorization: Bearer $token")" 200 "the token"
assert_eq "$(json 'sorted(j)' <"$T/body")" '["agents", "escalations", "events", "jobs", "quota", "seq"]'
assert_eq "$(code "/api/snapshot?access_token=$token")" 200 "the query token"
if grep -q -e "$token" -e "$optoken" "$T/swarmd.log"; then
	fail "a token is in the journal"
fi

# Nothing but the root's own plain files.
for p in /../etc/passwd /%2e%2e/etc/passwd /..%2f..%2fetc%2fpasswd /.secret \
	/%2esecret /web%00.html /a/b.html; do
	assert_eq "$(code "$p" --path-as-is)" 400 "GET $p"
	assert_contains "$(cat "$T/body")" "bad path"
done
assert_eq "$(code /passwd.html)" 404 "a symlink out of the root"
assert_eq "$(code /nope.html)" 404 "no such file"
assert_eq "$(code /api/nope -H "Authorization: Bearer $token")" 404 "no such path"
assert_eq "$(code /api/snapshot -X DELETE -H "Authorization: Bearer $token")" 405 "DELETE"

# A head of 20 KiB: refused; a client that stops mid-head: cut off after
# [http] timeout, while the others are served.
big=$(head -c 20000 /dev/zero | tr '\0' a)
c=$(code / -H "X-Big: $big")
assert_eq "$c" 400 "a 20 KiB head"
python3 - "$port" >"$T/slow" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
s.settimeout(30)
start = time.monotonic()
try:
    data = s.recv(4096)
except OSError:
    data = b""
print("closed after %.1f s: %r" % (time.monotonic() - start, data[:12]))
PY
slow=$!
KILL_AT_EXIT="$KILL_AT_EXIT $slow"
serving || fail "not serving beside a slow client"
wait_until 20 grep -q closed "$T/slow" || fail "a slow client was not cut off"
serving || fail "not serving after a slow client"

# The buttons: a live agent to abort.
job=$(swarmctl submit "$(job_file hang '["'"$AGENTS"'/hang-agent"]' 1)") || fail "submit"
wait_until 20 chunk_is "$job/c0" running || fail "not running"
agent=$(swarmctl ps --json | json 'j[0]["agent"]')
body="{\"target\": \"$agent\", \"reason\": \"from the web\"}"
post() { code "/api/$1" -X POST -H "Authorization: Bearer $token" "${@:2}"; }
assert_eq "$(post abort -H 'Content-Type: application/json' -d "$body")" 403 "no operator token"
assert_contains "$(cat "$T/body")" "operator token is needed"
assert_eq "$(post abort -H 'Content-Type: application/json' -H "X-Swarmd-Operator: $token" -d "$body")" 403 "the read token"
assert_eq "$(post abort -H 'Content-Type: application/json' -H "Cookie: X-Swarmd-Operator=$optoken" -d "$body")" 403 "a cookie"
assert_eq "$(post abort -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/x-www-form-urlencoded' -d "$body")" 415 "a form"
assert_eq "$(post abort -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d '[1')" 400 "not JSON"
printf '{"target": "%s", "text": "%s"}' "$agent" "$(head -c 200000 /dev/zero | tr '\0' a)" >"$T/huge.json"
assert_eq "$(post send -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' --data-binary @"$T/huge.json")" 413 "a body of 200 KB"
assert_eq "$(post abort -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d '{"target": "agent-999"}')" 404 "no such agent"
assert_eq "$(post resolve -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d '{"target": "esc-9", "action": "kill"}')" 404 "no such escalation"
assert_eq "$(post ps -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d '{}')" 404 "not a button"
assert_eq "$(chunk_state "$job/c0")" running "refused presses changed nothing"
assert_eq "$(post send -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d "{\"target\": \"$agent\", \"text\": \"from the web\"}")" 200 "send"
assert_eq "$(post abort -H "X-Swarmd-Operator: $optoken" -H 'Content-Type: application/json' -d "$body")" 200 "abort"
assert_eq "$(json 'j["ok"]' <"$T/body")" true
wait_until 20 chunk_is "$job/c0" aborted || fail "the agent was not aborted"
assert_eq "$(code /api/session -H "Authorization: Bearer $token" -H "X-Swarmd-Operator: $optoken")" 200
assert_eq "$(json 'j["operator"]' <"$T/body")" true
serving || fail "not serving at the end"
ok
