#!/bin/bash
# Out of descriptors: clients fill swarmd's RLIMIT_NOFILE and more wait
# in the backlogs of the control socket and the proxy.  swarmd pauses
# accepting instead of retrying on every turn of its loop: its CPU stays
# low and the log has a line or two per socket, not one per retry.  Once
# the clients go, the waiting ones and new ones are served, and the log
# says how many errors the run had.
. "$(dirname "$0")/lib.sh"
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
C
start_daemon
PROXY=$(swarmctl quota --json | json 'j["proxy"]')
case $PROXY in 127.0.0.1:[1-9]*) ;; *) fail "no proxy address: $PROXY" ;; esac
nfd=$(ls /proc/"$DAEMON_PID"/fd | wc -l)
prlimit --pid "$DAEMON_PID" --nofile=$((nfd + 16)): || fail "prlimit"
# Settle what start-up logged before counting.
swarmctl jobs >/dev/null
lines_before=$(grep -ci accept "$T/swarmd.log")

PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" "$PROXY" "$DAEMON_PID" "$T/swarmd.log" "$lines_before" <<'PY' || fail "descriptors exhausted"
import os, socket, sys, time
from rawclient import Conn
path, proxy, pid, log, before = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = proxy.split(":")
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def accept_lines():
    return sum(1 for l in open(log, errors="replace") if "accept" in l.lower()) - before

# Fill the table: each client the daemon accepts holds a descriptor;
# past the limit the rest wait in the backlog.
clients = [Conn(path, timeout=10) for _ in range(40)]
waiting = [socket.create_connection((host, int(port)), timeout=10) for _ in range(5)]
deadline = time.monotonic() + 10
while accept_lines() < 2 and time.monotonic() < deadline:
    time.sleep(0.02)  # poll, bounded by the deadline
assert accept_lines() >= 2, "no accept error logged for both sockets"
# Measured over a fixed window: what a busy loop would burn in it.
c0, t0 = cpu(), time.monotonic()
time.sleep(3)
used, took = cpu() - c0, time.monotonic() - t0
n = accept_lines()
print("%.2f s of CPU in %.1f s, %d accept lines" % (used, took, n))
assert used < 0.5, "swarmd spent %.2f s of CPU in %.1f s" % (used, took)
assert n <= 4, "%d accept lines in the log" % n

# The clients go: the waiting ones are accepted and answered.
for c in clients:
    c.close()
c = Conn(path, timeout=10)
r = c.call("hello", {"version": 1})
assert r["ok"], r
for s in waiting:
    s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 404"), "a waiting proxy client not served"
    s.close()
print("served again")
PY
wait_until 10 grep -q "control socket: accepting again; [0-9]* more accept errors" "$T/swarmd.log" ||
	fail "no summary of the run of errors"
grep -q "control socket: accept: Too many open files; pausing new connections" "$T/swarmd.log" ||
	fail "the first error was not named"
grep -q "proxy: accept: Too many open files" "$T/swarmd.log" || fail "the proxy's errors were not named"
swarmctl jobs >/dev/null || fail "daemon stopped serving"
ok
