"""POST /v1/messages and count_tokens: the stream's structure against the
recorded API streams, usage (cumulative in streams, the counting rule,
prompt caching), tool use, and the non-streaming message."""
import json
import re
import threading
import time
import unittest

from fulib import (FakeTest, fixture, msg, parse_sse, shape, tokens)

WEATHER = {"name": "get_weather", "description": "Weather of a city",
           "input_schema": {"type": "object",
                            "properties": {"location": {"type": "string"}},
                            "required": ["location"]}}


def rule_bytes(body):
    """The documented counting rule, independently: bytes of tools (compact
    JSON), system, and every message's text, tool inputs and results."""
    def dumps(v):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    def content(c):
        if isinstance(c, str):
            return len(c.encode())
        n = 0
        for b in c:
            t = b.get("type")
            if t == "text":
                n += len(b["text"].encode())
            elif t == "tool_use":
                n += len(dumps(b["input"]).encode())
            elif t == "tool_result":
                n += content(b.get("content", []))
            else:
                n += len(dumps(b).encode())
        return n
    n = sum(len(dumps(t).encode()) for t in body.get("tools", []))
    n += content(body.get("system", []))
    return n + sum(content(m["content"]) for m in body["messages"])


class Stream(FakeTest):
    def stream(self, body, path="/v1/messages"):
        s, h, raw = self.fake.post(path, dict(body, stream=True))
        self.assertEqual(s, 200, raw)
        self.assertEqual(h["content-type"], "text/event-stream; charset=utf-8")
        return parse_sse(raw)

    def test_text_stream_matches_the_recorded_one(self):
        ref = fixture("basic_response.txt")
        ev = self.stream(msg("say hi there to my dear friend"))
        self.assertEqual(shape(ev), shape(ref))
        self.assertGreaterEqual(
            sum(e == "content_block_delta" for e, _ in ev), 3)
        # Every event carries the keys the recorded one carries.
        for (e, d), (re_, rd) in zip(ev, ref):
            if e == re_ and e != "content_block_delta":
                self.assertLessEqual(set(rd), set(d), e)
        self.assertEqual(ev[2][1], {"type": "ping"})

    def test_tool_stream_matches_the_recorded_one(self):
        ref = fixture("tool_use_response.txt")
        ev = self.stream(msg('fake:tool get_weather {"location": "Paris"}',
                             tools=[WEATHER]))
        self.assertEqual(shape(ev), shape(ref))
        ref_usage = ref[0][1]["message"]["usage"]
        usage = ev[0][1]["message"]["usage"]
        self.assertEqual(set(usage), set(ref_usage))
        self.assertEqual(set(ev[0][1]["message"]), set(ref[0][1]["message"]))
        starts = [d["content_block"] for e, d in ev
                  if e == "content_block_start"]
        ref_starts = [d["content_block"] for e, d in ref
                      if e == "content_block_start"]
        self.assertEqual([set(b) for b in starts],
                         [set(b) for b in ref_starts])
        tool = starts[1]
        self.assertRegex(tool["id"], r"^toolu_[0-9A-Za-z]{24}$")
        self.assertEqual(tool["name"], "get_weather")
        parts = [d["delta"]["partial_json"] for e, d in ev
                 if e == "content_block_delta" and d["index"] == 1]
        self.assertEqual(parts[0], "")  # as recorded
        self.assertGreater(len(parts), 2)
        self.assertEqual(json.loads("".join(parts)), {"location": "Paris"})
        self.assertEqual(ev[-2][1]["delta"]["stop_reason"], "tool_use")

    def test_usage_is_cumulative(self):
        body = msg("count these words for me please")
        ev = self.stream(body)
        start = ev[0][1]["message"]
        self.assertRegex(start["id"], r"^msg_[0-9A-Za-z]{24}$")
        self.assertEqual(start["usage"]["output_tokens"], 1)
        text = "".join(d["delta"]["text"] for e, d in ev
                       if e == "content_block_delta")
        final = ev[-2][1]
        self.assertEqual(ev[-2][0], "message_delta")
        self.assertEqual(final["usage"], {"output_tokens":
                                          tokens(len(text.encode()))})
        self.assertEqual(start["usage"]["input_tokens"],
                         8 + tokens(rule_bytes(body)))
        self.assertEqual(final["delta"], {"stop_reason": "end_turn",
                                          "stop_sequence": None})
        self.assertEqual(ev[-1], ("message_stop", {"type": "message_stop"}))
        st = self.fake.stats()
        self.assertEqual(st["tokens"]["output"], tokens(len(text.encode())))
        self.assertEqual(st["tokens"]["input"], start["usage"]["input_tokens"])

    def test_beta_query_and_tool_turn(self):
        body = msg("x", tools=[WEATHER])
        body["messages"] = [
            {"role": "user", "content": "fake:tool get_weather"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"location": "fake"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": "sunny"}]}]
        ev = self.stream(body, "/v1/messages?beta=true")
        self.assertEqual(ev[-2][1]["delta"]["stop_reason"], "end_turn")
        self.assertNotIn("tool_use", json.dumps(ev[1][1]))
        self.assertEqual(ev[0][1]["message"]["usage"]["input_tokens"],
                         8 + tokens(rule_bytes(body)))

    def test_events_arrive_over_time(self):
        f = self.start({"stream": {"gap_ms": 40}})
        c = f.conn()
        c.request("POST", "/v1/messages",
                  json.dumps(msg("one two three four", stream=True)),
                  {"x-api-key": "k", "anthropic-version": "2023-06-01"})
        r = c.getresponse()
        seen = []
        while True:
            line = r.fp.readline()  # chunk sizes and payload lines alike
            if not line:
                break
            if line.startswith(b"event: "):
                seen.append(time.monotonic())
            if line.startswith(b"0\r\n"):
                break
        c.close()
        self.assertGreaterEqual(len(seen), 9)
        # Nine gaps of 40 ms: written piece by piece, not at once.
        self.assertGreater(seen[-1] - seen[0], 0.8 * 0.040 * (len(seen) - 1))


class Whole(FakeTest):
    def test_message_object(self):
        body = msg("hello   there\n\nfriend")
        s, h, raw = self.fake.messages(body)
        self.assertEqual(s, 200)
        self.assertEqual(h["content-type"], "application/json")
        m = json.loads(raw)
        self.assertRegex(m["id"], r"^msg_[0-9A-Za-z]{24}$")
        self.assertEqual((m["type"], m["role"], m["model"]),
                         ("message", "assistant", "claude-test"))
        self.assertEqual(m["content"], [{"type": "text", "text":
                                         "Hello! You said: hello there friend"}])
        self.assertEqual((m["stop_reason"], m["stop_sequence"]),
                         ("end_turn", None))
        self.assertEqual(m["usage"], {
            "input_tokens": 8 + tokens(rule_bytes(body)),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": tokens(len(m["content"][0]["text"])),
            "service_tier": "standard"})
        self.assertRegex(h["request-id"], r"^req_011C[0-9A-Za-z]{20}$")

    def test_count_tokens_follows_the_rule(self):
        body = msg("ignored", tools=[WEATHER],
                   system=[{"type": "text", "text": "be brief"}])
        body["messages"] = [
            {"role": "user", "content": [{"type": "text", "text": "héllo"},
                                         {"type": "image", "source": {
                                             "type": "base64", "data": "AA"}}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "get_weather",
                 "input": {"location": "Zürich"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t",
                 "content": [{"type": "text", "text": "cold"}]}]}]
        want = 8 + tokens(rule_bytes(body))
        s, h, raw = self.fake.post("/v1/messages/count_tokens",
                                   {k: v for k, v in body.items()
                                    if k != "max_tokens"})
        self.assertEqual(s, 200, raw)
        self.assertEqual(json.loads(raw), {"input_tokens": want})
        self.assertIn("anthropic-ratelimit-tokens-remaining", h)
        s, _, raw = self.fake.messages(body)
        self.assertEqual(json.loads(raw)["usage"]["input_tokens"], want)
        self.assertEqual(self.fake.stats()["count_tokens"], 1)

    def test_prompt_cache(self):
        system = [{"type": "text", "text": "S" * 4000,
                   "cache_control": {"type": "ephemeral"}}]
        body = msg("first question", system=system)
        total = 8 + tokens(rule_bytes(body))
        u1 = json.loads(self.fake.messages(body)[2])["usage"]
        self.assertEqual((u1["cache_creation_input_tokens"],
                          u1["cache_read_input_tokens"]), (1000, 0))
        self.assertEqual(u1["input_tokens"], total - 1000)
        u2 = json.loads(self.fake.messages(body)[2])["usage"]
        self.assertEqual((u2["cache_creation_input_tokens"],
                          u2["cache_read_input_tokens"]), (0, 1000))
        # A longer conversation with a later breakpoint reads the old
        # prefix and writes the rest.
        body["messages"] = [
            {"role": "user", "content": [{"type": "text", "text": "Q" * 400,
                                          "cache_control": {"type": "x"}}]},
            {"role": "assistant", "content": "A" * 40},
            {"role": "user", "content": "next"}]
        u3 = json.loads(self.fake.messages(body)[2])["usage"]
        self.assertEqual((u3["cache_read_input_tokens"],
                          u3["cache_creation_input_tokens"]), (1000, 100))
        total = 8 + tokens(rule_bytes(body))
        self.assertEqual(u3["input_tokens"] + 1100, total)
        s, _, raw = self.fake.post("/v1/messages/count_tokens", body)
        self.assertEqual(json.loads(raw)["input_tokens"], total)
        st = self.fake.stats()["tokens"]
        self.assertEqual((st["cache_creation_input"], st["cache_read_input"]),
                         (1100, 2000))

    def test_output_size_and_max_tokens(self):
        m = json.loads(self.fake.messages(msg("fake:tokens 300"))[2])
        self.assertEqual(m["usage"]["output_tokens"], 300)
        self.assertEqual(len(m["content"][0]["text"]), 1200)
        m = json.loads(self.fake.messages(
            msg("fake:tokens 300", max_tokens=10))[2])
        self.assertEqual(m["usage"]["output_tokens"], 10)
        self.assertEqual(m["stop_reason"], "max_tokens")
        self.assertEqual(len(m["content"][0]["text"]), 40)

    def test_tool_use_message(self):
        m = json.loads(self.fake.messages(
            msg("please fake:tool get_weather", tools=[WEATHER]))[2])
        self.assertEqual(m["stop_reason"], "tool_use")
        text, tool = m["content"]
        self.assertEqual(text, {"type": "text", "text": "Calling get_weather."})
        self.assertEqual(tool["type"], "tool_use")
        self.assertEqual(tool["input"], {"location": "fake"})
        self.assertRegex(tool["id"], r"^toolu_")
        want = tokens(len(text["text"])) + tokens(
            len("get_weather") + len('{"location":"fake"}'))
        self.assertEqual(m["usage"]["output_tokens"], want)
        # An unknown tool name: plain text.
        m = json.loads(self.fake.messages(msg("fake:tool nope",
                                              tools=[WEATHER]))[2])
        self.assertEqual(m["stop_reason"], "end_turn")

    def test_structured_output(self):
        body = msg("title this", output_config={"format": {
            "type": "json_schema", "schema": {
                "type": "object", "properties": {"title": {"type": "string"}},
                "required": ["title"]}}})
        m = json.loads(self.fake.messages(body)[2])
        self.assertEqual(json.loads(m["content"][0]["text"]),
                         {"title": "fake"})

    def test_concurrent_streams(self):
        results = []

        def one(i):
            s, _, raw = self.fake.messages(msg("stream %d" % i, stream=True))
            results.append((s, parse_sse(raw)[-1][0]))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [(200, "message_stop")] * 24)
        st = self.fake.stats()
        self.assertEqual((st["streams"]["started"], st["streams"]["completed"],
                          st["streams"]["in_flight"]), (24, 24, 0))


class Configured(FakeTest):
    config = {"reply": "Fixed reply text.", "tool_use": True,
              "stream": {"delta_input_usage": True, "delta_bytes": 4},
              "cache": False}

    def test_fixed_reply_and_tool_use(self):
        m = json.loads(self.fake.messages(msg("anything"))[2])
        self.assertEqual(m["content"][0]["text"], "Fixed reply text.")
        m = json.loads(self.fake.messages(msg("anything",
                                              tools=[WEATHER]))[2])
        self.assertEqual(m["content"][1]["name"], "get_weather")

    def test_delta_repeats_input_usage(self):
        s, _, raw = self.fake.messages(msg("hello", stream=True))
        ev = parse_sse(raw)
        start = ev[0][1]["message"]["usage"]
        final = ev[-2][1]["usage"]
        self.assertEqual(final["input_tokens"], start["input_tokens"])
        self.assertIn("cache_read_input_tokens", final)
        self.assertTrue(all(len(d["delta"]["text"].encode()) <= 4
                            for e, d in ev if e == "content_block_delta"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
