# lib.sh: what the shell tests of the fake share: a scratch dir, fail,
# wait_until, and fake_start; the fake is killed and the dir removed on
# exit.  Environment: FAKE_UPSTREAM.
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/fake-upstream-sh.XXXXXX")
PID=""

fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/stderr" ] && tail -n 20 "$T/stderr" >&2
	exit 1
}

cleanup() {
	local rc=$?
	trap - EXIT
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# wait_until TIMEOUT_S CMD...: poll CMD until it succeeds or the deadline passes.
wait_until() {
	local end=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $(( $(date +%s%N) / 1000000 )) -lt $end ] || return 1
		sleep 0.02 # poll interval, bounded by the deadline above
	done
}

# fake_start [ARGS...]: the fake on a free port; PID and URL set.
fake_start() {
	"$FAKE_UPSTREAM" "$@" -l 127.0.0.1:0 >"$T/stdout" 2>"$T/stderr" &
	PID=$!
	wait_until 10 grep -q '^listening on ' "$T/stdout" || fail "no listening line"
	URL="http://$(sed -n 's/^listening on //p' "$T/stdout")"
}
