#!/usr/bin/env bash
# bench/fanout.sh: what the web dashboard's event feed costs the daemon
# (see BENCHMARKS.md, "Dashboard fan-out").  The heartbeat benchmark of
# run.sh (50 hb-clients, a WINDOW-second window) on one daemon with
# [http] listen, with 0 and with SUBS subscribers on GET /events (curl,
# reading), the arms alternating within each run: a slower machine in
# the middle of the run slows both arms alike.  Two kinds of heartbeat:
# plain ones (BENCHMARKS.md's headline: no event, nothing to fan out)
# and ones with a note (each an event row sent to every subscriber: the
# worst case for the feed).  Reports the median and min-max of RUNS.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/fanout.sh [-n RUNS] [-b BUILDDIR] [-w SECONDS] [-s SUBS] [-k] [-o FILE]
  -n RUNS      runs of each arm (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build)
  -w SECONDS   length of each heartbeat window (default 5)
  -s SUBS      subscribers on GET /events in the loaded arm (default 20)
  -k           keep the scratch directory
  -o FILE      also write the raw per-run results to FILE
EOF
}

RUNS=5
WINDOW=5
SUBS=20
while getopts n:b:w:s:ko:h opt; do
	case $opt in
	w) WINDOW=$OPTARG ;;
	s) SUBS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$WINDOW" "$SUBS"

LIB="$ROOT/bench/benchlib.py"
HB_AGENTS=50
HB_LEAD_MS=2000
say() { printf '%s\n' "$*" >&2; }
die() { say "fanout.sh: $*"; exit 1; }
lib() { python3 "$LIB" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

bench_build
bench_release_warning
bench_rev src include meson.build
SUB_PIDS=""
cleanup() {
	local p
	for p in $SUB_PIDS; do kill -TERM "$p" 2>/dev/null; done
	bench_cleanup
}
bench_scratch swarmd-fanout
bench_on_exit cleanup
mkdir -p "$T/bin"
if [ -x "$BUILD/bench/hb-client" ]; then
	ln -s "$BUILD/bench/hb-client" "$T/bin/hb-client"
else
	${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -o "$T/bin/hb-client" \
	    "$ROOT/bench/hb-client.c" || die "cannot compile bench/hb-client.c"
fi

DIR="$T/d"
mkdir -p "$DIR/state"
printf '[spawn]\nmax_agents = 1000\nstagger_batch = 1000\n[http]\nlisten = 127.0.0.1:0\nroot = %s/web\n' \
    "$ROOT" >"$DIR/swarmd.conf"
bench_start_daemon "$DIR"
PORT=$(sed -n 's|.*dashboard on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$DIR/swarmd.log")
[ -n "$PORT" ] || die "no dashboard address in $DIR/swarmd.log"

# subscribe N: N readers of GET /events, from now on.
subscribe() {
	local i
	for i in $(seq "$1"); do
		curl -sN "http://127.0.0.1:$PORT/events" >"$T/sub-$i.sse" &
		SUB_PIDS="$SUB_PIDS $!"
	done
	for i in $(seq "$1"); do
		for _ in $(seq 200); do
			grep -q '^retry:' "$T/sub-$i.sse" 2>/dev/null && break
			sleep 0.05
		done
	done
}

# unsubscribe: after checking each subscriber was sent the last event.
unsubscribe() {
	local p i last
	last=$("$SWARMCTL" events --json --limit 1 |
	    python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["seq"])')
	for i in $(seq "$SUBS"); do
		for _ in $(seq 200); do
			grep -q "^id: $last\$" "$T/sub-$i.sse" && break
			sleep 0.05
		done
		grep -q "^id: $last\$" "$T/sub-$i.sse" ||
		    die "subscriber $i missed event $last"
	done
	for p in $SUB_PIDS; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	SUB_PIDS=""
}

# hb_once MODE SUBS RUN: one job of 50 hb-clients with SUBS subscribers.
hb_once() {
	local mode=$1 subs=$2 run=$3 out="$DIR/hb-$1-$2-$3" start jf job sum
	local c0 c1 t0 t1 busy
	mkdir -p "$out"
	[ "$subs" -gt 0 ] && subscribe "$subs"
	start=$(( $(bench_now_ms) + HB_LEAD_MS ))
	jf="$DIR/hb-$mode-$subs-$run.json"
	lib jobfile "$jf" "hb-$mode" "$HB_AGENTS" "$HB_AGENTS" \
	    "$T/bin/hb-client" --verb "$mode" "$start" "$WINDOW" "$out/{chunk}" ||
	    die "cannot write $jf"
	job=$("$SWARMCTL" submit "$jf") || die "submit $jf failed"
	bench_sleep_until $(( start + 100 ))
	c0=$(bench_cpu_ns "$DAEMON_PID") t0=$(date +%s%N)
	bench_sleep_until $(( start + WINDOW * 1000 - 100 ))
	c1=$(bench_cpu_ns "$DAEMON_PID") t1=$(date +%s%N)
	bench_sleep_until $(( start + WINDOW * 1000 + 200 ))
	case $(lib wait "$SWARM_SOCKET" "$job" 60) in
	"done $HB_AGENTS $HB_AGENTS "*) ;;
	*) die "$job: not every client succeeded (logs in $DIR/state/logs)" ;;
	esac
	sum=$(cat "$out"/c* | awk '{ s += $1 } END { print s + 0 }')
	busy=$(( (c1 - c0) * 100 / (t1 - t0) ))
	record "$mode.$subs" "$run" "$(( sum / WINDOW ))"
	record "$mode.$subs.cpu" "$run" "$busy"
	say "  $mode, $subs subscribers, run $run: $(( sum / WINDOW ))/s, swarmd busy $busy%"
	[ "$subs" -gt 0 ] && unsubscribe
	return 0
}

bench_quiet
say "== fan-out: $HB_AGENTS heartbeat clients, ${WINDOW}s windows, 0 vs $SUBS subscribers, $RUNS runs"
for run in $(seq "$RUNS"); do
	for mode in heartbeat note; do
		# Which arm goes first alternates from run to run.
		if [ $(( run % 2 )) = 1 ]; then
			hb_once "$mode" 0 "$run"
			hb_once "$mode" "$SUBS" "$run"
		else
			hb_once "$mode" "$SUBS" "$run"
			hb_once "$mode" 0 "$run"
		fi
	done
done
bench_stop_daemon

bench_report "swarmd dashboard fan-out" mem
python3 - "$RESULTS" "$SUBS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m, _, v = line.split("\t")
    rows.setdefault(m, []).append(float(v))
subs = sys.argv[2]
print("%-46s %8s %8s %8s" % ("metric", "median", "min", "max"))
for mode in ("heartbeat", "note"):
    for s in ("0", subs):
        for suffix, unit in (("", "rt/s"), (".cpu", "% CPU")):
            v = rows.get("%s.%s%s" % (mode, s, suffix), [])
            if v:
                print("%-46s %8.0f %8.0f %8.0f" % (
                    "%s, %s subscribers (%s)" % (mode, s, unit),
                    statistics.median(v), min(v), max(v)))
    # swarmd's own CPU per round trip: what a busy machine blurs least.
    for s in ("0", subs):
        us = [c * 10000 / r for c, r in zip(rows.get("%s.%s.cpu" % (mode, s), []),
                                            rows.get("%s.%s" % (mode, s), [])) if r]
        if us:
            print("%-46s %8.1f %8.1f %8.1f" % (
                "%s, %s subscribers (swarmd us/rt)" % (mode, s),
                statistics.median(us), min(us), max(us)))
    a, b = rows.get("%s.0" % mode), rows.get("%s.%s" % (mode, subs))
    if a and b:
        print("  %s: %s subscribers / none = %.3f (at least 0.95 wanted)" % (
            mode, subs, statistics.median(b) / statistics.median(a)))
PY
