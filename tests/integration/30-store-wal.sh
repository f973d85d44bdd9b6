#!/bin/bash
# SQLite's WAL checkpoints run in a helper process, not on swarmd's loop:
# the helper is there, the database file takes the log's pages while
# swarmd runs, a helper killed is replaced by SQLite's own checkpoints
# (swarmd serves on and still checkpoints), and the helper never outlives
# swarmd, whether it stops or is killed.
. "$(dirname "$0")/lib.sh"
DB="$STATE/swarmd.db"
helper() { pgrep -P "$1" -f -- --wal-checkpointer; }
size() { stat -c %s "$DB"; }
grown() { [ "$(size)" -gt "$1" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# Enough writes for well over 1000 pages of log (4 KiB each): agents that
# each store a 300 kB checkpoint in the database.
run_job() {
	local f job
	f=$(job_file "$1" '["sh", "-c", "head -c 300000 /dev/urandom >ck && swarmctl checkpoint --file ck"]' 30 \
		'{"concurrency": 10}')
	job=$(swarmctl submit "$f") || fail "submit $1"
	wait_until 120 job_is "$job" done || fail "$1 did not finish: $(job_state "$job")"
}

start_daemon
wait_until 10 helper "$DAEMON_PID" || fail "no checkpoint helper"
H=$(helper "$DAEMON_PID")
before=$(size)
run_job first
wait_until 30 grown "$before" || fail "nothing checkpointed into the database: $(size) bytes"
kill -0 "$H" || fail "the helper died"
grep -q "checkpoints run in swarmd" "$T/swarmd.log" && fail "swarmd checkpointed itself"

# Killed: swarmd says so, serves on, and checkpoints itself.
kill -KILL "$H"
wait_until 10 grep -q "checkpoint helper was killed by signal 9" "$T/swarmd.log" ||
	fail "swarmd did not notice the helper's death"
swarmctl jobs >/dev/null || fail "swarmd stopped serving"
before=$(size)
run_job second
wait_until 30 grown "$before" || fail "no checkpoints after the helper died: $(size) bytes"

# A clean stop takes the helper with it.
stop_daemon || fail "swarmd did not stop cleanly"
start_daemon
wait_until 10 helper "$DAEMON_PID" || fail "no checkpoint helper after a restart"
H=$(helper "$DAEMON_PID")
stop_daemon || fail "swarmd did not stop cleanly"
wait_until 10 gone "$H" || fail "the helper outlived a clean stop"

# So does kill -9: the helper sees its pipe close.
start_daemon
wait_until 10 helper "$DAEMON_PID" || fail "no checkpoint helper after a restart"
H=$(helper "$DAEMON_PID")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
wait_until 10 gone "$H" || fail "the helper outlived swarmd killed"
"$SWARMD" --check "$STATE" >"$T/check.out" 2>&1 || fail "--check: $(cat "$T/check.out")"
ok
