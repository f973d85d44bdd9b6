#!/usr/bin/env bash
# bench/shim.sh: what the shim (swarmd-shim, the parent that records each
# agent's exit status) costs, against spawning without it ([spawn] shim =
# off), both in the same run, interleaved (see BENCHMARKS.md).
#
#   spawn    submit-to-done of N `true` agents at concurrency C, shim on
#            and off; the difference over N is the shim's cost per agent
#            on the event loop (swarmd waits for the shim's "pid" line, so
#            a spawn costs a second fork and exec)
#   latency  submit to the agent's first instruction (it writes the
#            clock) for a one-chunk job, shim on and off, LAT samples per
#            arm and run
#   memory   RSS and PSS of each shim while 20 agents (`sleep`) run,
#            beside the agent's own `sleep` process and swarmd
#
# Every daemon is private (own socket and state dir under one mktemp dir),
# and everything started here is stopped on exit.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/shim.sh [-n RUNS] [-b BUILDDIR] [-t TESTS] [-k] [-o FILE]
  -n RUNS      repetitions (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -t TESTS     comma-separated subset of spawn,latency,memory (default: all)
  -k           keep the scratch directory (logs, job files, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=5
TESTS=spawn,latency,memory
while getopts n:b:t:ko:h opt; do
	case $opt in
	t) TESTS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS"
want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

SPAWN_N=500	# agents of the spawn job
SPAWN_CONC=100
LAT=20		# latency samples per arm and run
MEM_N=20	# agents alive for the memory figures

say() { printf '%s\n' "$*" >&2; }
die() { say "shim.sh: $*"; exit 1; }

bench_build "$BUILD/swarmd-shim"
bench_release_warning
bench_rev src include meson.build
bench_scratch swarmd-shim
bench_on_exit bench_cleanup
LIB="$ROOT/bench/benchlib.py"
cat >"$T/shim.py" <<'PY'
"""The measuring half of bench/shim.sh."""
import os, statistics, subprocess, sys, time

import benchlib


def latency(sock, swarmctl, jobfile, out, n):
    """Median ms from just before `swarmctl submit` to the agent's clock."""
    c = benchlib.Conn(sock)
    v = []
    for _ in range(int(n)):
        if os.path.exists(out):
            os.unlink(out)
        t0 = time.time_ns()
        p = subprocess.run([swarmctl, "submit", jobfile], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise RuntimeError("submit failed: %s" % p.stderr.strip())
        benchlib.wait_job(c, p.stdout.split()[0], 30, 0.01)
        with open(out) as f:
            v.append((int(f.read()) - t0) / 1e6)
    print("%.3f" % statistics.median(v))


def kib(pid, key):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (key, pid))


def memory(daemon, n):
    """Median RSS and PSS (KiB) of the shims, of their agents, and swarmd's."""
    end = time.monotonic() + 30
    while True:
        shims = [int(p) for p in subprocess.run(
            ["pgrep", "-P", daemon, "-x", "swarmd-shim"], capture_output=True,
            text=True).stdout.split()]
        if len(shims) >= int(n) or time.monotonic() > end:
            break
        time.sleep(0.1)
    if len(shims) < int(n):
        raise RuntimeError("%d shims, not %s" % (len(shims), n))
    agents = [int(subprocess.run(["pgrep", "-P", str(s)], capture_output=True,
                                 text=True).stdout.split()[0]) for s in shims]
    med = lambda ps, k: statistics.median(kib(p, k) for p in ps)
    print(med(shims, "Rss"), med(shims, "Pss"), med(agents, "Rss"),
          med(agents, "Pss"), kib(int(daemon), "Rss"), kib(int(daemon), "Pss"))


def table(path, runs):
    import report
    vals = report.read(path)
    rows = [("metric", "unit", "median", "min", "max", "n")]
    for key, label, unit in METRICS:
        if key in vals:
            v = vals[key]
            rows.append((label, unit, "%.3f" % statistics.median(v),
                         "%.3f" % min(v), "%.3f" % max(v), str(len(v))))
    report.table(rows, (0, 1))
    print("\nmedian, min and max over %s runs; latency: each run's figure is "
          "the median of its samples." % runs)


METRICS = [
    ("spawn.on", "spawn job, shim on (submit to done)", "s"),
    ("spawn.off", "spawn job, shim off", "s"),
    ("spawn.per_agent", "  shim's cost per agent (on - off) / N", "ms"),
    ("latency.on", "submit to agent running, shim on", "ms"),
    ("latency.off", "submit to agent running, shim off", "ms"),
    ("latency.diff", "  shim's added latency (on - off)", "ms"),
    ("mem.shim_rss", "shim RSS", "KiB"),
    ("mem.shim_pss", "shim PSS", "KiB"),
    ("mem.agent_rss", "agent (sleep) RSS, for scale", "KiB"),
    ("mem.agent_pss", "agent (sleep) PSS", "KiB"),
    ("mem.swarmd_rss", "swarmd RSS, for scale", "KiB"),
]

if __name__ == "__main__":
    cmds = {"latency": latency, "memory": memory, "table": table}
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, ValueError, IndexError) as e:
        sys.exit("shim.py: %s: %s" % (sys.argv[1], e))
PY
py() { PYTHONPATH="$ROOT/bench" python3 "$T/shim.py" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
calc() { python3 -c "print('%.3f' % ($1))"; }

# daemon ARM: a fresh swarmd for ARM (on or off) in $T/ARM.RUN.
daemon() {
	local d="$T/$1.$run"
	mkdir -p "$d"
	printf '[spawn]\nmax_agents = 1000\nstagger_batch = 1000\nstagger_interval = 0\nshim = %s\n' \
	    "$([ "$1" = on ] && echo "" || echo off)" >"$d/swarmd.conf"
	bench_start_daemon "$d"
	DIR=$d
}

python3 "$LIB" jobfile "$T/spawn.json" spawn "$SPAWN_CONC" "$SPAWN_N" true
python3 - "$T/lat.json" "$T/lat.out" <<'PY'
import json, sys
json.dump({"name": "lat", "command": ["sh", "-c", 'date +%s%N >"$OUT"'],
           "env": {"OUT": sys.argv[2]}, "chunks": [{"id": "c0", "task": "t"}]},
          open(sys.argv[1], "w"))
PY
python3 "$LIB" jobfile "$T/mem.json" mem "$MEM_N" "$MEM_N" sleep 600

for run in $(seq "$RUNS"); do
	# Once: the arms interleave, so load from others falls on both.
	[ "$run" = 1 ] && bench_quiet
	# Alternate which arm goes first, so that neither always starts warm.
	if [ $((run % 2)) = 1 ]; then arms="on off"; else arms="off on"; fi
	for arm in $arms; do
		want spawn || want latency || break
		daemon "$arm"
		if want spawn; then
			set -- $(python3 "$LIB" spawn "$SWARM_SOCKET" "$SWARMCTL" \
			    "$T/spawn.json" 300) || die "spawn ($arm) failed"
			record "spawn.$arm" "$run" "$2"
			eval "sp_$arm=$2"
			say "  run $run shim $arm: $SPAWN_N agents in $2 s"
		fi
		if want latency; then
			v=$(py latency "$SWARM_SOCKET" "$SWARMCTL" "$T/lat.json" \
			    "$T/lat.out" "$LAT") || die "latency ($arm) failed"
			record "latency.$arm" "$run" "$v"
			eval "lat_$arm=$v"
			say "  run $run shim $arm: submit to running $v ms"
		fi
		bench_stop_daemon
	done
	want spawn && record spawn.per_agent "$run" \
	    "$(calc "($sp_on - $sp_off) * 1000 / $SPAWN_N")"
	want latency && record latency.diff "$run" "$(calc "$lat_on - $lat_off")"
	if want memory; then
		daemon on
		"$SWARMCTL" submit "$T/mem.json" >/dev/null || die "submit mem"
		set -- $(py memory "$DAEMON_PID" "$MEM_N") || die "memory failed"
		record mem.shim_rss "$run" "$1"
		record mem.shim_pss "$run" "$2"
		record mem.agent_rss "$run" "$3"
		record mem.agent_pss "$run" "$4"
		record mem.swarmd_rss "$run" "$5"
		say "  run $run: shim RSS $1 KiB, PSS $2 KiB; sleep RSS $3 KiB"
		"$SWARMCTL" abort job-1 --grace 1 >/dev/null
		bench_stop_daemon
		bench_kill_strays
	fi
done

bench_report "swarmd shim benchmarks" mem
echo "build: $BUILD (${BUILDTYPE:-unknown}); spawn: $SPAWN_N agents at" \
    "concurrency $SPAWN_CONC; latency: $LAT samples a run; memory: $MEM_N agents"
py table "$RESULTS" "$RUNS"
