#!/bin/bash
# A SIGHUP whose configuration cannot be read or parsed (missing,
# unreadable, a FIFO or a directory in its place, a syntax error, a bad
# value) keeps the running configuration whole and logs the file and
# why; the daemon keeps serving, and a good file then applies.
. "$(dirname "$0")/lib.sh"
ROOT=0
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && ROOT=1
chmod 755 "$T"
# good GROUP TOKENS: a configuration with an operator group and a window.
good() {
	printf '[swarmd]\nsocket_mode = 0666\noperator_group = %s\n' "$1" >"$CONF"
	printf '[spawn]\nstagger_batch = 1000\nstagger_interval = 0\n' >>"$CONF"
	printf '[quota]\nwindow = 1h\nwindow_tokens = %s\n' "$2" >>"$CONF"
}
windows() { swarmctl quota --json | json '[(w["name"], w["limit"]) for w in j["windows"]]'; }
users_gid=$(getent group users | cut -d: -f3)
# nobody, a member of the group users only.
as_member() { setpriv --reuid=65534 --regid=65534 --groups="$users_gid" "$SWARMCTL" "$@"; }
good users 50000
start_daemon
assert_eq "$(windows)" '[["window", 50000.0]]' "window at start"
[ $ROOT = 0 ] || as_member jobs >/dev/null || fail "operator group member refused at start"

# reload_fails WHAT REASON: a SIGHUP logs an error naming the file and
# REASON, and the running values stay.
nth=0
reload_fails() {
	nth=$((nth + 1))
	kill -HUP "$DAEMON_PID"
	wait_until 10 sh -c "[ \$(grep -c 'keeping the running configuration' '$T/swarmd.log') -ge $nth ]" ||
		fail "$1: no error logged"
	line=$(grep 'keeping the running configuration' "$T/swarmd.log" | tail -n 1)
	assert_contains "$line" "reload failed: $CONF" "$1: the file named"
	assert_contains "$line" "$2" "$1: the reason"
	assert_eq "$(windows)" '[["window", 50000.0]]' "$1: window kept"
	[ $ROOT = 0 ] || as_member jobs >/dev/null || fail "$1: operator_group lost"
	grep -q "configuration reloaded" "$T/swarmd.log" && fail "$1: reloaded anyway"
	return 0
}
rm "$CONF"
reload_fails missing "No such file or directory"
if [ "$(id -u)" != 0 ]; then
	# root reads a mode 000 file all the same.
	good users 50000
	chmod 000 "$CONF"
	reload_fails unreadable "Permission denied"
	rm -f "$CONF"
fi
mkfifo "$CONF"
reload_fails fifo "not a regular file"
rm "$CONF"
mkdir "$CONF"
reload_fails directory "not a regular file"
rmdir "$CONF"
printf '[quota\nwindow_tokens = 1\n' >"$CONF"
reload_fails syntax "$CONF:1: syntax error"
printf '[quota]\nwindow_tokens = 1\nwindow = soon\n' >"$CONF"
reload_fails "bad value" '[quota] window: bad value "soon"'
swarmctl jobs >/dev/null || fail "daemon stopped serving"

# The file restored with new values: they apply.
good wheel 70000
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q "configuration reloaded" "$T/swarmd.log" || fail "good reload"
assert_eq "$(windows)" '[["window", 70000.0]]' "new window"
if [ $ROOT = 1 ]; then
	as_member jobs 2>"$T/err" && fail "old operator group still allowed"
	assert_contains "$(cat "$T/err")" "group wheel" "new operator group"
fi
ok
