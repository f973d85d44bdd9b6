#!/bin/sh
# demo.sh: install what is missing, build, and tell the story swarmd exists
# for.  Thirty simulated agents (tools/sim-agent, real HTTP, retrying as an
# SDK does) share one account: a fake model API on loopback
# (tools/fake-upstream) whose token bucket is far too small for all of
# them at once.  They reach it through swarmd's metering proxy; swarmd
# staggers their start, pauses spawning at 80% of the account, paces and
# holds their requests, and no 429 reaches an agent.  No network; every
# file lives in a scratch directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tools/deps.sh
swarm_deps
swarm_build build

CHUNKS=30
CALLS=4       # API calls per agent
TPM=48000     # the account: tokens a minute (a bucket refilled 800/s)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/swarmd-demo.XXXXXX")
export SWARM_SOCKET="$scratch/swarmd.sock"
export PATH="$top/build:$PATH"
fake=""
daemon=""
trap 'kill $daemon $fake 2>/dev/null; wait $daemon $fake 2>/dev/null; echo "scratch directory: $scratch"' EXIT INT TERM

# wait_for N CMD...: poll CMD for up to N tenths of a second.
wait_for() {
	n=$1
	shift
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# The account: the fake model API with a tight per-minute token bucket.
printf '{"limits": {"tokens_per_minute": %d}, "cache": false}\n' $TPM >"$scratch/fake.json"
build/tools/fake-upstream -l 127.0.0.1:0 -c "$scratch/fake.json" >"$scratch/fake.out" 2>&1 &
fake=$!
wait_for 100 grep -q '^listening on ' "$scratch/fake.out" || { cat "$scratch/fake.out"; exit 1; }
upstream="http://$(sed -n 's/^listening on //p' "$scratch/fake.out")"

cat >"$scratch/swarmd.conf" <<CONF
[spawn]
# The demo's agents end with it (by default they outlive swarmd).
stop_agents = yes
[quota]
# swarmd knows the account's rate: spawning pauses at 80% of it.
tokens_per_minute = $TPM
[proxy]
listen = 127.0.0.1:0
upstream = $upstream
max_hold = 60s
CONF
build/swarmd -f -c "$scratch/swarmd.conf" -s "$SWARM_SOCKET" -d "$scratch/state" \
	2>"$scratch/swarmd.log" &
daemon=$!
wait_for 100 swarmctl jobs || { cat "$scratch/swarmd.log"; exit 1; }

python3 - "$top" "$scratch" $CHUNKS $CALLS >"$scratch/job.json" <<'PY'
import json, sys
top, scratch, chunks, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
print(json.dumps({
    "name": "demo-triage",
    # Each agent: CALLS calls of 400 input and 200 output tokens, a
    # heartbeat after each, retrying 429s as the SDKs do.
    "command": [top + "/build/tools/sim-agent", "-H", "-n", calls,
                "-i", "400", "-o", "200", "-p", "200"],
    "workdir": scratch,
    "env": {"PATH": top + "/build:/usr/local/bin:/usr/bin:/bin",
            "ANTHROPIC_API_KEY": "demo-key", "TMPDIR": scratch},
    "concurrency": chunks,
    "stagger": {"batch": 6, "interval": 2},
    "timeout": 300,
    "chunks": [{"id": "issue-%d" % (340 + i), "task": "triage issue #%d" % (340 + i)}
               for i in range(chunks)],
}, indent=1))
PY
job=$(swarmctl submit "$scratch/job.json")
need=$((CHUNKS * CALLS * 600))
echo "submitted $job: $CHUNKS agents x $CALLS calls = $need tokens against an account of $TPM a minute"
echo "(all at once they would need $((need * 100 / TPM))% of it; straight to the API, most would be refused)"

field() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
while :; do
	show=$(swarmctl show "$job" --json)
	state=$(echo "$show" | field 'j["state"]')
	echo "---- $(date +%T) $(echo "$show" | field '", ".join("%s %s" % (v, k) for k, v in j["counts"].items() if v)')"
	swarmctl quota | grep -v -e '^$' -e '^top consumers' -e '^AGENT' -e '^agent-'
	[ "$state" = running ] || break
	sleep 2
done

echo "---- swarmctl show $job"
swarmctl show "$job"
echo "---- spawn pauses and proxy backoffs on the way"
swarmctl events --json | python3 -c '
import json, sys
n = {}
for line in sys.stdin:
    e = json.loads(line)
    n[e["event"]] = n.get(e["event"], 0) + 1
for k in ("quota_paused", "quota_resumed", "proxy_hold"):
    print("%-14s %d" % (k, n.get(k, 0)))' || true
echo "---- summary"
python3 - "$scratch/state/logs" "$upstream" "$(swarmctl show "$job" --json)" "$(swarmctl quota --json)" <<'PY'
import glob, json, subprocess, sys, urllib.request
logs, upstream, show, quota = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
seen = failed = calls = 0
for path in glob.glob(logs + "/agent-*.log"):
    for line in open(path, errors="replace"):
        if line.startswith('{"summary"'):
            s = json.loads(line)
            seen += s["429s"]
            failed += s["failed"]
            calls += s["calls"]
stats = json.load(urllib.request.urlopen(upstream + "/_fake/stats"))
served = stats["tokens"]["input"] + stats["tokens"]["output"]
metered = 0
for ch in show["chunks"]:
    a = json.loads(subprocess.run(["swarmctl", "show", ch["agent"], "--json"],
                                  capture_output=True, check=True).stdout)
    metered += a["usage"]["input"] + a["usage"]["output"]
c = show["counts"]
print("chunks done:                 %d of %d" % (c.get("done", 0), sum(c.values())))
print("API calls made:              %d (%d failed)" % (calls, failed))
print("429s upstream sent swarmd:   %d (absorbed and retried inside swarmd)" % stats["status"].get("429", 0))
print("429s that reached agents:    %d" % seen)
print("tokens upstream served:      %d; metered by swarmd: %d" % (served, metered))
PY
