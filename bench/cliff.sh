#!/usr/bin/env bash
# bench/cliff.sh: the quota cliff of issue 5 (see BENCHMARKS.md).
#
# 60 chunks of 10 calls each; every chunk is one tools/sim-agent, which
# streams its calls and retries them as the SDKs do (at most 2 retries,
# backoff with jitter, retry-after honoured).  The account is the
# project's fake upstream with one token bucket of TPM tokens a minute,
# refilled at TPM/60 a second.  The bucket is emptied by one request just
# before each arm, so the physical limit is exactly the tokens the work
# needs divided by the refill rate: no arm can run on a minute of burst.
# Each arm gets a fresh fake upstream:
#
#   direct   (a) all 60 agents at once, straight to the fake
#   sem4     (b) at most 4 at a time (xargs -P 4), straight to the fake
#   swarmd   (c) one swarmd job of the 60 at concurrency 60, no ramp,
#            through swarmd's [proxy] in front of the fake
#
# Reported per arm: makespan / physical limit, 429s seen by agents, calls
# failed after their retries, chunks failed (an agent stops at its first
# failed call, as a session ends when its API call fails for good).
set -u

usage() {
	cat <<EOF
usage: bench/cliff.sh [-n RUNS] [-b BUILDDIR] [-a ARMS] [-k] [-o FILE]
  -n RUNS      repetitions of the comparison (default 1); medians reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -a ARMS      comma-separated subset of direct,sem4,swarmd (default: all)
  -k           keep the scratch directory (agents' lines, logs, state)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=1
BUILD=${BUILD:-/tmp/bench-build}
ARMS=direct,sem4,swarmd
KEEP=0
RAWOUT=
while getopts n:b:a:ko:h opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	a) ARMS=$OPTARG ;;
	k) KEEP=1 ;;
	o) RAWOUT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case $RUNS in '' | *[!0-9]*) usage >&2; exit 2 ;; esac
[ "$RUNS" -ge 1 ] || { usage >&2; exit 2; }

# ---- the scenario ----
CHUNKS=60
CALLS=10		# calls per chunk
IN=500			# one call: 500 input + 500 output tokens
OUT=500
COST=$(( IN + OUT ))
TPM=600000		# the account: a bucket of 600,000 tokens refilled at
RATE=$(( TPM / 60 ))	# 10,000/s; the work: 600 x 1,000 tokens, 60 s of refill
GAP_MS=20		# the fake streams one event per 20 ms, 10 tokens per
DELTA_BYTES=40		# delta: a call takes about 1 s, as if the model
			# wrote 500 tokens/s
SEM=4			# arm (b)'s semaphore
MAX_HOLD=30s		# arm (c)'s [proxy] max_hold
TIMEOUT=600		# per arm, seconds
SIM_ARGS=(-n "$CALLS" -s -i "$IN" -o "$OUT")

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf '%s\n' "$*" >&2; }
die() { say "cliff.sh: $*"; exit 1; }
want() { case ",$ARMS," in *",$1,"*) return 0 ;; esac; return 1; }

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release >&2 ||
	    die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" >&2 || die "build failed in $BUILD"
SWARMD="$BUILD/swarmd"
SWARMCTL="$BUILD/swarmctl"
FAKE="$BUILD/tools/fake-upstream"
SIM="$BUILD/tools/sim-agent"
for x in "$SWARMD" "$SWARMCTL" "$FAKE" "$SIM"; do
	[ -x "$x" ] || die "$x missing"
done
BUILDTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null)
# BENCH_REV names the revision when ROOT is an export, not a checkout.
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "${BENCH_REV:-unknown}")
[ -n "$(git -C "$ROOT" status --porcelain -- src include tools meson.build 2>/dev/null)" ] &&
    REV="$REV + uncommitted changes"

T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-cliff.XXXXXX") || die "mktemp failed"
RESULTS="$T/results.tsv"
: >"$RESULTS"
DAEMON_PID=""
FAKE_PID=""
AGENT_PIDS=()

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

stop_fake() {
	[ -n "$FAKE_PID" ] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=""
}

# Every agent carries CLIFF_SCRATCH=$T (or, under swarmd, a socket in
# $T) in its environment: whatever still does is ours to stop.
stop_agents() {
	local p
	for p in "${AGENT_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $(grep -l -s -a -e "CLIFF_SCRATCH=$T" -e "SWARM_SOCKET=$T/" \
	    /proc/[0-9]*/environ | cut -d/ -f3); do
		[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
	done
	for p in "${AGENT_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	AGENT_PIDS=()
}

cleanup() {
	stop_daemon
	stop_agents
	stop_fake
	if [ "$KEEP" = 1 ]; then
		say "cliff.sh: scratch directory kept: $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

py() { python3 "$ROOT/bench/cliff.py" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# start_fake DIR: a fresh account; sets FAKE_URL.
start_fake() {
	cat >"$1/fake.json" <<-EOF
	{"limits": {"requests_per_minute": 1000000,
	            "input_tokens_per_minute": 100000000,
	            "output_tokens_per_minute": 100000000,
	            "tokens_per_minute": $TPM},
	 "stream": {"gap_ms": $GAP_MS, "delta_bytes": $DELTA_BYTES},
	 "cache": false}
	EOF
	"$FAKE" -l 127.0.0.1:0 -c "$1/fake.json" >"$1/fake.out" \
	    2>"$1/fake.log" &
	FAKE_PID=$!
	for _ in $(seq 100); do
		FAKE_URL=$(sed -n 's/^listening on /http:\/\//p' "$1/fake.out")
		[ -n "$FAKE_URL" ] && return 0
		sleep 0.05
	done
	die "fake-upstream did not say where it listens"
}

# drain DIR: one request that costs the whole bucket (count_tokens tells
# its input; the output makes up the rest), so the arm starts on empty.
drain() {
	local body n left
	body='{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"fake:tokens 999999"}]}'
	n=$(curl -sS -H "x-api-key: bench" -H "anthropic-version: 2023-06-01" \
	    -H "content-type: application/json" -d "$body" \
	    "$FAKE_URL/v1/messages/count_tokens" |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["input_tokens"])') ||
	    die "count_tokens failed"
	n=$(( TPM - n ))
	body='{"model":"claude-sonnet-4-5","max_tokens":'$n',"messages":[{"role":"user","content":"fake:tokens '$n'"}]}'
	[ ${#n} = 6 ] || die "the drain request's size changed"
	left=$(curl -sS -o /dev/null -D - -H "x-api-key: bench" \
	    -H "anthropic-version: 2023-06-01" \
	    -H "content-type: application/json" -d "$body" \
	    "$FAKE_URL/v1/messages" | tr -d '\r' |
	    sed -n 's/^anthropic-ratelimit-tokens-remaining: //Ip')
	[ "$left" = 0 ] || die "the bucket was not emptied (remaining: $left)"
	curl -sS "$FAKE_URL/_fake/stats" >"$1/fake-before.json"
}

# start_daemon DIR
start_daemon() {
	cat >"$1/swarmd.conf" <<-EOF
	[spawn]
	max_agents = 64
	[proxy]
	listen = 127.0.0.1:0
	upstream = $FAKE_URL
	max_hold = $MAX_HOLD
	EOF
	export SWARM_SOCKET="$1/swarmd.sock"
	"$SWARMD" -f -c "$1/swarmd.conf" -s "$SWARM_SOCKET" -d "$1/state" \
	    2>"$1/swarmd.log" &
	DAEMON_PID=$!
	for _ in $(seq 200); do
		"$SWARMCTL" jobs >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$1/swarmd.log" >&2
	die "swarmd did not come up on $SWARM_SOCKET"
}

# sim ID DIR: one agent straight to the fake, in the background.
sim() {
	env CLIFF_SCRATCH="$T" ANTHROPIC_BASE_URL="$FAKE_URL" \
	    ANTHROPIC_API_KEY=sk-ant-bench \
	    "$SIM" "${SIM_ARGS[@]}" -w "$2/agents/$1.jsonl" \
	    2>>"$2/agents.err" &
	AGENT_PIDS+=($!)
}

# wait_agents: every agent of a direct arm, or give up after TIMEOUT.
wait_agents() {
	local end=$(( $(date +%s) + TIMEOUT )) p
	for p in "${AGENT_PIDS[@]}"; do
		while kill -0 "$p" 2>/dev/null; do
			[ "$(date +%s)" -lt "$end" ] || die "agents still running after ${TIMEOUT}s"
			sleep 0.2
		done
		wait "$p" 2>/dev/null
	done
	AGENT_PIDS=()
}

arm_direct() {
	local i
	for i in $(seq 0 $(( CHUNKS - 1 ))); do
		sim "$(printf 'c%02d' "$i")" "$1"
	done
	wait_agents
}

arm_sem4() {
	seq -f 'c%02g' 0 $(( CHUNKS - 1 )) |
	    env CLIFF_SCRATCH="$T" ANTHROPIC_BASE_URL="$FAKE_URL" \
	    ANTHROPIC_API_KEY=sk-ant-bench \
	    xargs -P "$SEM" -I{} "$SIM" "${SIM_ARGS[@]}" -w "$1/agents/{}.jsonl" \
	    2>>"$1/agents.err" &
	AGENT_PIDS+=($!)
	wait_agents
}

# The job is submitted by this function so t0 is taken just before.
arm_swarmd() {
	local job out
	job=$("$SWARMCTL" submit "$1/job.json" 2>"$1/submit.err") ||
	    die "submit failed: $(cat "$1/submit.err")"
	out=$(python3 "$ROOT/bench/benchlib.py" wait "$SWARM_SOCKET" "$job" \
	    "$TIMEOUT" 0.5) || die "waiting for $job failed"
	say "  swarmd: $job $out"
}

# quiet: wait (up to 5 minutes) until the machine is at least 90% idle
# over 3 s, so that a measurement does not start on top of someone else's
# build or test run (as bench/store.sh does).  One that starts later is
# not noticed here: the CPU others used meanwhile is reported too.
quiet() {
	local i a b u n s id w q sq st rest busy=100
	for i in $(seq 100); do
		read -r _ u n s id w q sq st rest </proc/stat
		a=$(( u + n + s + id + w + q + sq + st )) b=$id
		sleep 3
		read -r _ u n s id w q sq st rest </proc/stat
		busy=$(( 100 - (id - b) * 100 / (u + n + s + id + w + q + sq + st - a) ))
		[ "$busy" -le 10 ] && return 0
		[ "$i" = 1 ] && say "cliff.sh: the machine is $busy% busy; waiting for it to calm down"
	done
	say "cliff.sh: warning: still $busy% busy after 5 minutes; measuring anyway"
}

# The CPU the whole machine spent busy during an arm, less what this
# script and all it started used (all of it is reaped by then, so it is
# in our children's times), is what others used: % of the machine.
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
our_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
phase_begin() { PB_BUSY=$(busy_ticks) PB_OURS=$(our_ticks) PB_T=$(date +%s%N); }
phase_end() {
	local other=$(( $(busy_ticks) - PB_BUSY - ($(our_ticks) - PB_OURS) ))
	local ns=$(( $(date +%s%N) - PB_T ))
	[ "$other" -lt 0 ] && other=0
	record "$1" "$2" $(( other * 1000000000 / HZ * 100 / ns / $(nproc) ))
}

# one ARM RUN
one() {
	local arm=$1 run=$2 dir="$T/$1-$2" t0 out k v db=""
	mkdir -p "$dir/agents"
	quiet
	phase_begin
	start_fake "$dir"
	if [ "$arm" = swarmd ]; then
		start_daemon "$dir"
		py job "$dir/job.json" "$SIM" "$dir/agents" "$CHUNKS" \
		    "${SIM_ARGS[@]}" || die "cannot write the job"
		db="$dir/state/swarmd.db"
	fi
	drain "$dir"
	t0=$(date +%s%3N)
	"arm_$arm" "$dir"
	curl -sS "$FAKE_URL/_fake/stats" >"$dir/fake-after.json" ||
	    die "$arm run $run: the fake upstream is gone"
	stop_daemon
	stop_fake
	phase_end "$arm.others" "$run"
	out=$(py analyze "$dir/agents" "$t0" "$CHUNKS" "$CALLS" "$COST" \
	    "$RATE" "$dir/fake-before.json" "$dir/fake-after.json" $db) ||
	    die "$arm run $run: analysis failed"
	while read -r k v; do
		record "$arm.$k" "$run" "$v"
	done <<<"$out"
	say "  $arm run $run: $(echo "$out" | tr '\n' ' ')"
}

say "== cliff: $CHUNKS chunks x $CALLS calls x $COST tokens against" \
    "$TPM tokens/min ($RATE/s); $RUNS run(s) of: $ARMS"
for run in $(seq "$RUNS"); do
	for arm in direct sem4 swarmd; do
		want "$arm" || continue
		one "$arm" "$run"
	done
done

[ -n "$RAWOUT" ] && cp "$RESULTS" "$RAWOUT"
echo
echo "swarmd quota cliff: $(date -u +%Y-%m-%dT%H:%M:%SZ), revision $REV"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))," \
    "kernel $(uname -r); load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $BUILD (${BUILDTYPE:-unknown})"
echo "scenario: $CHUNKS chunks x $CALLS streamed calls x ($IN in + $OUT out) tokens;" \
    "account $TPM tokens/min, emptied before each arm: physical limit" \
    "$(( CHUNKS * CALLS * COST / RATE )) s; calls take ~1 s" \
    "(${GAP_MS} ms per ${DELTA_BYTES}-byte delta); sem $SEM; max_hold $MAX_HOLD"
py table "$RESULTS" "$RUNS"
