"""benchlib.py: the measuring half of bench/run.sh.

run.sh owns the daemons and the processes; this file times things and
does the arithmetic.  Waiting and reading results talk to the control
socket directly (one connection, the cheap "jobs" verb), so that the
harness costs the daemon as little as possible while it is measured:
a swarmctl process per poll would steal CPU from a 2-core machine.
What is measured goes through swarmctl exactly as a user would run it.

  benchlib.py jobfile OUT NAME CONCURRENCY NCHUNKS CMD...
  benchlib.py wait SOCKET JOB TIMEOUT_S [INTERVAL_S]   -> state done total
  benchlib.py spawn SOCKET SWARMCTL JOBFILE TIMEOUT_S  -> seconds
  benchlib.py history SOCKET SWARMCTL JOBFILE NJOBS TIMEOUT_S -> seconds
  benchlib.py shell CMD                                 -> seconds
  benchlib.py hyperfine JSONFILE                -> median ms, CPU ms
  benchlib.py table RESULTS_TSV RUNS                    -> the report
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import report


class Conn:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.id = 0

    def raw_line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("swarmd closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def send(self, verb, args=None):
        self.id += 1
        req = {"id": self.id, "verb": verb}
        if args is not None:
            req["args"] = args
        self.s.sendall((json.dumps(req) + "\n").encode())

    def call(self, verb, args=None):
        self.send(verb, args)
        r = json.loads(self.raw_line())
        if not r.get("ok"):
            raise RuntimeError("%s: %s" % (verb, r.get("error")))
        return r


def ts_ms(ts):
    """RFC 3339 UTC with milliseconds -> epoch ms."""
    d = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=timezone.utc).timestamp() * 1000.0


def job_summary(c, job):
    for j in c.call("jobs")["jobs"]:
        if j["job"] == job:
            return j
    raise RuntimeError("no such job: " + job)


def wait_job(c, job, timeout, interval):
    end = time.monotonic() + timeout
    while True:
        j = job_summary(c, job)
        if j["state"] != "running":
            return j
        if time.monotonic() > end:
            raise RuntimeError("%s still running after %g s: %s" %
                               (job, timeout, json.dumps(j["counts"])))
        time.sleep(interval)


def cmd_jobfile(out, name, conc, n, *cmd):
    job = {"name": name, "command": list(cmd), "concurrency": int(conc),
           "chunks": [{"id": "c%d" % i, "task": "task %d" % i}
                      for i in range(int(n))]}
    with open(out, "w") as f:
        json.dump(job, f)


def cmd_wait(sock, job, timeout, interval="0.2"):
    c = Conn(sock)
    j = wait_job(c, job, float(timeout), float(interval))
    print(j["state"], j["counts"]["done"], j["total"], json.dumps(j["counts"]))


def cmd_spawn(sock, swarmctl, jobfile, timeout):
    """Seconds from just before `swarmctl submit` to the job_done event.

    The end is the daemon's own timestamp of job_done (ms resolution), so
    the poll interval adds nothing to the figure; it only decides how soon
    we notice.  Both clocks are this machine's CLOCK_REALTIME."""
    c = Conn(sock)
    t0 = time.time() * 1000.0
    p = subprocess.run([swarmctl, "submit", jobfile], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError("submit failed: %s" % p.stderr.strip())
    job = p.stdout.split()[0]
    j = wait_job(c, job, float(timeout), 0.05)
    seen = time.time() * 1000.0
    ev = c.call("events", {"job": job, "limit": 1})["events"][-1]
    if ev["event"] != "job_done":
        raise RuntimeError("last event of %s is %s" % (job, ev["event"]))
    if j["counts"]["done"] != j["total"]:
        raise RuntimeError("%s: not every chunk is done: %s" %
                           (job, json.dumps(j["counts"])))
    print("%s %.3f %.3f" % (job, (ts_ms(ev["ts"]) - t0) / 1000.0,
                            (seen - t0) / 1000.0))


def cmd_history(sock, swarmctl, jobfile, njobs, timeout):
    """Submit JOBFILE NJOBS times at once and wait for every job to end:
    seconds from the first submit to the last job_done."""
    c = Conn(sock)
    t0 = time.time() * 1000.0
    jobs = []
    for _ in range(int(njobs)):
        p = subprocess.run([swarmctl, "submit", jobfile],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("submit failed: %s" % p.stderr.strip())
        jobs.append(p.stdout.split()[0])
    end = time.monotonic() + float(timeout)
    while True:
        mine = [j for j in c.call("jobs")["jobs"] if j["job"] in jobs]
        if all(j["state"] != "running" for j in mine):
            break
        if time.monotonic() > end:
            raise RuntimeError("jobs still running after %s s" % timeout)
        time.sleep(0.5)
    if any(j["counts"]["done"] != j["total"] for j in mine):
        raise RuntimeError("not every chunk is done")
    last = max(ts_ms(c.call("events", {"job": j, "limit": 1})["events"][-1]
                     ["ts"]) for j in jobs)
    print("%.3f" % ((last - t0) / 1000.0))


def cmd_shell(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    print("%.3f" % (time.perf_counter() - t0))


def cmd_hyperfine(path):
    """Median wall ms, and the mean CPU ms (user + system) of the command."""
    with open(path) as f:
        r = json.load(f)["results"][0]
    print("%.3f %.3f" % (r["median"] * 1000.0,
                         (r["user"] + r["system"]) * 1000.0))


# metric -> (label, unit, target, higher is better)
METRICS = [
    ("hb.heartbeat", "heartbeat round trips/s, 50 agents", "rt/s", 20000, 1),
    ("hb.heartbeat.cpu", "  swarmd busy during the window", "% CPU", None,
     1),
    ("hb.hello", "  cmp: hello (no auth), same 50 agents", "rt/s", None, 1),
    ("hb.hello.cpu", "  swarmd busy during the window", "% CPU", None, 1),
    ("hb.echo", "  cmp: echo server, same 50 agents", "rt/s", None, 1),
    ("hb.echo.cpu", "  echo server busy during the window", "% CPU", None,
     1),
    ("spawn.swarmd", "spawn+reap 1000 `true`, concurrency 200", "s", 3, 0),
    ("spawn.observed", "  same, as seen by the poller (50 ms)", "s", None,
     0),
    ("spawn.cpu", "  swarmd CPU time used meanwhile", "s", None, 0),
    ("spawn.ramp", "  cmp: same job, default ramp (stagger_batch 4)", "s",
     None, 0),
    ("spawn.xargs", "  cmp: seq 1000 | xargs -P 200 -n 1 true", "s", None,
     0),
    ("ps.all", "swarmctl ps --all (1000 ended agents)", "ms", 10, 0),
    ("ps.all.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.all.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("ps.live", "swarmctl ps (same state: 0 live)", "ms", 10, 0),
    ("ps.live.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.live.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("ps.jobs", "  cmp: swarmctl jobs (same state: 1 job)", "ms", None, 0),
    ("ps.jobs.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.jobs.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("hist.spawn", "history: 100 jobs x 1000 `true`, all at once", "s",
     None, 0),
    ("ps.hist", "swarmctl ps (100,000 ended agents, 0 live)", "ms", 10, 0),
    ("ps.hist.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.hist.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("ps.hist_jobs", "  cmp: swarmctl jobs (same state: 100 jobs)", "ms",
     None, 0),
    ("ps.hist_jobs.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.hist_jobs.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("metrics.hist", "  cmp: GET /metrics by curl (same state)", "ms", None,
     0),
    ("metrics.hist.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("metrics.hist.client", "  curl CPU per call (user+sys)", "ms", None, 0),
    ("ps.live1000", "swarmctl ps (1000 live agents)", "ms", 10, 0),
    ("ps.live1000.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.live1000.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("ps.all_live1000", "swarmctl ps --all (1000 live agents)", "ms", 10,
     0),
    ("ps.all_live1000.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.all_live1000.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
    ("ps.jobs_live1000", "  cmp: swarmctl jobs (1000 live, 1 job)", "ms",
     None, 0),
    ("ps.jobs_live1000.cpu", "  swarmd CPU per call", "ms", None, 0),
    ("ps.jobs_live1000.client", "  swarmctl CPU per call (user+sys)", "ms", None,
     0),
]


def fmt(v, unit):
    if unit == "rt/s":
        return "{:,.0f}".format(v)
    if unit == "s":
        return "%.3f" % v
    if unit == "% CPU":
        return "%.0f" % v
    return "%.2f" % v


def cmd_table(path, runs):
    vals = report.read(path)
    rows = [("metric", "unit", "median", "min", "max", "n", "target",
             "vs target")]
    for key, label, unit, target, higher in METRICS:
        if key not in vals:
            continue
        v = vals[key]
        med = statistics.median(v)
        if target is None:
            tgt = ratio = ""
        else:
            tgt = ("%s %s" % (">=" if higher else "<=", fmt(target, unit)))
            r = med / target if higher else target / med
            ratio = "%.2fx %s" % (r, "MET" if r >= 1 else "MISSED")
        rows.append((label, unit, fmt(med, unit), fmt(min(v), unit),
                     fmt(max(v), unit), str(len(v)), tgt, ratio))
    report.table(rows, (0, 1, 6, 7))
    print("\nmedian, min and max are over %s runs; for the ps rows each run's "
          "figure is itself the median of its invocations." % runs)


if __name__ == "__main__":
    cmds = {"jobfile": cmd_jobfile, "wait": cmd_wait, "spawn": cmd_spawn,
            "history": cmd_history, "shell": cmd_shell, "hyperfine": cmd_hyperfine,
            "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, EOFError, subprocess.CalledProcessError) \
            as e:
        sys.exit("benchlib: %s" % e)
