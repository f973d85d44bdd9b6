"""The token buckets: the anthropic-ratelimit-* headers, their decrease,
429 with retry-after once a bucket is empty, and recovery by refill."""
import calendar
import json
import re
import time
import unittest

from fulib import KINDS, FakeTest, msg, wait_until

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ratelimit(h):
    """{kind: (limit, remaining, reset as epoch seconds)}"""
    out = {}
    for k in KINDS:
        p = "anthropic-ratelimit-%s-" % k
        reset = h[p + "reset"]
        assert RFC3339.match(reset), reset
        out[k] = (int(h[p + "limit"]), int(h[p + "remaining"]),
                  calendar.timegm(time.strptime(reset, "%Y-%m-%dT%H:%M:%SZ")))
    return out


class Headers(FakeTest):
    config = {"limits": {"requests_per_minute": 60,
                         "input_tokens_per_minute": 100000,
                         "output_tokens_per_minute": 50000}}

    def test_every_answer_carries_them(self):
        for status, path, body in [(200, "/v1/messages", msg("hi")),
                                   (200, "/v1/messages/count_tokens",
                                    {"model": "m", "messages": [
                                        {"role": "user", "content": "x"}]}),
                                   (400, "/v1/messages", {"model": "m"}),
                                   (404, "/v1/other", {})]:
            s, h, _ = self.fake.post(path, body)
            self.assertEqual(s, status)
            rl = ratelimit(h)
            self.assertEqual(rl["requests"][0], 60)
            self.assertEqual(rl["input-tokens"][0], 100000)
            self.assertEqual(rl["output-tokens"][0], 50000)
            # The combined bucket defaults to the sum of its parts.
            self.assertEqual(rl["tokens"][0], 150000)
            for k in KINDS[1:]:
                self.assertEqual(rl[k][1] % 1000, 0, "rounded to thousands")
            now = time.time()
            for k in KINDS:
                self.assertGreaterEqual(rl[k][2], int(now) - 1)
                self.assertLessEqual(rl[k][2], now + 62)
        h = self.fake.post("/v1/messages", {"model": "m"})[1]
        self.assertRegex(h["request-id"], r"^req_")

    def test_remaining_decreases(self):
        # Each request: 8 + 5000 input tokens, far above the refill in
        # the few milliseconds between requests.
        seen = []
        for _ in range(5):
            s, h, _ = self.fake.messages(msg("x" * 20000))
            self.assertEqual(s, 200)
            seen.append(ratelimit(h))
        req = [r["requests"][1] for r in seen]
        inp = [r["input-tokens"][1] for r in seen]
        tok = [r["tokens"][1] for r in seen]
        self.assertEqual(req, [59, 58, 57, 56, 55])
        for a, b in zip(inp, inp[1:]):
            self.assertIn(a - b, (4000, 5000, 6000))
        self.assertTrue(all(a > b for a, b in zip(tok, tok[1:])), tok)
        self.assertEqual(inp[0], 94000)
        # A bucket that is not full resets in the future.
        self.assertGreater(seen[-1]["input-tokens"][2], time.time())


class Exhaustion(FakeTest):
    # 30000 input tokens a minute: 500 a second refill.
    config = {"limits": {"input_tokens_per_minute": 30000}}

    def test_429_then_recovery(self):
        body = msg("y" * 16000)        # 8 + 4000 input tokens
        for n in range(1, 20):
            s, h, raw = self.fake.messages(body)
            if s == 429:
                break
            self.assertEqual(s, 200)
        self.assertEqual(s, 429, "the bucket never emptied")
        self.assertGreaterEqual(n, 7)
        e = json.loads(raw)
        self.assertEqual(e["type"], "error")
        self.assertEqual(e["error"]["type"], "rate_limit_error")
        self.assertIn("input-tokens", e["error"]["message"])
        wait = int(h["retry-after"])
        self.assertGreaterEqual(wait, 1)
        self.assertLessEqual(wait, 9)  # at most 4008 tokens at 500/s
        self.assertLess(ratelimit(h)["input-tokens"][1], 4008)
        t0 = time.monotonic()
        # Refused requests cost nothing: polling does not dig deeper.
        s2, _, _ = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(
            self.fake.messages(body)), timeout=30, interval=0.1)
        waited = time.monotonic() - t0
        self.assertLessEqual(waited, wait + 1.5)
        self.assertGreater(waited, wait - 2.0)
        st = self.fake.stats()
        self.assertGreaterEqual(st["rate_limited"], 1)
        self.assertEqual(st["status"]["200"], n)

    def test_requests_bucket(self):
        f = self.start({"limits": {"requests_per_minute": 3}})
        statuses = [f.messages(msg("hi"))[0] for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 200, 429])
        s, h, raw = f.messages(msg("hi"))
        self.assertEqual(s, 429)
        self.assertIn("requests", json.loads(raw)["error"]["message"])
        self.assertGreater(int(h["retry-after"]), 10)  # one per 20 s
        self.assertEqual(ratelimit(h)["requests"][1], 0)

    def test_output_bucket(self):
        f = self.start({"limits": {"output_tokens_per_minute": 1000}})
        self.assertEqual(f.messages(msg("fake:tokens 900"))[0], 200)
        s, _, raw = f.messages(msg("fake:tokens 900"))
        self.assertEqual(s, 429)
        self.assertIn("output-tokens", json.loads(raw)["error"]["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
