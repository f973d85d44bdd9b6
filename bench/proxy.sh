#!/usr/bin/env bash
# bench/proxy.sh: the metering proxy's overhead (issue 5; see
# BENCHMARKS.md).  wrk drives 64 connections of small non-streaming
# Messages API calls (bench/proxy.lua) at the project's fake upstream,
# whose limits are set so high that nothing is rate limited, in two ways
# interleaved in every run:
#
#   direct   straight to the fake upstream
#   proxied  through swarmd's [proxy] at http://PROXY/a/<agent token>/,
#            the URL one live agent of a swarmd job was given: each
#            request is authenticated, forwarded with libcurl and metered
#
# With -l MS the fake answers each call MS milliseconds late, as a model
# takes time to answer: the upstream, not the CPU, then bounds the rate,
# as with the real API, and the proxy's cost shows as added latency.
# With -j MS each call waits up to MS ms more, drawn at random: a fixed
# delay keeps the clients in lockstep, every answer of a round at once.
#
# The fake upstream and swarmd stay up for the whole run (one of each);
# each window is SECONDS long after a short warm-up.  Reported: the
# medians of requests/s and p50/p99 latency, the proxied/direct ratio and
# the added latency taken within each run, and the CPU each side used.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/proxy.sh [-n RUNS] [-b BUILDDIR] [-d SECONDS] [-c CONNS]
                      [-t THREADS] [-s SYNC] [-l MS] [-j MS] [-k] [-o FILE]
  -n RUNS      direct/proxied pairs (default 5); medians reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -d SECONDS   length of each wrk window (default 10)
  -c CONNS     concurrent connections (default 64)
  -t THREADS   wrk threads (default 1: the servers need the CPUs)
  -s SYNC      swarmd's [store] synchronous (default: swarmd's, full)
  -l MS        the fake upstream answers each call MS ms late (default 0)
  -j MS        and up to MS ms later still, at random (default 0)
  -k           keep the scratch directory
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=5
SECS=10
CONNS=64
THREADS=1
SYNC=
DELAY=0
JITTER=0
while getopts n:b:d:c:t:s:l:j:ko:h opt; do
	case $opt in
	d) SECS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	s) SYNC=$OPTARG ;;
	l) DELAY=$OPTARG ;;
	j) JITTER=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$SECS" "$CONNS" "$THREADS"
case $DELAY$JITTER in '' | *[!0-9]*) usage >&2; exit 2 ;; esac
WARMUP=2	# seconds of wrk before the first window of each kind

say() { printf '%s\n' "$*" >&2; }
die() { say "proxy.sh: $*"; exit 1; }

WRK=$(command -v wrk) || die "wrk not found (Debian: apt-get install -y wrk)"
FAKE="$BUILD/tools/fake-upstream"
bench_build "$FAKE"
bench_release_warning
bench_rev src include tools meson.build
bench_scratch swarmd-proxy
bench_on_exit bench_cleanup

py() { python3 "$ROOT/bench/proxy.py" "$@"; }

# The account: limits far above anything 64 connections can ask for.
cat >"$T/fake.json" <<EOF
{"limits": {"requests_per_minute": 1e9, "input_tokens_per_minute": 1e11,
            "output_tokens_per_minute": 1e11, "tokens_per_minute": 1e11},
 "cache": false,
 "faults": {"slow_first_byte": {"count": $([ "$DELAY$JITTER" = 00 ] && echo 0 || echo -1),
                                "delay_ms": $DELAY, "jitter_ms": $JITTER}}}
EOF
bench_start_fake "$T"
UP=$FAKE_URL

{
	[ -n "$SYNC" ] && printf '[store]\nsynchronous = %s\n' "$SYNC"
	cat <<EOF
[watchdog]
heartbeat_timeout = 1h
no_progress_timeout = 1h
[proxy]
listen = 127.0.0.1:0
upstream = $UP
EOF
} >"$T/swarmd.conf"
bench_start_daemon "$T"

# One agent that says where its proxy URL is, then waits to be stopped.
cat >"$T/agent" <<'EOF'
#!/bin/sh
printf '%s\n' "$ANTHROPIC_BASE_URL" >"$1.tmp" && mv "$1.tmp" "$1"
exec sleep 3600
EOF
chmod +x "$T/agent"
python3 - "$T/job.json" "$T/agent" "$T/url" <<'PY'
import json, sys
json.dump({"name": "proxy-bench", "command": [sys.argv[2], sys.argv[3]],
           "chunks": [{"id": "wrk", "task": "-"}]}, open(sys.argv[1], "w"))
PY
"$SWARMCTL" submit "$T/job.json" >/dev/null || die "submit failed"
for _ in $(seq 200); do
	[ -s "$T/url" ] && break
	sleep 0.05
done
[ -s "$T/url" ] || die "the agent did not write its ANTHROPIC_BASE_URL"
PROXY_URL=$(cat "$T/url")
case $PROXY_URL in http://127.0.0.1:*/a/*) ;; *) die "unexpected agent URL" ;; esac
DIRECT="$UP/v1/messages"
PROXIED="$PROXY_URL/v1/messages"
# Both paths answer 200 before anything is measured.
for u in "$DIRECT" "$PROXIED"; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: sk-ant-bench" \
	    -H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
	    -d '{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"fake:tokens 16 hello"}]}' "$u")
	[ "$code" = 200 ] || die "a test request got $code"
done

# window KIND RUN: one wrk window; the servers' CPU measured with it.
window() {
	local url pids out k v
	if [ "$1" = direct ]; then
		url=$DIRECT pids=$FAKE_PID
	else
		url=$PROXIED pids="$FAKE_PID $DAEMON_PID"
	fi
	out=$(py window "$WRK" "$ROOT/bench/proxy.lua" "$url" "$SECS" \
	    "$CONNS" "$THREADS" $pids) || die "$1 run $2 failed"
	while read -r k v; do
		printf '%s.%s\t%s\t%s\n' "$1" "$k" "$2" "$v" >>"$RESULTS"
	done <<<"$out"
	say "  $1 run $2: $(echo "$out" | tr '\n' ' ')"
}

say "== proxy: $CONNS connections, $THREADS wrk thread(s), ${SECS}s windows," \
    "$RUNS runs, direct and proxied interleaved"
"$WRK" -t "$THREADS" -c "$CONNS" -d "${WARMUP}s" -s "$ROOT/bench/proxy.lua" "$DIRECT" >/dev/null
"$WRK" -t "$THREADS" -c "$CONNS" -d "${WARMUP}s" -s "$ROOT/bench/proxy.lua" "$PROXIED" >/dev/null
for run in $(seq "$RUNS"); do
	bench_quiet
	# Alternate which goes first, so neither always follows the other.
	if [ $(( run % 2 )) = 1 ]; then
		window direct "$run"
		window proxy "$run"
	else
		window proxy "$run"
		window direct "$run"
	fi
done
records=$(sqlite3 "file:$T/state/swarmd.db?mode=ro" \
    "SELECT count(*) FROM usage" 2>/dev/null || echo "?")

bench_report "swarmd proxy overhead"
echo "build: $BUILD (${BUILDTYPE:-unknown}); $($WRK -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "load: $CONNS connections, $THREADS wrk thread(s), ${SECS}s per window;" \
    "non-streaming, 16 output tokens, answered ${DELAY}+0..${JITTER} ms late; swarmd's [store] synchronous = ${SYNC:-full (default)};" \
    "usage records metered by swarmd: $records"
py table "$RESULTS" "$RUNS"
