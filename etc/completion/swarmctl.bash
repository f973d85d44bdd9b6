# bash completion for swarmctl.  The verbs and each verb's options come
# from swarmctl's own help, so they cannot drift from it; job, agent and
# chunk ids, and event types, come from the daemon the command line names
# (-s, else SWARM_SOCKET), when it answers.

# The socket this command line talks to, as swarmctl options.
_swarmctl_sock()
{
	local i
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket) printf -- '-s\n%s\n' "${COMP_WORDS[i + 1]}" ;;
		--socket=*) printf -- '-s\n%s\n' "${COMP_WORDS[i]#--socket=}" ;;
		esac
	done
}

# Ids from the daemon: jobs, agents, a job's chunks (its tables' first
# column, under their headers).
_swarmctl_ids()
{
	local cur=$1 sock
	mapfile -t sock < <(_swarmctl_sock)
	if [[ $cur == job-*/* ]]; then
		swarmctl "${sock[@]}" show "${cur%%/*}" 2>/dev/null |
			awk -v job="${cur%%/*}" 'seen { print job "/" $1 } /^CHUNK / { seen = 1 }'
		return
	fi
	swarmctl "${sock[@]}" jobs 2>/dev/null | awk 'NR > 1 { print $1 }'
	swarmctl "${sock[@]}" ps 2>/dev/null | awk 'NR > 1 { print $1 }'
}

# The event types the daemon has logged of late.
_swarmctl_types()
{
	local sock
	mapfile -t sock < <(_swarmctl_sock)
	swarmctl "${sock[@]}" events --utc --limit 2000 2>/dev/null | awk '{ print $2 }' | sort -u
}

_swarmctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verb="" i w
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s | --socket) ((i++)) ;;
		-*) ;;
		*) verb=$w; break ;;
		esac
	done
	if [[ $prev == -s || $prev == --socket ]]; then
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
	fi
	# An option's value.
	case $prev in
	--state)
		mapfile -t COMPREPLY < <(compgen -W "running done aborted" -- "$cur")
		return ;;
	--type)
		mapfile -t COMPREPLY < <(compgen -W "$(_swarmctl_types)" -- "$cur")
		return ;;
	--since | --tail | -n | --limit | --timeout | --grace | --reason | \
		--note | --summary | --input | --output | --cache-read | \
		--cache-creation | --model)
		return ;;
	--file | --result)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	esac
	if [[ -z $verb ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-s --socket --json --utc -h --help -V --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(swarmctl help 2>/dev/null |
				sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')" -- "$cur")
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(swarmctl help "$verb" 2>/dev/null |
			head -n1 | grep -o -E -e '(^|[[ |])--?[a-z][a-z-]*' |
			tr -d '[ |') --json --utc --help" -- "$cur")
		return
	fi
	case $verb in
	submit) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	*) mapfile -t COMPREPLY < <(compgen -W "$(_swarmctl_ids "$cur")" -- "$cur") ;;
	esac
}
complete -F _swarmctl swarmctl
