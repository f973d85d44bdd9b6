#!/bin/bash
# Malformed requests, unknown verbs, fields and ids, wrong types, a line
# over 1 MiB and a client that vanishes mid-request each get a clear error,
# change nothing, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
start_daemon
PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" <<'PY' || fail "raw protocol checks"
import sys
from rawclient import Conn
path = sys.argv[1]

def expect_error(resp, code, what):
    assert resp.get("ok") is False, (what, resp)
    assert resp["error"]["code"] == code, (what, resp)
    assert resp["error"]["message"], (what, resp)

c = Conn(path)
c.send_raw(b"this is not json\n")
expect_error(c.line(), "bad_request", "not json")
c.send_raw(b"[1,2,3]\n")
expect_error(c.line(), "bad_request", "array")
# Messages cut mid-character by a bound or by the parser's "near" text
# still make a reply (found by fuzzing: tests/fuzz/regress/request).
c.send_raw(('{"id":7,"verb":"a' + "\u00e9" * 40 + '"}\n').encode())
r = c.line(); expect_error(r, "unknown_verb", "verb cut mid-character"); assert r["id"] == 7
c.send_raw(b'{"verb": "x", "args": {"a\\u15e\xcd\x98e": 1}}\n')
expect_error(c.line(), "bad_request", "not JSON, near text cut mid-character")
c.send_raw(b'{"id":5,"verb":"hello","bogus":1}\n')
r = c.line(); expect_error(r, "bad_request", "unknown member"); assert r["id"] == 5
c.send_raw(b'{"id":6}\n')
expect_error(c.line(), "bad_request", "no verb")
expect_error(c.call("frobnicate"), "unknown_verb", "unknown verb")
expect_error(c.call("ps", {"jobb": "job-1"}), "bad_args", "unknown arg")
expect_error(c.call("ps", {"all": "yes"}), "bad_args", "wrong type")
expect_error(c.call("abort", {}), "bad_args", "missing arg")
expect_error(c.call("abort", {"target": "agent-1", "grace": -1}), "bad_args", "negative")
expect_error(c.call("hello", {"version": 99}), "version", "version")
expect_error(c.call("show", {"target": "agent-77"}), "not_found", "unknown agent")
expect_error(c.call("show", {"target": "job-77"}), "not_found", "unknown job")
expect_error(c.call("show", {"target": "job-77/x"}), "not_found", "unknown chunk")
expect_error(c.call("show", {"target": "nonsense"}), "not_found", "bad target")
expect_error(c.call("pause", {"job": "job-9"}), "not_found", "pause unknown")
expect_error(c.call("logs", {"agent": "agent-3"}), "not_found", "logs unknown")
expect_error(c.call("events", {"job": "job-4"}), "not_found", "events unknown job")
expect_error(c.call("submit", {"job": "a string"}), "invalid_job", "job not object")
# Duplicate keys are malformed JSON, not last-one-wins.
c.send_raw(b'{"id":1,"verb":"ps","verb":"jobs"}\n')
expect_error(c.line(), "bad_request", "duplicate key")
# After all that the same connection still works.
r = c.call("hello", {"version": 1}); assert r["ok"] and r["version"] == 1, r

# A line over 1 MiB: too_large, and the connection is closed.
big = Conn(path)
big.send_raw(b'{"id":1,"verb":"hello","args":{"x":"' + b"a" * (1024 * 1024 + 10))
expect_error(big.line(), "too_large", "oversized line")
assert big.closed(), "connection left open after too_large"

# A client that sends half a request and vanishes.
half = Conn(path)
half.send_raw(b'{"id":1,"verb":"sub')
half.close()
# One that asks and leaves before reading the answer.
gone = Conn(path)
gone.send_raw(b'{"id":1,"verb":"jobs"}\n')
gone.close()
# One that waits on recv... is an agent verb; without auth it is refused.
expect_error(Conn(path).call("recv", {"wait": 5}), "unauthorized", "recv without auth")

r = Conn(path).call("jobs"); assert r["ok"] and r["jobs"] == [], r
r = Conn(path).call("events"); assert r["ok"] and r["events"] == [], r
PY
# swarmctl itself: usage errors exit 2, unreachable daemon exits 69.
swarmctl 2>/dev/null; assert_eq $? 2 "no verb"
swarmctl frobnicate 2>/dev/null; assert_eq $? 2 "unknown verb"
swarmctl abort 2>/dev/null; assert_eq $? 2 "missing argument"
swarmctl abort agent-1 --grace soon 2>/dev/null; assert_eq $? 2 "bad grace"
swarmctl -s "$T/nowhere.sock" jobs 2>"$T/err"; assert_eq $? 69 "unreachable"
assert_contains "$(cat "$T/err")" "nowhere.sock"
swarmctl show job-5 2>"$T/err"; assert_eq $? 1 "daemon error"
assert_eq "$(wc -l <"$T/err")" 1 "one-line reason"
swarmctl jobs >/dev/null || fail "daemon stopped serving"
ok
