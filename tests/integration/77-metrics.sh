#!/bin/bash
# The Prometheus endpoint ([metrics]): GET /metrics passes `promtool
# check metrics` and agrees with the state: the agents running, the
# chunks done, a job's tokens as the fake upstream served them, a 429 the
# proxy absorbed (and the time it held it, in the added-latency
# histogram).  on_proxy serves the same on the proxy's listener.  Bad
# input gets a clear HTTP answer and the daemon serves on: a wrong path
# (404), another method (405), a huge request (400), a client that stops
# mid-request (dropped after [metrics] timeout; others are served
# meanwhile).  After a restart the ended agents are counted from the
# store.  A listen address off loopback is refused unless allow_remote.
. "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool is not installed (tools/deps.sh: Debian's prometheus)"

start_fake
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
max_hold = 10s
[metrics]
listen = 127.0.0.1:0
on_proxy = yes
timeout = 1s
C

# Off loopback without allow_remote: refused at start, saying how.
printf '[metrics]\nlisten = 0.0.0.0:0\n' >"$T/remote.conf"
"$SWARMD" -f -c "$T/remote.conf" -s "$T/r.sock" -d "$T/rstate" 2>"$T/remote.err" &&
	fail "swarmd started with metrics on 0.0.0.0 and no allow_remote"
assert_contains "$(cat "$T/remote.err")" "allow_remote = yes" "the refusal says how"

start_daemon
wait_until 10 grep -q 'metrics listening on ' "$T/swarmd.log" || fail "no metrics listener"
M="http://$(sed -n 's/.*metrics listening on //p' "$T/swarmd.log" | head -1)"
PROXY=$(swarmctl quota --json | json 'j["proxy"]')
scrape() { curl -sS --max-time 10 "$M/metrics"; }
# metric NAME{LABELS}: its value in the latest scrape ($T/scrape).
metric() {
	awk -v w="$1" '$1 == w { print $2; found = 1 } END { exit !found }' "$T/scrape" ||
		fail "no sample $1 in the scrape"
}
# sum_of NAME PART: the sum of NAME's samples whose labels hold PART.
sum_of() {
	awk -v n="$1{" -v p="$2" 'index($1, n) == 1 && index($1, p) { s += $2 } END { printf "%d\n", s }' "$T/scrape"
}
check() { promtool check metrics <"$1" 2>&1 || fail "promtool: $(promtool check metrics <"$1" 2>&1)"; }

# Five chunks: two end at once, three wait with their base URL written.
f=$(job_file mixed '["sh", "-c", "case $SWARM_CHUNK in c0|c1) exit 0;; esac; echo \"$ANTHROPIC_BASE_URL\" >'"$T"'/url.$SWARM_CHUNK; exec sleep 600"]' 5)
job=$(swarmctl submit "$f")
running() { [ "$(swarmctl ps --json | json 'sum(a["state"] == "running" for a in j)')" = 3 ]; }
wait_until 20 running || fail "three agents did not start: $(swarmctl ps)"
wait_until 20 sh -c "[ \"\$(swarmctl show $job --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counts\"][\"done\"])')\" = 2 ]" ||
	fail "two chunks did not finish"
wait_until 10 test -s "$T/url.c2" || fail "c2 wrote no base URL"

scrape >"$T/scrape" || fail "the scrape failed"
check "$T/scrape"
assert_eq "$(metric 'swarmd_agents{state="running"}')" 3 "agents running"
assert_eq "$(metric 'swarmd_agents{state="exited"}')" 2 "agents exited"
assert_eq "$(metric "swarmd_chunks{swarm_job=\"$job\",state=\"done\"}")" 2 "chunks done"
assert_eq "$(metric "swarmd_chunks{swarm_job=\"$job\",state=\"running\"}")" 3 "chunks running"
assert_eq "$(metric swarmd_jobs_active)" 1 "jobs active"

# Tokens through the proxy, as the fake upstream served them.
BASE=$(cat "$T/url.c2")
post() {
	curl -sS -o "$T/post.out" -w '%{http_code}' -H "x-api-key: test" -H "anthropic-version: 2023-06-01" \
		-H "content-type: application/json" --max-time 20 \
		--data-binary '{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"fake:tokens 20 hi"}]}' \
		"$BASE/v1/messages"
}
stats() { curl -sS "$UP/_fake/stats"; }
assert_eq "$(post)" 200 "a request"
assert_eq "$(post)" 200 "another"
# A 429 from upstream, held and sent again: the agent sees a 200.
curl -sS -o /dev/null -d '{"fail": {"status": 429, "count": 1, "retry_after": 1}}' "$UP/_fake/faults"
assert_eq "$(post)" 200 "the 429 absorbed"
scrape >"$T/scrape"
check "$T/scrape"
read -r served_in served_out served_req <<<"$(stats | json '"%d %d %d" % (j["tokens"]["input"], j["tokens"]["output"], j["requests"])')"
[ "$served_in" -gt 0 ] && [ "$served_out" -gt 0 ] || fail "the fake served no tokens"
assert_eq "$(sum_of swarmd_tokens_total "swarm_job=\"$job\",model=\"claude-sonnet-4-5\",class=\"input\"")" \
	"$served_in" "input tokens of the job"
assert_eq "$(sum_of swarmd_tokens_total "swarm_job=\"$job\",model=\"claude-sonnet-4-5\",class=\"output\"")" \
	"$served_out" "output tokens of the job"
assert_eq "$(metric 'swarmd_proxy_429_absorbed_total{upstream="anthropic"}')" 1 "429s absorbed"
assert_eq "$(metric 'swarmd_proxy_requests_total{upstream="anthropic"}')" "$served_req" "requests sent upstream"
# Three requests, one held past its 1 s retry-after.
assert_eq "$(metric 'swarmd_proxy_added_latency_seconds_count{upstream="anthropic"}')" 3 "latencies observed"
assert_eq "$(metric 'swarmd_proxy_added_latency_seconds_bucket{upstream="anthropic",le="0.5"}')" 2 \
	"one request held over half a second"
[ "$(metric swarmd_store_commit_seconds_count)" -gt 0 ] || fail "no commit timed"
[ "$(metric swarmd_event_loop_lag_seconds_count)" -gt 0 ] || fail "no loop lag measured"

# The same on the proxy's listener.
code=$(curl -sS -o "$T/pscrape" -w '%{http_code}' --max-time 10 "http://$PROXY/metrics")
assert_eq "$code" 200 "metrics on the proxy's listener"
check "$T/pscrape"
grep -q '^swarmd_agents{state="running"} 3$' "$T/pscrape" || fail "the proxy's scrape differs"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -d x "http://$PROXY/metrics")
assert_eq "$code" 405 "POST /metrics on the proxy"

# Bad input: each answered clearly.
code=$(curl -sS -o "$T/nf" -w '%{http_code}' --max-time 10 "$M/nowhere")
assert_eq "$code" 404 "a wrong path"
assert_contains "$(cat "$T/nf")" "/metrics" "the 404 says where"
code=$(curl -sS -D "$T/h405" -o /dev/null -w '%{http_code}' --max-time 10 -d x "$M/metrics")
assert_eq "$code" 405 "POST"
grep -qi '^Allow: GET, HEAD' "$T/h405" || fail "no Allow header: $(cat "$T/h405")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X PATCH "$M/metrics")
assert_eq "$code" 405 "PATCH"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
	-H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)" "$M/metrics")
assert_eq "$code" 400 "a huge request"
# A client that stops mid-request: others are served meanwhile, and it
# is dropped after the 1 s timeout.
python3 - "${M#http://}" "$M/metrics" <<'PY' || fail "the slow client"
import socket, subprocess, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
t0 = time.monotonic()
r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                    "--max-time", "5", sys.argv[2]], capture_output=True, text=True)
if r.stdout != "200":
    sys.exit("a scrape beside the slow client: %r %r" % (r.stdout, r.stderr))
s.settimeout(10)
try:
    left = s.recv(4096)
except socket.timeout:
    sys.exit("the slow client was not dropped in 10 s")
took = time.monotonic() - t0
if took > 5:
    sys.exit("dropped after %.1f s, not after the 1 s timeout" % took)
PY
scrape >"$T/scrape" || fail "the daemon stopped serving metrics"
check "$T/scrape"
swarmctl jobs >/dev/null || fail "the control socket stopped serving"

swarmctl abort "$job" >/dev/null || fail "abort"
wait_until 30 job_is "$job" aborted || fail "the job did not end"
scrape >"$T/scrape"
assert_eq "$(metric 'swarmd_agents{state="killed"}')" 3 "agents killed"

# After a restart the ended agents are counted from the store.
stop_daemon || fail "swarmd did not stop cleanly"
: >"$T/swarmd.log"
start_daemon
wait_until 10 grep -q 'metrics listening on ' "$T/swarmd.log" || fail "no metrics listener after the restart"
M="http://$(sed -n 's/.*metrics listening on //p' "$T/swarmd.log" | head -1)"
scrape >"$T/scrape" || fail "no scrape after the restart"
assert_eq "$(metric 'swarmd_agents{state="exited"}')" 2 "agents exited, after a restart"
assert_eq "$(metric 'swarmd_agents{state="killed"}')" 3 "agents killed, after a restart"
assert_eq "$(metric 'swarmd_agents{state="running"}')" 0 "agents running, after a restart"
ok
