/*
 * spawn.c: start one agent.  posix_spawn rather than fork: the daemon's
 * pages are never copied, and an exec failure (no such command, no
 * permission, a missing workdir) comes back as an error here instead of
 * as a mysterious exit status later.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

extern char **environ;

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

/*
 * The daemon's environment, less SWARM_* and systemd's NOTIFY_SOCKET (the
 * agents' messages would only be refused), then the job's, then ours.
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
		if (proxy != NULL && base_url_var(*e))
			continue;
		if (jenv != NULL &&
		    json_object_getn(jenv, *e, (size_t)(eq - *e)) != NULL)
			continue;
		strv_add(env, xstrdup(*e));
	}
	json_object_foreach(jenv, key, v) {
		if (proxy == NULL || !base_url_var(key))
			strv_add(
			    env, xasprintf("%s=%s", key, json_string_value(v)));
	}
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

static void
build_argv(struct strv *argv, struct job *job, struct spawn_req *req)
{
	json_t *cmd = json_object_get(job->spec, "command"), *v;
	char jobname[32], agentname[32];
	size_t i;

	snprintf(jobname, sizeof jobname, "job-%lld", (long long)job->id);
	snprintf(agentname, sizeof agentname, "agent-%lld",
	    (long long)req->agent->id);
	json_array_foreach(cmd, i, v)
		strv_add(argv,
		    jobspec_expand(json_string_value(v), req->task,
		        req->agent->chunk, jobname, agentname));
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

static int
spawn_exec(struct spawn_req *req, struct job *job, const char *path,
    char **argv, char **envp, int logfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int rc;

	proc_spawn_attr(&attr);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	posix_spawn_file_actions_addchdir_np(&fa, job->workdir);
	/* Nothing of ours past stdio, close-on-exec or not. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(req->error, sizeof req->error,
		    "cannot run \"%s\" in %s: %s", argv[0], job->workdir,
		    strerror(rc));
		return -1;
	}
	req->agent->pid = pid;
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
	build_argv(&argv, job, req);
	/* jobspec.c requires a command: an empty one is an error, no crash. */
	if (argv.n == 0)
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
