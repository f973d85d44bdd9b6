#!/usr/bin/env bash
# bench/merge.sh: the merge queue's throughput and its latency (see
# BENCHMARKS.md, "The merge queue").
#
#   batch  CHUNKS chunks, each committing a file of its own, a test gate
#          that takes GATE seconds (in the chunk's worktree, then on the
#          target): the time to land all of them with [merge] batch = 1
#          (serial rebase, test, land: what a careful human or a simple
#          queue does) against the default batch of 4, side by side in
#          each run, alternating which goes first; both must end with
#          the same tree on main
#   lone   one chunk on an idle queue: from gates_passed to merged, less
#          the gate's own time on the target: what the queue adds
#
# Every daemon is private (own socket, state dir and repository under one
# mktemp dir), and everything started here is stopped on exit.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF2
usage: bench/merge.sh [-n RUNS] [-b BUILDDIR] [-c CHUNKS] [-g SECONDS] [-k] [-o FILE]
  -n RUNS      repetitions (default 3); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -c CHUNKS    chunks of the batch test (default 50)
  -g SECONDS   how long the test gate takes (default 2)
  -k           keep the scratch directory (logs, repositories, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF2
}

RUNS=3
CHUNKS=50
GATE=2
while getopts n:b:c:g:ko:h opt; do
	case $opt in
	c) CHUNKS=$OPTARG ;;
	g) GATE=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$CHUNKS" "$GATE"

say() { printf '%s\n' "$*" >&2; }
die() { say "merge.sh: $*"; exit 1; }

command -v git >/dev/null || die "git not found"
bench_build
bench_release_warning
bench_rev src include meson.build
bench_scratch swarmd-merge
bench_on_exit bench_cleanup
cat >"$T/mq.py" <<'PY'
"""The measuring half of bench/merge.sh."""
import json, statistics, subprocess, sys, time

import benchlib


def job(out, n, gate, repo):
    agent = ('echo "$SWARM_CHUNK" >"$SWARM_CHUNK.txt" && git add -A && '
             'git commit -q -m "$SWARM_CHUNK"')
    json.dump({"name": "merge%s" % n, "command": ["sh", "-c", agent],
               "concurrency": int(n),
               "worktree": {"repo": repo, "base": "main"},
               "gates": [{"name": "test",
                          "command": ["sleep", str(gate)]}],
               "merge": {"into": "main"},
               "chunks": [{"id": "c%d" % i, "task": "t"}
                          for i in range(int(n))]}, open(out, "w"))


def run(sock, swarmctl, jobfile, n):
    """Seconds from submit to the job's end; from the first merge_queued
    to the last merged; rounds (gate runs on the target)."""
    c = benchlib.Conn(sock)
    t0 = time.time() * 1000.0
    p = subprocess.run([swarmctl, "submit", jobfile], capture_output=True,
                       text=True, check=True)
    j = benchlib.wait_job(c, p.stdout.split()[0], 1800, 0.2)
    if j["counts"].get("merged") != int(n):
        raise RuntimeError("not all merged: %s" % json.dumps(j["counts"]))
    ev = c.call("events", {"job": j["job"], "limit": 10000})["events"]
    ts = lambda name: [benchlib.ts_ms(e["ts"]) for e in ev
                       if e["event"] == name]
    end = max(ts("merged"))
    rounds = sum(1 for e in ev if e["event"] == "gate_started"
                 and e.get("chunk_id") is None)
    print("%.3f %.3f %d" % ((end - t0) / 1000.0,
                            (end - min(ts("merge_queued"))) / 1000.0,
                            rounds))


def lone(sock, swarmctl, jobfile):
    """ms from gates_passed to merged, and that less the gate's time on
    the target."""
    c = benchlib.Conn(sock)
    p = subprocess.run([swarmctl, "submit", jobfile], capture_output=True,
                       text=True, check=True)
    j = benchlib.wait_job(c, p.stdout.split()[0], 600, 0.05)
    ev = c.call("events", {"job": j["job"], "limit": 1000})["events"]
    one = lambda name, pred=lambda e: True: next(
        e for e in ev if e["event"] == name and pred(e))
    passed = benchlib.ts_ms(one("gates_passed")["ts"])
    merged = benchlib.ts_ms(one("merged")["ts"])
    gate = one("gate_passed", lambda e: e.get("chunk_id") is None)
    print("%.1f %.1f" % (merged - passed,
                         merged - passed - gate["duration_ms"]))


def table(path, runs):
    import report
    vals = report.read(path)
    rows = [("metric", "unit", "median", "min", "max", "n", "target")]
    for key, label, unit, target in METRICS:
        if key in vals:
            v = vals[key]
            rows.append((label, unit, "%.2f" % statistics.median(v),
                         "%.2f" % min(v), "%.2f" % max(v), str(len(v)),
                         target))
    report.table(rows, (0, 1, 6))
    print("\nmedian, min and max over %s runs" % runs)


METRICS = [
    ("b1.land", "batch 1: first queued to last landed", "s", ""),
    ("b1.e2e", "  submit to the job's end", "s", ""),
    ("b1.rounds", "  gate runs on the target", "", ""),
    ("b4.land", "batch 4 (default): first queued to last landed", "s", ""),
    ("b4.e2e", "  submit to the job's end", "s", ""),
    ("b4.rounds", "  gate runs on the target", "", ""),
    ("speedup", "batch 4 against batch 1, landing", "x", ">= 3"),
    ("speedup_e2e", "batch 4 against batch 1, submit to end", "x", ""),
    ("same_tree", "the same tree on main in both (1 = yes)", "", "1"),
    ("lone.total", "lone entry: gates passed to landed", "ms", ""),
    ("lone.added", "  less the gate's time on the target", "ms", "< 1000"),
]

if __name__ == "__main__":
    cmds = {"job": job, "run": run, "lone": lone, "table": table}
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, ValueError, IndexError, EOFError,
            StopIteration, subprocess.CalledProcessError) as e:
        sys.exit("mq.py: %s: %s" % (sys.argv[1], e))
PY
py() { PYTHONPATH="$ROOT/bench" python3 "$T/mq.py" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
calc() { python3 -c "print('%.3f' % ($1))"; }

# arm NAME BATCH N: a fresh repository and swarmd ([merge] batch =
# BATCH), a job of N chunks waited for; sets TREE, main's tree after.
arm() {
	local d="$T/arm.$1.$run" out
	mkdir -p "$d" || die "cannot make $d"
	git init -q -b main "$d/repo" || die "cannot make the repository"
	git -C "$d/repo" -c user.name=b -c user.email=b@b commit -q \
	    --allow-empty -m base || die "cannot make the first commit"
	printf '[spawn]\nmax_agents = 100\nstagger_batch = 1000\nstagger_interval = 0\n[merge]\nbatch = %s\n' \
	    "$2" >"$d/swarmd.conf"
	bench_start_daemon "$d"
	py job "$d/job.json" "$3" "$GATE" "$d/repo"
	if [ "$1" = lone ]; then
		out=$(py lone "$SWARM_SOCKET" "$SWARMCTL" "$d/job.json") ||
		    die "lone failed"
	else
		out=$(py run "$SWARM_SOCKET" "$SWARMCTL" "$d/job.json" "$3") ||
		    die "$1 failed"
	fi
	TREE=$(git -C "$d/repo" rev-parse 'main^{tree}')
	bench_stop_daemon
	rm -rf "$d"
	OUT=$out
}

LOADS=""
declare -A LAND E2E TREES
for run in $(seq "$RUNS"); do
	[ "$run" = 1 ] && bench_quiet
	if [ $((run % 2)) = 1 ]; then arms="1 4"; else arms="4 1"; fi
	for b in $arms; do
		arm "b$b" "$b" "$CHUNKS"
		# shellcheck disable=SC2086	# the figures, a word each
		set -- $OUT
		record "b$b.e2e" "$run" "$1"
		record "b$b.land" "$run" "$2"
		record "b$b.rounds" "$run" "$3"
		LAND[$b]=$2 E2E[$b]=$1 TREES[$b]=$TREE
		say "  run $run batch $b: landed in $2 s ($1 s from submit), $3 gate runs on the target"
	done
	record speedup "$run" "$(calc "${LAND[1]} / ${LAND[4]}")"
	record speedup_e2e "$run" "$(calc "${E2E[1]} / ${E2E[4]}")"
	same=0
	[ "${TREES[1]}" = "${TREES[4]}" ] && same=1
	record same_tree "$run" "$same"
	arm lone 4 1
	# shellcheck disable=SC2086
	set -- $OUT
	record lone.total "$run" "$1"
	record lone.added "$run" "$2"
	say "  run $run lone: gates passed to landed $1 ms, $2 ms beyond the gate"
	LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
done

bench_report "swarmd merge queue benchmarks"
echo "git $(git --version | cut -d' ' -f3); $CHUNKS chunks, a test gate of $GATE s;" \
    "1-min load after each run:$LOADS"
py table "$RESULTS" "$RUNS"
