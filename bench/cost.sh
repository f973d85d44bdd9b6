#!/usr/bin/env bash
# bench/cost.sh: swarmctl cost with a long history (issue 19; see
# BENCHMARKS.md).  A state of JOBS jobs of 20 chunks, 2 attempts each, 50
# usage records an attempt (200,000 records at 100 jobs) over the last
# week, in time order as swarmd appends them, written with python3's sqlite3 into a database swarmd made and
# then served by swarmd: the time of `swarmctl cost job-N` (one job, by
# its agents' indexes) beside `swarmctl cost --since 1d` (usage_by_ts)
# and `swarmctl cost` (every record ever: the scan it must be), and
# `swarmctl jobs` in the same state for scale.  The median of RUNS.
#
#   bench/cost.sh [-n RUNS] [-j JOBS] [-b BUILDDIR]
set -u
runs=5 jobs=100 build=${BUILD:-$(dirname "$0")/../build}
while getopts n:j:b: o; do
	case $o in
	n) runs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	b) build=$OPTARG ;;
	*) exit 2 ;;
	esac
done
d=$(mktemp -d "${TMPDIR:-/tmp}/bench-cost.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
: >"$d/c.conf"
export SWARM_SOCKET="$d/s.sock"
up() {
	"$build/swarmd" -f -c "$d/c.conf" -s "$d/s.sock" -d "$d/st" 2>>"$d/log" &
	pid=$!
	for _ in $(seq 200); do "$build/swarmctl" jobs >/dev/null 2>&1 && return; sleep 0.05; done
	echo "swarmd did not come up" >&2
	exit 1
}
up
kill "$pid" && wait "$pid"
python3 - "$d/st/swarmd.db" "$jobs" <<'PY'
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now, aid, rows = int(time.time() * 1000), 0, []
for j in range(1, int(sys.argv[2]) + 1):
    db.execute("INSERT INTO jobs (id, name, spec, workdir, concurrency, timeout, "
               "state, created, finished) VALUES (?, ?, '{}', '/tmp', 4, 60, 'done', ?, ?)",
               (j, "j%d" % j, now, now))
    for c in range(20):
        for a in (1, 2):
            aid += 1
            db.execute("INSERT INTO agents (id, job, chunk, attempt, state, started, ended) "
                       "VALUES (?, ?, ?, ?, 'exited', ?, ?)", (aid, j, "c%d" % c, a, now, now))
            rows += [(now - random.randint(0, 7 * 86400000), aid, j, "c%d" % c,
                      "claude-sonnet-4-5", "proxy", "m%d" % u, 100, 20, 0, 50, 0.001)
                     for u in range(50)]
        db.execute("INSERT INTO chunks (job, seq, id, task, state, attempts, agent) "
                   "VALUES (?, ?, ?, 't', 'done', 2, ?)", (j, c, "c%d" % c, aid))
rows.sort()  # appended as they came: rowid order is time order
db.executemany("INSERT INTO usage (ts, agent, job, chunk, model, source, message_id, "
               "input, output, cache_creation, cache_read, usd) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
db.commit()
print("%d usage records, %d agents, %s jobs" % (len(rows), aid, sys.argv[2]))
PY
up
# median_ms CMD...: the median wall time of RUNS runs of CMD, in ms.
median_ms() {
	for _ in $(seq "$runs"); do
		s=$(date +%s%N)
		"$@" >/dev/null || exit 1
		echo $(( ($(date +%s%N) - s) / 1000 ))
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f ms (%.1f-%.1f)\n", v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000 }'
}
half=$(( (jobs + 1) / 2 ))
printf 'cost job-%s         %s\n' "$half" "$(median_ms "$build/swarmctl" cost "job-$half" --json)"
printf 'cost --since 1d     %s\n' "$(median_ms "$build/swarmctl" cost --since 1d --json)"
printf 'cost (every job)    %s\n' "$(median_ms "$build/swarmctl" cost --json)"
printf 'jobs                %s\n' "$(median_ms "$build/swarmctl" jobs --json)"
