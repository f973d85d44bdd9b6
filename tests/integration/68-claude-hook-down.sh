#!/bin/bash
# A hook never holds its agent up: swarmctl hook claude-code answers
# within its deadline and exits 0, saying nothing, when swarmd is gone,
# when swarmd is stopped (SIGSTOP: it accepts, never answers), when its
# stdin never ends, and outside an agent.  And a preset agent that
# exits 0 having made no model call (claude stopped at a prompt, here
# claude --version) fails with that reason instead of passing for done.
. "$(dirname "$0")/claude-lib.sh"
start_daemon

stop_in='{"hook_event_name": "Stop", "stop_hook_active": false, "last_assistant_message": "x"}'
# within MAX_S CMD...: CMD, given a Stop on stdin, exits 0 and prints
# nothing within MAX_S seconds.
within() {
	local max=$1 t0 rc out
	shift
	t0=$(date +%s%N)
	out=$(timeout 10 "$@" 2>"$T/hook.err" <<<"$stop_in")
	rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $rc = 0 ] || fail "exit $rc: $* ($(cat "$T/hook.err"))"
	[ -z "$out" ] || fail "said something: $out"
	[ $ms -le $(( max * 1000 )) ] || fail "took $ms ms: $*"
}
hook="swarmctl hook claude-code"
export SWARM_AGENT=agent-1 SWARM_TOKEN=0000000000000000000000000000000000000000000000000000000000000000

# Gone: nothing listens at the socket.
SWARM_SOCKET="$T/nowhere.sock" within 3 $hook Stop --deadline 2
# Stopped: the socket accepts, no one answers; the deadline ends it.
kill -STOP "$DAEMON_PID"
within 4 $hook Stop --deadline 2
within 4 $hook PostToolUse --deadline 2
within 4 $hook StopFailure --deadline 2
kill -CONT "$DAEMON_PID"
# stdin that never ends: a fifo this shell holds open.
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
within 4 sh -c 'swarmctl hook claude-code Stop --deadline 2 <"$0"' "$T/fifo"
exec 3>&-
# Outside an agent, or an event it does not know: nothing to do.
(unset SWARM_AGENT SWARM_TOKEN; within 3 $hook Stop)
within 3 $hook NoSuchEvent
# A bad token is refused by swarmd; the hook still exits 0.
within 3 $hook Stop
# A bad use of the verb itself is a usage error, not a hook's answer.
swarmctl hook nosuch Stop </dev/null 2>/dev/null
assert_eq $? 2 "an unknown agent kind"
# The test is no agent: swarmd tells agents by SWARM_AGENT too.
unset SWARM_AGENT SWARM_TOKEN

# The hooks a real session rarely reaches against the fake, called as
# Claude Code calls them from inside an agent (a shell here): a
# compaction is checkpointed and the task given back after it (the real
# CLI's compaction: 72), a subagent is a note, a rate limit a transient
# failure.
cat >"$T/hooks-agent" <<'A'
#!/bin/sh
h() { swarmctl hook claude-code "$1" >>"$T_OUT/$1.out"; }
swarmctl checkpoint --note "my own note" >/dev/null
echo '{"hook_event_name": "PreCompact", "trigger": "auto", "transcript_path": "/t/s.jsonl"}' | h PreCompact
echo '{"hook_event_name": "SessionStart", "source": "compact"}' | h SessionStart
echo '{"hook_event_name": "SessionStart", "source": "startup"}' | h SessionStart
echo '{"hook_event_name": "SubagentStart", "agent_id": "a1", "agent_type": "Explore"}' | h SubagentStart
echo '{"hook_event_name": "SubagentStop", "agent_id": "a1", "agent_type": "Explore"}' | h SubagentStop
echo '{"hook_event_name": "StopFailure", "error": "rate_limit"}' | h StopFailure
exec sleep 600
A
chmod +x "$T/hooks-agent"
job=$(swarmctl submit "$(job_file hooks '["'"$T"'/hooks-agent"]' 1 \
	'{"env": {"T_OUT": "'"$T"'"}}')") || fail "submit"
wait_until 60 sh -c "[ -e $T/StopFailure.out ]" || fail "the hooks agent did not run"
a=$(agent_of "$job/c0")
assert_eq "$(swarmctl show "$job/c0" --json | json '[c["note"] for c in j["checkpoints"]]')" \
	'["my own note", "claude-code compaction (auto): transcript /t/s.jsonl"]' "checkpoints"
assert_eq "$(json 'j["hookSpecificOutput"]["additionalContext"]' <"$T/SessionStart.out")" \
	"$(printf 'Your task, from swarmd (unchanged by the compaction):\ntask 0\n\nYour latest checkpoint note: my own note')" \
	"the mandate after a compaction"
assert_eq "$(notes "$a" | tr '\n' '|')" "subagent started: Explore (a1)|subagent stopped: Explore (a1)|" "subagent notes"
assert_eq "$(event_data "$job" failure_reported | jsonl '[j["transient"], j["reason"]]' | head -n 1)" \
	'[true, "claude-code: rate_limit"]' "StopFailure"
swarmctl abort "$job" >/dev/null

# An agent that exits 0 with no model call is a failure, with the reason.
job=$(swarmctl submit "$(claude_job noop '["anything"]' \
	'{"command": ["'"$T"'/claude", "--version"]}')") || fail "submit"
a=$(agent_of "$job/c0")
agent_exited() { [ "$(swarmctl show "$1" --json | json 'j["state"]')" = exited ]; }
wait_until 60 agent_exited "$a" ||
	fail "$a did not end: $(swarmctl show "$a" --json)"
grep -q "(Claude Code)" "$STATE/logs/$a.log" || fail "not claude --version: $(cat "$STATE/logs/$a.log")"
assert_eq "$(swarmctl show "$a" --json | json 'j["reason"]')" \
	"exited 0 without any model call or tool use (a trust or onboarding prompt?)" "$a's reason"
assert_eq "$(event_data "$job" subagent_completed | jsonl 'j["success"]' | head -n 1)" false "a success"
swarmctl abort "$job" >/dev/null
ok
