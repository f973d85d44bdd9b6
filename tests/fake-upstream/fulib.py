"""fulib.py: the harness of the fake-upstream tests (stdlib only).

Each test starts its own fake-upstream on port 0, reads the port from its
first line, talks real HTTP to it over loopback, waits by polling with a
deadline, and stops it with SIGTERM, which must end it with status 0.

Environment (set by tests/fake-upstream/meson.build): FAKE_UPSTREAM, the
binary; SSE_FIXTURES, the directory of recorded API streams.
"""
import http.client
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("FAKE_UPSTREAM", "fake-upstream")
FIXTURES = os.environ.get("SSE_FIXTURES", "")
HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01",
           "content-type": "application/json"}
KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
OPENAI_HEADERS = {"authorization": "Bearer sk-test",
                  "content-type": "application/json"}


def wait_until(pred, timeout=10.0, interval=0.02):
    """Poll pred until it returns a true value or the deadline passes."""
    end = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() > end:
            raise AssertionError("condition not met within %.1f s" % timeout)
        time.sleep(interval)  # poll interval, bounded by the deadline


class Fake:
    """One fake-upstream process with an optional config."""

    def __init__(self, config=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="fake-upstream-test.")
        cmd = [BIN, "-l", "127.0.0.1:0"] + list(args)
        if config is not None:
            path = os.path.join(self.dir, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["-c", path]
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.err, bufsize=0)
        try:
            self.port = self._read_port()
        except AssertionError:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.err.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _read_port(self):
        end = time.monotonic() + 10
        line = b""
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [],
                                              left)[0]:
                raise AssertionError("fake-upstream did not say where")
            c = self.proc.stdout.read(1)
            if not c:
                raise AssertionError("fake-upstream exited: " + self.stderr())
            line += c
        text = line.decode()
        assert text.startswith("listening on 127.0.0.1:"), text
        return int(text.strip().rsplit(":", 1)[1])

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        """SIGTERM; it must exit 0 (under the sanitizers: no leak)."""
        if self.err.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("fake-upstream ignored SIGTERM")
        self.proc.stdout.close()
        rc = self.proc.returncode
        log = self.stderr()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if rc != 0 or "Sanitizer" in log or "runtime error" in log:
            raise AssertionError("fake-upstream exited %d: %s" % (rc, log))

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """(status, headers as a lower-case dict, body bytes)"""
        c = self.conn()
        h = dict(HEADERS if headers is None else headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def messages(self, body, headers=None):
        return self.post("/v1/messages", body, headers)

    def chat(self, body, headers=None):
        return self.post("/v1/chat/completions", body,
                         OPENAI_HEADERS if headers is None else headers)

    def stats(self):
        return json.loads(self.request("GET", "/_fake/stats")[2])

    def faults(self, faults):
        s, _, b = self.post("/_fake/faults", faults)
        assert s == 200, b
        return json.loads(b)


class FakeTest(unittest.TestCase):
    """A test case that owns one Fake per test, stopped at the end."""
    config = None

    def setUp(self):
        self.fake = self.start(self.config)

    def start(self, config=None):
        f = Fake(config)
        self.addCleanup(f.stop)
        return f


def msg(text, **kw):
    """A minimal valid request body."""
    body = {"model": "claude-test", "max_tokens": 1024,
            "messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return body


def parse_sse(raw):
    """[(event, data-dict)] from a stream, checking the API's framing:
    every event is an 'event:' line, a 'data:' line, a blank line."""
    text = raw.decode("utf-8")
    assert "\r" not in text, "CR in the stream"
    assert text.endswith("\n\n"), "the stream does not end with a blank line"
    out = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2, "frame is not two lines: %r" % frame
        assert lines[0].startswith("event: "), lines[0]
        assert lines[1].startswith("data: "), lines[1]
        event = lines[0][len("event: "):]
        data = json.loads(lines[1][len("data: "):])
        assert data["type"] == event, (event, data)
        out.append((event, data))
    return out


def parse_chunks(raw):
    """[chunk-dict] of an OpenAI stream, checking its framing: every
    event is one 'data:' line and a blank line; a complete stream ends
    with 'data: [DONE]', which is left out."""
    text = raw.decode("utf-8")
    assert "\r" not in text, "CR in the stream"
    assert text.endswith("\n\n"), "the stream does not end with a blank line"
    out = []
    frames = text[:-2].split("\n\n")
    for i, frame in enumerate(frames):
        assert "\n" not in frame, "frame is not one line: %r" % frame
        assert frame.startswith("data: "), frame
        if frame == "data: [DONE]":
            assert i == len(frames) - 1, "[DONE] is not last"
            break
        out.append(json.loads(frame[len("data: "):]))
    return out


def fixture(name):
    """A recorded stream; the files lack the final blank line."""
    with open(os.path.join(FIXTURES, name), "rb") as f:
        raw = f.read()
    return parse_sse(raw.rstrip(b"\n") + b"\n\n")


def shape(events):
    """The event sequence with each run of deltas folded into one."""
    out = []
    for e, _ in events:
        if e == "content_block_delta" and out and out[-1] == e:
            continue
        out.append(e)
    return out


def tokens(nbytes):
    return math.ceil(nbytes / 4)


def raw_request(port, body, path="/v1/messages", timeout=10):
    """Send one request on a bare socket; return (bytes read, how it
    ended: 'eof', 'reset' or 'timeout')."""
    data = json.dumps(body).encode()
    head = "POST %s HTTP/1.1\r\nHost: x\r\n" % path
    headers = OPENAI_HEADERS if path == "/v1/chat/completions" else HEADERS
    for k, v in headers.items():
        head += "%s: %s\r\n" % (k, v)
    head += "content-length: %d\r\nconnection: close\r\n\r\n" % len(data)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(head.encode() + data)
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return got, "eof"
            got += d
    except ConnectionResetError:
        return got, "reset"
    except socket.timeout:
        return got, "timeout"
    finally:
        s.close()


def dechunk(body):
    """The payload of a chunked HTTP body, as far as it goes."""
    out = b""
    while body:
        line, _, rest = body.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out
