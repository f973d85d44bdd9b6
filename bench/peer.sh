#!/usr/bin/env bash
# bench/peer.sh: what telling agents from operators costs at accept (see
# BENCHMARKS.md, "Who is at the other end").
#
# With K live agents (sleepers), a client connects, says hello and
# closes, CONNS times in a row: once from outside every agent's tree (an
# operator: the whole chain of parents, every agent's group and session,
# the environment are read), once as an agent (found by its pid at
# once).  Reported: swarmd's CPU time per connection (from its
# schedstat, so the client's own cost is not in it) and the wall time
# per connection as the client sees it; the median of RUNS.
#
# Every daemon is private (own socket and state dir under one mktemp dir),
# and everything started here is stopped on exit.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: bench/peer.sh [-n RUNS] [-b BUILDDIR] [-c CONNS] [-a AGENTS] [-Q] [-k] [-o FILE]
  -n RUNS      repetitions (default 5); the median is reported
  -b BUILDDIR  meson build directory (default: \$BUILD, else /tmp/bench-build);
               set up with --buildtype=release when it does not exist yet
  -c CONNS     connections a run (default 2000)
  -a AGENTS    live agents, comma-separated counts (default 1,64)
  -Q           do not wait for a quiet machine (compare builds in one go)
  -k           keep the scratch directory
  -o FILE      copy the raw results (metric, run, value) to FILE
EOF
}
say() { echo "$*" >&2; }
die() { say "peer.sh: $*"; exit 1; }

RUNS=5 CONNS=2000 COUNTS=1,64 QUIET=1
while getopts n:b:c:a:Qko:h o; do
	case $o in
	Q) QUIET=0 ;;
	c) CONNS=$OPTARG ;;
	a) COUNTS=$OPTARG ;;
	*) bench_opt "$o" ;;
	esac
done
bench_counts "$RUNS" "$CONNS"
bench_build
bench_release_warning
bench_rev src/swarmd
bench_scratch peer-bench
bench_on_exit bench_cleanup

# The client: CONNS connections, each hello and close; prints the
# swarmd CPU ns and the wall ns a connection.
cat >"$T/loop.py" <<'P'
import os, socket, sys, time
n, daemon, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
path = os.environ["SWARM_SOCKET"]
def cpu():
    return int(open("/proc/%s/schedstat" % daemon).read().split()[0])
c0, w0 = cpu(), time.monotonic_ns()
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'{"id":1,"verb":"hello"}\n')
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            sys.exit("closed")
        buf += d
    s.close()
c1, w1 = cpu(), time.monotonic_ns()
with open(out + ".tmp", "w") as f:
    f.write("%d %d\n" % ((c1 - c0) // n, (w1 - w0) // n))
os.rename(out + ".tmp", out)
P

for k in ${COUNTS//,/ }; do
	d="$T/k$k"
	mkdir -p "$d"
	printf '[spawn]\nmax_agents = %d\nstagger_batch = 1000\nstagger_interval = 0\n' $((k + 1)) >"$d/swarmd.conf"
	bench_start_daemon "$d"
	python3 - "$k" >"$d/sleepers.json" <<'P'
import json, sys
k = int(sys.argv[1])
print(json.dumps({"name": "sleepers", "command": ["sleep", "600"],
    "concurrency": k, "chunks": [{"id": "s%d" % i, "task": "t"} for i in range(k)]}))
P
	"$SWARMCTL" submit "$d/sleepers.json" >/dev/null || die "submit"
	for _ in $(seq 200); do
		[ "$("$SWARMCTL" ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$k" ] && break
		sleep 0.05
	done
	[ "$QUIET" = 0 ] || bench_quiet
	for r in $(seq "$RUNS"); do
		python3 "$T/loop.py" "$CONNS" "$DAEMON_PID" "$d/op.$r" || die "operator loop"
		read -r cpu wall <"$d/op.$r"
		printf 'operator_cpu_ns_k%d\t%d\t%d\noperator_wall_ns_k%d\t%d\t%d\n' \
		    "$k" "$r" "$cpu" "$k" "$r" "$wall" >>"$RESULTS"
		python3 - "$T" "$CONNS" "$DAEMON_PID" "$d/ag.$r" >"$d/agent.json" <<'P'
import json, sys
t, n, pid, out = sys.argv[1:5]
print(json.dumps({"name": "client", "command": ["python3", t + "/loop.py", n, pid, out],
    "chunks": [{"id": "c", "task": "t"}]}))
P
		"$SWARMCTL" submit "$d/agent.json" >/dev/null || die "submit client"
		for _ in $(seq 1200); do
			[ -s "$d/ag.$r" ] && break
			sleep 0.05
		done
		read -r cpu wall <"$d/ag.$r" || die "agent loop gave nothing"
		printf 'agent_cpu_ns_k%d\t%d\t%d\nagent_wall_ns_k%d\t%d\t%d\n' \
		    "$k" "$r" "$cpu" "$k" "$r" "$wall" >>"$RESULTS"
	done
	bench_stop_daemon
	bench_kill_strays
done

bench_report "bench/peer.sh: classifying a peer at accept"
python3 - "$RESULTS" <<'P'
import collections, statistics, sys
v = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, _, x = line.split("\t")
    v[m].append(int(x))
for m in sorted(v):
    xs = sorted(v[m])
    print("%-24s median %8.1f us  (%.1f-%.1f, %d runs)" % (m, statistics.median(xs) / 1000,
        xs[0] / 1000, xs[-1] / 1000, len(xs)))
P
[ -z "$RAWOUT" ] || cp "$RESULTS" "$RAWOUT"
