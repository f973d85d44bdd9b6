#!/bin/sh
# labels.sh: src/swarmd/swarmd.h is in sections, each under a label
# "/* ---- file.c: what ---- */" (or "file.c and other.c").  Fails when a
# function or variable declared under a label is defined in none of the
# files the label names, saying where it is defined.  Declarations made
# by a macro (VERB_DECL) are not read.
set -eu
cd "$(dirname "$0")/.."
hdr=src/swarmd/swarmd.h
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT

# Definitions: "name(" at the start of a line (the return type is on the
# line before), or a variable defined at file scope.
awk '
FNR == 1 { f = FILENAME; sub(/.*\//, "", f) }
/^[A-Za-z_][A-Za-z0-9_]*\(/ {
	n = $0; sub(/\(.*/, "", n); print n, f; next
}
/^(static|extern|typedef)[ \t]/ { next }
/^[A-Za-z].*;[ \t]*$/ {
	d = $0; sub(/[ \t]*=.*/, "", d); sub(/;.*/, "", d)
	sub(/\[.*/, "", d)
	if (d !~ /[()]/ && match(d, /[ *][A-Za-z_][A-Za-z0-9_]*$/))
		print substr(d, RSTART + 1), f
}' src/swarmd/*.c src/common/*.c >"$defs"

awk -v hdr="$hdr" '
FILENAME != hdr { def[$1] = def[$1] " " $2 " "; next }
/^\/\* ---- .* ---- \*\/$/ {
	t = $0; sub(/^\/\* ---- /, "", t); sub(/ ---- \*\/$/, "", t)
	sub(/:.*/, "", t)
	label = t; nf = 0
	while (match(t, /[A-Za-z0-9_.-]+\.c/)) {
		files[++nf] = substr(t, RSTART, RLENGTH)
		t = substr(t, RSTART + RLENGTH)
	}
	next
}
/^(typedef|#)/ || label == "" { next }
/^extern .*;/ {
	n = $0; sub(/[ \t]*;.*/, "", n); sub(/\[.*/, "", n)
	sub(/.*[ *]/, "", n); check(n); next
}
/^[A-Za-z]/ && match($0, /[ *][A-Za-z_][A-Za-z0-9_]*\(/) {
	check(substr($0, RSTART + 1, RLENGTH - 2))
}
function check(n,   i, where) {
	for (i = 1; i <= nf; i++)
		if (index(def[n], " " files[i] " "))
			return
	where = def[n] == "" ? "defined nowhere" : "defined in" def[n]
	sub(/ +$/, "", where)
	printf "%s:%d: %s is under \"%s\" but %s\n", hdr, FNR, n, label, where
	bad++
}
END { exit bad > 0 }' "$defs" "$hdr" && echo "labels: clean"
