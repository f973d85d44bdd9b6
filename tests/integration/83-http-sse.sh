#!/bin/bash
# The dashboard's feed, GET /events (Server-Sent Events), on loopback
# without a token.  Each event comes as "id: SEQ" and its JSON; a client
# is sent what follows Last-Event-ID (which wins over ?after=), or only
# what is new.  A subscriber that stops reading is dropped once its
# buffer is full, with a line in the journal; the others go on and the
# daemon keeps serving.  A page of another site (Host not loopback) gets
# nothing.
. "$(dirname "$0")/lib.sh"

cat >>"$CONF" <<CONF
[http]
listen = 127.0.0.1:0
root = $TOOLS/../web
CONF
start_daemon
port=$(sed -n 's|.*dashboard on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/swarmd.log")
[ -n "$port" ] || fail "no dashboard address in the log"
U="http://127.0.0.1:$port"
serving() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$U/api/snapshot")" = 200 ]; }

c=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Host: swarm.example.com' "$U/api/snapshot")
assert_eq "$c" 403 "a Host not loopback"
assert_contains "$(cat "$T/body")" "Host is not a loopback name"
c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: 127.0.0.1.swarm.example.com' "$U/api/snapshot")
assert_eq "$c" 403 "a name that begins like a loopback address"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$port" "$U/api/snapshot")
assert_eq "$c" 200 "localhost"

# ids SSE_FILE: the ids of the events in a stream, one a line.
ids() { sed -n 's/^id: //p' "$1"; }
# A live follower from now on, and some events.
curl -sN "$U/events" >"$T/live.sse" &
KILL_AT_EXIT="$KILL_AT_EXIT $!"
wait_until 10 grep -q '^retry:' "$T/live.sse" || fail "no stream"
job=$(swarmctl submit "$(job_file quick '["true"]' 3)") || fail "submit"
wait_until 20 job_is "$job" done || fail "not done"
last=$(swarmctl events --json | jsonl 'j["seq"]' | tail -1)
wait_until 10 sh -c "grep -q '^id: $last\$' '$T/live.sse'" || fail "the live follower missed $last"
assert_eq "$(ids "$T/live.sse" | tr '\n' ' ')" "$(seq -s ' ' 1 "$last") " "live ids"
grep -q '^data: {"seq":1,.*"event":"job_submitted"' "$T/live.sse" || fail "no job_submitted data"

# Resuming: what follows Last-Event-ID, in order, over ?after=.
curl -sN --max-time 2 -H 'Last-Event-ID: 3' "$U/events?after=1" >"$T/resume.sse"
assert_eq "$(ids "$T/resume.sse" | tr '\n' ' ')" "$(seq -s ' ' 4 "$last") " "after Last-Event-ID 3"
curl -sN --max-time 2 "$U/events?after=5" >"$T/after.sse"
assert_eq "$(ids "$T/after.sse" | tr '\n' ' ')" "$(seq -s ' ' 6 "$last") " "after=5"
curl -sN --max-time 2 "$U/events" >"$T/new.sse"
assert_eq "$(ids "$T/new.sse")" "" "a new follower gets no backlog"
c=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Last-Event-ID: x1' "$U/events")
assert_eq "$c" 400 "a bad Last-Event-ID"

# A subscriber that stops reading: a small receive window, never read.
python3 - "$port" >"$T/stall.out" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
print("connected", flush=True)
time.sleep(3600)
PY
stall=$!
KILL_AT_EXIT="$KILL_AT_EXIT $stall"
wait_until 10 grep -q connected "$T/stall.out" || fail "the stalled client did not connect"
job=$(swarmctl submit "$(job_file hang '["'"$AGENTS"'/hang-agent"]' 1)") || fail "submit"
wait_until 20 chunk_is "$job/c0" running || fail "not running"
agent=$(swarmctl ps --json | json 'j[0]["agent"]')
# Mail of 60 KiB each: one event of the same size each.
text=$(head -c 61440 /dev/zero | tr '\0' m)
dropped() { grep -q "event stream of 127.0.0.1:[0-9]* is not reading; dropped" "$T/swarmd.log"; }
for i in $(seq 1 400); do
	swarmctl send "$agent" "$text" >/dev/null || fail "send $i"
	dropped && break
done
dropped || fail "a stalled subscriber was not dropped after 24 MiB"
echo "dropped after $i messages"
serving || fail "not serving after the drop"
# The follower that reads has every event still.
last=$(swarmctl events --json | jsonl 'j["seq"]' | tail -1)
wait_until 20 sh -c "grep -q '^id: $last\$' '$T/live.sse'" || fail "the reading follower missed $last"
swarmctl abort "$job" >/dev/null
wait_until 20 chunk_is "$job/c0" aborted || fail "not aborted"
ok
