#!/bin/bash
# Prices that match: the API answers with dated model ids while jobs and
# price lists may name aliases.  A real Claude Code agent whose messages
# come back as claude-sonnet-4-5-20250929 is priced by the alias's line;
# a job naming the alias is not warned about when only a dated id is
# priced; a model with no price is warned about at submit and in
# swarmctl quota, its spend unknown (null), not $0, and daily_usd says it
# cannot be enforced for it.
. "$(dirname "$0")/claude-lib.sh"
cat >>"$CONF" <<C
[quota]
daily_usd = 100
[prices]
claude-sonnet-4-5 = 3, 15, 3.75, 0.30
claude-haiku-4-5-20251001 = 1, 5, 1.25, 0.10
C
start_daemon

# A preset that does not exist, or a switch that is no boolean, is a
# problem named by its member; nothing is stored.
python3 - "$(claude_job bad '["x"]')" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["agent"] = "codex"
j["session_resume"] = "yes"
json.dump(j, open(sys.argv[1], "w"))
PY
swarmctl submit "$T/bad.json" 2>"$T/bad.err" && fail "a bad preset was taken"
grep -q 'agent: the one preset is "claude-code"' "$T/bad.err" || fail "no agent problem: $(cat "$T/bad.err")"
grep -q 'session_resume: expected true or false' "$T/bad.err" || fail "no session_resume problem: $(cat "$T/bad.err")"
assert_eq "$(swarmctl jobs --json | json 'len(j)')" 0 "jobs stored"

# submit_model NAME MODEL: a one-chunk job on MODEL; stderr in $T/NAME.err.
submit_model() {
	swarmctl submit "$(claude_job "$1" '["say hi"]' \
		'{"command": ["'"$T"'/claude", "-p", "{task}", "--model", "'"$2"'"]}')" 2>"$T/$1.err"
}
job=$(submit_model dated claude-sonnet-4-5-20250929) || fail "submit"
[ ! -s "$T/dated.err" ] || fail "a priced model warned about: $(cat "$T/dated.err")"
alias=$(submit_model alias claude-haiku-4-5) || fail "submit"
[ ! -s "$T/alias.err" ] || fail "an alias of a priced id warned about: $(cat "$T/alias.err")"
none=$(submit_model none claude-unpriced-9) || fail "submit"
grep -q "warning: model claude-unpriced-9 has no price in \[prices\]" "$T/none.err" ||
	fail "no warning at submit: $(cat "$T/none.err")"
for j in $job $alias $none; do
	wait_until 120 job_is "$j" done || { dump_logs; fail "$j did not finish: $(job_state "$j")"; }
done

# The dated id, priced by its alias, to the cent of a millionth.
a=$(agent_of "$job/c0")
swarmctl show "$a" --json | python3 -c 'import json, sys
u = json.load(sys.stdin)["usage"]
want = (u["input"] * 3 + u["output"] * 15 + u["cache_creation"] * 3.75 + u["cache_read"] * 0.30) / 1e6
assert u["output"] > 0 and want > 0, u
assert abs(u["usd"] - want) < 1e-9, (u["usd"], want)' ||
	fail "the dated id was not priced by its alias: $(swarmctl show "$a" --json)"
a=$(agent_of "$alias/c0")
[ "$(swarmctl show "$a" --json | json 'j["usage"]["usd"] > 0')" = true ] ||
	fail "the alias was not priced by its dated id: $(swarmctl show "$a" --json)"

# Unpriced: unknown spend, said in show and in quota.
a=$(agent_of "$none/c0")
assert_eq "$(swarmctl show "$a" --json | json '[j["usage"]["usd"], j["usage"]["unpriced_models"]]')" \
	'[null, ["claude-unpriced-9"]]' "an unpriced agent's spend"
q=$(swarmctl quota --json)
assert_eq "$(json 'j["unpriced_models"]' <<<"$q")" '["claude-unpriced-9"]' "quota's unpriced models"
assert_eq "$(json '[w.get("not_enforced_for") for w in j["windows"] if w["name"] == "daily_usd"]' <<<"$q")" \
	'[["claude-unpriced-9"]]' "daily_usd not enforced for it"
swarmctl quota | grep -q "^warning: model claude-unpriced-9 has no price" ||
	fail "no warning in swarmctl quota: $(swarmctl quota)"
ok
