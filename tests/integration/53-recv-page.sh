#!/bin/bash
# recv answers a page at a time: forty unread messages of 60 KiB each
# (2.4 MB) come as replies of about 1 MiB, each saying "more" until the
# last, every message once and in order; swarmctl recv fetches them all.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
until [ -e "$T/go" ]; do sleep 0.05; done
PYTHONPATH="$HERE" python3 - >"$T/pages" <<'PY' || exit 1
import os
from rawclient import Conn
auth = {"agent": os.environ["SWARM_AGENT"], "token": os.environ["SWARM_TOKEN"]}
c = Conn(os.environ["SWARM_SOCKET"])
r = c.call("recv", {}, auth)
assert r["ok"], r
print(len(r["messages"]), r.get("more", False))
PY
swarmctl recv >"$T/rest" || exit 1
A
chmod +x "$T/agent.sh"
f=$(job_file mail '["'"$T"'/agent.sh"]' 1 '{"env":{"T":"'"$T"'","HERE":"'"$(dirname "$0")"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 sh -c "swarmctl show $job/c0 --json | grep -q '\"agent\"'" || fail "the agent did not start"
agent=$(swarmctl show "$job/c0" --json | json 'j["agent"]')
for i in $(seq -w 40); do
	swarmctl send "$agent" "m$i $(head -c 61440 /dev/zero | tr '\0' 'x')" >/dev/null || fail "send $i"
done
touch "$T/go"
wait_until 30 job_is "$job" done || fail "the agent did not finish: $(cat "$T/agent.log" 2>/dev/null)"
assert_eq "$(count "$job" done)" 1 "the agent's reads succeeded: $(cat "$STATE"/logs/agent-*.log)"
# The first page: at least 1 MiB of text, so 18 of 60 KiB (17 is under).
assert_eq "$(cat "$T/pages")" "18 True" "the first page and its more flag"
assert_eq "$(cut -c1-3 "$T/rest" | tr '\n' ' ')" "$(seq -f 'm%02g' 19 40 | tr '\n' ' ')" "the rest, in order, once"
ok
