#!/bin/sh
# fuzz.sh TARGET|all SECONDS: build the libFuzzer targets of tests/fuzz
# (clang, ASan+UBSan, in build-fuzz unless FUZZ_BUILD names another) and
# run TARGET, or each in turn, for SECONDS on a scratch copy of its seed
# corpus (and of the inputs in tests/fuzz/regress), with its dictionary.  Exits non-zero on a crash and prints the input that crashed.
# The runs' corpora, logs and crashes stay in BUILD/fuzz-out/TARGET.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# The list of targets is tests/fuzz/meson.build's.
targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/fuzz/meson.build |
	tr -d "',")
if [ "${1:-}" = list ]; then
	echo $targets
	exit 0
fi
[ $# -eq 2 ] || {
	echo "usage: tools/fuzz.sh TARGET|all SECONDS, or tools/fuzz.sh list" >&2
	exit 2
}
target=$1
secs=$2
build=${FUZZ_BUILD:-build-fuzz}
if [ "$target" != all ] && ! echo " $targets " | grep -q " $target "; then
	echo "fuzz.sh: no target $target (targets: $targets)" >&2
	exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
		exit 1
fi
[ "$target" = all ] || targets=$target
for t in $targets; do
	set -- "$@" "tests/fuzz/fuzz-$t"
done
shift 2
ninja -C "$build" "$@" >"$build/fuzz-build.log" 2>&1 || {
	tail -n 30 "$build/fuzz-build.log"
	exit 1
}

# A slow input is one over 60 s: every input here takes milliseconds, and
# a loaded machine once stalled ASan's allocator 12 s in madvise().
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rc=0
for t in $targets; do
	out=$build/fuzz-out/$t
	rm -rf "$out"
	mkdir -p "$out/corpus" "$out/crash" "$out/tmp"
	# The seeds, and what once crashed it: mutate around old bugs too.
	cp tests/fuzz/corpus/"$t"/* "$out/corpus/"
	[ -d tests/fuzz/regress/"$t" ] && cp tests/fuzz/regress/"$t"/* "$out/corpus/"
	set --
	[ -f tests/fuzz/"$t".dict ] && set -- -dict=tests/fuzz/"$t".dict
	TMPDIR=$top/$out/tmp "$build/tests/fuzz/fuzz-$t" -max_total_time="$secs" \
		-timeout=60 -print_final_stats=1 -artifact_prefix="$out/crash/" \
		"$@" "$out/corpus" >"$out/log" 2>&1
	st=$?
	# The last status line: #RUNS DONE cov: N ft: N corp: N/SIZE ...
	last=$(grep -E '^#[0-9]+' "$out/log" | tail -n1)
	crash=$(ls "$out"/crash/* 2>/dev/null | head -n1)
	if [ "$st" -eq 0 ] && [ -z "$crash" ]; then
		echo "$t: ok, $secs s: $last"
	else
		echo "$t: FAILED (exit $st): $last"
		grep -E 'ERROR|runtime error|SUMMARY' "$out/log" | head -n5
		echo "$t: crash input: ${crash:-none written, see $out/log}"
		rc=1
	fi
done
exit $rc
