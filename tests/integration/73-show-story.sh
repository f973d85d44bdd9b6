#!/bin/bash
# show job-N/CHUNK tells each attempt's story: its agent, start and end,
# exit code or signal, how it ended, failure class, summary, result,
# latest checkpoint (its own, not the chunk's), tokens and cost.  ps
# --all says how each ended agent ended (done, failed, aborted, timed
# out), and every verb prints times by one rule: the time since, or
# with --utc the ISO-8601 moment.
. "$(dirname "$0")/lib.sh"
printf '[retries]\ntransient = 0\n[prices]\nstory-model = 3, 15, 3.75, 0.3\n' >>"$CONF"
start_daemon

# Attempt 1 checkpoints twice and exits 3 (unknown: dead at once);
# retried, attempt 2 checkpoints, spends, writes its result, is done.
cat >"$T/story.sh" <<'A'
#!/bin/sh
if [ "$SWARM_ATTEMPT" = 1 ]; then
	swarmctl checkpoint --note one && swarmctl checkpoint --note two
	exit 3
fi
swarmctl checkpoint --note three
swarmctl report --input 1000 --output 200 --model story-model
echo '{"ok": true}' >"$SWARM_RESULT"
swarmctl done --summary "fixed on the second try"
A
chmod +x "$T/story.sh"
job=$(swarmctl submit "$(job_file story '["'"$T"'/story.sh"]' 1)")
wait_until 20 chunk_is "$job/c0" dead || fail "attempt 1 did not fail"
must swarmctl retry "$job/c0" >/dev/null
wait_until 20 job_is "$job" done || fail "attempt 2 did not finish"

swarmctl show "$job/c0" --json >"$T/story" || fail "show"
python3 - "$T/story" <<'PY' || fail "the attempts: $(cat "$T/story")"
import json, os, sys
c = json.load(open(sys.argv[1]))
a1, a2 = c["agents"]
def want(a, k, v):
    if a.get(k) != v:
        sys.exit("%s %s: %r, not %r" % (a["agent"], k, a.get(k), v))
for k, v in (("attempt", 1), ("end", "failed"), ("exit_code", 3),
             ("signal", None), ("class", "unknown"), ("summary", None),
             ("result", None)):
    want(a1, k, v)
want(a1["checkpoint"], "note", "two")
want(a1["usage"], "input", 0)
for k, v in (("attempt", 2), ("end", "done"), ("exit_code", 0),
             ("class", None), ("summary", "fixed on the second try")):
    want(a2, k, v)
want(a2["checkpoint"], "note", "three")
want(a2["usage"], "input", 1000)
want(a2["usage"], "output", 200)
if abs(a2["usage"]["usd"] - 0.006) > 1e-9:
    sys.exit("cost %r" % a2["usage"]["usd"])
if not a2["result"] or not os.path.exists(a2["result"]):
    sys.exit("result %r" % a2["result"])
for a in (a1, a2):
    if not a["started"] or not a["ended"] or a["ended"] < a["started"]:
        sys.exit("%s times %r %r" % (a["agent"], a["started"], a["ended"]))
PY
a1=$(json 'j["agents"][0]["agent"]' <"$T/story")
a2=$(json 'j["agents"][1]["agent"]' <"$T/story")
swarmctl show "$job/c0" >"$T/text" || fail "show in text"
grep -Eq "^1 +$a1 +[0-9smhd]+ ago +[0-9smhd]+ ago +failed +exit 3 +unknown +0 +0\.0000$" "$T/text" ||
	fail "attempt 1's row: $(cat "$T/text")"
grep -Eq "^2 +$a2 .* ago +done +exit 0 +- +1200 +0\.0060$" "$T/text" ||
	fail "attempt 2's row: $(cat "$T/text")"
grep -q "^$a2 summary: fixed on the second try$" "$T/text" || fail "no summary: $(cat "$T/text")"
grep -q "^$a1 checkpoint: [0-9]* (two), 0 bytes, " "$T/text" ||
	fail "attempt 1's checkpoint: $(cat "$T/text")"
grep -q "^$a2 result: /" "$T/text" || fail "no result: $(cat "$T/text")"

# An abort and a timeout.
f=$(job_file hang '["'"$AGENTS"'/hang-agent"]' 1 '{"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
ja=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "the hang agent did not start"
must swarmctl abort "$ja/c0" --grace 5 >/dev/null
wait_until 20 chunk_is "$ja/c0" aborted || fail "not aborted"
jt=$(swarmctl submit "$(job_file slow '["'"$AGENTS"'/hang-agent"]' 1 '{"timeout":1}')")
wait_until 20 chunk_is "$jt/c0" dead || fail "not timed out"
ab=$(swarmctl show "$ja/c0" --json | json 'j["agents"][0]')
assert_eq "$(echo "$ab" | json 'j["end"], j["class"], j["signal"]')" '["aborted", null, 15]' "the aborted attempt"
to=$(swarmctl show "$jt/c0" --json | json 'j["agents"][0]')
assert_eq "$(echo "$to" | json 'j["end"], j["class"], j["signal"]')" '["timed out", "transient", 15]' "the timed-out attempt"

# An exit 0 without done: its exit made its chunk done.
jd=$(swarmctl submit "$(job_file quiet '["true"]' 1)")
wait_until 20 job_is "$jd" done || fail "the quiet job"

# ps --all: how each ended, in --json and in its END column.
swarmctl ps --all --json >"$T/ps" || fail "ps --all"
assert_eq "$(json '"/".join(a["end"] for a in j)' <"$T/ps")" "failed/done/aborted/timed out/done" "ps --all ends"
swarmctl ps --all >"$T/pst"
grep -q "^AGENT  *JOB  *CHUNK  *STATE  *END  *PID  *AGE  *LAST_SEEN$" "$T/pst" || fail "ps --all header: $(cat "$T/pst")"
grep -Eq "^$a1 +$job +c0 +exited +failed " "$T/pst" || fail "ps --all row: $(cat "$T/pst")"
grep -Eq " killed +timed out +[0-9]+ +[0-9smhd]+ +[0-9smhd]+ ago$" "$T/pst" || fail "timed out row: $(cat "$T/pst")"
swarmctl ps | grep -q " END " && fail "END in a listing of live agents"

# Times: the time since by default, the moment itself with --utc.
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z'
swarmctl --utc ps --all >"$T/utc"
grep -q "^AGENT .* STARTED  *LAST_SEEN$" "$T/utc" || fail "--utc header: $(cat "$T/utc")"
grep -Eq "^$a1 .* $iso +$iso$" "$T/utc" || fail "--utc ps: $(cat "$T/utc")"
swarmctl show "$job/c0" --utc | grep -Eq "^1 +$a1 +$iso +$iso +failed" || fail "--utc show"
swarmctl show "$job" | grep -Eq "^created: +[0-9smhd]+ ago$" || fail "show job: the time since"
swarmctl show "$job" --utc | grep -Eq "^created: +$iso$" || fail "show job --utc"
swarmctl jobs | grep -Eq "^$job +story +done +[0-9smhd]+ +1 " || fail "jobs AGE: $(swarmctl jobs)"
swarmctl jobs --utc | grep -Eq "^JOB +NAME +STATE +STARTED " || fail "jobs --utc header"
swarmctl events --job "$job" --limit 1 | grep -Eq "^[0-9smhd]+ ago +job_done " || fail "events: $(swarmctl events --job "$job" --limit 1)"
swarmctl events --job "$job" --limit 1 --utc | grep -Eq "^$iso job_done " || fail "events --utc"
ok
