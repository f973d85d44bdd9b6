#!/bin/bash
# The result contract: exit 0 is done only with a result that matches the
# job's schema; a bad result gets one fresh attempt told why
# (SWARM_REJECTION), then the dead letters; done --result validates before
# it records anything.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK attempt $SWARM_ATTEMPT rejection=[${SWARM_REJECTION:-}]" >>"$T/runs"
case "$SWARM_CHUNK" in
good)	echo '{"labels": ["bug"], "severity": "high"}' >"$SWARM_RESULT" ;;
fixed)	if [ -z "$SWARM_REJECTION" ]; then echo '{"labels": []}' >"$SWARM_RESULT"
	else echo '{"labels": ["docs"], "severity": "low"}' >"$SWARM_RESULT"; fi ;;
never)	echo '{"labels": "not an array", "severity": "extreme"}' >"$SWARM_RESULT" ;;
none)	: ;;
rejoin)	echo '{"labels": 5}' >"$T/bad.json"
	swarmctl done --result "$T/bad.json" 2>"$T/done.err"; echo "rc=$?" >>"$T/done.err"
	echo '{"labels": ["x"], "severity": "low"}' >"$T/ok.json"
	swarmctl done --result "$T/ok.json" --summary "second try" || exit 1
	exit 0 ;;
esac
exit 0
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "contract", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "result": {"path": "out/{chunk}.json",
   "schema": {"type": "object", "required": ["labels", "severity"],
     "properties": {"labels": {"type": "array", "items": {"type": "string"}},
                    "severity": {"enum": ["low", "high"]}}}},
 "workdir": "$T",
 "chunks": [{"id": "good", "task": ""}, {"id": "fixed", "task": ""},
            {"id": "never", "task": ""}, {"id": "none", "task": ""},
            {"id": "rejoin", "task": ""}]}
J
mkdir -p "$T/out"
job=$(swarmctl submit "$T/job.json") || fail submit
wait_until 30 job_is "$job" done || fail "job did not finish"
st() { swarmctl show "$job/$1" --json | json "$2"; }
assert_eq "$(st good 'j["state"]')" done
assert_eq "$(swarmctl events --job "$job" --json | grep '"subagent_completed"' | grep '"good"' | jsonl 'j["output_file"]')" "$T/out/good.json" "output_file is the result"
assert_eq "$(st fixed '[j["state"], j["attempts"]]')" '["done", 2]' "fixed on the second attempt"
grep -q 'fixed attempt 2 rejection=\[.*missing required member "severity"' "$T/runs" || fail "SWARM_REJECTION: $(grep fixed "$T/runs")"
assert_eq "$(st never '[j["state"], j["attempts"]]')" '["dead", 2]' "schema: one retry, then dead"
assert_contains "$(st never 'j["reason"]')" "not one of the enum values"
assert_eq "$(swarmctl dead --job "$job" --json | json '[(d["chunk"].split("/")[1], d["class"]) for d in j]')" \
	'[["never", "schema"], ["none", "schema"]]' "dead letters by class"
assert_contains "$(st none 'j["reason"]')" "no result at $T/out/none.json"
# done --result with a bad file: refused, nothing recorded; then accepted.
assert_contains "$(cat "$T/done.err")" "invalid_result"
assert_contains "$(cat "$T/done.err")" "rc=1"
assert_eq "$(st rejoin 'j["state"]')" done "rejoin"
assert_eq "$(swarmctl events --job "$job" --json | grep '"subagent_completed"' | grep -c '"rejoin"')" 1 "one completion"
# An unsupported schema keyword is refused at submit.
sed 's/"minItems"/"x"/; s/"required"/"pattern": "a", "required"/' "$T/job.json" >"$T/bad.json"
swarmctl submit "$T/bad.json" 2>"$T/err" && fail "unsupported keyword accepted"
assert_contains "$(cat "$T/err")" "result.schema.pattern: unsupported schema keyword"
ok
