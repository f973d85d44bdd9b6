#!/bin/bash
# An agent's log rotates at [spawn] log_max, keeping its tail: the file
# stays near the limit however much the agent writes, its last lines are
# whole and in order, and `logs` (whole, -n, -f across the rotation)
# reads them.  Needs a filesystem that can collapse a file's head (ext4,
# XFS); on another the test is skipped, as swarmd then keeps whole logs.
. "$(dirname "$0")/lib.sh"
python3 - "$T/probe" <<'P' || { echo "SKIP: no FALLOC_FL_COLLAPSE_RANGE in $T"; exit 77; }
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"x" * 2 * os.fstat(fd).st_blksize)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
sys.exit(0 if libc.fallocate(fd, 8, 0, os.fstat(fd).st_blksize) == 0 else 1)
P
printf '[spawn]\nlog_max = 16K\n' >>"$CONF"
start_daemon

# Lines of 100 bytes in bursts, each burst acknowledged by the test, so
# a follower started at once keeps up; then the last line, then it
# waits for the word to end.
cat >"$T/talk.sh" <<'A'
#!/bin/sh
b=0
while [ $b -lt 20 ]; do
	i=0
	while [ $i -lt 40 ]; do
		printf 'line %03d-%02d %086d\n' $b $i 0
		i=$((i + 1))
	done
	echo $b >"$T/burst"
	while [ "$(cat "$T/ack" 2>/dev/null)" != $b ]; do sleep 0.02; done # bounded by the test
	b=$((b + 1))
done
echo "the last line"
while [ ! -e "$T/go" ]; do sleep 0.02; done # bounded by the test
A
chmod +x "$T/talk.sh"
job=$(swarmctl submit "$(job_file talk '["'"$T"'/talk.sh"]' 1 '{"env": {"T": "'"$T"'"}}')") || fail "submit"
wait_until 20 test -e "$T/burst" || fail "the agent did not start"
agent=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
log="$STATE/logs/$agent.log"
swarmctl logs -f "$agent" >"$T/follow.out" 2>"$T/follow.err" &
follower=$!
KILL_AT_EXIT="$follower"
# 80 KiB in all, the follower keeping up burst by burst.
followed() { grep -q "^line $(printf '%03d-39' "$1") " "$T/follow.out"; }
for b in $(seq 0 19); do
	wait_until 20 grep -qx "$b" "$T/burst" || fail "burst $b not written"
	wait_until 20 followed "$b" || fail "the follower did not get burst $b: $(tail -n 2 "$T/follow.out")"
	echo "$b" >"$T/ack"
done
wait_until 20 grep -q "the last line" "$log" || fail "no last line"
# Bounded: near log_max, never all of it.
size=$(stat -c %s "$log")
[ "$size" -le $((16 * 1024 + 8192)) ] || fail "log is $size bytes, past log_max 16K"
[ "$(swarmctl show "$job/c0" --json | json 'j["state"]')" = running ] || fail "the agent ended"
# The tail is whole: logs reads from the first whole line kept to the last.
swarmctl logs "$agent" >"$T/logs.out" || fail "logs"
head -n 1 "$T/logs.out" | grep -q "^line [0-9]\{3\}-[0-9]\{2\} 0\{86\}$" || fail "first line kept is cut: $(head -c 120 "$T/logs.out")"
assert_eq "$(tail -n 1 "$T/logs.out")" "the last line" "logs' last line"
grep -q "^line 000-00 " "$T/logs.out" && fail "the head was not rotated away"
assert_eq "$(swarmctl logs -n 2 "$agent" | head -n 1)" "line 019-39 $(printf '%086d' 0)" "logs -n 2"
# Ordered and whole, no line twice.
grep -v "the last line" "$T/logs.out" | sort -c || fail "logs out of order"
# The follower read every line, in order, none twice, across rotations.
: >"$T/go"
wait_until 20 sh -c "! kill -0 $follower" || fail "logs -f did not end with the agent"
wait "$follower" || fail "logs -f failed: $(cat "$T/follow.err")"
assert_eq "$(grep -c "^line " "$T/follow.out")" 800 "lines followed"
assert_eq "$(grep "^line " "$T/follow.out" | sort -u | wc -l)" 800 "distinct lines followed"
grep "^line " "$T/follow.out" | sort -c || fail "the follower's lines out of order"
assert_eq "$(tail -n 1 "$T/follow.out")" "the last line" "the follower's last line"
wait_until 20 job_is "$job" done || fail "job did not end"
