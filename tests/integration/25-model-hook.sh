#!/bin/bash
# The shipped model-hook end to end, against the fake upstream as the
# model: a hanging agent is triaged by asking the model, which answers
# (in prose, as models do) with a nudge; swarmd mails the nudge and the
# agent reads it; every step is an event.  A model that answers garbage
# and one that answers HTTP 500 make the hook fail, and both escalate
# with what the hook said.
#
# With the proxy on, the hook reaches the model through it (swarmd gives
# it an ANTHROPIC_BASE_URL of its own), paced with the agents and metered
# as "triage"; the daemon's own ANTHROPIC_BASE_URL, as under a unit with
# Environment=, is what the proxy's upstream would be without [proxy].
. "$(dirname "$0")/lib.sh"

# fake NAME REPLY: a fake upstream whose every answer is REPLY, at $UP_NAME.
fake() {
	python3 -c 'import json,sys; print(json.dumps({"reply": sys.argv[1]}))' "$2" >"$T/$1.json"
	"$FAKE_UPSTREAM" -v -l 127.0.0.1:0 -c "$T/$1.json" >"$T/$1.out" 2>"$T/$1.err" &
	KILL_AT_EXIT="$KILL_AT_EXIT $!"
	wait_until 10 grep -q '^listening on ' "$T/$1.out" || fail "fake upstream $1 did not start"
	eval "UP_$1=http://$(sed -n 's/^listening on //p' "$T/$1.out")"
}
NUDGE="Report progress with swarmctl heartbeat --note, then go on."
fake A "The agent went quiet after starting; a nudge should do.
\`\`\`json
{\"state\": \"stalled\", \"action\": \"nudge\", \"message\": \"$NUDGE\", \"reason\": \"silent since its first heartbeat\"}
\`\`\`"
fake B "I think the agent is fine, leave it."
stats() { curl -sS "$1/_fake/stats"; }

# The hook, except that the chunk named garbage asks the other model.
cat >"$T/route" <<H
#!/bin/sh
doc=\$(cat)
case \$doc in
*'"chunk":"garbage"'*) export ANTHROPIC_BASE_URL=$UP_B ;;
esac
printf '%s' "\$doc" | exec "$TOOLS/triage/model-hook"
H
chmod +x "$T/route"
cat >>"$CONF" <<C
[spawn]
abort_grace = 1
[watchdog]
heartbeat_timeout = 1
triage_hook = $T/route
triage_timeout = 10
[proxy]
listen = 127.0.0.1:0
upstream = $UP_A
C
ANTHROPIC_BASE_URL=$UP_A ANTHROPIC_API_KEY=test start_daemon
evs() { swarmctl events --job "$1" --json | grep "\"event\":\"$2\""; }

# One heartbeat and a long line of output, then silent until the test
# has seen the nudge mailed; then it reads its mail and ends.
cat >"$T/quiet.sh" <<'A'
#!/bin/sh
swarmctl heartbeat --note "starting" >/dev/null || exit 1
python3 -c 'print("reading the sources " + "x" * 4000)'
while [ ! -e "$T/go" ]; do sleep 0.05; done
swarmctl recv >"$T/mail"
A
chmod +x "$T/quiet.sh"
job=$(swarmctl submit "$(job_file nudge '["'"$T"'/quiet.sh"]' 1 '{"env":{"T":"'"$T"'"}}')")
wait_until 20 evs "$job" triage_verdict || fail "no verdict: $(swarmctl events --job "$job")"
evs "$job" watchdog_suspect | grep -q '"reason":"stalled"' || fail "not suspected as stalled"
evs "$job" triage_started | grep -q '"reason":"stalled"' || fail "triage_started"
evs "$job" triage_verdict | head -n 1 >"$T/v"
assert_eq "$(json '[j[k] for k in ("state", "action", "message", "reason", "hook")]' <"$T/v")" \
	"$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' stalled nudge "$NUDGE" \
		"silent since its first heartbeat" "$T/route")" "the model's verdict, recorded"
# It asked the model: one request, carrying the agent's output.
stats "$UP_A" >"$T/sa"
json 'j["requests"] >= 1 and j["status"]["200"] >= 1 and j["tokens"]["input"] > 1000' <"$T/sa" |
	grep -qx true || fail "the model was not asked with the document: $(cat "$T/sa")"
grep -q 'POST /v1/messages.*2023-06-01' "$T/A.err" || fail "request not seen: $(cat "$T/A.err")"
# Through the proxy: metered as swarmd's own triage, not as any agent's.
swarmctl quota --json >"$T/q"
json '[a["input"] for a in j["top"] if a["agent"] == "triage"][0] > 1000 and j["proxy_queues"]["anthropic"]["requests"] >= 1' <"$T/q" |
	grep -qx true || fail "the hook did not go through the proxy: $(cat "$T/q")"
# Carried out: the nudge is in the mailbox, from swarmd.
evs "$job" message_sent | head -n 1 >"$T/m"
assert_eq "$(json '[j["from"], j["text"]]' <"$T/m")" \
	"$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' swarmd "$NUDGE")" "the nudge mailed"
touch "$T/go"
wait_until 20 job_is "$job" done || fail "the nudged agent did not finish"
assert_contains "$(cat "$T/mail")" "$NUDGE" "the agent's mail"
[ "$(swarmctl escalations --json | json 'len(j)')" = 0 ] || fail "a nudge escalated"

# The model answers garbage (B) or HTTP 500 (A, from now on): the hook
# exits 1 and says why, and both escalate with it.
curl -sS -o /dev/null -d '{"fail": {"status": 500, "count": -1}}' "$UP_A/_fake/faults"
bad=$(python3 -c 'import json; print(json.dumps({"name": "bad", "command": ["sleep", "600"],
	"chunks": [{"id": c, "task": c} for c in ("garbage", "error")]}))' >"$T/bad.json"
	swarmctl submit "$T/bad.json")
wait_until 20 sh -c "[ \$(swarmctl escalations --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 2 ]" ||
	fail "two escalations: $(swarmctl escalations)"
swarmctl escalations --json >"$T/esc"
tried() { json "[e['tried'][0]['$2'] for e in j if e['chunk'] == '$1'][0]" <"$T/esc"; }
assert_eq "$(tried garbage failure)" "exit status 1" "garbage"
assert_eq "$(tried error failure)" "exit status 1" "HTTP 500"
evs "$bad" triage_failed >"$T/f"
grep '"chunk_id":"garbage"' "$T/f" | grep -q "no JSON object in the answer: 'I think the agent is fine" ||
	fail "the garbage answer in the evidence: $(cat "$T/f")"
grep '"chunk_id":"error"' "$T/f" | grep -q 'HTTP 500: api_error' ||
	fail "the HTTP error in the evidence: $(cat "$T/f")"
json 'j["requests"] >= 1' <<<"$(stats "$UP_B")" | grep -qx true || fail "B was not asked"
json 'j["status"]["500"] >= 1' <<<"$(stats "$UP_A")" | grep -qx true || fail "A did not answer 500"
assert_eq "$(swarmctl ps --job "$bad" --json | json '[a["state"] for a in j]')" '["suspect", "suspect"]'
swarmctl abort "$bad" --grace 1 >/dev/null
wait_until 20 job_is "$bad" aborted || fail "abort the bad job"
ok
