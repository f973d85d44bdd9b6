#!/bin/sh
# install-conf.sh SRC DEST: meson install script.  Install the sample
# configuration unless one is already there: a reinstall must not undo
# the administrator's edits.
set -eu
dest="${DESTDIR:-}$2"
if [ -e "$dest" ]; then
	echo "Keeping $dest"
	exit 0
fi
echo "Installing $1 to $(dirname "$dest")"
install -D -m 0644 "$1" "$dest"
