#!/bin/bash
# A job runs every chunk once, never above its concurrency, and records
# dispatch and completion events for each.
. "$(dirname "$0")/lib.sh"
start_daemon
runs="$T/runs"
f=$(job_file run '["'"$AGENTS"'/heartbeat-agent","2","'"$runs"'"]' 10 '{"concurrency":3}')
job=$(swarmctl submit "$f") || fail "submit"
assert_eq "$job" "job-1" "job id"
wait_until 30 job_is "$job" done || fail "job did not finish"
assert_eq "$(count "$job" done)" 10 "done count"
assert_eq "$(wc -l <"$runs")" 10 "runs"
assert_eq "$(sort -u "$runs" | cut -d' ' -f1 | sort -u | wc -l)" 10 "distinct chunks"

# Never more than 3 agents alive at once: replay starts and ends.
swarmctl ps --all --json | json '
max((lambda ev: [sum(d for t, d in ev[:i + 1]) for i in range(len(ev))])(
    sorted([(a["started"], 1) for a in j] + [(a["ended"], -1) for a in j],
           key=lambda x: (x[0], x[1]))))' >"$T/peak"
[ "$(cat "$T/peak")" -le 3 ] || fail "peak concurrency $(cat "$T/peak") > 3"

swarmctl events --job "$job" --json >"$T/events"
assert_eq "$(grep -c '"event": *"subagent_dispatched"' "$T/events")" 10 dispatched
assert_eq "$(grep -c '"event": *"subagent_completed"' "$T/events")" 10 completed
grep '"subagent_completed"' "$T/events" | jsonl 'j["success"] is True and j["output_file"] is not None and j["agent"].startswith("agent-") and j["chunk_id"].startswith("c")' | grep -qv '^true$' && fail "completion fields"
assert_eq "$(must swarmctl pending)" "" "pending after done"
# agent names: agent-1 .. agent-10, each once
assert_eq "$(swarmctl ps --all --json | json '",".join(sorted(a["agent"] for a in j))')" \
	"$(for i in 1 10 2 3 4 5 6 7 8 9; do printf 'agent-%s,' $i; done | sed 's/,$//')" "agent names"
# A ps row is its agent's AGENT object, cut to the fields a listing needs.
swarmctl ps --all --json >"$T/ps"
for a in $(json '" ".join(a["agent"] for a in j)' <"$T/ps"); do
	swarmctl show "$a" --json
done | python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
shown = [json.loads(l) for l in sys.stdin]
keys = ["agent", "job", "chunk", "attempt", "state", "pid", "started", "last_seen", "ended", "end"]
bad = [r for r, s in zip(rows, shown) if list(r) != keys or r != {k: s[k] for k in keys}]
sys.exit(1 if bad or len(rows) != 10 else 0)' "$T/ps" || fail "ps rows differ from show: $(head -c 400 "$T/ps")"
# heartbeat notes are events
grep -q '"note": *"beat 1"' "$T/events" || fail "heartbeat note event"
ok
