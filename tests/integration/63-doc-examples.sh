#!/bin/bash
# Every command line the README's sh blocks and the man pages' EXAMPLES
# show runs, in order, against a private swarmd started by the README's
# own line (doc-examples.py says how ids and files are stood in for): an
# example that no longer works fails here.
. "$(dirname "$0")/lib.sh"
src="$(dirname "$0")/../.."
# A quick watchdog, for the escalations the README resolves.
printf '[watchdog]\nheartbeat_timeout = 1\n' >>"$CONF"
# swarmd-protocol(7) talks to the socket with socat; without one here,
# the same in a few lines of Python.
if ! command -v socat >/dev/null; then
	mkdir -p "$T/bin"
	cat >"$T/bin/socat" <<'S'
#!/usr/bin/env python3
# socat - UNIX-CONNECT:PATH, as the protocol page's example runs it.
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[2].split(":", 1)[1])
s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
while True:
    d = s.recv(65536)
    if not d:
        break
    sys.stdout.buffer.write(d)
S
	chmod +x "$T/bin/socat"
	export PATH="$T/bin:$PATH"
fi
python3 "$(dirname "$0")/doc-examples.py" "$T" "$SOCK" "$STATE" "$CONF" \
	"$src/README.md" "$src/man/swarmctl.1" "$src/man/swarmd.8" \
	"$src/man/swarmd.conf.5" "$src/man/swarmd-protocol.7"
rc=$?
# The README's swarmd is no child of this shell: ended first at exit.
doc_pid=$(cat "$T/daemon.pid" 2>/dev/null)
KILL_AT_EXIT="$doc_pid"
[ $rc = 0 ] || fail "a documented example failed"
# Agents of the examples' jobs that are still running end with the test.
for j in $(swarmctl jobs --state running --json | json '" ".join(x["job"] for x in j)'); do
	swarmctl abort "$j" >/dev/null
done
wait_until 30 sh -c "[ \"\$(swarmctl ps --json)\" = '[]' ]" || fail "agents left: $(swarmctl ps)"
kill -TERM "$doc_pid"
wait_until 30 sh -c "! kill -0 $doc_pid" || fail "swarmd did not stop"
grep -q -e "runtime error:" -e "AddressSanitizer" "$T/swarmd.log" && fail "swarmd: $(tail "$T/swarmd.log")"
ok
