#!/bin/bash
# The flags people type: logs -f/--follow, -n/--tail N, -a/--all (every
# attempt of a chunk); events --since TIME|DURATION, --agent, --job and
# --type, filtered by swarmd (a listing and a follower alike); jobs
# --state; and bash completion of the new flags and their values.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
for i in 1 2 3 4 5; do echo "$SWARM_AGENT line $i"; done
exec "$AGENTS/mailbox-agent" "$T/mail-$SWARM_AGENT"
A
chmod +x "$T/agent.sh"
env='{"env":{"T":"'"$T"'","AGENTS":"'"$AGENTS"'"}}'
job=$(swarmctl submit "$(job_file talk '["'"$T"'/agent.sh"]' 1 "$env")") || fail "submit"
wait_until 20 sh -c "swarmctl logs $job/c0 | grep -q 'line 5'" || fail "no output"
a1=$(swarmctl show "$job/c0" --json | json 'j["agent"]')

assert_eq "$(swarmctl logs -n 2 "$job/c0")" "$a1 line 4
$a1 line 5" "-n 2"
assert_eq "$(swarmctl logs --tail 1 "$a1")" "$a1 line 5" "--tail 1"
assert_eq "$(swarmctl logs --tail 0 "$a1")" "" "--tail 0"
assert_eq "$(swarmctl logs -n 100 "$a1" | wc -l)" 5 "more lines asked than there are"
swarmctl logs -n x "$a1" 2>/dev/null
assert_eq "$?" 2 "a bad count"

# -f follows until the agent ends; with -n it starts at the tail.
swarmctl logs -f -n 1 "$job/c0" >"$T/follow" &
follower=$!
swarmctl abort "$job/c0" >/dev/null || fail "abort"
wait_until 30 sh -c "! kill -0 $follower" || fail "logs -f did not end with its agent"
wait "$follower" || fail "logs -f exit status"
assert_eq "$(cat "$T/follow")" "$a1 line 5" "logs -f -n 1"

# -a: every attempt of the chunk, oldest first, each under a header.
swarmctl retry "$job/c0" >/dev/null || fail "retry"
wait_until 20 sh -c "swarmctl logs $job/c0 | grep -q 'agent-2 line 5'" || fail "no second attempt"
swarmctl logs -a -n 1 "$job/c0" >"$T/all" || fail "logs -a"
assert_eq "$(cat "$T/all")" "==> $a1 (attempt 1, $(swarmctl show "$a1" --json | json 'j["state"]')) <==
$a1 line 5

==> agent-2 (attempt 2, running) <==
agent-2 line 5" "logs -a -n 1"
assert_eq "$(swarmctl logs --all "$a1" | grep -c 'line')" 10 "--all from an agent's name"

# events: filtered by swarmd.
job2=$(swarmctl submit "$(job_file other '["true"]' 1)") || fail "submit other"
wait_until 20 job_is "$job2" done || fail "$job2 did not end"
swarmctl events --json >"$T/ev.all"
types() { jsonl 'j["event"]' | sort -u | tr '\n' ' '; }
assert_eq "$(swarmctl events --type heartbeat --json | types)" "heartbeat " "--type"
assert_eq "$(swarmctl events --agent "$a1" --json | jsonl 'j["agent"]' | sort -u)" "$a1" "--agent"
assert_eq "$(swarmctl events --agent "$job/c0" --json | jsonl 'j["agent"]' | sort -u)" "agent-2" "--agent with a chunk's name"
assert_eq "$(swarmctl events --job "$job2" --json | jsonl 'j["job"]' | sort -u)" "$job2" "--job"
assert_eq "$(swarmctl events --job "$job" --type subagent_dispatched --json | wc -l)" 2 "--job and --type"
# --since a time: the events from it on, none before.
ts=$(swarmctl events --job "$job2" --type job_submitted --json | json 'j["ts"]')
swarmctl events --since "$ts" --json >"$T/ev.since"
python3 - "$T/ev.all" "$T/ev.since" "$ts" <<'PY' || fail "--since $ts"
import json, sys
every = [json.loads(l) for l in open(sys.argv[1])]
since = [json.loads(l) for l in open(sys.argv[2])]
want = [e for e in every if e["ts"] >= sys.argv[3]]
assert since and [e["seq"] for e in since] == [e["seq"] for e in want], (since, want)
assert len(want) < len(every)
PY
assert_eq "$(swarmctl events --since 1h --json | wc -l)" "$(wc -l <"$T/ev.all")" "--since a duration"
assert_eq "$(swarmctl events --since 2099-01-01 --json | wc -l)" 0 "--since the future"
assert_eq "$(swarmctl events --since 2099-01-01T00:00Z --limit 5 | wc -l)" 0 "--since and --limit"
swarmctl events --since yesterday 2>"$T/err"
assert_eq "$?" 2 "a bad --since"
assert_contains "$(cat "$T/err")" 'bad --since "yesterday"'
# swarmd reads a duration too, and names a bad one.
raw() {
	python3 -c 'import json, sys
sys.path.insert(0, sys.argv[1])
from rawclient import Conn
print(json.dumps(Conn(sys.argv[2]).call("events", json.loads(sys.argv[3]))))' "$(dirname "$0")" "$SOCK" "$1"
}
assert_eq "$(raw '{"since":"10m","type":"job_done"}' | json 'len(j["events"])')" \
	"$(grep -c '"job_done"' "$T/ev.all")" "since 10m at swarmd"
assert_contains "$(raw '{"since":"soon"}')" '"bad_args"' "since soon at swarmd"
swarmctl events --agent agent-99 2>/dev/null && fail "--agent of no agent"
# A follower gets only the events its filter lets through.
swarmctl events -f --type message_sent --json >"$T/follow.ev" &
follower=$!
KILL_AT_EXIT="$KILL_AT_EXIT $follower"
wait_until 20 grep -q '"message_sent"' "$T/follow.ev" || fail "no backlog"
n=$(wc -l <"$T/follow.ev")
swarmctl send "$job/c0" "new message" >/dev/null || fail "send"
wait_until 20 grep -q '"new message"' "$T/follow.ev" || fail "the follower missed it"
wait_until 20 sh -c "swarmctl events --job $job --type message_delivered | grep -q ." || fail "not delivered"
swarmctl send "$job/c0" quit >/dev/null || fail "send quit"
wait_until 20 sh -c "[ \"\$(swarmctl show $job/c0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" != running ]" ||
	fail "the agent did not end"
wait_until 20 grep -q '"quit"' "$T/follow.ev" || fail "the follower missed quit"
assert_eq "$(types <"$T/follow.ev")" "message_sent " "the follower's events"

# jobs --state.
assert_eq "$(swarmctl jobs --state done --json | json '" ".join(x["job"] for x in j)')" "$job $job2" "--state done"
assert_eq "$(swarmctl jobs --state running --json | json 'len(j)')" 0 "--state running"
swarmctl jobs --state dead 2>"$T/err"
assert_eq "$?" 1 "an unknown state"
assert_contains "$(cat "$T/err")" 'bad_args: jobs: state "dead" is not running, done or aborted'

# Completion of the new flags and their values.
. "$(dirname "$0")/../../etc/completion/swarmctl.bash"
complete_words() {
	COMP_WORDS=(swarmctl "$@")
	COMP_CWORD=$#
	_swarmctl
	[ ${#COMPREPLY[@]} -gt 0 ] || return 0
	printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' '
}
assert_eq "$(complete_words logs -)" "--all --follow --help --json --tail --utc -a -f -n " "logs' flags"
assert_eq "$(complete_words events --s)" "--since " "events --since"
assert_eq "$(complete_words events --a)" "--agent " "events --agent"
assert_eq "$(complete_words jobs --state "")" "aborted done running " "--state's values"
assert_eq "$(complete_words events --type job_)" "job_done job_submitted " "--type's values, from swarmd"
ok
