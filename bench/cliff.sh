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
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

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
ARMS=direct,sem4,swarmd
while getopts n:b:a:ko:h opt; do
	case $opt in
	a) ARMS=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS"

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

say() { printf '%s\n' "$*" >&2; }
die() { say "cliff.sh: $*"; exit 1; }
want() { case ",$ARMS," in *",$1,"*) return 0 ;; esac; return 1; }

FAKE="$BUILD/tools/fake-upstream"
SIM="$BUILD/tools/sim-agent"
bench_build "$FAKE" "$SIM"
bench_rev src include tools meson.build
bench_scratch swarmd-cliff
AGENT_PIDS=()

# Every agent carries CLIFF_SCRATCH=$T (or, under swarmd, a socket in
# $T) in its environment: whatever still does is ours to stop.
stop_agents() {
	local p
	for p in "${AGENT_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	bench_kill_strays "CLIFF_SCRATCH=$T"
	for p in "${AGENT_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	AGENT_PIDS=()
}

cleanup() {
	bench_stop_daemon
	stop_agents
	bench_cleanup
}
bench_on_exit cleanup

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
	bench_start_fake "$1"
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
	bench_start_daemon "$1"
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

# one ARM RUN
one() {
	local arm=$1 run=$2 dir="$T/$1-$2" t0 out k v db=""
	mkdir -p "$dir/agents"
	bench_quiet
	bench_phase_begin
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
	bench_stop_daemon
	bench_term FAKE_PID
	bench_phase_end
	record "$arm.others" "$run" "$BENCH_OTHERS"
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

bench_report "swarmd quota cliff"
echo "build: $BUILD (${BUILDTYPE:-unknown})"
echo "scenario: $CHUNKS chunks x $CALLS streamed calls x ($IN in + $OUT out) tokens;" \
    "account $TPM tokens/min, emptied before each arm: physical limit" \
    "$(( CHUNKS * CALLS * COST / RATE )) s; calls take ~1 s" \
    "(${GAP_MS} ms per ${DELTA_BYTES}-byte delta); sem $SEM; max_hold $MAX_HOLD"
py table "$RESULTS" "$RUNS"
