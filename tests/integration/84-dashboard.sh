#!/bin/bash
# The web dashboard in a real browser: Debian's headless Chromium, driven
# over the DevTools protocol by playwright-core (dashboard.js, one step a
# call; the page stays open between them).  The page loads, shows a job
# progress as its agents finish and new events as they come, without a
# reload; after swarmd restarts it reconnects by itself and resumes the
# feed from Last-Event-ID: every event once, none missed.  With the
# operator token it shows the buttons.  It writes docs/dashboard.png
# when DASHBOARD_PNG names where.
. "$(dirname "$0")/lib.sh"

# Where tools/deps.sh (swarm_playwright) installs the pinned version.
PLAYWRIGHT_DIR=${PLAYWRIGHT_DIR:-$(. "$TOOLS/deps.sh" && echo "$SWARM_PLAYWRIGHT_DIR")}
export PLAYWRIGHT_DIR
if ! command -v chromium >/dev/null || ! command -v node >/dev/null ||
	[ ! -f "$PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" ]; then
	if [ "${SWARM_REQUIRE_CLIENTS:-0}" = 1 ]; then
		echo "FAIL: chromium, node or playwright-core missing (tools/deps.sh); SWARM_REQUIRE_CLIENTS=1 needs them"
		exit 1
	fi
	echo "SKIP: chromium, node or playwright-core missing (tools/deps.sh)"
	exit 77
fi
WEB=$(cd "$TOOLS/../web" && pwd)
DRIVER="$(dirname "$0")/dashboard.js"

head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$T/operator.token"
cat >>"$CONF" <<CONF
[quota]
window_tokens = 1000000
[http]
listen = 127.0.0.1:0
root = $WEB
operator_token_file = $T/operator.token
CONF
start_daemon
port=$(sed -n 's|.*dashboard on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/swarmd.log")
[ -n "$port" ] || fail "no dashboard address in the log"

# Its own profile, and nothing that reaches out to the network.
env -u SWARM_SOCKET setsid chromium --headless --no-sandbox --disable-gpu \
	--disable-quic --no-first-run --disable-background-networking \
	--disable-component-update --disable-sync --disable-dev-shm-usage \
	--user-data-dir="$T/chrome" --remote-debugging-port=0 about:blank \
	>/dev/null 2>"$T/chrome.err" &
CHROME=$!
KILL_AT_EXIT="$KILL_AT_EXIT $CHROME"
wait_until 60 grep -q 'DevTools listening on ws://' "$T/chrome.err" ||
	fail "chromium did not start: $(tail -5 "$T/chrome.err")"
cdp=$(sed -n 's|.*DevTools listening on ws://\(127.0.0.1:[0-9]*\)/.*|http://\1|p' "$T/chrome.err")
coproc DRV { node "$DRIVER" "$cdp" 2>>"$T/driver.err"; }
KILL_AT_EXIT="$KILL_AT_EXIT $DRV_PID"
# step STEP ARG...: one step in the browser; its answer, a JSON line.
step() {
	local line
	echo "$*" >&"${DRV[1]}"
	IFS= read -r -t 120 line <&"${DRV[0]}" ||
		fail "browser step $*: no answer: $(tail -3 "$T/driver.err")"
	case $line in '{"error"'*) fail "browser step $line" ;; esac
	echo "$line"
}

# Three agents that report some usage, then finish when told to (mail
# "quit").
cat >"$T/agent" <<AGENT
#!/bin/sh
swarmctl report --input \$((\${SWARM_AGENT#agent-} * 41000)) --output 9000 || exit 1
exec "$AGENTS/mailbox-agent" "$T/mail"
AGENT
chmod +x "$T/agent"
job=$(swarmctl submit "$(job_file watch '["'"$T"'/agent"]' 3)") || fail "submit"
wait_until 20 sh -c "[ \"\$(swarmctl ps --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 3 ]" ||
	fail "three agents did not start"
out=$(step open "http://127.0.0.1:$port/#operator=$(cat "$T/operator.token")" "$job")
assert_eq "$(echo "$out" | json 'j["operator"]')" true "the operator token was not taken"
out=$(step buttons)
assert_eq "$(echo "$out" | json 'j["abort"]')" 3 "abort buttons for 3 agents"

# A new event shows without a reload: mail to one agent.
a1=$(swarmctl ps --json | json 'j[0]["agent"]')
swarmctl send "$a1" "hello-from-the-test" >/dev/null || fail "send"
step event message_sent hello-from-the-test >/dev/null
step timeline "$a1" spawned heartbeat mail usage >/dev/null

# The job progresses as agents finish.
for n in 1 2; do
	a=$(swarmctl ps --json | json 'j[0]["agent"]')
	swarmctl send "$a" quit >/dev/null || fail "send quit"
	step done "$job" "$n" >/dev/null
done
[ -n "${DASHBOARD_PNG:-}" ] && step screenshot "$DASHBOARD_PNG" >/dev/null
a=$(swarmctl ps --json | json 'j[0]["agent"]')
swarmctl send "$a" quit >/dev/null || fail "send quit"
step done "$job" 3 >/dev/null
wait_until 20 job_is "$job" done || fail "the job did not finish"
# Its row counts what it cost, as swarmctl cost does (never 0 here).
tokens=$(swarmctl cost "$job" --json | json 'sum(j["total"][k] for k in ("input", "output", "cache_creation", "cache_read"))')
[ "${tokens:-0}" -gt 0 ] || fail "the job cost no tokens: $(swarmctl cost "$job")"
step tokens "$job" "$tokens" >/dev/null

# swarmd restarts: the page notices, reconnects by itself, and is sent
# what it missed (Last-Event-ID), then what comes next.
stop_daemon || fail "stop"
step down >/dev/null
sed -i "s|^listen = 127.0.0.1:0|listen = 127.0.0.1:$port|" "$CONF"
start_daemon
job2=$(swarmctl submit "$(job_file after '["true"]' 2)") || fail "submit after restart"
wait_until 20 job_is "$job2" done || fail "$job2 did not finish"
step live >/dev/null
step done "$job2" 2 >/dev/null
swarmctl events --json --limit 10000 | jsonl 'j["seq"]' >"$T/seqs" || fail "events"
last=$(tail -1 "$T/seqs")
# Every event from the page's first on, once each, in order.
out=$(step seen "$last")
echo "$out" | python3 -c 'import json, sys
seen = json.load(sys.stdin)
log = [int(l) for l in open(sys.argv[1])]
want = [s for s in log if s >= seen["seen"][0]]
assert seen["dups"] == 0, "events sent twice: %d" % seen["dups"]
assert seen["seen"] == want, "page saw %s, the log holds %s" % (seen["seen"], want)' "$T/seqs" ||
	fail "the page's events are not the log's"
kill -TERM -- -"$CHROME" 2>/dev/null
ok
