# bench/lib.sh: the shell the benchmark scripts share (see BENCHMARKS.md).
#
# Sourced by bench/*.sh right after `set -u`.  A script defines usage,
# say and die (its own voice: every message carries its name) and calls
# the bench_* functions below; they read and set the scripts' common
# variables: RUNS BUILD KEEP RAWOUT (options), ROOT LOAD0 (set here),
# SWARMD SWARMCTL BUILDTYPE (bench_build), REV (bench_rev), T RESULTS
# (bench_scratch), DAEMON_PID (bench_start_daemon), FAKE_PID FAKE_URL
# (bench_start_fake, which runs FAKE: the script sets it, usually to
# BUILD's tools/fake-upstream).
# shellcheck shell=bash disable=SC2034	# the variables are the scripts'

# Defaults of the options every script takes (bench_opt); RUNS is each
# script's own.
BUILD=${BUILD:-/tmp/bench-build}
KEEP=0
RAWOUT=
# The checkout the script runs from, and the load before we add any.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
DAEMON_PID=""
FAKE_PID=""

# bench_opt OPT: the options every script takes, -n -b -k -o -h, and the
# answer to an unknown one; a script's getopts loop handles its own
# options and hands the rest here.
bench_opt() {
	case $1 in
	n) RUNS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	k) KEEP=1 ;;
	o) RAWOUT=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
}

# bench_counts VALUE...: each VALUE (a count such as RUNS or a window's
# seconds) must be a whole number of at least 1, or the usage is wrong.
bench_counts() {
	local v
	for v; do
		case $v in '' | *[!0-9]*) usage >&2; exit 2 ;; esac
		[ "$v" -ge 1 ] || { usage >&2; exit 2; }
	done
}

# bench_build [EXECUTABLE...]: BUILD set up (a release build) when it does
# not exist yet, and brought up to date; sets SWARMD, SWARMCTL and
# BUILDTYPE; dies unless those two and every EXECUTABLE are there.
# shellcheck disable=SC2120	# no EXECUTABLE is fine
bench_build() {
	local x
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$ROOT" --buildtype=release >&2 ||
		    die "meson setup $BUILD failed"
	fi
	ninja -C "$BUILD" >&2 || die "build failed in $BUILD"
	SWARMD="$BUILD/swarmd"
	SWARMCTL="$BUILD/swarmctl"
	for x in "$SWARMD" "$SWARMCTL" "$@"; do
		[ -x "$x" ] || die "$x missing"
	done
	BUILDTYPE=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
	    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null)
}

# bench_release_warning: a warning (figures from a debug build mislead)
# unless BUILD is a release build.
bench_release_warning() {
	[ "$BUILDTYPE" = release ] ||
	    say "${0##*/}: warning: $BUILD is a ${BUILDTYPE:-unknown} build, not release"
}

# bench_rev PATH...: sets REV, the revision measured, marked when PATHs
# (what the figures depend on) have uncommitted changes.  BENCH_REV
# names the revision when ROOT is an export, not a checkout.
bench_rev() {
	REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "${BENCH_REV:-unknown}")
	[ -n "$(git -C "$ROOT" status --porcelain -- "$@" 2>/dev/null)" ] &&
	    REV="$REV + uncommitted changes"
	return 0
}

# bench_scratch NAME: T, a fresh scratch directory (mktemp, NAME.XXXXXX)
# for every daemon, log and result of the run; RESULTS, its empty
# results file (metric, run, value).
bench_scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || die "mktemp failed"
	RESULTS="$T/results.tsv"
	: >"$RESULTS"
}

# bench_on_exit FUNCTION: FUNCTION runs however the script ends (an
# interrupt too), so that nothing it started outlives it.
bench_on_exit() {
	# shellcheck disable=SC2064	# a name: nothing to expand later
	trap "$1" EXIT
	trap 'exit 130' INT TERM
}

# bench_cleanup: the usual FUNCTION for bench_on_exit: stops everything
# the lib started, then whatever carries the scratch dir in its
# environment, and drops the scratch dir.
bench_cleanup() {
	bench_stop_daemon
	bench_term FAKE_PID
	bench_kill_strays
	bench_drop_scratch
}

# bench_stop_daemon: the swarmd of bench_start_daemon stopped as a user
# stops it (SIGTERM: it stops its agents), killed after 30 s.
bench_stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}

# bench_term VAR: the process whose pid VAR holds (a server started in
# the background, such as the fake upstream) ended and reaped; VAR
# emptied.  Nothing when VAR is empty.
bench_term() {
	local pid=${!1:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	printf -v "$1" '%s' ""
}

# bench_kill_strays [PATTERN...]: agents outlive their daemon, so any
# process carrying one of our sockets (SWARM_SOCKET=$T/...) or a PATTERN
# in its environment is ours to stop.
bench_kill_strays() {
	local p e=(-e "SWARM_SOCKET=$T/")
	for p; do
		e+=(-e "$p")
	done
	# shellcheck disable=SC2013	# a pid per line, from the paths
	for p in $(grep -l -s -a "${e[@]}" /proc/[0-9]*/environ |
	    cut -d/ -f3); do
		[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
	done
}

# bench_drop_scratch: T removed, or kept and named with -k.
bench_drop_scratch() {
	if [ "$KEEP" = 1 ]; then
		say "${0##*/}: scratch directory kept: $T"
	else
		rm -rf "$T"
	fi
}

# bench_start_daemon DIR [VAR=VALUE...]: a private swarmd on DIR, which
# holds its swarmd.conf: state in DIR/state, log appended to
# DIR/swarmd.log, socket DIR/swarmd.sock (exported as SWARM_SOCKET, so
# that swarmctl talks to it); VAR=VALUE go into its environment.  Sets
# DAEMON_PID and returns once it answers; dies with its log's tail when
# it does not within BENCH_UP_TRIES x 50 ms (default 200: 10 s).
bench_start_daemon() {
	local dir=$1
	shift
	export SWARM_SOCKET="$dir/swarmd.sock"
	(
		# shellcheck disable=SC2163	# VAR=VALUE words
		[ $# = 0 ] || export "$@"
		exec "$SWARMD" -f -c "$dir/swarmd.conf" -s "$SWARM_SOCKET" \
		    -d "$dir/state" 2>>"$dir/swarmd.log"
	) &
	DAEMON_PID=$!
	for _ in $(seq "${BENCH_UP_TRIES:-200}"); do
		"$SWARMCTL" jobs >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -n 20 "$dir/swarmd.log" >&2
	die "swarmd did not come up on $SWARM_SOCKET"
}

# bench_start_fake DIR: the project's fake upstream (FAKE) with
# DIR/fake.json on a free port of 127.0.0.1; sets FAKE_PID, and FAKE_URL
# once it says where it listens.
bench_start_fake() {
	"$FAKE" -l 127.0.0.1:0 -c "$1/fake.json" \
	    >"$1/fake.out" 2>"$1/fake.log" &
	FAKE_PID=$!
	for _ in $(seq 100); do
		FAKE_URL=$(sed -n 's/^listening on /http:\/\//p' "$1/fake.out")
		[ -n "$FAKE_URL" ] && return 0
		sleep 0.05
	done
	die "fake-upstream did not say where it listens"
}

# bench_quiet: wait (up to 5 minutes) until the machine is at least 90%
# idle over 3 s, so that a measurement does not start on top of someone
# else's build or test run.  It cannot notice one that starts later: the
# scripts report the CPU others used meanwhile, or the load averages.
# BENCH_QUIET_TRIES x 3 s is how long it waits (default 100: 5 minutes).
bench_quiet() {
	local i a b u n s id w q sq st rest busy=100
	for i in $(seq "${BENCH_QUIET_TRIES:-100}"); do
		read -r _ u n s id w q sq st rest </proc/stat
		a=$(( u + n + s + id + w + q + sq + st )) b=$id
		sleep 3
		read -r _ u n s id w q sq st rest </proc/stat
		busy=$(( 100 - (id - b) * 100 / (u + n + s + id + w + q + sq + st - a) ))
		[ "$busy" -le 10 ] && return 0
		[ "$i" = 1 ] && say "${0##*/}: the machine is $busy% busy; waiting for it to calm down"
	done
	say "${0##*/}: warning: still $busy% busy after $(( ${BENCH_QUIET_TRIES:-100} * 3 )) s; measuring anyway"
}

# Other people's work on the machine skews every figure.  CPU time the
# whole machine spent busy, less what this script and everything it
# started used (all of it is reaped by then, so it is in our children's
# times), is what others used.  bench_phase_begin starts a phase;
# bench_phase_end sets BENCH_OTHERS to what others used since, % of the
# machine.  Call it in the script's shell, not in $(...): what that
# shell reaped is ours.
BENCH_HZ=$(getconf CLK_TCK)
bench_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
bench_our_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
bench_phase_begin() { PB_BUSY=$(bench_busy_ticks) PB_OURS=$(bench_our_ticks) PB_T=$(date +%s%N); }
bench_phase_end() {
	local other=$(( $(bench_busy_ticks) - PB_BUSY - ($(bench_our_ticks) - PB_OURS) ))
	local ns=$(( $(date +%s%N) - PB_T ))
	[ "$other" -lt 0 ] && other=0
	# shellcheck disable=SC2017	# whole percents are precise enough
	BENCH_OTHERS=$(( other * 1000000000 / BENCH_HZ * 100 / ns / $(nproc) ))
}

# bench_now_ms: the wall clock, epoch ms.
bench_now_ms() { date +%s%3N; }

# bench_sleep_until MS: sleep until the wall clock reads MS (epoch ms).
bench_sleep_until() {
	local d=$(( $1 - $(bench_now_ms) ))
	[ "$d" -gt 0 ] && sleep "$(( d / 1000 )).$(printf %03d $(( d % 1000 )))"
	return 0
}

# bench_cpu_ns PID: the CPU time PID (its main thread) has used so far,
# in ns.
bench_cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }

# bench_report TITLE [mem] [disk]: the head of the report on stdout (the
# raw results copied to RAWOUT first, with -o): TITLE, date and REV; the
# machine: CPUs, memory with "mem", kernel, the scratch dir's device and
# file system with "disk", load averages at the start and now.
bench_report() {
	local title=$1 a mem="" disk=""
	shift
	for a; do
		case $a in
		mem) mem=" $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," ;;
		disk) disk=" $(df -P "$T" | awk 'NR == 2 { print $1 }') ($(findmnt -n -o FSTYPE -T "$T" 2>/dev/null || echo ?));" ;;
		esac
	done
	[ -n "$RAWOUT" ] && cp "$RESULTS" "$RAWOUT"
	echo
	echo "$title: $(date -u +%Y-%m-%dT%H:%M:%SZ), revision $REV"
	echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)),$mem" \
	    "kernel $(uname -r);$disk load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
}
