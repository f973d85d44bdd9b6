#!/bin/bash
# checkpoint stores a file's content with a note, text or binary; bad
# encodings are refused and store nothing; show job/CHUNK lists them.
. "$(dirname "$0")/lib.sh"
start_daemon
cat >"$T/agent.sh" <<'A'
#!/bin/sh
printf 'hello text\n' >"$T/text.txt"
head -c 299 /dev/urandom >"$T/bin.dat"; printf '\000' >>"$T/bin.dat"
swarmctl checkpoint --note "text file" --file "$T/text.txt" || exit 1
swarmctl checkpoint --note "binary file" --file "$T/bin.dat" || exit 1
swarmctl checkpoint --note "just a note" || exit 1
head -c 614400 /dev/zero | tr '\0' 'x' >"$T/big.dat"
swarmctl checkpoint --note "big file" --file "$T/big.dat" || exit 1
PYTHONPATH="$HERE" python3 - <<'PY' || exit 1
import os
from rawclient import Conn
auth = {"agent": os.environ["SWARM_AGENT"], "token": os.environ["SWARM_TOKEN"]}
c = Conn(os.environ["SWARM_SOCKET"])
r = c.call("checkpoint", {"data": "abc", "encoding": "rot13"}, auth)
assert r["error"]["code"] == "bad_args", r
r = c.call("checkpoint", {"data": "not*base64", "encoding": "base64"}, auth)
assert r["error"]["code"] == "bad_args", r
r = c.call("checkpoint", {"path": os.environ["T"] + "/big.dat", "sha256": "0" * 64}, auth)
assert r["error"]["code"] == "bad_args" and "sha256" in r["error"]["message"], r
r = c.call("checkpoint", {"data": "x" * 600000}, auth)
assert r["error"]["code"] == "bad_args" and "by path" in r["error"]["message"], r
PY
A
chmod +x "$T/agent.sh"
f=$(job_file ckpt '["'"$T"'/agent.sh"]' 1 '{"env":{"T":"'"$T"'","HERE":"'"$(dirname "$0")"'"}}')
job=$(swarmctl submit "$f")
wait_until 20 job_is "$job" done || fail "job did not finish"
assert_eq "$(count "$job" done)" 1 "agent checks passed"
assert_eq "$(swarmctl show "$job/c0" --json | json '[(c["note"], c["size"]) for c in j["checkpoints"]]')" \
	'[["text file", 11], ["binary file", 300], ["just a note", 0], ["big file", 614400]]' "checkpoints"
assert_eq "$(swarmctl events --job "$job" --json | grep -c '"checkpoint"')" 4 "checkpoint events"
assert_eq "$(swarmctl events --job "$job" --json | grep '"big file"' | jsonl 'j["path"]')" "$T/big.dat" "kept by path"
ok
