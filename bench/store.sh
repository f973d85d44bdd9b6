#!/usr/bin/env bash
# bench/store.sh: issue 6's store benchmarks (see BENCHMARKS.md).
#
#   ready   time from exec to the first answered request (hello) with
#           100,000 chunks in the state (10 paused jobs; and the same
#           jobs running, one agent at a time), compared in the same run
#           with an empty state and with `swarmd -V` (exec, dynamic
#           linking, exit); also swarmd's CPU time up to that moment and
#           the time to the first answered `jobs`
#   events  durable events/s: 50 agents running `hb-client --verb note`
#           (each reply only after its event is committed; swarmd groups
#           the commits of one loop turn) with [store] synchronous = full,
#           compared with synchronous = normal and with a plain SQLite
#           loop, one commit per row (python3 sqlite3, WAL), on the same
#           disk, synchronous=FULL and NORMAL
#
# Every daemon is private (own socket and state dir under one mktemp dir),
# and everything started here is stopped on exit.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/store.sh [-n RUNS] [-b BUILDDIR] [-w SECONDS] [-t TESTS] [-k] [-o FILE]
  -n RUNS      repetitions (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -w SECONDS   length of the events measuring window (default 5)
  -t TESTS     comma-separated subset of ready,events (default: both)
  -k           keep the scratch directory (logs, databases, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=5
WINDOW=5
TESTS=ready,events
while getopts n:b:w:t:ko:h opt; do
	case $opt in
	w) WINDOW=$OPTARG ;;
	t) TESTS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$WINDOW"
want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

BIG_JOBS=10		# the big state: 10 jobs ...
BIG_CHUNKS=10000	# ... of 10,000 chunks (a request line is <= 1 MiB)
HB_AGENTS=50
HB_LEAD_MS=2000		# the window opens this long after submit

say() { printf '%s\n' "$*" >&2; }
die() { say "store.sh: $*"; exit 1; }

bench_build
bench_rev src include meson.build
bench_scratch swarmd-store
bench_on_exit bench_cleanup
mkdir -p "$T/bin"
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$T/bin/hb-client" \
    "$ROOT/bench/hb-client.c" || die "cannot compile bench/hb-client.c"
HB_CLIENT="$T/bin/hb-client"
# fsync-count.so, preloaded into swarmd for the events test only: counts
# its fsync and fdatasync calls, and the time spent in them, in a file
# read at the window's edges.
cat >"$T/fsync-count.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t *counts;	/* fsync calls, fdatasync calls, ns in both */
static int (*real_fsync)(int), (*real_fdatasync)(int);

__attribute__((constructor)) static void
init(void)
{
	const char *p = getenv("FSYNC_COUNT_FILE");
	int fd;

	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	unsetenv("LD_PRELOAD");		/* swarmd's agents go uncounted */
	if (p == NULL || (fd = open(p, O_RDWR | O_CREAT, 0600)) == -1)
		return;
	if (ftruncate(fd, 24) == 0 && (counts = mmap(NULL, 24, PROT_READ |
	    PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		counts = NULL;
	close(fd);
}

static int
timed(int (*f)(int), int fd, int which)
{
	struct timespec a, b;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = f(fd);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (counts != NULL) {
		__atomic_add_fetch(&counts[which], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&counts[2], (uint64_t)((b.tv_sec -
		    a.tv_sec) * 1000000000LL + b.tv_nsec - a.tv_nsec),
		    __ATOMIC_RELAXED);
	}
	return rc;
}

int
fsync(int fd)
{
	return timed(real_fsync, fd, 0);
}

int
fdatasync(int fd)
{
	return timed(real_fdatasync, fd, 1);
}
EOF
${CC:-cc} -O2 -shared -fPIC -o "$T/bin/fsync-count.so" "$T/fsync-count.c" \
    -ldl || die "cannot compile the fsync counter"
# syncs FILE: fsync + fdatasync calls counted so far, and ns spent in them
syncs() { od -An -v -w24 -t u8 -N 24 "$1" | awk '{ print $1 + $2, $3 }'; }

cat >"$T/store.py" <<'PY'
import json, os, signal, socket, sqlite3, statistics, subprocess, sys, time

import report


def connect(path):
    """A connection to PATH, or None while nobody listens there."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    s.settimeout(30)
    return s


def call(s, verb, args=None):
    req = {"id": 1, "verb": verb}
    if args is not None:
        req["args"] = args
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while b"\n" not in buf:
        d = s.recv(1 << 20)
        if not d:
            raise EOFError("swarmd closed the connection")
        buf += d
    r = json.loads(buf.split(b"\n", 1)[0])
    if not r.get("ok"):
        raise RuntimeError("%s: %s" % (verb, r.get("error")))
    return r


def cpu_ms(pid):
    """CPU time PID's main thread has run, in ms (ns resolution)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e6


def ready(swarmd, conf, sock, state, log):
    """exec -> first answered hello, and -> first answered jobs (ms);
    swarmd's CPU ms at the hello; then stop it (SIGTERM) and wait."""
    if os.path.exists(sock):
        os.unlink(sock)
    with open(log, "a") as lf:
        t0 = time.perf_counter()
        p = subprocess.Popen([swarmd, "-f", "-c", conf, "-s", sock, "-d",
                              state], stderr=lf)
        deadline = t0 + 60
        while True:
            s = connect(sock)
            if s is not None:
                try:
                    call(s, "hello", {"version": 1})
                    break
                except (OSError, EOFError):
                    s.close()
            if p.poll() is not None:
                raise RuntimeError("swarmd exited with %d" % p.returncode)
            if time.perf_counter() > deadline:
                raise RuntimeError("swarmd not ready after 60 s")
            time.sleep(0.001)
        t1 = time.perf_counter()
        cpu = cpu_ms(p.pid)
        jobs = call(s, "jobs")["jobs"]
        t2 = time.perf_counter()
        total = sum(j["total"] for j in jobs)
        s.close()
        p.send_signal(signal.SIGTERM)
        if p.wait(60) != 0:
            raise RuntimeError("swarmd exited with %d" % p.returncode)
    print("%.2f %.2f %.2f %d" % ((t1 - t0) * 1000, (t2 - t0) * 1000, cpu,
                                 total))


def version(swarmd, n):
    """Median ms of N runs of `swarmd -V`: the floor any start pays."""
    t = []
    for _ in range(int(n)):
        t0 = time.perf_counter()
        subprocess.run([swarmd, "-V"], stdout=subprocess.DEVNULL, check=True)
        t.append((time.perf_counter() - t0) * 1000)
    print("%.2f" % statistics.median(t))


def bigjob(out, name, n, cmd):
    job = {"name": name, "concurrency": 1, "command": json.loads(cmd),
           "chunks": [{"id": "c%05d" % i, "task": "task %d" % i}
                      for i in range(int(n))]}
    with open(out, "w") as f:
        json.dump(job, f)


def hbjob(out, n, *cmd):
    job = {"name": "notes", "concurrency": int(n), "command": list(cmd),
           "chunks": [{"id": "c%d" % i, "task": "task %d" % i}
                      for i in range(int(n))]}
    with open(out, "w") as f:
        json.dump(job, f)


def wait(sock, job, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    end = time.monotonic() + float(timeout)
    while True:
        j = next(x for x in call(s, "jobs")["jobs"] if x["job"] == job)
        if j["state"] != "running":
            print(j["counts"]["done"], j["total"])
            return
        if time.monotonic() > end:
            raise RuntimeError("%s still running" % job)
        time.sleep(0.2)


def rows(db, job, start, end):
    """Heartbeat-note rows of JOB: all of them, and those inside the
    window [start, end) by their own timestamp."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    jid = int(job.split("-")[1])
    q = ("SELECT count(*), coalesce(sum(ts >= ? AND ts < ?), 0) FROM events"
         " WHERE job = ? AND event = 'heartbeat' AND data IS NOT NULL")
    a, b = c.execute(q, (int(start), int(end), jid)).fetchone()
    c.close()
    print(a, b)


def plain(path, sync, seconds):
    """One transaction per row, as fast as it goes, for SECONDS: rows/s.
    The events table of swarmd's schema, its indexes included."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("PRAGMA synchronous = %s" % sync)
    c.executescript(
        "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY "
        "AUTOINCREMENT, ts INTEGER NOT NULL, event TEXT NOT NULL, job "
        "INTEGER, chunk TEXT, agent INTEGER, attempt INTEGER, data TEXT);"
        "CREATE INDEX IF NOT EXISTS events_by_job ON events (job, seq);"
        "CREATE INDEX IF NOT EXISTS events_by_agent ON events "
        "(agent, event);")
    n = 0
    t0 = time.perf_counter()
    end = t0 + float(seconds)
    while True:
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO events (ts, event, job, chunk, agent, "
                  "attempt, data) VALUES (?, 'heartbeat', 1, ?, ?, 1, ?)",
                  (int(time.time() * 1000), "c%d" % (n % 50), n % 50 + 1,
                   '{"note":"benchmark step"}'))
        c.execute("COMMIT")
        n += 1
        t = time.perf_counter()
        if t >= end:
            break
    got = c.execute("SELECT count(*) FROM events").fetchone()[0]
    c.close()
    print("%.0f %d %d" % (n / (t - t0), n, got))


METRICS = [
    ("ready.big", "ready: exec -> hello answered, 100,000 chunks", "ms"),
    ("ready.busy", "ready: same 100,000 chunks, jobs running", "ms"),
    ("ready.empty", "  cmp: empty state", "ms"),
    ("ready.version", "  cmp: `swarmd -V` (exec to exit, median of 20)",
     "ms"),
    ("ready.ratio", "  ratio 100,000 chunks / empty (same run)", "x"),
    ("ready.ratio.busy", "  ratio jobs running / empty (same run)", "x"),
    ("ready.cpu.big", "  swarmd CPU until ready, 100,000 chunks", "ms"),
    ("ready.cpu.busy", "  swarmd CPU until ready, jobs running", "ms"),
    ("ready.cpu.empty", "  swarmd CPU until ready, empty", "ms"),
    ("ready.jobs.big", "  exec -> first `jobs` answered, 100,000 chunks",
     "ms"),
    ("ready.jobs.busy", "  exec -> first `jobs` answered, jobs running",
     "ms"),
    ("ready.jobs.empty", "  exec -> first `jobs` answered, empty", "ms"),
    ("ev.full", "events/s, 50 agents, synchronous = full", "ev/s"),
    ("ev.full.cpu", "  swarmd busy during the window", "% CPU"),
    ("ev.full.rows", "  rows in the window / clients' count", "x"),
    ("ev.full.syncs", "  swarmd's fsync+fdatasync calls", "/s"),
    ("ev.full.per_sync", "  events per sync", "x"),
    ("ev.full.blocked", "  swarmd's time inside those calls", "% wall"),
    ("ev.normal", "events/s, 50 agents, synchronous = normal", "ev/s"),
    ("ev.normal.cpu", "  swarmd busy during the window", "% CPU"),
    ("ev.normal.rows", "  rows in the window / clients' count", "x"),
    ("ev.normal.syncs", "  swarmd's fsync+fdatasync calls", "/s"),
    ("ev.normal.blocked", "  swarmd's time inside those calls", "% wall"),
    ("ev.ratio", "  ratio full / normal (same run)", "x"),
    ("plain.full", "plain SQLite, 1 commit/row, WAL, FULL", "rows/s"),
    ("plain.normal", "plain SQLite, 1 commit/row, WAL, NORMAL", "rows/s"),
    ("ev.vs_plain", "  ratio swarmd full / plain FULL (same run)", "x"),
    ("foreign.ready", "CPU others used during ready (all runs)",
     "% machine"),
    ("foreign.events", "CPU others used during each events run",
     "% machine"),
]


def table(path, runs):
    vals = report.read(path)

    def fmt(v, unit):
        if unit in ("ev/s", "rows/s", "/s"):
            return "{:,.0f}".format(v)
        if unit == "x":
            return "%.3f" % v if v < 10 else "%.1f" % v
        if unit in ("% CPU", "% machine", "% wall"):
            return "%.0f" % v
        return "%.2f" % v if v < 100 else "%.1f" % v
    rows = [("metric", "unit", "median", "min", "max", "n")]
    for key, label, unit in METRICS:
        v = vals.get(key)
        if not v:
            continue
        rows.append((label, unit, fmt(statistics.median(v), unit),
                     fmt(min(v), unit), fmt(max(v), unit), str(len(v))))
    report.table(rows, (0, 1))
    print("\nmedian, min and max over %s runs." % runs)


if __name__ == "__main__":
    cmds = {"ready": ready, "version": version, "bigjob": bigjob, "hbjob": hbjob, "wait": wait,
            "rows": rows, "plain": plain, "table": table}
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, EOFError, StopIteration,
            subprocess.TimeoutExpired) as e:
        sys.exit("store.py: %s: %s" % (sys.argv[1], e))
PY
# report.py (the results table) is beside this script, not in $T.
py() { PYTHONPATH="$ROOT/bench" python3 "$T/store.py" "$@"; }

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
ratio() { python3 -c "print('%.4f' % ($1 / $2))"; }

# start_daemon DIR [count]: swarmd on DIR with DIR/swarmd.conf (up to
# 20 s to load a big state).  "count": its syncs are counted in DIR/syncs.
start_daemon() {
	if [ "${2:-}" = count ]; then
		BENCH_UP_TRIES=400 bench_start_daemon "$1" \
		    FSYNC_COUNT_FILE="$1/syncs" LD_PRELOAD="$T/bin/fsync-count.so"
	else
		BENCH_UP_TRIES=400 bench_start_daemon "$1"
	fi
}

# ---- a. start to ready ----
if want ready; then
	# Nothing may run: one agent at most, and the jobs are paused right
	# after their submit; a stop ends the one agent that started.
	for s in empty big busy; do
		mkdir -p "$T/$s"
		printf '[spawn]\nmax_agents = 1\nstop_agents = yes\nstop_grace = 1\n' \
		    >"$T/$s/swarmd.conf"
	done
	start_daemon "$T/empty"
	bench_stop_daemon
	say "== ready: building $BIG_JOBS jobs x $BIG_CHUNKS chunks"
	t0=$(bench_now_ms)
	start_daemon "$T/big"
	py bigjob "$T/big/job.json" big "$BIG_CHUNKS" '["sleep","3600"]'
	for i in $(seq "$BIG_JOBS"); do
		job=$("$SWARMCTL" submit "$T/big/job.json") || die "submit $i failed"
		"$SWARMCTL" pause "$job" >/dev/null || die "pause $job failed"
	done
	bench_stop_daemon
	say "  built in $(( $(bench_now_ms) - t0 )) ms;" \
	    "database $(du -k "$T/big/state/swarmd.db" | cut -f1) KiB"
	# busy: the same state with its jobs running.  Each start then
	# starts one agent (max_agents 1) and each stop ends it (stop_agents).
	cp -a "$T/big/state" "$T/busy/state"
	start_daemon "$T/busy"
	for i in $(seq "$BIG_JOBS"); do
		"$SWARMCTL" resume "job-$i" >/dev/null || die "resume job-$i failed"
	done
	bench_stop_daemon
	bench_quiet
	bench_phase_begin
	for run in $(seq "$RUNS"); do
		v=$(py version "$SWARMD" 20) || die "swarmd -V failed"
		record ready.version "$run" "$v"
		for s in empty big busy; do
			out=$(py ready "$SWARMD" "$T/$s/swarmd.conf" \
			    "$T/$s/swarmd.sock" "$T/$s/state" \
			    "$T/$s/swarmd.log") || die "ready $s run $run"
			set -- $out
			record "ready.$s" "$run" "$1"
			record "ready.jobs.$s" "$run" "$2"
			record "ready.cpu.$s" "$run" "$3"
			eval "r_$s=$1"
			case $s:$4 in
			empty:0 | big:$(( BIG_JOBS * BIG_CHUNKS )) | \
			    busy:$(( BIG_JOBS * BIG_CHUNKS ))) ;;
			*) die "$s state holds $4 chunks" ;;
			esac
			say "  ready $s run $run: ${1} ms (jobs ${2} ms," \
			    "CPU ${3} ms, $4 chunks)"
		done
		record ready.ratio "$run" "$(ratio "$r_big" "$r_empty")"
		record ready.ratio.busy "$run" "$(ratio "$r_busy" "$r_empty")"
		say "  swarmd -V run $run: $v ms"
	done
	bench_phase_end
	record foreign.ready 1 "$BENCH_OTHERS"
	# Paused jobs started nothing but the one agent before the pause.
	n=$(grep -c subagent_started "$T/big/swarmd.log")
	[ "$n" -le 1 ] || die "$n agents started in the paused state"
	n=$(grep -c subagent_started "$T/busy/swarmd.log")
	say "  busy state: $n agents started: one when its jobs were resumed," \
	    "then one at each of its $RUNS starts"
fi

# ---- b. events per second ----
# ev_once SYNC RUN: a fresh daemon, 50 hb-clients --verb note for WINDOW s.
ev_once() {
	local sync=$1 run=$2 dir="$T/ev-$1-$2" start job c0 c1 t0 t1 s0 s1 sum out
	local sps n0 n1 blocked
	mkdir -p "$dir/out"
	{
		printf '[spawn]\nmax_agents = 1000\nstagger_batch = 1000\n'
		printf 'stagger_interval = 0\n[store]\nsynchronous = %s\n' "$sync"
	} >"$dir/swarmd.conf"
	start_daemon "$dir" count
	start=$(( $(bench_now_ms) + HB_LEAD_MS ))
	py hbjob "$dir/job.json" "$HB_AGENTS" "$HB_CLIENT" --verb note \
	    "$start" "$WINDOW" "$dir/out/{chunk}"
	job=$("$SWARMCTL" submit "$dir/job.json") || die "submit failed"
	bench_sleep_until $(( start + 100 ))
	c0=$(bench_cpu_ns "$DAEMON_PID") t0=$(date +%s%N)
	read -r s0 n0 <<<"$(syncs "$dir/syncs")"
	bench_sleep_until $(( start + WINDOW * 1000 - 100 ))
	c1=$(bench_cpu_ns "$DAEMON_PID") t1=$(date +%s%N)
	read -r s1 n1 <<<"$(syncs "$dir/syncs")"
	out=$(py wait "$SWARM_SOCKET" "$job" 60) || die "$job did not end"
	set -- $out
	[ "$1" = "$HB_AGENTS" ] ||
	    die "$job: $1 of $2 clients succeeded (logs in $dir/state/logs)"
	set -- $(cat "$dir"/out/c* | awk '{ s += $1; if ($2 > l) l = $2; e += $3; n++ }
	    END { print s + 0, l + 0, e + 0, n + 0 }')
	[ "$4" = "$HB_AGENTS" ] && [ "$3" = 0 ] ||
	    die "$job: $4 result files, $3 errors"
	[ "$2" -le 100 ] || say "store.sh: warning: a client began $2 ms late"
	sum=$1
	bench_stop_daemon
	out=$(py rows "$dir/state/swarmd.db" "$job" "$start" \
	    $(( start + WINDOW * 1000 ))) || die "counting rows failed"
	set -- $out
	# Each client: one note before the window, one answered after it.
	[ "$1" = $(( sum + 2 * HB_AGENTS )) ] ||
	    say "store.sh: warning: $job: $1 rows for $sum counted + $(( 2 * HB_AGENTS ))"
	record "ev.$sync" "$run" "$(( sum / WINDOW ))"
	record "ev.$sync.cpu" "$run" "$(( (c1 - c0) * 100 / (t1 - t0) ))"
	record "ev.$sync.rows" "$run" "$(ratio "$2" "$sum")"
	# Syncs in the middle of the window (all but 100 ms at either end).
	sps=$(( (s1 - s0) * 1000000000 / (t1 - t0) ))
	record "ev.$sync.syncs" "$run" "$sps"
	blocked=$(( (n1 - n0) * 100 / (t1 - t0) ))
	record "ev.$sync.blocked" "$run" "$blocked"
	[ "$sps" -gt 0 ] &&
	    record "ev.$sync.per_sync" "$run" "$(ratio "$(( sum / WINDOW ))" "$sps")"
	eval "e_$sync=$sum"
	say "  events $sync run $run: $sum in ${WINDOW}s = $(( sum / WINDOW ))/s;" \
	    "rows: $1 in all, $2 inside the window;" \
	    "swarmd busy $(( (c1 - c0) * 100 / (t1 - t0) ))% of a CPU, $sps syncs/s," \
	    "in them ${blocked}% of the time"
}

if want events; then
	say "== events: $HB_AGENTS agents, ${WINDOW}s window, $RUNS runs"
	for run in $(seq "$RUNS"); do
		bench_quiet
		bench_phase_begin
		ev_once full "$run"
		ev_once normal "$run"
		record ev.ratio "$run" "$(ratio "$e_full" "$e_normal")"
		for sync in FULL NORMAL; do
			rm -f "$T/plain.db" "$T/plain.db-wal" "$T/plain.db-shm"
			out=$(py plain "$T/plain.db" "$sync" "$WINDOW") ||
			    die "plain SQLite loop failed"
			set -- $out
			[ "$2" = "$3" ] || die "plain: $2 commits, $3 rows"
			record "plain.$(echo "$sync" | tr A-Z a-z)" "$run" "$1"
			[ "$sync" = FULL ] && p_full=$1
			say "  plain SQLite $sync run $run: $1 rows/s ($2 rows)"
		done
		record ev.vs_plain "$run" "$(ratio "$(( e_full / WINDOW ))" "$p_full")"
		bench_phase_end
		record foreign.events "$run" "$BENCH_OTHERS"
	done
fi

bench_report "swarmd store benchmarks" mem disk
echo "build: $BUILD (${BUILDTYPE:-unknown}); $RUNS runs"
py table "$RESULTS" "$RUNS"
