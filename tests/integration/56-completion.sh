#!/bin/bash
# Bash completion for swarmctl (etc/completion/swarmctl.bash): verbs and
# each verb's options from swarmctl's own help, job, agent and chunk ids
# from the running daemon.
. "$(dirname "$0")/lib.sh"
start_daemon
job=$(swarmctl submit "$(job_file idle '["sleep", "600"]' 2)")
wait_until 20 sh -c "[ \$(swarmctl ps | awk 'NR > 1' | wc -l) = 2 ]" || fail "agents not running"
. "$(dirname "$0")/../../etc/completion/swarmctl.bash"
# complete WORDS...: what TAB offers for the last word.
complete_words() {
	COMP_WORDS=(swarmctl "$@")
	COMP_CWORD=$#
	_swarmctl
	[ ${#COMPREPLY[@]} -gt 0 ] || return 0
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
assert_eq "$(complete_words su)" "submit " "a verb"
assert_eq "$(complete_words wa)" "wait " "the newest verb, from swarmctl help"
assert_eq "$(complete_words wait --t)" "--timeout " "a verb's option"
assert_eq "$(complete_words logs --f)" "--follow " "logs --follow"
assert_eq "$(complete_words show jo)" "$job " "a job id"
assert_eq "$(complete_words show "$job/")" "$job/c0 $job/c1 " "its chunks"
assert_eq "$(complete_words abort agent-)" "agent-1 agent-2 " "agent ids"
assert_eq "$(complete_words -s "$T/none.sock" abort agent-)" "" "another socket: nothing there"
assert_eq "$(complete_words --js)" "--json " "a global option"
swarmctl abort "$job" >/dev/null || fail "abort"
wait_until 30 job_is "$job" aborted || fail "the agents did not end"
ok
