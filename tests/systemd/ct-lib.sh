# ct-lib.sh: what a test that boots systemd needs, as boot.sh does it:
# systemd as PID 1 of new namespaces (ct-init.sh) in a cgroup of the
# test's own, driven from outside with nsenter; swarmd installed into it
# as a package would be; everything killed and removed on exit.
#
# Needs root.  Environment: see verify.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-ct.XXXXXX")
UPID=""	# unshare, in our PID namespace
P=""	# the container's systemd, as we see it
CG=""	# the cgroup the container lives in

# wait_until TIMEOUT_S CMD...: poll CMD until it succeeds or the deadline passes.
wait_until() {
	local end=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -lt $end ] || return 1
		sleep 0.05 # poll interval, bounded by the deadline above
	done
}

# ct CMD...: run CMD inside the container (its PID, mount and cgroup
# namespaces), with a clean environment.
ct() {
	nsenter -t "$P" -p -m -C -- env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

fail() {
	echo "FAIL: $*" >&2
	if [ -n "$P" ] && kill -0 "$P" 2>/dev/null; then
		echo "--- systemctl status swarmd.socket swarmd:" >&2
		ct systemctl status --lines=0 swarmd.socket swarmd >&2
		echo "--- journal:" >&2
		ct journalctl -b --no-pager -n 80 >&2
	fi
	[ -s "$T/console.log" ] && { echo "--- console:" >&2; tail -n 20 "$T/console.log" >&2; }
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# A killed namespace's processes leave its cgroups a moment later.
cg_empty() { ! grep -q 'populated 1' "$1/cgroup.events"; }

# Power off if still up, then kill whatever is left of the namespace and
# remove its cgroups: nothing of the test may outlive it.
cleanup() {
	local rc=$? d
	trap - EXIT
	if [ -n "$UPID" ] && kill -0 "$UPID" 2>/dev/null; then
		[ -n "$P" ] && kill -KILL "$P" 2>/dev/null # kills the whole PID namespace
		kill -KILL "$UPID" 2>/dev/null
		wait "$UPID" 2>/dev/null
		[ $rc -eq 77 ] || rc=1
	fi
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		wait_until 10 cg_empty "$CG"
		for d in $(find "$CG" "$CG.unshare" -depth -type d 2>/dev/null); do
			rmdir "$d" 2>/dev/null || { echo "FAIL: cannot remove $d" >&2; rc=1; }
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# ct_boot: check we may, stage the install, boot systemd in its cgroup.
ct_boot() {
	local NS="--pid --fork --mount --mount-proc --cgroup --uts --ipc --net"
	local err prog cg2
	[ "$(id -u)" -eq 0 ] || skip "needs root to create PID and mount namespaces"
	err=$(unshare $NS true 2>&1) ||
		skip "the kernel refuses the namespaces (unshare $NS: $err)"
	for prog in /lib/systemd/systemd systemctl journalctl nsenter setpriv \
	    pivot_root findmnt; do
		command -v "$prog" >/dev/null || fail "$prog is missing (tools/deps.sh installs it)"
	done

	meson install -C "$BUILD" --destdir "$T/stage" --no-rebuild >"$T/install.log" 2>&1 ||
		{ cat "$T/install.log" >&2; fail "meson install --destdir"; }

	# A cgroup of our own, which becomes the container's cgroup root.
	cg2=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
	[ -n "$cg2" ] || fail "no cgroup2 hierarchy is mounted"
	CG="$cg2$(sed -n 's/^0:://p' /proc/self/cgroup)"
	CG="${CG%/}/swarmd-test.$$"
	mkdir "$CG" || fail "cannot create cgroup $CG"

	mkdir "$T/layers" "$T/root"
	(
		echo "$BASHPID" >"$CG/cgroup.procs" && exec unshare $NS "$HERE/ct-init.sh" "$T"
	) &
	UPID=$!
	wait_until 20 ct_pid || fail "systemd did not start in the namespace"
	# unshare waits outside the container but sat in its root cgroup,
	# where a process keeps systemd from enabling controllers below.
	mkdir "$CG.unshare" && echo "$UPID" >"$CG.unshare/cgroup.procs" ||
		fail "cannot move unshare out of $CG"
	wait_until 60 ct_booted || fail "the container's systemd did not finish booting"
}
ct_pid() {
	P=$(cat "/proc/$UPID/task/$UPID/children" 2>/dev/null | tr -d ' ')
	[ -n "$P" ] && [ "$(cat "/proc/$P/comm" 2>/dev/null)" = systemd ]
}
ct_booted() {
	case $(ct systemctl is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}

# ct_install: the staged install copied in, the user, /run/swarmd.
ct_install() {
	tar -C "$T/stage" -cf - . | ct tar -C / -xf - --no-overwrite-dir ||
		fail "copying the staged install into the container"
	ct systemd-sysusers swarmd.conf || fail "systemd-sysusers"
	ct systemd-tmpfiles --create swarmd.conf || fail "systemd-tmpfiles"
}

# ct_poweroff: power off and see that nothing is left.
ct_poweroff() {
	local procs
	ct systemctl poweroff 2>/dev/null
	wait_until 60 sh -c "! kill -0 $UPID" || fail "the container's systemd did not power off"
	wait "$UPID"
	UPID=""
	wait_until 10 cg_empty "$CG" ||
		fail "processes left in $CG: $(find "$CG" -name cgroup.procs -exec cat {} +)"
}
