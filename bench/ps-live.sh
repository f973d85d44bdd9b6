#!/usr/bin/env bash
# bench/ps-live.sh: `swarmctl ps` with 1,000 live agents, one revision
# beside another (see BENCHMARKS.md, "ps at 1,000 live agents").
#
# Each REV is exported from git and built (release) once; its own swarmd
# runs privately with AGENTS agents of `sleep` alive, and its own
# swarmctl asks it.  All the daemons are up at once, and the rounds
# alternate between them (ABBA: the order flips each round), so a load
# that comes and goes on a shared machine falls on every revision alike.
# Each round times INVOCATIONS of `swarmctl ps`, `swarmctl ps --json`
# and, for the floor (a process started, a connection, one small
# answer), `swarmctl jobs`, per revision (after 3 unmeasured): wall time,
# swarmctl's own CPU time and page faults, and the daemon's CPU time per
# call from /proc/PID/schedstat.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/ps-live.sh [-n ROUNDS] [-i INVOCATIONS] [-a AGENTS] [-k] [-o FILE] [REV...]
  -n ROUNDS       rounds over the revisions (default 6)
  -i INVOCATIONS  timed runs of each command per revision and round (default 30)
  -a AGENTS       live agents per daemon (default 1000)
  -k              keep the scratch directory (daemon logs, raw results)
  -o FILE         also write the raw results (metric, round, value) to FILE
  REV...          git revisions to compare (default: HEAD); each is built
                  once in \${TMPDIR:-/tmp}/swarmd-bench-REVHASH, reused later
EOF
}

RUNS=6
NCALLS=30
AGENTS=1000
while getopts n:i:a:ko:h opt; do
	case $opt in
	i) NCALLS=$OPTARG ;;
	a) AGENTS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
shift $((OPTIND - 1))
bench_counts "$RUNS" "$NCALLS" "$AGENTS"
[ $# -gt 0 ] || set -- HEAD

say() { printf '%s\n' "$*" >&2; }
die() { say "ps-live.sh: $*"; exit 1; }

# ---- one release build per revision ----
REVS=() HASHES=()
for rev; do
	h=$(git -C "$ROOT" rev-parse --short=10 "$rev^{commit}" 2>/dev/null) ||
	    die "not a revision: $rev"
	REVS+=("$rev") HASHES+=("$h")
	b="${TMPDIR:-/tmp}/swarmd-bench-$h"
	if [ ! -x "$b/build/swarmd" ] || [ ! -x "$b/build/swarmctl" ]; then
		say "== building $rev ($h) in $b"
		rm -rf "$b" && mkdir -p "$b/src" || die "cannot make $b"
		git -C "$ROOT" archive "$h" | tar -xf - -C "$b/src" ||
		    die "cannot export $h"
		meson setup "$b/build" "$b/src" --buildtype=release >"$b/setup.log" 2>&1 &&
		    ninja -C "$b/build" swarmd swarmctl swarmd-shim >"$b/build.log" 2>&1 ||
		    die "$rev did not build: $b/build.log"
	fi
done
REV=$(git -C "$ROOT" rev-parse --short HEAD)

bench_scratch swarmd-ps-live
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		DAEMON_PID=$p
		bench_stop_daemon
	done
	bench_kill_strays
	bench_drop_scratch
}
bench_on_exit cleanup

# ---- a daemon per revision, each with AGENTS live agents ----
SOCKS=() CTLS=()
for i in "${!REVS[@]}"; do
	b="${TMPDIR:-/tmp}/swarmd-bench-${HASHES[$i]}/build"
	SWARMD=$b/swarmd SWARMCTL=$b/swarmctl
	d="$T/r$i"
	mkdir -p "$d/state"
	# No watchdog rule may fire on the sleepers while they are measured.
	printf '[spawn]\nmax_agents = %d\nstagger_batch = %d\n[watchdog]\nheartbeat_timeout = 0\nno_progress_timeout = 0\n' \
	    "$AGENTS" "$AGENTS" >"$d/swarmd.conf"
	bench_start_daemon "$d"
	PIDS+=("$DAEMON_PID") SOCKS+=("$SWARM_SOCKET") CTLS+=("$SWARMCTL")
	python3 "$ROOT/bench/benchlib.py" jobfile "$d/live.json" live \
	    "$AGENTS" "$AGENTS" sleep 3600
	"$SWARMCTL" submit "$d/live.json" >/dev/null || die "submit failed"
	for _ in $(seq 1200); do
		n=$("$SWARMCTL" ps --json | python3 -c \
		    'import json,sys; print(sum(a["state"] == "running" for a in json.load(sys.stdin)))')
		[ "$n" = "$AGENTS" ] && break
		sleep 0.1
	done
	[ "$n" = "$AGENTS" ] || die "${REVS[$i]}: only $n of $AGENTS agents running"
	say "== ${REVS[$i]} (${HASHES[$i]}): $AGENTS agents running"
done

# time METRIC ROUND DAEMON CMD...: NCALLS runs of CMD after 3 unmeasured,
# each a line of RESULTS: METRIC, its wall ms, its own CPU ms and minor
# page faults; then METRIC.cpu, the daemon's CPU ms per call, warm-ups
# included.
time_cmd() {
	local metric=$1 round=$2 pid=$3 c0 c1
	shift 3
	c0=$(bench_cpu_ns "$pid")
	python3 - "$NCALLS" "$@" <<-'PY' | sed "s/^/$metric	$round	/" >>"$RESULTS" ||
	import resource, subprocess, sys, time
	n, cmd = int(sys.argv[1]), sys.argv[2:]
	for _ in range(3):
	    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
	for _ in range(n):
	    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
	    t0 = time.perf_counter()
	    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
	    t1 = time.perf_counter()
	    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
	    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
	    print("%.3f\t%.3f\t%d" % ((t1 - t0) * 1000, cpu * 1000,
	        r1.ru_minflt - r0.ru_minflt))
	PY
	    die "timing $* failed"
	c1=$(bench_cpu_ns "$pid")
	printf '%s.cpu\t%s\t%s\n' "$metric" "$round" \
	    "$(python3 -c "print('%.3f' % (($c1 - $c0) / 1e6 / ($NCALLS + 3)))")" >>"$RESULTS"
}

bench_phase_begin
for round in $(seq "$RUNS"); do
	order=$(seq 0 $((${#REVS[@]} - 1)))
	[ $((round % 2)) = 0 ] && order=$(echo "$order" | tac)
	for i in $order; do
		export SWARM_SOCKET=${SOCKS[$i]}
		time_cmd "ps.$i" "$round" "${PIDS[$i]}" "${CTLS[$i]}" ps
		time_cmd "psjson.$i" "$round" "${PIDS[$i]}" "${CTLS[$i]}" ps --json
		time_cmd "jobs.$i" "$round" "${PIDS[$i]}" "${CTLS[$i]}" jobs
	done
	say "  round $round of $RUNS done"
done
bench_phase_end

bench_report "swarmctl ps with $AGENTS live agents"
echo "CPU used by other processes meanwhile: ${BENCH_OTHERS}% of the machine"
echo "$RUNS rounds x $NCALLS calls per command and revision, alternating (ABBA)"
python3 - "$RESULTS" "${REVS[@]}" <<'PY'
import statistics, sys
path, revs = sys.argv[1], sys.argv[2:]
v = {}
for line in open(path):
    m, r, *xs = line.split("\t")
    for suffix, x in zip(("", ".client", ".faults"), xs):
        v.setdefault(m + suffix, []).append(float(x))
def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
print("medians of every call; daemon CPU: per call, median of the rounds")
print("%-12s %-10s %9s %9s %11s %11s %7s" % ("revision", "command",
    "wall ms", "p90 ms", "daemon CPU", "client CPU", "faults"))
for i, rev in enumerate(revs):
    for m, cmd in (("ps", "ps"), ("psjson", "ps --json"), ("jobs", "jobs")):
        k = "%s.%d" % (m, i)
        med = lambda s: statistics.median(v[k + s])
        print("%-12s %-10s %9.2f %9.2f %8.2f ms %8.2f ms %7.0f" % (rev, cmd,
            med(""), p90(v[k]), med(".cpu"), med(".client"), med(".faults")))
PY
