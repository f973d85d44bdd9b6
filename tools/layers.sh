#!/bin/sh
# layers.sh BUILDDIR: no file of the daemon refers to a file of a higher
# layer.  The layers are the table in ARCHITECTURE.md, so the document
# and the check cannot drift apart; the references are read from the
# built objects with nm, functions and data alike.  Fails listing each
# reference up, and each source file the table does not place.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
cd "$root"
command -v nm >/dev/null || { echo "layers: nm not found (binutils, tools/deps.sh)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "| 3 | mechanisms | `spawn.c` `proxy-*.c` | ..." -> "spawn.c 3 mechanisms"
awk -F'|' '$2 ~ /^ *[0-9]+ *$/ {
	layer = $2; name = $3; files = $4
	gsub(/[ \t]/, "", layer); gsub(/^[ \t]+|[ \t]+$/, "", name)
	gsub(/[`,]/, " ", files)
	n = split(files, f, /[ \t]+/)
	for (i = 1; i <= n; i++)
		if (f[i] != "")
			print f[i], layer, name
}' ARCHITECTURE.md >"$tmp/map"
[ -s "$tmp/map" ] || { echo "layers: no layer table in ARCHITECTURE.md"; exit 1; }

# Each source: its layer (the first pattern that matches) and its object.
bad=0
: >"$tmp/files"
for src in src/common/*.c src/swarmd/*.c; do
	file=${src##*/}
	where=
	while read -r pat layer name; do
		# shellcheck disable=SC2254
		case $file in $pat) where="$layer $name"; break ;; esac
	done <"$tmp/map"
	if [ -z "$where" ]; then
		echo "$src: not in the layer table of ARCHITECTURE.md"
		bad=1
		continue
	fi
	obj=$(echo "$src" | tr / _).o
	obj=$(find "$build" -maxdepth 2 -name "$obj" | sort | head -n 1)
	if [ -z "$obj" ]; then
		echo "$src: no object under $build (not built, or not in meson.build?)"
		bad=1
		continue
	fi
	echo "$file $where $obj" >>"$tmp/files"
done

# "D sym file" for each global a file defines, "U sym file" for each it
# uses; one nm for all the objects ("obj: sym type ...").
objs=$(awk '{ print $4 }' "$tmp/files")
# shellcheck disable=SC2086
{ nm -A -P --defined-only $objs | sed 's/^/D /'
  nm -A -P --undefined-only $objs | sed 's/^/U /'; } |
    awk 'FILENAME == ARGV[1] { file[$4 ":"] = $1; next }
	$1 == "U" || $4 ~ /^[A-Z]$/ { print $1, $3, file[$2] }' \
	"$tmp/files" - | sort -k 3,3 -k 2,2 >"$tmp/syms"

# A use of a symbol defined in a higher layer's file is a reference up.
awk '
FILENAME == ARGV[1] { layer[$1] = $2 + 0; lname[$1] = $3; next }
$1 == "D" { def[$2] = $3; next }
{ n++; sym[n] = $2; from[n] = $3 }
END {
	for (i = 1; i <= n; i++) {
		f = from[i]; to = def[sym[i]]
		if (to == "" || to == f || layer[f] >= layer[to])
			continue
		key = f " (" layer[f] " " lname[f] ") -> " to " (" \
		    layer[to] " " lname[to] "):"
		if (!(key in refs))
			keys[++nk] = key
		refs[key] = refs[key] " " sym[i]
	}
	for (k = 1; k <= nk; k++)
		print keys[k] refs[keys[k]]
}' "$tmp/files" "$tmp/syms" | sort >"$tmp/up"

if [ -s "$tmp/up" ]; then
	cat "$tmp/up"
	echo "layers: $(wc -l <"$tmp/up") references up a layer (see ARCHITECTURE.md)"
	bad=1
fi
[ $bad -eq 0 ] && echo "layers: clean"
exit $bad
