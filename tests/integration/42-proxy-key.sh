#!/bin/bash
# Two secrets per agent: the proxy key in its base URLs opens the proxy
# for that agent alone, SWARM_TOKEN its control verbs alone; neither is
# accepted in the other's place, and neither is stored or logged.
. "$(dirname "$0")/lib.sh"
start_fake
cat >>"$CONF" <<C
[proxy]
listen = 127.0.0.1:0
upstream = $UP
C
start_daemon
PROXY=$(swarmctl quota --json | json 'j["proxy"]')

cat >"$T/agent" <<'A'
#!/bin/sh
env >"$OUT/env.tmp" && mv "$OUT/env.tmp" "$OUT/env"
exec sleep 600
A
chmod +x "$T/agent"
job=$(swarmctl submit "$(job_file keys '["'"$T"'/agent"]' 1 '{"env":{"OUT":"'"$T"'"}}')")
wait_until 20 test -s "$T/env" || fail "agent did not start"
envof() { sed -n "s/^$1=//p" "$T/env"; }
agent=$(envof SWARM_AGENT)
token=$(envof SWARM_TOKEN)
base=$(envof ANTHROPIC_BASE_URL)
key=${base##*/a/}
case $key in [0-9a-f]*) [ ${#key} = 64 ] || fail "proxy key: $key" ;; *) fail "base URL: $base" ;; esac
[ "$key" != "$token" ] || fail "the proxy key is SWARM_TOKEN"
assert_eq "$(envof OPENAI_BASE_URL)" "http://$PROXY/a/$key/v1" "OpenAI base URL"

ask() {
	curl -sS -o "$T/body" -w '%{http_code}' -H "x-api-key: test" \
		-H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
		-d '{"model":"claude-sonnet-4-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}' \
		"http://$PROXY/a/$1/v1/messages"
}
# The proxy: its key works, SWARM_TOKEN does not.
assert_eq "$(ask "$key")" 200 "the proxy key at the proxy"
assert_eq "$(ask "$token")" 401 "SWARM_TOKEN at the proxy"
assert_contains "$(cat "$T/body")" "unknown agent token"
# The control socket: SWARM_TOKEN works, the proxy key does not.
SWARM_AGENT=$agent SWARM_TOKEN=$token swarmctl heartbeat --note token || fail "SWARM_TOKEN refused"
SWARM_AGENT=$agent SWARM_TOKEN=$key swarmctl heartbeat --note key 2>"$T/err" &&
	fail "the proxy key opened the control socket"
assert_contains "$(cat "$T/err")" "unauthorized"
notes=$(swarmctl events --job "$job" --json | jsonl 'j.get("note")' | grep -v null)
assert_eq "$notes" "token" "heartbeat notes"
# Only the one proxied request was metered, for this agent.
metered() { [ "$(swarmctl show "$agent" --json | json 'j["usage"]["records"]')" = 1 ]; }
wait_until 10 metered || fail "the proxied request was not metered once"

# Neither secret is kept in the state directory or the log.
swarmctl abort "$job" --grace 1 >/dev/null
wait_until 20 job_is "$job" aborted || fail "abort"
stop_daemon || fail "stop"
for s in "$token" "$key"; do
	grep -r -q -a "$s" "$STATE" "$T/swarmd.log" && fail "a secret found in state or log"
done
ok
