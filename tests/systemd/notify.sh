#!/bin/bash
# notify.sh: swarmd as a Type=notify service with socket activation,
# against manager.py standing in for systemd: READY=1 once it serves,
# STATUS= kept current, WATCHDOG=1 pings, RELOADING=1 then READY=1 on
# SIGHUP, STOPPING=1; the passed socket is used, its path given to agents
# and the file left in place; '<N>' lines on stderr when JOURNAL_STREAM is
# not stderr; agents see none of systemd's variables.
. "$(dirname "$0")/../integration/lib.sh"
NLOG="$T/notify.log"
: >"$NLOG"

# The configured socket is not the one passed: swarmd must adopt the latter.
python3 "$(dirname "$0")/manager.py" "$SOCK" "$T/notify" "$NLOG" 200000 -- \
	"$SWARMD" -f -c "$CONF" -d "$STATE" 2>>"$T/swarmd.log" &
DAEMON_PID=$!
wait_until 20 grep -q "^READY=1|STATUS=0 running, 0 queued, 0 done$" "$NLOG" ||
	fail "no READY=1: $(cat "$NLOG")"
pid=$(pgrep -P "$DAEMON_PID" -x swarmd) || fail "no swarmd under manager.py"
swarmctl jobs >/dev/null || fail "swarmctl through the passed socket"

f=$(job_file env '["sh","-c","env >'"$T"'/env-$SWARM_AGENT; swarmctl heartbeat --note hi"]' 3)
job=$(swarmctl submit "$f") || fail "submit"
wait_until 30 job_is "$job" done || fail "job did not finish"
wait_until 10 grep -q "^STATUS=0 running, 0 queued, 3 done$" "$NLOG" ||
	fail "STATUS= not updated: $(cat "$NLOG")"
wait_until 10 test "$(grep -c '^WATCHDOG=1$' "$NLOG")" -ge 3 || fail "no watchdog pings"

# Agents: the adopted socket, no systemd variables.
assert_eq "$(grep -h '^SWARM_SOCKET=' "$T"/env-agent-* | sort -u)" "SWARM_SOCKET=$SOCK" "agents' socket"
grep -E '^(NOTIFY_SOCKET|LISTEN_[A-Z]*|WATCHDOG_[A-Z]*|JOURNAL_STREAM)=' "$T"/env-agent-* &&
	fail "systemd variables leaked to agents"

# Not journald's stream: plain lines with priorities, events included.
grep -q "^<5>socket activation: $SOCK, not the configured " "$T/swarmd.log" || fail "adoption not logged"
grep -q "^<6>listening on $SOCK (socket activation)$" "$T/swarmd.log" || fail "listening line"
grep -q "^<6>subagent_started $job/c0 agent-[0-9]* attempt 1: {\"pid\":" "$T/swarmd.log" ||
	fail "event lines on stderr"
grep -q "^<6>heartbeat $job/c1 agent-[0-9]* attempt 1: {\"note\":\"hi\"}$" "$T/swarmd.log" ||
	fail "heartbeat event line"

kill -HUP "$pid"
wait_until 10 grep -q "^RELOADING=1" "$NLOG" || fail "no RELOADING=1"
ready_again() { sed -n '/^RELOADING=1/,$p' "$NLOG" | grep -q '^READY=1'; }
wait_until 10 ready_again || fail "no READY=1 after the reload"

stop_daemon || fail "stop"
grep -q "^STOPPING=1|STATUS=stopping: 0 agents to stop$" "$NLOG" || fail "no STOPPING=1"
[ -S "$SOCK" ] || fail "swarmd removed the socket systemd owns"
ok
