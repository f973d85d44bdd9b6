#!/bin/bash
# The watchdog's tier 3: with no triage hook, a stalled agent escalates at
# once.  The escalation is a journal record at priority 1 and a POST to
# the webhook (a receiver started here answers the first one 500: it is
# retried), is notified again after renotify, closes by itself when its
# agent shows life, and each resolve action is carried out.
. "$(dirname "$0")/lib.sh"
cat >"$T/receiver.py" <<'P'
import http.server, json, os, sys
log, portfile = sys.argv[1], sys.argv[2]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global n
        n += 1
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        status = 500 if n == 1 else 200
        with open(log, "a") as f:
            f.write(json.dumps({"n": n, "status": status, "path": self.path,
                                "type": self.headers.get("content-type"),
                                "body": json.loads(body)}) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
P
python3 "$T/receiver.py" "$T/posts" "$T/port" &
RECEIVER=$!
KILL_AT_EXIT=$RECEIVER
wait_until 10 test -s "$T/port" || fail "receiver did not start"
cat >>"$CONF" <<C
[spawn]
abort_grace = 1
[watchdog]
heartbeat_timeout = 1
renotify = 2s
escalation_webhook = http://127.0.0.1:$(cat "$T/port")/hooks/swarm
C
start_daemon

evs() { swarmctl events --job "$1" --json | grep "\"event\":\"$2\""; }
nesc() { swarmctl escalations --json | json 'len(j)'; }
# esc_for CHUNK: the newest open escalation about that chunk.
esc_for() { swarmctl escalations --json | json "[e['escalation'] for e in j if e['chunk'] == '$1'][-1]"; }
agent_of() { swarmctl show "$job/$1" --json | json 'j["agent"]'; }
agent_state() { swarmctl show "$1" --json | json 'j["state"]'; }

# c0..c2 hang; "wakes" hangs until $T/wake exists, then heartbeats.
cat >"$T/agent.sh" <<'A'
#!/bin/sh
[ "$SWARM_CHUNK" = wakes ] || exec sleep 600
while [ ! -f "$T/wake" ]; do sleep 0.1; done
while :; do swarmctl heartbeat; sleep 0.3; done
A
chmod +x "$T/agent.sh"
python3 -c 'import json, sys; print(json.dumps({"name": "esc", "command": [sys.argv[1] + "/agent.sh"], "env": {"T": sys.argv[1]}, "chunks": [{"id": c, "task": c} for c in ("c0", "c1", "c2", "wakes")]}))' "$T" >"$T/job.json"
job=$(swarmctl submit "$T/job.json")
wait_until 20 sh -c "[ \$(swarmctl escalations --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 4 ]" || fail "four escalations"
swarmctl escalations --json >"$T/esc"
assert_eq "$(json '[e["state"] for e in j]' <"$T/esc")" '["stalled", "stalled", "stalled", "stalled"]'
assert_eq "$(json '[e["tried"] for e in j]' <"$T/esc")" '[[], [], [], []]' "nothing tried without a hook"
# At least one notification each: on a slow machine the first may have
# been renotified already (renotify is 2 s); when is checked below.
json 'j[0]["evidence"]["silent_ms"] >= 1000 and min(e["notifications"] for e in j) >= 1' <"$T/esc" | grep -qx true || fail "evidence"
swarmctl escalations | grep -q "no heartbeat, output or usage" || fail "human listing"
assert_eq "$(grep -c '^<1>escalated ' "$T/swarmd.log")" 4 "journal records at priority 1"

# The webhook: four POSTs and the retry of the one answered 500.
wait_until 20 sh -c "[ \$(wc -l <'$T/posts') -ge 5 ]" || fail "webhook posts: $(cat "$T/posts" 2>/dev/null)"
head -n 1 "$T/posts" >"$T/first"
assert_eq "$(json 'j["status"]' <"$T/first")" 500
assert_eq "$(json 'j["path"]' <"$T/first")" /hooks/swarm
assert_eq "$(json 'j["type"]' <"$T/first")" application/json
first=$(json 'j["body"]["escalation"]["escalation"]' <"$T/first")
assert_contains "$(json 'j["body"]["text"]' <"$T/first")" "swarmctl resolve $first --action"
assert_contains "$(json 'j["body"]["text"]' <"$T/first")" "stalled: no heartbeat"
grep "\"escalation\": \"$first\"" "$T/posts" | jsonl 'j["status"]' | grep -qx 200 || fail "retry of $first not delivered"
# Each escalation is posted as it opens: its first POST is no renotify.
firsts() {
	python3 - "$T/posts" "$1" <<'P'
import json, sys
first = {}
for line in open(sys.argv[1]):
    b = json.loads(line)["body"]
    first.setdefault(b["escalation"]["escalation"], b["text"])
if sys.argv[2] == "count":
    sys.exit(0 if len(first) == 4 else 1)
print(sum("still open: " in t for t in first.values()))
P
}
wait_until 20 firsts count || fail "not every escalation posted: $(cat "$T/posts")"
assert_eq "$(firsts renotified)" 0 "escalations first posted as a renotify"
evs "$job" escalation_notified | grep "\"$first\"" | jsonl '(j["try"], j["ok"])' >"$T/tries"
# The failed try is retried as try 2 (a renotify may post in between).
assert_eq "$(head -n 1 "$T/tries")" '[1, false]' "first try for $first"
grep -qxF '[2, true]' "$T/tries" || fail "attempts for $first: $(cat "$T/tries")"

# Renotify: open escalations come back after 2 s.
wait_until 20 sh -c "grep -q 'still open: ' '$T/posts'" || fail "no renotify post"
evs "$job" escalation_renotified | grep -q '"notifications":2' || fail "renotify event"
# Not sooner than renotify after the escalation was opened.
python3 - "$(evs "$job" escalated | grep "\"$first\"")" "$(evs "$job" escalation_renotified | grep "\"$first\"" | head -n1)" <<'P' || fail "renotified before 2 s"
import json, sys, datetime
ts = [datetime.datetime.fromisoformat(json.loads(a)["ts"].replace("Z", "+00:00")) for a in sys.argv[1:]]
sys.exit(0 if (ts[1] - ts[0]).total_seconds() >= 2.0 else 1)
P
grep -c '^<1>escalation_renotified ' "$T/swarmd.log" | grep -qv '^0$' || fail "renotify journal record"

# Life again: back to running, and the escalation closes itself.
wakes=$(esc_for wakes)
touch "$T/wake"
wait_until 20 sh -c "swarmctl escalations --all --json | grep -q '\"action\":\"recovered\"'" || fail "no recovery"
assert_eq "$(agent_state "$(agent_of wakes)")" running "woken agent"
evs "$job" watchdog_cleared | grep -q '"why":"showed life again"' || fail "watchdog_cleared"
assert_eq "$(swarmctl escalations --all --json | json "[e['status'] for e in j if e['escalation'] == '$wakes'][0]")" resolved

# continue: back to running at once.
e0=$(esc_for c0) a0=$(agent_of c0)
out=$(swarmctl resolve "$e0" --action continue --note "it is thinking") || fail "resolve continue"
assert_eq "$out" "$e0 resolved: $a0 back to running"
assert_eq "$(agent_state "$a0")" running "after continue"
# restart: aborted, the chunk runs again as a new attempt.
e1=$(esc_for c1) a1=$(agent_of c1)
swarmctl resolve "$e1" --action restart >/dev/null || fail "resolve restart"
wait_until 20 sh -c "[ \$(swarmctl show $job/c1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"attempts\"])') = 2 ]" || fail "c1 not restarted"
assert_eq "$(agent_state "$a1")" killed
assert_contains "$(swarmctl show "$a1" --json | json 'j["reason"]')" "watchdog restart: stalled (operator resolved $e1)"
# kill: aborted and dead-lettered.
e2=$(esc_for c2)
swarmctl resolve "$e2" --action kill --note "not worth it" >/dev/null || fail "resolve kill"
wait_until 20 chunk_is "$job/c2" dead || fail "c2 not dead"
swarmctl escalations --all --json >"$T/all"
assert_eq "$(json "[(e['action'], e['note']) for e in j if e['escalation'] == '$e2'][0]" <"$T/all")" '["kill", "not worth it"]'
assert_eq "$(json "[e['action'] for e in j if e['escalation'] == '$e0'][0]" <"$T/all")" continue
swarmctl escalations | grep -q "$e2" && fail "a resolved escalation listed as open"
evs "$job" escalation_resolved | grep -q "\"$e2\"" || fail "escalation_resolved event"

# Refusals change nothing.
swarmctl resolve "$e2" --action kill 2>"$T/err"; assert_eq $? 1 "twice"
assert_contains "$(cat "$T/err")" "conflict: $e2 is resolved already"
swarmctl resolve "$e2" --action reboot 2>"$T/err"; assert_eq $? 1 "bad action"
swarmctl resolve esc-999 --action kill 2>"$T/err"; assert_eq $? 1 "unknown"
assert_contains "$(cat "$T/err")" "not_found"
swarmctl resolve "$e2" 2>/dev/null; assert_eq $? 2 "no --action"
# An escalation whose agent has ended: only continue closes it.
wait_until 20 sh -c "swarmctl escalations --json | grep -q '\"chunk\":\"c0\"'" || fail "c0 suspected again"
e0=$(esc_for c0)
swarmctl abort "$a0" --grace 1 >/dev/null
wait_until 20 chunk_is "$job/c0" aborted || fail "c0 abort"
swarmctl resolve "$e0" --action restart 2>"$T/err"; assert_eq $? 1 "restart an ended agent"
assert_contains "$(cat "$T/err")" "has ended or is being aborted"
assert_eq "$(swarmctl resolve "$e0" --action continue)" "$e0 resolved: $a0 had ended"
swarmctl abort "$job" --grace 1 >/dev/null
wait_until 20 job_is "$job" aborted || fail "abort the job"
ok
