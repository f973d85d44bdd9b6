#!/bin/bash
# kill -9 of swarmd loses nothing recorded: on restart every agent that was
# running is found, killed if still alive, and its chunk requeued; unread
# messages survive and reach the chunk's next attempt; finished chunks are
# never run again.
. "$(dirname "$0")/lib.sh"
start_daemon
# Attempt 1 of each chunk hangs without reading mail; later attempts read
# their mail into a file and finish.
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK $SWARM_AGENT $SWARM_ATTEMPT" >>"$RUNS"
if [ "$SWARM_ATTEMPT" = 1 ] && [ "$SWARM_CHUNK" != c0 ]; then
	echo $$ >>"$PIDS"
	exec sleep 3600
fi
swarmctl recv >>"$MAIL.$SWARM_CHUNK"
A
chmod +x "$T/agent.sh"
f=$(job_file crash '["'"$T"'/agent.sh"]' 3 '{"concurrency":3,"env":{"RUNS":"'"$T/runs"'","PIDS":"'"$T/pids"'","MAIL":"'"$T/mail"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 chunk_is "$job/c0" done || fail "c0 did not finish"
wait_until 20 sh -c "[ \$(wc -l <'$T/pids' 2>/dev/null || echo 0) -ge 2 ]" || fail "hangers did not start"
swarmctl send "$(swarmctl show "$job/c1" --json | json 'j["agent"]')" "remember the flaky test" >/dev/null || fail send
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
# The orphans still run until the new daemon finds them.
for p in $(cat "$T/pids"); do kill -0 "$p" || fail "orphan $p died with the daemon"; done
start_daemon
for p in $(cat "$T/pids"); do
	wait_until 10 sh -c "! kill -0 $p" || fail "orphan $p still alive after recovery"
done
wait_until 20 job_is "$job" done || fail "job did not finish after restart"
assert_eq "$(count "$job" done)" 3 "all done"
# c0 finished before the crash and never ran again; c1, c2 ran twice.
assert_eq "$(grep -c '^c0 ' "$T/runs")" 1 "c0 runs"
assert_eq "$(grep -c '^c1 ' "$T/runs")" 2 "c1 runs"
assert_eq "$(swarmctl show "$job/c1" --json | json 'j["attempts"]')" 2 "c1 attempts"
assert_contains "$(swarmctl show agent-2 --json | json 'j["reason"]')" "lost: swarmd stopped"
# The message sent to attempt 1 reached attempt 2.
grep -q "remember the flaky test" "$T/mail.c1" || fail "message lost across the restart"
swarmctl events --job "$job" --json | grep -q '"messages_forwarded"' || fail "forward event"
# Every dispatch has exactly one completion: nothing pending.
assert_eq "$(swarmctl pending)" "" "pending after recovery"
ok
