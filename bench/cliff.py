"""cliff.py: the measuring half of bench/cliff.sh.

cliff.sh owns the processes; this file writes the job, reads what the
sim-agents wrote and does the arithmetic.  Each agent appends one JSON
line per call and a summary line to its own file (tools/sim-agent).

  cliff.py job OUT SIM_AGENT AGENTDIR CHUNKS [SIM-AGENT ARGS...]
  cliff.py analyze AGENTDIR T0_MS CHUNKS CALLS COST RATE FAKE_BEFORE FAKE_AFTER [DB]

COST is the tokens of one call, RATE the account's refill in tokens/s:
the physical limit is CHUNKS x CALLS x COST / RATE.  FAKE_BEFORE and FAKE_AFTER are the fake
upstream's /_fake/stats at the start and the end of the arm.
  cliff.py table RESULTS_TSV RUNS
"""
import glob
import json
import os
import sqlite3
import statistics
import sys

import report


def cmd_job(out, sim, adir, chunks, *args):
    """All chunks at once: concurrency = chunks, one stagger batch."""
    n = int(chunks)
    job = {"name": "cliff", "concurrency": n,
           "stagger": {"batch": n, "interval": 0},
           "command": [sim] + list(args) +
                      ["-w", os.path.join(adir, "{chunk}.jsonl")],
           "env": {"ANTHROPIC_API_KEY": "sk-ant-bench"},
           "chunks": [{"id": "c%02d" % i, "task": "chunk %d" % i}
                      for i in range(n)]}
    with open(out, "w") as f:
        json.dump(job, f)


def read_agents(adir, chunks):
    """Per chunk: its call lines and its summary (None: it never wrote
    one, so it died or never ran)."""
    res = {}
    for i in range(int(chunks)):
        calls, summary = [], None
        p = os.path.join(adir, "c%02d.jsonl" % i)
        if os.path.exists(p):
            with open(p) as f:
                for line in f:
                    j = json.loads(line)
                    if j.get("summary"):
                        summary = j
                    else:
                        calls.append(j)
        res[i] = (calls, summary)
    return res


def metered(db):
    if not db or not os.path.exists(db):
        return -1
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    n = c.execute("SELECT coalesce(sum(input + output + cache_creation), 0)"
                  " FROM usage").fetchone()[0]
    c.close()
    return n


def fake_counts(path):
    with open(path) as f:
        fs = json.load(f)
    t = fs["tokens"]
    return (t["input"] + t["output"] + t["cache_creation_input"],
            fs.get("rate_limited", 0))


def cmd_analyze(adir, t0, chunks, calls, cost, rate, before, after, db=""):
    """One arm's figures, as `name value` lines."""
    t0, ncalls, cost, rate = float(t0), int(calls), int(cost), float(rate)
    agents = read_agents(adir, chunks)
    lines = [c for calls_, _ in agents.values() for c in calls_]
    if not lines:
        raise RuntimeError("%s: no agent wrote a line" % adir)
    end = max(c["start_ms"] + c["ms"] for c in lines)
    first = min(c["start_ms"] for c in lines)
    ok = [c for c in lines if c["ok"]]
    failed_chunks = sum(1 for calls_, s in agents.values()
                        if s is None or s["ok"] != ncalls)
    b, a = fake_counts(before), fake_counts(after)
    served, n429 = a[0] - b[0], a[1] - b[1]
    if any(c["usage"]["input_tokens"] + c["usage"]["output_tokens"] != cost
           for c in ok):
        raise RuntimeError("%s: a call was not charged %d tokens" %
                           (adir, cost))
    limit = int(chunks) * ncalls * cost / rate
    makespan = (end - t0) / 1000.0
    out = [
        ("makespan", makespan),
        ("ratio", makespan / limit),
        ("first_call", (first - t0) / 1000.0),
        ("n429", sum(c["429s"] for c in lines)),
        ("n5xx", sum(c["5xx"] for c in lines)),
        ("nconn", sum(c["conn_errors"] for c in lines)),
        ("attempts", sum(c["attempts"] for c in lines)),
        ("calls_ok", len(ok)),
        ("calls_failed", len(lines) - len(ok)),
        ("calls_not_made", int(chunks) * ncalls - len(lines)),
        ("chunks_failed", failed_chunks),
        ("limit", limit),
        ("upstream_429", n429),
        ("served", served),
        ("util", served / (makespan * rate)),
        ("metered", metered(db)),
        ("p50_call_ms", statistics.median(c["ms"] for c in ok) if ok
         else 0),
        ("max_call_ms", max((c["ms"] for c in ok), default=0)),
    ]
    for k, v in out:
        print(k, v)


# key -> label, format; per arm
ROWS = [
    ("limit", "physical limit: tokens needed / refill (s)", "%.1f"),
    ("makespan", "makespan (s)", "%.1f"),
    ("ratio", "makespan / physical limit", "%.2f"),
    ("n429", "429s seen by agents", "%.0f"),
    ("calls_failed", "calls failed after retries", "%.0f"),
    ("chunks_failed", "chunks failed (of 60)", "%.0f"),
    ("calls_ok", "calls served (of 600)", "%.0f"),
    ("calls_not_made", "calls never made (agent gave up)", "%.0f"),
    ("attempts", "HTTP attempts by agents", "%.0f"),
    ("upstream_429", "429s the upstream answered", "%.0f"),
    ("n5xx", "5xx seen by agents", "%.0f"),
    ("nconn", "connection errors seen by agents", "%.0f"),
    ("first_call", "first call began after (s)", "%.2f"),
    ("p50_call_ms", "call time, median of served (ms)", "%.0f"),
    ("max_call_ms", "call time, longest served (ms)", "%.0f"),
    ("served", "tokens served by the upstream", "%.0f"),
    ("util", "served / (makespan x refill rate)", "%.2f"),
    ("metered", "tokens metered by swarmd", "%.0f"),
    ("others", "CPU other processes used (% machine)", "%.0f"),
]
ARMS = [("direct", "(a) all at once"), ("sem4", "(b) semaphore 4"),
        ("swarmd", "(c) swarmd proxy")]


def cmd_table(path, runs):
    vals = report.read(path)
    arms = [(a, l) for a, l in ARMS if any(k.startswith(a + ".")
                                           for k in vals)]
    out = [["metric"] + [l for _, l in arms]]
    for key, label, fmt in ROWS:
        r = [label]
        for a, _ in arms:
            v = [x for x in vals.get(a + "." + key, []) if x >= 0]
            r.append(report.span(v, fmt) if v else "-")
        out.append(r)
    report.table(out)
    print("\n%s run(s) of each arm; a cell is the median, with the min-max "
          "over the runs when they differ." % runs)


if __name__ == "__main__":
    cmds = {"job": cmd_job, "analyze": cmd_analyze, "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        sys.exit("cliff.py: %s: %s" % (sys.argv[1], e))
