#!/bin/bash
# What people read: submit --dry-run shows the plan in text; JSON numbers
# as people write them (0.8); a socket nobody listens on comes with where
# else to look; swarmd's lines on a terminal carry no <N> prefixes (they
# keep them on a pipe, for journald); swarmd takes --help and --version.
. "$(dirname "$0")/lib.sh"
printf '[quota]\nwindow = 1h\nwindow_tokens = 100000\n' >>"$CONF"
start_daemon
f=$(job_file planned '["true"]' 10 '{"per_agent_tokens": 20000, "concurrency": 8}')
out=$(swarmctl submit --dry-run "$f") || fail "dry run"
assert_eq "$out" "valid: 10 chunks; nothing was stored (dry run)
plan: 3 agents at once (the quota left, 100000 tokens, carries 3 at 20000 each)
      1 batches over 0 s; the job needs 200000 tokens, 3600 s of refill past what is left" "the plan in text"
assert_contains "$(swarmctl quota --json)" '"pause_at":0.8,' "a real as people write it"

swarmctl -s "$T/nobody.sock" jobs 2>"$T/err"
assert_eq "$?" 69 "unreachable"
assert_contains "$(cat "$T/err")" "swarmctl -s PATH, or SWARM_SOCKET=PATH" "where else to look"

# A second swarmd of its own, its stderr a terminal.
python3 - "$SWARMD" "$CONF" "$T" >"$T/tty.out" <<'PY' || fail "swarmd on a terminal: $(cat "$T/tty.out")"
import os, pty, select, signal, sys, time
swarmd, conf, t = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(swarmd, [swarmd, "-f", "-c", conf, "-s", t + "/tty.sock", "-d", t + "/tty-state"])
out, end = b"", time.monotonic() + 20
while b"ready" not in out and time.monotonic() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(0 if b"ready" in out else 1)
PY
grep -q "swarmd 0.1.0 ready" "$T/tty.out" || fail "no ready line on the terminal"
grep -q '^<[0-9]>' "$T/tty.out" && fail "a prefix on the terminal: $(head -n3 "$T/tty.out")"
grep -q '^<5>swarmd 0.1.0 ready' "$T/swarmd.log" || fail "the pipe lost its prefixes"

# swarmd's long options (getopt_long; --help was "invalid option -- '-'").
"$SWARMD" --help >"$T/help" || fail "swarmd --help"
assert_contains "$(cat "$T/help")" "--foreground" "--help lists the long options"
assert_contains "$("$SWARMD" --version)" "swarmd " "--version"
"$SWARMD" --bogus 2>/dev/null
assert_eq "$?" 2 "an unknown option"
ok
