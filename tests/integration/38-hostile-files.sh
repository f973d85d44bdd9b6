#!/bin/bash
# Files an agent names that are not files to read: a checkpoint path that
# is a directory, a FIFO, /dev/zero, a symbolic link or over [store]
# file_max, and done --result naming a FIFO, a directory, a device or a
# file over [store] result_max.
# Each is refused at once with a clear error, stores nothing, and the
# daemon keeps serving others.  A result contract whose file is a FIFO at
# exit fails its chunk cleanly.
. "$(dirname "$0")/lib.sh"
cat >>"$CONF" <<C
[store]
file_max = 4M
result_max = 1K
[retries]
schema = 0
C
start_daemon
# Every client call has a deadline: an event loop held by a file must
# fail the test, not hang it.
sc() { timeout 10 "$SWARMCTL" "$@"; }
state_is() { [ "$(sc show "$1" --json | json 'j["state"]')" = "$2" ]; }

cat >"$T/agent.sh" <<'A'
#!/bin/sh
if [ "$SWARM_CHUNK" = fiforesult ]; then
	rm -f "$SWARM_RESULT"
	mkfifo "$SWARM_RESULT" || exit 1
	exit 0
fi
PYTHONPATH="$HERE" python3 - 2>"$T/files.err" <<'PY' || exit 1
import hashlib, os, time
from rawclient import Conn

T = os.environ["T"]
sock = os.environ["SWARM_SOCKET"]
auth = {"agent": os.environ["SWARM_AGENT"], "token": os.environ["SWARM_TOKEN"]}
zero = "0" * 64
log = open(T + "/files.log", "w")


def serving():
    """Another client is answered within a deadline (hello: an agent's
    process may not use operator verbs)."""
    r = Conn(sock, timeout=10).call("hello")
    assert r.get("ok") is True, ("hello did not answer", r)


def refused(verb, args, code, want, c=None):
    c = c or Conn(sock, timeout=10)
    t0 = time.monotonic()
    r = c.call(verb, args, auth)
    took = time.monotonic() - t0
    assert r.get("ok") is False and r["error"]["code"] == code, (args, r)
    assert want in r["error"]["message"], (want, r)
    assert took < 5, ("answered late", args, took)
    serving()
    print(verb, "->", r["error"]["message"], file=log, flush=True)


os.mkdir(T + "/dir")
os.mkfifo(T + "/fifo")
with open(T + "/big", "wb") as f:
    f.truncate(4 * 1024 * 1024 + 1)
with open(T + "/ok.bin", "wb") as f:
    f.write(os.urandom(3 * 1024 * 1024 + 17))
with open(T + "/ok.bin", "rb") as f:
    good = hashlib.sha256(f.read()).hexdigest()
os.symlink(T + "/ok.bin", T + "/link")

# The FIFO: the daemon answers at once, and serves others meanwhile.
c = Conn(sock, timeout=10)
c.send({"id": 1, "verb": "checkpoint", "auth": auth,
        "args": {"path": T + "/fifo", "sha256": zero}})
serving()
r = c.line()
assert r["error"]["message"].endswith("fifo is a FIFO, not a regular file"), r
refused("checkpoint", {"path": T + "/dir", "sha256": zero}, "bad_args",
        "dir is a directory, not a regular file")
refused("checkpoint", {"path": "/dev/zero", "sha256": zero}, "bad_args",
        "/dev/zero is a character device, not a regular file")
refused("checkpoint", {"path": T + "/big", "sha256": zero}, "bad_args",
        "big: 4194305 bytes is over [store] file_max (4194304)")
refused("checkpoint", {"path": T + "/link", "sha256": good}, "bad_args",
        "link is a symbolic link, not a regular file")
refused("checkpoint", {"path": T + "/ok.bin", "sha256": zero}, "bad_args",
        "ok.bin does not match its sha256")

# A client that leaves while its file is hashed costs nothing.
gone = Conn(sock, timeout=10)
gone.send({"id": 1, "verb": "checkpoint", "auth": auth,
           "args": {"path": T + "/ok.bin", "sha256": good,
                    "note": "abandoned"}})
gone.close()
serving()

# The same file by its own path, with its hash, is kept.
r = Conn(sock, timeout=10).call(
    "checkpoint", {"path": T + "/ok.bin", "sha256": good, "note": "by path"},
    auth)
assert r.get("ok") is True and r["checkpoint"] > 0, r

# done --result that is no file to read: invalid_result, nothing recorded.
for path, want in ((T + "/fifo", "is a FIFO"), (T + "/dir", "is a directory"),
                   ("/dev/zero", "is a character device")):
    refused("done", {"result": path}, "invalid_result",
            path + " " + want + ", not a regular file")
with open(T + "/long.json", "w") as f:
    f.write("[" + "0," * 1000 + "0]")
refused("done", {"result": T + "/long.json"}, "invalid_result",
        "long.json: 2003 bytes is over [store] result_max (1024)")
open(T + "/files.ok", "w").close()
PY
echo '{"done": true}' >"$SWARM_RESULT"
exit 0
A
chmod +x "$T/agent.sh"
cat >"$T/job.json" <<J
{"name": "hostile", "command": ["$T/agent.sh"],
 "env": {"T": "$T", "HERE": "$(dirname "$0")"},
 "result": {"path": "out/{chunk}.json", "schema": {"type": "object"}},
 "workdir": "$T",
 "chunks": [{"id": "files", "task": ""}, {"id": "fiforesult", "task": ""}]}
J
job=$(sc submit "$T/job.json") || fail submit
wait_until 60 state_is "$job" done ||
	fail "job did not finish: $(cat "$T/files.err" 2>/dev/null)"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "swarmd died"
[ -e "$T/files.ok" ] || fail "agent checks: $(cat "$T/files.err")"
assert_eq "$(sc show "$job/files" --json | json 'j["state"]')" done "files"

# Nothing stored but the one good checkpoint (and maybe the abandoned one,
# if its hash ended before its client's close was seen).
assert_eq "$(sc show "$job/files" --json | json '[(c["note"], c["size"]) for c in j["checkpoints"] if c["note"] != "abandoned"]')" \
	'[["by path", 3145745]]' "checkpoints"
assert_eq "$(sc events --job "$job" --json | grep '"subagent_completed"' | grep -c '"files"')" 1 "one completion"

# The FIFO left as the result at exit: the chunk fails, nothing hangs.
assert_eq "$(sc show "$job/fiforesult" --json | json 'j["state"]')" dead "fiforesult"
assert_contains "$(sc show "$job/fiforesult" --json | json 'j["reason"]')" \
	"fiforesult.json is a FIFO, not a regular file"
sc jobs >/dev/null || fail "daemon stopped serving"
ok
