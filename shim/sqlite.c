/*
 * sqlite3 C API hooks: one CLIENT span per statement execution.  A span
 * starts at the first sqlite3_step() after prepare or reset and ends at
 * SQLITE_DONE, an error, sqlite3_reset() or sqlite3_finalize(); a prepare
 * that fails is a span of its own.  What a span needs from the statement
 * text (sanitised text, summary, operation, collection) and the database
 * file is worked out once per prepare and kept in a fixed table keyed by
 * the statement pointer, so a step that continues a running statement
 * costs one table lookup, a branch and a counter.
 *
 * Nesting.  libsqlite3 calls its own API from inside itself (schema
 * loading runs sqlite3_exec() inside prepare, VACUUM prepares and steps
 * inside step) and, in builds that bind those calls through the PLT, they
 * reach these hooks.  A per-thread depth counter, raised around every real
 * call a traced hook makes, sends them straight through.  sqlite3_exec()
 * is the exception: the hook does not raise the depth, so that the
 * prepare and step calls exec makes are traced like the program's own —
 * one span per statement it runs.  exec finalises through an internal
 * function, so the exec hook forgets each of its statements itself.  In
 * builds where exec's calls bypass the PLT, no prepare hook runs during
 * the exec, and the exec call becomes one span for the whole script.
 *
 * Bound values are never read.  SQL run from inside a step or prepare
 * (user functions, authorizers, virtual tables) is not traced.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common/semconv.h"
#include "common/sql.h"
#include "pipeline/record.h"
#include "context.h"
#include "log.h"
#include "preload.h"
#include "sqlite_util.h"
#include "stack.h"

/* ------------------------------------------------------ real functions */

/* Everything we call in libsqlite3, hooked or not.  Resolved on first use
 * and never cached while missing: the program may dlopen() the library
 * after it started. */
enum sq_fn {
	F_OPEN, F_OPEN_V2, F_OPEN16, F_CLOSE, F_CLOSE_V2,
	F_PREPARE, F_PREPARE_V2, F_PREPARE_V3,
	F_PREPARE16, F_PREPARE16_V2, F_PREPARE16_V3,
	F_STEP, F_RESET, F_FINALIZE, F_EXEC,
	F_SQL, F_DB_FILENAME, F_ERRMSG,
	F_COUNT
};

static const char *const fn_names[F_COUNT] = {
	[F_OPEN] = "sqlite3_open",
	[F_OPEN_V2] = "sqlite3_open_v2",
	[F_OPEN16] = "sqlite3_open16",
	[F_CLOSE] = "sqlite3_close",
	[F_CLOSE_V2] = "sqlite3_close_v2",
	[F_PREPARE] = "sqlite3_prepare",
	[F_PREPARE_V2] = "sqlite3_prepare_v2",
	[F_PREPARE_V3] = "sqlite3_prepare_v3",
	[F_PREPARE16] = "sqlite3_prepare16",
	[F_PREPARE16_V2] = "sqlite3_prepare16_v2",
	[F_PREPARE16_V3] = "sqlite3_prepare16_v3",
	[F_STEP] = "sqlite3_step",
	[F_RESET] = "sqlite3_reset",
	[F_FINALIZE] = "sqlite3_finalize",
	[F_EXEC] = "sqlite3_exec",
	[F_SQL] = "sqlite3_sql",
	[F_DB_FILENAME] = "sqlite3_db_filename",
	[F_ERRMSG] = "sqlite3_errmsg",
};

static void *_Atomic fns[F_COUNT];

typedef int open_fn(const char *, sqlite3 **);
typedef int open_v2_fn(const char *, sqlite3 **, int, const char *);
typedef int open16_fn(const void *, sqlite3 **);
typedef int close_fn(sqlite3 *);
typedef int prepare_fn(sqlite3 *, const char *, int, sqlite3_stmt **,
		       const char **);
typedef int prepare_v3_fn(sqlite3 *, const char *, int, unsigned int,
			  sqlite3_stmt **, const char **);
typedef int prepare16_fn(sqlite3 *, const void *, int, sqlite3_stmt **,
			 const void **);
typedef int prepare16_v3_fn(sqlite3 *, const void *, int, unsigned int,
			    sqlite3_stmt **, const void **);
typedef int stmt_fn(sqlite3_stmt *);
typedef int exec_cb(void *, int, char **, char **);
typedef int exec_fn(sqlite3 *, const char *, exec_cb *, void *, char **);
typedef const char *sql_fn(sqlite3_stmt *);
typedef const char *db_filename_fn(sqlite3 *, const char *);
typedef const char *errmsg_fn(sqlite3 *);

static __attribute__((noinline)) void *fn_resolve(enum sq_fn f)
{
	void *p = preload_next_in(fn_names[f], "libsqlite3");

	if (p)
		atomic_store_explicit(&fns[f], p, memory_order_relaxed);
	return p;
}

static inline void *fn(enum sq_fn f)
{
	void *p = atomic_load_explicit(&fns[f], memory_order_relaxed);

	if (__builtin_expect(!p, 0))
		p = fn_resolve(f);
	return p;
}

#define REAL(f, type) ((type *)fn(f))

/* ------------------------------------------------------ statement table */

/*
 * Open addressing with linear probing over at most SQ_PROBES slots, keyed
 * by the statement pointer.  A key goes 0 (never used) -> statement ->
 * SQ_TOMB (finalised) -> statement ...; it never goes back to 0, so a
 * lookup may stop at the first 0.  A slot is claimed with one
 * compare-and-swap at prepare; until prepare returns, no other thread
 * knows the statement, so its info is written without a lock and is
 * read-only afterwards.
 *
 * The slot's span is who owns the running execution: it is installed with
 * a compare-and-swap and taken with an exchange, so exactly one thread
 * ends each span even when a program steps one statement from several
 * threads.  The row counter is a plain relaxed load and store: SQLite
 * serialises steps of a statement, and a row lost to a racing misuse only
 * makes a count wrong.
 */
#define SQ_BITS 11
#define SQ_SLOTS (1u << SQ_BITS)
#define SQ_PROBES 16u
#define SQ_TOMB ((uintptr_t)1)
/* An execution is running but has no record (the pool was empty). */
#define SQ_UNTRACED ((struct span *)(uintptr_t)1)
#define SQ_TEXT_CAP 1024
#define SQ_NS_CAP 512

struct sq_slot {
	_Atomic uintptr_t key;
	struct span *_Atomic span;
	_Atomic uint64_t rows;
};

/* What a statement's spans say about it, worked out at prepare. */
struct sq_info {
	sqlite3 *_Atomic db;
	/* The sqlite3_exec() call that prepared it, else NULL. */
	const void *_Atomic owner;
	uint16_t text_len;
	uint16_t summary_len;
	uint16_t ns_len;
	char operation[32];
	char collection[128];
	char summary[SQL_SUMMARY_MAX + 1];
	char ns[SQ_NS_CAP];
	char text[SQ_TEXT_CAP];
};

/* Split so that the step path only touches the small slots. */
static struct sq_slot slots[SQ_SLOTS];
static struct sq_info infos[SQ_SLOTS];
static _Atomic int table_full_said;

/* > 0 inside a real sqlite3 call made by a traced hook. */
static PRELOAD_TLS int sq_depth;

/* The sqlite3_exec() call running on this thread, outside its callback. */
struct sq_exec {
	sqlite3_stmt *cur;      /* exec's statement, from its last prepare */
	unsigned prepares;      /* prepare hooks reached during this exec */
};
static PRELOAD_TLS struct sq_exec *sq_exec;

static inline size_t sq_hash(uintptr_t key)
{
	return (size_t)(((uint64_t)key >> 4) * 0x9E3779B97F4A7C15ULL >>
			(64 - SQ_BITS));
}

static inline struct sq_slot *slot_find(uintptr_t key)
{
	size_t h = sq_hash(key);

	for (unsigned i = 0; i < SQ_PROBES; i++) {
		struct sq_slot *sl = &slots[(h + i) & (SQ_SLOTS - 1)];
		uintptr_t k = atomic_load_explicit(&sl->key,
						   memory_order_acquire);

		if (k == key)
			return sl;
		if (k == 0)
			return NULL;
	}
	return NULL;
}

static inline struct sq_info *info_of(const struct sq_slot *sl)
{
	return &infos[sl - slots];
}

/* Gives back a span taken out of a slot whose statement is gone. */
static void span_drop(struct span *s)
{
	if (s && s != SQ_UNTRACED)
		ctx_discard(s);
}

/*
 * A slot for a statement prepare just returned; NULL when the probe window
 * is full (the statement then stays untraced).  A slot still holding the
 * same pointer belongs to a statement SQLite freed without our finalize
 * hook seeing it: it is reused.
 */
static struct sq_slot *slot_claim(uintptr_t key)
{
	struct sq_slot *sl = slot_find(key);
	size_t h = sq_hash(key);
	uintptr_t k;

	if (sl) {
		span_drop(atomic_exchange(&sl->span, NULL));
		atomic_store_explicit(&info_of(sl)->owner, NULL,
				      memory_order_relaxed);
		return sl;
	}
	for (unsigned i = 0; i < SQ_PROBES; i++) {
		sl = &slots[(h + i) & (SQ_SLOTS - 1)];
		k = atomic_load_explicit(&sl->key, memory_order_relaxed);
		while (k == 0 || k == SQ_TOMB) {
			if (atomic_compare_exchange_weak(&sl->key, &k, key))
				return sl;
		}
	}
	if (!atomic_exchange(&table_full_said, 1))
		log_msg(CONFIG_LOG_DEBUG, "sqlite: more prepared statements "
			"than the table holds; some stay untraced");
	return NULL;
}

/* ------------------------------------------------------ spans */

/* The database file as sqlite3_db_filename() reports it; ":memory:" for
 * in-memory and temporary databases. */
static size_t namespace_of(sqlite3 *db, char *out, size_t cap)
{
	db_filename_fn *real = REAL(F_DB_FILENAME, db_filename_fn);
	const char *f = real && db ? real(db, "main") : NULL;
	size_t n;

	if (!f || !*f)
		f = ":memory:";
	n = strnlen(f, cap - 1);
	memcpy(out, f, n);
	out[n] = 0;
	return n;
}

/* Fills in everything prepare knows: text, summary, namespace. */
static void info_set(struct sq_info *in, sqlite3 *db, const char *sql,
		     size_t len)
{
	struct sql_info si;
	size_t n;

	atomic_store_explicit(&in->db, db, memory_order_relaxed);
	n = sql_analyze(sql, len, SQL_SQLITE, in->text, sizeof(in->text),
			in->summary, sizeof(in->summary), &si);
	in->text_len = (uint16_t)n;
	in->summary_len = (uint16_t)si.summary_len;
	memcpy(in->operation, si.operation, sizeof(in->operation));
	in->operation[sizeof(in->operation) - 1] = 0;
	memcpy(in->collection, si.collection, sizeof(in->collection));
	in->collection[sizeof(in->collection) - 1] = 0;
	in->ns_len = (uint16_t)namespace_of(db, in->ns, sizeof(in->ns));
}

/*
 * Writes the span's name and attributes.  rows < 0 leaves out
 * db.response.returned_rows (a failed prepare returned nothing).  For an
 * error, rc is the result code and msg sqlite3_errmsg() as it was right
 * after the failing call.  The query text goes last: it is the one string
 * that may be cut when the record's pool runs out.
 */
static void span_fill(struct span *s, const struct sq_info *in,
		      int64_t rows, int rc, const char *msg)
{
	const struct span_attr *a;
	const char *name;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	if (in->summary_len) {
		rec_attr_str(s, ATTR_DB_QUERY_SUMMARY, in->summary,
			     in->summary_len);
		/* The name is the summary: share its bytes in the pool. */
		a = rec_find_attr(s, ATTR_DB_QUERY_SUMMARY);
		if (a && a->type == SPAN_ATTR_STRING)
			s->name = a->v.s;
	}
	if (!s->name.len) {
		name = in->operation[0] ? in->operation : "sqlite";
		rec_name(s, name, strlen(name));
	}
	if (in->operation[0])
		rec_attr_cstr(s, ATTR_DB_OPERATION_NAME, in->operation);
	if (in->collection[0])
		rec_attr_cstr(s, ATTR_DB_COLLECTION_NAME, in->collection);
	rec_attr_str(s, ATTR_DB_NAMESPACE, in->ns, in->ns_len);
	if (rows >= 0)
		rec_attr_int(s, ATTR_DB_RESPONSE_RETURNED_ROWS, rows);
	if (rc != SQLITE_OK) {
		const char *code = sqlite_rc_name(rc);
		char clean[256];
		size_t n = sqlite_clean_errmsg(msg, clean, sizeof(clean));

		rec_attr_cstr(s, ATTR_DB_RESPONSE_STATUS_CODE, code);
		rec_attr_cstr(s, ATTR_ERROR_TYPE, code);
		rec_status(s, SPAN_STATUS_ERROR, clean, n);
	}
	if (in->text_len)
		rec_attr_str(s, ATTR_DB_QUERY_TEXT, in->text, in->text_len);
}

static const char *errmsg_of(sqlite3 *db)
{
	errmsg_fn *real = REAL(F_ERRMSG, errmsg_fn);

	return real && db ? real(db) : "";
}

/* Ends the execution span s taken out of sl; rc is SQLITE_OK or the
 * error that ended it (the connection must still be open then). */
static void exec_end(struct sq_slot *sl, struct span *s, int rc)
{
	const struct sq_info *in = info_of(sl);
	const char *msg = NULL;

	if (s == SQ_UNTRACED)
		return;
	if (rc != SQLITE_OK)
		msg = errmsg_of(atomic_load_explicit(&in->db,
						     memory_order_relaxed));
	span_fill(s, in, (int64_t)atomic_load_explicit(&sl->rows,
			memory_order_relaxed), rc, msg);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* The first step of an execution: its span starts now. */
static __attribute__((noinline)) void exec_begin(struct sq_slot *sl)
{
	struct span *s = ctx_start(SPAN_KIND_CLIENT, NULL);
	struct span *expect = NULL;

	if (!s)
		s = SQ_UNTRACED;
	atomic_store_explicit(&sl->rows, 0, memory_order_relaxed);
	if (!atomic_compare_exchange_strong(&sl->span, &expect, s))
		span_drop(s);  /* another thread started it first */
}

/* The statement behind sl is going away: end its execution, free the
 * slot. */
static void slot_release(struct sq_slot *sl, int rc)
{
	struct span *s = atomic_exchange(&sl->span, NULL);

	if (s)
		exec_end(sl, s, rc);
	atomic_store_explicit(&sl->key, SQ_TOMB, memory_order_release);
}

/*
 * A statement sqlite3_exec() finalised internally (stmt is freed: only
 * its address is used).  rc is what exec returned, for an execution
 * still running (a callback that asked exec to stop).  Another thread may
 * already have prepared a new statement at the same address: the slot is
 * only freed if it still belongs to this exec call.  (That check and the
 * other thread's claim can still interleave; the cost is at most that one
 * statement of the other thread goes untraced, never a wrong pointer.)
 */
static void stmt_forget(sqlite3_stmt *stmt, const struct sq_exec *frame,
			int rc)
{
	struct sq_slot *sl = slot_find((uintptr_t)stmt);

	if (sl && atomic_load_explicit(&info_of(sl)->owner,
				       memory_order_relaxed) == frame)
		slot_release(sl, rc);
}

/* A span that has no statement behind it: a failed prepare, or a whole
 * sqlite3_exec() in builds whose exec bypasses the hooks. */
static void span_unprepared(sqlite3 *db, const char *sql, size_t len,
			    uint64_t start, int64_t rows, int rc)
{
	struct sq_info in;
	const char *msg = rc != SQLITE_OK ? errmsg_of(db) : NULL;
	struct span *s;

	info_set(&in, db, sql, len);
	s = ctx_start(SPAN_KIND_CLIENT, NULL);
	if (!s)
		return;
	s->start_ns = start;
	span_fill(s, &in, rows, rc, msg);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* ------------------------------------------------------ prepare */

enum sq_prep { P_V1, P_V2, P_V3, P_16, P_16_V2, P_16_V3 };

static const enum sq_fn prep_fn[] = {
	[P_V1] = F_PREPARE, [P_V2] = F_PREPARE_V2, [P_V3] = F_PREPARE_V3,
	[P_16] = F_PREPARE16, [P_16_V2] = F_PREPARE16_V2,
	[P_16_V3] = F_PREPARE16_V3,
};

static int prepare_real(enum sq_prep kind, sqlite3 *db, const void *sql,
			int nbyte, unsigned flags, sqlite3_stmt **pst,
			const void **tail)
{
	void *f = fn(prep_fn[kind]);

	if (!f)
		return SQLITE_MISUSE;
	switch (kind) {
	case P_V1:
	case P_V2:
		return ((prepare_fn *)f)(db, sql, nbyte, pst,
					 (const char **)tail);
	case P_V3:
		return ((prepare_v3_fn *)f)(db, sql, nbyte, flags, pst,
					    (const char **)tail);
	case P_16:
	case P_16_V2:
		return ((prepare16_fn *)f)(db, sql, nbyte, pst, tail);
	case P_16_V3:
		return ((prepare16_v3_fn *)f)(db, sql, nbyte, flags, pst,
					      tail);
	}
	return SQLITE_MISUSE;
}

static int is_utf16(enum sq_prep kind)
{
	return kind == P_16 || kind == P_16_V2 || kind == P_16_V3;
}

/* A prepared statement gets its slot and its info. */
static void stmt_track(enum sq_prep kind, sqlite3 *db, sqlite3_stmt *st,
		       const void *sql, int nbyte, const void *tail)
{
	struct sq_slot *sl = slot_claim((uintptr_t)st);
	sql_fn *real_sql = REAL(F_SQL, sql_fn);
	const char *text = real_sql ? real_sql(st) : NULL;
	char buf[4096];
	size_t len;

	if (!sl)
		return;
	if (text) {
		len = strlen(text);
	} else if (is_utf16(kind)) {
		long n = tail ? (const char *)tail - (const char *)sql : nbyte;

		len = sqlite_utf16_to_utf8(sql, n, buf, sizeof(buf), NULL);
		text = buf;
	} else {
		text = sql;
		len = tail ? (size_t)((const char *)tail - text) :
		      nbyte < 0 ? strlen(text) : strnlen(text, (size_t)nbyte);
	}
	info_set(info_of(sl), db, text, len);
	atomic_store_explicit(&info_of(sl)->owner, sq_exec,
			      memory_order_relaxed);
}

/* A prepare that failed: a span covering the prepare, with the text of
 * the statement that failed (up to where SQLite stopped or the statement's
 * end, whichever is later). */
static void prepare_failed(enum sq_prep kind, sqlite3 *db, const void *sql,
			   int nbyte, const void *tail, int rc,
			   uint64_t start)
{
	char buf[4096];
	const char *text = sql;
	size_t len, end, stop = 0;

	if (!sql)
		return;
	if (is_utf16(kind)) {
		len = sqlite_utf16_to_utf8(sql, nbyte, buf, sizeof(buf), NULL);
		text = buf;
	} else {
		len = nbyte < 0 ? strlen(text) : strnlen(text, (size_t)nbyte);
		if (tail && (const char *)tail > text &&
		    (const char *)tail <= text + len)
			stop = (size_t)((const char *)tail - text);
	}
	end = sqlite_stmt_end(text, len);
	if (stop > end)
		end = stop;
	span_unprepared(db, text, end, start, -1, rc);
}

static int prepare_hook(enum sq_prep kind, sqlite3 *db, const void *sql,
			int nbyte, unsigned flags, sqlite3_stmt **pst,
			const void **ptail)
{
	const void *tail = NULL;
	uint64_t start;
	int rc, err;

	if (sq_depth || !preload_enter())
		return prepare_real(kind, db, sql, nbyte, flags, pst, ptail);
	if (sq_exec && sq_exec->cur) {
		/* exec finalised its previous statement by now. */
		stmt_forget(sq_exec->cur, sq_exec, SQLITE_OK);
		sq_exec->cur = NULL;
	}
	start = ctx_now_ns();
	sq_depth++;
	rc = prepare_real(kind, db, sql, nbyte, flags, pst, &tail);
	sq_depth--;
	if (ptail)
		*ptail = tail;
	err = errno;
	if (sq_exec)
		sq_exec->prepares++;
	if (rc == SQLITE_OK && pst && *pst) {
		stmt_track(kind, db, *pst, sql, nbyte, tail);
		if (sq_exec)
			sq_exec->cur = *pst;
	} else if (rc != SQLITE_OK) {
		prepare_failed(kind, db, sql, nbyte, tail, rc, start);
	}
	errno = err;
	return rc;
}

HOOK_API int sqlite3_prepare(sqlite3 *db, const char *sql, int nbyte,
			     sqlite3_stmt **pst, const char **tail)
{
	return prepare_hook(P_V1, db, sql, nbyte, 0, pst,
			    (const void **)tail);
}

HOOK_API int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int nbyte,
				sqlite3_stmt **pst, const char **tail)
{
	return prepare_hook(P_V2, db, sql, nbyte, 0, pst,
			    (const void **)tail);
}

HOOK_API int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int nbyte,
				unsigned int flags, sqlite3_stmt **pst,
				const char **tail)
{
	return prepare_hook(P_V3, db, sql, nbyte, flags, pst,
			    (const void **)tail);
}

HOOK_API int sqlite3_prepare16(sqlite3 *db, const void *sql, int nbyte,
			       sqlite3_stmt **pst, const void **tail)
{
	return prepare_hook(P_16, db, sql, nbyte, 0, pst, tail);
}

HOOK_API int sqlite3_prepare16_v2(sqlite3 *db, const void *sql, int nbyte,
				  sqlite3_stmt **pst, const void **tail)
{
	return prepare_hook(P_16_V2, db, sql, nbyte, 0, pst, tail);
}

HOOK_API int sqlite3_prepare16_v3(sqlite3 *db, const void *sql, int nbyte,
				  unsigned int flags, sqlite3_stmt **pst,
				  const void **tail)
{
	return prepare_hook(P_16_V3, db, sql, nbyte, flags, pst, tail);
}

/* ------------------------------------------------------ step, reset ... */

/* The end of an execution seen at step: SQLITE_DONE or an error. */
static __attribute__((noinline)) int step_ended(struct sq_slot *sl, int rc)
{
	int err = errno;
	struct span *s = atomic_exchange(&sl->span, NULL);

	if (s)
		exec_end(sl, s, rc == SQLITE_DONE ? SQLITE_OK : rc);
	errno = err;
	return rc;
}

/*
 * The hot path, called once per row.  Only statements a traced prepare
 * put in the table have a slot, so finding one also means tracing is on
 * and this is not one of our own threads: no preload_enter() here, nor in
 * reset and finalize.  A statement we do not know costs the depth test
 * and one probe; a running one additionally a load of its span, the depth
 * counter and the row counter.
 */
HOOK_API int sqlite3_step(sqlite3_stmt *st)
{
	stmt_fn *real = REAL(F_STEP, stmt_fn);
	struct sq_slot *sl;
	int rc;

	if (__builtin_expect(!real, 0))
		return SQLITE_MISUSE;
	sl = sq_depth ? NULL : slot_find((uintptr_t)st);
	if (!sl)
		return real(st);
	if (!atomic_load_explicit(&sl->span, memory_order_relaxed))
		exec_begin(sl);
	sq_depth++;
	rc = real(st);
	sq_depth--;
	if (__builtin_expect(rc != SQLITE_ROW, 0))
		return step_ended(sl, rc);
	atomic_store_explicit(&sl->rows, atomic_load_explicit(&sl->rows,
			      memory_order_relaxed) + 1, memory_order_relaxed);
	return rc;
}

HOOK_API int sqlite3_reset(sqlite3_stmt *st)
{
	stmt_fn *real = REAL(F_RESET, stmt_fn);
	struct sq_slot *sl;
	struct span *s;
	int rc, err;

	if (!real)
		return SQLITE_MISUSE;
	sl = sq_depth ? NULL : slot_find((uintptr_t)st);
	if (!sl)
		return real(st);
	/* Stopped before SQLITE_DONE: not an error. */
	err = errno;
	s = atomic_exchange(&sl->span, NULL);
	if (s)
		exec_end(sl, s, SQLITE_OK);
	errno = err;
	sq_depth++;
	rc = real(st);
	sq_depth--;
	return rc;
}

HOOK_API int sqlite3_finalize(sqlite3_stmt *st)
{
	stmt_fn *real = REAL(F_FINALIZE, stmt_fn);
	struct sq_slot *sl;
	int rc, err;

	if (!real)
		return SQLITE_MISUSE;
	sl = sq_depth || !st ? NULL : slot_find((uintptr_t)st);
	if (!sl)
		return real(st);
	/* Before the real call: once it returns, the address may be reused
	 * by a statement another thread prepares. */
	err = errno;
	slot_release(sl, SQLITE_OK);
	errno = err;
	sq_depth++;
	rc = real(st);
	sq_depth--;
	return rc;
}

/* ------------------------------------------------------ exec */

/* The program's callback, called through ours: counts rows (for the
 * whole-exec span) and makes SQL the callback runs the program's own. */
struct sq_cb {
	exec_cb *cb;
	void *arg;
	int64_t rows;
};

static int exec_callback(void *p, int n, char **vals, char **names)
{
	struct sq_cb *c = p;
	struct sq_exec *frame = sq_exec;
	int ret;

	if (vals)  /* NULL: the empty-result call of PRAGMA
		    * empty_result_callbacks, not a row */
		c->rows++;
	sq_exec = NULL;
	ret = c->cb(c->arg, n, vals, names);
	sq_exec = frame;
	return ret;
}

HOOK_API int sqlite3_exec(sqlite3 *db, const char *sql, exec_cb *cb,
			  void *arg, char **errmsg)
{
	exec_fn *real = REAL(F_EXEC, exec_fn);
	struct sq_exec frame = { 0 }, *outer;
	struct sq_cb c = { cb, arg, 0 };
	struct sql_info si;
	uint64_t start;
	int rc, err;

	if (!real)
		return SQLITE_MISUSE;
	if (sq_depth || !preload_enter())
		return real(db, sql, cb, arg, errmsg);
	start = ctx_now_ns();
	outer = sq_exec;
	sq_exec = &frame;
	rc = cb ? real(db, sql, exec_callback, &c, errmsg) :
		  real(db, sql, NULL, arg, errmsg);
	sq_exec = outer;
	err = errno;
	if (frame.cur)
		stmt_forget(frame.cur, &frame, rc);
	if (frame.prepares == 0 && sql) {
		/* exec did not come through our prepare hook: one span for
		 * the whole script, if it holds any statement. */
		sql_analyze(sql, strlen(sql), SQL_SQLITE, NULL, 0, NULL, 0,
			    &si);
		if (si.nstatements)
			span_unprepared(db, sql, strlen(sql), start,
					cb ? c.rows : -1, rc);
	}
	errno = err;
	return rc;
}

/* ------------------------------------------------------ open, close */

/* Opening a connection resolves what the statement hooks need, so that
 * their first calls find it ready.  Only functions every SQLite 3 has:
 * a miss is looked up again each time. */
static void resolve_all(void)
{
	static const enum sq_fn need[] = {
		F_STEP, F_RESET, F_FINALIZE, F_SQL, F_DB_FILENAME, F_ERRMSG,
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		fn(need[i]);
}

HOOK_API int sqlite3_open(const char *filename, sqlite3 **pdb)
{
	open_fn *real = REAL(F_OPEN, open_fn);

	if (!real)
		return SQLITE_MISUSE;
	resolve_all();
	return real(filename, pdb);
}

HOOK_API int sqlite3_open_v2(const char *filename, sqlite3 **pdb, int flags,
			     const char *vfs)
{
	open_v2_fn *real = REAL(F_OPEN_V2, open_v2_fn);

	if (!real)
		return SQLITE_MISUSE;
	resolve_all();
	return real(filename, pdb, flags, vfs);
}

HOOK_API int sqlite3_open16(const void *filename, sqlite3 **pdb)
{
	open16_fn *real = REAL(F_OPEN16, open16_fn);

	if (!real)
		return SQLITE_MISUSE;
	resolve_all();
	return real(filename, pdb);
}

/*
 * A connection is closing: executions of its statements that are still
 * running end, and their slots are freed.  sqlite3_close() only succeeds
 * once every statement is finalised, so what is left after it belonged to
 * statements SQLite freed itself.  sqlite3_close_v2() always succeeds and
 * leaves unfinalised statements as an unusable zombie until finalised, so
 * their slots are freed before the real call (the address of the
 * connection may be reused right after it); their finalize then finds no
 * slot, which is fine.
 */
static void db_closing(sqlite3 *db)
{
	for (size_t i = 0; i < SQ_SLOTS; i++) {
		struct sq_slot *sl = &slots[i];
		uintptr_t k = atomic_load_explicit(&sl->key,
						   memory_order_acquire);

		if (k == 0 || k == SQ_TOMB ||
		    atomic_load_explicit(&infos[i].db,
					 memory_order_relaxed) != db)
			continue;
		/* Not an error of the statement's: end it as such. */
		slot_release(sl, SQLITE_OK);
	}
}

static int close_hook(enum sq_fn f, sqlite3 *db)
{
	close_fn *real = REAL(f, close_fn);
	int rc, err;

	if (!real)
		return SQLITE_MISUSE;
	if (sq_depth || !preload_enter() || !db)
		return real(db);
	err = errno;
	if (f == F_CLOSE_V2)
		db_closing(db);
	errno = err;
	sq_depth++;
	rc = real(db);
	sq_depth--;
	if (rc == SQLITE_OK && f == F_CLOSE) {
		err = errno;
		db_closing(db);
		errno = err;
	}
	return rc;
}

HOOK_API int sqlite3_close(sqlite3 *db)
{
	return close_hook(F_CLOSE, db);
}

HOOK_API int sqlite3_close_v2(sqlite3 *db)
{
	return close_hook(F_CLOSE_V2, db);
}
