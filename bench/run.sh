#!/usr/bin/env bash
# bench/run.sh: swarmd's benchmarks (see BENCHMARKS.md).
#
#   hb     heartbeat round trips/s from 50 concurrent agents (hb-client),
#          compared with hello and with a bare echo server, same run
#   spawn  submit-to-done of 1,000 `true` agents at concurrency 200,
#          compared with xargs -P 200 doing the same 1,000 execs
#   ps     swarmctl ps / ps --all with 1,000 agents in the state (ended,
#          then live), compared with swarmctl jobs, the cheapest call
#
# Every daemon is private (own socket and state dir under one mktemp dir),
# and everything started here is stopped on exit.  Each benchmark runs
# RUNS times; the table reports the median and the min-max.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/run.sh [-n RUNS] [-b BUILDDIR] [-w SECONDS] [-t TESTS] [-k] [-o FILE]
  -n RUNS      repetitions of each benchmark (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -w SECONDS   length of the heartbeat measuring window (default 5)
  -t TESTS     comma-separated subset of hb,spawn,ps (default: all three),
               or history: ps with 100,000 ended agents in the state (about
               a minute to build; not in the default set)
  -k           keep the scratch directory (daemon logs, job files, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=5
WINDOW=5
TESTS=hb,spawn,ps
while getopts n:b:w:t:ko:h opt; do
	case $opt in
	w) WINDOW=$OPTARG ;;
	t) TESTS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$WINDOW"
want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

LIB="$ROOT/bench/benchlib.py"
HB_AGENTS=50		# concurrent heartbeat clients
HB_LEAD_MS=2000		# the window opens this long after submit
SPAWN_N=1000		# agents of the spawn job
SPAWN_CONC=200
PS_RUNS=50		# swarmctl invocations per ps figure
HIST_JOBS=100		# -t history: jobs of SPAWN_N agents in the state

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

# ---- build ----
bench_build
# The ramp (stagger_*) exists from 5b0050e on; older daemons refuse the key.
HAVE_RAMP=0
grep -q -a stagger_batch "$SWARMD" && HAVE_RAMP=1
HAVE_METRICS=0
grep -q -a "metrics listening" "$SWARMD" && HAVE_METRICS=1
bench_release_warning
bench_rev src include meson.build

# ---- processes we own: swarmd (DAEMON_PID) and the echo server ----
ECHO_PID=""
cleanup() {
	bench_term ECHO_PID
	bench_cleanup
}
bench_scratch swarmd-bench
bench_on_exit cleanup

# The tools in bench/ come from the build dir once meson builds bench/;
# until then (or without it) they are compiled here.
mkdir -p "$T/bin"
for tool in hb-client echo-server; do
	if [ -x "$BUILD/bench/$tool" ]; then
		ln -s "$BUILD/bench/$tool" "$T/bin/$tool"
	else
		${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -o "$T/bin/$tool" \
		    "$ROOT/bench/$tool.c" || die "cannot compile bench/$tool.c"
	fi
done
HB_CLIENT="$T/bin/hb-client"
ECHO_SERVER="$T/bin/echo-server"

# start_daemon NAME [ramp|noshim]: a fresh daemon on $T/NAME; sets
# SWARM_SOCKET and DIR.  Up to 1,000 agents at once, and no ramp (each job
# starts at its full concurrency) unless "ramp" asks for the default one:
# the targets are about concurrency 50 and 200, which the default ramp
# (stagger_batch 4, growing every stagger_interval) reaches only after
# minutes.  "noshim": agents as swarmd's own children ([spawn] shim = off).
start_daemon() {
	DIR="$T/$1"
	mkdir -p "$DIR/state"
	{
		echo "[spawn]"
		echo "max_agents = 1000"
		[ "$HAVE_RAMP" = 1 ] && [ "${2:-}" != ramp ] &&
		    echo "stagger_batch = 1000"
		[ "${2:-}" = noshim ] && echo "shim = off"
	# The metrics endpoint exists from ff14dbc on; older daemons refuse it.
	[ "$HAVE_METRICS" = 1 ] && printf '[metrics]\nlisten = 127.0.0.1:0\n'
	} >"$DIR/swarmd.conf"
	bench_start_daemon "$DIR"
}

# metrics_addr: where the running daemon serves /metrics, or nothing.
metrics_addr() {
	[ "$HAVE_METRICS" = 1 ] || return 0
	sed -n 's/.*metrics listening on //p' "$DIR/swarmd.log" | tail -n 1
}

# phase_end NAME: the CPU others used since bench_phase_begin, added to
# FOREIGN, the report's line of it per phase.
phase_end() {
	bench_phase_end
	FOREIGN="${FOREIGN:+$FOREIGN, }$1 ${BENCH_OTHERS}%"
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

lib() { python3 "$LIB" "$@"; }

# ---- a. heartbeat ----
# hb_once MODE RUN: one job of 50 hb-clients; records round trips/s.
hb_once() {
	local mode=$1 run=$2 out="$DIR/hb-$1-$2" start jf job counts sum server
	local c0 c1 t0 t1 busy
	local -a extra=()
	case $mode in
	hello) extra=(--verb hello) ;;
	echo) extra=(--echo "$T/echo.sock") ;;
	esac
	mkdir -p "$out"
	start=$(( $(bench_now_ms) + HB_LEAD_MS ))
	jf="$DIR/hb-$mode-$run.json"
	lib jobfile "$jf" "hb-$mode" "$HB_AGENTS" "$HB_AGENTS" \
	    "$HB_CLIENT" "${extra[@]}" "$start" "$WINDOW" "$out/{chunk}" ||
	    die "cannot write $jf"
	job=$("$SWARMCTL" submit "$jf") || die "submit $jf failed"
	# Stay off the CPU until the window has closed, but for reading how
	# busy the server was in its middle (all but 100 ms at either end).
	[ "$mode" = echo ] && server=$ECHO_PID || server=$DAEMON_PID
	bench_sleep_until $(( start + 100 ))
	c0=$(bench_cpu_ns "$server") t0=$(date +%s%N)
	bench_sleep_until $(( start + WINDOW * 1000 - 100 ))
	c1=$(bench_cpu_ns "$server") t1=$(date +%s%N)
	bench_sleep_until $(( start + WINDOW * 1000 + 200 ))
	counts=$(lib wait "$SWARM_SOCKET" "$job" 60) || die "$job did not end"
	case $counts in
	"done $HB_AGENTS $HB_AGENTS "*) ;;
	*) die "$job ($mode): not every client succeeded: $counts (logs in $DIR/state/logs)" ;;
	esac
	set -- $(cat "$out"/c* | awk '{ s += $1; if ($2 > l) l = $2; e += $3; n++ }
	    END { print s + 0, l + 0, e + 0, n + 0 }')
	[ "$4" = "$HB_AGENTS" ] && [ "$3" = 0 ] ||
	    die "$job ($mode): $4 result files, $3 errors"
	[ "$2" -le 100 ] ||
	    say "run.sh: warning: $job: a client began its window $2 ms late"
	sum=$1
	busy=$(( (c1 - c0) * 100 / (t1 - t0) ))
	record "hb.$mode" "$run" "$(( sum / WINDOW ))"
	record "hb.$mode.cpu" "$run" "$busy"
	say "  hb $mode run $run: $sum round trips in $WINDOW s = $(( sum / WINDOW ))/s; server busy $busy% of a CPU"
}

if want hb; then
	bench_quiet
	bench_phase_begin
	say "== heartbeat: $HB_AGENTS agents, ${WINDOW}s window, $RUNS runs"
	start_daemon hb
	"$ECHO_SERVER" "$T/echo.sock" &
	ECHO_PID=$!
	for run in $(seq "$RUNS"); do
		for mode in heartbeat hello echo; do
			hb_once "$mode" "$run"
		done
	done
	bench_term ECHO_PID
	bench_stop_daemon
	phase_end hb
fi

# ---- b. spawn, and c. ps on the state it leaves ----
# timed METRIC RUN CMD...: records METRIC, the median ms of PS_RUNS
# invocations (after 5 unmeasured); METRIC.client, the command's own CPU
# time (user + system, mean; hyperfine only); and METRIC.cpu, the daemon's
# CPU time per invocation (warm-ups included) from /proc/PID/schedstat.
# CPU times are the figures to trust when others share the machine.
timed() {
	local metric=$1 run=$2 c0 ms
	shift 2
	c0=$(bench_cpu_ns "$DAEMON_PID")
	ms=$(invocations "$metric" "$@") || die "timing $* failed"
	set -- $ms
	record "$metric" "$run" "$1"
	[ -n "${2:-}" ] && record "$metric.client" "$run" "$2"
	record "$metric.cpu" "$run" "$(python3 -c "print('%.3f' % (($(bench_cpu_ns "$DAEMON_PID") - $c0) / 1e6 / ($PS_RUNS + 5)))")"
}

# invocations NAME CMD...: median ms of PS_RUNS runs of CMD and their mean
# CPU ms with hyperfine; the median alone from a timing loop without it.
invocations() {
	local name=$1
	shift
	if command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 5 --runs "$PS_RUNS" --output=pipe \
		    --export-json "$DIR/$name.json" -- "$*" >/dev/null 2>&1 ||
		    return 1
		lib hyperfine "$DIR/$name.json"
	else
		python3 - "$PS_RUNS" "$@" <<-'PY'
		import statistics, subprocess, sys, time
		n, cmd = int(sys.argv[1]), sys.argv[2:]
		for _ in range(5):
		    subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
		t = []
		for _ in range(n):
		    t0 = time.perf_counter()
		    subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
		    t.append((time.perf_counter() - t0) * 1000)
		print("%.3f" % statistics.median(t))
		PY
	fi
}

if want spawn || want ps; then
	bench_quiet
	bench_phase_begin
	say "== spawn: $SPAWN_N agents of \`true\` at concurrency $SPAWN_CONC," \
	    "then ps on that state; $RUNS runs"
	for run in $(seq "$RUNS"); do
		start_daemon "spawn-$run"
		jf="$DIR/spawn.json"
		lib jobfile "$jf" spawn "$SPAWN_CONC" "$SPAWN_N" true
		c0=$(bench_cpu_ns "$DAEMON_PID")
		out=$(lib spawn "$SWARM_SOCKET" "$SWARMCTL" "$jf" 120) ||
		    die "spawn run $run failed"
		set -- $out
		cpu=$(python3 -c "print('%.3f' % (($(bench_cpu_ns "$DAEMON_PID") - $c0) / 1e9))")
		record spawn.swarmd "$run" "$2"
		record spawn.observed "$run" "$3"
		record spawn.cpu "$run" "$cpu"
		say "  spawn run $run: $1 done ${2}s after submit (seen at ${3}s);" \
		    "swarmd used ${cpu}s of CPU"
		if want ps; then
			n=$("$SWARMCTL" --json ps --all | python3 -c \
			    'import json,sys; print(len(json.load(sys.stdin)))')
			[ "$n" = "$SPAWN_N" ] || die "ps --all lists $n agents"
			timed ps.all "$run" "$SWARMCTL" ps --all
			timed ps.live "$run" "$SWARMCTL" ps
			timed ps.jobs "$run" "$SWARMCTL" jobs
		fi
		bench_stop_daemon
		if want spawn && [ "$HAVE_RAMP" = 1 ]; then
			start_daemon "ramp-$run" ramp
			jf="$DIR/spawn.json"
			lib jobfile "$jf" spawn "$SPAWN_CONC" "$SPAWN_N" true
			out=$(lib spawn "$SWARM_SOCKET" "$SWARMCTL" "$jf" 600) ||
			    die "spawn run $run (default ramp) failed"
			set -- $out
			record spawn.ramp "$run" "$2"
			say "  spawn run $run with the default ramp: ${2}s"
			bench_stop_daemon
		fi
		if want spawn; then
			t=$(lib shell "seq $SPAWN_N | xargs -P $SPAWN_CONC -n 1 true") ||
			    die "xargs failed"
			record spawn.xargs "$run" "$t"
			say "  xargs run $run: ${t}s"
		fi
	done
	phase_end spawn
fi

if want ps; then
	bench_quiet
	bench_phase_begin
	say "== ps with $SPAWN_N live agents (\`sleep\`); $RUNS runs"
	for run in $(seq "$RUNS"); do
		start_daemon "live-$run"
		jf="$DIR/live.json"
		lib jobfile "$jf" live "$SPAWN_N" "$SPAWN_N" sleep 600
		job=$("$SWARMCTL" submit "$jf") || die "submit $jf failed"
		for _ in $(seq 600); do
			n=$("$SWARMCTL" --json ps | python3 -c \
			    'import json,sys; print(sum(a["state"] == "running" for a in json.load(sys.stdin)))')
			[ "$n" = "$SPAWN_N" ] && break
			sleep 0.1
		done
		[ "$n" = "$SPAWN_N" ] || die "only $n of $SPAWN_N agents running"
		timed ps.live1000 "$run" "$SWARMCTL" ps
		timed ps.all_live1000 "$run" "$SWARMCTL" ps --all
		timed ps.jobs_live1000 "$run" "$SWARMCTL" jobs
		say "  live run $run: measured; stopping $SPAWN_N agents"
		bench_stop_daemon
	done
	phase_end live
fi

# ---- d. (not in the default set) ps on a long history ----
if want history; then
	bench_quiet
	bench_phase_begin
	say "== ps with $(( HIST_JOBS * SPAWN_N )) ended agents in the state; $RUNS runs"
	# The history is its rows, which ps and jobs read the same however
	# the agents ran: built without the shim, whose synced status file
	# per agent makes 100,000 of them take over 15 minutes.
	start_daemon history noshim
	MADDR=$(metrics_addr)
	jf="$DIR/history.json"
	lib jobfile "$jf" history "$SPAWN_CONC" "$SPAWN_N" true
	t=$(lib history "$SWARM_SOCKET" "$SWARMCTL" "$jf" "$HIST_JOBS" 1200) ||
	    die "building the history failed"
	record hist.spawn 1 "$t"
	say "  $(( HIST_JOBS * SPAWN_N )) agents ran and ended in ${t}s"
	for run in $(seq "$RUNS"); do
		timed ps.hist "$run" "$SWARMCTL" ps
		timed ps.hist_jobs "$run" "$SWARMCTL" jobs
		# A Prometheus scrape, beside ps: it must not read the history.
		[ -n "$MADDR" ] && timed metrics.hist "$run" curl -sS -o /dev/null "http://$MADDR/metrics"
	done
	bench_stop_daemon
	phase_end history
fi

bench_report "swarmd benchmarks"
echo "build: $BUILD (${BUILDTYPE:-unknown}); $RUNS runs"
echo "CPU used by other processes, % of the machine, per phase: ${FOREIGN:-none measured}"
lib table "$RESULTS" "$RUNS"
