#!/bin/bash
# 1,000 clients connected at once are all served, and the daemon keeps
# serving afterwards.
. "$(dirname "$0")/lib.sh"
start_daemon
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" <<'PY' || fail "1000 clients"
import sys
from rawclient import Conn
path = sys.argv[1]
conns = [Conn(path, timeout=30) for _ in range(1000)]
for i, c in enumerate(conns):
    c.send({"id": i, "verb": "hello", "args": {"version": 1}})
for i, c in enumerate(conns):
    r = c.line()
    assert r["ok"] and r["id"] == i, r
for i, c in enumerate(conns):
    c.send({"id": i, "verb": "jobs"})
for i, c in enumerate(conns):
    r = c.line()
    assert r["ok"] and r["jobs"] == [], r
for c in conns:
    c.close()
print("served 1000 clients")
PY
swarmctl jobs >/dev/null || fail "daemon stopped serving"
ok
