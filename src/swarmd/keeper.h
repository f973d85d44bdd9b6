/*
 * keeper.h: what keeper.c, keeper-clean.c and keeper-gate.c share: the
 * queue of operations on the chunks' worktrees (one at a time per
 * chunk, at most KEEP_PAR at once).  Not for the rest of the daemon:
 * swarmd.h declares keeper's interface.
 */
#ifndef SWARMD_KEEPER_H
#define SWARMD_KEEPER_H

#define BRANCH_DEFAULT "swarm/{job}/{chunk}"

enum op_kind { OP_PREPARE, OP_SETTLE, OP_SURVEY, OP_REMOVE, OP_GATE, OP_ADOPT };

/* A listing or a clean: one answer when its last worktree is done. */
struct batch {
	int pending;
	int clean, force;
	json_t *rows;
	keeper_done_cb cb; /* NULL once the asker left */
	void *arg;
};

struct op {
	enum op_kind kind;
	int64_t job;
	char *chunk;
	struct agent *agent; /* OP_PREPARE */
	int force;           /* OP_REMOVE */
	keeper_cb cb;
	void *arg;
	struct wt_row row;
	struct gitwt *wt;    /* the git sequence running, or NULL */
	struct git_run *run; /* ... or the single git command */
	struct gates *gates; /* ... or the gates */
	struct gitmg *mg;    /* ... or the merge queue's git */
	int step;
	int running;
	char *snapshot; /* OP_SETTLE: the snapshot's commit, or NULL */
	int ncommits;
	struct batch *batch; /* OP_SURVEY, OP_REMOVE */
	int dirty, unmerged; /* OP_SURVEY's findings; -1 unknown */
	int lost;            /* OP_SURVEY: its snapshots not all there */
	char *tip;           /* OP_ADOPT: what landed */
	char *onto;          /* OP_ADOPT: the target before the round */
	char *target;        /* OP_ADOPT: its name */
	int64_t merge;       /* OP_ADOPT: the merges row owed it */
	char err[256];
	TAILQ_ENTRY(op) entry;
};

struct op *keeper_op_new(enum op_kind, int64_t job, const char *chunk);
void keeper_op_done(struct op *);
void keeper_op_kick(void);

/* One line a commit: id, author, time, subject, and its trailers agent,
 * attempt, job, chunk. */
#define KEEPER_LOG_FORMAT \
	"--format=%H%x1f%an%x1f%ct%x1f%s%x1f" \
	"%(trailers:key=Swarm-Agent,valueonly,separator=)%x1f" \
	"%(trailers:key=Swarm-Attempt,valueonly,separator=)%x1f" \
	"%(trailers:key=Swarm-Job,valueonly,separator=)%x1f" \
	"%(trailers:key=Swarm-Chunk,valueonly,separator=)"
void keeper_commits_add(struct op *, const char *text, const char *landed);
void keeper_op_event(struct op *, const char *type, json_t *data);

void keeper_strv_add(char ***v, size_t *n, char *s);
void keeper_strv_free(char **v);
const char *keeper_spec_str(json_t *spec, const char *key, const char *dflt);
char *keeper_expand(
    const char *tmpl, int64_t job, const char *chunk, int64_t agent);

/* keeper-clean.c */
void keeper_survey_run(struct op *);
void keeper_remove_run(struct op *);

/* keeper-gate.c */
typedef void (*gates_cb)(json_t *failed, const char *log, void *arg);
struct gates;
struct gates *keeper_gates_run(int64_t job, const char *chunk, int64_t agent,
    int attempt, const char *dir, const char *branch, const char *of,
    const char *stem, gates_cb, void *arg);
void keeper_gates_cancel(struct gates *);
void keeper_gates_leftovers(const char *of);
void keeper_gate_run(struct op *);

/* keeper-merge.c */
void keeper_merge_enqueue(struct op *);
void keeper_merge_adopt_run(struct op *);

#endif
