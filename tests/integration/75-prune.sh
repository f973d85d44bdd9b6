#!/bin/bash
# Retention: swarmctl prune.  A finished job past its age goes whole: its
# rows in every table and its files (agent log, result, checkpoint file,
# env file), and show says it is unknown.  A job with a queued chunk
# stays, and so does one whose worktree is kept (until clean removes it);
# a younger job stays for an older cutoff; a dry run says what would go
# and changes nothing; an agent is refused.  Ages are made testable with
# --older-than 0s, never by waiting.
. "$(dirname "$0")/lib.sh"
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m base
start_daemon

# rows JOB: its rows in each table, from the database itself.
rows() {
	python3 - "$STATE/swarmd.db" "${1#job-}" <<'P'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
j = int(sys.argv[2])
ag = "SELECT id FROM agents WHERE job = ?"
q = {"jobs": "SELECT count(*) FROM jobs WHERE id = ?",
     "chunks": "SELECT count(*) FROM chunks WHERE job = ?",
     "agents": "SELECT count(*) FROM agents WHERE job = ?",
     "events": "SELECT count(*) FROM events WHERE job = ?",
     "checkpoints": "SELECT count(*) FROM checkpoints WHERE job = ?",
     "messages": "SELECT count(*) FROM messages WHERE agent IN (%s)" % ag,
     "usage": "SELECT count(*) FROM usage WHERE job = ?"}
print(" ".join("%s=%d" % (k, db.execute(v, (j,)).fetchone()[0]) for k, v in sorted(q.items())))
P
}

# An old job: a checkpoint (inline, written out for nobody: none here),
# a message, its usage, a result file, an env file, a log.
cat >"$T/old.sh" <<'A'
#!/bin/sh
echo "output of $SWARM_AGENT"
echo state >"$T/ck.$SWARM_AGENT"
swarmctl checkpoint --note "half way" --file "$T/ck.$SWARM_AGENT" || exit 3
swarmctl report --input 10 --output 5 --model m || exit 4
echo '{"ok": true}' >"$SWARM_RESULT"
swarmctl done --summary finished || exit 5
A
chmod +x "$T/old.sh"
cat >"$T/old.json" <<J
{"name": "old", "command": ["$T/old.sh"], "env": {"SECRET_X": "x", "T": "$T"},
 "result": {}, "chunks": [{"id": "c1", "task": "x"}]}
J
old=$(swarmctl submit "$T/old.json") || fail "submit old"
wait_until 30 job_is "$old" done || fail "old did not end: $(swarmctl show "$old")"
oagent=$(swarmctl show "$old/c1" --json | json 'j["agent"]')
files=$(find "$STATE" -type f \( -name "${oagent}.*" -o -path "*/results/$old/*" -o -name "$old.json" \) | sort)
[ -n "$(echo "$files" | grep "$oagent.log")" ] || fail "no log for $oagent: $files"
[ -n "$(echo "$files" | grep "/results/$old/")" ] || fail "no result file: $files"
[ -n "$(echo "$files" | grep "secrets/$old.json")" ] || fail "no env file: $files"
before=$(rows "$old")
case "$before" in *"agents=1"*"checkpoints=1"*"events=0"*) fail "old job's rows: $before" ;; esac

# A job with a queued chunk: concurrency 1, the first chunk holds.  Its
# agent also tries prune, and is refused.
cat >"$T/hold.sh" <<'A'
#!/bin/sh
swarmctl prune --older-than 0s >"$T/agent-prune.out" 2>&1
echo $? >"$T/agent-prune.rc"
while [ ! -e "$T/go" ]; do sleep 0.05; done # until the test says; bounded by its cleanup
A
chmod +x "$T/hold.sh"
busy=$(swarmctl submit "$(job_file busy '["'"$T"'/hold.sh"]' 2 '{"concurrency": 1, "env": {"T": "'"$T"'"}}')") || fail "submit busy"
wait_until 20 test -s "$T/agent-prune.rc" || fail "the agent did not try prune"
[ "$(cat "$T/agent-prune.rc")" != 0 ] || fail "an agent pruned: $(cat "$T/agent-prune.out")"
grep -q "not operators" "$T/agent-prune.out" || fail "agent refused how? $(cat "$T/agent-prune.out")"
swarmctl show "$old" >/dev/null || fail "the agent's prune removed $old"

# A job whose worktree is kept: its agent commits (work not merged).
cat >"$T/wt.sh" <<'A'
#!/bin/sh
echo work >w.txt && git add w.txt && git commit -q -m work && swarmctl done
A
chmod +x "$T/wt.sh"
cat >"$T/wt.json" <<J
{"name": "wt", "command": ["$T/wt.sh"], "worktree": {"repo": "$T/repo", "base": "main"},
 "chunks": [{"id": "w1", "task": "x"}]}
J
kept=$(swarmctl submit "$T/wt.json") || fail "submit wt"
wait_until 30 job_is "$kept" done || fail "wt did not end: $(swarmctl show "$kept")"
kept_state() { [ "$(swarmctl worktrees "$kept" --json | json 'j[0]["state"]')" = kept ]; }
wait_until 30 kept_state || fail "worktree not kept: $(swarmctl worktrees)"

# An older cutoff than any job's age: nothing goes.
out=$(swarmctl prune --older-than 1h --json) || fail "prune 1h"
assert_eq "$(echo "$out" | json 'j["jobs"]')" 0 "prune --older-than 1h"
out=$(swarmctl prune --older-than 3650d --json) || fail "prune 3650d"
assert_eq "$(echo "$out" | json 'j["jobs"]')" 0 "prune --older-than 3650d"
assert_eq "$(rows "$old")" "$before" "rows after prune 1h"

# The dry run: what would go, and nothing changes.
out=$(swarmctl prune --older-than 0s --dry-run --json) || fail "dry run"
assert_eq "$(echo "$out" | json 'j["pruned"]')" "[\"$old\"]" "dry run's jobs"
[ "$(echo "$out" | json 'j["rows"]["events"] > 0 and j["rows"]["checkpoints"] == 1 and j["rows"]["agents"] == 1')" = true ] ||
	fail "dry run's rows: $out"
[ "$(echo "$out" | json 'j["bytes"] > 0 and j["files"] >= 2')" = true ] || fail "dry run's files: $out"
assert_eq "$(echo "$out" | json 'sorted(h["job"] for h in j["held"])')" "$(python3 -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:])))' "$busy" "$kept")" "held jobs"
text=$(swarmctl prune --older-than 0s --dry-run) || fail "dry run, text"
echo "$text" | grep -q "^would prune 1 job: " || fail "dry run's text: $text"
echo "$text" | grep -q "kept $kept: a worktree kept" || fail "dry run's text, kept: $text"
assert_eq "$(rows "$old")" "$before" "rows after the dry run"
for f in $files; do [ -f "$f" ] || fail "the dry run removed $f"; done
swarmctl show "$old" >/dev/null || fail "the dry run removed $old"

# The prune: the old job goes whole; the others stay.
out=$(swarmctl prune --older-than 0s --json) || fail "prune"
assert_eq "$(echo "$out" | json 'j["pruned"]')" "[\"$old\"]" "pruned"
# Its usage is younger than the quota window: the meter still counts it.
assert_eq "$(rows "$old")" "agents=0 checkpoints=0 chunks=0 events=0 jobs=0 messages=0 usage=1" "rows after prune"
for f in $files; do [ ! -e "$f" ] || fail "left after prune: $f"; done
[ ! -e "$STATE/results/$old" ] || fail "results/$old left"
err=$(swarmctl show "$old" 2>&1) && fail "show of a pruned job: $err"
echo "$err" | grep -q "no such job" || fail "show says: $err"
swarmctl logs "$oagent" >/dev/null 2>&1 && fail "logs of a pruned agent"
swarmctl show "$busy" >/dev/null || fail "prune removed $busy, which has a queued chunk"
assert_eq "$(count "$busy" queued)" 1 "busy's queued chunk"
swarmctl show "$kept" >/dev/null || fail "prune removed $kept, whose worktree is kept"
[ -d "$(swarmctl worktrees "$kept" --json | json 'j[0]["path"]')" ] || fail "the kept worktree is gone"
# Its events: job_pruned names it, prune_done counts.
evs=$(swarmctl events --type job_pruned --json | jsonl 'j["event"] + " " + j["pruned"]')
echo "$evs" | grep -q "^job_pruned $old$" || fail "no job_pruned event: $evs"
n=$(swarmctl events --type prune_done --json | jsonl 'j["jobs"]' | tail -n 1)
assert_eq "$n" 1 "prune_done's count"

# Discarded, its worktree removed: now the kept job goes too; the
# snapshot refs stay in git.
swarmctl clean --discard "$kept" >/dev/null || fail "clean --discard"
refs=$(git -C "$T/repo" for-each-ref --format='%(refname)' | grep -c "$kept" || true)
out=$(swarmctl prune --older-than 0s --json) || fail "prune after clean"
assert_eq "$(echo "$out" | json 'j["pruned"]')" "[\"$kept\"]" "pruned after clean"
assert_eq "$(git -C "$T/repo" for-each-ref --format='%(refname)' | grep -c "$kept" || true)" "$refs" "refs after prune"

# The busy job ends: its agents go, and it may go too.
: >"$T/go"
wait_until 30 job_is "$busy" done || fail "busy did not end"
out=$(swarmctl prune --older-than 0s --json) || fail "last prune"
assert_eq "$(echo "$out" | json 'j["pruned"]')" "[\"$busy\"]" "busy pruned once ended"
# Bad input: refused, nothing changes, swarmd serves on.
swarmctl prune --older-than yesterday >/dev/null 2>&1
assert_eq "$?" 2 "prune --older-than yesterday"
swarmctl jobs >/dev/null || fail "swarmd stopped serving"

# [store] keep: swarmd prunes on its own, a quarter of keep apart (here
# every second), once a job is older than keep.
stop_daemon || fail "stop"
printf '[store]\nkeep = 1s\n' >>"$CONF"
start_daemon
late=$(swarmctl submit "$(job_file late '["true"]' 1)") || fail "submit late"
gone() { ! swarmctl show "$late" >/dev/null 2>&1; }
wait_until 30 gone || fail "[store] keep did not prune $late: $(swarmctl jobs)"
swarmctl events --type job_pruned --json | grep -q "\"pruned\":\"$late\"" || fail "no job_pruned for $late"
