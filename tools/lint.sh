#!/bin/sh
# lint.sh: cppcheck over the C sources, the way the project keeps them
# clean.  sys/queue.h and jansson.h are given to cppcheck so it
# understands their macros.
set -eu
cd "$(dirname "$0")/.."
queue=$(echo /usr/include/*/sys/queue.h /usr/include/sys/queue.h | tr ' ' '\n' | while read -r f; do [ -f "$f" ] && echo "$f" && break; done)
cppcheck --quiet --error-exitcode=1 --inline-suppr \
	--enable=warning,performance,portability \
	--suppress=missingIncludeSystem \
	--include="$queue" --include=/usr/include/jansson.h \
	-Iinclude -Isrc/common -Isrc/swarmd -Isrc/swarmctl \
	src tools/fake-upstream tests/fuzz
echo "cppcheck: clean"
