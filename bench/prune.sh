#!/usr/bin/env bash
# bench/prune.sh: how long a prune of ROWS rows holds swarmd's event loop.
#
# A private swarmd runs a one-chunk job, stops; the job is then made old
# (finished 60 days ago) and given ROWS rows straight in its database:
# chunks and agents (1 in 50), usage (1 in 5, old) and events (the rest).
# swarmd starts again; a client sends `hello` on one connection in a
# tight loop and times each round trip, first for IDLE seconds with
# nothing else to do (the comparison), then while `swarmctl prune
# --older-than 30d` deletes the job.  Reported per run: the prune's wall
# time, its longest step (longest_step_ms, measured inside swarmd) and
# the longest and 99th-percentile hello round trips, idle and during the
# prune; and beside them, the same rows deleted in one transaction (on a
# copy, with Python's sqlite3): how long an unbatched prune would hold
# the loop.  The median of RUNS runs is printed last.
#
# usage: bench/prune.sh [-b BUILDDIR] [-n RUNS] [-r ROWS]
set -u
BUILD=${BUILD:-build}
RUNS=3
ROWS=100000
IDLE=3
while getopts b:n:r:h opt; do
	case $opt in
	b) BUILD=$OPTARG ;;
	n) RUNS=$OPTARG ;;
	r) ROWS=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SWARMD=$BUILD/swarmd
SWARMCTL=$BUILD/swarmctl
[ -x "$SWARMD" ] || { echo "prune.sh: no $SWARMD (-b BUILDDIR)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-bench-prune.XXXXXX")
DAEMON_PID=""
stop() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}
trap 'stop; [ -n "${KEEPT:-}" ] || rm -rf "$T"' EXIT
export SWARM_SOCKET="$T/s.sock"

start() {
	"$SWARMD" -f -c "$T/conf" -s "$SWARM_SOCKET" -d "$T/state" 2>>"$T/log" &
	DAEMON_PID=$!
	for _ in $(seq 500); do
		"$SWARMCTL" jobs >/dev/null 2>&1 && return 0
		sleep 0.02 # until it answers, bounded
	done
	echo "prune.sh: swarmd did not come up" >&2
	exit 1
}

# fill DB ROWS: make job 1 old and give it ROWS rows.
fill() {
	python3 - "$1" "$2" <<'P'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
rows = int(sys.argv[2])
old = int(time.time() * 1000) - 60 * 86400 * 1000
n_ag = rows // 50
n_use = rows // 5
n_ev = rows - 2 * n_ag - n_use
with db:
    db.execute("UPDATE jobs SET finished = ?, created = ? WHERE id = 1", (old, old))
    db.execute("UPDATE chunks SET updated = ? WHERE job = 1", (old,))
    db.executemany("INSERT INTO chunks (job, seq, id, task, state, updated) "
                   "VALUES (1, ?, ?, 't', 'done', ?)",
                   ((i + 10, "b%d" % i, old) for i in range(n_ag)))
    db.executemany("INSERT INTO agents (job, chunk, attempt, state, ended) "
                   "VALUES (1, ?, 1, 'exited', ?)",
                   (("b%d" % i, old) for i in range(n_ag)))
    ids = [r[0] for r in db.execute("SELECT id FROM agents WHERE job = 1")]
    db.executemany("INSERT INTO usage (ts, agent, job, source, input) "
                   "VALUES (?, ?, 1, 'report', 10)",
                   ((old, ids[i % len(ids)]) for i in range(n_use)))
    db.executemany("INSERT INTO events (ts, event, job, data) "
                   "VALUES (?, 'heartbeat', 1, '{\"note\":\"x\"}')",
                   ((old,) for _ in range(n_ev)))
P
}

# pinger OUT: hello round trips (ms), one a line, until OUT.stop exists.
pinger() {
	python3 - "$SWARM_SOCKET" "$1" <<'P'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
f = s.makefile("rwb")
out = open(sys.argv[2], "w")
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2] + ".stop"):
    t = time.monotonic()
    f.write(b'{"id":1,"verb":"hello"}\n'); f.flush(); f.readline()
    out.write("%.3f\n" % ((time.monotonic() - t) * 1000))
P
}

stats() { # FILE: max and p99 of a column of numbers
	sort -n "$1" | awk '{v[NR]=$1} END {i=int(NR*0.99); if(i<1)i=1; printf "%.1f %.1f\n", v[NR], v[i]}'
}

printf 'run wall_s longest_step_ms idle_max_ms idle_p99_ms prune_max_ms prune_p99_ms one_txn_ms\n'
for run in $(seq "$RUNS"); do
	rm -rf "$T/state" "$T"/ping.*
	printf '[spawn]\nstagger_interval = 0\n[store]\nkeep = off\n' >"$T/conf"
	start
	printf '{"name":"old","command":["true"],"chunks":[{"id":"c0","task":"t"}]}\n' >"$T/j.json"
	"$SWARMCTL" submit "$T/j.json" >/dev/null
	"$SWARMCTL" wait job-1 --timeout 30 >/dev/null 2>&1 ||
		for _ in $(seq 500); do
			[ "$("$SWARMCTL" show job-1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = done ] && break
			sleep 0.02 # until done, bounded
		done
	stop
	fill "$T/state/swarmd.db" "$ROWS"
	# The comparison: the same rows deleted in one transaction, as an
	# unbatched prune would, on a copy (synchronous = full, as swarmd).
	cp "$T/state/swarmd.db" "$T/copy.db"
	one=$(python3 - "$T/copy.db" <<'P'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = WAL"); db.execute("PRAGMA synchronous = FULL")
t = time.monotonic()
db.execute("BEGIN")
for sql in ("DELETE FROM events WHERE job = 1",
            "DELETE FROM usage WHERE agent IN (SELECT id FROM agents WHERE job = 1)",
            "DELETE FROM agents WHERE job = 1", "DELETE FROM chunks WHERE job = 1",
            "DELETE FROM jobs WHERE id = 1"):
    db.execute(sql)
db.execute("COMMIT")
print("%.1f" % ((time.monotonic() - t) * 1000))
P
)
	rm -f "$T"/copy.db*
	start
	pinger "$T/ping.idle" &
	p=$!
	until [ -e "$T/ping.idle.ready" ]; do sleep 0.02; done # python's start
	sleep "$IDLE" # the idle comparison runs this long
	: >"$T/ping.idle.stop"
	wait $p
	pinger "$T/ping.prune" &
	p=$!
	until [ -e "$T/ping.prune.ready" ]; do sleep 0.02; done # python's start
	t0=$(date +%s%N)
	r=$("$SWARMCTL" prune --older-than 30d --json)
	t1=$(date +%s%N)
	: >"$T/ping.prune.stop"
	wait $p
	stop
	step=$(echo "$r" | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["jobs"] == 1, j; print(j["longest_step_ms"])')
	printf '%d %.2f %s %s %s %s\n' "$run" "$(awk "BEGIN {print ($t1 - $t0) / 1e9}")" \
		"$step" "$(stats "$T/ping.idle")" "$(stats "$T/ping.prune")" "$one"
done | tee "$T/results"
echo "median:"
python3 - "$T/results" <<'P'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l[0].isdigit()]
names = "wall_s longest_step_ms idle_max_ms idle_p99_ms prune_max_ms prune_p99_ms one_txn_ms".split()
print(" ".join("%s=%s" % (n, statistics.median(float(r[i + 1]) for r in rows)) for i, n in enumerate(names)))
P
