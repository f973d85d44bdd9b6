/*
 * server-peer.c: who is at the other end of the control socket.  Agents
 * run with swarmd's uid, so a uid alone says nothing: a peer in a live
 * agent's process tree is that agent, whatever its uid, and never an
 * operator.  Read once, at accept, from /proc; the client keeps it.
 *
 * In the tree: the agent's pid, or any process whose chain of parents
 * reaches it, or that is in a process group or session the agent leads
 * (an agent leads its own group) or whose leader is in the tree (a shim
 * between swarmd and the agent is matched the same way), or that is in
 * the agent's cgroup, or whose environment names an agent (SWARM_AGENT),
 * which catches a descendant that left the group and was orphaned but
 * kept its environment.  What escapes all of these is a process that
 * leaves the group and session, is orphaned and clears its environment,
 * without cgroup limits: only a uid of its own keeps that one out.
 * A gate's processes (gate.c: a gate runs the agent's build and tests)
 * are no operator either, found the same ways, by its process group or
 * its SWARM_GATE_OF.
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
	char buf[1024];
	const char *p = proc_stat_fields(pid, buf, sizeof buf);
	int ppid, pgrp, sid;

	if (p == NULL || sscanf(p, "%*c %d %d %d", &ppid, &pgrp, &sid) != 3)
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
 * Add NEXT and its parents to the chain, up to swarmd, init or one
 * already there.  -1 when the chain grows too long; a process gone
 * meanwhile ends the walk.
 */
static int
peer_walk(struct pstat *chain, size_t *n, pid_t next)
{
	pid_t self = getpid();
	size_t i;

	while (next > 1 && next != self) {
		for (i = 0; i < *n; i++) {
			if (chain[i].pid == next)
				return 0;
		}
		if (*n == PEER_MAX_DEPTH)
			return -1;
		if (peer_stat(next, &chain[*n]) == -1)
			return 0;
		next = chain[(*n)++].ppid;
	}
	return 0;
}

/*
 * The peer, its parents, and the leaders of their process groups and
 * sessions with their parents (a process that left its parent, orphaned,
 * stays in its group or session), into CHAIN; swarmd's own group and
 * session are not followed.  Returns how many, or -1.
 */
static ssize_t
peer_chain(pid_t pid, struct pstat *chain)
{
	struct pstat self;
	size_t n = 0, i;

	/* None when the peer is gone already. */
	if (peer_stat(getpid(), &self) == -1 ||
	    peer_walk(chain, &n, pid) == -1 || n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((chain[i].pgrp != self.pgrp &&
		        peer_walk(chain, &n, chain[i].pgrp) == -1) ||
		    (chain[i].sid != self.sid &&
		        peer_walk(chain, &n, chain[i].sid) == -1))
			return -1;
	}
	return (ssize_t)n;
}

/* SWARM_AGENT in PID's environment: agent-N gives N, anything else -1;
 * a gate's (SWARM_GATE_OF), -1: it runs an agent's code. */
static int64_t
peer_env_agent(pid_t pid)
{
	size_t len;
	char *env = proc_environ(pid, &len);
	const char *v;
	int64_t id = 0;

	if (env == NULL)
		return 0;
	if ((v = proc_env_value(env, len, SWARM_ENV_AGENT)) != NULL &&
	    agent_parse_id(v, &id) == -1)
		id = PEER_UNKNOWN;
	if (id == 0 && proc_env_value(env, len, "SWARM_GATE_OF") != NULL)
		id = PEER_UNKNOWN;
	free(env);
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
	struct agent *a;
	ssize_t n;
	size_t i;
	int64_t id;

	if (pid <= 0) /* from another pid namespace */
		return PEER_UNKNOWN;
	if ((n = peer_chain(pid, chain)) == -1)
		return PEER_UNKNOWN;
	TAILQ_FOREACH(a, &live_agents, entry) {
		if (a->pid > 0 && peer_chain_has(chain, (size_t)n, a->pid))
			return a->id;
	}
	/* A gate runs an agent's code (its build, its tests). */
	for (i = 0; i < (size_t)n; i++)
		if (gate_running(chain[i].pid) || gate_running(chain[i].pgrp))
			return PEER_UNKNOWN;
	if ((id = limits_cgroup_agent(pid)) != 0)
		return id;
	return peer_env_agent(pid);
}
