"""Injected faults, through POST /_fake/faults and the config file: failing
statuses (529 and others), an error event midway through a stream, a slow
first byte, a reset connection; and a client that hangs up mid-stream."""
import json
import socket
import time
import unittest

from fulib import (HEADERS, FakeTest, dechunk, msg, parse_sse, raw_request,
                   wait_until)


class Faults(FakeTest):
    def test_overloaded_529(self):
        got = self.fake.faults({"fail": {"status": 529, "count": 2,
                                         "retry_after": 3}})
        self.assertEqual(got, {"fail": {"count": 2, "status": 529,
                                        "retry_after": 3}})
        for left in (1, 0):
            s, h, raw = self.fake.messages(msg("hi", stream=True))
            self.assertEqual(s, 529)
            self.assertEqual(h["retry-after"], "3")
            e = json.loads(raw)
            self.assertEqual(e["error"], {"type": "overloaded_error",
                                          "message": "Overloaded"})
            faults = json.loads(self.fake.request("GET", "/_fake/faults")[2])
            self.assertEqual(faults.get("fail", {}).get("count", 0), left)
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)
        st = self.fake.stats()
        self.assertEqual((st["injected"], st["status"]),
                         (2, {"529": 2, "200": 1}))

    def test_fail_with_other_statuses(self):
        for status, etype in [(500, "api_error"), (429, "rate_limit_error"),
                              (403, "permission_error")]:
            self.fake.faults({"fail": {"status": status}})  # count: 1
            s, h, raw = self.fake.messages(msg("hi"))
            self.assertEqual(s, status)
            self.assertEqual(json.loads(raw)["error"]["type"], etype)
            self.assertNotIn("retry-after", h)
            self.assertEqual(self.fake.messages(msg("hi"))[0], 200)

    def test_error_event_midway(self):
        self.fake.faults({"stream_error": {"after": 2}})
        s, _, raw = self.fake.messages(msg("one two three four five",
                                           stream=True))
        self.assertEqual(s, 200)
        ev = parse_sse(raw)
        self.assertEqual([e for e, _ in ev],
                         ["message_start", "content_block_start", "ping",
                          "content_block_delta", "content_block_delta",
                          "error"])
        self.assertEqual(ev[-1][1], {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}})
        self.assertIn(b'data: {"type": "error", "error": {"type": '
                      b'"overloaded_error", "message": "Overloaded"}}', raw)
        # Non-streaming requests are not affected, and the count is spent.
        self.fake.faults({"stream_error": {"after": 0, "count": -1,
                                           "type": "api_error"}})
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)
        for _ in range(2):
            ev = parse_sse(self.fake.messages(msg("hi", stream=True))[2])
            self.assertEqual([e for e, _ in ev][-2:], ["ping", "error"])
            self.assertEqual(ev[-1][1]["error"]["type"], "api_error")
        st = self.fake.stats()
        self.assertEqual(st["streams"]["error_events"], 3)
        self.assertEqual(st["streams"]["completed"], 0)
        # What the clients were told: a cut stream's output is the
        # placeholder 1 of its start; "Hello! You said: hi" is 5.
        self.assertEqual(st["tokens"]["output"], 1 + 5 + 1 + 1)

    def test_slow_first_byte(self):
        self.fake.faults({"slow_first_byte": {"delay_ms": 600}})
        t0 = time.monotonic()
        s, _, _ = self.fake.messages(msg("hi", stream=True))
        self.assertEqual(s, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.6)
        self.assertEqual(json.loads(self.fake.request(
            "GET", "/_fake/faults")[2]), {})
        # A non-streaming reply waits too.
        self.fake.faults({"slow_first_byte": {"delay_ms": 300}})
        t0 = time.monotonic()
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_slow_first_byte_jitter(self):
        # Each request waits delay_ms plus its own 0..jitter_ms.
        self.fake.faults({"slow_first_byte": {"delay_ms": 100,
                                              "jitter_ms": 300,
                                              "count": -1}})
        took = []
        for _ in range(8):
            t0 = time.monotonic()
            self.assertEqual(self.fake.messages(msg("hi"))[0], 200)
            took.append(time.monotonic() - t0)
        self.assertGreaterEqual(min(took), 0.1)
        self.assertLess(max(took), 0.4 + 0.5)  # the slack is the machine's
        # Not one fixed delay: eight draws from 0..300 ms differ by more
        # than 20 ms unless the jitter was ignored (chance: ~5e-8).
        self.assertGreater(max(took) - min(took), 0.02)
        self.assertEqual(json.loads(self.fake.request(
            "GET", "/_fake/faults")[2])["slow_first_byte"],
            {"count": -1, "delay_ms": 100, "jitter_ms": 300})

    def test_reset_midway(self):
        self.fake.faults({"reset": {"after": 2}})
        got, how = raw_request(self.fake.port, msg("one two three four",
                                                   stream=True))
        self.assertEqual(how, "reset")
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        text = dechunk(body).decode()
        self.assertEqual(text.count("event: content_block_delta"), 2)
        self.assertNotIn("message_stop", text)
        wait_until(lambda: self.fake.stats()["streams"]["in_flight"] == 0)
        self.assertEqual(self.fake.stats()["streams"]["resets"], 1)
        # The server goes on serving.
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)

    def test_reset_before_answering(self):
        self.fake.faults({"reset": {"count": 2}})  # after: 0
        for body in (msg("hi"), msg("hi", stream=True)):
            got, how = raw_request(self.fake.port, body)
            self.assertEqual((got, how), (b"", "reset"))
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)

    def test_bad_fault_sets(self):
        for body, want in [({"fail": {"status": 700}}, "faults.fail.status"),
                           ({"reset": {"delay_ms": 5}},
                            "faults.reset.delay_ms: unknown member"),
                           ({"explode": {}}, "faults.explode: unknown member"),
                           ({"slow_first_byte": {"jitter_ms": -1}},
                            "faults.slow_first_byte.jitter_ms"),
                           ("[", "")]:
            s, _, raw = self.fake.post("/_fake/faults", body)
            self.assertEqual(s, 400)
            self.assertIn(want, json.loads(raw)["error"])
        self.assertEqual(self.fake.request("GET", "/_fake/nothing")[0], 404)

    def test_client_hangs_up_midstream(self):
        f = self.start({"stream": {"gap_ms": 100}})
        data = json.dumps(msg("a b c d e f g h i j k l", stream=True))
        s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
        head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
        head += "".join("%s: %s\r\n" % kv for kv in HEADERS.items())
        head += "content-length: %d\r\n\r\n" % len(data)
        s.sendall(head.encode() + data.encode())
        got = b""
        while b"message_start" not in got:
            got += s.recv(4096)
        s.close()
        wait_until(lambda: f.stats()["streams"]["client_closed"] == 1)
        st = f.stats()
        self.assertEqual(st["streams"]["in_flight"], 0)
        self.assertEqual(st["streams"]["completed"], 0)


class Shutdown(FakeTest):
    def test_sigterm_with_replies_in_flight(self):
        f = self.start({"stream": {"gap_ms": 500},
                        "faults": {"slow_first_byte": {"delay_ms": 20000}}})
        socks = []
        for body in (msg("slow"), msg("a b c d e f", stream=True)):
            data = json.dumps(body)
            s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
            head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            head += "".join("%s: %s\r\n" % kv for kv in HEADERS.items())
            head += "content-length: %d\r\n\r\n" % len(data)
            s.sendall(head.encode() + data.encode())
            socks.append(s)
        wait_until(lambda: f.stats()["streams"]["in_flight"] == 2)
        f.stop()  # exits 0; under the sanitizers, without a leak
        for s in socks:
            s.close()


class FromConfig(FakeTest):
    config = {"faults": {"fail": {"status": 529, "count": 1},
                         "stream_error": {"after": 1, "count": -1}}}

    def test_config_faults(self):
        self.assertEqual(self.fake.messages(msg("hi"))[0], 529)
        self.assertEqual(self.fake.messages(msg("hi"))[0], 200)
        for _ in range(2):
            ev = parse_sse(self.fake.messages(msg("one two three",
                                                  stream=True))[2])
            self.assertEqual(ev[-1][0], "error")
        # Replacing the set turns off what it does not name.
        self.fake.faults({})
        ev = parse_sse(self.fake.messages(msg("hi", stream=True))[2])
        self.assertEqual(ev[-1][0], "message_stop")


if __name__ == "__main__":
    unittest.main(verbosity=2)
