#!/bin/bash
# Agents that end while swarmd is down are settled by the exit status
# their shims recorded: the next start completes a chunk whose agent
# exited 0 once (attempt 1, its end time the shim's), fails one whose
# agent exited 1 without a result (not requeued), and, where the shim was
# killed with its agent so that no status exists, keeps the old outcome:
# the chunk is requeued and its next attempt runs.  The status files are
# whole (0600, one line) and go once the ends are recorded.
. "$(dirname "$0")/lib.sh"
printf '[retries]\ntransient = 2\nbackoff = 0.1\nbackoff_max = 0.2\n' >>"$CONF"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK $SWARM_ATTEMPT $$" >>"$T/runs"
while [ ! -f "$T/go" ]; do sleep 0.05; done
case "$SWARM_CHUNK" in
bad) exit 1 ;;
*) exit 0 ;;
esac
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "down", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 3,
 "chunks": [{"id": "ok", "task": "x"}, {"id": "bad", "task": "y"},
            {"id": "lost", "task": "z"}]}
J
job=$(swarmctl submit "$T/job.json") || fail "submit"
runs() { [ -f "$T/runs" ] && [ "$(wc -l <"$T/runs")" -ge "$1" ]; }
wait_until 20 runs 3 || fail "agents did not start"
agent_of() { swarmctl show "$job/$1" --json | json 'j["agent"]'; }
pid_of() { grep "^$1 " "$T/runs" | head -n 1 | cut -d' ' -f3; }
running() { [ "$(swarmctl ps --job "$job" --json | json 'len([a for a in j if a["state"] == "running"])')" = 3 ]; }
wait_until 10 running || fail "not running"
aok=$(agent_of ok)
abad=$(agent_of bad)
alost=$(agent_of lost)

kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
# lost: its shim dies first, then the agent: nothing records its end.
p=$(pid_of lost)
sp=$(ps -o ppid= -p "$p" | tr -d ' ')
assert_eq "$(ps -o comm= -p "$sp")" swarmd-shim "lost's parent"
kill -KILL "$sp" "$p"
touch "$T/go"
# No process of ours (on our socket) is agent $1 or its shim any more.
gone() {
	local f
	for f in $(grep -l -s -a "SWARM_SOCKET=$SOCK" /proc/[0-9]*/environ); do
		grep -qsaP "SWARM_AGENT=$1\x00" "$f" && return 1
	done
	return 0
}
for a in "$aok" "$abad" "$alost"; do
	wait_until 20 gone "$a" || fail "$a or its shim still runs"
done
[ -f "$STATE/exit/$alost" ] && fail "a status for the agent whose shim was killed"
assert_eq "$(stat -c %a "$STATE/exit/$aok")" 600 "the status file's mode"
grep -qx "pid $(pid_of ok) exit 0 ended [0-9]*" "$STATE/exit/$aok" || fail "ok's status: $(cat "$STATE/exit/$aok")"
grep -qx "pid $(pid_of bad) exit 1 ended [0-9]*" "$STATE/exit/$abad" || fail "bad's status: $(cat "$STATE/exit/$abad")"
ended=$(sed 's/.* ended //' "$STATE/exit/$aok")
# Stale and foreign files in the status directory are swept at start.
echo "pid 1 exit 0 ended 0" >"$STATE/exit/agent-999"

start_daemon
wait_until 20 job_is "$job" done || fail "job did not end: $(swarmctl show "$job" --json | json 'j["counts"]')"
assert_eq "$(swarmctl events --job "$job" --json | grep -c '"subagent_readopted"')" 0 "nothing to re-adopt"
assert_eq "$(swarmctl show "$job/ok" --json | json '[j["state"], j["attempts"]]')" '["done", 1]' "ok"
assert_eq "$(swarmctl show "$aok" --json | json '[j["state"], j["exit_code"]]')" '["exited", 0]' "ok's agent"
# Its end is when the shim saw it, not when swarmd came back.
python3 - "$(swarmctl show "$aok" --json | json 'j["ended"]')" "$ended" <<'PY' || fail "ok's end time"
import sys, datetime
got = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
want = int(sys.argv[2]) / 1000
sys.exit(0 if abs(got.timestamp() - want) < 1.0 else 1)
PY
assert_eq "$(swarmctl show "$job/bad" --json | json '[j["state"], j["attempts"], j["reason"]]')" '["dead", 1, "exit status 1"]' "bad"
assert_eq "$(swarmctl show "$abad" --json | json 'j["exit_code"]')" 1 "bad's agent"
assert_eq "$(swarmctl show "$job/lost" --json | json '[j["state"], j["attempts"]]')" '["done", 2]' "lost: requeued"
assert_contains "$(swarmctl show "$alost" --json | json 'j["reason"]')" "lost" "lost's reason"
for c in ok bad; do
	assert_eq "$(grep -c "^$c " "$T/runs")" 1 "$c ran once"
done
assert_eq "$(grep -c "^lost " "$T/runs")" 2 "lost ran again"
wait_until 10 sh -c "[ -z \"\$(ls -A '$STATE/exit')\" ]" || fail "status files left: $(ls -A "$STATE/exit")"
ok
