#!/bin/bash
# swarmctl cost: a job metered through the proxy by the fake upstream,
# one of whose chunks fails its first attempt after spending.  The
# retries' share is exactly what the failed attempt's usage rows say;
# rows add up to the total, by job, chunk, agent and model; USD is the
# price list's; a model without a price is unknown (null), not $0;
# --since leaves out what came before; show job-N carries the totals.
. "$(dirname "$0")/lib.sh"
SIM=${SIM_AGENT:-$(dirname "$FAKE_UPSTREAM")/sim-agent}
[ -x "$SIM" ] || fail "no sim-agent at $SIM"
echo '{"cache": false}' >"$T/fake.json"
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
[retries]
transient = 2
backoff = 0.05
backoff_max = 0.1
[prices]
claude-sonnet-4-5 = 3, 15, 3.75, 0.30
C
start_daemon

# Two calls a attempt; c0's first attempt then fails (transient).
cat >"$T/agent.sh" <<'A'
#!/bin/sh
"$SIM" -n 2 -i 100 -o 20 -m "$MODEL" -w "$T/$SWARM_CHUNK.$SWARM_ATTEMPT.jsonl" || exit 3
if [ "$SWARM_CHUNK" = c0 ] && [ "$SWARM_ATTEMPT" = 1 ]; then
	swarmctl fail --transient --reason "spent, then failed"
	exit 1
fi
exit 0
A
chmod +x "$T/agent.sh"
env_of() { echo '{"concurrency": 2, "env": {"ANTHROPIC_API_KEY": "test", "SIM": "'"$SIM"'", "T": "'"$T"'", "MODEL": "'"$1"'"}}'; }
job=$(must swarmctl submit "$(job_file priced '["'"$T"'/agent.sh"]' 2 "$(env_of claude-sonnet-4-5)")")
wait_until 60 job_is "$job" done || fail "$job: $(swarmctl show "$job")"
assert_eq "$(count "$job" done)" 2 "both chunks done"
assert_eq "$(swarmctl show "$job/c0" --json | json 'j["attempts"]')" 2 "c0 retried once"

# What the failed attempt's own usage rows say, from the store.
failed=$(swarmctl ps --all --job "$job" --json | json '[a["agent"] for a in j if a["chunk"] == "c0" and a["attempt"] == 1][0]')
rows() {
	python3 - "$STATE/swarmd.db" "$1" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
r = db.execute("SELECT sum(input), sum(output), sum(cache_creation), "
               "sum(cache_read), sum(usd) FROM usage WHERE " + sys.argv[2]).fetchone()
print(json.dumps(dict(zip(["input", "output", "cache_creation", "cache_read", "usd"], r))))
PY
}
want=$(rows "agent = ${failed#agent-}")
all=$(rows "job = ${job#job-}")
[ "$(json 'j["output"]' <<<"$want")" -gt 0 ] || fail "the failed attempt spent nothing: $want"

swarmctl cost "$job" --json >"$T/cost" || fail "cost $job"
# tokens SUM_JSON: its four classes and USD, rounded as the rows are.
cat >"$T/same.py" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keys = ["input", "output", "cache_creation", "cache_read"]
ok = all(a[k] == b[k] for k in keys) and abs(a["usd"] - b["usd"]) < 1e-9
sys.exit(0 if ok else 1)
PY
same() { python3 "$T/same.py" "$1" "$2" || fail "${3:-} expected $2, got $1"; }
assert_eq "$(json 'j["by"]' <"$T/cost")" chunk "a job's cost is by chunk"
assert_eq "$(json '[r["chunk"] for r in j["rows"]]' <"$T/cost")" '["c0", "c1"]' "rows"
same "$(json 'j["total"]["retries"]' <"$T/cost")" "$want" "the retries' share"
same "$(json 'j["rows"][0]["retries"]' <"$T/cost")" "$want" "c0's retries"
assert_eq "$(json 'j["rows"][1]["retries"]["output"]' <"$T/cost")" 0 "c1 never failed"
same "$(json 'j["total"]' <"$T/cost")" "$all" "the total"
python3 - "$T/cost" <<'PY' || fail "rows do not add up, or USD is not the price list's: $(cat "$T/cost")"
import json, sys
c = json.load(open(sys.argv[1]))
t = c["total"]
for k in ("input", "output", "cache_creation", "cache_read"):
    assert sum(r[k] for r in c["rows"]) == t[k], k
want = (t["input"] * 3 + t["output"] * 15 + t["cache_creation"] * 3.75 + t["cache_read"] * 0.30) / 1e6
assert t["usd"] > 0 and abs(t["usd"] - want) < 1e-9, (t["usd"], want)
assert t["retries"]["usd"] > 0 and t["retries"]["usd"] < t["usd"]
PY
# The same figures --by agent (the failed attempt marked) and --by model.
swarmctl cost "$job" --by agent --json >"$T/agent"
assert_eq "$(json 'sorted([r["chunk"], r["attempt"], r["failed"]] for r in j["rows"])' <"$T/agent")" \
	'[["c0", 1, true], ["c0", 2, false], ["c1", 1, false]]' "attempts"
assert_eq "$(json '[r["agent"] for r in j["rows"] if r["failed"]]' <"$T/agent")" "[\"$failed\"]" "the failed one"
same "$(json '[r for r in j["rows"] if r["failed"]][0]' <"$T/agent")" "$want" "the failed agent's row"
same "$(json 'j["total"]' <"$T/agent")" "$all" "by agent: total"
swarmctl cost "$job" --by model --json >"$T/model"
assert_eq "$(json 'len(j["rows"])' <"$T/model")" 1 "one model"
same "$(json 'j["rows"][0]' <"$T/model")" "$all" "by model"
same "$(json 'j["total"]["retries"]' <"$T/model")" "$want" "by model: retries"
# show job-N: the same totals.
same "$(swarmctl show "$job" --json | json 'j["cost"]')" "$all" "show job's cost"
same "$(swarmctl show "$job" --json | json 'j["cost"]["retries"]')" "$want" "show job's retries"
swarmctl show "$job" | grep -q '^cost: \$[0-9.]* (retries \$[0-9.]*); tokens in' || fail "show: $(swarmctl show "$job")"
# The table: a row a chunk and a total line.
swarmctl cost "$job" >"$T/text"
head -n 1 "$T/text" | grep -q '^CHUNK *INPUT *OUTPUT *CACHE_WRITE *CACHE_READ *USD *RETRIES_USD$' || fail "header: $(cat "$T/text")"
grep -q "^$job/c0 " "$T/text" && grep -q '^total ' "$T/text" || fail "table: $(cat "$T/text")"

# A model without a price: unknown, not $0, and named; --since after
# the first job leaves only the second.
since=$(python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")')
other=$(must swarmctl submit "$(job_file unpriced '["'"$T"'/agent.sh"]' 1 "$(env_of claude-unpriced-9)")" 2>/dev/null)
wait_until 60 job_is "$other" done || fail "$other: $(swarmctl show "$other")"
swarmctl cost --json >"$T/all"
assert_eq "$(json 'j["by"]' <"$T/all")" job "every job's cost is by job"
assert_eq "$(json '[[r["job"], r["usd"] is None, r.get("unpriced_models")] for r in j["rows"]]' <"$T/all")" \
	"[[\"$job\", false, null], [\"$other\", true, [\"claude-unpriced-9\"]]]" "an unpriced job"
assert_eq "$(json '[j["total"]["usd"], j["total"]["unpriced_models"]]' <"$T/all")" \
	'[null, ["claude-unpriced-9"]]' "the total is unknown too"
swarmctl cost | grep -q '^warning: model claude-unpriced-9 has no price' || fail "no warning: $(swarmctl cost)"
swarmctl cost | grep -q "^$other .* ? *?$" || fail "unknown USD not ?: $(swarmctl cost)"
assert_eq "$(swarmctl cost --since "$since" --json | json '[r["job"] for r in j["rows"]]')" "[\"$other\"]" "--since"
same "$(swarmctl cost --since "$since" --json | json 'j["total"] | {"usd": 0}')" "$(rows "job = ${other#job-}" | json 'j | {"usd": 0}')" "--since total"

# Bad input: a clear error, exit 1 or 2, nothing else.
swarmctl cost "$job" --by week 2>"$T/err"; assert_eq $? 1 "a bad --by"
assert_contains "$(cat "$T/err")" 'is not job, chunk, agent or model'
swarmctl cost job-999 2>"$T/err"; assert_eq $? 1 "no such job"
assert_contains "$(cat "$T/err")" "not_found"
swarmctl cost --since yesterday 2>"$T/err"; assert_eq $? 2 "a bad --since"
swarmctl cost "$job" extra 2>/dev/null; assert_eq $? 2 "two jobs"
swarmctl cost "$job" --json >/dev/null || fail "the daemon stopped serving"
ok
