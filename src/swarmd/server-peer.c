/*
 * server-peer.c: who is at the other end of the control socket.  Agents
 * run with swarmd's uid, so a uid alone says nothing: a peer in a live
 * agent's process tree is that agent, whatever its uid, and never an
 * operator.  Read once, at accept, from /proc; the client keeps it.
 *
 * In the tree: the agent's pid, or any process whose chain of parents
 * reaches it, or that shares a process group or session led by the
 * agent (an agent leads its own group; a shim between swarmd and the
 * agent is matched the same way), or whose environment names an agent
 * (SWARM_AGENT), which catches a descendant that left the group and was
 * orphaned but kept its environment.  What escapes all of these is a
 * process that leaves the group and session, is orphaned to init and
 * clears its environment: only a separate uid keeps that one out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

/* Parents followed before giving up (and refusing operator verbs). */
#define PEER_MAX_DEPTH 128

struct pstat {
	pid_t pid, ppid, pgrp, sid;
};

/* Fields 4 to 6 of /proc/PID/stat: parent, process group, session. */
static int
peer_stat(pid_t pid, struct pstat *ps)
{
	char path[64], buf[1024], *p;
	int ppid, pgrp, sid, fd;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d %d %d", &ppid, &pgrp, &sid) != 3)
		return -1;
	ps->pid = pid;
	ps->ppid = ppid;
	ps->pgrp = pgrp;
	ps->sid = sid;
	return 0;
}

/* Whether any process of the chain is KEY, or in a group or session KEY leads. */
static int
peer_chain_has(const struct pstat *chain, size_t n, pid_t key)
{
	size_t i;

	if (key <= 1)
		return 0;
	for (i = 0; i < n; i++) {
		if (chain[i].pid == key || chain[i].pgrp == key ||
		    chain[i].sid == key)
			return 1;
	}
	return 0;
}

/*
 * The live agent whose tree holds the chain, or 0.  First by the agents'
 * pids, which lead their groups; then by the group and session each
 * agent is in now, when they are not swarmd's own.
 */
static int64_t
peer_chain_agent(const struct pstat *chain, size_t n)
{
	struct pstat self, as;
	struct agent *a;

	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->pid > 0 && peer_chain_has(chain, n, a->pid))
			return a->id;
	}
	if (peer_stat(getpid(), &self) == -1)
		return 0;
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->pid <= 0 || peer_stat(a->pid, &as) == -1)
			continue;
		if ((as.pgrp != self.pgrp &&
		        peer_chain_has(chain, n, as.pgrp)) ||
		    (as.sid != self.sid && peer_chain_has(chain, n, as.sid)))
			return a->id;
	}
	return 0;
}

/* SWARM_AGENT in PID's environment: agent-N gives N, anything else -1. */
static int64_t
peer_env_agent(pid_t pid)
{
	static const char var[] = SWARM_ENV_AGENT "=";
	char path[64], *entry = NULL;
	size_t cap = 0;
	int64_t id = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	/* Entries end in NUL; swarmd's own come last, so read them all. */
	while (id == 0 && getdelim(&entry, &cap, '\0', f) > 0) {
		if (strncmp(entry, var, sizeof var - 1) == 0 &&
		    agent_parse_id(entry + sizeof var - 1, &id) == -1)
			id = PEER_UNKNOWN;
	}
	free(entry);
	fclose(f);
	return id;
}

/*
 * The agent PID belongs to: its id, PEER_OUTSIDE, or PEER_UNKNOWN when
 * it cannot be told (gone already, or a chain too long to follow),
 * which is no operator either.
 */
int64_t
peer_agent(pid_t pid)
{
	struct pstat chain[PEER_MAX_DEPTH];
	size_t n = 0;
	pid_t next = pid, self = getpid();
	int64_t id;

	if (pid <= 0) /* from another pid namespace */
		return PEER_UNKNOWN;
	while (next > 1 && next != self) {
		if (n == nitems(chain))
			return PEER_UNKNOWN;
		if (peer_stat(next, &chain[n]) == -1) {
			if (n == 0)
				return PEER_UNKNOWN;
			break; /* a parent gone meanwhile */
		}
		next = chain[n++].ppid;
	}
	if ((id = peer_chain_agent(chain, n)) != 0 ||
	    (id = limits_cgroup_agent(pid)) != 0)
		return id;
	return peer_env_agent(pid);
}
