#!/bin/bash
# A job's env values (API keys, mostly) never reach the database: the
# spec there names the variables, the values are kept in
# STATE/secrets/job-N.json (0600, directory 0700) and given to every
# agent, also to those started after a restart.  A database written
# before this keeps its env values until the next start moves them out,
# leaving no copy in the database file or its write-ahead log.
. "$(dirname "$0")/lib.sh"
start_daemon
KEY=sk-ant-test-5ecret-93f1c2
# Two chunks one at a time; each writes its key where the test sees it,
# the first waits for the test's word.
f=$(job_file keyed '["sh", "-c", "echo \"$ANTHROPIC_API_KEY\" >'"$T"'/key.$SWARM_CHUNK; [ $SWARM_CHUNK = c1 ] || until [ -e '"$T"'/go ]; do sleep 0.05; done"]' 2 \
	"{\"concurrency\": 1, \"env\": {\"ANTHROPIC_API_KEY\": \"$KEY\", \"PLAIN\": \"x\"}}")
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/key.c0" || fail "the first agent did not start"
assert_eq "$(cat "$T/key.c0")" "$KEY" "the agent got its key"

indb() { cat "$STATE"/swarmd.db* | grep -a -c "$1"; }
assert_eq "$(indb "$KEY")" 0 "the key is not in the database"
assert_eq "$(stat -c %a "$STATE/secrets")" 700 "secrets directory mode"
assert_eq "$(stat -c %a "$STATE/secrets/${job}.json")" 600 "secrets file mode"
assert_eq "$(json 'j["ANTHROPIC_API_KEY"]' <"$STATE/secrets/${job}.json")" "$KEY" "kept in the file"
grep -q "$KEY" "$T/swarmd.log" && fail "the key is in the log"

# Across a restart: the second agent starts under the next swarmd.
stop_daemon || fail "swarmd did not stop"
start_daemon
touch "$T/go"
wait_until 30 job_is "$job" done || fail "the job did not finish: $(job_state "$job")"
assert_eq "$(cat "$T/key.c1")" "$KEY" "the agent started after the restart got its key"

# A row stored the old way: the next start moves the values out.
stop_daemon || fail "swarmd did not stop"
python3 - "$STATE/swarmd.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("""UPDATE jobs SET spec = json_set(spec, '$.env', json('{"OLD_KEY": "legacy-5ecret-77"}'))""")
db.commit()
PY
[ "$(indb legacy-5ecret-77)" -gt 0 ] || fail "the old row was not written"
start_daemon
assert_eq "$(indb legacy-5ecret-77)" 0 "the old value left the database and its log"
assert_eq "$(json 'j["OLD_KEY"]' <"$STATE/secrets/${job}.json")" legacy-5ecret-77 "the old value is kept in the file"
swarmctl jobs >/dev/null || fail "the daemon stopped serving"
ok
