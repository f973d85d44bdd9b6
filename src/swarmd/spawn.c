/*
 * spawn.c: start one agent.  posix_spawn rather than fork: the daemon's
 * pages are never copied, and an exec failure (no such command, no
 * permission, a missing workdir) comes back as an error here instead of
 * as a mysterious exit status later.
 *
 * The agent's parent is its shim (src/shim/shim.c), not swarmd: the shim
 * waits for it and writes how it ended to STATEDIR/exit/agent-N before
 * it exits itself, so the exit status is there for the swarmd that reaps
 * the shim, or, after a restart, for the one that re-adopted it or finds
 * it gone.  The shim reports the agent's pid, or why its exec failed, on
 * a pipe (its descriptor 3), read by spawn_wait(): the scheduler starts
 * a batch of shims first and then waits for them all, so that their
 * starts overlap instead of each costing the loop a round trip.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

extern char **environ;

static char *shim;       /* the shim's path; NULL: [spawn] shim = off */
static char *status_dir; /* absolute: the shim runs in the job's workdir */

/* Status files of agents whose end is recorded, removed once committed. */
static int64_t *forgotten;
static size_t nforgotten, forgotten_cap;

struct strv {
	char **v;
	size_t n, cap;
};

static void
strv_add(struct strv *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 32;
		sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

static void
strv_free(struct strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

/* A secret: 64 hex digits of the kernel's randomness. */
void
spawn_token(char token[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	size_t i;

	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		fatal("getrandom");
	for (i = 0; i < sizeof raw; i++) {
		token[2 * i] = hex[raw[i] >> 4];
		token[2 * i + 1] = hex[raw[i] & 15];
	}
	token[64] = '\0';
}

static void
token_new(struct spawn_req *req)
{
	spawn_token(req->token);
	sha256(req->token, 64, req->agent->token_hash);
}

/* With the proxy on, these are ours: an agent must not go around it. */
static int
base_url_var(const char *s)
{
	return strncmp(s, "ANTHROPIC_BASE_URL", 18) == 0 &&
	        (s[18] == '=' || s[18] == '\0') ?
	    1 :
	    strncmp(s, "OPENAI_BASE_URL", 15) == 0 &&
	        (s[15] == '=' || s[15] == '\0');
}

/* Whether NAME=... (up to LEN) is set by the list EXTRA. */
static int
env_in(char **extra, const char *name, size_t len)
{
	for (; extra != NULL && *extra != NULL; extra++) {
		if (strncmp(*extra, name, len) == 0 && (*extra)[len] == '=')
			return 1;
	}
	return 0;
}

/*
 * The daemon's environment, less SWARM_* and systemd's NOTIFY_SOCKET (the
 * agents' messages would only be refused), then the job's, then ours.
 * In a worktree, none of the daemon's GIT_* (one could point git at
 * another repository), and the worktree's own (req->env) over the job's.
 */
static void
build_env(struct strv *env, struct job *job, struct spawn_req *req)
{
	struct agent *a = req->agent;
	json_t *jenv = json_object_get(job->spec, "env"), *v;
	const char *key, *proxy = req->proxy;
	char **e;

	for (e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');

		if (strncmp(*e, "SWARM_", 6) == 0 || eq == NULL ||
		    strncmp(*e, "NOTIFY_SOCKET=", 14) == 0)
			continue;
		if (req->env != NULL &&
		    (strncmp(*e, "GIT_", 4) == 0 ||
		        env_in(req->env, *e, eq - *e)))
			continue;
		if (proxy != NULL && base_url_var(*e))
			continue;
		if (jenv != NULL &&
		    json_object_getn(jenv, *e, (size_t)(eq - *e)) != NULL)
			continue;
		strv_add(env, xstrdup(*e));
	}
	json_object_foreach(jenv, key, v) {
		if ((proxy == NULL || !base_url_var(key)) &&
		    !env_in(req->env, key, strlen(key)))
			strv_add(
			    env, xasprintf("%s=%s", key, json_string_value(v)));
	}
	for (e = req->env; e != NULL && *e != NULL; e++)
		strv_add(env, xstrdup(*e));
	/* The proxy tells agents apart by the token in the path. */
	if (proxy != NULL) {
		strv_add(env,
		    xasprintf("ANTHROPIC_BASE_URL=http://%s/a/%s", proxy,
		        req->proxy_key));
		strv_add(env,
		    xasprintf("OPENAI_BASE_URL=http://%s/a/%s/v1", proxy,
		        req->proxy_key));
		if (req->proxy_socket != NULL)
			strv_add(env,
			    xasprintf(SWARM_ENV_PROXY_SOCKET "=%s",
			        req->proxy_socket));
	}
	strv_add(env, xasprintf(SWARM_ENV_SOCKET "=%s", srv.cfg.socket));
	strv_add(
	    env, xasprintf(SWARM_ENV_AGENT "=agent-%lld", (long long)a->id));
	strv_add(env, xasprintf(SWARM_ENV_JOB "=job-%lld", (long long)a->job));
	strv_add(env, xasprintf(SWARM_ENV_CHUNK "=%s", a->chunk));
	strv_add(env, xasprintf(SWARM_ENV_TOKEN "=%s", req->token));
	strv_add(env, xasprintf(SWARM_ENV_ATTEMPT "=%d", a->attempt));
	if (a->result_path != NULL)
		strv_add(env, xasprintf("SWARM_RESULT=%s", a->result_path));
	if (req->checkpoint != NULL) {
		strv_add(
		    env, xasprintf("SWARM_CHECKPOINT=%s", req->checkpoint));
		strv_add(env, xstrdup("SWARM_RESUME=1"));
	}
	if (req->rejection != NULL)
		strv_add(env, xasprintf("SWARM_REJECTION=%s", req->rejection));
}

static int
build_argv(struct strv *argv, struct job *job, struct spawn_req *req)
{
	json_t *cmd = json_object_get(job->spec, "command"), *v, *args;
	json_t *fields = chunk_fields_json(job->id, req->agent->chunk);
	char jobname[32], agentname[32], *s;
	size_t i;
	int rc;

	snprintf(jobname, sizeof jobname, "job-%lld", (long long)job->id);
	snprintf(agentname, sizeof agentname, "agent-%lld",
	    (long long)req->agent->id);
	args = json_array();
	json_array_foreach(cmd, i, v) {
		s = jobspec_expand(json_string_value(v), req->task,
		    req->agent->chunk, jobname, agentname, fields);
		json_array_append_new(args, json_string_nocheck(s));
		free(s);
	}
	/* The preset's additions (claude.c), for a job that asks for it. */
	rc = claude_args(job, req->agent, args, req->error, sizeof req->error);
	json_array_foreach(args, i, v)
		strv_add(argv, xstrdup(json_string_value(v)));
	json_decref(args);
	json_decref(fields);
	return rc;
}

/* Find a bare command name in the PATH the agent will have. */
static char *
resolve(const char *name, struct job *job)
{
	json_t *jenv = json_object_get(job->spec, "env");
	const char *path = json_string_value(json_object_get(jenv, "PATH"));
	char *dirs, *dir, *save = NULL, *full;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	if (path == NULL)
		path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	dirs = xstrdup(path);
	for (dir = strtok_r(dirs, ":", &save); dir != NULL;
	     dir = strtok_r(NULL, ":", &save)) {
		full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0) {
			free(dirs);
			return full;
		}
		free(full);
	}
	free(dirs);
	return NULL;
}

/* The shim's status file for agent ID. */
static char *
status_path(int64_t id)
{
	return xasprintf("%s/agent-%lld", status_dir, (long long)id);
}

/* Why it did not start, for the agent's log too. */
static void
spawn_log_error(struct spawn_req *req)
{
	int fd = open(req->agent->log, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd != -1) {
		dprintf(fd, "swarmd: %s\n", req->error);
		close(fd);
	}
}

/*
 * The shim's word: "pid N" once the agent runs, or "error ERRNO".  On an
 * error the shim has exited: reap it here.  REQ->error holds the words
 * for a failure so far ("cannot run ... in ..."); they are cleared or
 * completed.
 */
int
spawn_wait(struct spawn_req *req)
{
	char buf[64];
	size_t n = 0, len = strlen(req->error);
	ssize_t r;
	long long v = 0;
	pid_t shim_pid = req->agent->shim;

	if (req->report == -1)
		return 0;
	while (n < sizeof buf - 1 &&
	    ((r = read(req->report, buf + n, sizeof buf - 1 - n)) > 0 ||
	        (r == -1 && errno == EINTR)))
		n += r > 0 ? (size_t)r : 0;
	close(req->report);
	req->report = -1;
	buf[n] = '\0';
	if (sscanf(buf, "pid %lld", &v) == 1 && v > 1 && v <= INT32_MAX) {
		req->agent->pid = (pid_t)v;
		req->error[0] = '\0';
		return 0;
	}
	if (sscanf(buf, "error %lld", &v) == 1 && v > 0 && v < 4096)
		snprintf(req->error + len, sizeof req->error - len, ": %s",
		    strerror((int)v));
	else
		snprintf(req->error + len, sizeof req->error - len,
		    ": %s (pid %d) ended first", shim, (int)shim_pid);
	req->agent->shim = 0;
	while (waitpid(shim_pid, NULL, 0) == -1 && errno == EINTR)
		;
	spawn_log_error(req);
	return -1;
}

/* The shim's argv: swarmd-shim STATUS PATH ARGV... */
static char **
shim_argv(struct agent *a, const char *path, char **argv)
{
	size_t n = 0, i;
	char **v;

	while (argv[n] != NULL)
		n++;
	v = xcalloc(n + 4, sizeof *v);
	v[0] = xstrdup("swarmd-shim");
	v[1] = status_path(a->id);
	v[2] = xstrdup(path);
	for (i = 0; i < n; i++)
		v[3 + i] = xstrdup(argv[i]);
	return v;
}

static void
argv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Where the agent runs: its worktree, else the job's workdir. */
static const char *
spawn_dir(const struct spawn_req *req, const struct job *job)
{
	return req->dir != NULL ? req->dir : job->workdir;
}

static int
spawn_exec(struct spawn_req *req, struct job *job, const char *path,
    char **argv, char **envp, int logfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **sv = NULL;
	int rep[2] = { -1, -1 };
	pid_t pid;
	int rc;

	if (shim != NULL && pipe2(rep, O_CLOEXEC) == -1) {
		snprintf(
		    req->error, sizeof req->error, "pipe: %s", strerror(errno));
		return -1;
	}
	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	posix_spawn_file_actions_addchdir_np(&fa, spawn_dir(req, job));
	if (shim != NULL) {
		posix_spawn_file_actions_adddup2(&fa, rep[1], 3);
		sv = shim_argv(req->agent, path, argv);
	}
	/* Nothing of ours past stdio (and the shim's pipe), cloexec or not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, shim != NULL ? 4 : 3);
	rc = posix_spawn(&pid, shim != NULL ? shim : path, &fa, &attr,
	    shim != NULL ? sv : argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	argv_free(sv);
	if (rep[1] != -1)
		close(rep[1]);
	if (rc != 0) {
		if (rep[0] != -1)
			close(rep[0]);
		snprintf(req->error, sizeof req->error,
		    "cannot run \"%s\" in %s: %s",
		    shim != NULL ? shim : argv[0], spawn_dir(req, job),
		    strerror(rc));
		return -1;
	}
	if (shim == NULL) {
		req->agent->pid = pid;
		return 0;
	}
	/* spawn_wait() reads the agent's pid, or completes these words. */
	req->agent->shim = pid;
	req->report = rep[0];
	snprintf(req->error, sizeof req->error, "cannot run \"%s\" in %s",
	    argv[0], spawn_dir(req, job));
	return 0;
}

int
spawn_agent(struct spawn_req *req)
{
	struct agent *a = req->agent;
	struct job *job = job_find(a->job);
	struct strv argv = { 0 }, env = { 0 };
	char *path = NULL;
	int logfd, rc = -1;

	req->report = -1;
	if (job == NULL) {
		snprintf(req->error, sizeof req->error, "job-%lld is gone",
		    (long long)a->job);
		return -1;
	}
	token_new(req);
	a->log = xasprintf(
	    "%s/logs/agent-%lld.log", srv.cfg.statedir, (long long)a->id);
	logfd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd == -1) {
		snprintf(req->error, sizeof req->error, "%s: %s", a->log,
		    strerror(errno));
		return -1;
	}
	/* jobspec.c requires a command: an empty one is an error, no crash. */
	if (build_argv(&argv, job, req) == -1)
		; /* the preset's words are in req->error */
	else if (argv.n == 0)
		snprintf(req->error, sizeof req->error,
		    "job-%lld has no command", (long long)job->id);
	else if ((path = resolve(argv.v[0], job)) == NULL)
		snprintf(req->error, sizeof req->error,
		    "command not found: \"%s\"", argv.v[0]);
	else {
		build_env(&env, job, req);
		rc = spawn_exec(req, job, path, argv.v, env.v, logfd);
	}
	if (rc == -1)
		dprintf(logfd, "swarmd: %s\n", req->error);
	close(logfd);
	free(path);
	strv_free(&argv);
	strv_free(&env);
	return rc;
}

/* ---- the shim and its status files ---- */

/* swarmd-shim in the directory of swarmd's own executable, or NULL. */
static char *
shim_beside(void)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return NULL;
	*slash = '\0';
	return xasprintf("%s/swarmd-shim", self);
}

/*
 * [spawn] shim: "" (swarmd-shim beside swarmd, where meson builds and
 * installs it), a path, or "off" (agents are swarmd's children; an exit
 * while swarmd is down goes unseen).  Sets *PATH (NULL for off).
 */
static int
shim_resolve(char **path, char *err, size_t errlen)
{
	const char *cfg = srv.cfg.shim != NULL ? srv.cfg.shim : "";
	char *p;

	*path = NULL;
	if (strcmp(cfg, "off") == 0)
		return 0;
	p = *cfg != '\0' ? xstrdup(cfg) : shim_beside();
	if (p == NULL || p[0] != '/' || access(p, X_OK) == -1) {
		snprintf(err, errlen,
		    "[spawn] shim: cannot run %s: %s (set shim to its path, or off)",
		    p != NULL ? p : "swarmd-shim beside swarmd",
		    p != NULL && p[0] != '/' ? "not an absolute path" :
		                               strerror(errno));
		free(p);
		return -1;
	}
	*path = p;
	return 0;
}

/*
 * At start: find the shim and make STATEDIR/exit, swarmd's alone (0700):
 * an agent must not write its own exit status.
 */
int
spawn_init(char *err, size_t errlen)
{
	char *dir = xasprintf("%s/exit", srv.cfg.statedir), *abs;

	if (shim_resolve(&shim, err, errlen) == -1) {
		free(dir);
		return -1;
	}
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    chmod(dir, 0700) == -1 || (abs = realpath(dir, NULL)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	free(status_dir);
	status_dir = abs;
	if (shim == NULL)
		log_notice("[spawn] shim = off: an agent that ends while "
		           "swarmd is down leaves no exit status");
	return 0;
}

/* SIGHUP: a shim that cannot be found keeps the one in use. */
void
spawn_reload(void)
{
	char err[512], *p;

	if (shim_resolve(&p, err, sizeof err) == -1) {
		log_warnx("%s; keeping %s", err, shim != NULL ? shim : "off");
		return;
	}
	free(shim);
	shim = p;
}

void
spawn_free(void)
{
	free(shim);
	free(status_dir);
	free(forgotten);
	shim = status_dir = NULL;
	forgotten = NULL;
	nforgotten = forgotten_cap = 0;
}

/* "pid N exit CODE ended MS", or "pid N signal SIG ended MS". */
static int
status_parse(const char *line, int *pid, int *status, long long *ended)
{
	char how[8];
	int v;

	if (sscanf(line, "pid %d %7s %d ended %lld", pid, how, &v, ended) != 4)
		return -1;
	if (strcmp(how, "exit") == 0 && v >= 0 && v <= 255)
		*status = W_EXITCODE(v, 0);
	else if (strcmp(how, "signal") == 0 && v > 0 && v < NSIG)
		*status = v;
	else
		return -1;
	return 0;
}

/*
 * How agent A ended, from its shim's status file, as a wait(2) status in
 * *STATUS, and when (wall ms) in A->ended.  Returns 0, or -1 when there
 * is no such file (the shim has not written it, or was killed) or it is
 * not one the shim wrote for this agent.
 */
int
spawn_status_read(struct agent *a, int *status)
{
	char *path, buf[128];
	struct stat st;
	long long ended;
	ssize_t n;
	int fd, pid;

	if (status_dir == NULL)
		return -1;
	path = status_path(a->id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return -1;
	n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ?
	    read(fd, buf, sizeof buf - 1) :
	    -1;
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (status_parse(buf, &pid, status, &ended) == -1)
		return -1;
	/* A pid recorded must be the one the shim started. */
	if (a->pid > 0 && pid != a->pid)
		return -1;
	a->ended = ended;
	return 0;
}

/* A's end is being recorded: its status file goes after the commit. */
void
spawn_status_forget(const struct agent *a)
{
	if (nforgotten == forgotten_cap) {
		forgotten_cap = forgotten_cap ? forgotten_cap * 2 : 16;
		forgotten =
		    xrealloc(forgotten, forgotten_cap * sizeof *forgotten);
	}
	forgotten[nforgotten++] = a->id;
}

/* Subscribed to the store's commits (swarmd.c). */
void
spawn_status_committed(void *arg)
{
	char *path;
	size_t i;

	(void)arg;
	for (i = 0; i < nforgotten && status_dir != NULL; i++) {
		path = status_path(forgotten[i]);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("unlink %s", path);
		free(path);
	}
	nforgotten = 0;
}

/*
 * After recovery: status files of agents no longer live (their end was
 * recorded, and swarmd stopped before removing the file) go.
 */
void
spawn_status_sweep(void)
{
	struct dirent *d;
	long long id;
	char *path, num[32];
	DIR *dir;

	if (status_dir == NULL || (dir = opendir(status_dir)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		/* agent-N, or agent-N.tmp that a live shim is writing. */
		snprintf(num, sizeof num, "%s",
		    strncmp(d->d_name, "agent-", 6) == 0 ? d->d_name + 6 : "");
		num[strcspn(num, ".")] = '\0';
		if (parse_int(num, 1, INT64_MAX, &id) == 0 &&
		    agent_find(id) != NULL)
			continue;
		path = xasprintf("%s/%s", status_dir, d->d_name);
		if (unlink(path) == -1 && errno != ENOENT)
			log_warn("unlink %s", path);
		free(path);
	}
	closedir(dir);
}
