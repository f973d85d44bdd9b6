"""GET /_fake/stats "by_key": the requests each API key made and the
tokens its clients were told, by exactly the rule of the global "tokens"
(a cut stream: what it showed), for both APIs, under concurrency."""
import json
import threading
import unittest

from fulib import HEADERS, FakeTest, msg, parse_chunks, parse_sse

ZERO = {"input": 0, "output": 0, "cache_creation_input": 0,
        "cache_read_input": 0}


def key(k):
    return dict(HEADERS, **{"x-api-key": k})


def bearer(k):
    return {"authorization": "Bearer " + k,
            "content-type": "application/json"}


def told(usage):
    """A message's usage in the stats' words."""
    return {"input": usage["input_tokens"],
            "output": usage["output_tokens"],
            "cache_creation_input": usage["cache_creation_input_tokens"],
            "cache_read_input": usage["cache_read_input_tokens"]}


def add(a, b):
    return {k: a[k] + b[k] for k in a}


class ByKey(FakeTest):
    config = {"stream": {"gap_ms": 1}}

    def test_each_key_what_it_was_told(self):
        f = self.fake
        want = {}
        # A plain message, and one with a prompt cache.
        sys_ = [{"type": "text", "text": "rules " * 50,
                 "cache_control": {"type": "ephemeral"}}]
        u = json.loads(f.messages(msg("hi"), headers=key("a"))[2])["usage"]
        want["a"] = told(u)
        for _ in range(2):
            u = json.loads(f.messages(msg("hi", system=sys_),
                                      headers=key("a"))[2])["usage"]
            want["a"] = add(want["a"], told(u))
        self.assertGreater(want["a"]["cache_read_input"], 0)
        # A stream: its message_start and message_delta.
        ev = parse_sse(f.messages(msg("fake:tokens 30", stream=True),
                                  headers=key("b"))[2])
        u = dict(ev[0][1]["message"]["usage"])
        u["output_tokens"] = ev[-2][1]["usage"]["output_tokens"]
        want["b"] = told(u)
        # A bearer token on the Anthropic path is the key too.
        u = json.loads(f.messages(msg("hi"), headers=dict(
            bearer("c"), **{"anthropic-version": "2023-06-01"}))[2])["usage"]
        want["c"] = told(u)
        # count_tokens, a 404 and a bad request: requests, no tokens.
        f.post("/v1/messages/count_tokens", msg("hi"), headers=key("d"))
        f.post("/v1/nothing", {}, headers=key("d"))
        f.messages({"model": "m"}, headers=key("d"))
        # A cut stream: what its message_start showed.
        f.faults({"stream_error": {"after": 1}})
        ev = parse_sse(f.messages(msg("one two three four", stream=True),
                                  headers=key("e"))[2])
        self.assertEqual(ev[-1][0], "error")
        want["e"] = told(ev[0][1]["message"]["usage"])
        self.assertEqual(want["e"]["output"], 1)
        # OpenAI: the usage chunk tells, a stream without one does not.
        chunks = parse_chunks(f.chat(
            {"model": "g", "stream": True,
             "stream_options": {"include_usage": True},
             "messages": [{"role": "user", "content": "hey"}]},
            headers=bearer("f"))[2])
        u = chunks[-1]["usage"]
        want["f"] = {"input": u["prompt_tokens"],
                     "output": u["completion_tokens"],
                     "cache_creation_input": 0, "cache_read_input": 0}
        f.chat({"model": "g", "stream": True,
                "messages": [{"role": "user", "content": "hey"}]},
               headers=bearer("g"))
        # No key: counted in the totals only.
        f.messages(msg("hi"), headers={k: v for k, v in HEADERS.items()
                                       if k != "x-api-key"})

        st = f.stats()
        by = st["by_key"]
        self.assertEqual(set(by), set("abcdefg"))
        self.assertEqual({k: v["requests"] for k, v in by.items()},
                         {"a": 3, "b": 1, "c": 1, "d": 3, "e": 1, "f": 1,
                          "g": 1})
        for k in "abcef":
            self.assertEqual(by[k]["tokens"], want[k], k)
        self.assertEqual(by["d"]["tokens"], ZERO)
        self.assertEqual(by["g"]["tokens"], ZERO)
        total = ZERO
        for v in by.values():
            total = add(total, v["tokens"])
        self.assertEqual(total, st["tokens"])
        self.assertEqual(st["requests"], 12)

    def test_x_api_key_wins_over_bearer(self):
        h = dict(key("x"), authorization="Bearer y")
        self.assertEqual(self.fake.messages(msg("hi"), headers=h)[0], 200)
        # OpenAI reads only the bearer token.
        self.assertEqual(self.fake.chat(
            {"model": "g", "messages": [{"role": "user", "content": "hi"}]},
            headers=dict(bearer("y"), **{"x-api-key": "x"}))[0], 200)
        by = self.fake.stats()["by_key"]
        self.assertEqual({k: v["requests"] for k, v in by.items()},
                         {"x": 1, "y": 1})
        self.assertGreater(by["x"]["tokens"]["input"], 0)
        self.assertGreater(by["y"]["tokens"]["input"], 0)

    def test_interleaved_streams(self):
        # Eight clients at once, each with its own key and output size.
        out = {}

        def one(i):
            ev = parse_sse(self.fake.messages(
                msg("fake:tokens %d" % (10 + i), stream=True),
                headers=key("k%d" % i))[2])
            u = dict(ev[0][1]["message"]["usage"])
            u["output_tokens"] = ev[-2][1]["usage"]["output_tokens"]
            out["k%d" % i] = told(u)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(out), 8)
        by = self.fake.stats()["by_key"]
        for k, u in out.items():
            self.assertEqual(by[k]["tokens"], u, k)
            self.assertEqual(u["output"], 10 + int(k[1:]))

    def test_refused_requests_cost_nothing(self):
        f = self.start({"limits": {"requests_per_minute": 1}})
        self.assertEqual(f.messages(msg("hi"), headers=key("r"))[0], 200)
        self.assertEqual(f.messages(msg("hi"), headers=key("s"))[0], 429)
        by = f.stats()["by_key"]
        self.assertEqual(by["s"], {"requests": 1, "tokens": ZERO})
        self.assertEqual(by["r"]["requests"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
