/*
 * result.c: the result contract.  A job may declare
 *
 *   "result": {"path": "out/{chunk}.json", "schema": {...}}
 *
 * and an attempt is done only when that file holds JSON that matches the
 * schema.  The schema language is a small subset of JSON Schema:
 *
 *   type      "object", "array", "string", "number", "integer",
 *             "boolean", "null", or an array of these
 *   required  names an object must have
 *   properties  a schema for each named member
 *   items     a schema for every element of an array
 *   minItems  the fewest elements an array may have
 *   enum      the values allowed
 *
 * Any other keyword is refused when the job is submitted, so a schema
 * never silently checks less than its author meant.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "swarmd.h"

#define MAX_ERRORS 20

static const char *keywords[] = {
	"type",
	"required",
	"properties",
	"items",
	"minItems",
	"enum",
	"$schema",
	"title",
	"description",
};
static const char *types[] = {
	"object",
	"array",
	"string",
	"number",
	"integer",
	"boolean",
	"null",
};

static void
err(json_t *errors, const char *path, const char *fmt, const char *arg)
{
	char msg[512];

	if (json_array_size(errors) >= MAX_ERRORS)
		return;
	snprintf(msg, sizeof msg, fmt, arg);
	/* Cut whole characters: a message jansson refused (not UTF-8) was
	 * an error lost, and a result that broke its schema passed. */
	utf8_trunc(msg);
	json_array_append_new(errors, json_sprintf("%s: %s", path, msg));
}

static int
known(const char *s, const char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return 1;
	}
	return 0;
}

/* Check the schema itself, at submit.  Problems go to PROBLEMS. */
void
result_schema_check(json_t *schema, const char *path, json_t *problems)
{
	json_t *v, *t;
	const char *key;
	char *sub;
	size_t i;

	if (!json_is_object(schema)) {
		err(problems, path, "%s", "expected a schema object");
		return;
	}
	json_object_foreach(schema, key, v) {
		if (!known(key, keywords, nitems(keywords)))
			json_array_append_new(problems,
			    json_sprintf("%s.%s: unsupported schema keyword",
			        path, key));
	}
	if ((t = json_object_get(schema, "type")) != NULL) {
		json_t *list = json_is_array(t) ? t : NULL;

		if (list == NULL &&
		    !(json_is_string(t) &&
		        known(json_string_value(t), types, nitems(types))))
			err(problems, path, "%s", "type: not a known type");
		json_array_foreach(list, i, v) {
			if (!json_is_string(v) ||
			    !known(json_string_value(v), types, nitems(types)))
				err(problems, path, "%s",
				    "type: not a known type");
		}
	}
	if ((v = json_object_get(schema, "required")) != NULL &&
	    !json_is_array(v))
		err(problems, path, "%s", "required: expected an array");
	if ((v = json_object_get(schema, "minItems")) != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < 0))
		err(problems, path, "%s", "minItems: expected an integer >= 0");
	if ((v = json_object_get(schema, "enum")) != NULL && !json_is_array(v))
		err(problems, path, "%s", "enum: expected an array");
	if ((v = json_object_get(schema, "items")) != NULL) {
		sub = xasprintf("%s.items", path);
		result_schema_check(v, sub, problems);
		free(sub);
	}
	if ((v = json_object_get(schema, "properties")) != NULL) {
		if (!json_is_object(v))
			err(problems, path, "%s",
			    "properties: expected an object");
		json_object_foreach(v, key, t) {
			sub = xasprintf("%s.properties.%s", path, key);
			result_schema_check(t, sub, problems);
			free(sub);
		}
	}
}

static int
type_is(json_t *v, const char *type)
{
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	return json_is_null(v);
}

static int
type_ok(json_t *v, json_t *t)
{
	json_t *e;
	size_t i;

	if (json_is_string(t))
		return type_is(v, json_string_value(t));
	json_array_foreach(t, i, e) {
		if (type_is(v, json_string_value(e)))
			return 1;
	}
	return 0;
}

static void validate(json_t *, json_t *, const char *, json_t *);

static void
validate_object(json_t *schema, json_t *v, const char *path, json_t *errors)
{
	json_t *req = json_object_get(schema, "required");
	json_t *props = json_object_get(schema, "properties"), *e;
	const char *key;
	char *sub;
	size_t i;

	json_array_foreach(req, i, e) {
		if (json_is_string(e) &&
		    json_object_get(v, json_string_value(e)) == NULL)
			err(errors, path, "missing required member \"%s\"",
			    json_string_value(e));
	}
	json_object_foreach(props, key, e) {
		json_t *m = json_object_get(v, key);

		if (m == NULL)
			continue;
		sub = xasprintf("%s.%s", path, key);
		validate(e, m, sub, errors);
		free(sub);
	}
}

static void
validate_array(json_t *schema, json_t *v, const char *path, json_t *errors)
{
	json_t *min = json_object_get(schema, "minItems");
	json_t *items = json_object_get(schema, "items"), *e;
	char *sub, n[32];
	size_t i;

	if (min != NULL &&
	    json_array_size(v) < (size_t)json_integer_value(min)) {
		snprintf(
		    n, sizeof n, "%lld", (long long)json_integer_value(min));
		err(errors, path, "fewer than %s items", n);
	}
	if (items == NULL)
		return;
	json_array_foreach(v, i, e) {
		sub = xasprintf("%s[%zu]", path, i);
		validate(items, e, sub, errors);
		free(sub);
	}
}

static void
validate(json_t *schema, json_t *v, const char *path, json_t *errors)
{
	json_t *t = json_object_get(schema, "type");
	json_t *en = json_object_get(schema, "enum"), *e;
	size_t i;
	int found = 0;

	if (t != NULL && !type_ok(v, t)) {
		char *want = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);

		err(errors, path, "expected type %s", want);
		free(want);
		return;
	}
	if (en != NULL) {
		json_array_foreach(en, i, e)
			found |= json_equal(e, v);
		if (!found)
			err(errors, path, "%s", "not one of the enum values");
	}
	if (json_is_object(v))
		validate_object(schema, v, path, errors);
	else if (json_is_array(v))
		validate_array(schema, v, path, errors);
}

/*
 * The result at PATH, parsed; NULL with the reason.  The agent names the
 * path, so it is read as file_read() reads: a regular file only, within
 * [store] result_max, a smaller limit than a checkpoint's: it is parsed
 * whole, on the loop, into some ten times its size.
 */
static json_t *
result_load(const char *path, char *reason, size_t len)
{
	json_error_t jerr;
	char err[512], *buf;
	json_t *doc;
	size_t n;

	if ((buf = file_read(path, FILE_RESULT, &n, err, sizeof err)) == NULL) {
		snprintf(reason, len, "result %s", err);
		return NULL;
	}
	doc = json_loadb(buf, n, JSON_DECODE_ANY, &jerr);
	free(buf);
	if (doc == NULL)
		snprintf(reason, len, "result %s: %s", path, jerr.text);
	return doc;
}

/*
 * Check the result file at PATH against SCHEMA (may be NULL: any JSON).
 * Returns 0 when valid, else -1 with the reasons joined in REASON.
 */
int
result_check(const char *path, json_t *schema, char *reason, size_t len)
{
	json_t *errors, *doc, *e;
	size_t i, off = 0;

	if ((doc = result_load(path, reason, len)) == NULL) {
		utf8_trunc(reason); /* jansson's "near" text may cut a char */
		return -1;
	}
	errors = json_array();
	if (schema != NULL)
		validate(schema, doc, "$", errors);
	json_decref(doc);
	if (json_array_size(errors) == 0) {
		json_decref(errors);
		return 0;
	}
	off = (size_t)snprintf(
	    reason, len, "result %s does not match its schema:", path);
	json_array_foreach(errors, i, e) {
		if (off < len)
			off += (size_t)snprintf(reason + off, len - off,
			    "%s %s", i ? ";" : "", json_string_value(e));
	}
	json_decref(errors);
	utf8_trunc(reason); /* cut at LEN: whole characters, for the events */
	return -1;
}

static int
mkdirs(const char *path)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0750) == -1 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	free(p);
	return rc;
}

/*
 * Where attempt A of its chunk is to leave its result: the job's
 * result.path (placeholders expanded, relative to the workdir), else a
 * path of its own under the state dir.  Deterministic, so recovery finds
 * it again.  The directories are made here.
 */
char *
result_path_for(struct job *j, struct agent *a)
{
	const char *tmpl = json_string_value(
	    json_object_get(json_object_get(j->spec, "result"), "path"));
	char jobname[32], agentname[32], *rel, *path;

	snprintf(jobname, sizeof jobname, "job-%lld", (long long)j->id);
	snprintf(agentname, sizeof agentname, "agent-%lld", (long long)a->id);
	if (tmpl != NULL) {
		rel = jobspec_expand(
		    tmpl, "", a->chunk, jobname, agentname, NULL);
		path = xasprintf("%s/%s", j->workdir, rel);
		free(rel);
	} else
		path = xasprintf("%s/results/%s/%s.%d.json", srv.cfg.statedir,
		    jobname, a->chunk, a->attempt);
	if (mkdirs(path) == -1)
		log_warn("cannot make the directories of %s", path);
	return path;
}

/*
 * Is this attempt's result acceptable?  With a contract, PATH must hold
 * JSON matching the schema; without one anything goes.  0 when accepted.
 */
int
result_settle(
    struct agent *a, struct job *j, const char *path, char *reason, size_t len)
{
	json_t *contract =
	    j != NULL ? json_object_get(j->spec, "result") : NULL;

	(void)a;
	if (contract == NULL)
		return 0;
	if (path == NULL || access(path, F_OK) == -1) {
		snprintf(reason, len, "no result at %s",
		    path != NULL ? path : "(none)");
		return -1;
	}
	return result_check(
	    path, json_object_get(contract, "schema"), reason, len);
}
