/*
 * swarm-protocol.h: the control-socket protocol shared by swarmd and its
 * clients.  swarmd-protocol(7) is the full description; this header holds
 * the constants both sides must agree on.
 *
 * Transport: a Unix stream socket.  Every message is one JSON object on
 * one line (terminated by '\n'), at most SWARM_MAX_LINE bytes.  The client
 * sends a request, the server answers with exactly one response carrying
 * the same "id".  A client may send further requests on the same
 * connection.  Streaming verbs (events --follow) answer once and then
 * send further lines tagged with the same id until the client closes.
 *
 * Request:  {"id": 1, "verb": "ps", "args": {...},
 *            "auth": {"agent": "agent-17", "token": "..."}}
 * Success:  {"id": 1, "ok": true, ...verb-specific fields...}
 * Failure:  {"id": 1, "ok": false,
 *            "error": {"code": "not_found", "message": "..."}}
 */
#ifndef SWARM_PROTOCOL_H
#define SWARM_PROTOCOL_H

#define SWARM_PROTOCOL_VERSION 1
#define SWARM_MAX_LINE (1024 * 1024)
/* Checkpoint files larger than this travel by path and hash. */
#define SWARM_CHECKPOINT_INLINE (512 * 1024)

/* Error codes, the "code" member of an error object. */
#define SWARM_E_BAD_REQUEST "bad_request"   /* not JSON, not an object */
#define SWARM_E_UNKNOWN_VERB "unknown_verb" /* no such verb */
#define SWARM_E_BAD_ARGS "bad_args"         /* unknown field, wrong type */
#define SWARM_E_TOO_LARGE "too_large"       /* line over SWARM_MAX_LINE */
#define SWARM_E_VERSION "version"           /* unsupported protocol version */
#define SWARM_E_NOT_FOUND "not_found"       /* unknown agent/job/chunk */
#define SWARM_E_UNAUTHORIZED "unauthorized" /* bad or missing agent token */
#define SWARM_E_FORBIDDEN "forbidden"       /* peer may not use this verb */
#define SWARM_E_INVALID_JOB "invalid_job"   /* job file failed validation */
#define SWARM_E_CONFLICT "conflict"         /* not possible in this state */
#define SWARM_E_INVALID_RESULT "invalid_result" /* result fails its schema */
#define SWARM_E_QUOTA "quota"       /* refused to stay within quota */
#define SWARM_E_INTERNAL "internal" /* the daemon failed */

/* Environment handed to every agent. */
#define SWARM_ENV_SOCKET "SWARM_SOCKET"
#define SWARM_ENV_AGENT "SWARM_AGENT"
#define SWARM_ENV_JOB "SWARM_JOB"
#define SWARM_ENV_CHUNK "SWARM_CHUNK"
#define SWARM_ENV_TOKEN "SWARM_TOKEN"
#define SWARM_ENV_ATTEMPT "SWARM_ATTEMPT"
/* The proxy's Unix socket, when [proxy] listen is a path. */
#define SWARM_ENV_PROXY_SOCKET "SWARM_PROXY_SOCKET"

#define SWARM_DEFAULT_SOCKET "/run/swarmd/swarmd.sock"
#define SWARM_DEFAULT_STATEDIR "/var/lib/swarmd"
#ifndef SWARM_DEFAULT_CONFIG /* meson sets it from sysconfdir */
#define SWARM_DEFAULT_CONFIG "/etc/swarmd/swarmd.conf"
#endif

/* swarmctl exit statuses. */
#define SWARM_EXIT_OK 0
#define SWARM_EXIT_ERROR 1        /* the daemon answered with an error */
#define SWARM_EXIT_USAGE 2        /* bad command line */
#define SWARM_EXIT_REFUSED 3      /* refused by policy (submit --strict) */
#define SWARM_EXIT_UNAVAILABLE 69 /* the daemon could not be reached */
#define SWARM_EXIT_TIMEOUT 124    /* swarmctl wait: the time ran out */

#endif
