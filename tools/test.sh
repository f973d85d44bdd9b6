#!/bin/sh
# test.sh [meson test options]: install what is missing, build, and run
# the whole suite (unit and integration).  SANITIZE=1 builds with
# AddressSanitizer and UBSan in build-asan instead.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/deps.sh
swarm_deps
swarm_claude
swarm_playwright
if [ "${SANITIZE:-0}" = 1 ]; then
	dir=build-asan
	swarm_build "$dir" -Db_sanitize=address,undefined -Db_lundef=false
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
	dir=build
	swarm_build "$dir"
fi
rc=0
meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP": skip += 1
    else: bad += 1
print("%d passed, %d failed, %d skipped" % (ok, bad, skip))
PY
exit $rc
