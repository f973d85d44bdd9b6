#!/usr/bin/env python3
"""make-corpus.py: write the seed corpora of tests/fuzz/corpus from the inputs
the tests already use: the job files, schemas and configs of the
integration and unit tests, tests/data's recorded streams, the requests
of the protocol tests.  Each seed is named by its hash, so a rerun adds
only what is new.  Run from anywhere: python3 tests/fuzz/make-corpus.py"""
import json, re, glob, os, hashlib
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
out = 'fuzz/corpus'
def put(t, data):
    if isinstance(data, str): data = data.encode()
    d = os.path.join(out, t); os.makedirs(d, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:12]
    open(os.path.join(d, h), 'wb').write(data)

# jobspec: the job files of the integration tests (heredocs) and unit members
jobs = []
for f in sorted(glob.glob('integration/*.sh')):
    s = open(f).read()
    for m in re.finditer(r"<<'?(\w+)'?\n(\{.*?)\n\1\n", s, re.S):
        body = m.group(2).replace('$T', '/tmp/t').replace('${T}', '/tmp/t')
        body = re.sub(r'\$\(?[A-Za-z_{][^" ]*', 'x', body)
        try:
            j = json.loads(body)
        except Exception:
            continue
        if isinstance(j, dict) and 'chunks' in j:
            jobs.append(body)
for b in jobs: put('jobspec', b + '\n')
base = {"name": "j", "command": ["echo", "{task}", "{chunk}", "{job}", "{agent}"], "chunks": [{"id": "a", "task": "t"}]}
members = {
 "command": ['[]', '["echo", 1]', '[null]', '["", "x"]'],
 "env": ['["A=1"]', '{"A": 1}', '{"SWARM_X": "1"}', '{"A=B": "1"}', '{"": "1"}', '{"A": "1", "B_2": ""}'],
 "chunks": ['[]', '[1]', '[{"task": "t"}]', '[{"id": "a b", "task": "t"}]', '[{"id": "a", "task": "1"}, {"id": "a", "task": "3"}]', '[{"id": "a.b:c-d_9", "task": "t"}, {"id": "b", "task": ""}]'],
 "concurrency": ['0', '3', '100001', 'null'],
 "timeout": ['-5', '60'],
 "workdir": ['"w"', '"/tmp/w"'],
 "stagger": ['{"batch": 2, "interval": 5}', '{"batch": 0}', '1'],
 "quota": ['{"per_agent_tokens": 1000, "cap_signal": true}', '{"per_agent_tokens": -1}'],
 "result": ['{"path": "out/{chunk}.json", "schema": {"type": "object", "required": ["a"]}}', '{"path": "/abs"}', '{"schema": {"pattern": "x"}}'],
}
for k, vs in members.items():
    for v in vs:
        j = dict(base); j[k] = json.loads(v)
        put('jobspec', json.dumps(j) + '\n')
put('jobspec', '{"bogus": 1, "command": [], "workdir": "w", "env": {"SWARM_JOB": "x"}, "concurrency": null, "timeout": -5, "chunks": [{"id": "a"}, {"id": "a", "task": "t"}, []]}\n')

# schema: the result contract of 17-result.sh, with its results
schema = {"type": "object", "required": ["labels", "severity"],
  "properties": {"labels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                 "severity": {"enum": ["low", "high"]}}}
s = json.dumps(schema)
for r in ['{"labels": ["bug"], "severity": "high"}', '{"labels": []}', '{"labels": ["docs"], "severity": "low"}',
          '{"labels": "not an array", "severity": "extreme"}', '{"labels": 5}', '', 'not json', '[1, 2]']:
    put('schema', s + '\n' + r + '\n')
for sch, r in [({"type": ["integer", "null"]}, '3'), ({"type": "number"}, '"x"'), ({"type": "boolean"}, 'true'),
               ({"items": {"type": "object", "required": ["x"]}, "minItems": 2}, '[{"x": 1}, {}]'),
               ({"$schema": "x", "title": "t", "description": "d", "enum": [1, "a", None]}, 'null')]:
    put('schema', json.dumps(sch) + '\n' + r + '\n')

# config: the shipped sample and the tests' configs
put('config', open('../etc/swarmd.conf').read())
for f in sorted(glob.glob('integration/*.sh')) + ['unit/test_config.c']:
    s = open(f).read()
    for m in re.finditer(r"<<'?(\w+)'?\n(\[.*?)\n\1\n", s, re.S):
        put('config', m.group(2).replace('$T', '/tmp/t') + '\n')
s = open('unit/test_config.c').read()
for m in re.finditer(r'((?:\s*"(?:[^"\\]|\\.)*"\s*)+)', s):
    lit = ''.join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    lit = lit.encode().decode('unicode_escape')
    if '[' in lit and '=' in lit and '\n' in lit:
        put('config', lit)

# stream: the recorded agent streams
for f in sorted(glob.glob('data/*.jsonl')):
    put('stream', open(f, 'rb').read())
put('stream', '{"type":"rate_limit_event","rate_limit_info":{"rateLimitType":"five_hour","status":"allowed","resetsAt":1900000000,"utilization":0.5}}\n')
# the lines of 18-watchdog, 20-handoff and 13-quota's agents
put('stream', ''.join('{"type":"assistant","message":{"id":"msg_%d","model":"m","usage":{"input_tokens":10,"output_tokens":5}}}\n' % i for i in range(3)))
put('stream', '{"type":"assistant","message":{"id":"msg_1","model":"claude-test-20991231","usage":{"input_tokens":10,"cache_creation_input_tokens":5000,"cache_read_input_tokens":80000,"output_tokens":300}}}\n')
put('stream', '{"type":"system","subtype":"init"}\nnot json\n  {"type":"result","usage":{"input_tokens":25,"output_tokens":60}}\n{"type":"rate_limit_event","rateLimitType":"seven_day","status":"allowed_warning","resetsAt":1900000000}\n')
# sse: the recorded upstream streams, a whole message, an OpenAI stream
for f in sorted(glob.glob('data/anthropic-sse/*')):
    put('sse', open(f, 'rb').read())
put('sse', '{"id":"msg_whole","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":21,"output_tokens":4,"cache_creation_input_tokens":100,"cache_read_input_tokens":50}}')
put('sse', 'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"delta":{"content":"hi"}}]}\r\n\r\ndata: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":10}}}\r\n\r\ndata: [DONE]\r\n\r\n')
put('sse', '{"id":"c2","object":"chat.completion","model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":2}}')

# request: each verb as the tests send it, and the bad requests of 05-bad-input
auth = {"agent": "agent-1", "token": "fuzz-token"}
reqs = [
 {"verb": "hello", "args": {"version": 1}}, {"verb": "jobs"}, {"verb": "ps", "args": {"job": "job-1"}},
 {"verb": "submit", "args": {"job": base}}, {"verb": "show", "args": {"target": "job-1/a"}},
 {"verb": "abort", "args": {"target": "job-1", "reason": "r"}}, {"verb": "send", "args": {"target": "agent-1", "message": "m"}},
 {"verb": "pause", "args": {"job": "job-1"}}, {"verb": "resume", "args": {"job": "job-1"}},
 {"verb": "events", "args": {"job": "job-1", "limit": 10, "follow": False}}, {"verb": "pending"},
 {"verb": "logs", "args": {"target": "agent-1"}}, {"verb": "quota"}, {"verb": "dead", "args": {"job": "job-1"}},
 {"verb": "retry", "args": {"target": "job-1/a"}}, {"verb": "escalations", "args": {"all": True}},
 {"verb": "resolve", "args": {"id": 1, "action": "retry"}},
 {"verb": "heartbeat", "args": {"note": "n"}, "auth": auth}, {"verb": "recv", "args": {"wait": 1.5}, "auth": auth},
 {"verb": "checkpoint", "args": {"note": "n", "data": "d"}, "auth": auth},
 {"verb": "done", "args": {"summary": "s", "result": "/tmp/r.json"}, "auth": auth},
 {"verb": "report", "args": {"input": 10, "output": 5}, "auth": auth},
 {"verb": "fail", "args": {"transient": True, "reason": "r"}, "auth": auth},
 {"verb": "heartbeat", "auth": {"agent": "agent-1", "token": "wrong"}},
]
for i, r in enumerate(reqs):
    r = dict(r); r["id"] = i + 1
    put('request', json.dumps(r) + '\n')
for raw in ['{"id":5,"verb":"hello","bogus":1}\n', '{"id":6}\n', '{"id":1,"verb":"ps","verb":"jobs"}\n',
            '{"id":1,"verb":"hello","args":{"x":"y"}}\n', '{"id":1,"verb":"sub\n', '[1]\n', '{"id":1,"verb":"nope"}\n',
            '{"id":1,"verb":"jobs"}\n{"id":2,"verb":"hello"}\n', '{"id":1,"verb":"recv","args":{"wait":-1},"auth":{"agent":"agent-1","token":"fuzz-token"}}\n']:
    put('request', raw)
