#!/bin/bash
# verify.sh: a staged install (meson install --destdir) puts every file
# where it belongs, and systemd-analyze verify accepts the units.
#
# Environment (set by tests/systemd/meson.build): BUILD, PREFIX, SBINDIR,
# BINDIR, MANDIR, UNITDIR, SYSUSERSDIR, TMPFILESDIR, SYSCONFDIR.
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-verify.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$BUILD" --destdir "$T/stage" --no-rebuild >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "meson install --destdir"; }

S=$T/stage
for f in "$SBINDIR/swarmd" "$SBINDIR/swarmd-shim" "$BINDIR/swarmctl"; do
	[ -x "$S$f" ] || fail "$f not installed"
done
for f in "$UNITDIR/swarmd.service" "$UNITDIR/swarmd.socket" \
    "$SYSUSERSDIR/swarmd.conf" "$TMPFILESDIR/swarmd.conf" \
    "$SYSCONFDIR/swarmd/swarmd.conf" "$MANDIR/man1/swarmctl.1" \
    "$MANDIR/man5/swarmd.conf.5" "$MANDIR/man7/swarmd-protocol.7" \
    "$MANDIR/man8/swarmd.8"; do
	[ -f "$S$f" ] || fail "$f not installed"
done
grep -q "^ExecStart=$SBINDIR/swarmd -f\$" "$S$UNITDIR/swarmd.service" ||
	fail "ExecStart does not name $SBINDIR/swarmd"

# A second install keeps an edited configuration.
echo "# edited" >>"$S$SYSCONFDIR/swarmd/swarmd.conf"
meson install -C "$BUILD" --destdir "$S" --no-rebuild >/dev/null 2>&1 ||
	fail "second meson install"
tail -n 1 "$S$SYSCONFDIR/swarmd/swarmd.conf" | grep -q "^# edited$" ||
	fail "a reinstall overwrote swarmd.conf"

# verify checks that ExecStart= exists, so point it at the staged binary;
# the rest of the units is verified as installed, man pages included.
mkdir "$T/units"
cp "$S$UNITDIR/swarmd.socket" "$T/units/"
sed "s|^ExecStart=$SBINDIR/|ExecStart=$S$SBINDIR/|" \
	"$S$UNITDIR/swarmd.service" >"$T/units/swarmd.service"
out=$(cd "$T/units" && MANPATH="$S$MANDIR" systemd-analyze verify --man=yes \
	"$T/units/swarmd.socket" "$T/units/swarmd.service" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (status $rc): $out"
echo "ok: staged install and systemd-analyze verify"
