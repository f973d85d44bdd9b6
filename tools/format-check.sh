#!/bin/sh
# format-check.sh: every C file is as clang-format leaves it.  One
# clang-format for all files (one per file took over 30 s on a loaded
# machine); its complaints name the files.  The files are git's, or
# outside a checkout (a release tarball) every .c and .h but build dirs;
# finding none is an error, never "clean".
set -eu
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	files=$(find . \( -name 'build*' -o -name '.git' \) -prune -o \
		\( -name '*.c' -o -name '*.h' \) -print | sort)
fi
[ -n "$files" ] || { echo "clang-format: no C files found"; exit 1; }
out=$(echo "$files" | xargs clang-format --dry-run --Werror 2>&1) && {
	echo "clang-format: clean ($(echo "$files" | wc -l) files)"
	exit 0
}
echo "$out" | sed -n 's/^\([^:]*\.[ch]\):[0-9]*:[0-9]*: .*/not formatted: \1/p' | sort -u
exit 1
