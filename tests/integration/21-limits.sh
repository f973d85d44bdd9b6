#!/bin/bash
# Resource limits per agent: rlimits set with prlimit right after the
# spawn (and recorded), enforced by the kernel: a CPU burner dies of
# SIGXCPU at once, no triage asked.  cgroup limits apply only with a
# delegated cgroup v2: where this host lets the test make one, agents
# run in theirs with pids.max set; elsewhere swarmd says why they are
# off, and the reason must be this host's.
. "$(dirname "$0")/lib.sh"
cat >>"$CONF" <<C
[watchdog]
rlimit_as = 3G
rlimit_cpu = 1
rlimit_nproc = 4000
cgroup_pids_max = 64
C
# What this host allows: a cgroup v2 of our own with the pids
# controller, made here for the daemon (which then needs it delegated
# to nobody else), or else the reason swarmd must give for going without.
mnt=$(grep ' - cgroup2 ' /proc/self/mountinfo | head -n1 | cut -d' ' -f5)
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
[ "$own" = / ] && own=""
CG="" why="no cgroup v2 hierarchy"
if [ -n "$mnt" ]; then
	why="the cgroup is not delegated to swarmd"
	if [ -w "$mnt$own/cgroup.subtree_control" ]; then
		why="the memory or pids controller is not available"
		grep -qw pids "$mnt$own/cgroup.controllers" && why="cannot "
	fi
	if mkdir "$mnt$own/swarmd-test-$$" 2>/dev/null; then
		if grep -qw pids "$mnt$own/swarmd-test-$$/cgroup.controllers"; then
			CG="$mnt$own/swarmd-test-$$"
		else
			rmdir "$mnt$own/swarmd-test-$$"
		fi
	fi
fi
if [ -n "$CG" ]; then
	# swarmd started inside CG: delegated to it alone.
	printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" && exec "%s" "$@"\n' "$CG" "$SWARMD" >"$T/in-cgroup"
	chmod +x "$T/in-cgroup"
	SWARMD=$T/in-cgroup
fi
start_daemon
evs() { swarmctl events --job "$1" --json | grep "\"event\":\"$2\""; }

# "limits" waits for its limits to land (prlimit follows the spawn), then
# copies them; "burn" spins until the CPU limit stops it.
cat >"$T/agent.sh" <<'A'
#!/bin/sh
if [ "$SWARM_CHUNK" = burn ]; then
	while :; do :; done
fi
i=0
until grep -q "^Max processes  *4000 " /proc/$$/limits; do
	i=$((i + 1)); [ $i -lt 200 ] || exit 1
	sleep 0.02
done
cat /proc/$$/limits >"$T/limits"
cat /proc/$$/cgroup >"$T/cgroup"
A
chmod +x "$T/agent.sh"
python3 -c 'import json, sys; print(json.dumps({"name": "lim", "command": [sys.argv[1] + "/agent.sh"], "env": {"T": sys.argv[1]}, "chunks": [{"id": c, "task": c} for c in ("limits", "burn")]}))' "$T" >"$T/job.json"
job=$(swarmctl submit "$T/job.json")
wait_until 30 job_is "$job" done || fail "job did not finish"
assert_eq "$(chunk_state "$job/limits")" done "limits seen by the agent"
grep -q "^Max address space  *3221225472  *3221225472 " "$T/limits" || fail "RLIMIT_AS: $(cat "$T/limits")"
grep -q "^Max cpu time  *1  *2 " "$T/limits" || fail "RLIMIT_CPU: $(cat "$T/limits")"
evs "$job" limits_applied | grep '"limits"' >"$T/applied"
assert_eq "$(json '[j["rlimit_as"], j["rlimit_cpu"], j["rlimit_nproc"]]' <"$T/applied")" '[3221225472, 1, 4000]'
# SIGXCPU (24): a hard limit, acted on by the kernel without triage.
assert_contains "$(swarmctl show "$job/burn" --json | json 'j["reason"]')" "signal 24"
evs "$job" triage_started && fail "a hard limit went to triage"
if [ -n "$CG" ]; then
	grep -q "cgroup limits on" "$T/swarmd.log" || fail "cgroup limits not on in $CG"
	grep -q "^0::${CG#"$mnt"}/agent-[0-9]*$" "$T/cgroup" || fail "not in its cgroup: $(cat "$T/cgroup")"
	json 'j["cgroup_pids_max"]' <"$T/applied" | grep -qx 64 || fail "pids.max"
	stop_daemon || fail "stop"
	rmdir "$CG"/*/ "$CG" || fail "cgroups left behind: $(ls "$CG")"
else
	echo "cgroup limits off here: $why"
	grep -q "cgroup limits off: $why" "$T/swarmd.log" ||
		fail "expected \"cgroup limits off: $why\": $(grep cgroup "$T/swarmd.log")"
fi
ok
