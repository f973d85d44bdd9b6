"""POST /v1/chat/completions: OpenAI's request checks and error shape, the
completion and its stream (usage only with include_usage), the counting
shared with /v1/messages, the shared token buckets with OpenAI's
x-ratelimit-* headers and 429s, and the faults that apply to it."""
import json
import re
import time
import unittest

from fulib import (OPENAI_HEADERS, FakeTest, dechunk, msg, parse_chunks,
                   raw_request, tokens, wait_until)

WEATHER = {"type": "function",
           "function": {"name": "get_weather",
                        "description": "Weather of a city",
                        "parameters": {"type": "object",
                                       "properties": {
                                           "city": {"type": "string"}},
                                       "required": ["city"]}}}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens",
              "prompt_tokens_details", "completion_tokens_details"}
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s|(\d+)ms)$")


def chat(text, **kw):
    body = {"model": "gpt-test",
            "messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return body


def seconds(d):
    """A Go-style duration ("6m0s", "1.5s", "120ms") in seconds."""
    m = DURATION.match(d)
    assert m, "not a duration: %r" % d
    h, mi, s, ms = m.groups()
    return (int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0) +
            int(ms or 0) / 1000)


def ratelimit(h):
    """{"requests"|"tokens": (limit, remaining, reset seconds)}"""
    return {k: (int(h["x-ratelimit-limit-" + k]),
                int(h["x-ratelimit-remaining-" + k]),
                seconds(h["x-ratelimit-reset-" + k]))
            for k in ("requests", "tokens")}


class Completion(FakeTest):
    def test_shape(self):
        t0 = int(time.time())
        s, h, raw = self.fake.chat(chat("hello there friend"))
        self.assertEqual(s, 200, raw)
        self.assertEqual(h["content-type"], "application/json")
        self.assertRegex(h["x-request-id"], r"^req_[0-9A-Za-z]{32}$")
        self.assertNotIn("request-id", h)
        self.assertFalse([k for k in h if k.startswith("anthropic-")])
        c = json.loads(raw)
        self.assertRegex(c["id"], r"^chatcmpl-[0-9A-Za-z]{29}$")
        self.assertEqual(c["object"], "chat.completion")
        self.assertGreaterEqual(c["created"], t0)
        self.assertLessEqual(c["created"], time.time() + 1)
        self.assertEqual(c["model"], "gpt-test")
        self.assertEqual(len(c["choices"]), 1)
        ch = c["choices"][0]
        self.assertEqual((ch["index"], ch["finish_reason"]), (0, "stop"))
        self.assertEqual(ch["message"]["role"], "assistant")
        text = "Hello! You said: hello there friend"
        self.assertEqual(ch["message"]["content"], text)
        self.assertNotIn("tool_calls", ch["message"])
        u = c["usage"]
        self.assertEqual(set(u), USAGE_KEYS)
        self.assertEqual(u["prompt_tokens"], 8 + tokens(18))
        self.assertEqual(u["completion_tokens"], tokens(len(text)))
        self.assertEqual(u["total_tokens"],
                         u["prompt_tokens"] + u["completion_tokens"])
        self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 0)

    def test_counted_as_a_message_is(self):
        system = "You are terse. " * 20
        convo = [{"role": "user", "content": "first question"},
                 {"role": "assistant", "content": "first answer"},
                 {"role": "user", "content": [
                     {"type": "text", "text": "fake:tokens 40 more"}]}]
        s, _, raw = self.fake.messages(msg("", system=system,
                                           messages=convo))
        self.assertEqual(s, 200, raw)
        m = json.loads(raw)
        s, _, raw = self.fake.chat(chat("", messages=[
            {"role": "system", "content": system}] + convo))
        self.assertEqual(s, 200, raw)
        c = json.loads(raw)
        self.assertEqual(c["usage"]["prompt_tokens"],
                         m["usage"]["input_tokens"])
        self.assertEqual(c["usage"]["completion_tokens"], 40)
        self.assertEqual(c["usage"]["completion_tokens"],
                         m["usage"]["output_tokens"])
        self.assertEqual(c["choices"][0]["message"]["content"],
                         m["content"][0]["text"])
        st = self.fake.stats()
        self.assertEqual((st["messages"], st["chat_completions"]), (1, 1))

    def test_max_tokens(self):
        for key in ("max_tokens", "max_completion_tokens"):
            c = json.loads(self.fake.chat(chat("fake:tokens 50",
                                               **{key: 10}))[2])
            self.assertEqual(c["choices"][0]["finish_reason"], "length")
            self.assertEqual(c["usage"]["completion_tokens"], 10)
            self.assertEqual(len(c["choices"][0]["message"]["content"]), 40)
        c = json.loads(self.fake.chat(chat("fake:tokens 5000"))[2])
        self.assertEqual(c["usage"]["completion_tokens"], 5000, "no limit")

    def test_tool_call_and_its_result(self):
        s, _, raw = self.fake.chat(chat("fake:tool get_weather",
                                        tools=[WEATHER]))
        self.assertEqual(s, 200, raw)
        ch = json.loads(raw)["choices"][0]
        self.assertEqual(ch["finish_reason"], "tool_calls")
        call = ch["message"]["tool_calls"][0]
        self.assertRegex(call["id"], r"^call_[0-9A-Za-z]{24}$")
        self.assertEqual(call["type"], "function")
        self.assertEqual(call["function"]["name"], "get_weather")
        self.assertEqual(json.loads(call["function"]["arguments"]),
                         {"city": "fake"})
        turn = chat("fake:tool get_weather", tools=[WEATHER])
        turn["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"],
             "content": "sunny"}]
        s, _, raw = self.fake.chat(turn)
        self.assertEqual(s, 200, raw)
        c = json.loads(raw)
        self.assertEqual(c["choices"][0]["message"]["content"],
                         "Done: the tool returned its result.")
        self.assertEqual(c["choices"][0]["finish_reason"], "stop")
        # The call's arguments and the result count as input.
        nbytes = (len(json.dumps(WEATHER, separators=(",", ":"))) +
                  len("fake:tool get_weather") +
                  len(call["function"]["arguments"]) + len("sunny"))
        self.assertEqual(c["usage"]["prompt_tokens"], 8 + tokens(nbytes))

    def test_json_schema_response_format(self):
        fmt = {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {
                "type": "object", "required": ["n", "ok"],
                "properties": {"n": {"type": "integer"},
                               "ok": {"type": "boolean"}}}}}
        c = json.loads(self.fake.chat(chat("count", response_format=fmt))[2])
        self.assertEqual(json.loads(c["choices"][0]["message"]["content"]),
                         {"n": 1, "ok": True})

    def test_automatic_cache(self):
        # Like OpenAI: no cache_control, prompts of 1024 tokens or more,
        # reads in steps of 128; cached tokens are inside prompt_tokens.
        long_ = "word " * 1000                    # 1250 tokens of text
        first = chat(long_)
        u1 = json.loads(self.fake.chat(first)[2])["usage"]
        self.assertEqual(u1["prompt_tokens_details"]["cached_tokens"], 0)
        follow = chat(long_)
        follow["messages"] += [{"role": "assistant", "content": "ok"},
                               {"role": "user", "content": "and then?"}]
        u2 = json.loads(self.fake.chat(follow)[2])["usage"]
        cached = u2["prompt_tokens_details"]["cached_tokens"]
        self.assertEqual(cached, 1250 // 128 * 128)
        self.assertEqual(u2["prompt_tokens"], 8 + tokens(5000 + 2 + 9))
        # Short prompts are never read from the cache.
        for _ in range(2):
            u = json.loads(self.fake.chat(chat("short"))[2])["usage"]
            self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 0)
        # What clients were told: cached tokens apart, no cache writes.
        st = self.fake.stats()["tokens"]
        self.assertEqual(st["cache_read_input"], cached)
        self.assertEqual(st["cache_creation_input"], 0)
        self.assertEqual(st["input"], u1["prompt_tokens"] +
                         u2["prompt_tokens"] - cached + 2 * (8 + 2))

    def test_cache_off(self):
        f = self.start({"cache": False})
        body = chat("word " * 1000)
        for _ in range(2):
            u = json.loads(f.chat(body)[2])["usage"]
            self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 0)


class Stream(FakeTest):
    config = {"stream": {"delta_bytes": 8}}

    def stream(self, body):
        s, h, raw = self.fake.chat(dict(body, stream=True))
        self.assertEqual(s, 200, raw)
        self.assertEqual(h["content-type"], "text/event-stream; charset=utf-8")
        self.assertIn("x-ratelimit-remaining-tokens", h)
        self.assertTrue(raw.endswith(b"data: [DONE]\n\n"), raw[-100:])
        return parse_chunks(raw)

    def common(self, chunks):
        ids = {c["id"] for c in chunks}
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids.pop(), r"^chatcmpl-")
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["model"], "gpt-test")
            self.assertIsInstance(c["created"], int)

    def test_without_usage(self):
        chunks = self.stream(chat("one two three four five six"))
        self.common(chunks)
        self.assertGreaterEqual(len(chunks), 5)
        for c in chunks:
            self.assertNotIn("usage", c)
            self.assertEqual(len(c["choices"]), 1)
        first = chunks[0]["choices"][0]
        self.assertEqual(first["delta"]["role"], "assistant")
        self.assertEqual(first["delta"]["content"], "")
        self.assertIsNone(first["finish_reason"])
        text = "".join(c["choices"][0]["delta"].get("content", "")
                       for c in chunks)
        self.assertEqual(text, "Hello! You said: one two three four five six")
        self.assertTrue(all(len(c["choices"][0]["delta"].get("content", ""))
                            <= 8 for c in chunks))
        last = chunks[-1]["choices"][0]
        self.assertEqual((last["delta"], last["finish_reason"]), ({}, "stop"))
        self.assertTrue(all(c["choices"][0]["finish_reason"] is None
                            for c in chunks[:-1]))
        st = self.fake.stats()
        self.assertEqual(st["streams"]["started"], 1)
        self.assertEqual(st["streams"]["completed"], 1)
        self.assertEqual(st["streams"]["without_usage"], 1)
        # Told nothing, so counted nothing.
        self.assertEqual(st["tokens"], {"input": 0, "output": 0,
                                        "cache_creation_input": 0,
                                        "cache_read_input": 0})

    def test_include_usage(self):
        body = chat("one two three four", stream_options={
            "include_usage": True})
        chunks = self.stream(body)
        self.common(chunks)
        *content, finish, usage = chunks
        for c in content + [finish]:
            self.assertIsNone(c["usage"])
            self.assertEqual(len(c["choices"]), 1)
        self.assertEqual(finish["choices"][0]["finish_reason"], "stop")
        self.assertEqual(usage["choices"], [])
        whole = json.loads(self.fake.chat(chat("one two three four"))[2])
        self.assertEqual(usage["usage"], whole["usage"])
        u = usage["usage"]
        st = self.fake.stats()
        self.assertEqual(st["streams"]["without_usage"], 0)
        self.assertEqual(st["tokens"]["input"], 2 * u["prompt_tokens"])
        self.assertEqual(st["tokens"]["output"], 2 * u["completion_tokens"])

    def test_tool_call_stream(self):
        chunks = self.stream(chat('fake:tool get_weather {"city": "Oslo"}',
                                  tools=[WEATHER]))
        calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                 if "tool_calls" in c["choices"][0]["delta"]]
        self.assertEqual(calls[0]["index"], 0)
        self.assertRegex(calls[0]["id"], r"^call_")
        self.assertEqual(calls[0]["function"]["name"], "get_weather")
        args = "".join(c["function"]["arguments"] for c in calls)
        self.assertEqual(json.loads(args), {"city": "Oslo"})
        self.assertGreater(len(calls), 2)
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"],
                         "tool_calls")


class Errors(FakeTest):
    def error(self, status, body, headers=None, method="POST"):
        s, h, raw = self.fake.request(method, "/v1/chat/completions", body,
                                      OPENAI_HEADERS if headers is None
                                      else headers)
        self.assertEqual(s, status, raw)
        self.assertEqual(h["content-type"], "application/json")
        self.assertIn("x-ratelimit-remaining-requests", h)
        self.assertIn("x-request-id", h)
        e = json.loads(raw)
        self.assertEqual(set(e), {"error"})
        self.assertEqual(set(e["error"]), {"message", "type", "param",
                                           "code"})
        return e["error"]

    def test_no_bearer_key(self):
        for h in ({"content-type": "application/json"},
                  {"x-api-key": "sk-test"},
                  {"authorization": "Basic abc"}):
            e = self.error(401, chat("hi"), headers=h)
            self.assertEqual((e["type"], e["param"], e["code"]),
                             ("invalid_request_error", None, None))
            self.assertIn("You didn't provide an API key", e["message"])
        self.assertEqual(self.fake.stats()["status"], {"401": 3})

    def test_wrong_key(self):
        f = self.start({"api_key": "sk-right-key-0001"})
        s, _, raw = f.chat(chat("hi"), headers={
            "authorization": "Bearer sk-wrong-key-9999"})
        self.assertEqual(s, 401)
        e = json.loads(raw)["error"]
        self.assertEqual(e["code"], "invalid_api_key")
        self.assertNotIn("sk-wrong-key-9999", e["message"])
        self.assertEqual(f.chat(chat("hi"), headers={
            "authorization": "Bearer sk-right-key-0001"})[0], 200)

    def test_invalid_bodies(self):
        cases = [
            ("{not json", None, None, "We could not parse the JSON body"),
            ("", None, None, "We could not parse the JSON body"),
            ([1], "body", "invalid_type", "expected an object"),
            ({"messages": [{"role": "user", "content": "x"}]}, None, None,
             "you must provide a model parameter"),
            (chat("x", model=5), "model", "invalid_type",
             "Invalid type for 'model': expected a string, but got an "
             "integer instead."),
            ({"model": "m"}, "messages", "missing_required_parameter",
             "Missing required parameter: 'messages'."),
            (chat("x", messages="hi"), "messages", "invalid_type",
             "expected an array"),
            (chat("x", messages=[]), "messages", "empty_array",
             "Invalid 'messages': empty array."),
            (chat("x", messages=[{"content": "x"}]), "messages[0].role",
             "missing_required_parameter", "'messages[0].role'"),
            (chat("x", messages=[{"role": "robot", "content": "x"}]),
             "messages[0].role", "invalid_value", "Invalid value: 'robot'"),
            (chat("x", messages=[{"role": "user"}]), "messages[0].content",
             "missing_required_parameter", "'messages[0].content'"),
            (chat("x", messages=[{"role": "user", "content": [{}]}]),
             "messages[0].content[0].type", "missing_required_parameter",
             "'messages[0].content[0].type'"),
            (chat("x", messages=[{"role": "tool", "content": "r"}]),
             "messages[0].tool_call_id", "missing_required_parameter",
             "'messages[0].tool_call_id'"),
            (chat("x", stream="yes"), "stream", "invalid_type",
             "expected a boolean, but got a string"),
            (chat("x", stream_options={"include_usage": True}),
             "stream_options", None, "only allowed when 'stream' is"),
            (chat("x", max_tokens=0), "max_tokens", "integer_below_min_value",
             "Expected a value >= 1, but got 0 instead."),
            (chat("x", max_completion_tokens="5"), "max_completion_tokens",
             "invalid_type", "expected an integer"),
            (chat("x", tools=[{"type": "function"}]), "tools[0].function",
             "missing_required_parameter", "'tools[0].function'"),
        ]
        for body, param, code, text in cases:
            with self.subTest(body=body):
                e = self.error(400, body)
                self.assertEqual(e["type"], "invalid_request_error")
                self.assertEqual((e["param"], e["code"]), (param, code))
                self.assertIn(text, e["message"])
        st = self.fake.stats()
        self.assertEqual(st["status"], {"400": len(cases)})
        self.assertEqual(st["tokens"]["input"], 0)

    def test_method(self):
        e = self.error(405, None, method="GET")
        self.assertEqual(e["type"], "invalid_request_error")


class RateLimits(FakeTest):
    config = {"limits": {"requests_per_minute": 60,
                         "tokens_per_minute": 100000}}

    def test_headers_and_their_decrease(self):
        s, h, _ = self.fake.chat(chat("hi"), headers={})   # 401 has them
        self.assertEqual(s, 401)
        self.assertEqual(ratelimit(h), {"requests": (60, 60, 0.0),
                                        "tokens": (100000, 100000, 0.0)})
        self.assertEqual(h["x-ratelimit-reset-requests"], "0s")
        seen = []
        for _ in range(4):
            s, h, raw = self.fake.chat(chat("x" * 4000))
            self.assertEqual(s, 200)
            seen.append((ratelimit(h), json.loads(raw)["usage"]))
        self.assertEqual([r["requests"][1] for r, _ in seen], [59, 58, 57, 56])
        total = seen[0][1]["total_tokens"]
        self.assertEqual(total, 8 + 1000 + tokens(len("Hello! You said: ") +
                                                  200))
        # Remaining tokens are exact (not in thousands), less what refilled.
        rem = [r["tokens"][1] for r, _ in seen]
        self.assertLessEqual(rem[0], 100000 - total)
        self.assertGreater(rem[0], 100000 - total - 100)
        for a, b in zip(rem, rem[1:]):
            self.assertLessEqual(a - b, total)
            self.assertGreater(a - b, total - 100)
        # Resets: the time until the bucket is full; one request a second.
        r = seen[-1][0]
        self.assertGreater(r["requests"][2], 3.5)
        self.assertLessEqual(r["requests"][2], 4.0)
        self.assertAlmostEqual(r["tokens"][2], 4 * total * 60 / 100000,
                               delta=0.2)

    def test_duration_spelling(self):
        # One request of 500 a minute is 120 ms to refill; one of 1 a
        # minute a whole minute.
        f = self.start({"limits": {"requests_per_minute": 500}})
        h = f.chat(chat("hi"))[1]
        self.assertRegex(h["x-ratelimit-reset-requests"], r"^1[12]\dms$")
        f = self.start({"limits": {"requests_per_minute": 1}})
        h = f.chat(chat("hi"))[1]
        self.assertRegex(h["x-ratelimit-reset-requests"],
                         r"^(1m0s|59\.\d{1,3}s)$")
        for d in (h["x-ratelimit-reset-tokens"],):
            self.assertTrue(DURATION.match(d), d)

    def test_429_requests(self):
        f = self.start({"limits": {"requests_per_minute": 3}})
        self.assertEqual([f.chat(chat("hi"))[0] for _ in range(3)],
                         [200, 200, 200])
        s, h, raw = f.chat(chat("hi"))
        self.assertEqual(s, 429)
        e = json.loads(raw)["error"]
        self.assertEqual((e["type"], e["param"], e["code"]),
                         ("requests", None, "rate_limit_exceeded"))
        self.assertIn("on requests per min (RPM): Limit 3", e["message"])
        self.assertGreater(int(h["retry-after"]), 10)   # one per 20 s
        self.assertEqual(h["x-ratelimit-remaining-requests"], "0")
        self.assertGreater(seconds(h["x-ratelimit-reset-requests"]), 55)
        st = f.stats()
        self.assertEqual((st["rate_limited"], st["status"]["429"]), (1, 1))

    def test_429_tokens_and_shared_buckets(self):
        f = self.start({"limits": {"output_tokens_per_minute": 1000}})
        # A message takes from the same buckets.
        self.assertEqual(f.messages(msg("fake:tokens 600"))[0], 200)
        s, h, raw = f.chat(chat("fake:tokens 600"))
        self.assertEqual(s, 429)
        e = json.loads(raw)["error"]
        self.assertEqual((e["type"], e["code"]),
                         ("tokens", "rate_limit_exceeded"))
        self.assertIn("tokens per min (TPM)", e["message"])
        self.assertIn("Requested 600", e["message"])
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        # A refused request costs nothing.
        self.assertEqual(f.stats()["tokens"]["output"], 600)


class Faults(FakeTest):
    config = {"stream": {"delta_bytes": 8}}

    def test_fail(self):
        for status, etype, code in [(529, "server_error", None),
                                    (503, "server_error", None),
                                    (500, "server_error", None),
                                    (429, "requests", "rate_limit_exceeded")]:
            self.fake.faults({"fail": {"status": status, "retry_after": 2}})
            s, h, raw = self.fake.chat(chat("hi", stream=True))
            self.assertEqual(s, status)
            self.assertEqual(h["retry-after"], "2")
            self.assertIn("x-ratelimit-limit-requests", h)
            e = json.loads(raw)["error"]
            self.assertEqual((e["type"], e["code"]), (etype, code))
            self.assertEqual(self.fake.chat(chat("hi"))[0], 200)
        self.assertEqual(self.fake.stats()["injected"], 4)

    def test_stream_error_midway(self):
        self.fake.faults({"stream_error": {"after": 2}})
        s, _, raw = self.fake.chat(chat(
            "one two three four five", stream=True,
            stream_options={"include_usage": True}))
        self.assertEqual(s, 200)
        self.assertNotIn(b"[DONE]", raw)
        chunks = parse_chunks(raw)
        self.assertEqual(chunks[-1], {"error": {
            "message": "The server had an error while processing your "
                       "request. Sorry about that!",
            "type": "server_error", "param": None, "code": None}})
        deltas = [c for c in chunks[1:-1]
                  if c["choices"][0]["delta"].get("content")]
        self.assertEqual(len(deltas), 2)
        st = self.fake.stats()
        self.assertEqual(st["streams"]["error_events"], 1)
        self.assertEqual(st["streams"]["completed"], 0)
        # Cut before its usage chunk: the client was told nothing.
        self.assertEqual(st["tokens"]["output"], 0)
        # Not for a non-streaming request; a type is passed on as given.
        self.fake.faults({"stream_error": {"after": 0, "count": -1,
                                           "type": "invalid_request_error"}})
        self.assertEqual(self.fake.chat(chat("hi"))[0], 200)
        chunks = parse_chunks(self.fake.chat(chat("hi", stream=True))[2])
        self.assertEqual(len(chunks), 2)
        self.assertEqual(chunks[-1]["error"]["type"], "invalid_request_error")

    def test_reset_midway(self):
        self.fake.faults({"reset": {"after": 2}})
        got, how = raw_request(self.fake.port, chat("a b c d e f",
                                                    stream=True),
                               path="/v1/chat/completions")
        self.assertEqual(how, "reset")
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        text = dechunk(body).decode()
        self.assertEqual(text.count('"content":"'), 3)   # role chunk + 2
        self.assertNotIn("[DONE]", text)
        wait_until(lambda: self.fake.stats()["streams"]["in_flight"] == 0)
        self.assertEqual(self.fake.stats()["streams"]["resets"], 1)
        self.assertEqual(self.fake.chat(chat("hi"))[0], 200)

    def test_reset_before_answering(self):
        self.fake.faults({"reset": {"count": 2}})
        for body in (chat("hi"), chat("hi", stream=True)):
            got, how = raw_request(self.fake.port, body,
                                   path="/v1/chat/completions")
            self.assertEqual((got, how), (b"", "reset"))
        self.assertEqual(self.fake.stats()["tokens"]["input"], 0)

    def test_slow_first_byte(self):
        self.fake.faults({"slow_first_byte": {"delay_ms": 400, "count": 2}})
        for body in (chat("hi"), chat("hi", stream=True)):
            t0 = time.monotonic()
            self.assertEqual(self.fake.chat(body)[0], 200)
            self.assertGreaterEqual(time.monotonic() - t0, 0.4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
