#!/bin/bash
# swarmctl(1) documents every verb swarmctl --help lists, and no other,
# each with the flags of its usage: the verb headings are rendered (a
# heading that spans several source lines renders its tail as text and
# loses its flags), their verbs and flags compared with swarmctl's.
. "$(dirname "$0")/lib.sh"
page="$(dirname "$0")/../../man/swarmctl.1"
swarmctl --help >"$T/help" || fail "swarmctl --help"
python3 - "$T/help" "$page" <<'PY' || fail "swarmctl --help and swarmctl(1) differ"
import re, subprocess, sys

FLAG = re.compile(r"(?<![\w-])--?[a-z][a-z-]*")

def help_verbs(path):
    """verb -> its usage's flags, from the verb lists of --help."""
    verbs, inside = {}, False
    for line in open(path):
        if line.rstrip().endswith(":") and "verbs" in line:
            inside = True
        elif inside and re.match(r"^  \S", line):
            verb, _, usage = line.strip().partition(" ")
            verbs[verb] = set(FLAG.findall(usage))
    return verbs

def page_verbs(path):
    """verb -> its heading's flags: each heading under OPERATOR VERBS and
    AGENT VERBS, rendered on its own, as a reader sees it."""
    tags, section, lines = [], None, open(path).read().split("\n")
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            section = line[4:].strip()
        elif line == ".TP" and section in ("OPERATOR VERBS", "AGENT VERBS"):
            tags.append(lines[i + 1])
    doc = ".TH X 1\n.SH V\n" + "".join(".TP\n%s\n@@\n" % t for t in tags)
    out = subprocess.run(["groff", "-man", "-Tutf8", "-rLL=400n", "-rHY=0",
                          "-P-cbou"], input=doc, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    verbs, prev = {}, ""
    for line in out:
        if "@@" in line:
            tag = line.split("@@")[0].strip() or prev
            # "pause job, resume job": two verbs in one heading
            # A heading cut short by a line break leaves a "[" open.
            if tag.count("[") != tag.count("]"):
                print("swarmctl(1): a heading renders cut short: %s" % tag)
                verbs["(cut short)"] = set()
            for part in tag.split(", "):
                verb = part.split()[0]
                verbs[verb] = set(FLAG.findall(part))
        elif line.strip():
            prev = line.strip()
    return verbs

h, p = help_verbs(sys.argv[1]), page_verbs(sys.argv[2])
bad = 0
for v in sorted(set(h) - set(p)):
    print("swarmctl(1) does not document the verb %s" % v); bad = 1
for v in sorted(set(p) - set(h)):
    print("swarmctl(1) documents %s, which swarmctl has not" % v); bad = 1
for v in sorted(set(h) & set(p)):
    if h[v] != p[v]:
        print("%s: swarmctl takes %s, swarmctl(1) shows %s"
              % (v, sorted(h[v]), sorted(p[v]))); bad = 1
print("%d verbs" % len(h))
sys.exit(bad)
PY
ok
