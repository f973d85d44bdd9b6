#!/bin/sh
# fuzz-ci.sh [SECONDS]: CI's fuzzing.  Every target of tests/fuzz runs for
# SECONDS (30) under ASan+UBSan (tools/fuzz.sh, which builds them with
# clang in build-fuzz); the last line counts them: "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/deps.sh
swarm_deps
secs=${1:-30}
ok=0
bad=0
for t in $(tools/fuzz.sh list); do
	if tools/fuzz.sh "$t" "$secs"; then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
	fi
done
echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
