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
BUILD=${BUILD:-/tmp/bench-build}
WINDOW=5
TESTS=hb,spawn,ps
KEEP=0
RAWOUT=
while getopts n:b:w:t:ko:h opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	w) WINDOW=$OPTARG ;;
	t) TESTS=$OPTARG ;;
	k) KEEP=1 ;;
	o) RAWOUT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case $RUNS$WINDOW in *[!0-9]*) usage >&2; exit 2 ;; esac
[ "$RUNS" -ge 1 ] && [ "$WINDOW" -ge 1 ] || { usage >&2; exit 2; }
want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)	# before we add any
LIB="$ROOT/bench/benchlib.py"
HB_AGENTS=50		# concurrent heartbeat clients
HB_LEAD_MS=2000		# the window opens this long after submit
SPAWN_N=1000		# agents of the spawn job
SPAWN_CONC=200
PS_RUNS=50		# swarmctl invocations per ps figure
HIST_JOBS=100		# -t history: jobs of SPAWN_N agents in the state

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }
now_ms() { date +%s%3N; }

# ---- build ----
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release >&2 ||
	    die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" >&2 || die "build failed in $BUILD"
SWARMD="$BUILD/swarmd"
SWARMCTL="$BUILD/swarmctl"
[ -x "$SWARMD" ] && [ -x "$SWARMCTL" ] || die "no swarmd/swarmctl in $BUILD"
# The ramp (stagger_*) exists from 5b0050e on; older daemons refuse the key.
HAVE_RAMP=0
grep -q -a stagger_batch "$SWARMD" && HAVE_RAMP=1
BUILDTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null)
[ "$BUILDTYPE" = release ] ||
    say "run.sh: warning: $BUILD is a ${BUILDTYPE:-unknown} build, not release"

# BENCH_REV names the revision when ROOT is an export, not a checkout.
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "${BENCH_REV:-unknown}")
[ -n "$(git -C "$ROOT" status --porcelain -- src include meson.build 2>/dev/null)" ] &&
    REV="$REV + uncommitted changes"

T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-bench.XXXXXX") || die "mktemp failed"
RESULTS="$T/results.tsv"
: >"$RESULTS"

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

# ---- processes we own ----
DAEMON_PID=""
ECHO_PID=""

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}

cleanup() {
	stop_daemon
	if [ -n "$ECHO_PID" ]; then
		kill -TERM "$ECHO_PID" 2>/dev/null
		wait "$ECHO_PID" 2>/dev/null
	fi
	# Anything still carrying one of our sockets in its environment
	# (an agent that outlived its daemon) is ours to stop.
	for p in $(grep -l -s -a "SWARM_SOCKET=$T/" /proc/[0-9]*/environ |
	    cut -d/ -f3); do
		[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
	done
	if [ "$KEEP" = 1 ]; then
		say "run.sh: scratch directory kept: $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_daemon NAME [ramp]: a fresh daemon on $T/NAME; sets SWARM_SOCKET
# and DIR.  Up to 1,000 agents at once, and no ramp (each job starts at
# its full concurrency) unless "ramp" asks for the default one: the
# targets are about concurrency 50 and 200, which the default ramp
# (stagger_batch 4, growing every stagger_interval) reaches only after
# minutes.
start_daemon() {
	DIR="$T/$1"
	mkdir -p "$DIR/state"
	{
		echo "[spawn]"
		echo "max_agents = 1000"
		[ "$HAVE_RAMP" = 1 ] && [ "${2:-}" != ramp ] &&
		    echo "stagger_batch = 1000"
	} >"$DIR/swarmd.conf"
	export SWARM_SOCKET="$DIR/swarmd.sock"
	"$SWARMD" -f -c "$DIR/swarmd.conf" -s "$SWARM_SOCKET" -d "$DIR/state" \
	    2>"$DIR/swarmd.log" &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		"$SWARMCTL" jobs >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$DIR/swarmd.log" >&2
	die "swarmd did not come up on $SWARM_SOCKET"
}

# quiet: wait (up to 5 minutes) until the machine is at least 90% idle
# over 3 s, so that a benchmark does not start on top of someone else's
# build or test run; it cannot notice one that starts later, so compare
# the min-max spread and the load averages printed at the end.
quiet() {
	local i a b u n s id w q sq st rest busy=100
	for i in $(seq 100); do
		read -r _ u n s id w q sq st rest </proc/stat
		a=$(( u + n + s + id + w + q + sq + st )) b=$id
		sleep 3
		read -r _ u n s id w q sq st rest </proc/stat
		busy=$(( 100 - (id - b) * 100 / (u + n + s + id + w + q + sq + st - a) ))
		[ "$busy" -le 10 ] && return 0
		[ "$i" = 1 ] && say "run.sh: the machine is $busy% busy; waiting for it to calm down"
	done
	say "run.sh: warning: still $busy% busy after 5 minutes; measuring anyway"
}

# Other people's work on the machine skews every figure here.  CPU time
# the whole machine spent busy, less what this script and everything it
# started used (all of it is reaped, so it ends up in our children's
# times), is what others used.  phase_begin/phase_end record it per phase.
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
our_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
phase_begin() { PB_BUSY=$(busy_ticks) PB_OURS=$(our_ticks) PB_T=$(date +%s%N); }
phase_end() {
	local other=$(( $(busy_ticks) - PB_BUSY - ($(our_ticks) - PB_OURS) ))
	local ns=$(( $(date +%s%N) - PB_T ))
	[ "$other" -lt 0 ] && other=0
	FOREIGN="${FOREIGN:+$FOREIGN, }$1 $(( other * 1000000000 / HZ * 100 / ns / $(nproc) ))%"
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# cpu_ns PID: the CPU time PID (one thread) has used so far, in ns.
cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }

# sleep_until MS: sleep until the wall clock reads MS (epoch ms).
sleep_until() {
	local d=$(( $1 - $(now_ms) ))
	[ "$d" -gt 0 ] && sleep "$(( d / 1000 )).$(printf %03d $(( d % 1000 )))"
	return 0
}

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
	start=$(( $(now_ms) + HB_LEAD_MS ))
	jf="$DIR/hb-$mode-$run.json"
	lib jobfile "$jf" "hb-$mode" "$HB_AGENTS" "$HB_AGENTS" \
	    "$HB_CLIENT" "${extra[@]}" "$start" "$WINDOW" "$out/{chunk}" ||
	    die "cannot write $jf"
	job=$("$SWARMCTL" submit "$jf") || die "submit $jf failed"
	# Stay off the CPU until the window has closed, but for reading how
	# busy the server was in its middle (all but 100 ms at either end).
	[ "$mode" = echo ] && server=$ECHO_PID || server=$DAEMON_PID
	sleep_until $(( start + 100 ))
	c0=$(cpu_ns "$server") t0=$(date +%s%N)
	sleep_until $(( start + WINDOW * 1000 - 100 ))
	c1=$(cpu_ns "$server") t1=$(date +%s%N)
	sleep_until $(( start + WINDOW * 1000 + 200 ))
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
	quiet
	phase_begin
	say "== heartbeat: $HB_AGENTS agents, ${WINDOW}s window, $RUNS runs"
	start_daemon hb
	"$ECHO_SERVER" "$T/echo.sock" &
	ECHO_PID=$!
	for run in $(seq "$RUNS"); do
		for mode in heartbeat hello echo; do
			hb_once "$mode" "$run"
		done
	done
	kill -TERM "$ECHO_PID"
	wait "$ECHO_PID" 2>/dev/null
	ECHO_PID=""
	stop_daemon
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
	c0=$(cpu_ns "$DAEMON_PID")
	ms=$(invocations "$metric" "$@") || die "timing $* failed"
	set -- $ms
	record "$metric" "$run" "$1"
	[ -n "${2:-}" ] && record "$metric.client" "$run" "$2"
	record "$metric.cpu" "$run" "$(python3 -c "print('%.3f' % (($(cpu_ns "$DAEMON_PID") - $c0) / 1e6 / ($PS_RUNS + 5)))")"
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
	quiet
	phase_begin
	say "== spawn: $SPAWN_N agents of \`true\` at concurrency $SPAWN_CONC," \
	    "then ps on that state; $RUNS runs"
	for run in $(seq "$RUNS"); do
		start_daemon "spawn-$run"
		jf="$DIR/spawn.json"
		lib jobfile "$jf" spawn "$SPAWN_CONC" "$SPAWN_N" true
		c0=$(cpu_ns "$DAEMON_PID")
		out=$(lib spawn "$SWARM_SOCKET" "$SWARMCTL" "$jf" 120) ||
		    die "spawn run $run failed"
		set -- $out
		cpu=$(python3 -c "print('%.3f' % (($(cpu_ns "$DAEMON_PID") - $c0) / 1e9))")
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
		stop_daemon
		if want spawn && [ "$HAVE_RAMP" = 1 ]; then
			start_daemon "ramp-$run" ramp
			jf="$DIR/spawn.json"
			lib jobfile "$jf" spawn "$SPAWN_CONC" "$SPAWN_N" true
			out=$(lib spawn "$SWARM_SOCKET" "$SWARMCTL" "$jf" 600) ||
			    die "spawn run $run (default ramp) failed"
			set -- $out
			record spawn.ramp "$run" "$2"
			say "  spawn run $run with the default ramp: ${2}s"
			stop_daemon
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
	quiet
	phase_begin
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
		stop_daemon
	done
	phase_end live
fi

# ---- d. (not in the default set) ps on a long history ----
if want history; then
	quiet
	phase_begin
	say "== ps with $(( HIST_JOBS * SPAWN_N )) ended agents in the state; $RUNS runs"
	start_daemon history
	jf="$DIR/history.json"
	lib jobfile "$jf" history "$SPAWN_CONC" "$SPAWN_N" true
	t=$(lib history "$SWARM_SOCKET" "$SWARMCTL" "$jf" "$HIST_JOBS" 1200) ||
	    die "building the history failed"
	record hist.spawn 1 "$t"
	say "  $(( HIST_JOBS * SPAWN_N )) agents ran and ended in ${t}s"
	for run in $(seq "$RUNS"); do
		timed ps.hist "$run" "$SWARMCTL" ps
		timed ps.hist_jobs "$run" "$SWARMCTL" jobs
	done
	stop_daemon
	phase_end history
fi

[ -n "$RAWOUT" ] && cp "$RESULTS" "$RAWOUT"
echo
echo "swarmd benchmarks: $(date -u +%Y-%m-%dT%H:%M:%SZ), revision $REV"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))," \
    "kernel $(uname -r); load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $BUILD (${BUILDTYPE:-unknown}); $RUNS runs"
echo "CPU used by other processes, % of the machine, per phase: ${FOREIGN:-none measured}"
lib table "$RESULTS" "$RUNS"
