/*
 * limits.c: the hard limits on an agent that the kernel enforces, set
 * when it starts: rlimits through prlimit(2), and memory and pids limits
 * in a cgroup v2 of its own under ours, when ours is delegated to us.
 * When an agent ends its cgroup says whether a limit bit, and goes.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

/* An agent placed in a cgroup, and the directory to remove at its end. */
struct placed {
	int64_t agent;
	char *dir;
	LIST_ENTRY(placed) entry;
};

static LIST_HEAD(, placed) cg_placed = LIST_HEAD_INITIALIZER(cg_placed);
static char *cg_base; /* our delegated cgroup v2, or NULL */
static int cg_tried;

static void cgroup_relimit(void);

/* "0::/system.slice/swarmd.service" -> that path under the v2 mount. */
static char *
cgroup_own(void)
{
	char line[4096], mnt[PATH_MAX] = "", *p, *path = NULL;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, " - cgroup2 ") == NULL)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			break;
	}
	fclose(f);
	if (*mnt == '\0' || (f = fopen("/proc/self/cgroup", "re")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		path = xasprintf(
		    "%s%s", mnt, strcmp(line + 3, "/") == 0 ? "" : line + 3);
		break;
	}
	fclose(f);
	/* After a restart we may already sit in our own leaf. */
	if (path != NULL && (p = strrchr(path, '/')) != NULL &&
	    strcmp(p, "/swarmd-daemon") == 0)
		*p = '\0';
	return path;
}

static int
cgroup_write(const char *dir, const char *file, const char *value)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd, rc = -1, err;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) != -1) {
		if (write(fd, value, strlen(value)) == (ssize_t)strlen(value))
			rc = 0;
		err = errno;
		close(fd);
	} else
		err = errno;
	free(path);
	errno = err; /* for the caller's message */
	return rc;
}

static int
cgroup_has(const char *dir, const char *controller)
{
	char *path = xasprintf("%s/cgroup.controllers", dir), buf[512], *w,
	     *save = NULL;
	int fd, found = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (w = strtok_r(buf, " \n", &save); w != NULL && !found;
	     w = strtok_r(NULL, " \n", &save))
		found = strcmp(w, controller) == 0;
	return found;
}

static const char *
cgroup_check(const char *base)
{
	char *ctl;
	int ok;

	if (base == NULL)
		return "no cgroup v2 hierarchy";
	ctl = xasprintf("%s/cgroup.subtree_control", base);
	ok = access(ctl, W_OK) == 0;
	free(ctl);
	if (!ok)
		return "the cgroup is not delegated to swarmd";
	if ((srv.cfg.cgroup_memory_max > 0 && !cgroup_has(base, "memory")) ||
	    (srv.cfg.cgroup_pids_max > 0 && !cgroup_has(base, "pids")))
		return "the memory or pids controller is not available";
	return NULL;
}

/*
 * Use our cgroup only if it is delegated to us (we may write its
 * subtree_control).  The daemon moves into a leaf of its own first: a
 * cgroup v2 with processes in it cannot enable controllers for children.
 */
static void
cgroup_setup(void)
{
	char *base = cgroup_own(), *leaf, pid[32], ctl[32], msg[128];
	const char *why = cgroup_check(base), *step = NULL;

	cg_tried = 1;
	snprintf(ctl, sizeof ctl, "%s%s%s",
	    srv.cfg.cgroup_memory_max > 0 ? "+memory" : "",
	    srv.cfg.cgroup_memory_max > 0 && srv.cfg.cgroup_pids_max > 0 ? " " :
	                                                                   "",
	    srv.cfg.cgroup_pids_max > 0 ? "+pids" : "");
	if (why == NULL) {
		leaf = xasprintf("%s/swarmd-daemon", base);
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		if (mkdir(leaf, 0755) == -1 && errno != EEXIST)
			step = "create swarmd-daemon";
		else if (cgroup_write(leaf, "cgroup.procs", pid) == -1)
			step = "move into swarmd-daemon";
		else if (cgroup_write(base, "cgroup.subtree_control", ctl) < 0)
			step = "enable the controllers";
		if (step != NULL) {
			/* EBUSY here: a process other than ours is in it. */
			snprintf(msg, sizeof msg, "cannot %s: %s", step,
			    strerror(errno));
			why = msg;
		}
		free(leaf);
	}
	if (why != NULL) {
		log_notice("cgroup limits off: %s%s%s", why,
		    base != NULL ? ": " : "", base != NULL ? base : "");
		free(base);
		return;
	}
	cg_base = base;
	log_info("cgroup limits on: agents in %s/agent-N", cg_base);
	cgroup_relimit();
}

/* The configured limits on an agent's cgroup DIR. */
static void
cgroup_limit(const char *dir, json_t *applied)
{
	char val[32];

	if (srv.cfg.cgroup_memory_max > 0) {
		snprintf(val, sizeof val, "%lld", srv.cfg.cgroup_memory_max);
		if (cgroup_write(dir, "memory.max", val) == 0 &&
		    applied != NULL)
			json_object_set_new(applied, "cgroup_memory_max",
			    json_integer(srv.cfg.cgroup_memory_max));
	}
	if (srv.cfg.cgroup_pids_max > 0) {
		snprintf(val, sizeof val, "%lld", srv.cfg.cgroup_pids_max);
		if (cgroup_write(dir, "pids.max", val) == 0 && applied != NULL)
			json_object_set_new(applied, "cgroup_pids_max",
			    json_integer(srv.cfg.cgroup_pids_max));
	}
}

/*
 * Agents that outlived the last swarmd lost their limits when the unit
 * gave the controllers back (its ExecStopPost): set them again, and
 * remove the cgroups of those that ended meanwhile.
 */
static void
cgroup_relimit(void)
{
	struct dirent *e;
	char *dir;
	DIR *d;

	if ((d = opendir(cg_base)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "agent-", 6) != 0)
			continue;
		dir = xasprintf("%s/%s", cg_base, e->d_name);
		if (rmdir(dir) == -1)
			cgroup_limit(dir, NULL);
		free(dir);
	}
	closedir(d);
}

/* Whether D, a path from /proc/PID/cgroup ("/..."), is cg_base's. */
static int
cgroup_is_base(const char *d, size_t dlen)
{
	size_t blen = strlen(cg_base);

	return dlen > 0 && dlen < blen &&
	    strncmp(cg_base + blen - dlen, d, dlen) == 0;
}

/*
 * The agent whose cgroup PID is in (agent-N below ours, or one it made
 * inside), or 0.  A process that left its agent's process tree, group
 * and session is still in its cgroup.
 */
int64_t
limits_cgroup_agent(pid_t pid)
{
	char path[64], line[4096], *d, *p, *end;
	long long n;
	int64_t id = 0;
	FILE *f;

	if (cg_base == NULL)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (id == 0 && fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		d = line + 3;
		d[strcspn(d, "\n")] = '\0';
		for (p = d; id == 0 && (p = strstr(p, "/agent-")) != NULL;
		     p++) {
			n = strtoll(p + 7, &end, 10);
			if (n > 0 && end > p + 7 &&
			    (*end == '/' || *end == '\0') &&
			    cgroup_is_base(d, (size_t)(p - d)))
				id = n;
		}
	}
	fclose(f);
	return id;
}

/* Returns 1 when the agent went into a cgroup of its own. */
static int
cgroup_place(struct agent *a, json_t *applied)
{
	struct placed *p;
	char *dir, val[32];

	if (!cg_tried &&
	    (srv.cfg.cgroup_memory_max > 0 || srv.cfg.cgroup_pids_max > 0))
		cgroup_setup();
	if (cg_base == NULL ||
	    (srv.cfg.cgroup_memory_max <= 0 && srv.cfg.cgroup_pids_max <= 0))
		return 0;
	dir = xasprintf("%s/agent-%lld", cg_base, (long long)a->id);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("agent-%lld: mkdir %s", (long long)a->id, dir);
		free(dir);
		return 0;
	}
	cgroup_limit(dir, applied);
	snprintf(val, sizeof val, "%d", (int)a->pid);
	if (cgroup_write(dir, "cgroup.procs", val) == -1)
		log_warnx("agent-%lld: cannot move pid %d into %s",
		    (long long)a->id, (int)a->pid, dir);
	p = xcalloc(1, sizeof *p);
	p->agent = a->id;
	p->dir = dir;
	LIST_INSERT_HEAD(&cg_placed, p, entry);
	return 1;
}

/*
 * Which limits of the cgroup in DIR bit, and how often: {"memory.events":
 * N} for OOM kills under memory.max, {"pids.events": N} for forks refused
 * at pids.max; a limit that never bit is left out.
 */
json_t *
limits_cgroup_hits(const char *dir)
{
	static const char *files[][2] = { { "memory.events", "oom_kill " },
		{ "pids.events", "max " } };
	json_t *hits = json_object();
	char *path, line[128];
	long long n;
	size_t i, klen;
	FILE *f;

	for (i = 0; i < nitems(files); i++) {
		klen = strlen(files[i][1]);
		path = xasprintf("%s/%s", dir, files[i][0]);
		f = fopen(path, "re");
		free(path);
		while (f != NULL && fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, files[i][1], klen) == 0 &&
			    (n = atoll(line + klen)) > 0)
				json_object_set_new(
				    hits, files[i][0], json_integer(n));
		}
		if (f != NULL)
			fclose(f);
	}
	return hits;
}

/* An ended agent's cgroup: did a limit bite?  Then remove it. */
static void
cgroup_done(struct agent *a, const char *dir)
{
	json_t *hits = limits_cgroup_hits(dir), *n;
	const char *file;

	json_object_foreach(hits, file, n) {
		evlog_add("resource_limit", a->job, a->chunk, a->id, a->attempt,
		    json_pack("{s:s, s:I}", "limit", file, "count",
		        json_integer_value(n)));
	}
	json_decref(hits);
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_debug("rmdir %s: %s", dir, strerror(errno));
}

/*
 * Limits for a new agent.  posix_spawn cannot set rlimits, so they are
 * set here with prlimit(2) right after it returns.  That leaves a race:
 * the child has already exec'd and runs for a moment unlimited, and a
 * process it forks in that moment keeps no limit.  The same holds for
 * the cgroup placement.  Good enough for runaway agents; not a sandbox.
 * Returns 1 when the agent went into a cgroup of its own.
 */
int
limits_apply(struct agent *a)
{
	struct {
		int res;
		const char *name;
		rlim_t v;
	} lim[] = {
		{ RLIMIT_AS, "rlimit_as", (rlim_t)srv.cfg.rlimit_as },
		{ RLIMIT_CPU, "rlimit_cpu", (rlim_t)ceil(srv.cfg.rlimit_cpu) },
		{ RLIMIT_NPROC, "rlimit_nproc", (rlim_t)srv.cfg.rlimit_nproc },
	};
	json_t *applied = json_object();
	struct rlimit rl;
	size_t i;
	int in_cgroup = 0;

	for (i = 0; a->pid > 0 && i < nitems(lim); i++) {
		if (lim[i].v == 0)
			continue;
		/* CPU: SIGXCPU at the limit, SIGKILL a second later. */
		rl.rlim_cur = lim[i].v;
		rl.rlim_max = lim[i].v + (lim[i].res == RLIMIT_CPU);
		if (prlimit(a->pid, lim[i].res, &rl, NULL) == -1)
			log_warn("agent-%lld: prlimit %s", (long long)a->id,
			    lim[i].name);
		else
			json_object_set_new(applied, lim[i].name,
			    json_integer((json_int_t)lim[i].v));
	}
	if (a->pid > 0)
		in_cgroup = cgroup_place(a, applied);
	if (json_object_size(applied) > 0)
		evlog_add("limits_applied", a->job, a->chunk, a->id, a->attempt,
		    applied);
	else
		json_decref(applied);
	return in_cgroup;
}

/*
 * Set the cgroup up before any agent starts: one spawned while the daemon
 * still sits in its cgroup stays there, and a cgroup with a process in it
 * cannot enable the memory controller for its children.
 */
void
limits_init(void)
{
	if (cg_base != NULL)
		return;
	cg_tried = 0;
	if (srv.cfg.cgroup_memory_max > 0 || srv.cfg.cgroup_pids_max > 0)
		cgroup_setup();
}

/* An agent ended: its cgroup, if it had one, reports and goes. */
void
limits_release(struct agent *a)
{
	struct placed *p;

	LIST_FOREACH(p, &cg_placed, entry) {
		if (p->agent == a->id)
			break;
	}
	if (p == NULL)
		return;
	cgroup_done(a, p->dir);
	LIST_REMOVE(p, entry);
	free(p->dir);
	free(p);
}

/* SIGHUP: cgroup limits are tried again if they were off. */
void
limits_reload(void)
{
	limits_init();
}

/* Agents still placed keep their entry: limits_release removes it. */
void
limits_free(void)
{
	free(cg_base);
	cg_base = NULL;
	cg_tried = 0;
}
