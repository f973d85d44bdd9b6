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
  -t TESTS     comma-separated subset of hb,spawn,ps (default: all three)
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
LIB="$ROOT/bench/benchlib.py"
HB_AGENTS=50		# concurrent heartbeat clients
HB_LEAD_MS=2000		# the window opens this long after submit
SPAWN_N=1000		# agents of the spawn job
SPAWN_CONC=200
PS_RUNS=50		# swarmctl invocations per ps figure

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
BUILDTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null)
[ "$BUILDTYPE" = release ] ||
    say "run.sh: warning: $BUILD is a ${BUILDTYPE:-unknown} build, not release"

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

# start_daemon NAME: a fresh daemon on $T/NAME; sets SWARM_SOCKET and DIR.
start_daemon() {
	DIR="$T/$1"
	mkdir -p "$DIR/state"
	cat >"$DIR/swarmd.conf" <<-EOF
	[spawn]
	max_agents = 1000
	EOF
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

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

lib() { python3 "$LIB" "$@"; }

# ---- a. heartbeat ----
# hb_once MODE RUN: one job of 50 hb-clients; records round trips/s.
hb_once() {
	local mode=$1 run=$2 out="$DIR/hb-$1-$2" start jf job counts sum
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
	# Stay off the CPU until the window has closed.
	sleep "$(python3 -c "print(max(0, ($start + $WINDOW * 1000 - $(now_ms)) / 1000 + 0.2))")"
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
	record "hb.$mode" "$run" "$(( sum / WINDOW ))"
	say "  hb $mode run $run: $sum round trips in $WINDOW s = $(( sum / WINDOW ))/s"
}

if want hb; then
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
fi

# ---- b. spawn, and c. ps on the state it leaves ----
# hyperfine_ms NAME CMD...: median ms of PS_RUNS invocations.
hyperfine_ms() {
	local name=$1
	shift
	if command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 5 --runs "$PS_RUNS" --output=pipe \
		    --export-json "$DIR/$name.json" -- "$*" >/dev/null 2>&1 ||
		    die "hyperfine $* failed"
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
	say "== spawn: $SPAWN_N agents of \`true\` at concurrency $SPAWN_CONC," \
	    "then ps on that state; $RUNS runs"
	for run in $(seq "$RUNS"); do
		start_daemon "spawn-$run"
		jf="$DIR/spawn.json"
		lib jobfile "$jf" spawn "$SPAWN_CONC" "$SPAWN_N" true
		set -- $(lib spawn "$SWARM_SOCKET" "$SWARMCTL" "$jf" 120) ||
		    die "spawn run $run failed"
		record spawn.swarmd "$run" "$2"
		record spawn.observed "$run" "$3"
		say "  spawn run $run: $1 done ${2}s after submit (seen at ${3}s)"
		if want ps; then
			n=$("$SWARMCTL" --json ps --all | python3 -c \
			    'import json,sys; print(len(json.load(sys.stdin)))')
			[ "$n" = "$SPAWN_N" ] || die "ps --all lists $n agents"
			record ps.all "$run" "$(hyperfine_ms ps-all "$SWARMCTL" ps --all)"
			record ps.live "$run" "$(hyperfine_ms ps "$SWARMCTL" ps)"
			record ps.jobs "$run" "$(hyperfine_ms jobs "$SWARMCTL" jobs)"
			record ps.rtt_all "$run" "$(lib rtt "$SWARM_SOCKET" \
			    "$PS_RUNS" ps '{"all": true}')"
		fi
		stop_daemon
		if want spawn; then
			t=$(lib shell "seq $SPAWN_N | xargs -P $SPAWN_CONC -n 1 true") ||
			    die "xargs failed"
			record spawn.xargs "$run" "$t"
			say "  xargs run $run: ${t}s"
		fi
	done
fi

if want ps; then
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
		record ps.live1000 "$run" "$(hyperfine_ms ps-live "$SWARMCTL" ps)"
		record ps.all_live1000 "$run" \
		    "$(hyperfine_ms ps-all-live "$SWARMCTL" ps --all)"
		record ps.rtt_live1000 "$run" "$(lib rtt "$SWARM_SOCKET" \
		    "$PS_RUNS" ps)"
		say "  live run $run: measured; stopping $SPAWN_N agents"
		stop_daemon
	done
fi

[ -n "$RAWOUT" ] && cp "$RESULTS" "$RAWOUT"
echo
echo "swarmd benchmarks: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs," \
    "build $BUILD (${BUILDTYPE:-unknown}), $RUNS runs"
lib table "$RESULTS" "$RUNS"
