#!/bin/bash
# A client that sends many requests and never reads is dropped at the
# 16 MiB output cap even while a group commit holds its replies: each
# heartbeat note opens a group, and the big replies after it in the same
# turn wait for the commit, counted against the cap.  The client gets no
# more than the cap and the reply that crossed it before the close, the
# daemon's memory stays near the cap, the notes are in the event log, and
# others are served.
. "$(dirname "$0")/lib.sh"
start_daemon
f=$(job_file keep '["sh", "-c", "echo \"$SWARM_AGENT $SWARM_TOKEN\" >'"$T"'/auth; exec sleep 600"]' 1)
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/auth" || fail "the agent did not start"
read -r AGENT TOKEN <"$T/auth"

sanitized=0
ldd "$SWARMD" 2>/dev/null | grep -q libasan && sanitized=1
PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" "$DAEMON_PID" "$AGENT" "$TOKEN" "$T/swarmd.log" "$sanitized" <<'PY' || fail "held replies"
import json, sys, time
from rawclient import Conn
path, pid, agent, token, log = sys.argv[1:6]
sanitized = sys.argv[6] == "1"
auth = {"agent": agent, "token": token}

def hwm_kb():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

# About 4 MB of heartbeat notes (each at the 4096-byte limit) in the
# event log: each "events" reply is a page of them, over 3 MB.
c = Conn(path, timeout=30)
note = "n" * 4000
for i in range(1000):
    r = c.call("heartbeat", {"note": note}, auth=auth, rid=i)
    assert r["ok"], r
r = c.call("events", {}, rid=1)
size = len(json.dumps(r))
assert size > 3000000, size
base = hwm_kb()

# One write of 40 pairs: a note (a group opens) and an "events" (held).
greedy = Conn(path, timeout=30)
lines = []
for i in range(40):
    lines.append(json.dumps({"id": 2 * i, "verb": "heartbeat", "auth": auth, "args": {"note": "x"}}))
    lines.append(json.dumps({"id": 2 * i + 1, "verb": "events"}))
greedy.send_raw(("\n".join(lines) + "\n").encode())
deadline = time.monotonic() + 30
while "is not reading its output; dropped" not in open(log, errors="replace").read():
    assert time.monotonic() < deadline, "the greedy client was never dropped"
    time.sleep(0.05)  # poll, bounded by the deadline
grown = hwm_kb() - base
# What it was sent before the close (a reset, as its requests went
# unread): at most the cap and the reply that crossed it.
got = len(greedy.buf)
try:
    while True:
        d = greedy.s.recv(1 << 20)
        if not d:
            break
        got += len(d)
except ConnectionResetError:
    pass
except OSError as e:
    raise AssertionError("no close after the cap: %s" % e)
print("sent %d bytes of %d-byte replies; peak RSS grew by %d kB" % (got, size, grown))
assert got <= (16 << 20) + 2 * size, "%d bytes sent past the cap" % got
# AddressSanitizer keeps freed memory aside: no measure there.
assert sanitized or grown < 64 * 1024, "peak RSS grew by %d kB" % grown
r = c.call("hello", {"version": 1})
assert r["ok"], r
greedy.close()
PY
swarmctl jobs >/dev/null || fail "daemon stopped serving"
n=$(swarmctl events --job "$job" --json | grep -c '"heartbeat"')
[ "$n" -ge 200 ] || fail "only $n heartbeat events"
swarmctl abort "$job" --grace 1 >/dev/null || fail "abort the idle agents"
wait_until 20 job_is "$job" aborted || fail "the idle agents did not end"
ok
