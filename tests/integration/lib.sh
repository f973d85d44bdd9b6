# lib.sh: the harness every integration test sources.  Each test owns a
# private swarmd on its own socket and state directory, talks to it only
# through swarmctl and the socket, waits by polling with a deadline, and
# kills everything it started on exit.
#
# Environment (set by tests/meson.build): SWARMD, SWARMCTL, TOOLS.
set -u

T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-test.XXXXXX")
SOCK="$T/swarmd.sock"
STATE="$T/state"
CONF="$T/swarmd.conf"
export SWARM_SOCKET="$SOCK"
export PATH="$(dirname "$SWARMCTL"):$PATH"
AGENTS="$TOOLS/agents"
DAEMON_PID=""
# Tests ramp at once unless they test the stagger.
printf '[spawn]\nstagger_batch = 1000\nstagger_interval = 0\n' >"$CONF"

# fail MSG: end the test as failed, from anywhere.  Inside a command
# substitution or a pipeline, exit ends only a subshell: so fail also
# leaves a mark the cleanup reads and signals the test's main shell.
fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/swarmd.log" ] && { echo "--- swarmd log:" >&2; tail -n 40 "$T/swarmd.log" >&2; }
	: >"$T/failed"
	[ "$BASHPID" = $$ ] || kill -TERM $$
	exit 1
}
trap 'exit 1' TERM

# The processes left of this test: any whose environment names our
# socket (every agent and every swarmctl inherits it), but the test
# itself and its own command substitutions.
leftovers() {
	local p
	for p in $(grep -l -s -a "SWARM_SOCKET=$SOCK" /proc/[0-9]*/environ | cut -d/ -f3); do
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		grep -q -s '^PPid:[[:space:]]*'"$BASHPID"'$' "/proc/$p/status" && continue
		[ -e "/proc/$p" ] && echo "$p"
	done
}
no_leftovers() { [ -z "$(leftovers)" ]; }
# end_agents: after a deliberate stop_daemon with agents running (swarmd
# leaves them to re-adopt), end them: what the test meant is no leak.
end_agents() {
	local p
	for p in $(leftovers); do kill -KILL "$p" 2>/dev/null; done
	wait_until 10 no_leftovers
}

# Stop the daemon, then make sure nothing we started survives.  swarmd
# leaves agents running when it stops, to re-adopt them: a test ends
# the agents it started (abort, or end_agents after a deliberate stop).
# A process left behind is a leak, reported as a failure (then killed).  KILL_AT_EXIT: processes a test started
# beside the daemon (a fake upstream, a receiver), ended first; set it
# rather than a trap of one's own, which would lose the test's exit status.
KILL_AT_EXIT=""
cleanup() {
	local rc=$? p
	trap - EXIT
	trap '' TERM
	[ -e "$T/failed" ] && rc=1
	for p in $KILL_AT_EXIT; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $KILL_AT_EXIT; do
		wait_until 10 sh -c "! kill -0 $p" || kill -KILL "$p" 2>/dev/null
	done
	stop_daemon || rc=1
	if ! wait_until 5 no_leftovers; then
		for p in $(leftovers); do
			echo "FAIL: left running: $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
			kill -KILL "$p" 2>/dev/null && rc=1
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# wait_until TIMEOUT_S CMD...: poll CMD until it succeeds or the deadline passes.
wait_until() {
	_limit=$1
	shift
	_end=$(( $(date +%s%N) / 1000000 + _limit * 1000 ))
	until "$@" >/dev/null 2>&1; do
		[ $(( $(date +%s%N) / 1000000 )) -lt $_end ] || return 1
		sleep 0.02 # poll interval, bounded by the deadline above
	done
}

start_daemon() {
	"$SWARMD" -f -c "$CONF" -s "$SOCK" -d "$STATE" "$@" 2>>"$T/swarmd.log" &
	DAEMON_PID=$!
	wait_until 20 "$SWARMCTL" jobs || fail "swarmd did not come up"
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "swarmd $DAEMON_PID exited; another answered"
}

# A clean stop exits 0; under the sanitizers a leak or an error does not.
stop_daemon() {
	local pid=$DAEMON_PID rc
	[ -n "$pid" ] || return 0
	DAEMON_PID=""
	kill -TERM "$pid" 2>/dev/null
	wait_until 30 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ $rc -ne 0 ] || grep -q -e "runtime error:" -e "AddressSanitizer" "$T/swarmd.log"; then
		echo "FAIL: swarmd exited with status $rc" >&2
		tail -n 60 "$T/swarmd.log" >&2
		return 1
	fi
}

# jq-free JSON access: json EXPR reads stdin, prints the Python expression
# EXPR evaluated with j bound to the parsed document.
json() {
	python3 -c 'import json,sys; j=json.load(sys.stdin); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r))' "$1"
}

# jsonl EXPR: the same for each line of a JSON-lines stream, one result a line.
jsonl() {
	python3 -c 'import json,sys
for line in sys.stdin:
    if line.strip():
        j=json.loads(line); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r))' "$1"
}

# job_file NAME COMMAND_JSON NCHUNKS [EXTRA_JSON]: write a job to $T/NAME.json.
job_file() {
	python3 - "$@" >"$T/$1.json" <<'PY'
import json, sys
name, cmd, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
job = {"name": name, "command": cmd,
       "chunks": [{"id": "c%d" % i, "task": "task %d" % i} for i in range(n)]}
if len(sys.argv) > 4:
    job.update(json.loads(sys.argv[4]))
print(json.dumps(job))
PY
	echo "$T/$1.json"
}

job_state() { "$SWARMCTL" show "$1" --json | json 'j["state"]'; }
job_is() { [ "$(job_state "$1")" = "$2" ]; }
chunk_state() { "$SWARMCTL" show "$1" --json | json 'j["state"]'; }
chunk_is() { [ "$(chunk_state "$1")" = "$2" ]; }
count() { "$SWARMCTL" show "$1" --json | json "j['counts']['$2']"; }

assert_eq() { [ "$1" = "$2" ] || fail "${3:-} expected [$2], got [$1]"; }
assert_contains() {
	case $1 in *"$2"*) ;; *) fail "${3:-} [$1] does not contain [$2]" ;; esac
}
ok() { echo "ok: $(basename "$0")"; }
# must CMD...: CMD's output, failing the test if CMD fails; for
# "$(must swarmctl pending)", where an empty answer is the promise.
must() { "$@" || fail "$*: exit status $?"; }

# start_fake [CONFIG.json]: the project's fake model API on a free
# loopback port, killed at exit; UP is its URL.
start_fake() {
	"$FAKE_UPSTREAM" -l 127.0.0.1:0 ${1:+-c "$1"} >"$T/fake.out" 2>"$T/fake.err" &
	KILL_AT_EXIT="$KILL_AT_EXIT $!"
	wait_until 10 grep -q '^listening on ' "$T/fake.out" || fail "fake upstream did not start"
	UP="http://$(sed -n 's/^listening on //p' "$T/fake.out")"
}
