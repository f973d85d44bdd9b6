#!/bin/bash
# The proxy reads no body without a live token, and holds its limits.
# A request line is looked at before libevent reads the request: a POST
# to an unknown token is answered 401 from its line while its announced
# 30 MiB body is still unsent, and what follows is dropped unread; the
# same on the second request of a kept-alive connection, and on one sent
# before the answer to the first.  A head over
# [proxy] max_header and a body announced over max_body are refused
# before they are buffered, a connection idle for client_timeout is
# closed, and through it all a good request is served and the daemon
# does not grow.
. "$(dirname "$0")/lib.sh"
start_fake
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
max_header = 4K
max_body = 1M
client_timeout = 2s
C
start_daemon
f=$(job_file idle '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url; exec sleep 600"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/url" || fail "the agent did not start"
URL=$(cat "$T/url")
requests() { curl -sS "$UP/_fake/stats" | json 'j["requests"]'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }

# probe CASE: one raw conversation with the proxy (rawgate below), its
# outcome on stdout as "STATUS CLOSED" or "STATUS ..." lines.
probe() { python3 "$T/rawgate.py" "$URL" "$@"; }
cat >"$T/rawgate.py" <<'PY'
import socket, sys, time, json
url, case = sys.argv[1], sys.argv[2]
hostport, token = url.split("/")[2], url.split("/a/")[1]
host, port = hostport.rsplit(":", 1)
BODY = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()

def connect():
    s = socket.create_connection((host, int(port)))
    s.settimeout(10)
    return s

def head(path, length, extra=b""):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nx-api-key: test\r\n"
            b"anthropic-version: 2023-06-01\r\n" + extra +
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")

pending = {}  # bytes read past an answer, by socket: the next one's

def status(s):
    """The status of one answer, reading it whole (Content-Length)."""
    buf = pending.pop(s, b"")
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    h, rest = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in h.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    pending[s] = rest[n:]
    return int(h.split(b" ")[1]), rest[:n]

def closed(s):
    """Whether the server closes the connection (within the timeout)."""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except (socket.timeout, ConnectionResetError):
        return False

def stranger(s):
    # 30 MiB announced, 1 MiB sent, then silence: answered from the line.
    s.sendall(head("/a/" + "0" * 64 + "/v1/messages", 30 << 20) + b"a" * (1 << 20))
    code, body = status(s)
    print(code, json.loads(body)["error"]["type"], "closed" if closed(s) else "open")

if case == "stranger":
    stranger(connect())
elif case == "nopath":
    s = connect()
    s.sendall(b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"b" * 1000)
    code, _ = status(s)
    print(code, "closed" if closed(s) else "open")
elif case == "keepalive":
    # A good request, slowly, byte by byte at first, then a stranger's
    # on the same connection.
    s = connect()
    msg = head("/a/" + token + "/v1/messages", len(BODY)) + BODY
    for i in range(0, 80):
        s.send(msg[i:i + 1])
    s.sendall(msg[80:])
    code, _ = status(s)
    print(code)
    stranger(s)
elif case == "pipelined":
    # A good request and a stranger's sent together: the second is in
    # before the first is answered, and still looked at.
    s = connect()
    s.sendall(head("/a/" + token + "/v1/messages", len(BODY)) + BODY +
              head("/a/" + "2" * 64 + "/v1/messages", 1000) + b"z" * 1000)
    print(status(s)[0])
    code, body = status(s)
    print(code, json.loads(body)["error"]["type"], "closed" if closed(s) else "open")
elif case == "bighead":
    s = connect()
    try:
        s.sendall(head("/a/" + token + "/v1/messages", len(BODY),
                       b"x-filler: " + b"f" * 8192 + b"\r\n") + BODY)
    except (BrokenPipeError, ConnectionResetError):
        pass
    code, _ = status(s)
    print(code, "closed" if closed(s) else "open")
elif case == "bigbody":
    s = connect()
    s.sendall(head("/a/" + token + "/v1/messages", 2 << 20))
    code, _ = status(s)
    print(code, "closed" if closed(s) else "open")
elif case == "idle":
    s = connect()
    t = time.monotonic()
    c = closed(s)
    print("closed" if c else "open", round(time.monotonic() - t))
elif case == "crowd":
    # Sixteen strangers at once, from threads of one process.
    import threading
    out = [None] * 16
    def one(i):
        s = connect()
        s.sendall(head("/a/" + "1" * 64 + "/v1/messages", 30 << 20) + b"a" * (1 << 20))
        code, body = status(s)
        out[i] = "%s %s" % (code, "closed" if closed(s) else "open")
    ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(" ".join(sorted(set(o or "none" for o in out))))
elif case == "good":
    s = connect()
    s.sendall(head("/a/" + token + "/v1/messages", len(BODY)) + BODY)
    print(status(s)[0])
PY

n=$(requests)
assert_eq "$(probe stranger)" "401 authentication_error closed" "unknown token, body unsent"
assert_eq "$(probe nopath)" "404 closed" "no /a/ path"
assert_eq "$(requests)" "$n" "nothing sent upstream"
assert_eq "$(probe keepalive)" "200
401 authentication_error closed" "the second request of a connection"
assert_eq "$(probe pipelined)" "200
401 authentication_error closed" "a stranger's request pipelined behind a good one"
n=$(requests)
r=$(probe bighead)
case $r in 4[0-9][0-9]\ closed) ;; *) fail "a 12 KiB head under max_header 4K: [$r]" ;; esac
assert_eq "$(probe bigbody)" "413 closed" "a body announced over max_body"
assert_eq "$(requests)" "$n" "the refused requests were not sent upstream"
r=$(probe idle)
case $r in "closed "[1-5]) ;; *) fail "an idle connection under client_timeout 2s: [$r]" ;; esac

# Sixteen strangers at once, each sending 1 MiB after the head: the
# daemon drops it all unread instead of buffering 16 MiB.
before=$(rss)
assert_eq "$(probe crowd)" "401 closed" "sixteen strangers at once"
after=$(rss)
[ $((after - before)) -lt 8192 ] || fail "RSS grew from $before to $after KiB"

assert_eq "$(probe good)" 200 "a good request after all that"
swarmctl jobs >/dev/null || fail "the control socket stopped serving"
swarmctl abort "$job" >/dev/null || fail "abort"
wait_until 30 job_is "$job" aborted || fail "the idle agent did not end"
ok
