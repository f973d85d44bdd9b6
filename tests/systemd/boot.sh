#!/bin/bash
# boot.sh: swarmd under the real systemd.  systemd boots as PID 1 of a new
# PID namespace (unshare --pid --fork --mount --mount-proc, with a tmpfs on
# /run and container= in its environment; see ct-init.sh), and this script
# drives it from outside with nsenter (ct-lib.sh): install swarmd, start
# swarmd.socket and swarmd, run a job, find its agent in the journal, see
# STATUS= in systemctl status, freeze the daemon and watch the watchdog
# restart it, reload, stop, wake it through the socket, power off.
#
# Needs root.  Skips (77) only when the kernel refuses the namespaces.
# Environment: see verify.sh.
. "$(dirname "$0")/ct-lib.sh"
start=$(date +%s)
ct_boot
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (tools/deps.sh installs it)"
ct systemctl --failed --no-legend | grep . && echo "(units that failed in the container, not ours)"

# --- Install, as a package would: files, the user, /run/swarmd, reload.
# As the README says; sysusers and tmpfiles by basename, so systemd must
# find them where installed.
ct_install
[ "$(ct stat -c '%U %G' /run/swarmd)" = "swarm swarm" ] || fail "/run/swarmd not made by tmpfiles.d"
ct id swarm >/dev/null || fail "no swarm user after systemd-sysusers"
# A short watchdog so the test need not wait 30 s.
ct sh -c 'mkdir -p /etc/systemd/system/swarmd.service.d &&
	printf "[Service]\nWatchdogSec=4s\n" >/etc/systemd/system/swarmd.service.d/test.conf'
ct systemctl daemon-reload || fail "daemon-reload"
out=$(ct systemd-analyze verify "$UNITDIR/swarmd.socket" "$UNITDIR/swarmd.service" 2>&1)
[ -z "$out" ] || fail "systemd-analyze verify, as installed: $out"

# --- Start: systemctl returns once swarmd sent READY=1.
ct systemctl start swarmd.socket swarmd || fail "systemctl start swarmd.socket swarmd"
[ "$(ct systemctl is-active swarmd)" = active ] || fail "swarmd is not active"
[ "$(ct stat -c '%a %U %G' /run/swarmd/swarmd.sock)" = "660 root swarm" ] ||
	fail "socket: $(ct stat -c '%a %U %G' /run/swarmd/swarmd.sock)"
ct journalctl -u swarmd -o cat | grep -q "listening on /run/swarmd/swarmd.sock (socket activation)" ||
	fail "swarmd did not take the socket from systemd"
[ "$(ct ps -o user= -C swarmd)" = swarm ] || fail "swarmd does not run as swarm"

# --- A job of two chunks, each agent reporting a heartbeat note.
ct sh -c 'cat >/root/job.json' <<'EOF'
{"name": "boot", "concurrency": 2,
 "command": ["sh", "-c", "echo working on {task}; swarmctl heartbeat --note 'reading {chunk}'"],
 "chunks": [{"id": "c1", "task": "one"}, {"id": "c2", "task": "two"}]}
EOF
job=$(ct swarmctl submit /root/job.json) || fail "swarmctl submit"
[ "$job" = job-1 ] || fail "submit printed [$job]"
job_done() {
	ct swarmctl show job-1 --json |
		python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["state"] != "done")'
}
wait_until 30 job_done || fail "job-1 did not finish: $(ct swarmctl show job-1)"

# --- The agent's records, by field: start, its note, its end.
agent=$(ct journalctl -u swarmd SWARM_JOB=job-1 SWARM_CHUNK=c1 SWARM_EVENT=subagent_started -o cat |
	grep -o 'agent-[0-9]*' | head -n 1)
[ -n "$agent" ] || fail "no subagent_started record for job-1/c1"
has_records() {
	local recs
	recs=$(ct journalctl -u swarmd "SWARM_AGENT=$agent" -o cat)
	grep -q "^subagent_started job-1/c1 $agent attempt 1" <<<"$recs" &&
		grep -q "^heartbeat .*reading c1" <<<"$recs" &&
		grep -q "^subagent_completed job-1/c1 $agent .*\"success\":true" <<<"$recs"
}
wait_until 10 has_records || fail "journalctl SWARM_AGENT=$agent: $(ct journalctl -u swarmd SWARM_AGENT=$agent -o cat)"
ct journalctl -u swarmd "SWARM_AGENT=$agent" -o cat | grep -v "$agent" &&
	fail "SWARM_AGENT=$agent selects records of other agents"
ct journalctl -u swarmd "SWARM_AGENT=$agent" -o export | grep -q "^SWARM_JOB=job-1$" ||
	fail "no SWARM_JOB field"

# --- STATUS= as systemctl status shows it.
status_done() { ct systemctl status swarmd | grep -q 'Status: "0 running, 0 queued, 2 done"'; }
wait_until 10 status_done || fail "STATUS=: $(ct systemctl status swarmd | grep Status:)"

# --- Freeze the event loop: the watchdog must kill and restart swarmd.
pid=$(ct systemctl show -p MainPID --value swarmd)
[ "$(ct systemctl show -p NRestarts --value swarmd)" = 0 ] || fail "restarted before the freeze"
ct kill -STOP "$pid"
restarted() {
	[ "$(ct systemctl show -p NRestarts --value swarmd)" -ge 1 ] &&
		[ "$(ct systemctl is-active swarmd)" = active ] &&
		[ "$(ct systemctl show -p MainPID --value swarmd)" != "$pid" ]
}
wait_until 60 restarted || fail "the watchdog did not restart a frozen swarmd"
ct journalctl -u swarmd -o cat | grep -q "Watchdog timeout" || fail "no watchdog timeout in the journal"
ct kill -0 "$pid" 2>/dev/null && fail "the frozen swarmd (pid $pid) is still there"
ct swarmctl jobs | grep -q job-1 || fail "the restarted swarmd lost job-1"

# --- Reload: a changed max_agents is taken.
ct sed -i 's/^max_agents = .*/max_agents = 7/' "$SYSCONFDIR/swarmd/swarmd.conf"
ct systemctl reload swarmd || fail "systemctl reload swarmd"
reloaded() { ct journalctl -u swarmd -o cat | grep -q "configuration reloaded: max_agents 7"; }
wait_until 10 reloaded || fail "reload not logged"
[ "$(ct systemctl is-active swarmd)" = active ] || fail "not active after reload"

# --- Stop; the socket stays and a client wakes swarmd again.
ct systemctl stop swarmd || fail "systemctl stop swarmd"
[ "$(ct systemctl is-active swarmd)" = inactive ] || fail "swarmd still active after stop"
ct pgrep -x swarmd && fail "a swarmd process survived the stop"
ct journalctl -u swarmd -o cat | grep -q "swarmd stopped" || fail "no clean stop logged"
ct swarmctl jobs | grep -q job-1 || fail "socket activation after the stop"
[ "$(ct systemctl is-active swarmd)" = active ] || fail "a client did not start swarmd"
ct systemctl stop swarmd swarmd.socket || fail "systemctl stop swarmd swarmd.socket"
[ "$(ct systemctl show -p Result --value swarmd)" = success ] ||
	fail "swarmd's last run: $(ct systemctl show -p Result --value swarmd)"
ct journalctl -u swarmd -o cat | grep -e "runtime error:" -e "AddressSanitizer" -e "LeakSanitizer" &&
	fail "a sanitizer reported an error"

# --- Power off; nothing may be left.
ct_poweroff
echo "ok: swarmd under systemd ($(($(date +%s) - start)) s from boot to poweroff)"
