#!/bin/sh
# demo.sh: install what is missing, build, and run a 20-chunk job of the
# bundled demo agent under a private swarmd, showing the live "swarmctl ps"
# and the final job summary.  Everything lives in a scratch directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/deps.sh
swarm_deps
swarm_build build

scratch=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-demo.XXXXXX")
export SWARM_SOCKET="$scratch/swarmd.sock"
export PATH="$top/build:$PATH"
cat >"$scratch/swarmd.conf" <<'CONF'
[spawn]
# The demo's agents end with it (by default they outlive swarmd).
stop_agents = yes
[quota]
window = 5h
window_tokens = 1000000
[prices]
claude-sonnet-4-5-20250929 = 3, 15, 3.75, 0.30
CONF
build/swarmd -f -c "$scratch/swarmd.conf" -s "$SWARM_SOCKET" -d "$scratch/state" \
	2>"$scratch/swarmd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; echo "scratch directory: $scratch"' EXIT INT TERM

# Wait (bounded) for the daemon to answer.
n=0
until swarmctl jobs >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 100 ] || { cat "$scratch/swarmd.log"; exit 1; }
	sleep 0.1
done

python3 - "$top" "$scratch" >"$scratch/job.json" <<'PY'
import json, sys
top, scratch = sys.argv[1], sys.argv[2]
tasks = ["triage issue #%d" % (340 + i) for i in range(20)]
print(json.dumps({
    "name": "demo-triage",
    "command": [top + "/tools/agents/demo-agent", "{task}"],
    "workdir": scratch,
    "env": {"PATH": top + "/build:/usr/local/bin:/usr/bin:/bin",
            "TMPDIR": scratch},
    "concurrency": 6,
    "stagger": {"batch": 3, "interval": 2},
    "timeout": 60,
    "chunks": [{"id": "issue-%d" % (340 + i), "task": t}
               for i, t in enumerate(tasks)],
}, indent=1))
PY
job=$(swarmctl submit "$scratch/job.json")
echo "submitted $job: 20 chunks, 6 at a time"

while :; do
	state=$(swarmctl show "$job" --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["state"])')
	echo "---- $(date +%T) swarmctl ps"
	swarmctl ps
	[ "$state" = running ] || break
	sleep 1
done
echo "---- swarmctl jobs"
swarmctl jobs
echo "---- swarmctl show $job"
swarmctl show "$job"
echo "---- swarmctl quota"
swarmctl quota
echo "---- last events"
swarmctl events --job "$job" --limit 8
