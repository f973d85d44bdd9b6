#!/bin/sh
# ct-init.sh DIR: the first process of boot.sh's container.  It runs as
# PID 1 of fresh PID, mount, cgroup, UTS, IPC and network namespaces,
# builds a root that shares nothing writable with the host, and becomes
# systemd.
#
# The root is an overlay with the host's / as its read-only lower layer
# and a tmpfs above, so installing swarmd, creating the swarm user and
# writing the journal touch only the tmpfs.  /proc/sys and /sys are
# read-only, as under systemd-nspawn, so systemd-sysctl, binfmt and udev
# skip themselves instead of changing the host's kernel settings; /dev
# holds only a few bound device nodes.  Everything goes away with the
# mount namespace when systemd exits.
set -eu
T=$1
exec >"$T/console.log" 2>&1

mount -t tmpfs -o mode=0755 tmpfs "$T/layers"
mkdir "$T/layers/upper" "$T/layers/work"
R=$T/root
mount -t overlay overlay \
	-o "lowerdir=/,upperdir=$T/layers/upper,workdir=$T/layers/work" "$R"

mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
# Rooted at the cgroup boot.sh made for us (we are in its namespace).
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"

mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do
	touch "$R/dev/$n"
	mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"

# Boot only sysinit.target (journald, sysusers, tmpfiles): no getty, no
# timers, none of the host's enabled services.
cat >"$R/etc/systemd/system/swarmd-test.target" <<EOF
[Unit]
Description=swarmd test system
Requires=sysinit.target
After=sysinit.target
AllowIsolate=yes
EOF
# A first boot would prompt on the console for a locale and a password.
ln -sf /dev/null "$R/etc/systemd/system/systemd-firstboot.service"
[ -s "$R/etc/machine-id" ] ||
	tr -d '-' </proc/sys/kernel/random/uuid >"$R/etc/machine-id"

cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec env -i container=swarmd-test \
	setpriv --bounding-set -sys_module,-sys_time \
	/lib/systemd/systemd --unit=swarmd-test.target </dev/null
