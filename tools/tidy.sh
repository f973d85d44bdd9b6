#!/bin/sh
# tidy.sh [BUILDDIR]: clang-tidy over the C sources with the checks in
# .clang-tidy and the flags in BUILDDIR/compile_commands.json (default
# build), two files at a time.  Fails if clang-tidy is not installed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
if ! command -v clang-tidy >/dev/null; then
	echo "clang-tidy: not installed (tools/deps.sh installs it)"
	exit 1
fi
if [ ! -f "$dir/compile_commands.json" ]; then
	echo "clang-tidy: no $dir/compile_commands.json (meson setup $dir)" >&2
	exit 1
fi
dir=$(cd "$dir" && pwd)
cd "$top"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One file per clang-tidy: a process given several files reports
# uninitialized va_lists after va_start (clang-tidy 14).  Each file's
# report goes to its own log so the two jobs do not interleave lines.
export TIDY_DIR="$dir" TIDY_OUT="$out"
printf '%s\0' src/*/*.c tools/fake-upstream/*.c tools/sim-agent/*.c bench/*.c \
    tests/fuzz/*.c |
    xargs -0 -P 2 -n 1 sh -c 'log="$TIDY_OUT/$(echo "$1" | tr / _).log"
	clang-tidy --quiet -p "$TIDY_DIR" "$1" >"$log" 2>&1 ||
	    echo "clang-tidy $1: exit $?" >>"$log"' tidy
bad=0
for f in "$out"/*.log; do
	# Drop the counts clang-tidy prints for what it did not report.
	if grep -v -E '^[0-9]+ warnings?( and [0-9]+ errors?)? generated\.$' \
	    "$f" >"$f.shown"; then
		cat "$f.shown"
		bad=1
	fi
done
[ $bad -eq 0 ] || exit 1
echo "clang-tidy: clean"
