/*
 * sqlite3 C API hooks: one CLIENT span per statement execution.  A span
 * starts at the first sqlite3_step() after prepare or reset and ends at
 * SQLITE_DONE, an error, sqlite3_reset() or sqlite3_finalize(); a prepare
 * that fails is a span of its own.  What a span needs from the statement
 * text (sanitised text, summary, operation, collection) and the database
 * file is taken once per prepare and kept in a fixed table keyed by
 * the statement pointer, so a step that continues a running statement
 * costs one table lookup, a branch and a counter.  The text is kept as
 * written when it fits and goes into the span so, for the exporter thread
 * to sanitise and summarise (pipeline/span_sql.h); a statement run again
 * is analysed here once, at the end of its second run, for the runs
 * after it.
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
#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common/sql.h"
#include "pipeline/record.h"
#include "context.h"
#include "dbspan.h"
#include "log.h"
#include "preload.h"
#include "ptrtab.h"
#include "sqlite_util.h"
#include "stack.h"

/* ------------------------------------------------------ real functions */

/* From the table: next_<name>() for everything we call in libsqlite3,
 * hooked or not, and every hook's declaration, so that a hook whose
 * definition drifts from its row does not compile. */
#define CALL(ret, name, params, args)                                     \
	LIB_NEXT("libsqlite3", ret, name, params)                         \
	LIB_SLOT(name)
#define HOOK(ret, name, params, args)                                     \
	CALL(ret, name, params, args)                                     \
	HOOK_API ret name params;
#include "sqlite.def"
#undef HOOK
#undef CALL

/* ------------------------------------------------------ statement table */

/*
 * The table finds a statement's slot by its pointer (ptrtab.h).  A slot is
 * claimed at prepare; until prepare returns, no other thread knows the
 * statement, so its info is written without a lock and is read-only
 * afterwards.
 *
 * The slot's span is who owns the running execution: it is installed with
 * a compare-and-swap and taken with an exchange, so exactly one thread
 * ends each span even when a program steps one statement from several
 * threads.  The row counter is a plain relaxed load and store: SQLite
 * serialises steps of a statement, and a row lost to a racing misuse only
 * makes a count wrong.
 */
#define SQ_BITS 11
#define SQ_PROBES 16u
/* An execution is running but has no record (the pool was empty, or
 * the sampler left it out). */
#define SQ_UNTRACED ((struct span *)(uintptr_t)1)
#define SQ_NS_CAP 512
/* Pool bytes a span takes besides its namespace and text ("sqlite"),
 * with room to spare. */
#define SQ_SPAN_FIXED 32

struct sq_slot {
	_Atomic uintptr_t key;          /* first: ptrtab.h */
	struct span *_Atomic span;
	_Atomic uint64_t rows;
} __attribute__((aligned(32)));  /* a slot's index (info_of()) is a shift */

/* What a statement's spans say about it, worked out at prepare. */
struct sq_info {
	sqlite3 *_Atomic db;
	/* The sqlite3_exec() call that prepared it, else NULL. */
	const void *_Atomic owner;
	/* The namespace generation (sq_ns_gen) ns was looked up in, 0 for
	 * none: a slot's next statement is nearly always on the same
	 * connection, and then keeps it. */
	unsigned ns_gen;
	uint16_t ns_len;
	char ns[SQ_NS_CAP];
	struct dbspan_sql sql;
};

/*
 * A statement run more than once (a program's statement cache): its raw
 * text is analysed here once, by the thread that ends its second run, so
 * that later runs cost no analysis on either thread (kept raw, every run
 * would be analysed again on the exporter thread).  Written once after
 * prepare, under the state word: claimed with a compare-and-swap, read
 * only once published.
 */
enum { AGAIN_NONE, AGAIN_BUSY, AGAIN_READY };

struct sq_again {
	_Atomic uint32_t runs;          /* runs ended so far */
	_Atomic int state;              /* AGAIN_* */
	struct dbspan_sql sql;
};

/* Split so that the step path only touches the small slots, and only a
 * statement run again touches its sq_again. */
static struct sq_slot slots[1u << SQ_BITS];
static struct sq_info infos[1u << SQ_BITS];
static struct sq_again agains[1u << SQ_BITS];
static const struct ptrtab table = PTRTAB(slots, SQ_BITS, SQ_PROBES);
static _Atomic int table_full_said;

/* > 0 inside a real sqlite3 call made by a traced hook. */
static PRELOAD_TLS int sq_depth;

/* The sqlite3_exec() call running on this thread, outside its callback. */
struct sq_exec {
	sqlite3_stmt *cur;      /* exec's statement, from its last prepare */
	unsigned prepares;      /* prepare hooks reached during this exec */
};
static PRELOAD_TLS struct sq_exec *sq_exec;

/*
 * The slot of a statement a traced prepare returned, or NULL.  Always NULL
 * for a NULL statement (ptrtab_find(): a never-used slot's key is 0, and
 * matching it was how the program's ignored misuse became a span):
 * prepare gives NULL for text that holds no statement (a script's empty
 * tail, blanks, a comment), Python's executescript() steps it at the end
 * of every script ending in one, SQLite answers SQLITE_MISUSE and the
 * program moves on.  No statement ran, so no span.
 */
static inline struct sq_slot *slot_find(const void *stmt)
{
	return ptrtab_find(&table, stmt);
}

static inline struct sq_info *info_of(const struct sq_slot *sl)
{
	return &infos[sl - slots];
}

static inline struct sq_again *again_of(const struct sq_slot *sl)
{
	return &agains[sl - slots];
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
static struct sq_slot *slot_claim(const void *stmt)
{
	int found;
	struct sq_slot *sl = ptrtab_find_or_claim(&table, stmt, &found);

	if (found) {
		span_drop(atomic_exchange(&sl->span, NULL));
		atomic_store_explicit(&info_of(sl)->owner, NULL,
				      memory_order_relaxed);
		return sl;
	}
	if (!sl && !atomic_exchange(&table_full_said, 1))
		log_msg(CONFIG_LOG_DEBUG, "sqlite: more prepared statements "
			"than the table holds; some stay untraced");
	return sl;
}

/* ------------------------------------------------------ spans */

/*
 * A connection's namespace, as the thread last looked it up.
 * sqlite3_db_filename() finds the database by name on every call (about
 * 130 instructions, half of a prepare's tracing), for an answer that only
 * changes when a connection is opened, closed or deserialised: those
 * hooks move the generation on, which makes every thread's copy stale.
 * A longer file name than the copy holds is looked up each time.
 */
#define SQ_NS_KEEP 112

struct sq_ns_last {
	sqlite3 *db;
	unsigned gen;
	uint16_t len;
	char ns[SQ_NS_KEEP];
};

static PRELOAD_TLS struct sq_ns_last sq_ns_last;
/* Never 0, the generation of a thread's copy before its first look-up. */
static _Atomic unsigned sq_ns_gen = 1;

/* Every thread's namespace copy is stale from now on. */
static void namespaces_changed(void)
{
	atomic_fetch_add_explicit(&sq_ns_gen, 1, memory_order_relaxed);
}

/* The database file as sqlite3_db_filename() reports it; ":memory:" for
 * in-memory and temporary databases. */
static size_t namespace_lookup(sqlite3 *db, char *out, size_t cap)
{
	const char *(*real)(sqlite3 *, const char *) =
		next_sqlite3_db_filename();
	const char *f = real && db ? real(db, "main") : NULL;
	size_t n;

	if (!f || !*f)
		f = ":memory:";
	n = strnlen(f, cap - 1);
	memcpy(out, f, n);
	out[n] = 0;
	return n;
}

/* namespace_lookup(), from the thread's copy when it is current. */
static size_t namespace_of(sqlite3 *db, char *out, size_t cap)
{
	struct sq_ns_last *c = &sq_ns_last;
	unsigned gen = atomic_load_explicit(&sq_ns_gen, memory_order_relaxed);
	size_t n;

	if (db && c->db == db && c->gen == gen && c->len < cap) {
		memcpy(out, c->ns, c->len + 1u);
		return c->len;
	}
	n = namespace_lookup(db, out, cap);
	if (n < sizeof(c->ns)) {
		c->db = NULL;   /* a hook in a signal handler meanwhile */
		memcpy(c->ns, out, n + 1);
		c->len = (uint16_t)n;
		c->db = db;
		c->gen = gen;
	}
	return n;
}

/* in's connection and its namespace, as of generation gen.  Apart from
 * info_set(): a statement on the connection of its slot's previous one
 * does not need it. */
static __attribute__((noinline)) void info_namespace(struct sq_info *in,
						     sqlite3 *db,
						     unsigned gen)
{
	atomic_store_explicit(&in->db, db, memory_order_relaxed);
	in->ns_len = (uint16_t)namespace_of(db, in->ns, sizeof(in->ns));
	in->ns_gen = gen;
}

/* Fills in everything prepare knows: the text (kept as written for the
 * exporter thread to analyse, unless too long), the namespace. */
static void info_set(struct sq_info *in, sqlite3 *db, const char *sql,
		     size_t len)
{
	/* Loaded before the look-up: a namespace newer than its
	 * generation is only looked up again. */
	unsigned gen = atomic_load_explicit(&sq_ns_gen, memory_order_relaxed);

	if (!db || in->ns_gen != gen ||
	    atomic_load_explicit(&in->db, memory_order_relaxed) != db)
		info_namespace(in, db, gen);
	/* What a span holds before its text: the system, the namespace. */
	dbspan_keep(&in->sql, sql, len, SQL_SQLITE,
		    SPAN_STRPOOL - SQ_SPAN_FIXED - in->ns_len);
}

/*
 * The text for a run of in's statement that is ending: as prepare kept
 * it, or from the second run of a raw one on (ag: its sq_again, NULL for
 * a one-off), analysed once (see struct sq_again).
 */
static const struct dbspan_sql *sql_of_run(const struct sq_info *in,
					   struct sq_again *ag)
{
	int idle = AGAIN_NONE;

	if (!ag || !in->sql.raw)
		return &in->sql;
	if (atomic_load_explicit(&ag->state, memory_order_acquire) ==
	    AGAIN_READY)
		return &ag->sql;
	if (atomic_fetch_add_explicit(&ag->runs, 1, memory_order_relaxed) ==
	    0 || !atomic_compare_exchange_strong(&ag->state, &idle,
						 AGAIN_BUSY))
		return &in->sql;
	dbspan_analyze(&ag->sql, in->sql.text, in->sql.text_len,
		       in->sql.dialect);
	atomic_store_explicit(&ag->state, AGAIN_READY, memory_order_release);
	return &ag->sql;
}

/* An error's attributes and status (apart from span_fill(): its buffer
 * is only set up for a failure). */
static __attribute__((noinline)) void span_error(struct span *s, int rc,
						 const char *msg)
{
	char clean[256];
	size_t n = sqlite_clean_errmsg(msg, clean, sizeof(clean));

	dbspan_error(s, sqlite_rc_name(rc), NULL, (struct str){ clean, n });
}

/*
 * Writes the span's name and attributes; ag as for sql_of_run().  rows < 0
 * leaves out db.response.returned_rows (a failed prepare returned
 * nothing).  For an error, rc is the result code and msg sqlite3_errmsg()
 * as it was right after the failing call.
 */
static void span_fill(struct span *s, const struct sq_info *in,
		      struct sq_again *ag, int64_t rows, int rc,
		      const char *msg)
{
	const struct dbspan_sql *sql = sql_of_run(in, ag);
	struct str ns = { in->ns, in->ns_len };

	if (rc == SQLITE_OK) {
		dbspan_statement_sql(s, STR_LIT("sqlite"), ns, sql, rows);
		return;
	}
	/* The error's attributes go before the text, which is what gets
	 * cut when the pool runs short. */
	dbspan_describe_sql(s, STR_LIT("sqlite"), ns, sql);
	if (rows >= 0)
		dbspan_rows(s, rows);
	span_error(s, rc, msg);
	dbspan_text_sql(s, sql, 0);
}

static const char *errmsg_of(sqlite3 *db)
{
	const char *(*real)(sqlite3 *) = next_sqlite3_errmsg();

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
	span_fill(s, in, again_of(sl), (int64_t)atomic_load_explicit(
			&sl->rows, memory_order_relaxed), rc, msg);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* The first step of an execution: its span starts now. */
static __attribute__((noinline)) void exec_begin(struct sq_slot *sl)
{
	struct span *s = ctx_start_leaf(SPAN_KIND_CLIENT);
	struct span *expect = NULL;

	if (!s)
		s = SQ_UNTRACED;
	atomic_store_explicit(&sl->rows, 0, memory_order_relaxed);
	if (!atomic_compare_exchange_strong(&sl->span, &expect, s))
		span_drop(s);  /* another thread started it first */
}

/* Ends sl's running execution, if one is, as rc says.  errno is kept
 * here, so that a statement with no execution running (finalised after
 * SQLITE_DONE) costs its caller no save and restore. */
static void exec_over(struct sq_slot *sl, int rc)
{
	struct span *s = atomic_exchange(&sl->span, NULL);

	if (s)
		KEEP_ERRNO(exec_end(sl, s, rc));
}

/* The statement behind sl is going away: end its execution, free the
 * slot. */
static void slot_release(struct sq_slot *sl, int rc)
{
	exec_over(sl, rc);
	ptrtab_free(sl);
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
	struct sq_slot *sl = slot_find(stmt);

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

	in.ns_gen = 0;
	info_set(&in, db, sql, len);
	s = ctx_start_leaf(SPAN_KIND_CLIENT);
	if (!s)
		return;
	s->start_ns = start;
	span_fill(s, &in, NULL, rows, rc, msg);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* ------------------------------------------------------ prepare */

enum sq_prep { P_V1, P_V2, P_V3, P_16, P_16_V2, P_16_V3 };

static inline __attribute__((always_inline))
int prepare_real(enum sq_prep kind, sqlite3 *db, const void *sql,
			int nbyte, unsigned flags, sqlite3_stmt **pst,
			const void **tail)
{
	__typeof__(next_sqlite3_prepare()) v1 = NULL;
	__typeof__(next_sqlite3_prepare_v3()) v3 = NULL;
	__typeof__(next_sqlite3_prepare16()) u1 = NULL;
	__typeof__(next_sqlite3_prepare16_v3()) u3 = NULL;

	switch (kind) {
	case P_V1: v1 = next_sqlite3_prepare(); break;
	case P_V2: v1 = next_sqlite3_prepare_v2(); break;
	case P_V3: v3 = next_sqlite3_prepare_v3(); break;
	case P_16: u1 = next_sqlite3_prepare16(); break;
	case P_16_V2: u1 = next_sqlite3_prepare16_v2(); break;
	case P_16_V3: u3 = next_sqlite3_prepare16_v3(); break;
	}
	if (v1)
		return v1(db, sql, nbyte, pst, (const char **)tail);
	if (v3)
		return v3(db, sql, nbyte, flags, pst, (const char **)tail);
	if (u1)
		return u1(db, sql, nbyte, pst, tail);
	if (u3)
		return u3(db, sql, nbyte, flags, pst, tail);
	return SQLITE_MISUSE;
}

static int is_utf16(enum sq_prep kind)
{
	return kind == P_16 || kind == P_16_V2 || kind == P_16_V3;
}

/* info_set() for a statement prepared from UTF-16 text: from SQLite's
 * UTF-8 copy, else converted here (apart from stmt_track(), so that a
 * UTF-8 prepare does not set up the conversion's buffer). */
static __attribute__((noinline)) void info_set_utf16(
	struct sq_info *in, sqlite3 *db, sqlite3_stmt *st, const void *sql,
	int nbyte, const void *tail)
{
	const char *(*real_sql)(sqlite3_stmt *) = next_sqlite3_sql();
	const char *text = real_sql ? real_sql(st) : NULL;
	char buf[4096];
	size_t len;

	if (text) {
		len = strlen(text);
	} else {
		long n = tail ? (const char *)tail - (const char *)sql : nbyte;

		len = sqlite_utf16_to_utf8(sql, n, buf, sizeof(buf), NULL);
		text = buf;
	}
	info_set(in, db, text, len);
}

/* A prepared statement gets its slot and its info. */
static void stmt_track(enum sq_prep kind, sqlite3 *db, sqlite3_stmt *st,
		       const void *sql, int nbyte, const void *tail)
{
	struct sq_slot *sl = slot_claim(st);
	const char *text = sql;
	size_t len;

	if (!sl)
		return;
	if (is_utf16(kind)) {
		info_set_utf16(info_of(sl), db, st, sql, nbyte, tail);
	} else {
		/* What sqlite3_sql() gives: SQLite keeps a copy of
		 * [sql, tail), which prepare just returned. */
		len = tail ? (size_t)((const char *)tail - text) :
		      nbyte < 0 ? strlen(text) : strnlen(text, (size_t)nbyte);
		info_set(info_of(sl), db, text, len);
	}
	atomic_store_explicit(&again_of(sl)->runs, 0, memory_order_relaxed);
	atomic_store_explicit(&again_of(sl)->state, AGAIN_NONE,
			      memory_order_relaxed);
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

/* After a traced prepare: its statement tracked, or its failure a span.
 * Inlined into prepare_hook(): no call with eight arguments, and kind is
 * a constant there. */
static inline __attribute__((always_inline))
void prepared(enum sq_prep kind, sqlite3 *db, const void *sql, int nbyte,
	      sqlite3_stmt **pst, const void *tail, int rc, uint64_t start)
{
	if (sq_exec)
		sq_exec->prepares++;
	if (rc == SQLITE_OK && pst && *pst) {
		stmt_track(kind, db, *pst, sql, nbyte, tail);
		if (sq_exec)
			sq_exec->cur = *pst;
	} else if (rc != SQLITE_OK) {
		prepare_failed(kind, db, sql, nbyte, tail, rc, start);
	}
}

/* Inlined into each entry point, where kind is a constant: the choice of
 * the real function and of the text's encoding is made at compile time. */
static inline __attribute__((always_inline))
int prepare_hook(enum sq_prep kind, sqlite3 *db, const void *sql, int nbyte,
		 unsigned flags, sqlite3_stmt **pst, const void **ptail)
{
	const void *tail = NULL;
	uint64_t start;
	int rc;

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
	KEEP_ERRNO(prepared(kind, db, sql, nbyte, pst, tail, rc, start));
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
	exec_over(sl, rc == SQLITE_DONE ? SQLITE_OK : rc);
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
	int (*real)(sqlite3_stmt *) = next_sqlite3_step();
	struct sq_slot *sl;
	int rc;

	if (__builtin_expect(!real, 0))
		return SQLITE_MISUSE;
	sl = sq_depth ? NULL : slot_find(st);
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

/*
 * sqlite3_reset() and sqlite3_finalize(): the running execution ends
 * before the real call; at finalize the slot is freed too, since once the
 * real call returns the address may be reused by a statement another
 * thread prepares.
 */
static int stmt_done_hook(int (*real)(sqlite3_stmt *), sqlite3_stmt *st,
			  int finalize)
{
	struct sq_slot *sl;
	int rc;

	if (!real)
		return SQLITE_MISUSE;
	sl = sq_depth ? NULL : slot_find(st);
	if (!sl)
		return real(st);
	/* Stopped before SQLITE_DONE: not an error. */
	if (finalize)
		slot_release(sl, SQLITE_OK);
	else
		exec_over(sl, SQLITE_OK);
	sq_depth++;
	rc = real(st);
	sq_depth--;
	return rc;
}

HOOK_API int sqlite3_reset(sqlite3_stmt *st)
{
	return stmt_done_hook(next_sqlite3_reset(), st, 0);
}

HOOK_API int sqlite3_finalize(sqlite3_stmt *st)
{
	return stmt_done_hook(next_sqlite3_finalize(), st, 1);
}

/* ------------------------------------------------------ exec */

/* The program's callback, called through ours: counts rows (for the
 * whole-exec span) and makes SQL the callback runs the program's own. */
struct sq_cb {
	int (*cb)(void *, int, char **, char **);
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

/* After a traced exec returned rc: its last statement is over, and a
 * script that did not come through our prepare hook is one span. */
static void exec_done(sqlite3 *db, const char *sql, struct sq_exec *frame,
		      int64_t rows, int rc, uint64_t start)
{
	struct sql_info si;

	if (frame->cur)
		stmt_forget(frame->cur, frame, rc);
	if (frame->prepares > 0 || !sql)
		return;
	/* Only if the script holds any statement. */
	sql_analyze(sql, strlen(sql), SQL_SQLITE, NULL, 0, NULL, 0, &si);
	if (si.nstatements)
		span_unprepared(db, sql, strlen(sql), start, rows, rc);
}

HOOK_API int sqlite3_exec(sqlite3 *db, const char *sql,
			  int (*cb)(void *, int, char **, char **),
			  void *arg, char **errmsg)
{
	int (*real)(sqlite3 *, const char *,
		    int (*)(void *, int, char **, char **), void *,
		    char **) = next_sqlite3_exec();
	struct sq_exec frame = { 0 }, *outer;
	struct sq_cb c = { cb, arg, 0 };
	uint64_t start;
	int rc;

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
	KEEP_ERRNO(exec_done(db, sql, &frame, cb ? c.rows : -1, rc, start));
	return rc;
}

/* ------------------------------------------------------ open, close */

/* Opening a connection resolves what the statement hooks need, so that
 * their first calls find it ready.  Only functions every SQLite 3 has:
 * a miss is looked up again each time.  The new connection may have the
 * address of one closed before: namespaces looked up so far are stale. */
static void opening(void)
{
	namespaces_changed();
	next_sqlite3_step();
	next_sqlite3_reset();
	next_sqlite3_finalize();
	next_sqlite3_sql();
	next_sqlite3_db_filename();
	next_sqlite3_errmsg();
}

HOOK_API int sqlite3_open(const char *filename, sqlite3 **pdb)
{
	if (!next_sqlite3_open())
		return SQLITE_MISUSE;
	opening();
	return next_sqlite3_open()(filename, pdb);
}

HOOK_API int sqlite3_open_v2(const char *filename, sqlite3 **pdb, int flags,
			     const char *vfs)
{
	if (!next_sqlite3_open_v2())
		return SQLITE_MISUSE;
	opening();
	return next_sqlite3_open_v2()(filename, pdb, flags, vfs);
}

HOOK_API int sqlite3_open16(const void *filename, sqlite3 **pdb)
{
	if (!next_sqlite3_open16())
		return SQLITE_MISUSE;
	opening();
	return next_sqlite3_open16()(filename, pdb);
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
	for (size_t i = 0; i < ptrtab_size(&table); i++) {
		if (!ptrtab_key(&table, i) ||
		    atomic_load_explicit(&infos[i].db,
					 memory_order_relaxed) != db)
			continue;
		/* Not an error of the statement's: end it as such. */
		slot_release(&slots[i], SQLITE_OK);
	}
}

/* The two ways to close a connection: when is it over for its
 * statements (see db_closing). */
enum sq_close { SQ_CLOSE, SQ_CLOSE_V2 };

static int close_hook(int (*real)(sqlite3 *), sqlite3 *db, enum sq_close how)
{
	int rc;

	if (!real)
		return SQLITE_MISUSE;
	/* Its address may be a new connection's next. */
	namespaces_changed();
	if (sq_depth || !preload_enter() || !db)
		return real(db);
	if (how == SQ_CLOSE_V2)
		KEEP_ERRNO(db_closing(db));
	sq_depth++;
	rc = real(db);
	sq_depth--;
	if (rc == SQLITE_OK && how == SQ_CLOSE)
		KEEP_ERRNO(db_closing(db));
	return rc;
}

HOOK_API int sqlite3_close(sqlite3 *db)
{
	return close_hook(next_sqlite3_close(), db, SQ_CLOSE);
}

HOOK_API int sqlite3_close_v2(sqlite3 *db)
{
	return close_hook(next_sqlite3_close_v2(), db, SQ_CLOSE_V2);
}

/* A deserialised database is an in-memory one, under a new file name:
 * namespaces looked up so far are stale. */
HOOK_API int sqlite3_deserialize(sqlite3 *db, const char *schema,
				 unsigned char *data, sqlite3_int64 size,
				 sqlite3_int64 cap, unsigned flags)
{
	__typeof__(next_sqlite3_deserialize()) real =
		next_sqlite3_deserialize();
	int rc;

	if (!real)
		return SQLITE_MISUSE;
	rc = real(db, schema, data, size, cap, flags);
	namespaces_changed();
	return rc;
}
