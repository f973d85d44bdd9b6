#!/bin/sh
# format-check.sh: every C file is as clang-format leaves it.
set -eu
cd "$(dirname "$0")/.."
bad=0
for f in $(git ls-files '*.c' '*.h'); do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "clang-format: clean"
exit $bad
