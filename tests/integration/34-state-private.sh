#!/bin/bash
# The state database holds jobs' specs (the names of their env) and agents' token
# hashes: it is swarmd's alone.  The database, its -wal and -shm are 0600,
# and one an older swarmd left readable by others is tightened at start,
# with nothing in it lost.
. "$(dirname "$0")/lib.sh"
DB="$STATE/swarmd.db"
mode() { stat -c %a "$1"; }
start_daemon
j=$(swarmctl submit "$(job_file private '["true"]' 1 '{"env":{"API_KEY":"not-for-others"}}')")
wait_until 20 job_is "$j" done || fail "$j did not finish"
assert_eq "$(mode "$DB")" 600 "the database"
assert_eq "$(mode "$DB-wal")" 600 "its WAL"
[ ! -e "$DB-shm" ] || assert_eq "$(mode "$DB-shm")" 600 "its shared memory"

stop_daemon || fail "swarmd did not stop cleanly"
chmod 0644 "$DB"
[ ! -e "$DB-wal" ] || chmod 0644 "$DB-wal"
start_daemon
wait_until 10 swarmctl jobs || fail "swarmd did not come back"
assert_eq "$(mode "$DB")" 600 "tightened at start"
[ ! -e "$DB-wal" ] || assert_eq "$(mode "$DB-wal")" 600 "its WAL tightened"
assert_eq "$(job_state "$j")" done "the job is still there"
ok
