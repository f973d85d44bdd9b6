#!/usr/bin/env bash
# bench/incident.sh: issue 4's incident as a simulation (see BENCHMARKS.md).
#
# 30 chunks, each a simulated agent (bench/agents/incident-agent) that
# spends tokens at a steady rate against one shared account: the project's
# fake upstream (tools/fake-upstream) with a per-minute token bucket sized
# so that the 30 agents at once would need 300% of it.  Compared in the
# same run, each mode with a fresh fake upstream and a fresh swarmd:
#
#   nometer  swarmd with no [quota], the job at concurrency 30 and no ramp:
#            all 30 agents start together (the incident)
#   quota    swarmd with [quota] tokens_per_minute = the fake's limit
#            (pause_at 0.8 by default), the job declaring per_agent_tokens
#            (the pre-flight caps its fan-out) and a stagger
#   pause    (not in the default set) the same swarmd and stagger, but the
#            job declares no per_agent_tokens: only the spawn pause and the
#            default per-agent caps stand between it and the account
#
# Measured for each: peak use of the account's bucket (from the headers
# the agents saw, and replayed with 429s counted as demand), 429s, chunks
# finished, chunks killed mid-work, time from submit to the job's end.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/incident.sh [-n RUNS] [-b BUILDDIR] [-m MODES] [-k] [-o FILE]
  -n RUNS      repetitions of the comparison (default 3); medians reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -m MODES     comma-separated subset of nometer,quota,pause (default:
               nometer,quota)
  -k           keep the scratch directory (logs, agent logs, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=3
MODES=nometer,quota
while getopts n:b:m:ko:h opt; do
	case $opt in
	m) MODES=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS"

# ---- the scenario ----
CHUNKS=30
TPM=600000		# the account: tokens per minute (a bucket of 600,000
			# refilled at 10,000/s), the fake's and swarmd's limit
REQ_IN=1000		# one request: 1,000 input + 1,000 output tokens
REQ_OUT=1000
REQ_COST=$(( REQ_IN + REQ_OUT ))
INTERVAL=2		# one request every 2 s: 1,000 tokens/s per agent;
			# 30 agents: 30,000/s = 1.8M/min = 300% of TPM
NREQ=20			# requests per chunk: 40,000 tokens over about 40 s,
			# longer than the 30 s a full bucket lasts at 300%
PER_AGENT=$(( NREQ * REQ_COST * 11 / 10 ))	# declared worst case, +10%
STAGGER_BATCH=4
STAGGER_INTERVAL=5
TIMEOUT=900		# per mode and run, seconds

AGENT="$ROOT/bench/agents/incident-agent"
say() { printf '%s\n' "$*" >&2; }
die() { say "incident.sh: $*"; exit 1; }
want() { case ",$MODES," in *",$1,"*) return 0 ;; esac; return 1; }

FAKE="$BUILD/tools/fake-upstream"
bench_build "$FAKE" "$AGENT"
bench_rev src include meson.build
bench_scratch swarmd-incident
bench_on_exit bench_cleanup

# The measuring half: polling the daemon, and the arithmetic.
cat >"$T/incident.py" <<'PY'
import glob, json, os, socket, sqlite3, sys, time
from datetime import datetime, timezone

import report


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""

    def call(self, verb, args=None):
        req = {"id": 1, "verb": verb}
        if args is not None:
            req["args"] = args
        self.s.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("swarmd closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        r = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError("%s: %s" % (verb, r.get("error")))
        return r


def ts_ms(ts):
    d = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=timezone.utc).timestamp() * 1000.0


def all_events(c, args):
    """The whole event log (of ARGS' job), page by page, oldest first."""
    out, after = [], 0
    while True:
        r = c.call("events", dict(args, after=after, limit=10000))
        out += r["events"]
        if not r.get("more") or not r["events"]:
            return out
        after = r["events"][-1]["seq"]


def watch(sock, job, t0_ms, timeout, out):
    """Sample swarmd's own view of the window (quota) and the job twice a
    second until the job ends; then print the seconds from submit to its
    last event (job_done) and its chunk counts."""
    c = Conn(sock)
    end = time.monotonic() + float(timeout)
    peak, paused = 0.0, 0
    with open(out, "w") as f:
        while True:
            q = c.call("quota")
            use = max([w["percent"] for w in q["windows"]] or [0])
            peak = max(peak, use)
            paused += q["spawn"]["state"] == "paused"
            j = next(x for x in c.call("jobs")["jobs"] if x["job"] == job)
            running = j["counts"].get("running", 0)
            f.write("%d %.2f %s %d\n" % (time.time() * 1000, use,
                                         q["spawn"]["state"], running))
            if j["state"] != "running":
                break
            if time.monotonic() > end:
                raise RuntimeError("%s still running after %s s" %
                                   (job, timeout))
            time.sleep(0.5)
    ev = c.call("events", {"job": job, "limit": 1})["events"][-1]
    evs = all_events(c, {"job": job})
    names = [e["event"] for e in evs]
    allev = [e["event"] for e in all_events(c, {})]
    print("%.3f %.2f %d %d %s %d %d %d" % (
        (ts_ms(ev["ts"]) - float(t0_ms)) / 1000.0, peak, paused,
        allev.count("quota_paused"), json.dumps(j["counts"],
                                                separators=(",", ":")),
        names.count("cap_reached"), names.count("cap_warning"),
        names.count("stagger_halted")))


def analyze(outdir, limit, cost, dbpath, fake_stats):
    """Every attempt the agents logged -> the figures of one run."""
    limit, cost = float(limit), float(cost)
    att = []
    for p in glob.glob(os.path.join(outdir, "*.log")):
        with open(p) as f:
            for line in f:
                s, r, st, ch, rem, _ra = line.split()
                att.append((int(s), int(r), int(st), int(ch), rem))
    att.sort()
    ok = [a for a in att if a[2] == 200]
    bad = [a for a in att if a[2] == 429]
    if any(a[3] != cost for a in ok):
        raise RuntimeError("a request was not charged %d tokens" % cost)
    # 1. What the account said: use = limit - tokens-remaining (the fake
    # rounds remaining down to thousands: at most +1000 tokens).
    hdr = max([(limit - float(a[4])) / limit * 100 for a in ok] or [0])

    # 2. The bucket replayed from the attempts, in send order: refilled at
    # limit/60 per second up to limit, charged `cost` for every attempt.
    # served: 200s only (should agree with the headers); demand: 429s
    # charged too, the level allowed below zero: use past 100% is demand
    # the account refused.
    def replay(rows):
        level, t, peak = limit, None, 0.0
        for a in rows:
            if t is not None:
                level = min(limit, level + (a[0] - t) / 60000.0 * limit)
            t = a[0]
            level -= cost
            peak = max(peak, (limit - level) / limit * 100)
        return peak
    served = replay(ok)
    demand = replay(att)
    finished = len(glob.glob(os.path.join(outdir, "*.result")))
    # Served tokens: the agents' logs, the fake's counters, swarmd's meter.
    with open(fake_stats) as f:
        fs = json.load(f)
    fake_tok = fs["tokens"]["input"] + fs["tokens"]["output"] + \
        fs["tokens"]["cache_creation_input"]
    db = sqlite3.connect("file:%s?mode=ro" % dbpath, uri=True)
    metered = db.execute("SELECT coalesce(sum(input + output + "
                         "cache_creation), 0) FROM usage").fetchone()[0]
    db.close()
    print("%.2f %.2f %.2f %d %d %d %d %d %d" % (
        hdr, served, demand, len(bad), finished, len(ok) * int(cost),
        fake_tok, metered, fs.get("rate_limited", 0)))


def table(path, runs):
    vals = report.read(path)
    rows = [
        ("peak use of the bucket, account headers (%)", "peak_hdr", "%.1f"),
        ("peak use, replayed, 200s only (%)", "peak_served", "%.1f"),
        ("peak demand, replayed, 429s counted (%)", "peak_demand", "%.1f"),
        ("429 answers", "n429", "%.0f"),
        ("chunks finished (of 30)", "finished", "%.0f"),
        ("chunks killed mid-work: 429s (agent gave up)", "killed_429",
         "%.0f"),
        ("chunks killed mid-work: token_cap", "killed_cap", "%.0f"),
        ("time from submit to the job's end (s)", "time", "%.1f"),
        ("agents at once, most seen", "max_running", "%.0f"),
        ("job concurrency after pre-flight", "concurrency", "%.0f"),
        ("swarmd's own meter: peak (%, sampled 2/s)", "meter_peak", "%.1f"),
        ("swarmd: quota_paused events", "pauses", "%.0f"),
        ("tokens served (agents' logs)", "tok_agents", "%.0f"),
        ("tokens served (fake's /_fake/stats)", "tok_fake", "%.0f"),
        ("tokens metered by swarmd (usage table)", "tok_metered", "%.0f"),
    ]
    modes = [m for m in ("nometer", "quota", "pause")
             if any(k.startswith(m + ".") for k in vals)]
    head = ["metric"] + ["%s: median (min-max)" % m for m in modes]
    out = [head]
    for label, key, fmt in rows:
        r = [label]
        for m in modes:
            v = vals.get(m + "." + key)
            r.append(report.span(v, fmt) if v else "-")
        out.append(r)
    report.table(out)
    print("\n%s runs of each mode; each cell is the median, with the "
          "min-max over the runs when they differ." % runs)


if __name__ == "__main__":
    cmd = sys.argv[1]
    try:
        {"watch": watch, "analyze": analyze, "table": table}[cmd](
            *sys.argv[2:])
    except (RuntimeError, OSError, EOFError, StopIteration) as e:
        sys.exit("incident.py: %s: %s" % (cmd, e))
PY
# report.py (the results table) is beside this script, not in $T.
py() { PYTHONPATH="$ROOT/bench" python3 "$T/incident.py" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# start_fake DIR: a fresh account (full bucket); sets FAKE_URL.
start_fake() {
	cat >"$1/fake.json" <<-EOF
	{"limits": {"requests_per_minute": 1000000,
	            "input_tokens_per_minute": 100000000,
	            "output_tokens_per_minute": 100000000,
	            "tokens_per_minute": $TPM},
	 "cache": false}
	EOF
	bench_start_fake "$1"
}

# start_daemon DIR MODE
start_daemon() {
	{
		echo "[spawn]"
		echo "max_agents = 64"
		if [ "$2" = nometer ]; then
			# No ramp: the job starts at its full concurrency.
			echo "stagger_batch = 1000"
			echo "stagger_interval = 0"
		else
			echo "[quota]"
			echo "tokens_per_minute = $TPM"
		fi
	} >"$1/swarmd.conf"
	bench_start_daemon "$1"
}

# one MODE RUN
one() {
	local mode=$1 run=$2 dir="$T/$1-$2" extra t0 job out
	mkdir -p "$dir/agents"
	start_fake "$dir"
	start_daemon "$dir" "$mode"
	case $mode in
	nometer) extra='{}' ;;
	quota) extra='{"per_agent_tokens": '$PER_AGENT', "stagger": {"batch": '$STAGGER_BATCH', "interval": '$STAGGER_INTERVAL'}}' ;;
	pause) extra='{"stagger": {"batch": '$STAGGER_BATCH', "interval": '$STAGGER_INTERVAL'}}' ;;
	esac
	python3 - "$dir/job.json" "$AGENT" "$NREQ" "$INTERVAL" "$dir/agents" \
	    "$FAKE_URL" "$CHUNKS" "$REQ_IN" "$REQ_OUT" "$extra" <<-'PY' ||
	import json, sys
	out, agent, nreq, interval, adir, url, n, rin, rout, extra = sys.argv[1:]
	job = {"name": "incident", "concurrency": int(n),
	       "command": [agent, "{chunk}", nreq, interval, adir],
	       "env": {"ANTHROPIC_BASE_URL": url,
	               "INCIDENT_INPUT_TOKENS": rin,
	               "INCIDENT_OUTPUT_TOKENS": rout},
	       "chunks": [{"id": "c%02d" % i, "task": "chunk %d" % i}
	                  for i in range(int(n))]}
	job.update(json.loads(extra))
	json.dump(job, open(out, "w"))
	PY
	    die "cannot write the job file"
	t0=$(date +%s%3N)
	job=$("$SWARMCTL" submit "$dir/job.json" 2>"$dir/submit.err") ||
	    die "submit failed: $(cat "$dir/submit.err")"
	[ -s "$dir/submit.err" ] && say "  $mode run $run: $(cat "$dir/submit.err")"
	out=$(py watch "$SWARM_SOCKET" "$job" "$t0" "$TIMEOUT" \
	    "$dir/samples") || die "$mode run $run: watching $job failed"
	local secs mpeak psamples pauses counts caps warns halts conc maxrun
	read -r secs mpeak psamples pauses counts caps warns halts <<<"$out"
	conc=$("$SWARMCTL" --json show "$job" | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["concurrency"])')
	maxrun=$(awk '$4 > m { m = $4 } END { print m + 0 }' "$dir/samples")
	# The account must have lived through the run: on a shared machine
	# something else may kill it (a stray kill of a recycled pid).  Such
	# a run is discarded and repeated.
	if ! kill -0 "$FAKE_PID" 2>/dev/null ||
	    ! curl -s "$FAKE_URL/_fake/stats" >"$dir/fake-stats.json"; then
		local st
		wait "$FAKE_PID" 2>/dev/null
		st=$?
		FAKE_PID=""
		bench_stop_daemon
		say "incident.sh: $mode run $run: the fake upstream died during" \
		    "the run (exit status $st); run discarded"
		return 1
	fi
	bench_stop_daemon
	bench_term FAKE_PID
	if grep -l "connection error" "$dir"/state/logs/* >/dev/null 2>&1; then
		say "incident.sh: $mode run $run: an agent lost its connection" \
		    "to the fake upstream; run discarded"
		return 1
	fi
	out=$(py analyze "$dir/agents" "$TPM" "$REQ_COST" \
	    "$dir/state/swarmd.db" "$dir/fake-stats.json") ||
	    die "$mode run $run: analysis failed"
	local hdr served demand n429 finished tok_agents tok_fake metered rl
	read -r hdr served demand n429 finished tok_agents tok_fake metered rl \
	    <<<"$out"
	local killed429
	killed429=$(grep -l "429 after" "$dir"/state/logs/* 2>/dev/null | wc -l)
	record "$mode.peak_hdr" "$run" "$hdr"
	record "$mode.peak_served" "$run" "$served"
	record "$mode.peak_demand" "$run" "$demand"
	record "$mode.n429" "$run" "$n429"
	record "$mode.finished" "$run" "$finished"
	record "$mode.killed_429" "$run" "$killed429"
	record "$mode.killed_cap" "$run" "$caps"
	record "$mode.time" "$run" "$secs"
	record "$mode.max_running" "$run" "$maxrun"
	record "$mode.concurrency" "$run" "$conc"
	if [ "$mode" != nometer ]; then	# no [quota]: no window to meter
		record "$mode.meter_peak" "$run" "$mpeak"
		record "$mode.pauses" "$run" "$pauses"
	fi
	record "$mode.tok_agents" "$run" "$tok_agents"
	record "$mode.tok_fake" "$run" "$tok_fake"
	record "$mode.tok_metered" "$run" "$metered"
	say "  $mode run $run: ${secs}s, finished $finished, killed by 429s" \
	    "$killed429, token_cap $caps; peak use ${hdr}% (headers)," \
	    "demand ${demand}%; $n429 429s; concurrency $conc, at most" \
	    "$maxrun at once; meter peak ${mpeak}%, $pauses pauses;" \
	    "chunks $counts; tokens agents/fake/metered" \
	    "$tok_agents/$tok_fake/$metered"
	[ "$tok_agents" = "$tok_fake" ] ||
	    say "incident.sh: warning: the agents' logs and the fake disagree"
	[ "$rl" = "$n429" ] ||
	    say "incident.sh: warning: the fake counted $rl 429s, the agents $n429"
}

say "== incident: $CHUNKS agents x $NREQ requests of $REQ_COST tokens every" \
    "${INTERVAL}s against $TPM tokens/min; $RUNS runs of: $MODES"
for run in $(seq "$RUNS"); do
	for mode in nometer quota pause; do
		want "$mode" || continue
		for try in 1 2 3; do
			one "$mode" "$run" && break
			[ "$try" = 3 ] && die "$mode run $run: three tries failed"
			mv "$T/$mode-$run" "$T/$mode-$run.discarded-$try"
		done
	done
done

bench_report "swarmd incident simulation" mem
echo "build: $BUILD (${BUILDTYPE:-unknown})"
echo "scenario: $CHUNKS chunks x $NREQ requests x $REQ_COST tokens, one every" \
    "${INTERVAL}s per agent; account $TPM tokens/min (all $CHUNKS at once:" \
    "$(( CHUNKS * REQ_COST * 60 / INTERVAL * 100 / TPM ))%);" \
    "quota mode: per_agent_tokens $PER_AGENT, stagger $STAGGER_BATCH every ${STAGGER_INTERVAL}s"
py table "$RESULTS" "$RUNS"
