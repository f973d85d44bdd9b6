#!/bin/bash
# An account failure goes to a person, not to a retry.  The real Claude
# Code CLI meets a 401 (its key refused) and then a 400 "credit balance
# is too low" from the fake; it fires StopFailure with
# authentication_failed, then billing_error; the hook reports the
# failure with class account and exits 0; swarmd, not the agent, opens
# an escalation and sends the chunk to the dead letters after one
# attempt, though [retries] transient would allow three more.  Once the
# account is fixed (the fault cleared), an operator's retry runs it done.
#
# CLAUDE_CODE_MAX_RETRIES=0: the CLI retries a 401 ten times with a
# backoff (minutes) before it gives up; the real API's x-should-retry
# header is not modelled by the fake.  A 400 it does not retry.
. "$(dirname "$0")/claude-lib.sh"
printf '[retries]\ntransient = 3\nbackoff = 0\n' >>"$CONF"
# A webhook receiver: the escalation's text must say what to do.
cat >"$T/receiver.py" <<'P'
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps(json.loads(body)["text"]) + "\n")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
P
python3 "$T/receiver.py" "$T/posts" "$T/port" &
KILL_AT_EXIT="$KILL_AT_EXIT $!"
wait_until 10 test -s "$T/port" || fail "receiver did not start"
printf '[watchdog]\nescalation_webhook = http://127.0.0.1:%s/hook\n' "$(cat "$T/port")" >>"$CONF"
start_daemon

faults() { curl -sS -X POST -d "$1" "$UP/_fake/faults" >/dev/null || fail "faults"; }
# account NAME FAULT ERROR: a job meets FAULT; ERROR is what the CLI
# must have called it.  Prints the job id.
account() {
	local job a
	faults "$2"
	job=$(swarmctl submit "$(claude_job "$1" '["hello"]' \
		'{"env": {"CLAUDE_CODE_MAX_RETRIES": "0"}}')") || fail "submit $1"
	wait_until 60 chunk_is "$job/c0" dead ||
		{ dump_logs; fail "$1: not dead: $(chunk_state "$job/c0")"; }
	a=$(agent_of "$job/c0")
	assert_eq "$(swarmctl dead --job "$job" --json | json '[[d["attempts"], d["class"]] for d in j]')" \
		'[[1, "account"]]' "$1: one attempt, class account"
	assert_eq "$(event_data "$job" failure_reported | jsonl '[j["class"], j["reason"]]')" \
		"[\"account\", \"claude-code: $3: needs a person (the account)\"]" "$1: the hook's report"
	assert_eq "$(swarmctl escalations --json | json '[[e["agent"], e["state"], e["summary"]] for e in j if e["job"] == "'"$job"'"]')" \
		"[[\"$a\", \"account\", \"claude-code: $3: needs a person (the account)\"]]" "$1: the escalation"
	echo "$job"
}

auth=$(account auth '{"fail": {"status": 401, "count": -1}}' authentication_failed)
billing=$(account billing '{"fail": {"status": 400, "count": -1, "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}' billing_error)
assert_eq "$(curl -sS "$UP/_fake/stats" | json 'j["injected"]')" 2 "requests the fake refused"
# The webhook says the way out: the account fixed, the chunk retried.
wait_until 20 grep -q "Fix the account, then: swarmctl retry $auth/c0" "$T/posts" ||
	fail "the webhook did not say to retry: $(cat "$T/posts" 2>/dev/null)"
grep -q "restart|kill" "$T/posts" && fail "the webhook offers restart or kill: $(cat "$T/posts")"

# Fixed: the operator retries the dead chunk and closes the escalation.
faults '{}'
swarmctl retry "$auth/c0" >/dev/null || fail "retry"
wait_until 60 job_is "$auth" done || { dump_logs; fail "the retry did not finish: $(job_state "$auth")"; }
esc=$(swarmctl escalations --json | json '[e["escalation"] for e in j if e["job"] == "'"$auth"'"][0]')
swarmctl resolve "$esc" --action continue >/dev/null || fail "resolve $esc"
assert_eq "$(swarmctl escalations --json | json 'len(j)')" 1 "open escalations"
ok
