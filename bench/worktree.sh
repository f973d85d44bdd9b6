#!/usr/bin/env bash
# bench/worktree.sh: what a chunk's git worktree costs when swarmd makes
# it (a job with "worktree"), against `git worktree add` run by hand on
# the same repository, both in the same run, alternating which goes
# first (see BENCHMARKS.md, "Worktrees").
#
#   setup  per chunk: a bare `git worktree add -b BRANCH PATH main`
#          (timed, and kept, as swarmd's are) against swarmd's
#          preparation of a chunk whose agent is `true` (a one-chunk job,
#          waited for), each after a `sync` so that neither starts with
#          the other's writes pending: worktree_ready -
#          subagent_dispatched (branch, add,
#          isolation check, lock), and subagent_started -
#          subagent_dispatched; SETUP_N of each, alternating one by one
#          on the same repository and daemon
#   burst  BURST_N chunks starting together (concurrency BURST_N, no
#          stagger): submit to the last worktree_ready, failures
#          (worktree_failed, spawn_failed, chunks not done), and the
#          event loop's responsiveness meanwhile (a `hello` round trip
#          on the control socket every ~10 ms, beside the same probe on
#          the idle daemon); against BURST_N bare adds at once by hand
#          (xargs -P): wall time, and how many fail (git's own race:
#          "failed to read .git/worktrees/X/commondir")
#
# The repository (FILES small files, 100 a directory, one commit on main, made
# with git fast-import) is made once per run of the script; each arm
# works on a fresh copy of its .git.  Every daemon is private (own
# socket and state dir under one mktemp dir), and everything started
# here is stopped on exit.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/worktree.sh [-n RUNS] [-b BUILDDIR] [-t TESTS] [-f FILES] [-k] [-o FILE]
  -n RUNS      repetitions (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -t TESTS     comma-separated subset of setup,burst (default: both)
  -f FILES     files in the repository, a multiple of 100 (default 50000)
  -k           keep the scratch directory (logs, job files, raw results)
  -o FILE      also write the raw per-run results (metric, run, value) to FILE
EOF
}

RUNS=5
TESTS=setup,burst
NFILES=100	# the repository: FILES / NFILES directories of NFILES files
FILES=50000
while getopts n:b:t:f:ko:h opt; do
	case $opt in
	t) TESTS=$OPTARG ;;
	f) FILES=$OPTARG ;;
	*) bench_opt "$opt" ;;
	esac
done
bench_counts "$RUNS" "$FILES"
[ $((FILES % NFILES)) = 0 ] || { usage >&2; exit 2; }
NDIRS=$((FILES / NFILES))
want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

SETUP_N=10	# chunks (and bare adds) per run of the setup test
BURST_N=50	# chunks (and bare adds) starting together

say() { printf '%s\n' "$*" >&2; }
die() { say "worktree.sh: $*"; exit 1; }

command -v git >/dev/null || die "git not found"
bench_build
bench_release_warning
bench_rev src include meson.build
bench_scratch swarmd-worktree
bench_on_exit bench_cleanup
cat >"$T/wt.py" <<'PY'
"""The measuring half of bench/worktree.sh."""
import json, os, statistics, subprocess, sys, threading, time

import benchlib


def repo(path, ndirs, nfiles):
    """A repository of NDIRS x NFILES small files: one commit on main."""
    subprocess.run(["git", "init", "-q", "-b", "main", path], check=True)
    p = subprocess.Popen(["git", "-C", path, "fast-import", "--quiet"],
                         stdin=subprocess.PIPE)
    w = p.stdin.write
    w(b"commit refs/heads/main\n"
      b"committer bench <bench@bench.invalid> 1700000000 +0000\n"
      b"data 6\nfiles\n")
    for d in range(int(ndirs)):
        for f in range(int(nfiles)):
            body = b"dir %d file %d\n" % (d, f)
            w(b"M 100644 inline d%03d/f%03d.txt\ndata %d\n%s\n" %
              (d, f, len(body), body))
    w(b"\n")
    p.stdin.close()
    if p.wait() != 0:
        raise RuntimeError("git fast-import failed")


def job(out, name, conc, n, repo, root):
    json.dump({"name": name, "command": ["true"], "concurrency": int(conc),
               "worktree": {"repo": repo, "base": "main", "root": root},
               "chunks": [{"id": "c%d" % i, "task": "t"}
                          for i in range(int(n))]}, open(out, "w"))


def bare_add(repo, dest, i):
    """ms of one `git worktree add -b`; the worktree stays, as swarmd's
    do, so that both arms write the same to the disk."""
    path = "%s/b%d" % (dest, i)
    t0 = time.perf_counter()
    p = subprocess.run(["git", "-C", repo, "worktree", "add", "-b",
                        "bare/%d" % i, path, "main"],
                       capture_output=True, text=True)
    ms = (time.perf_counter() - t0) * 1000.0
    if p.returncode != 0:
        raise RuntimeError("git worktree add: %s" % p.stderr.strip())
    return ms


def submit(swarmctl, jobfile):
    p = subprocess.run([swarmctl, "submit", jobfile], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError("submit failed: %s" % p.stderr.strip())
    return p.stdout.split()[0]


def events(c, job):
    ev = c.call("events", {"job": job, "limit": 10000})["events"]
    return sorted(ev, key=lambda e: e["seq"])


def settled(c, job):
    """JOB's events once its worktree is settled (the snapshot's `git
    status` runs after the job is done): nothing of it overlaps the next
    measurement."""
    end = time.monotonic() + 600
    while True:
        ev = events(c, job)
        if any(e["event"] == "worktree_settled" for e in ev):
            return ev
        if time.monotonic() > end:
            raise RuntimeError("%s: worktree not settled" % job)
        time.sleep(0.05)


def per_agent(ev, name):
    return {e["agent"]: benchlib.ts_ms(e["ts"]) for e in ev
            if e["event"] == name}


def setup(sock, swarmctl, repo, dest, n, first):
    """N chunks, each a job of its own at concurrency 1, and N bare adds,
    alternating (FIRST goes first): medians (ms) of the bare adds, of
    worktree_ready - subagent_dispatched, subagent_started -
    subagent_dispatched."""
    c = benchlib.Conn(sock)
    v = {"bare": [], "ready": [], "started": []}
    for i in range(int(n)):
        arms = ["bare", "swarmd"]
        if (first == "swarmd") != (i % 2 == 1):
            arms.reverse()
        for arm in arms:
            # Each add starts with nothing left to write back.
            subprocess.run(["sync"], check=True)
            if arm == "bare":
                v["bare"].append(bare_add(repo, dest, i))
                continue
            jobfile = "%s/setup%d.json" % (dest, i)
            job(jobfile, "setup%d" % i, 1, 1, repo, dest + "/wt")
            j = benchlib.wait_job(c, submit(swarmctl, jobfile), 600, 0.05)
            if j["counts"]["done"] != 1:
                raise RuntimeError("chunk not done: %s" %
                                   json.dumps(j["counts"]))
            ev = settled(c, j["job"])
            d = per_agent(ev, "subagent_dispatched")
            r = per_agent(ev, "worktree_ready")
            st = per_agent(ev, "subagent_started")
            a = next(iter(d))
            v["ready"].append(r[a] - d[a])
            v["started"].append(st[a] - d[a])
    print(" ".join("%.3f" % statistics.median(v[k])
                   for k in ("bare", "ready", "started")))


class Probe(threading.Thread):
    """A `hello` round trip every ~10 ms: (wall ms at its start, rtt ms)."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.c = benchlib.Conn(sock)
        self.stop = threading.Event()
        self.v = []

    def run(self):
        while not self.stop.is_set():
            w, t0 = time.time() * 1000.0, time.perf_counter()
            self.c.call("hello")
            self.v.append((w, (time.perf_counter() - t0) * 1000.0))
            time.sleep(max(0.0, 0.01 - (time.perf_counter() - t0)))

    def halt(self):
        self.stop.set()
        self.join()


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def spread(v):
    return "%.3f %.3f %.3f" % (statistics.median(v), pct(v, 0.99), max(v))


def burst(sock, swarmctl, jobfile, n, idle_s):
    """Idle probe p50 p99 max; seconds from submit to the last
    worktree_ready; failures; probe p50 p99 max meanwhile; its count."""
    c = benchlib.Conn(sock)
    p = Probe(sock)
    p.start()
    time.sleep(float(idle_s))
    p.halt()
    idle = [r for _, r in p.v]
    p = Probe(sock)
    t0 = time.time() * 1000.0
    p.start()
    j = benchlib.wait_job(c, submit(swarmctl, jobfile), 900, 0.2)
    p.halt()
    ev = events(c, j["job"])
    ready = per_agent(ev, "worktree_ready")
    fails = sum(e["event"] in ("worktree_failed", "spawn_failed")
                for e in ev) + int(n) - j["counts"]["done"]
    last = max(ready.values()) if ready else time.time() * 1000.0
    busy = [r for w, r in p.v if w <= last]
    print("%s %.3f %d %s %d" % (spread(idle), (last - t0) / 1000.0, fails,
                                spread(busy), len(busy)))


def table(path, runs):
    import report
    vals = report.read(path)
    rows = [("metric", "unit", "median", "min", "max", "n", "target")]
    for key, label, unit, target in METRICS:
        if key in vals:
            v = vals[key]
            rows.append((label, unit, "%.1f" % statistics.median(v),
                         "%.1f" % min(v), "%.1f" % max(v), str(len(v)),
                         target))
    report.table(rows, (0, 1, 6))
    print("\nmedian, min and max over %s runs; setup: each run's figure is "
          "the median over its chunks." % runs)


METRICS = [
    ("setup.bare", "bare `git worktree add -b`, per chunk", "ms", ""),
    ("setup.ready", "swarmd: dispatched to worktree_ready", "ms", ""),
    ("setup.ready_pct", "  swarmd's added cost over the bare add", "%",
     "<= 10"),
    ("setup.started", "swarmd: dispatched to subagent_started", "ms", ""),
    ("setup.started_pct", "  added cost over the bare add", "%", ""),
    ("burst.swarmd", "50 chunks at once: submit to last ready", "s", ""),
    ("burst.fail", "  failures (worktree/spawn failed, not done)", "",
     "0"),
    ("burst.idle_p50", "  probe (hello), idle daemon: p50", "ms", ""),
    ("burst.idle_p99", "  probe, idle daemon: p99", "ms", ""),
    ("burst.idle_max", "  probe, idle daemon: max", "ms", ""),
    ("burst.busy_p50", "  probe while the worktrees are made: p50",
     "ms", ""),
    ("burst.busy_p99", "  probe meanwhile: p99", "ms", ""),
    ("burst.busy_max", "  probe meanwhile: max", "ms", ""),
    ("burst.busy_n", "  probes meanwhile", "", ""),
    ("burst.bare", "cmp: 50 bare adds at once (xargs -P 50)", "s", ""),
    ("burst.bare_fail", "  bare adds that failed", "", ""),
    ("burst.bare_race", "  of which git's commondir race", "", ""),
]

if __name__ == "__main__":
    cmds = {"repo": repo, "job": job, "setup": setup,
            "burst": burst, "table": table}
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, ValueError, IndexError, EOFError,
            subprocess.CalledProcessError) as e:
        sys.exit("wt.py: %s: %s" % (sys.argv[1], e))
PY
py() { PYTHONPATH="$ROOT/bench" python3 "$T/wt.py" "$@"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
calc() { python3 -c "print('%.3f' % ($1))"; }

# fresh NAME: a copy of the repository (its .git: main is not checked
# out) in $T/NAME.$run, in $R; the previous arm's is gone.
fresh() {
	rm -rf "$T"/arm.*
	R="$T/arm.$1.$run/repo"
	mkdir -p "$R" || die "cannot make $R"
	cp -a "$T/repo/.git" "$R/" || die "cannot copy the repository"
}

# daemon: a fresh swarmd in $T/arm.ARM.RUN (after fresh ARM).
daemon() {
	local d="${R%/repo}/d"
	mkdir -p "$d"
	printf '[spawn]\nmax_agents = 100\nstagger_batch = 1000\nstagger_interval = 0\n' \
	    >"$d/swarmd.conf"
	bench_start_daemon "$d"
}

say "making the repository: $NDIRS x $NFILES files"
py repo "$T/repo" "$NDIRS" "$NFILES" || die "cannot make the repository"

# setup FIRST: one daemon; SETUP_N bare adds and SETUP_N one-chunk
# jobs on the same repository, alternating chunk by chunk.
setup() {
	local out
	fresh setup
	daemon
	out=$(py setup "$SWARM_SOCKET" "$SWARMCTL" "$R" "${R%/repo}" \
	    "$SETUP_N" "$1") || die "setup failed"
	# shellcheck disable=SC2086	# the figures, a word each
	set -- $out
	record setup.bare "$run" "$1"
	record setup.ready "$run" "$2"
	record setup.started "$run" "$3"
	record setup.ready_pct "$run" "$(calc "($2 - $1) * 100 / $1")"
	record setup.started_pct "$run" "$(calc "($3 - $1) * 100 / $1")"
	say "  run $run setup: bare add $1 ms; swarmd ready $2 ms, started $3 ms"
	bench_stop_daemon
}

arm_burst_bare() {
	local t0 t1 d out
	fresh bare
	d=${R%/repo}
	mkdir -p "$d/err"
	t0=$(date +%s%N)
	# shellcheck disable=SC2016	# expanded by sh -c
	seq "$BURST_N" | xargs -P "$BURST_N" -I{} sh -c \
	    'git -C "$1" worktree add -q -b "p/$2" "$3/p$2" main 2>"$3/err/$2" ||
	     echo "$2" >>"$3/failed"' sh "$R" {} "$d"
	t1=$(date +%s%N)
	record burst.bare "$run" "$(calc "($t1 - $t0) / 1e9")"
	set -- "$(wc -l 2>/dev/null <"$d/failed" || echo 0)" \
	    "$(grep -l commondir "$d"/err/* 2>/dev/null | wc -l)"
	record burst.bare_fail "$run" "$1"
	record burst.bare_race "$run" "$2"
	say "  run $run burst: bare $(calc "($t1 - $t0) / 1e9") s, $1 failed ($2 commondir)"
}

arm_burst_swarmd() {
	fresh swarmd
	daemon
	py job "$T/burst.json" burst "$BURST_N" "$BURST_N" "$R" "${R%/repo}/wt"
	out=$(py burst "$SWARM_SOCKET" "$SWARMCTL" "$T/burst.json" \
	    "$BURST_N" 2) || die "burst (swarmd) failed"
	# shellcheck disable=SC2086	# the figures, a word each
	set -- $out
	record burst.idle_p50 "$run" "$1"
	record burst.idle_p99 "$run" "$2"
	record burst.idle_max "$run" "$3"
	record burst.swarmd "$run" "$4"
	record burst.fail "$run" "$5"
	record burst.busy_p50 "$run" "$6"
	record burst.busy_p99 "$run" "$7"
	record burst.busy_max "$run" "$8"
	record burst.busy_n "$run" "$9"
	say "  run $run burst: swarmd $4 s, $5 failures; probe p50/p99/max" \
	    "idle $1/$2/$3 ms, busy $6/$7/$8 ms ($9 probes)"
	bench_stop_daemon
}

LOADS=""
for run in $(seq "$RUNS"); do
	# Once: the arms alternate, so load from others falls on both.
	[ "$run" = 1 ] && bench_quiet
	# Alternate which arm goes first, so that neither always starts warm.
	if [ $((run % 2)) = 1 ]; then arms="bare swarmd"; else arms="swarmd bare"; fi
	want setup && setup "${arms%% *}"
	if want burst; then
		for arm in $arms; do
			"arm_burst_$arm"
		done
	fi
	LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
done
rm -rf "$T"/arm.*

bench_report "swarmd worktree benchmarks" disk
echo "git $(git --version | cut -d' ' -f3); repository: $NDIRS x $NFILES files;" \
    "setup: $SETUP_N chunks a run; burst: $BURST_N chunks; 1-min load after each run:$LOADS"
py table "$RESULTS" "$RUNS"
