"""doc-examples.py: run every command line the README's sh blocks and the
man pages' EXAMPLES show, in order, against a private swarmd, so an
example that no longer works fails the suite.

The README's own "swarmd ... &" line starts the daemon (its paths moved
into the test's directory, the test's config added for a quick watchdog)
and its own job file is what "swarmctl submit job.json" submits (its
command and workdir replaced by the test's).  The ids an example names
(job-N, agent-N, job-N/CHUNK, esc-N) stand for the ones of the job the
block submitted, or of a job submitted for it.  Agent verbs run inside
an agent.  Lines that install or read the system (meson, systemctl,
journalctl, ...) are not run: a line of any other program fails, so a
new kind of example gets a place here.  Every wait has a deadline.

usage: doc-examples.py T SOCK STATE CONF FILE..."""
import json
import os
import re
import select
import shlex
import subprocess
import sys
import time

T, SOCK, STATE, CONF = sys.argv[1:5]
DOCS = sys.argv[5:]
WORK = os.path.join(T, "docs")
NOT_RUN = {"tools/demo.sh", "tools/test.sh", "meson", "systemd-sysusers",
           "systemd-tmpfiles", "systemctl", "usermod", "journalctl"}
AGENT_VERBS = {"heartbeat", "recv", "checkpoint", "done", "fail", "report"}
PATHS = {"/tmp/swarm.sock": SOCK, "/tmp/swarm-state": STATE,
         "/run/swarmd/swarmd.sock": SOCK}
failures = []


def fail(where, msg):
    failures.append("%s: %s" % (where, msg))
    print("FAIL: %s: %s" % (where, msg), file=sys.stderr)


def until(deadline_s, fn):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        r = fn()
        if r:
            return r
        time.sleep(0.05)  # poll interval, bounded by the deadline
    return fn()


def ctl(*args):
    r = subprocess.run(["swarmctl"] + list(args), capture_output=True,
                       text=True, timeout=30)
    return r.stdout if r.returncode == 0 else None


def ctl_json(*args):
    out = ctl(*args, "--json")
    return json.loads(out) if out is not None else None


# ---- extraction ----

def unroff(s):
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'),
                 ("\\e", "\\"), ("\\&", "")):
        s = s.replace(a, b)
    return s


def readme_examples(path):
    """(where, [(command, expected output lines)]) per sh block."""
    lines = open(path).read().split("\n")
    block, start = None, 0
    for i, line in enumerate(lines):
        if block is None and line.strip() == "```sh":
            block, start = [], i + 2
        elif block is not None and line.strip() == "```":
            yield "%s:%d" % (os.path.normpath(path), start), block
            block = None
        elif block is not None and line.strip():
            block.append((line, []))


def man_examples(path):
    """The EXAMPLES section's .nf/.EX blocks: "$ " starts a command (its
    indented lines continue it, the others are its output) unless no line
    has one, when each line is a command."""
    text = open(path).read().split("\n")
    inside, block, start = False, None, 0
    for i, line in enumerate(text):
        if line.startswith(".SH"):
            inside = line.strip() == ".SH EXAMPLES"
            continue
        if not inside:
            continue
        if line in (".nf", ".EX"):
            block, start = [], i + 2
        elif line in (".fi", ".EE") and block is not None:
            yield "%s:%d" % (os.path.normpath(path), start), parse_session(block)
            block = None
        elif block is not None:
            block.append(unroff(line))


def parse_session(lines):
    if not any(l.startswith("$ ") for l in lines):
        return [(l, []) for l in lines if l.strip()]
    out = []
    for l in lines:
        if l.startswith("$ "):
            out.append([l[2:], []])
        elif l[:1].isspace() and out and not out[-1][1]:
            out[-1][0] += "\n" + l
        elif out:
            out[-1][1].append(l)
    return [(c, o) for c, o in out]


# ---- the fixtures ----

AGENT = """#!/bin/sh
# A worker: says who it is, then waits for its job's finish file.
echo "working on $SWARM_CHUNK as $SWARM_AGENT"
while [ ! -e "%(w)s/finish-$SWARM_JOB" ]; do sleep 0.05; done
exec swarmctl done --summary finished
""" % {"w": WORK}

LINES_AGENT = """#!/bin/sh
# Runs the example's agent verbs, once the test says go, recording each
# line's exit status.
cd "%(w)s/agent-cwd" || exit 1
while [ ! -e "%(w)s/go" ]; do sleep 0.05; done
while IFS= read -r line; do
	sh -c "$line" >>"%(w)s/agent-out" 2>&1
	printf '%%s\\t%%s\\n' "$?" "$line" >>"%(w)s/agent-results"
done <"%(w)s/agent-lines"
""" % {"w": WORK}


def job_file(name, template=None, chunks=3):
    """NAME.json: a job of the worker, from the README's job file if given."""
    job = dict(template) if template else {
        "name": name,
        "chunks": [{"id": "c%d" % i, "task": "task %d" % i}
                   for i in range(chunks)]}
    job["command"] = [os.path.join(WORK, "agent.sh")]
    job["workdir"] = WORK
    path = os.path.join(WORK, name + ".json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def readme_job(path):
    text = open(path).read()
    m = re.search(r"A job file:\s*```json\n(.*?)```", text, re.S)
    return json.loads(m.group(1)) if m else None


class Scene:
    """The ids a block's examples stand for."""

    def __init__(self):
        self.job = None
        self.jobs = []  # every job the block submitted
        self.escs = {}

    def need_job(self, where):
        if self.job is None:
            self.job = ctl("submit", job_file("fixture")).strip()
            self.jobs.append(self.job)
            if not until(20, lambda: len(self.live()) >= 3):
                fail(where, "the fixture's agents did not start")
        return self.job

    def live(self):
        return ctl_json("ps", "--job", self.job) or []

    def agent(self):
        live = self.live() or ctl_json("ps", "--all", "--job", self.job)
        return live[0]["agent"] if live else "agent-0"

    def chunk(self):
        return ctl_json("show", self.job)["chunks"][0]["id"]

    def esc(self, name, where):
        """An open escalation of the block's job, one per name."""
        if name not in self.escs:
            used = set(self.escs.values())
            job = self.need_job(where)
            ok = until(30, lambda: [e["escalation"] for e in
                                    ctl_json("escalations") or []
                                    if e["escalation"] not in used and
                                    e["job"] == job])
            if not ok:
                fail(where, "no open escalation for %s" % name)
                return name
            self.escs[name] = ok[0]
        return self.escs[name]

    def map(self, cmd, where):
        def sub(m):
            word = m.group(0)
            if word.startswith("esc-"):
                return self.esc(word, where)
            job = self.need_job(where)
            if "/" in word:
                return "%s/%s" % (job, self.chunk())
            return job if word.startswith("job-") else self.agent()
        return re.sub(r"\besc-\d+\b|\bjob-\d+/[A-Za-z0-9._:-]+|"
                      r"\bjob-\d+\b|\bagent-\d+\b", sub, cmd)

    def finish(self):
        for job in self.jobs:
            open(os.path.join(WORK, "finish-" + job), "w").close()


# ---- running ----

def words(cmd):
    try:
        return shlex.split(cmd, comments=True)
    except ValueError:
        return cmd.split()


def moved(cmd):
    for a, b in PATHS.items():
        cmd = cmd.replace(a, b)
    return cmd


def start_daemon(cmd, where):
    cmd = moved(cmd).replace("swarmd ", "swarmd -c %s " % CONF, 1)
    subprocess.run(["bash", "-c", "exec 2>>%s/swarmd.log\n%s\necho $! >%s"
                    % (T, cmd, os.path.join(T, "daemon.pid"))], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    if not until(20, lambda: ctl("jobs") is not None):
        fail(where, "swarmd did not come up: " + cmd)


def run_follow(cmd, where):
    """A follower runs until it is stopped: it must print, and no error."""
    p = subprocess.Popen(["bash", "-c", "exec " + cmd],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def printed():
        return select.select([p.stdout], [], [], 0)[0] and \
            os.read(p.stdout.fileno(), 65536)

    got = until(20, printed)
    if p.poll() is None:
        p.terminate()
    p.wait(timeout=10)
    err = p.stderr.read().decode()
    if not got or err or p.returncode not in (0, -15):
        fail(where, "%s: printed nothing, or exit %s: %s"
             % (cmd, p.returncode, err.strip()))


def run_one(cmd, want, scene, where):
    argv = words(cmd)
    if not argv:
        return
    if argv[0] in NOT_RUN:
        return
    if argv[0] == "swarmd":
        return start_daemon(cmd, where)
    if argv[0] == "export":
        k, _, v = moved(cmd).split()[1].partition("=")
        os.environ[k] = v
        return
    if not cmd.startswith(("swarmctl ", "printf ")):
        return fail(where, "not run: %s (add it to doc-examples.py)" % cmd)
    m = re.search(r"\s+#\s.*$", cmd)
    comment = m.group(0) if m else ""
    cmd = scene.map(moved(cmd[:len(cmd) - len(comment)]), where)
    print("run: %s" % cmd.replace("\n", " "))
    verb = argv[1] if len(argv) > 1 else ""
    if "--follow" in argv or "-f" in argv:
        return run_follow(cmd, where)
    if verb == "wait":
        scene.finish()
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                       cwd=WORK, timeout=60)
    # A wait may see an example before it abort a chunk: exit 1, not 0.
    ok = (0, 1) if verb == "wait" else (0,)
    # A warning is no failure: the README's job names a model the
    # example's daemon (no [prices]) cannot price, and says so.
    errors = [l for l in r.stderr.splitlines()
              if not l.startswith("swarmctl: warning:")]
    if r.returncode not in ok or (errors and verb != "wait"):
        return fail(where, "%s: exit %d: %s"
                    % (cmd, r.returncode, r.stderr.strip()))
    if verb == "submit" and r.stdout.startswith("job-"):
        scene.job = r.stdout.strip()
        scene.jobs.append(scene.job)
        scene.escs = {}
    m = re.search(r"#\s*prints (\S+)", comment)
    if m and r.stdout.strip() != m.group(1):
        fail(where, "%s printed %r" % (cmd, r.stdout.strip()))
    if want and [json.loads(l) for l in r.stdout.splitlines()] != \
            [json.loads(l) for l in want]:
        fail(where, "%s printed %r, the page shows %r"
             % (cmd, r.stdout, want))


def run_agent_block(block, where):
    """The agent verbs run by an agent, after mail for recv is waiting."""
    os.makedirs(os.path.join(WORK, "agent-cwd"), exist_ok=True)
    for f in ("progress.md", "out.json"):
        with open(os.path.join(WORK, "agent-cwd", f), "w") as fh:
            fh.write("{}\n")
    with open(os.path.join(WORK, "agent-lines"), "w") as f:
        f.write("".join(c + "\n" for c, _ in block))
    path = os.path.join(WORK, "lines.json")
    with open(path, "w") as f:
        json.dump({"name": "agent-verbs",
                   "command": [os.path.join(WORK, "lines-agent.sh")],
                   "chunks": [{"id": "c0", "task": "the examples"}]}, f)
    job = ctl("submit", path).strip()
    print("run in %s: %s" % (job, "; ".join(c for c, _ in block)))
    if not until(20, lambda: ctl_json("ps", "--job", job)):
        return fail(where, "the agent did not start")
    ctl("send", job + "/c0", "mail for the example's recv")
    open(os.path.join(WORK, "go"), "w").close()
    results = os.path.join(WORK, "agent-results")
    if not until(60, lambda: os.path.exists(results) and
                 len(open(results).readlines()) == len(block)):
        return fail(where, "the agent's lines did not all run")
    for line in open(results):
        rc, cmd = line.rstrip("\n").split("\t", 1)
        if rc != "0":
            fail(where, "%s: exit %s in an agent: %s" % (
                cmd, rc, open(os.path.join(WORK, "agent-out")).read()))


def main():
    os.makedirs(WORK, exist_ok=True)
    for name, text in (("agent.sh", AGENT), ("lines-agent.sh", LINES_AGENT)):
        with open(os.path.join(WORK, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(WORK, name), 0o755)
    blocks = []
    for doc in DOCS:
        if doc.endswith(".md"):
            template = readme_job(doc)
            if template is None:
                fail(doc, "no job file after \"A job file:\"")
            job_file("job", template)
            blocks += readme_examples(doc)
        else:
            blocks += man_examples(doc)
    job_file("triage")
    n = 0
    for where, block in blocks:
        scene = Scene()
        cmds = [words(c) for c, _ in block]
        if cmds and all(len(w) > 1 and w[0] == "swarmctl" and
                        w[1] in AGENT_VERBS for w in cmds):
            run_agent_block(block, where)
            n += len(block)
            continue
        for cmd, want in block:
            run_one(cmd, want, scene, where)
            n += 1
        scene.finish()
    print("%d example lines in %d blocks; %d failed" % (n, len(blocks),
                                                         len(failures)))
    sys.exit(1 if failures else 0)


main()
