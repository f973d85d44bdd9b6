"""proxy.py: the measuring half of bench/proxy.sh.

  proxy.py window WRK LUA URL SECONDS CONNS THREADS PID...
      one wrk window against URL; prints `name value` lines: requests/s,
      latency percentiles (ms), errors, and the CPU (% of one CPU) of
      each PID (the servers), of wrk, and of everything else on the
      machine meanwhile
  proxy.py table RESULTS_TSV RUNS
"""
import os
import re
import resource
import statistics
import subprocess
import sys

import report

HZ = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%s/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def machine_busy():
    """Busy and total CPU seconds of the whole machine so far: busy is
    user, nice, system, irq and softirq (a VM's steal is not ours)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / HZ, sum(v[:8]) / HZ


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cmd_window(wrk, lua, url, secs, conns, threads, *pids):
    p0 = [proc_cpu(p) for p in pids]
    b0, t0 = machine_busy()
    c0 = children_cpu()
    out = subprocess.run([wrk, "-t", threads, "-c", conns, "-d", secs + "s",
                          "--timeout", "5s", "-s", lua, url],
                         capture_output=True, text=True)
    c1 = children_cpu()
    b1, t1 = machine_busy()
    p1 = [proc_cpu(p) for p in pids]
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s" % out.stderr.strip())
    m = re.search(r"^WRK (.*)$", out.stdout, re.M)
    if m is None:
        raise RuntimeError("no figures from wrk: %s" % out.stdout)
    w = {k: float(v) for k, v in
         (kv.split("=") for kv in m.group(1).split())}
    wall = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + \
        w["timeout"]
    print("rps %.1f" % (w["requests"] / wall))
    for k in ("p50", "p90", "p99", "p999", "mean", "max"):
        print("%s %.3f" % (k, w[k] / 1000.0))
    print("errors %d" % errors)
    # CPU shares over the machine's own clock for the window.
    span = (t1 - t0) / os.cpu_count()
    ours = c1 - c0
    for i, p in enumerate(pids):
        print("cpu%d %.1f" % (i, (p1[i] - p0[i]) / span * 100))
        ours += p1[i] - p0[i]
    print("cpu_wrk %.1f" % ((c1 - c0) / span * 100))
    print("cpu_others %.1f" % (max(0.0, (b1 - b0) - ours) /
                               (t1 - t0) * 100))


# key, label, unit, format
ROWS = [
    ("direct.rps", "direct: requests/s", "req/s", "{:,.0f}"),
    ("proxy.rps", "proxied: requests/s", "req/s", "{:,.0f}"),
    ("ratio.rps", "  proxied / direct (same run)", "x", "{:.3f}"),
    ("direct.p50", "direct: p50 latency", "ms", "{:.3f}"),
    ("proxy.p50", "proxied: p50 latency", "ms", "{:.3f}"),
    ("added.p50", "  added p50 (same run)", "ms", "{:.3f}"),
    ("direct.p99", "direct: p99 latency", "ms", "{:.3f}"),
    ("proxy.p99", "proxied: p99 latency", "ms", "{:.3f}"),
    ("added.p99", "  added p99 (same run)", "ms", "{:.3f}"),
    ("direct.p999", "direct: p99.9 latency", "ms", "{:.3f}"),
    ("proxy.p999", "proxied: p99.9 latency", "ms", "{:.3f}"),
    ("direct.errors", "direct: errors (non-2xx, socket)", "n", "{:.0f}"),
    ("proxy.errors", "proxied: errors (non-2xx, socket)", "n", "{:.0f}"),
    ("direct.cpu0", "direct: fake upstream busy", "% CPU", "{:.0f}"),
    ("direct.cpu_wrk", "direct: wrk busy", "% CPU", "{:.0f}"),
    ("proxy.cpu0", "proxied: fake upstream busy", "% CPU", "{:.0f}"),
    ("proxy.cpu1", "proxied: swarmd busy", "% CPU", "{:.0f}"),
    ("proxy.cpu_wrk", "proxied: wrk busy", "% CPU", "{:.0f}"),
    ("direct.cpu_others", "direct: other processes", "% machine",
     "{:.0f}"),
    ("proxy.cpu_others", "proxied: other processes", "% machine",
     "{:.0f}"),
]


def cmd_table(path, runs):
    vals = {}
    with open(path) as f:
        for line in f:
            k, run, v = line.rstrip("\n").split("\t")
            vals.setdefault(k, {})[int(run)] = float(v)
    # Comparisons within each run, then their median.
    for run in vals.get("direct.rps", {}):
        d = {k: vals[k][run] for k in vals if run in vals[k]}
        if "proxy.rps" not in d:
            continue
        vals.setdefault("ratio.rps", {})[run] = d["proxy.rps"] / \
            d["direct.rps"]
        for p in ("p50", "p99"):
            vals.setdefault("added." + p, {})[run] = d["proxy." + p] - \
                d["direct." + p]
    rows = [("metric", "unit", "median", "min", "max", "n")]
    for key, label, unit, fmt in ROWS:
        v = list(vals.get(key, {}).values())
        if not v:
            continue
        rows.append((label, unit, fmt.format(statistics.median(v)),
                     fmt.format(min(v)), fmt.format(max(v)), str(len(v))))
    report.table(rows, (0, 1))
    print("\nmedian, min and max over %s runs; the ratio and the added "
          "latencies are taken within each run." % runs)


if __name__ == "__main__":
    cmds = {"window": cmd_window, "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        sys.exit("proxy.py: %s: %s" % (sys.argv[1], e))
