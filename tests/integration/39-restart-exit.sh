#!/bin/bash
# An agent's exit status survives a restart of swarmd.  Its parent is its
# shim, not swarmd: the shim waits for it and records how it ended.  After
# kill -9 of swarmd the agents are re-adopted, and when they end under the
# new daemon their real status settles their chunks: exit 0 completes the
# chunk once (attempt 1, never run again), exit 1 with no result fails it
# (not done, not retried as "status unknown"), and an abort of a
# re-adopted agent still reaches it, its signal recorded (the agent
# starts with no signal ignored or blocked).  An agent whose
# shim is killed is watched on its own and ends "status unknown", which
# without a result is no success.  Status files are swarmd's (a 0700
# directory) and go once the ends are recorded.
. "$(dirname "$0")/lib.sh"
# A "status unknown" end is transient: retried at once, so a lost status
# shows as a second attempt.
printf '[retries]\ntransient = 2\nbackoff = 0.1\nbackoff_max = 0.2\n' >>"$CONF"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
echo "$SWARM_CHUNK $SWARM_ATTEMPT $$" >>"$T/runs"
grep -E '^Sig(Ign|Blk):' /proc/$$/status >"$T/sig.$SWARM_CHUNK.$SWARM_ATTEMPT"
while [ ! -f "$T/go" ]; do sleep 0.05; done
case "$SWARM_CHUNK" in
ok) exit 0 ;;
bad | orphan) exit 1 ;;
*) exec sleep 3600 ;;
esac
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "exits", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 4,
 "chunks": [{"id": "ok", "task": "x"}, {"id": "bad", "task": "y"},
            {"id": "held", "task": "z"}, {"id": "orphan", "task": "w"}]}
J
job=$(swarmctl submit "$T/job.json") || fail "submit"
runs() { [ -f "$T/runs" ] && [ "$(wc -l <"$T/runs")" -ge "$1" ]; }
wait_until 20 runs 4 || fail "agents did not start"
agent_of() { swarmctl show "$job/$1" --json | json 'j["agent"]'; }
pid_of() { grep "^$1 " "$T/runs" | head -n 1 | cut -d' ' -f3; }
# The recorded pid is the agent's; it leads its own group; its parent is
# the shim, which is in no group swarmd signals.
assert_eq "$(swarmctl show "$(agent_of ok)" --json | json 'j["pid"]')" "$(pid_of ok)" "the recorded pid"
shim=$(ps -o ppid= -p "$(pid_of ok)" | tr -d ' ')
assert_eq "$(ps -o comm= -p "$shim")" swarmd-shim "the agent's parent"
assert_eq "$(ps -o pgid= -p "$(pid_of ok)" | tr -d ' ')" "$(pid_of ok)" "the agent's group"
[ "$(ps -o pgid= -p "$shim" | tr -d ' ')" != "$(pid_of ok)" ] || fail "the shim is in the agent's group"
assert_eq "$(stat -c %a "$STATE/exit")" 700 "the status directory"
# The shim ignores stop signals; the agent must not inherit that (1-31;
# glibc's posix_spawn leaves its own 32 and 33 ignored, as it always did).
sig() { echo $(( 16#$(sed -n "s/^$1:[[:space:]]*//p" "$T/sig.ok.1") & 16#7fffffff )); }
assert_eq "$(sig SigIgn) $(sig SigBlk)" "0 0" "the agent's ignored and blocked signals"

kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
start_daemon
assert_eq "$(swarmctl events --job "$job" --json | grep -c '"subagent_readopted"')" 4 "re-adopted"
# orphan's shim is killed: swarmd watches the agent itself.
sp=$(ps -o ppid= -p "$(pid_of orphan)" | tr -d ' ')
assert_eq "$(ps -o comm= -p "$sp")" swarmd-shim "orphan's parent"
kill -KILL "$sp"
wait_until 20 grep -q "agent-[0-9]*: its shim ended without its exit status" "$T/swarmd.log" ||
	fail "the shim's end not seen"
touch "$T/go"
wait_until 20 chunk_is "$job/ok" done || fail "ok: $(swarmctl show "$job/ok" --json)"
wait_until 20 chunk_is "$job/bad" dead || fail "bad: $(swarmctl show "$job/bad" --json)"
assert_eq "$(swarmctl show "$job/ok" --json | json '[j["attempts"], j["reason"]]')" '[1, null]' "ok"
assert_eq "$(swarmctl show "$(agent_of ok)" --json | json '[j["state"], j["exit_code"]]')" '["exited", 0]' "ok's agent"
assert_eq "$(swarmctl show "$job/bad" --json | json '[j["attempts"], j["reason"]]')" '[1, "exit status 1"]' "bad"
assert_eq "$(swarmctl show "$(agent_of bad)" --json | json 'j["exit_code"]')" 1 "bad's agent"
# An abort reaches the re-adopted agent through its group; the shim
# records the signal.
swarmctl abort "$(agent_of held)" --grace 5 >/dev/null || fail "abort held"
wait_until 20 chunk_is "$job/held" aborted || fail "held: $(swarmctl show "$job/held" --json)"
assert_eq "$(swarmctl show "$(agent_of held)" --json | json 'j["signal"]')" 15 "held killed by SIGTERM"
wait_until 20 job_is "$job" done || fail "job did not end"
# orphan's exit went unseen: no success; the retry's exit 1 is seen.
assert_eq "$(swarmctl show "$job/orphan" --json | json '[j["state"], j["attempts"], j["reason"]]')" '["dead", 2, "exit status 1"]' "orphan"
assert_eq "$(swarmctl show "$job/orphan" --json | json 'j["agents"][0]["reason"]')" "exited while re-adopted, status unknown, no valid result" "orphan's first end"
# Each chunk ran once; ok completed once.
for c in ok bad held; do
	assert_eq "$(grep -c "^$c " "$T/runs")" 1 "$c runs"
done
assert_eq "$(swarmctl events --job "$job" --json | jsonl 'j["event"] == "subagent_completed" and j.get("success") is True' | grep -c true)" 1 "one success"
wait_until 10 sh -c "[ -z \"\$(ls -A '$STATE/exit')\" ]" || fail "status files left: $(ls -A "$STATE/exit")"
ok
