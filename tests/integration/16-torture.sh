#!/bin/bash
# The torture test: a 200-chunk job whose agents run for random short
# times, some checkpointing and some writing their result just before
# exiting, while swarmd is killed with SIGKILL at random moments 25 times
# (and now and then an agent with it).  Afterwards every chunk is done
# exactly once, no chunk ran again after its result was written, every
# attempt that was cut off resumed from its chunk's latest checkpoint, and
# swarmd --check finds nothing wrong.
. "$(dirname "$0")/lib.sh"
printf '[retries]\ntransient = 5\nbackoff = 0.1\nbackoff_max = 0.5\n' >>"$CONF"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
# Each line is one write below PIPE_BUF, so lines never interleave.
log() { echo "$*" >>"$T/runs"; }
# swarmd may be down for a moment: try again, within bounds.
ctl() { n=0; until swarmctl "$@" >/dev/null 2>&1; do
	n=$((n + 1)); [ $n -lt 400 ] || return 1; sleep 0.05; done; }
rnd() { od -An -N1 -tu1 /dev/urandom | tr -d ' '; }
log "START $SWARM_CHUNK $SWARM_ATTEMPT $$ ${SWARM_RESUME:-0} $(cat "${SWARM_CHECKPOINT:-/dev/null}" 2>/dev/null)"
steps=$(( $(rnd) % 3 + 2 ))
i=1
while [ $i -le $steps ]; do
	sleep "0.$(( $(rnd) % 3 + 1 ))"
	if [ $(( $(rnd) % 2 )) = 0 ]; then
		echo "ckpt $SWARM_CHUNK attempt $SWARM_ATTEMPT step $i" >"$T/c.$$"
		ctl checkpoint --note "step $i" --file "$T/c.$$" &&
			log "CKPT $SWARM_CHUNK $$ ckpt $SWARM_CHUNK attempt $SWARM_ATTEMPT step $i"
		rm -f "$T/c.$$"
	fi
	i=$((i + 1))
done
echo "{\"chunk\": \"$SWARM_CHUNK\", \"steps\": $steps}" >"$SWARM_RESULT"
log "RESULT $SWARM_CHUNK $SWARM_ATTEMPT"
exit 0
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "torture", "command": ["$T/agent.sh"], "env": {"T": "$T"},
 "concurrency": 12,
 "result": {"schema": {"type": "object", "required": ["chunk", "steps"],
            "properties": {"steps": {"type": "integer"}}}},
 "chunks": [$(for i in $(seq 0 199); do printf '{"id":"k%d","task":"t"}%s' $i "$([ $i -lt 199 ] && echo ,)"; done)]}
J
job=$(swarmctl submit "$T/job.json") || fail "submit"
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
for round in $(seq 1 25); do
	pause="0.$(printf '%02d' $(( $(rnd) % 50 + 5 )))"
	sleep "$pause" # a random moment, not a wait for a state
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
	# Often an agent that has checkpointed dies with the daemon.
	if [ $(( $(rnd) % 3 )) != 0 ]; then
		victim=$(grep '^CKPT' "$T/runs" | tail -n 6 | shuf -n 1 | cut -d' ' -f3)
		# Only if that pid is still one of our agents, not a reused one.
		[ -n "$victim" ] && grep -qa "SWARM_SOCKET=$SOCK" "/proc/$victim/environ" 2>/dev/null &&
			kill -KILL "$victim" 2>/dev/null
	fi
	start_daemon
done
wait_until 120 job_is "$job" done || fail "job did not finish: $(swarmctl show "$job" --json | json 'j["counts"]')"
assert_eq "$(count "$job" done)" 200 "all done"
python3 - "$T/runs" <<'PY' || fail "run log"
import sys, collections
started = collections.defaultdict(list)
result_seen = set()
last_ckpt = {}
errors = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split(" ", 5)
    kind, chunk = f[0], f[1]
    if kind == "START":
        if chunk in result_seen:
            errors.append("%s started again after its result" % chunk)
        resume, content = f[4], f[5] if len(f) > 5 else ""
        if resume == "1" and chunk in last_ckpt and content != last_ckpt[chunk]:
            errors.append("%s resumed from [%s], latest was [%s]" % (chunk, content, last_ckpt[chunk]))
        if resume == "1" and chunk not in last_ckpt:
            errors.append("%s resumed without a checkpoint" % chunk)
        started[chunk].append(f[2])
    elif kind == "CKPT":
        last_ckpt[chunk] = line.rstrip("\n").split(" ", 3)[3]
    elif kind == "RESULT":
        result_seen.add(chunk)
missing = [c for c in ("k%d" % i for i in range(200)) if c not in result_seen]
if missing:
    errors.append("no result for %s" % missing[:5])
reruns = sum(len(v) - 1 for v in started.values())
resumed = sum(1 for l in open(sys.argv[1])
              if l.split(" ")[0] == "START" and l.split(" ")[4] == "1")
print("attempts beyond the first: %d; resumed from a checkpoint: %d" % (
    reruns, resumed))
if resumed == 0:
    errors.append("no attempt was cut off after a checkpoint: the test "
                  "exercised nothing")
for e in errors[:20]:
    print(e)
sys.exit(1 if errors else 0)
PY
# Each chunk completed exactly once in the record.
assert_eq "$(swarmctl events --job "$job" --json | jsonl 'j["event"] == "subagent_completed" and j.get("success") is True' | grep -c true)" 200 "one success per chunk"
stop_daemon || fail "stop"
"$SWARMD" --check "$STATE" >"$T/check" || fail "swarmd --check: $(cat "$T/check")"
assert_contains "$(cat "$T/check")" "0 inconsistencies"
ok
