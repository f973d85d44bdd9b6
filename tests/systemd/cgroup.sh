#!/bin/bash
# cgroup.sh: swarmd's cgroup v2 limits under the real systemd (booted as
# boot.sh does, see ct-lib.sh).  The installed unit delegates the memory
# and pids controllers to swarm; with cgroup_memory_max and cgroup_pids_max
# set, swarmd moves itself into a swarmd-daemon leaf before it is ready and
# each agent into its own agent-N cgroup with memory.max and pids.max; an
# agent that forks past pids.max is refused (EAGAIN) and its end carries a
# resource_limit event; one that outgrows memory.max is OOM-killed; after
# a restart or a crash with an agent alive, swarmd comes back, limits
# that agent again and new ones too.
#
# Skips (77) when the kernel refuses the namespaces, or when cgroup v2 here
# has no memory or pids controller to delegate (a host that binds them to
# cgroup v1): swarmd must then say so, and everything up to that is checked.
. "$(dirname "$0")/ct-lib.sh"
MEM=$((64 * 1024 * 1024))
PIDS=8

ct_boot
ct_install
[ "$(ct systemctl show -p Delegate --value swarmd)" = yes ] || fail "swarmd.service does not delegate"
ct systemctl show -p DelegateControllers --value swarmd | grep -qx 'memory pids' ||
	fail "delegated: $(ct systemctl show -p DelegateControllers --value swarmd)"
ct sh -c "printf '[watchdog]\ncgroup_memory_max = 64M\ncgroup_pids_max = $PIDS\n' >>'$SYSCONFDIR/swarmd/swarmd.conf'"
# The agent: waits to be moved into its cgroup, prints it and its limits,
# then forks until refused, outgrows memory.max, or sleeps.
ct sh -c 'cat >/usr/local/bin/swarmd-cg-agent && chmod 755 /usr/local/bin/swarmd-cg-agent' <<'A'
#!/usr/bin/python3
import errno, os, sys, time
def own():
    with open("/proc/self/cgroup") as f:
        return [l[3:].strip() for l in f if l.startswith("0::")][0]
end = time.monotonic() + 10  # swarmd moves it right after it starts
while "/agent-" not in own():
    if time.monotonic() > end:
        print("cgroup: not placed:", own(), flush=True)
        sys.exit(3)
    time.sleep(0.01)
print("cgroup:", own())
for name in ("memory.max", "pids.max"):
    with open("/sys/fs/cgroup" + own() + "/" + name) as f:
        print(name + ":", f.read().strip(), flush=True)
if sys.argv[1] == "forks":
    kids, refused = [], None
    for _ in range(64):
        try:
            pid = os.fork()
        except OSError as e:
            refused = errno.errorcode.get(e.errno, e.errno)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
    for k in kids:
        os.kill(k, 9)
        os.waitpid(k, 0)
    print("forked:", len(kids), "refused:", refused, flush=True)
elif sys.argv[1] == "memory":
    b = b"x" * (4 * int(open("/sys/fs/cgroup" + own() + "/memory.max").read()))
    print("not stopped at", len(b), flush=True)
    sys.exit(1)
else:
    time.sleep(600)
A
ct systemctl daemon-reload || fail "daemon-reload"
ct systemctl start swarmd.socket swarmd || fail "systemctl start swarmd.socket swarmd"
CGP=$(ct systemctl show -p ControlGroup --value swarmd)
[ -n "$CGP" ] || fail "no ControlGroup for swarmd"
[ "$(ct stat -c %U "/sys/fs/cgroup$CGP/cgroup.subtree_control")" = swarm ] ||
	fail "$CGP is not delegated to swarm"

# swarmd says at start whether the limits are on, and if not, why.
said() { ct journalctl -u swarmd -o cat | grep -m 1 '^cgroup limits '; }
wait_until 10 said || fail "swarmd said nothing about cgroup limits"
case $(said) in
"cgroup limits on: agents in /sys/fs/cgroup$CGP/agent-N") ;;
"cgroup limits off: the memory or pids controller is not available: /sys/fs/cgroup$CGP")
	root=$(ct cat /sys/fs/cgroup/cgroup.controllers)
	case " $root " in *" memory "*) case " $root " in *" pids "*)
		fail "the container's cgroup v2 has [$root] but swarmd.service got [$(ct cat "/sys/fs/cgroup$CGP/cgroup.controllers")]" ;;
	esac ;; esac
	v1=$(findmnt -n -t cgroup -o OPTIONS | grep -o -w -e memory -e pids | sort -u | tr '\n' ' ')
	skip "cgroup v2 here offers no memory and pids controllers to delegate" \
		"(the container's root has [$root]${v1:+; the host binds ${v1% } to cgroup v1})"
	;;
*) fail "swarmd: $(said)" ;;
esac
pid=$(ct systemctl show -p MainPID --value swarmd)
ct grep -qx "0::$CGP/swarmd-daemon" "/proc/$pid/cgroup" ||
	fail "swarmd is not in its leaf: $(ct cat "/proc/$pid/cgroup")"

# evs JOB AGENT EVENT: that agent's events of that name, one JSON line each.
evs() { ct swarmctl events --job "$1" --json | grep "\"agent\":\"$2\"" | grep "\"event\":\"$3\""; }
chunk_agent() { ct swarmctl show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"])'; }
chunk_state() { ct swarmctl show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
ct sh -c 'cat >/root/job.json' <<'J'
{"name": "limits", "concurrency": 2, "command": ["/usr/local/bin/swarmd-cg-agent", "{task}"],
 "chunks": [{"id": "forks", "task": "forks"}, {"id": "memory", "task": "memory"}]}
J
job=$(ct swarmctl submit /root/job.json) || fail "swarmctl submit"
forks_done() { [ "$(chunk_state "$job/forks")" = done ]; }
wait_until 30 forks_done || fail "$job/forks: $(ct swarmctl show "$job/forks")"
agent=$(chunk_agent "$job/forks")
out=$(ct swarmctl logs "$agent")
grep -qx "cgroup: $CGP/$agent" <<<"$out" || fail "$agent not in its own cgroup: $out"
grep -qx "memory.max: $MEM" <<<"$out" || fail "memory.max: $out"
grep -qx "pids.max: $PIDS" <<<"$out" || fail "pids.max: $out"
# The agent is one of the PIDS; every fork past them is refused.
grep -qx "forked: $((PIDS - 1)) refused: EAGAIN" <<<"$out" || fail "forks: $out"
evs "$job" "$agent" limits_applied |
	python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(j["cgroup_memory_max"] != int(sys.argv[1]) or j["cgroup_pids_max"] != int(sys.argv[2]))' "$MEM" "$PIDS" ||
	fail "limits_applied: $(evs "$job" "$agent" limits_applied)"
evs "$job" "$agent" resource_limit | grep -q '"limit":"pids.events"' ||
	fail "no resource_limit for the refused forks: $(ct swarmctl events --job "$job")"
ct test -d "/sys/fs/cgroup$CGP/$agent" && fail "the ended $agent's cgroup is left"

# Outgrowing memory.max: the OOM killer ends it (without swap to go to).
magent=$(chunk_agent "$job/memory")
oom() { evs "$job" "$magent" resource_limit | grep -q '"limit":"memory.events"'; }
if [ -n "$(ct sed 1d /proc/swaps)" ]; then
	echo "note: swap is on; the OOM part is left out"
else
	wait_until 30 oom || fail "no OOM kill: $(ct swarmctl logs "$magent")"
	evs "$job" "$magent" subagent_completed | grep -q '"signal":9' ||
		fail "not killed: $(evs "$job" "$magent" subagent_completed)"
fi
ct swarmctl abort "$job" >/dev/null

# Restarts with an agent alive below: systemd can start swarmd again
# (the unit gave the controllers back), the new swarmd is in its leaf and
# sets the live agent's limits again, and limits new agents.
ct sh -c 'cat >/root/live.json' <<'J'
{"name": "live", "command": ["/usr/local/bin/swarmd-cg-agent", "sleep"],
 "chunks": [{"id": "s", "task": "sleep"}]}
J
live=$(ct swarmctl submit /root/live.json) || fail "swarmctl submit live"
lagent() { chunk_agent "$live/s" | grep -x 'agent-[0-9]*'; }
wait_until 30 lagent || fail "the live agent did not start"
lagent=$(lagent)
placed() { ct swarmctl logs "$lagent" | grep -qx "pids.max: $PIDS"; }
wait_until 30 placed || fail "$lagent: $(ct swarmctl logs "$lagent")"
limited() { [ "$(ct cat "/sys/fs/cgroup$CGP/$lagent/pids.max")" = "$PIDS" ]; }
restarted_ok() {
	local old=$1
	[ "$(ct systemctl is-active swarmd)" = active ] || return 1
	pid=$(ct systemctl show -p MainPID --value swarmd)
	[ "$pid" != "$old" ] && [ "$pid" != 0 ] || return 1
	ct grep -qx "0::$CGP/swarmd-daemon" "/proc/$pid/cgroup" && limited
}
ct systemctl restart swarmd || fail "systemctl restart swarmd with $lagent alive"
wait_until 30 restarted_ok "$pid" ||
	fail "after the restart: $(ct systemctl is-active swarmd), $(ct cat "/proc/$pid/cgroup"), pids.max $(ct cat "/sys/fs/cgroup$CGP/$lagent/pids.max")"
ct swarmctl ps --json | grep -q "\"$lagent\"" || fail "$lagent not re-adopted"
# A crash: systemd restarts swarmd (Restart=on-failure), the same way.
ct kill -KILL "$pid"
crashed_ok() { [ "$(ct systemctl show -p NRestarts --value swarmd)" -ge 1 ] && restarted_ok "$1"; }
wait_until 30 crashed_ok "$pid" ||
	fail "after a crash: $(ct systemctl status swarmd --no-pager)"
ct sh -c 'cat >/root/job2.json' <<'J'
{"name": "again", "command": ["/usr/local/bin/swarmd-cg-agent", "forks"],
 "chunks": [{"id": "forks", "task": "forks"}]}
J
job2=$(ct swarmctl submit /root/job2.json) || fail "swarmctl submit after the restarts"
done2() { [ "$(chunk_state "$job2/forks")" = done ]; }
wait_until 30 done2 || fail "$job2/forks: $(ct swarmctl show "$job2/forks")"
out=$(ct swarmctl logs "$(chunk_agent "$job2/forks")")
grep -qx "forked: $((PIDS - 1)) refused: EAGAIN" <<<"$out" || fail "forks after the restarts: $out"
ct swarmctl abort "$live" >/dev/null

ct systemctl stop swarmd swarmd.socket || fail "systemctl stop"
ct journalctl -u swarmd -o cat | grep -e "runtime error:" -e "AddressSanitizer" -e "LeakSanitizer" &&
	fail "a sanitizer reported an error"
ct_poweroff
echo "ok: cgroup v2 limits under systemd"
