/*
 * swarmd.c: the daemon's life: options, configuration, the state-dir lock,
 * daemonizing, signals, and the event loop.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "swarmd.h"

static struct event *sig_term, *sig_int, *sig_hup;
static char *opt_socket, *opt_statedir;
/* The file was named with -c or read at start: a reload must read it. */
static int config_required;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: swarmd [-fhV] [-c FILE] [-s SOCKET] [-d STATEDIR]\n"
	    "       swarmd --check STATEDIR\n"
	    "  -f, --foreground       stay in the foreground, log to stderr\n"
	    "  -c, --config FILE      configuration (default %s)\n"
	    "  -s, --socket SOCKET    control socket (overrides [swarmd] "
	    "socket)\n"
	    "  -d, --statedir DIR     state directory (overrides [swarmd] "
	    "statedir)\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n"
	    "  --check DIR            verify the state database in DIR and "
	    "exit\n",
	    SWARM_DEFAULT_CONFIG);
}

/*
 * Read the configuration into CFG; command-line paths win over the file.
 * Without REQUIRED a missing file means the defaults.  -1 with the reason
 * in ERR.
 */
static int
load_config(struct config *cfg, int required, char *err, size_t errlen)
{
	config_defaults(cfg);
	if (config_load(cfg, srv.config_path, !required, err, errlen) == -1) {
		config_free(cfg);
		return -1;
	}
	if (opt_socket != NULL) {
		free(cfg->socket);
		cfg->socket = xstrdup(opt_socket);
	}
	if (opt_statedir != NULL) {
		free(cfg->statedir);
		cfg->statedir = xstrdup(opt_statedir);
	}
	return 0;
}

static void
resolve_operator_group(void)
{
	struct group *gr = NULL;

	if (*srv.cfg.operator_group != '\0')
		gr = getgrnam(srv.cfg.operator_group);
	srv.operator_gid = gr != NULL ? gr->gr_gid : (gid_t)-1;
}

static void
reload(void)
{
	struct config cfg;
	char err[512];

	log_notice("SIGHUP: reloading %s", srv.config_path);
	if (load_config(&cfg, config_required, err, sizeof err) == -1) {
		log_err("reload failed: %s; keeping the running configuration",
		    err);
		return;
	}
	if (strcmp(cfg.socket, srv.cfg.socket) != 0 ||
	    strcmp(cfg.statedir, srv.cfg.statedir) != 0)
		log_warnx("socket and statedir changes need a restart");
	free(cfg.socket);
	free(cfg.statedir);
	cfg.socket = xstrdup(srv.cfg.socket);
	cfg.statedir = xstrdup(srv.cfg.statedir);
	config_free(&srv.cfg);
	srv.cfg = cfg;
	log_set_level(srv.cfg.log_level);
	resolve_operator_group();
	quota_reload();
	spawn_reload();
	proxy_reload();
	watchdog_reload();
	scheduler_kick();
	log_notice("configuration reloaded: max_agents %d", srv.cfg.max_agents);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		systemd_reloading();
		reload();
		systemd_ready();
		return;
	}
	if (srv.shutting_down) {
		struct agent *a;

		log_notice("second stop signal: killing agents now");
		TAILQ_FOREACH(a, &live_agents, entry)
			proc_signal_group(a->pid, SIGKILL);
		event_base_loopexit(srv.base, NULL);
		return;
	}
	srv.shutting_down = 1;
	log_notice("stopping: %d agents to stop (grace %g s)", scheduler_live(),
	    srv.cfg.stop_grace);
	systemd_stopping(scheduler_live());
	server_stop_accepting();
	scheduler_stop(srv.cfg.stop_grace);
	if (scheduler_live() == 0)
		event_base_loopexit(srv.base, NULL);
}

/* STATUS=: live agents, and chunks by state. */
static void
status_counts(struct systemd_counts *c)
{
	chunk_totals(&c->queued, &c->done);
	c->running = scheduler_live();
}

static void
status_on_event(const struct evlog_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	systemd_status_changed();
}

/*
 * The lower layers never call the upper ones: they tell whoever
 * subscribed here (see ARCHITECTURE.md).  The server subscribes to the
 * store's commits itself when it listens.
 */
static void
subscribe(void)
{
	systemd_set_counts(status_counts);
	evlog_subscribe(status_on_event, NULL);
	store_subscribe(spawn_status_committed, NULL);
	server_follow_init();
}

static void
unsubscribe(void)
{
	server_follow_free();
	store_unsubscribe(spawn_status_committed, NULL);
	evlog_unsubscribe(status_on_event, NULL);
	systemd_set_counts(NULL);
}

static int
make_dirs(char *err, size_t errlen)
{
	const char *sub[] = { "", "/logs", "/work" };
	char *p;
	size_t i;

	for (i = 0; i < nitems(sub); i++) {
		p = xasprintf("%s%s", srv.cfg.statedir, sub[i]);
		if (mkdir(p, 0750) == -1 && errno != EEXIST) {
			snprintf(
			    err, errlen, "mkdir %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	return 0;
}

/*
 * A swarmd killed in the middle of starting an agent leaves that child
 * holding a copy of the lock until its exec a moment later: wait a little
 * before calling the state directory taken.
 */
static int
lock_wait(int fd)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int tries;

	for (tries = 0; tries < 100; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* One swarmd per state directory; the lock lives as long as we do. */
static int
lock_statedir(char *err, size_t errlen)
{
	char *path = xasprintf("%s/swarmd.lock", srv.cfg.statedir);
	char buf[32] = "";
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (lock_wait(fd) == -1) {
		n = pread(fd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen,
		    "state directory %s is in use by another swarmd (pid %s)",
		    srv.cfg.statedir, *buf ? buf : "?");
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	return fd;
}

/*
 * Detach, but let the parent exit only once the child is serving or has
 * failed, so "swarmd && swarmctl ps" works and start errors are seen.
 */
static int
daemonize(int *notify)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*notify = p[1];
	return 0;
}

static void
daemon_ready(int notify)
{
	int fd;

	if (notify == -1)
		return;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		log_detached();
	}
	if (write(notify, "", 1) != 1)
		log_warnx("cannot tell the parent we are ready");
	close(notify);
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
setup_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	sig_term = evsignal_new(srv.base, SIGTERM, on_signal, NULL);
	sig_int = evsignal_new(srv.base, SIGINT, on_signal, NULL);
	sig_hup = evsignal_new(srv.base, SIGHUP, on_signal, NULL);
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	evsignal_add(sig_hup, NULL);
}

static int
parse_args(int argc, char **argv, int *foreground, int *explicit_path)
{
	static const struct option lopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "statedir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	srv.config_path = SWARM_DEFAULT_CONFIG;
	if (argc >= 2 && strcmp(argv[1], "--check") == 0) {
		if (argc != 3) {
			usage(stderr);
			exit(2);
		}
		exit(check_statedir(argv[2]));
	}
	/* Not for people: the checkpoint helper (store-wal.c). */
	if (argc >= 2 && strcmp(argv[1], "--wal-checkpointer") == 0)
		exit(store_wal_main(argc, argv));
	while ((ch = getopt_long(argc, argv, "fc:s:d:hV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			*foreground = 1;
			break;
		case 'c':
			srv.config_path = optarg;
			*explicit_path = 1;
			break;
		case 's':
			opt_socket = optarg;
			break;
		case 'd':
			opt_statedir = optarg;
			break;
		case 'V':
			printf("swarmd %s (protocol %d)\n", SWARM_VERSION,
			    SWARM_PROTOCOL_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

int
swarmd_main(int argc, char **argv)
{
	int foreground = 0, explicit_path = 0, lockfd, notify = -1;
	char err[512] = "";
	struct event_config *evcfg;

	parse_args(argc, argv, &foreground, &explicit_path);
	log_init(foreground, "info");
	if (load_config(&srv.cfg, explicit_path, err, sizeof err) == -1) {
		log_err("%s", err);
		return 1;
	}
	config_required = explicit_path || access(srv.config_path, F_OK) == 0;
	log_set_level(srv.cfg.log_level);
	srv.uid = getuid();
	resolve_operator_group();
	if (make_dirs(err, sizeof err) == -1 ||
	    (lockfd = lock_statedir(err, sizeof err)) == -1) {
		log_err("%s", err);
		return 1;
	}
	if (!foreground) {
		daemonize(&notify);
		if (ftruncate(lockfd, 0) == 0)
			dprintf(lockfd, "%d\n", (int)getpid());
	}
	raise_fd_limit();
	/* The changelist turns an event's del and add within one turn into
	 * one epoll_ctl; it is unsafe only with dup()ed descriptors, and
	 * swarmd watches none. */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(
	        evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == -1 ||
	    (srv.base = event_base_new_with_config(evcfg)) == NULL ||
	    event_base_priority_init(srv.base, STORE_PRIORITIES) == -1)
		fatalx("event_base_new failed");
	event_config_free(evcfg);
	setup_signals();
	if (store_open(
	        srv.cfg.statedir, srv.cfg.synchronous, err, sizeof err) == -1)
		fatalx("%s", err);
	store_wal_start(srv.cfg.synchronous);
	subscribe();
	quota_init();
	/* Before any agent starts: their environment names it. */
	if (proxy_init(err, sizeof err) == -1)
		fatalx("%s", err);
	output_init();
	prune_init();
	stagger_init();
	/* The shim and its status files, before recovery reads them. */
	if (spawn_init(err, sizeof err) == -1)
		fatalx("%s", err);
	/* The hooks agents' git runs, before any agent starts. */
	if (keeper_init(err, sizeof err) == -1)
		fatalx("%s", err);
	scheduler_init();
	/* What a crash left half done to a worktree, finished. */
	keeper_start();
	watchdog_init();
	if (server_listen(err, sizeof err) == -1)
		fatalx("%s", err);
	if (http_init(err, sizeof err) == -1)
		fatalx("%s", err);
	if (metrics_init(err, sizeof err) == -1)
		fatalx("%s", err);
	log_notice("swarmd %s ready: state %s, socket %s", SWARM_VERSION,
	    srv.cfg.statedir, srv.cfg.socket);
	daemon_ready(notify);
	systemd_ready();
	event_base_dispatch(srv.base);

	log_notice("swarmd stopped");
	http_free();
	server_close();
	metrics_free();
	proxy_free();
	watchdog_free();
	curlev_free();
	keeper_free();
	scheduler_free();
	spawn_free();
	route_free();
	stagger_free();
	output_free();
	prune_free();
	quota_free();
	store_close();
	unsubscribe();
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_hup);
	systemd_free();
	event_base_free(srv.base);
	config_free(&srv.cfg);
	close(lockfd);
	return 0;
}
