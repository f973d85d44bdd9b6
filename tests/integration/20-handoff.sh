#!/bin/bash
# Context exhaustion end to end: an agent whose stream-json output shows
# a message using 85% of its model's window (cache reads included) goes
# to the triage hook as context_exhausted; the default hook hands off: the
# agent is asked for a checkpoint, saves one, and the chunk restarts from
# it.  An agent that ignores the request is restarted at handoff_timeout.
. "$(dirname "$0")/lib.sh"
cat >>"$CONF" <<C
[spawn]
abort_grace = 1
[watchdog]
triage_hook = $TOOLS/triage/default-hook
handoff_timeout = 2
[models]
claude-test = 100000
C
start_daemon
evs() { swarmctl events --job "$1" --json | grep "\"event\":\"$2\""; }

# Attempt 1 prints one big message and waits for mail; "obliging" saves a
# checkpoint when asked.  Attempt 2 records what it resumed from.
cat >"$T/agent.sh" <<'A'
#!/bin/sh
if [ -n "${SWARM_CHECKPOINT:-}" ]; then
	cp "$SWARM_CHECKPOINT" "$T/resumed.$SWARM_CHUNK"
	exit 0
fi
[ "$SWARM_ATTEMPT" -gt 1 ] && exit 0
printf '%s\n' '{"type":"assistant","message":{"id":"msg_1","model":"claude-test-20991231","usage":{"input_tokens":10,"cache_creation_input_tokens":5000,"cache_read_input_tokens":80000,"output_tokens":300}}}'
while :; do
	mail=$(swarmctl recv --wait 10)
	case $mail in
	checkpoint:*)
		echo "$mail" >"$T/asked.$SWARM_CHUNK"
		[ "$SWARM_CHUNK" = obliging ] || continue
		echo "notes for the next attempt" >"$T/notes"
		swarmctl checkpoint --note handoff --file "$T/notes" ;;
	esac
done
A
chmod +x "$T/agent.sh"
python3 -c 'import json, sys; print(json.dumps({"name": "ctx", "command": [sys.argv[1] + "/agent.sh"], "env": {"T": sys.argv[1]}, "chunks": [{"id": c, "task": c} for c in ("obliging", "deaf")]}))' "$T" >"$T/job.json"
job=$(swarmctl submit "$T/job.json")
wait_until 30 job_is "$job" done || fail "job did not finish"
assert_eq "$(count "$job" done)" 2

# Tier 1's numbers: 85010 of the window of claude-test, by prefix.
evs "$job" watchdog_suspect | grep '"obliging"' >"$T/sus"
assert_eq "$(json 'j["reason"]' <"$T/sus")" context_exhausted
assert_eq "$(json '[j["context_tokens"], j["context_window"], j["share"]]' <"$T/sus")" '[85010, 100000, 0.8501]'
assert_eq "$(json 'j["model"]' <"$T/sus")" claude-test-20991231
evs "$job" triage_verdict | grep '"obliging"' | json 'j["action"]' | grep -qx handoff || fail "verdict"
assert_contains "$(cat "$T/asked.obliging")" "checkpoint: your context window is nearly full"
evs "$job" handoff_requested | grep -q '"obliging"' || fail "handoff_requested"
evs "$job" handoff_checkpointed | grep -q '"obliging"' || fail "handoff_checkpointed"
assert_contains "$(evs "$job" abort_requested | grep '"obliging"')" "watchdog handoff: context_exhausted (checkpointed)"
assert_eq "$(cat "$T/resumed.obliging")" "notes for the next attempt" "resumed from the handoff"
assert_eq "$(swarmctl show "$job/obliging" --json | json 'j["attempts"]')" 2

# The deaf one was asked, never answered, and restarted at the deadline.
assert_contains "$(cat "$T/asked.deaf")" "checkpoint:"
evs "$job" handoff_timeout | grep '"deaf"' >"$T/to" || fail "handoff_timeout"
json 'j["waited_ms"] >= 2000' <"$T/to" | grep -qx true || fail "restarted before the deadline"
assert_contains "$(evs "$job" abort_requested | grep '"deaf"')" "(no checkpoint in time)"
assert_eq "$(swarmctl show "$job/deaf" --json | json 'j["attempts"]')" 2
[ -e "$T/resumed.deaf" ] && fail "deaf had no checkpoint to resume"
ok
