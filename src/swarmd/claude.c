/*
 * claude.c: the "claude-code" preset.  A job that says "agent":
 * "claude-code" runs Claude Code under supervision without wiring of its
 * own: each attempt's command gets what is missing of
 *
 *   --output-format stream-json --verbose   the meter reads its output
 *   --settings FILE                         hooks that call swarmctl
 *   --resume SESSION                        a retry goes on where the
 *                                           attempt before it stopped
 *
 * and nothing the job gave is replaced: a flag it set stays as it is, a
 * settings file or JSON it named is copied into the attempt's file with
 * the hooks and the permission added beside its own.  The attempt's
 * settings file is kept beside its log (logs/agent-N.settings.json) so a
 * person can read what ran.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

/* What an agent may run without asking: swarmctl, for done and mail. */
#define CLAUDE_ALLOW "Bash(swarmctl:*)"
/* Claude Code's own limit on each hook, seconds; swarmctl ends sooner. */
#define CLAUDE_HOOK_TIMEOUT 30

static const struct {
	const char *event;
	const char *matcher; /* NULL: the event takes none */
} hook_events[] = {
	{ "PostToolUse", "*" },
	{ "Stop", NULL },
	{ "PreCompact", NULL },
	{ "SessionStart", "compact" },
	{ "StopFailure", NULL },
	{ "SubagentStart", NULL },
	{ "SubagentStop", NULL },
};

int
claude_preset(const struct job *j)
{
	const char *s = json_string_value(json_object_get(j->spec, "agent"));

	return s != NULL && strcmp(s, "claude-code") == 0;
}

/* Where FLAG is in ARGV ("--flag" or "--flag=..."), or -1. */
static int
flag_at(json_t *argv, const char *flag)
{
	size_t i, n = strlen(flag);
	const char *s;
	json_t *v;

	json_array_foreach(argv, i, v) {
		s = json_string_value(v);
		if (s != NULL && strncmp(s, flag, n) == 0 &&
		    (s[n] == '\0' || s[n] == '='))
			return (int)i;
	}
	return -1;
}

static void
hooks_add(json_t *settings)
{
	json_t *hooks = json_object_get(settings, "hooks"), *list, *entry;
	char *cmd;
	size_t i;

	if (!json_is_object(hooks)) {
		hooks = json_object();
		json_object_set_new(settings, "hooks", hooks);
	}
	for (i = 0; i < nitems(hook_events); i++) {
		list = json_object_get(hooks, hook_events[i].event);
		if (!json_is_array(list)) {
			list = json_array();
			json_object_set_new(hooks, hook_events[i].event, list);
		}
		cmd = xasprintf(
		    "swarmctl hook claude-code %s", hook_events[i].event);
		entry = json_pack("{s:[{s:s, s:s, s:i}]}", "hooks", "type",
		    "command", "command", cmd, "timeout", CLAUDE_HOOK_TIMEOUT);
		free(cmd);
		if (hook_events[i].matcher != NULL)
			json_object_set_new(entry, "matcher",
			    json_string(hook_events[i].matcher));
		json_array_append_new(list, entry);
	}
}

/* permissions.allow gains swarmctl; the job's own rules stay first. */
static void
allow_add(json_t *settings)
{
	json_t *perm = json_object_get(settings, "permissions"), *allow, *v;
	size_t i;

	if (!json_is_object(perm)) {
		perm = json_object();
		json_object_set_new(settings, "permissions", perm);
	}
	allow = json_object_get(perm, "allow");
	if (!json_is_array(allow)) {
		allow = json_array();
		json_object_set_new(perm, "allow", allow);
	}
	json_array_foreach(allow, i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), CLAUDE_ALLOW) == 0)
			return;
	}
	json_array_append_new(allow, json_string(CLAUDE_ALLOW));
}

/* The job's --settings, a file (relative to the workdir) or JSON. */
static json_t *
settings_job(struct job *j, const char *arg, char *err, size_t len)
{
	json_error_t je;
	json_t *s;
	char *path;

	if (*arg == '{')
		s = json_loads(arg, 0, &je);
	else {
		path = *arg == '/' ? xstrdup(arg) :
		                     xasprintf("%s/%s", j->workdir, arg);
		s = json_load_file(path, 0, &je);
		free(path);
	}
	if (!json_is_object(s)) {
		snprintf(err, len, "--settings %s: %s", arg,
		    s == NULL ? je.text : "not a JSON object");
		json_decref(s);
		return NULL;
	}
	return s;
}

static int
settings_write(const char *path, json_t *s, char *err, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd == -1 || json_dumpfd(s, fd, JSON_INDENT(2)) == -1 ||
	    write(fd, "\n", 1) != 1) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The attempt's settings: the job's own (--settings), plus the hooks and
 * swarmctl's permission; written beside the log, named in ARGV.
 */
static int
settings_make(
    struct job *j, struct agent *a, json_t *argv, char *err, size_t len)
{
	int at = flag_at(argv, "--settings");
	const char *arg = NULL, *eq = NULL;
	json_t *s;
	char *path;
	int rc;

	if (at >= 0) {
		eq = strchr(json_string_value(json_array_get(argv, at)), '=');
		arg = eq != NULL ?
		    eq + 1 :
		    json_string_value(json_array_get(argv, at + 1));
		if (arg == NULL) {
			snprintf(err, len, "--settings needs a value");
			return -1;
		}
	}
	s = arg != NULL ? settings_job(j, arg, err, len) : json_object();
	if (s == NULL)
		return -1;
	hooks_add(s);
	allow_add(s);
	path = xasprintf("%s/logs/agent-%lld.settings.json", srv.cfg.statedir,
	    (long long)a->id);
	if ((rc = settings_write(path, s, err, len)) == 0) {
		if (at >= 0 && eq == NULL)
			json_array_set_new(argv, at + 1, json_string(path));
		else if (at >= 0)
			json_array_set_new(
			    argv, at, json_sprintf("--settings=%s", path));
		else {
			json_array_append_new(argv, json_string("--settings"));
			json_array_append_new(argv, json_string(path));
		}
	}
	json_decref(s);
	free(path);
	return rc;
}

/* VAR as the agent will have it: the job's env, else swarmd's own. */
static const char *
agent_env(struct job *j, const char *var)
{
	const char *v = json_string_value(
	    json_object_get(json_object_get(j->spec, "env"), var));

	return v != NULL ? v : getenv(var);
}

/* Whether SESSION's transcript is in the agent's Claude config dir. */
static int
transcript_exists(struct job *j, const char *session)
{
	const char *dir = agent_env(j, "CLAUDE_CONFIG_DIR");
	const char *home = agent_env(j, "HOME");
	char *pattern;
	glob_t g;
	int found;

	if (dir != NULL)
		pattern = xasprintf("%s/projects/*/%s.jsonl", dir, session);
	else if (home != NULL)
		pattern =
		    xasprintf("%s/.claude/projects/*/%s.jsonl", home, session);
	else
		return 0;
	found = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
	globfree(&g);
	free(pattern);
	return found;
}

static void
session_event(struct agent *a, const char *kind, json_t *data)
{
	store_begin();
	evlog_add(kind, a->job, a->chunk, a->id, a->attempt, data);
	store_commit();
}

/*
 * A retry after a transient failure or a watchdog restart goes on in the
 * session the attempt before it ran, when its transcript is still there;
 * a handoff starts fresh from the checkpoint by design.
 */
static void
session_resume(struct job *j, struct agent *a, json_t *argv)
{
	char *reason, *cls, *session;
	const char *why = NULL;
	int64_t prev;

	if (a->attempt < 2 || flag_at(argv, "--resume") >= 0 ||
	    flag_at(argv, "-r") >= 0 || flag_at(argv, "--continue") >= 0 ||
	    flag_at(argv, "-c") >= 0 || flag_at(argv, "--session-id") >= 0)
		return;
	session = agent_prev_session(a, &prev, &reason);
	cls = chunk_fail_class_of(a->job, a->chunk);
	if (json_is_false(json_object_get(j->spec, "session_resume")))
		why = "the job's session_resume is false";
	else if (session == NULL)
		why = "the attempt before recorded no session";
	else if (reason != NULL && strncmp(reason, "watchdog handoff", 16) == 0)
		why = "a handoff starts fresh from the checkpoint";
	else if ((cls == NULL || strcmp(cls, "transient") != 0) &&
	    (reason == NULL || strncmp(reason, "watchdog restart", 16) != 0))
		why = "the attempt before did not fail transiently";
	else if (!transcript_exists(j, session))
		why = "its transcript is not in the agent's HOME";
	if (why == NULL) {
		json_array_append_new(argv, json_string("--resume"));
		json_array_append_new(argv, json_string(session));
	}
	session_event(a, why == NULL ? "session_resumed" : "session_fresh",
	    json_pack("{s:s*, s:I, s:s*}", "session_id", session, "from_agent",
	        (json_int_t)prev, "reason", why));
	free(session);
	free(reason);
	free(cls);
}

/*
 * Complete ARGV (the job's command, expanded: a JSON array of strings)
 * for agent A of a preset job.  Returns 0, or -1 with the reason in ERR.
 */
int
claude_args(struct job *j, struct agent *a, json_t *argv, char *err, size_t len)
{
	if (!claude_preset(j))
		return 0;
	if (flag_at(argv, "--output-format") < 0) {
		json_array_append_new(argv, json_string("--output-format"));
		json_array_append_new(argv, json_string("stream-json"));
	}
	if (flag_at(argv, "--verbose") < 0)
		json_array_append_new(argv, json_string("--verbose"));
	if (settings_make(j, a, argv, err, len) == -1)
		return -1;
	session_resume(j, a, argv);
	return 0;
}

/* The stream-json init line named the session: keep it for a retry. */
void
claude_session(struct agent *a, const char *session)
{
	if (a->session != NULL && strcmp(a->session, session) == 0)
		return;
	free(a->session);
	a->session = xstrdup(session);
	agent_store_session(a, session);
	evlog_add("session_started", a->job, a->chunk, a->id, a->attempt,
	    json_pack("{s:s}", "session_id", session));
}

/*
 * A preset agent that exits 0 having made no model call (a trust or
 * onboarding prompt in a directory it has never seen, a login screen)
 * did nothing: it fails, with that reason.  One that reported its own
 * end keeps it.
 */
void
claude_exit_check(struct agent *a, enum agent_exit x)
{
	struct job *j = job_find(a->job);

	if (j == NULL || !claude_preset(j) || x != EXIT_ZERO ||
	    a->end != END_NONE || a->model_calls > 0 ||
	    a->use.input + a->use.output + a->use.cache_creation +
	            a->use.cache_read >
	        0)
		return;
	agent_end_set(a, END_FAILED,
	    "exited 0 without any model call or tool use "
	    "(a trust or onboarding prompt?)");
}
