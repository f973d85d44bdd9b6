#!/bin/bash
# The watchdog, tiers 1 and 2, with the shipped default hook: a hanging
# agent is noticed within the heartbeat timeout, triaged and restarted,
# and its next attempt resumes from the checkpoint; an agent that prints
# tokens without progress is caught by the no-progress rule; a quiet agent
# that heartbeats is left alone; a hook that times out, exits nonzero or
# prints no verdict escalates.
. "$(dirname "$0")/lib.sh"
cat >"$T/hook" <<H
#!/bin/sh
# The default hook, except for chunks named to make the hook misbehave.
doc=\$(cat)
case \$doc in
*'"chunk":"slow"'*) echo \$\$ >"$T/slow.pid"; exec sleep 60 ;;
*'"chunk":"garbage"'*) echo "I think it is fine"; exit 0 ;;
*'"chunk":"crash"'*) echo "hook broke" >&2; exit 3 ;;
esac
printf '%s' "\$doc" | exec "$TOOLS/triage/default-hook"
H
chmod +x "$T/hook"
# triage_timeout: the default hook is a python3 that took over 3 s to
# answer on a loaded 2-core machine.
cat >>"$CONF" <<C
[spawn]
abort_grace = 1
[watchdog]
heartbeat_timeout = 1
no_progress_timeout = 2
triage_hook = $T/hook
triage_timeout = 10
C
start_daemon

# evs JOB EVENT: that job's events of that name, one JSON line each.
evs() { swarmctl events --job "$1" --json | grep "\"event\":\"$2\""; }

# Attempt 1 checkpoints and hangs; attempt 2 finds the checkpoint.
cat >"$T/hang.sh" <<'A'
#!/bin/sh
if [ -n "${SWARM_CHECKPOINT:-}" ]; then
	cp "$SWARM_CHECKPOINT" "$T/resumed"
	exit 0
fi
echo "step 3 of 5" >"$T/progress"
swarmctl checkpoint --note "half way" --file "$T/progress"
exec sleep 600
A
# Prints a new API message every 0.2 s, never a note or checkpoint.
cat >"$T/zombie.sh" <<'A'
#!/bin/sh
[ "$SWARM_ATTEMPT" -gt 1 ] && exit 0
i=0
while :; do
	i=$((i + 1))
	printf '{"type":"assistant","message":{"id":"msg_%d","model":"m","usage":{"input_tokens":10,"output_tokens":5}}}\n' $i
	sleep 0.2
done
A
# Silent but for heartbeats, for three times the heartbeat timeout.
cat >"$T/quiet.sh" <<'A'
#!/bin/sh
end=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -le $end ]; do
	swarmctl heartbeat --note beat
	sleep 0.3
done
A
chmod +x "$T/hang.sh" "$T/zombie.sh" "$T/quiet.sh"
hang=$(swarmctl submit "$(job_file hang '["'"$T"'/hang.sh"]' 1 '{"env":{"T":"'"$T"'"}}')")
zombie=$(swarmctl submit "$(job_file zombie '["'"$T"'/zombie.sh"]' 1)")
quiet=$(swarmctl submit "$(job_file quiet '["'"$T"'/quiet.sh"]' 1)")

# The hang: suspect within the timeout (ticks are a quarter of it),
# triaged to a restart because it has a checkpoint, resumed from it.
wait_until 20 job_is "$hang" done || fail "hung chunk did not finish"
assert_eq "$(cat "$T/resumed")" "step 3 of 5" "the new attempt's checkpoint"
assert_eq "$(swarmctl show "$hang/c0" --json | json 'j["attempts"]')" 2 "attempts"
evs "$hang" watchdog_suspect >"$T/sus"
assert_eq "$(json 'j["reason"]' <"$T/sus")" stalled
json '1000 <= j["silent_ms"] < 2000' <"$T/sus" | grep -qx true || fail "noticed late: $(cat "$T/sus")"
# From its last sign of life (the checkpoint) to the suspicion.
python3 - "$(evs "$hang" checkpoint)" "$(cat "$T/sus")" <<'P' || fail "suspicion not within the timeout"
import json, sys, datetime
ts = [datetime.datetime.fromisoformat(json.loads(a)["ts"].replace("Z", "+00:00")) for a in sys.argv[1:]]
sys.exit(0 if 1.0 <= (ts[1] - ts[0]).total_seconds() < 2.0 else 1)
P
evs "$hang" triage_verdict >"$T/v"
assert_eq "$(json 'j["action"]' <"$T/v")" restart "verdict"
assert_eq "$(json 'j["hook"]' <"$T/v")" "$T/hook" "verdict names its hook"
evs "$hang" triage_started | grep -q '"reason":"stalled"' || fail "triage_started"
assert_contains "$(evs "$hang" abort_requested)" "watchdog restart: stalled"
assert_eq "$(swarmctl ps --all --job "$hang" --json | json 'j[0]["state"]')" killed

# The zombie: output keeps it from looking stalled, the tokens without
# progress do not.
wait_until 20 job_is "$zombie" done || fail "zombie chunk did not finish"
evs "$zombie" watchdog_suspect >"$T/sus"
assert_eq "$(json 'j["reason"]' <"$T/sus")" zombie
json 'j["flowing_ms"] >= 2000 and j["tokens"] > 0 and j["no_progress_timeout"] == 2' <"$T/sus" | grep -qx true || fail "zombie evidence: $(cat "$T/sus")"
assert_eq "$(evs "$zombie" triage_verdict | json 'j["action"]')" restart
assert_eq "$(swarmctl show "$zombie/c0" --json | json 'j["attempts"]')" 2 "zombie attempts"

# The quiet one heartbeats for 3 s with no output: left alone.
wait_until 20 job_is "$quiet" done || fail "quiet job"
assert_eq "$(count "$quiet" done)" 1
# Suspected only after a real silence: on a loaded machine a beat may
# come late (each is a new swarmctl), and then the watchdog is right.
python3 - "$(evs "$quiet" heartbeat)" "$(evs "$quiet" watchdog_suspect)" <<'P' ||
import json, sys, datetime
t = lambda l: datetime.datetime.fromisoformat(json.loads(l)["ts"].replace("Z", "+00:00"))
beats = sorted(t(l) for l in sys.argv[1].splitlines() if l)
for s in (t(l) for l in sys.argv[2].splitlines() if l):
    last = max((b for b in beats if b <= s), default=None)
    if last is None or (s - last).total_seconds() < 0.99:
        sys.exit("suspected %s after a beat at %s" % (s, last))
P
	fail "a heartbeating agent was suspected: $(evs "$quiet" watchdog_suspect)"
[ "$(evs "$quiet" heartbeat | wc -l)" -ge 5 ] || fail "the quiet agent's beats: $(evs "$quiet" heartbeat)"

# Hooks that fail: a timeout (its process group killed), no verdict, a
# nonzero exit.  Each escalates, saying what was tried.
bad=$(swarmctl submit "$(python3 -c 'import json; print(json.dumps({"name": "bad", "command": ["sleep", "600"], "chunks": [{"id": c, "task": c} for c in ("slow", "garbage", "crash")]}))' >"$T/bad.json"; echo "$T/bad.json")")
wait_until 30 sh -c "[ \$(swarmctl escalations --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 3 ]" || fail "three escalations"
swarmctl escalations --json >"$T/esc"
failure() { json "[e['tried'][0]['failure'] for e in j if e['chunk'] == '$1'][0]" <"$T/esc"; }
assert_eq "$(failure slow)" "timeout after 10 s"
assert_contains "$(failure garbage)" "invalid verdict: not one JSON object"
assert_eq "$(failure crash)" "exit status 3"
evs "$bad" triage_failed | grep '"exit status 3"' | grep -q 'hook broke' || fail "the hook's stderr in the event"
wait_until 5 sh -c "! kill -0 $(cat "$T/slow.pid") 2>/dev/null" || fail "the timed-out hook still runs"
assert_eq "$(json '[e["state"] for e in j]' <"$T/esc")" '["stalled", "stalled", "stalled"]'
assert_eq "$(swarmctl ps --job "$bad" --json | json '[a["state"] for a in j]')" '["suspect", "suspect", "suspect"]'
swarmctl abort "$bad" --grace 1 >/dev/null
wait_until 20 job_is "$bad" aborted || fail "abort the bad job"
ok
