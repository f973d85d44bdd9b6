#!/bin/bash
# events answers a page: 1000 events by default, at most 10000 and about
# 4 MiB, with "more" when there are others; "after" reads on from a page's
# last seq; a negative or absurd limit is refused.  swarmctl events reads
# every page, and --follow follows once it has caught up.
. "$(dirname "$0")/lib.sh"
printf '[store]\nsynchronous = normal\n' >>"$CONF"
start_daemon
f=$(job_file many '["'"$AGENTS"'/hang-agent"]' 1 '{"env":{"HANG_PIDFILE":"'"$T/pids"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 test -s "$T/pids" || fail "agent did not start"
pid=$(head -n 1 "$T/pids")
wait_until 10 sh -c "swarmctl events --job $job --json | grep -q hanging" || fail "first heartbeat"
envof() { tr '\0' '\n' <"/proc/$pid/environ" | sed -n "s/^$1=//p"; }
PYTHONPATH="$(dirname "$0")" python3 - "$SOCK" "$(envof SWARM_AGENT)" "$(envof SWARM_TOKEN)" <<'PY' || fail "paging"
import sys
from rawclient import Conn
path, agent, token = sys.argv[1:]
auth = {"agent": agent, "token": token}
c = Conn(path, timeout=60)
# 1100 heartbeats with the longest note (4.5 MB of data), 1500 short
# ones; a hundred requests at a time.
notes = ["%05d" % i + "n" * 4091 for i in range(1100)]
notes += ["beat %d" % i for i in range(1500)]
for b in range(0, len(notes), 100):
    for n in notes[b:b + 100]:
        c.send({"id": 1, "verb": "heartbeat", "args": {"note": n}, "auth": auth})
    for n in notes[b:b + 100]:
        assert c.line()["ok"]

def expect_bad(args, what):
    r = c.call("events", args)
    assert r.get("ok") is False and r["error"]["code"] == "bad_args", (what, r)
    assert "limit must be from 0 to 10000" in r["error"]["message"], (what, r)

expect_bad({"limit": -1}, "negative")
expect_bad({"limit": 10001}, "over the maximum")
expect_bad({"limit": 10 ** 15}, "absurd")

# The default: the newest 1000, and more (older ones).
r = c.call("events")
ev = r["events"]
assert r["ok"] and len(ev) == 1000 and r["more"] is True, (len(ev), r.get("more"))
assert ev[-1]["note"] == "beat 1499", ev[-1]
seqs = [e["seq"] for e in ev]
assert seqs == sorted(seqs), "oldest first"
newest = seqs[-1]

# Page through from the start: every event once, in order.
pages, got, after = 0, [], 0
while True:
    r = c.call("events", {"after": after, "limit": 10000})
    assert r["ok"], r
    pages += 1
    got += r["events"]
    if not r["more"]:
        break
    after = r["events"][-1]["seq"]
    assert pages < 100, "paging does not end"
seqs = [e["seq"] for e in got]
assert seqs == sorted(set(seqs)) and seqs[-1] == newest, "pages in order, no gaps"
assert len(got) > 2600, len(got)
# 4.5 MB of notes do not fit one page of 10000.
assert pages >= 2, pages
first = c.call("events", {"after": 0, "limit": 10000})["events"]
assert 900 < len(first) < 1100 and first[-1].get("note", "").endswith("n"), len(first)

# follow with a page short of the newest: answered, not followed; the
# connection takes the next request.
r = c.call("events", {"after": 0, "limit": 10, "follow": True})
assert r["ok"] and r["more"] is True and r["following"] is False, r
r = c.call("events", {"after": newest, "follow": True})
assert r["ok"] and r["events"] == [] and r["more"] is False and r["following"] is True, r
assert Conn(path).call("heartbeat", {"note": "after the follow"}, auth)["ok"]
line = c.line()
assert line["event"]["note"] == "after the follow", line
PY
total=$(swarmctl events --json | wc -l)
[ "$total" -gt 2600 ] || fail "swarmctl events printed $total events, not all"
assert_eq "$(swarmctl events --json | jsonl 'j["seq"]' | sort -n | uniq | wc -l)" "$total" "each event once"
assert_eq "$(swarmctl events | wc -l)" "$total" "the table too"
assert_eq "$(swarmctl events --limit 3 --json | jsonl 'j["note"]' | tr '\n' ' ')" \
	'beat 1498 beat 1499 after the follow ' "--limit: the newest"
swarmctl events --limit 20000 2>"$T/err"; assert_eq $? 1 "over the maximum"
assert_contains "$(cat "$T/err")" "limit must be from 0 to 10000"
swarmctl events --limit -1 2>/dev/null; assert_eq $? 2 "negative: usage"
# --follow prints every page, then follows.
swarmctl events --follow --json >"$T/follow" 2>&1 &
follower=$!
KILL_AT_EXIT="$KILL_AT_EXIT $follower"
wait_until 30 sh -c "[ \$(wc -l <'$T/follow') -ge $total ]" || fail "follow did not print the log"
swarmctl pause "$job" >/dev/null || fail "pause"
wait_until 10 grep -q '"job_paused"' "$T/follow" || fail "follow missed job_paused"
assert_eq "$(jsonl 'j["seq"]' <"$T/follow" | sort -n | uniq | wc -l)" "$(wc -l <"$T/follow")" "followed each event once"
swarmctl abort "$job" --grace 1 >/dev/null
wait_until 20 job_is "$job" aborted || fail "abort"
ok
