/* config.h: swarmd.conf, an INI file; every key has a default. */
#ifndef SWARM_CONFIG_H
#define SWARM_CONFIG_H

#include <sys/types.h>

struct config {
	/* [swarmd] */
	char *socket;         /* control socket path */
	char *statedir;       /* database, logs, work dirs */
	mode_t socket_mode;   /* permission bits of the socket */
	char *socket_group;   /* group owning the socket; "" keeps ours */
	char *operator_group; /* members may use operator verbs */
	char *log_level;      /* debug, info, notice, warning, err */

	/* [spawn] */
	int max_agents;          /* agents running at once over all jobs */
	int default_concurrency; /* a job's concurrency when it names none */
	double abort_grace;      /* seconds between SIGTERM and SIGKILL */
	double stop_grace;       /* the same when swarmd itself stops */
	int stop_agents;         /* stop agents with swarmd, or leave them */
	double heartbeat_flush;  /* seconds between last_seen flushes */
	char *shim;              /* agents' parent; "" beside swarmd, "off" */

	int stagger_batch;              /* agents a job's ramp adds at a time */
	double stagger_interval;        /* seconds between ramp steps */
	double stagger_confirm_timeout; /* a step must show life by then */

	/* [quota]: 0 leaves a limit off */
	long long tokens_per_minute; /* token bucket, continuous refill */
	double window;               /* rolling window, seconds */
	long long window_tokens;     /* tokens allowed per rolling window */
	double daily_usd;            /* spend per UTC day, from [prices] */
	double preflight_factor; /* share of what remains a job may plan on */
	double pause_at;         /* spawning stops at this share of a window */
	double resume_at;        /* and resumes below this one */
	double reserve;          /* share of the window kept out of caps */

	/* [retries] */
	int retries_transient; /* further attempts after transient failures */
	int retries_schema;    /* after an invalid or missing result */
	int retries_gate;      /* after a failed gate; a job's gate_retries */
	double backoff_base;   /* first retry within this, doubling */
	double backoff_max;

	/* [merge] */
	int merge_batch; /* entries tested together; a job's merge.batch */
	double
	    merge_stall; /* waiting entries, no round: the watchdog says so */

	/* [watchdog]: a timeout or limit of 0 is off */
	double heartbeat_timeout;   /* silent this long: suspect (stalled) */
	double no_progress_timeout; /* tokens without progress: zombie */
	char *triage_hook;          /* command for tier 2; "" escalates */
	double triage_timeout;      /* the hook's time to answer */
	double handoff_timeout;     /* an asked-for checkpoint's time to come */
	char *escalation_webhook;   /* URL for escalations; "" none */
	double renotify;          /* open escalations notify again after this */
	double context_threshold; /* share of the context window: exhausted */
	long long context_window; /* tokens, models [models] does not list */
	long long rlimit_as;      /* bytes of address space per agent */
	double rlimit_cpu;        /* CPU seconds per agent */
	long long rlimit_nproc;   /* processes of the agent's user */
	long long cgroup_memory_max; /* bytes, with a delegated cgroup */
	long long cgroup_pids_max;

	/* [models]: MODEL = context window in tokens */
	struct model_window {
		char *model;
		long long tokens;
	} * models;
	size_t nmodels;

	/* [prices]: MODEL = input, output, cache write, cache read (USD/Mtok) */
	struct price {
		char *model;
		double usd[4];
	} * prices;
	size_t nprices;

	/* [store] */
	long long checkpoint_max; /* bytes kept inline; larger go by path */
	long long file_max;       /* a checkpoint kept by path, at most */
	long long result_max;     /* a result file, at most */
	char *synchronous;        /* SQLite synchronous: full, normal, extra */
	double keep;              /* seconds a finished job is kept; 0: ever */
	long long log_max; /* [spawn] an agent's log rotates here; 0: never */

	/* [proxy]: agents reach the model APIs through swarmd */
	char *proxy_listen;   /* 127.0.0.1:PORT; "" leaves the proxy off */
	char *proxy_upstream; /* the Anthropic API */
	char *proxy_openai_upstream; /* an OpenAI-compatible API */
	double proxy_max_hold;       /* longest a request waits in swarmd */
	double proxy_timeout; /* an upstream silent this long is dropped */
	long long proxy_max_header;  /* bytes of a request's head */
	long long proxy_max_body;    /* bytes of a request's body */
	double proxy_client_timeout; /* an agent silent this long is dropped */

	/* [http]: the web dashboard */
	char *http_listen;     /* HOST:PORT; "" leaves it off */
	char *http_root;       /* its page's files; "" the installed ones */
	char *http_token_file; /* a bearer token; needed off loopback */
	char *http_operator_token_file; /* the buttons' token; "" none */
	double http_timeout; /* a request's head must come within this */

	/* [metrics]: the Prometheus endpoint (metrics.c) */
	char *metrics_listen;     /* HOST:PORT; "" leaves it off */
	int metrics_allow_remote; /* a listen address not on loopback */
	int metrics_on_proxy;   /* also GET /metrics on the proxy's listener */
	double metrics_timeout; /* a client silent this long is dropped */
};

void config_defaults(struct config *);
void config_free(struct config *);

/*
 * Load FILE over the defaults.  A missing file is fine when MISSING_OK.
 * Returns 0, or -1 with a one-line reason in ERR.
 */
int config_load(struct config *, const char *file, int missing_ok, char *err,
    size_t errlen);

#endif
