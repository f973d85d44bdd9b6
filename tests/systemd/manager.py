#!/usr/bin/env python3
"""manager.py: a stand-in for systemd's side of a Type=notify service with
socket activation, for notify.sh.

manager.py LISTEN NOTIFY LOG WATCHDOG_USEC -- CMD...

Binds the stream socket LISTEN and passes it as fd 3 (LISTEN_FDS), binds
the datagram socket NOTIFY (NOTIFY_SOCKET), sets WATCHDOG_USEC and
WATCHDOG_PID, and a JOURNAL_STREAM that is not CMD's stderr.  Each
notification is appended to LOG as one line, its fields joined by '|'.
SIGTERM, SIGINT and SIGHUP go to CMD; the exit status is CMD's."""
import os
import select
import signal
import socket
import sys

listen_path, notify_path, log_path, wd_usec = sys.argv[1:5]
cmd = sys.argv[6:]

ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(listen_path)
ls.listen(64)
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(notify_path)

pid = os.fork()
if pid == 0:
    if ls.fileno() != 3:
        os.dup2(ls.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
               LISTEN_FDNAMES="swarmd.socket", NOTIFY_SOCKET=notify_path,
               WATCHDOG_USEC=wd_usec, WATCHDOG_PID=str(os.getpid()),
               JOURNAL_STREAM="0:0")
    os.execvpe(cmd[0], cmd, env)

ls.close()
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda sig, frame: os.kill(pid, sig))
with open(log_path, "a", buffering=1) as log:
    while True:
        try:
            r, _, _ = select.select([ns], [], [], 0.05)
        except InterruptedError:
            continue
        if r:
            log.write(ns.recv(4096).decode().strip().replace("\n", "|") + "\n")
            continue
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
sys.exit(os.waitstatus_to_exitcode(status) % 256)
