#!/bin/sh
# mutate.sh [NAME...]: break the daemon on purpose and check the suite
# notices.  Each tests/mutations/NAME.patch is one small change to src/
# (its first line says what it breaks; a line "Tests: T1 T2" names the
# meson tests that must catch it).  In a scratch copy of this tree, for
# each mutation: apply it, build, run its tests in the order named until
# one fails, revert.  "caught" when a test fails, "MISSED" when all pass;
# a patch that no longer applies or builds is an error too.  Prints a
# table, the score and the time taken; exits 0 only if
# every mutation was caught.  The tests named are first run once on the
# unbroken tree: one failing there would "catch" anything.  Run it before
# resolving an issue, not in every CI run (it rebuilds once per mutation).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
began=$(date +%s)
if [ $# -eq 0 ]; then
	set -- $(ls tests/mutations/*.patch | sed 's|.*/||; s|\.patch$||')
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-mutate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
chmod 755 "$scratch" # 06-auth runs swarmctl as uid 65534
# The tree as it is now, committed or not, without build directories.
git ls-files -co --exclude-standard | grep -v '^build' |
	tar -cf - -T - | tar -xf - -C "$scratch/" || exit 1
cd "$scratch"
echo "building a scratch copy in $scratch"
meson setup build >build.log 2>&1 || { tail -n 20 build.log; exit 1; }
# failed LOG: the tests that failed in a meson test log.
failed() {
	sed -n 's/^ *[0-9]*\/[0-9]* [^ ]* \/ \([^ ]*\) *\(FAIL\|TIMEOUT\|ERROR\).*/\1/p' "$1" |
		sort -u | tr '\n' ' '
}
# needs TEST...: the build's files those tests run (meson's depends), so
# that a mutation rebuilds them alone, not every target.
needs() {
	meson introspect build --tests --targets | python3 -c '
import json, os, sys
d, names = json.load(sys.stdin), set(sys.argv[1:])
files = {t["id"]: t["filename"] for t in d["targets"]}
out = {f for t in d["tests"] if t["name"] in names
       for i in t["depends"] for f in files.get(i, [])}
print(" ".join(sorted(os.path.relpath(f, "build") for f in out)))' "$@"
}
# first_failing TEST...: each test in turn, until one fails (status 1);
# 0 when none does.  A mutation's cheapest catcher is named first.
first_failing() {
	for t; do
		meson test -C build --no-rebuild --print-errorlogs "$t" || return 1
	done
	return 0
}
# First, unbroken: a test that fails already would "catch" anything.
all=$(for name in "$@"; do
	sed -n 's/^Tests: *//p' "$top/tests/mutations/$name.patch" | head -n1
done | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "unbroken: $all"
# Only what the tests named run: no fuzz targets, no unit test unnamed.
ninja -C build $(needs $all) >>build.log 2>&1 || { tail -n 20 build.log; exit 1; }
if ! meson test -C build --no-rebuild --print-errorlogs $all >base.log 2>&1; then
	echo "these fail on the unbroken tree: $(failed base.log)"
	grep -h '^FAIL' base.log | head -n 5
	exit 1
fi
# A test that skips here (a reason of the host) can catch nothing here.
skipped=$(sed -n 's/^ *[0-9]*\/[0-9]* [^ ]* \/ \([^ ]*\) *SKIP.*/\1/p' base.log | tr '\n' ' ')
[ -z "$skipped" ] || echo "skip on this host, so catch nothing here: $skipped"
caught=0 total=0 rows=""
for name in "$@"; do
	p=$top/tests/mutations/$name.patch
	total=$((total + 1))
	tests=$(sed -n 's/^Tests: *//p' "$p" | head -n1)
	if [ -z "$tests" ]; then
		result="ERROR: no Tests: line"
	elif t0=$(date +%s) && ! git apply "$p" 2>"$name.err"; then
		result="ERROR: does not apply"
	else
		if ! ninja -C build $(needs $tests) >"$name.log" 2>&1; then
			result="ERROR: does not build"
		elif first_failing $tests >>"$name.log" 2>&1; then
			result="MISSED"
		else
			by=$(failed "$name.log")
			why=$(grep -h -m1 -e '^FAIL' -e '^ERROR: ' -e '\[  ERROR   \]' "$name.log" | cut -c1-70)
			if [ -n "$by" ]; then
				result="caught by $by($why)"
				caught=$((caught + 1))
			else
				result="ERROR: tests did not run"
			fi
		fi
		git apply -R "$p" || { echo "cannot revert $name"; exit 1; }
		result="$result [$(($(date +%s) - t0)) s]"
	fi
	row=$(printf '%-24s %-36s %s' "$name" "$tests" "$result")
	echo "$row"
	rows="$rows$row
"
done
echo
printf '%-24s %-36s %s\n' MUTATION TESTS RESULT
printf '%s' "$rows"
echo "score: $caught of $total caught in $(( ($(date +%s) - began) / 60 )) min $(( ($(date +%s) - began) % 60 )) s"
[ "$caught" -eq "$total" ]
