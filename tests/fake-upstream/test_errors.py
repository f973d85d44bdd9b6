"""Bad requests get the API's error bodies and statuses."""
import json
import unittest

from fulib import HEADERS, FakeTest, msg


class Errors(FakeTest):
    def error(self, status, path="/v1/messages", body=None, headers=None,
              method="POST"):
        s, h, raw = self.fake.request(method, path, body, headers)
        self.assertEqual(s, status, raw)
        self.assertEqual(h["content-type"], "application/json")
        e = json.loads(raw)
        self.assertEqual(set(e), {"type", "error", "request_id"})
        self.assertEqual(e["type"], "error")
        self.assertEqual(set(e["error"]), {"type", "message"})
        self.assertEqual(e["request_id"], h["request-id"])
        self.assertIn("anthropic-ratelimit-requests-remaining", h)
        return e["error"]

    def test_missing_key(self):
        h = {k: v for k, v in HEADERS.items() if k != "x-api-key"}
        e = self.error(401, body=msg("hi"), headers=h)
        self.assertEqual(e, {"type": "authentication_error",
                             "message": "x-api-key header is required"})
        # A bearer token will do instead of x-api-key.
        h["authorization"] = "Bearer sk-test"
        s, _, _ = self.fake.messages(msg("hi"), headers=h)
        self.assertEqual(s, 200)

    def test_wrong_key(self):
        f = self.start({"api_key": "right"})
        s, _, raw = f.messages(msg("hi"))
        self.assertEqual(s, 401)
        self.assertEqual(json.loads(raw)["error"]["type"],
                         "authentication_error")
        h = dict(HEADERS, **{"x-api-key": "right"})
        self.assertEqual(f.messages(msg("hi"), headers=h)[0], 200)

    def test_missing_version(self):
        h = {k: v for k, v in HEADERS.items() if k != "anthropic-version"}
        e = self.error(400, body=msg("hi"), headers=h)
        self.assertEqual(e["message"], "anthropic-version: header is required")

    def test_invalid_bodies(self):
        cases = [
            ("{not json", "There was an error parsing the body"),
            ("", "There was an error parsing the body"),
            ([1, 2], "body: Input should be an object"),
            ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
             "model: Field required"),
            ({"model": "m", "messages": [{"role": "user", "content": "x"}]},
             "max_tokens: Field required"),
            (msg("x", max_tokens=0), "max_tokens: Input should be"),
            (msg("x", max_tokens="5"), "max_tokens: Input should be"),
            ({"model": "m", "max_tokens": 5}, "messages: Field required"),
            (msg("x", messages=[]),
             "messages: at least one message is required"),
            (msg("x", messages=[{"role": "robot", "content": "x"}]),
             "messages.0.role: Input should be 'user' or 'assistant'"),
            (msg("x", messages=[{"role": "user"}]),
             "messages.0.content: Field required"),
            (msg("x", messages=[{"role": "user", "content": [{"text": "x"}]}]),
             "messages.0.content.0.type: Field required"),
            (msg("x", stream="yes"), "stream: Input should be a valid boolean"),
            (msg("x", tools=[{"description": "no name"}]),
             "tools.0.name: Field required"),
        ]
        for body, want in cases:
            with self.subTest(want=want):
                e = self.error(400, body=body)
                self.assertEqual(e["type"], "invalid_request_error")
                self.assertTrue(e["message"].startswith(want), e["message"])
        # Nothing was admitted: the buckets are untouched.
        st = self.fake.stats()
        self.assertEqual(st["status"], {"400": len(cases)})
        self.assertEqual(st["tokens"]["input"], 0)

    def test_count_tokens_checks_too(self):
        e = self.error(400, "/v1/messages/count_tokens",
                       {"model": "m", "messages": []})
        self.assertEqual(e["message"],
                         "messages: at least one message is required")
        # ... but needs no max_tokens.
        s, _, raw = self.fake.post("/v1/messages/count_tokens",
                                   {"model": "m", "messages": [
                                       {"role": "user", "content": "x"}]})
        self.assertEqual((s, json.loads(raw)), (200, {"input_tokens": 9}))

    def test_unknown_path_and_method(self):
        e = self.error(404, "/v1/nothing", msg("x"))
        self.assertEqual(e, {"type": "not_found_error", "message": "Not Found"})
        e = self.error(405, method="GET")
        self.assertEqual(e["type"], "invalid_request_error")

    def test_body_too_large(self):
        f = self.start({"max_body": 1000})
        s, _, raw = f.messages(msg("x" * 2000))
        self.assertEqual(s, 413)
        self.assertEqual(json.loads(raw)["error"]["type"], "request_too_large")

    def test_bad_config_is_refused(self):
        for conf, want in [({"limits": {"requests_per_minute": 0}},
                            "limits.requests_per_minute"),
                           ({"nonsense": 1}, "nonsense: unknown member"),
                           ({"faults": {"fail": {"count": 1}}},
                            "faults.fail.status: required")]:
            with self.subTest(want=want):
                with self.assertRaises(AssertionError) as cm:
                    self.start(conf)
                self.assertIn(want, str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
