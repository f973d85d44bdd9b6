"""report.py: what every bench script's report shares: reading its
results file (a line per figure: metric, run, value, tab-separated) and
printing a table in aligned columns."""
import statistics


def read(path):
    """{metric: [value, ...]} in the order the runs recorded them."""
    vals = {}
    with open(path) as f:
        for line in f:
            m, _run, v = line.rstrip("\n").split("\t")[:3]
            vals.setdefault(m, []).append(float(v))
    return vals


def span(v, fmt):
    """The median of V, with its min-max when the values differ."""
    med = fmt % statistics.median(v)
    return med if min(v) == max(v) else "%s (%s-%s)" % (
        med, fmt % min(v), fmt % max(v))


def table(rows, left=(0,)):
    """ROWS, the first a header, in columns: those numbered in LEFT
    aligned left, the rest right; a rule under the header."""
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w[k]) if k in left else c.rjust(w[k])
                        for k, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * x for x in w))
