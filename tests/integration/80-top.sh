#!/bin/bash
# swarmctl top: --once prints one 80x24 frame, no escapes, every line cut
# to 80 columns, with the quota windows, the job's progress, its agents
# (notes, tokens from the proxy's meter) and the last events.  Live,
# under a pty: the screen follows the event stream (an agent ends, the
# next one starts) well before the 10 s snapshot could, a key re-sorts
# the agents, q quits and the terminal is given back; SIGTERM too.
# TOP_FRAME_OUT=FILE keeps the frame (README's, docs/top-frame.txt).
. "$(dirname "$0")/lib.sh"
SIM=${SIM_AGENT:-$(dirname "$FAKE_UPSTREAM")/sim-agent}
[ -x "$SIM" ] || fail "no sim-agent at $SIM"
echo '{"cache": false}' >"$T/fake.json"
start_fake "$T/fake.json"
cat >>"$CONF" <<C
[quota]
tokens_per_minute = 100000
[proxy]
listen = 127.0.0.1:0
upstream = $UP
[prices]
claude-sonnet-4-5 = 3, 15, 3.75, 0.30
C
start_daemon

# Each agent makes two calls with a heartbeat after each, then works
# until its chunk's go file appears (or the test failed: lib.sh's mark).
cat >"$T/agent.sh" <<'A'
#!/bin/sh
"$SIM" -n 2 -i 400 -o 100 -H -w "$T/$SWARM_CHUNK.jsonl" || exit 3
while [ ! -e "$T/go.$SWARM_CHUNK" ] && [ ! -e "$T/failed" ]; do sleep 0.05; done
A
chmod +x "$T/agent.sh"
job=$(must swarmctl submit "$(job_file refactor '["'"$T"'/agent.sh"]' 4 \
	'{"concurrency": 2, "env": {"ANTHROPIC_API_KEY": "test", "SIM": "'"$SIM"'", "T": "'"$T"'"}}')")
beats() { [ "$(swarmctl events --job "$job" --type heartbeat --json | grep -c 'call 2/2')" -ge "$1" ]; }
wait_until 60 beats 2 || fail "the agents did not call and beat: $(swarmctl events --job "$job")"

# One frame, 80x24, for scripts.
COLUMNS=80 LINES=24 swarmctl top --once >"$T/frame" || fail "top --once"
[ -z "${TOP_FRAME_OUT:-}" ] || cp "$T/frame" "$TOP_FRAME_OUT"
assert_eq "$(wc -l <"$T/frame")" 24 "lines in the frame"
[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/frame")" -le 80 ] ||
	fail "a line over 80 columns: $(cat "$T/frame")"
grep -q "$(printf '\033')" "$T/frame" && fail "escapes in a frame that is no terminal's"
grep -q '^tokens_per_minute *\[#*\.*\] *[0-9.]*% *refill' "$T/frame" || fail "no quota bar: $(cat "$T/frame")"
grep -q "^$job *refactor *running *\[>*\.*\] *0/4 *2 *2 *0 *[1-9][0-9]* *\$0\.0[0-9]*$" "$T/frame" ||
	fail "no job line with its progress, tokens and cost: $(cat "$T/frame")"
assert_eq "$(grep -c "^agent-[0-9]* *$job/c[01] *1 running .* [1-9][0-9]* call 2/2: 200$" "$T/frame")" 2 \
	"the two agents, with tokens and notes: $(cat "$T/frame")"
grep -q '^EVENTS$' "$T/frame" && tail -n 1 "$T/frame" | grep -q ' heartbeat '"$job"'/c[01] agent-' ||
	fail "the last events at the bottom: $(cat "$T/frame")"
# Smaller than 80x24: cut, never wrapped.
COLUMNS=40 LINES=10 swarmctl top --once >"$T/small"
assert_eq "$(wc -l <"$T/small")" 10 "lines at 40x10"
[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/small")" -le 40 ] || fail "wrapped: $(cat "$T/small")"
# Without a terminal, the live view refuses and says why.
swarmctl top </dev/null >"$T/out" 2>"$T/err"; assert_eq $? 2 "top without a terminal"
assert_contains "$(cat "$T/err")" "top --once"
swarmctl top --once --sort size 2>"$T/err"; assert_eq $? 2 "a bad --sort"

# Live, under a pty: the go file ends c0, the stream tells the screen.
python3 - "$T" "$SWARMCTL" "$job" <<'PY' || fail "live top: $(cat "$T/live.log" 2>/dev/null)"
import fcntl, os, pty, re, select, signal, struct, sys, termios, time
T, swarmctl, job = sys.argv[1:4]
log = open(T + "/live.log", "w")

def start():
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
        os.execv(swarmctl, [swarmctl, "top"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    return pid, fd

out = b""
def screen():
    """The last whole frame drawn: from a cursor home to a clear below."""
    frames = [f for f in out.split(b"\x1b[H") if b"\x1b[J" in f]
    if not frames:
        return ""
    f = frames[-1].split(b"\x1b[J")[0].replace(b"\x1b[K", b"")
    return f.decode(errors="replace").replace("\r", "")

def wait_for(fd, what, limit):
    global out
    end = time.time() + limit
    while time.time() < end:
        if what(screen()):
            return True
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    log.write("timed out; screen:\n%s\n" % screen())
    return what(screen())

def exited(pid, fd, limit):
    global out
    end = time.time() + limit
    while time.time() < end:
        try:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                out += os.read(fd, 65536)
        except OSError:
            pass
        p, status = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            return status
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None

pid, fd = start()
ok = wait_for(fd, lambda s: re.search(r"(?m)^%s .* 0/4 .* 2 +2 +0 " % job, s), 10)
assert ok, "no first frame"
assert out.startswith(b"\x1b[?1049h"), "not on the alternate screen"
for line in screen().split("\n"):
    assert len(line) <= 80, "over 80 columns: %r" % line
# An event: c0's agent ends; the screen says so within 5 s (the timed
# snapshot comes every 10 s), and c2's agent starts in its place.
open(T + "/go.c0", "w").close()
t0 = time.time()
ok = wait_for(fd, lambda s: re.search(r"(?m)^\S+ subagent_completed %s/c0 agent-" % job, s)
              and re.search(r"(?m)^%s .* 1/4 " % job, s)
              and re.search(r"(?m)^agent-\d+ +%s/c2 " % job, s)
              and not re.search(r"(?m)^agent-\d+ +%s/c0 " % job, s), 5)
assert ok, "the event did not reach the screen"
log.write("event on screen after %.2f s\n" % (time.time() - t0))
# Keys: t sorts by tokens; q quits, the terminal given back.
os.write(fd, b"t")
assert wait_for(fd, lambda s: "sort tokens" in s.split("\n")[0], 5), "t did not sort"
os.write(fd, b"q")
status = exited(pid, fd, 10)
assert status == 0, "q: exit status %r" % status
assert out.endswith(b"\x1b[?25h\x1b[?1049l"), "the screen not given back: %r" % out[-40:]
# SIGTERM: the same clean exit.
out = b""
pid, fd = start()
assert wait_for(fd, lambda s: "swarmd top" in s, 10), "no frame"
os.kill(pid, signal.SIGTERM)
status = exited(pid, fd, 10)
assert status is not None and os.WIFEXITED(status), "SIGTERM: %r" % status
assert out.endswith(b"\x1b[?25h\x1b[?1049l"), "SIGTERM: the screen not given back"
PY
cat "$T/live.log"
for c in c1 c2 c3; do touch "$T/go.$c"; done
wait_until 60 job_is "$job" done || fail "$job: $(swarmctl show "$job")"
ok
