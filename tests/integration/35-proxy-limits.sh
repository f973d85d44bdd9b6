#!/bin/bash
# What a local user can make the proxy hold.  A request without a live
# token is answered from its request line (401 at once, its announced
# body never read); a body over max_body gets 413 before any of it is
# read; a head over max_header gets 431, one trickled in for longer than
# client_timeout 408; memory stays put under a 32 MiB
# header and under unfinished bodies; an idle connection is closed after
# client_timeout, while a stream slower than that is not cut.  Nothing
# refused reaches upstream, and the proxy keeps serving its agent,
# keep-alive and chunked bodies included.
. "$(dirname "$0")/lib.sh"
cat >"$T/fake.json" <<'J'
{"stream": {"gap_ms": 1300, "delta_bytes": 64}}
J
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
client_timeout = 1s
C
start_daemon
f=$(job_file keep '["sh", "-c", "echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url; exec sleep 600"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/url" || fail "the agent did not start"
URL=$(cat "$T/url")
BODY='{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"fake:tokens 9 hi"}]}'
post() { # post [CURL ARGS]: the status of a message through the agent's URL
	curl -sS -o "$T/r.b" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" -d "$BODY" "$@" "$URL/v1/messages"
}
requests() { curl -sS "$UP/_fake/stats" | json 'j["requests"]'; }
assert_eq "$(post)" 200 "a message before"

before=$(requests)
PYTHONPATH="$(dirname "$0")" python3 - "$URL" "$DAEMON_PID" "$BODY" <<'PY' || fail "proxy limits"
import json, select, socket, sys, time
url, pid, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
hostport, token = url[len("http://"):].split("/a/")
host, port = hostport.split(":")
port, bad = int(port), "0" * 64

def rss_kb():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def conn():
    return socket.create_connection((host, port), timeout=5)

def head(tok, length, extra=""):
    return ("POST /a/%s/v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: test\r\n"
            "anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
            "%sContent-Length: %d\r\n\r\n" % (tok, extra, length)).encode()

class Reader:
    """Answers off one connection, each within its deadline."""
    def __init__(self, s):
        self.s, self.buf = s, b""
    def more(self, deadline):
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        d = self.s.recv(65536)
        if not d:
            raise EOFError("closed; have %r" % self.buf[:200])
        self.buf += d
    def answer(self, secs=3):
        deadline = time.monotonic() + secs
        while b"\r\n\r\n" not in self.buf:
            self.more(deadline)
        h, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = h.decode("latin-1").split("\r\n")
        hdrs = dict((k.strip().lower(), v.strip()) for k, v in
                    (l.split(":", 1) for l in lines[1:]))
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self.more(deadline)
        b, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split()[1]), b
    def closed(self, secs=3):
        deadline = time.monotonic() + secs
        try:
            while True:
                self.more(deadline)
        except EOFError:
            return True
        except OSError as e:
            return not isinstance(e, socket.timeout)

def etype(b):
    return json.loads(b)["error"]["type"]

# An unknown token announcing 30 MB: 401 at once, then the close.
s = conn()
s.sendall(head(bad, 30000000))
r = Reader(s)
st, b = r.answer()
assert st == 401 and etype(b) == "authentication_error", (st, b)
assert r.closed(), "the refused connection stays open"
# Not a POST, no body: refused, and the connection serves the next one.
s = conn()
s.sendall(("GET /a/%s/v1/messages HTTP/1.1\r\nHost: x\r\n\r\n" % token).encode())
r = Reader(s)
st, b = r.answer()
assert st == 405, (st, b)
s.sendall(head(token, len(body)) + body)
st, b = r.answer(10)
assert st == 200, (st, b)
s.close()
print("401 before the body; 405 then 200 on one connection")

# A body over max_body (32 MiB): 413 as soon as the head is in.
s = conn()
s.sendall(head(token, 32 * 1024 * 1024 + 1))
st, b = Reader(s).answer()
assert st == 413, (st, b)
s.close()
# A head over max_header (64 KiB): 431.
s = conn()
s.sendall(head(token, 2, "x-pad: " + "a" * 70000 + "\r\n")[:71000])
st, b = Reader(s).answer()
assert st == 431 and etype(b) == "invalid_request_error", (st, b)
assert b"max_header" in b, b
s.close()
# A head trickled in, a line every 0.3 s: 408 once client_timeout (1 s)
# has passed, though no pause was that long.
s = conn()
s.sendall(("POST /a/%s/v1/messages HTTP/1.1\r\n" % token).encode())
deadline = time.monotonic() + 5
while not select.select([s], [], [], 0.3)[0]:
    assert time.monotonic() < deadline, "a head trickling in for 5 s is still read"
    s.sendall(b"x-slow: 1\r\n")
st, b = Reader(s).answer()
assert st == 408 and etype(b) == "timeout_error", (st, b)
s.close()
print("413, 431 and 408")

# Memory: a 32 MiB header, and eight unfinished 4 MB bodies with an
# unknown token, each sent as far as the proxy lets it.
base = rss_kb()
def push(s, data, total):
    sent, chunk = 0, data * (65536 // len(data))
    try:
        while sent < total:
            sent += s.send(chunk)
    except OSError:
        pass
    return sent
s = conn()
s.sendall(("POST /a/%s/v1/messages HTTP/1.1\r\nx-pad: " % token).encode())
sent = push(s, b"a", 32 << 20)
assert sent < 32 << 20, "the proxy read a 32 MiB header"
s.close()
socks = [conn() for _ in range(8)]
for s in socks:
    s.sendall(head(bad, 4000000))
    push(s, b"{", 4000000)
grown = rss_kb() - base
assert grown < 16 * 1024, "RSS grew by %d kB" % grown
for s in socks:
    s.close()
print("RSS grew by %d kB" % grown)

# Keep-alive with Content-Length, then a chunked body.
s = conn()
r = Reader(s)
for _ in range(2):
    s.sendall(head(token, len(body)) + body)
    st, b = r.answer(10)
    assert st == 200, (st, b)
s.sendall(head(token, 0, "Transfer-Encoding: chunked\r\n").replace(b"Content-Length: 0\r\n", b"")
          + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
st, b = r.answer(10)
assert st == 200, (st, b)
s.close()
print("keep-alive and chunked served")

# Idle: closed after client_timeout (1 s), not at once.
s = conn()
t = time.monotonic()
assert Reader(s).closed(5), "an idle connection is still open after 5 s"
took = time.monotonic() - t
assert took >= 0.8, "closed after %.2f s" % took
print("idle connection closed after %.1f s" % took)
PY
assert_eq "$(requests)" "$((before + 4))" "only the 4 admitted messages reached upstream"

# A stream whose events come 1.3 s apart, slower than client_timeout.
code=$(curl -sS -N -o "$T/s.b" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
	-H "content-type: application/json" \
	-d '{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"fake:tokens 3 hi"}]}' \
	"$URL/v1/messages")
assert_eq "$code" 200 "slow stream"
grep -q '^event: message_stop' "$T/s.b" || fail "the slow stream was cut: $(cat "$T/s.b")"
assert_eq "$(post)" 200 "a message after"
swarmctl jobs >/dev/null || fail "daemon stopped serving"
ok
