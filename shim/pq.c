/*
 * libpq hooks: one CLIENT span per statement execution, whether the program
 * uses the synchronous calls (PQexec...), the asynchronous ones (PQsend...
 * then PQgetResult until NULL) or pipeline mode.  libpq is never linked in:
 * every real function is found with preload_next() on first use, so a
 * program that dlopen()s libpq later is traced too.
 *
 * Per connection (keyed by PGconn *) we keep a FIFO of the commands whose
 * results are still to be read, in the order they were sent, and a small
 * map of prepared statement name -> sanitised text and summary, so that a
 * statement prepared once carries its text on every execution.  libpq
 * calls its own exported functions through the PLT (PQexec calls
 * PQgetResult), so a per-thread depth counter lets only the outermost call
 * be traced.  A PGconn is used by one thread at a time (libpq's rule), so
 * its state needs no lock; only the table that finds it is shared.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#include "common/semconv.h"
#include "common/sql.h"
#include "pipeline/record.h"
#include "context.h"
#include "preload.h"
#include "stack.h"

/* libpq 17 calls: declared here so the hooks build against older headers
 * too (a repeated compatible declaration is harmless). */
int PQsendPipelineSync(PGconn *conn);
int PQsendClosePrepared(PGconn *conn, const char *stmt);
int PQsendClosePortal(PGconn *conn, const char *portal);
PGresult *PQclosePrepared(PGconn *conn, const char *stmt);

/* libpq 17's PGRES_TUPLES_CHUNK (chunked rows mode), by value so older
 * headers build: rows are counted like single-row results. */
#define PQ_TUPLES_CHUNK 12

/* Commands whose results are awaited, per connection.  Beyond this the
 * commands are counted but get no span (see struct pq_conn). */
#define PQ_FIFO_MAX 64
/* Prepared statements remembered per connection (oldest replaced). */
#define PQ_STMT_MAX 32
/* Pool bytes kept free when the query text is written: room for the
 * SQLSTATE and the server's message, which only arrive later. */
#define PQ_RESERVE 224
/* Buffers for the sanitised text and the summary. */
#define PQ_TEXT_CAP 1024
#define PQ_SUMMARY_CAP (SQL_SUMMARY_MAX + 1)

/* The connection table: open addressing, linear probing, bounded. */
#define PQ_TABLE 1024
#define PQ_PROBE 32
#define PQ_TOMB ((uintptr_t)1)

enum pq_kind {
	PQ_QUERY = 1,   /* a statement execution (span may be NULL) */
	PQ_PREPARE,     /* a Parse: its span is exported only if it failed */
	PQ_SYNC,        /* a pipeline sync point */
};

struct pq_entry {
	struct span *span;      /* NULL: not traced, only kept in order */
	int64_t rows;
	uint8_t kind;           /* enum pq_kind */
	uint8_t results;        /* results seen, saturating */
	uint8_t has_rows;       /* a row-returning result was seen */
	uint8_t failed;         /* an error is recorded */
	uint8_t copy;           /* a COPY is in progress */
};

struct pq_stmt {
	uint8_t used;
	uint32_t hash;
	char name[64];
	char *text;             /* malloc'd: text NUL summary NUL */
	uint16_t text_len;
	uint16_t summary_len;
	char operation[32];
	char collection[128];
};

/*
 * What we know about one connection.  fifo holds, oldest first, the
 * commands sent and not yet fully read.  When it is full, later commands
 * are only counted (lost_queries, lost_syncs): they form a suffix of the
 * pipeline, so their results arrive after every tracked one, and nothing
 * new is tracked until they have all been read.
 */
struct pq_conn {
	const PGconn *key;
	unsigned head;
	unsigned count;
	unsigned lost_queries;
	unsigned lost_syncs;
	uint8_t lost_seen;      /* a result of a lost query was read */
	uint8_t pipeline;       /* in pipeline mode */
	uint8_t info_ok;        /* db, host, port are current */
	int port;
	char db[64];
	char host[192];
	struct pq_stmt *stmts;  /* PQ_STMT_MAX, allocated on first prepare */
	unsigned stmt_clock;
	struct pq_entry fifo[PQ_FIFO_MAX];
};

struct pq_slot {
	_Atomic uintptr_t key;
	struct pq_conn *_Atomic conn;
};

static struct pq_slot pq_table[PQ_TABLE];

/* Depth of libpq calls on this thread: only the outermost is traced. */
static PRELOAD_TLS int pq_depth;

/* ------------------------------------------------------------ symbols */

/*
 * The next definition of name, cached once found.  A miss is not cached:
 * the program may dlopen() libpq later.
 */
static void *pq_sym(void *_Atomic *slot, const char *name)
{
	void *p = atomic_load_explicit(slot, memory_order_relaxed);

	if (!p) {
		p = preload_next_in(name, "libpq");
		if (p)
			atomic_store_explicit(slot, p, memory_order_relaxed);
	}
	return p;
}

#define REAL(name) \
	({ static void *_Atomic pq_ptr_; \
	   (__typeof__(&name))pq_sym(&pq_ptr_, #name); })

/* ------------------------------------------------------------ table */

static unsigned pq_hash(const PGconn *conn)
{
	uint64_t x = (uint64_t)(uintptr_t)conn >> 4;

	return (unsigned)((x * 0x9E3779B97F4A7C15ULL) >> 40) & (PQ_TABLE - 1);
}

static struct pq_slot *slot_find(const PGconn *conn)
{
	unsigned h = pq_hash(conn);

	for (unsigned i = 0; i < PQ_PROBE; i++) {
		struct pq_slot *sl = &pq_table[(h + i) & (PQ_TABLE - 1)];
		uintptr_t k = atomic_load_explicit(&sl->key,
						   memory_order_acquire);

		if (k == (uintptr_t)conn)
			return sl;
		if (k == 0)
			return NULL;
	}
	return NULL;
}

static struct pq_conn *conn_find(const PGconn *conn)
{
	struct pq_slot *sl = slot_find(conn);

	if (!sl)
		return NULL;
	return atomic_load_explicit(&sl->conn, memory_order_acquire);
}

static void stmts_free(struct pq_conn *c)
{
	if (!c->stmts)
		return;
	for (unsigned i = 0; i < PQ_STMT_MAX; i++)
		free(c->stmts[i].text);
	free(c->stmts);
	c->stmts = NULL;
}

static void fifo_end_all(struct pq_conn *c);

/*
 * The state of conn, created if it has none (a small malloc, once per
 * connection).  NULL when the table is full around conn's slot or memory
 * is short: the connection is then not traced.
 */
static struct pq_conn *conn_get(const PGconn *conn)
{
	struct pq_conn *c = conn_find(conn);
	unsigned h;

	if (c || !conn)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = conn;
	h = pq_hash(conn);
	for (unsigned i = 0; i < PQ_PROBE; i++) {
		struct pq_slot *sl = &pq_table[(h + i) & (PQ_TABLE - 1)];
		uintptr_t k = atomic_load_explicit(&sl->key,
						   memory_order_relaxed);

		if (k != 0 && k != PQ_TOMB)
			continue;
		if (!atomic_compare_exchange_strong(&sl->key, &k,
						    (uintptr_t)conn))
			continue;
		atomic_store_explicit(&sl->conn, c, memory_order_release);
		return c;
	}
	free(c);
	return NULL;
}

/* Ends what is in flight on conn and forgets it (PQfinish). */
static void conn_drop(const PGconn *conn)
{
	struct pq_slot *sl = slot_find(conn);
	struct pq_conn *c;

	if (!sl)
		return;
	c = atomic_exchange_explicit(&sl->conn, NULL, memory_order_acq_rel);
	atomic_store_explicit(&sl->key, PQ_TOMB, memory_order_release);
	if (!c)
		return;
	fifo_end_all(c);
	stmts_free(c);
	free(c);
}

/* Registers a connection a connect call returned; a stale entry under
 * the same pointer (a PQfinish we did not see) is reset. */
static void conn_new(const PGconn *conn)
{
	struct pq_conn *c;

	if (!conn)
		return;
	if (conn_find(conn))
		conn_drop(conn);
	c = conn_get(conn);
	(void)c;
}

/* Database, host and port for the span attributes, read from libpq once
 * the connection is up (and again after a reset). */
static void conn_info(struct pq_conn *c, PGconn *conn)
{
	char *(*db)(const PGconn *) = REAL(PQdb);
	char *(*host)(const PGconn *) = REAL(PQhost);
	char *(*port)(const PGconn *) = REAL(PQport);
	ConnStatusType (*status)(const PGconn *) = REAL(PQstatus);
	const char *v;

	if (c->info_ok)
		return;
	c->db[0] = 0;
	c->host[0] = 0;
	c->port = 0;
	v = db ? db(conn) : NULL;
	if (v)
		strncat(c->db, v, sizeof(c->db) - 1);
	v = host ? host(conn) : NULL;
	if (v)
		strncat(c->host, v, sizeof(c->host) - 1);
	v = port ? port(conn) : NULL;
	if (v) {
		long n = strtol(v, NULL, 10);

		c->port = n > 0 && n < 65536 ? (int)n : 0;
	}
	c->info_ok = status && status(conn) == CONNECTION_OK;
}

/* ------------------------------------------------------------ prepared */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct pq_stmt *stmt_find(struct pq_conn *c, const char *name)
{
	uint32_t h;

	if (!c->stmts || !name)
		return NULL;
	h = name_hash(name);
	for (unsigned i = 0; i < PQ_STMT_MAX; i++) {
		struct pq_stmt *st = &c->stmts[i];

		if (st->used && st->hash == h && !strcmp(st->name, name))
			return st;
	}
	return NULL;
}

static void stmt_forget(struct pq_conn *c, const char *name)
{
	struct pq_stmt *st = stmt_find(c, name);

	if (!st)
		return;
	free(st->text);
	memset(st, 0, sizeof(*st));
}

/*
 * Remembers what statement `name` is: its sanitised text, summary and
 * single operation/collection.  Runs once per prepare, so the malloc here
 * is off the per-execution path.  Names too long for the map are skipped.
 */
static void stmt_store(struct pq_conn *c, const char *name,
		       const char *text, size_t text_len,
		       const char *summary, const struct sql_info *info)
{
	struct pq_stmt *st;
	size_t slen = info->summary_len;
	char *blob;

	if (!name || strlen(name) >= sizeof(st->name))
		return;
	if (!c->stmts) {
		c->stmts = calloc(PQ_STMT_MAX, sizeof(*c->stmts));
		if (!c->stmts)
			return;
	}
	st = stmt_find(c, name);
	if (!st) {
		for (unsigned i = 0; i < PQ_STMT_MAX && !st; i++)
			if (!c->stmts[i].used)
				st = &c->stmts[i];
		if (!st)
			st = &c->stmts[c->stmt_clock++ % PQ_STMT_MAX];
	}
	blob = malloc(text_len + slen + 2);
	free(st->text);
	memset(st, 0, sizeof(*st));
	if (!blob)
		return;
	memcpy(blob, text, text_len);
	blob[text_len] = 0;
	memcpy(blob + text_len + 1, summary, slen);
	blob[text_len + 1 + slen] = 0;
	st->text = blob;
	st->text_len = (uint16_t)text_len;
	st->summary_len = (uint16_t)slen;
	strcpy(st->name, name);
	st->hash = name_hash(name);
	memcpy(st->operation, info->operation, sizeof(st->operation));
	memcpy(st->collection, info->collection, sizeof(st->collection));
	st->operation[sizeof(st->operation) - 1] = 0;
	st->collection[sizeof(st->collection) - 1] = 0;
	st->used = 1;
}

/* ------------------------------------------------------------ spans */

/* What a span describes: pointers into an analysis or a stored stmt. */
struct pq_what {
	const char *text;
	size_t text_len;
	const char *summary;
	size_t summary_len;
	const char *operation;
	const char *collection;
};

struct pq_analysis {
	struct sql_info info;
	char text[PQ_TEXT_CAP];
	char summary[PQ_SUMMARY_CAP];
};

static void analyze(const char *sql, struct pq_analysis *a,
		    struct pq_what *w)
{
	size_t n = 0;

	memset(w, 0, sizeof(*w));
	memset(&a->info, 0, sizeof(a->info));
	a->text[0] = 0;
	a->summary[0] = 0;
	if (sql)
		n = sql_analyze(sql, strlen(sql), SQL_POSTGRES, a->text,
				sizeof(a->text), a->summary,
				sizeof(a->summary), &a->info);
	w->text = a->text;
	w->text_len = n;
	w->summary = a->summary;
	w->summary_len = a->info.summary_len;
	w->operation = a->info.operation;
	w->collection = a->info.collection;
}

static void what_of_stmt(const struct pq_stmt *st, struct pq_what *w)
{
	memset(w, 0, sizeof(*w));
	if (!st)
		return;
	w->text = st->text;
	w->text_len = st->text_len;
	w->summary = st->text + st->text_len + 1;
	w->summary_len = st->summary_len;
	w->operation = st->operation;
	w->collection = st->collection;
}

/* Writes the query text, leaving PQ_RESERVE pool bytes for the outcome. */
static void put_text(struct span *s, const char *text, size_t len)
{
	size_t room = SPAN_STRPOOL - s->pool_used;

	room = room > PQ_RESERVE ? room - PQ_RESERVE : 0;
	if (len > room) {
		len = room;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
		s->truncated = 1;
	}
	if (len > 0)
		rec_attr_str(s, ATTR_DB_QUERY_TEXT, text, len);
}

/*
 * Starts the span of one command on c: name from the summary, the stable
 * database attributes, the sanitised text last so that it is what gets
 * cut when the record's pool runs short.
 */
static struct span *span_begin(struct pq_conn *c, PGconn *conn,
			       const struct pq_what *w)
{
	struct span *s = ctx_start(SPAN_KIND_CLIENT, NULL);
	const struct span_attr *a;

	if (!s)
		return NULL;
	conn_info(c, conn);
	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "postgresql");
	if (w->summary_len > 0) {
		rec_attr_str(s, ATTR_DB_QUERY_SUMMARY, w->summary,
			     w->summary_len);
		a = rec_find_attr(s, ATTR_DB_QUERY_SUMMARY);
		if (a)
			s->name = a->v.s;       /* the same pooled bytes */
	} else if (c->db[0]) {
		/* No summary: the name falls back to the namespace. */
		rec_name(s, c->db, strlen(c->db));
	} else {
		rec_name(s, "postgresql", 10);
	}
	if (c->db[0])
		rec_attr_cstr(s, ATTR_DB_NAMESPACE, c->db);
	if (w->operation && w->operation[0])
		rec_attr_cstr(s, ATTR_DB_OPERATION_NAME, w->operation);
	if (w->collection && w->collection[0])
		rec_attr_cstr(s, ATTR_DB_COLLECTION_NAME, w->collection);
	if (c->host[0])
		rec_attr_cstr(s, ATTR_SERVER_ADDRESS, c->host);
	if (c->port)
		rec_attr_int(s, ATTR_SERVER_PORT, c->port);
	if (w->text_len > 0)
		put_text(s, w->text, w->text_len);
	return s;
}

/* Length of the first line of msg, without trailing blanks. */
static size_t first_line(const char *msg)
{
	size_t n = strcspn(msg, "\n");

	while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\r'))
		n--;
	return n;
}

/*
 * Copies msg[0, len) to (out, cap) with every "double-quoted" part
 * replaced by "?".  For data exceptions (class 22) and syntax errors the
 * quoted part is a value from the query or its parameters ('invalid input
 * syntax for type integer: "..."'), which must not be recorded.
 */
static size_t redact_quoted(const char *msg, size_t len, char *out,
			    size_t cap)
{
	size_t o = 0;
	int inside = 0;

	for (size_t i = 0; i < len && o + 4 < cap; i++) {
		if (msg[i] == '"') {
			if (!inside) {
				out[o++] = '"';
				out[o++] = '?';
			} else {
				out[o++] = '"';
			}
			inside = !inside;
		} else if (!inside) {
			out[o++] = msg[i];
		}
	}
	if (inside && o + 1 < cap)
		out[o++] = '"';
	out[o] = 0;
	return o;
}

/* Marks the span failed: SQLSTATE as db.response.status_code and
 * error.type ("_OTHER" when libpq itself failed), the message as the
 * status description. */
static void span_error(struct span *s, const char *sqlstate,
		       const char *msg)
{
	char buf[256];
	size_t n;

	if (sqlstate && sqlstate[0]) {
		rec_attr_cstr(s, ATTR_DB_RESPONSE_STATUS_CODE, sqlstate);
		rec_attr_cstr(s, ATTR_ERROR_TYPE, sqlstate);
	} else {
		rec_attr_cstr(s, ATTR_ERROR_TYPE, "_OTHER");
	}
	if (!msg)
		msg = "";
	n = first_line(msg);
	if (sqlstate && (!strncmp(sqlstate, "22", 2) ||
			 !strcmp(sqlstate, "42601"))) {
		n = redact_quoted(msg, n, buf, sizeof(buf));
		msg = buf;
	}
	rec_status(s, SPAN_STATUS_ERROR, msg, n);
}

/* The span of a call that failed in libpq (nothing was sent, or the
 * connection broke): the message is libpq's. */
static void span_conn_error(struct span *s, PGconn *conn)
{
	char *(*errmsg)(const PGconn *) = REAL(PQerrorMessage);
	const char *m = errmsg ? errmsg(conn) : NULL;

	/* libpq prefixes its messages with "ERROR:  " sometimes. */
	if (m && !strncmp(m, "ERROR:  ", 8))
		m += 8;
	span_error(s, NULL, m);
}

/* Folds one result of the command into its entry. */
static void entry_result(struct pq_entry *e, const PGresult *res)
{
	static const char aborted[] =
		"not executed: an earlier command in the pipeline failed";
	ExecStatusType (*status)(const PGresult *) = REAL(PQresultStatus);
	int (*ntuples)(const PGresult *) = REAL(PQntuples);
	char *(*field)(const PGresult *, int) = REAL(PQresultErrorField);
	char *(*errmsg)(const PGresult *) = REAL(PQresultErrorMessage);
	ExecStatusType st;
	const char *state;
	const char *msg;

	if (e->results < UINT8_MAX)
		e->results++;
	if (!status)
		return;
	st = status(res);
	if ((int)st == PQ_TUPLES_CHUNK)
		st = PGRES_SINGLE_TUPLE;
	switch (st) {
	case PGRES_TUPLES_OK:
	case PGRES_SINGLE_TUPLE:
		if (ntuples)
			e->rows += ntuples(res);
		e->has_rows = 1;
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		e->copy = 1;
		break;
	case PGRES_COMMAND_OK:
		e->copy = 0;
		break;
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		e->copy = 0;
		if (e->failed || !e->span || !field)
			break;
		state = field(res, PG_DIAG_SQLSTATE);
		/* Classes 00, 01 and 02 are success, warning, no data. */
		if (state && state[0] == '0' && state[1] >= '0' &&
		    state[1] <= '2')
			break;
		msg = field(res, PG_DIAG_MESSAGE_PRIMARY);
		if (!msg && errmsg)
			msg = errmsg(res);
		if (msg && !state && !strncmp(msg, "ERROR:  ", 8))
			msg += 8;
		span_error(e->span, state, msg);
		e->failed = 1;
		break;
	case PGRES_PIPELINE_ABORTED:
		if (e->failed || !e->span)
			break;
		rec_attr_cstr(e->span, ATTR_ERROR_TYPE, "pipeline_aborted");
		rec_status(e->span, SPAN_STATUS_ERROR, aborted,
			   sizeof(aborted) - 1);
		e->failed = 1;
		break;
	default:
		break;
	}
}

/* Ends the command's span: exported, or for a successful prepare given
 * back (a Parse is not an execution; a failed one is worth seeing). */
static void entry_end(struct pq_entry *e)
{
	struct span *s = e->span;

	e->span = NULL;
	if (!s)
		return;
	if (e->kind == PQ_PREPARE && !e->failed) {
		ctx_discard(s);
		return;
	}
	if (e->has_rows)
		rec_attr_int(s, ATTR_DB_RESPONSE_RETURNED_ROWS, e->rows);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* ------------------------------------------------------------ fifo */

/* Queues a sent command; when the FIFO is full (or already lost track)
 * the command is only counted and its span given back. */
static void fifo_push(struct pq_conn *c, const struct pq_entry *e)
{
	if (c->count == PQ_FIFO_MAX || c->lost_queries || c->lost_syncs) {
		if (e->span)
			ctx_discard(e->span);
		if (e->kind == PQ_SYNC)
			c->lost_syncs++;
		else
			c->lost_queries++;
		return;
	}
	c->fifo[(c->head + c->count) % PQ_FIFO_MAX] = *e;
	c->count++;
}

static struct pq_entry *fifo_head(struct pq_conn *c)
{
	return c->count ? &c->fifo[c->head] : NULL;
}

static void fifo_pop_end(struct pq_conn *c)
{
	struct pq_entry *e = fifo_head(c);

	if (!e)
		return;
	entry_end(e);
	c->head = (c->head + 1) % PQ_FIFO_MAX;
	c->count--;
}

/* Ends everything queued: the program moved on (a new command outside
 * pipeline mode, a reset, PQfinish), so whatever was not read is over. */
static void fifo_end_all(struct pq_conn *c)
{
	while (c->count)
		fifo_pop_end(c);
	c->lost_queries = 0;
	c->lost_syncs = 0;
	c->lost_seen = 0;
}

/* Outside pipeline mode at most one command is in flight: a new one
 * means the previous one is done even if NULL was never read. */
static void settle(struct pq_conn *c)
{
	if (!c->pipeline && (c->count || c->lost_queries))
		fifo_end_all(c);
}

/* What PQgetResult returned, attributed to the oldest command queued. */
static void fifo_result(struct pq_conn *c, const PGresult *res)
{
	ExecStatusType (*status)(const PGresult *) = REAL(PQresultStatus);
	int sync = res && status && status(res) == PGRES_PIPELINE_SYNC;
	struct pq_entry *e = fifo_head(c);

	if (!e) {
		/* Results of commands we only counted. */
		if (sync) {
			if (c->lost_syncs)
				c->lost_syncs--;
		} else if (res) {
			c->lost_seen = 1;
		} else if (c->lost_seen) {
			if (c->lost_queries)
				c->lost_queries--;
			c->lost_seen = 0;
		}
		return;
	}
	if (sync) {
		/* Everything up to the sync point is over. */
		while (c->count) {
			int was_sync = fifo_head(c)->kind == PQ_SYNC;

			fifo_pop_end(c);
			if (was_sync)
				break;
		}
		return;
	}
	if (e->kind == PQ_SYNC)
		return;         /* out of step: wait for the sync result */
	if (res)
		entry_result(e, res);
	else if (e->results)
		fifo_pop_end(c);
}

/* ------------------------------------------------------------ helpers */

/* The state of conn if this call is to be traced, else NULL. */
static struct pq_conn *traced(PGconn *conn)
{
	if (pq_depth > 0 || !conn || !preload_enter())
		return NULL;
	return conn_get(conn);
}

/*
 * After a synchronous execution: a result ends the span, except the start
 * of a COPY, whose span stays queued until the copy's final result has
 * been read (PQgetResult, PQendcopy).
 */
static void sync_done(struct pq_conn *c, PGconn *conn,
		      struct pq_entry *e, const PGresult *res)
{
	if (!e->span)
		return;
	if (!res) {
		span_conn_error(e->span, conn);
		e->failed = 1;
		entry_end(e);
		return;
	}
	entry_result(e, res);
	if (e->copy && e->kind == PQ_QUERY) {
		fifo_push(c, e);
		return;
	}
	entry_end(e);
}

/* After an asynchronous send: queued if it was sent, else failed now. */
static void send_done(struct pq_conn *c, PGconn *conn, struct pq_entry *e,
		      int ok)
{
	if (!ok) {
		if (e->span) {
			span_conn_error(e->span, conn);
			e->failed = 1;
			entry_end(e);
		}
		return;
	}
	settle(c);
	fifo_push(c, e);
}

/* ------------------------------------------------------------ connect */

/* After a connect call (not one libpq made itself): follow conn. */
static PGconn *connected(PGconn *conn)
{
	if (pq_depth == 0 && preload_enter())
		KEEP_ERRNO(conn_new(conn));
	return conn;
}

HOOK_API PGconn *PQconnectdb(const char *conninfo)
{
	PGconn *(*real)(const char *) = REAL(PQconnectdb);
	PGconn *conn;

	if (!real)
		return NULL;
	pq_depth++;
	conn = real(conninfo);
	pq_depth--;
	return connected(conn);
}

HOOK_API PGconn *PQconnectdbParams(const char *const *keywords,
				   const char *const *values,
				   int expand_dbname)
{
	PGconn *(*real)(const char *const *, const char *const *, int) =
		REAL(PQconnectdbParams);
	PGconn *conn;

	if (!real)
		return NULL;
	pq_depth++;
	conn = real(keywords, values, expand_dbname);
	pq_depth--;
	return connected(conn);
}

HOOK_API PGconn *PQsetdbLogin(const char *pghost, const char *pgport,
			      const char *pgoptions, const char *pgtty,
			      const char *dbName, const char *login,
			      const char *pwd)
{
	PGconn *(*real)(const char *, const char *, const char *,
			const char *, const char *, const char *,
			const char *) = REAL(PQsetdbLogin);
	PGconn *conn;

	if (!real)
		return NULL;
	pq_depth++;
	conn = real(pghost, pgport, pgoptions, pgtty, dbName, login, pwd);
	pq_depth--;
	return connected(conn);
}

HOOK_API PGconn *PQconnectStart(const char *conninfo)
{
	PGconn *(*real)(const char *) = REAL(PQconnectStart);
	PGconn *conn;

	if (!real)
		return NULL;
	pq_depth++;
	conn = real(conninfo);
	pq_depth--;
	return connected(conn);
}

HOOK_API PGconn *PQconnectStartParams(const char *const *keywords,
				      const char *const *values,
				      int expand_dbname)
{
	PGconn *(*real)(const char *const *, const char *const *, int) =
		REAL(PQconnectStartParams);
	PGconn *conn;

	if (!real)
		return NULL;
	pq_depth++;
	conn = real(keywords, values, expand_dbname);
	pq_depth--;
	return connected(conn);
}

/* Connection info is read at the first span; once a (re)connection
 * completes, read it again (a multi-host conninfo may have moved on). */
static void conn_changed(PGconn *conn)
{
	struct pq_conn *c = conn_find(conn);

	if (c)
		c->info_ok = 0;
}

HOOK_API PostgresPollingStatusType PQconnectPoll(PGconn *conn)
{
	PostgresPollingStatusType (*real)(PGconn *) = REAL(PQconnectPoll);
	PostgresPollingStatusType r;

	if (!real)
		return PGRES_POLLING_FAILED;
	pq_depth++;
	r = real(conn);
	pq_depth--;
	if (r == PGRES_POLLING_OK && pq_depth == 0)
		KEEP_ERRNO(conn_changed(conn));
	return r;
}

HOOK_API PostgresPollingStatusType PQresetPoll(PGconn *conn)
{
	PostgresPollingStatusType (*real)(PGconn *) = REAL(PQresetPoll);
	PostgresPollingStatusType r;

	if (!real)
		return PGRES_POLLING_FAILED;
	pq_depth++;
	r = real(conn);
	pq_depth--;
	if (r == PGRES_POLLING_OK && pq_depth == 0)
		KEEP_ERRNO(conn_changed(conn));
	return r;
}

/* A reset is a new session: queued commands are over, prepared
 * statements gone, pipeline mode off. */
static void conn_reset(PGconn *conn)
{
	struct pq_conn *c = conn_find(conn);

	if (!c)
		return;
	fifo_end_all(c);
	stmts_free(c);
	c->pipeline = 0;
	c->info_ok = 0;
}

HOOK_API void PQreset(PGconn *conn)
{
	void (*real)(PGconn *) = REAL(PQreset);

	if (!real)
		return;
	KEEP_ERRNO(conn_reset(conn));
	pq_depth++;
	real(conn);
	pq_depth--;
}

HOOK_API int PQresetStart(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQresetStart);
	int r;

	if (!real)
		return 0;
	KEEP_ERRNO(conn_reset(conn));
	pq_depth++;
	r = real(conn);
	pq_depth--;
	return r;
}

/* Always forgets conn, even when libpq finishes its own connections
 * (PQping): the pointer may come back for a new connection. */
HOOK_API void PQfinish(PGconn *conn)
{
	void (*real)(PGconn *) = REAL(PQfinish);

	if (conn)
		KEEP_ERRNO(conn_drop(conn));
	if (!real)
		return;
	pq_depth++;
	real(conn);
	pq_depth--;
}

/* ------------------------------------------------------------ sync */

HOOK_API PGresult *PQexec(PGconn *conn, const char *query)
{
	PGresult *(*real)(PGconn *, const char *) = REAL(PQexec);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	PGresult *res;
	int err;

	if (!real)
		return NULL;
	c = traced(conn);
	if (!c)
		goto untraced;
	settle(c);
	analyze(query, &a, &w);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	res = real(conn, query);
	pq_depth--;
	err = errno;
	sync_done(c, conn, &e, res);
	errno = err;
	return res;
untraced:
	pq_depth++;
	res = real(conn, query);
	pq_depth--;
	return res;
}

HOOK_API PGresult *PQexecParams(PGconn *conn, const char *command,
				int nParams, const Oid *paramTypes,
				const char *const *paramValues,
				const int *paramLengths,
				const int *paramFormats, int resultFormat)
{
	PGresult *(*real)(PGconn *, const char *, int, const Oid *,
			  const char *const *, const int *, const int *,
			  int) = REAL(PQexecParams);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	PGresult *res;
	int err;

	if (!real)
		return NULL;
	c = traced(conn);
	if (!c)
		goto untraced;
	settle(c);
	analyze(command, &a, &w);
	/* The unnamed statement is now this one. */
	if (stmt_find(c, ""))
		stmt_store(c, "", w.text, w.text_len, w.summary, &a.info);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	res = real(conn, command, nParams, paramTypes, paramValues,
		   paramLengths, paramFormats, resultFormat);
	pq_depth--;
	err = errno;
	sync_done(c, conn, &e, res);
	errno = err;
	return res;
untraced:
	pq_depth++;
	res = real(conn, command, nParams, paramTypes, paramValues,
		   paramLengths, paramFormats, resultFormat);
	pq_depth--;
	return res;
}

HOOK_API PGresult *PQprepare(PGconn *conn, const char *stmtName,
			     const char *query, int nParams,
			     const Oid *paramTypes)
{
	PGresult *(*real)(PGconn *, const char *, const char *, int,
			  const Oid *) = REAL(PQprepare);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_PREPARE };
	PGresult *res;
	int err;

	if (!real)
		return NULL;
	c = traced(conn);
	if (!c)
		goto untraced;
	settle(c);
	analyze(query, &a, &w);
	stmt_store(c, stmtName, w.text, w.text_len, w.summary, &a.info);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	res = real(conn, stmtName, query, nParams, paramTypes);
	pq_depth--;
	err = errno;
	sync_done(c, conn, &e, res);
	errno = err;
	return res;
untraced:
	pq_depth++;
	res = real(conn, stmtName, query, nParams, paramTypes);
	pq_depth--;
	return res;
}

HOOK_API PGresult *PQexecPrepared(PGconn *conn, const char *stmtName,
				  int nParams,
				  const char *const *paramValues,
				  const int *paramLengths,
				  const int *paramFormats, int resultFormat)
{
	PGresult *(*real)(PGconn *, const char *, int, const char *const *,
			  const int *, const int *, int) =
		REAL(PQexecPrepared);
	struct pq_conn *c;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	PGresult *res;
	int err;

	if (!real)
		return NULL;
	c = traced(conn);
	if (!c)
		goto untraced;
	settle(c);
	what_of_stmt(stmt_find(c, stmtName), &w);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	res = real(conn, stmtName, nParams, paramValues, paramLengths,
		   paramFormats, resultFormat);
	pq_depth--;
	err = errno;
	sync_done(c, conn, &e, res);
	errno = err;
	return res;
untraced:
	pq_depth++;
	res = real(conn, stmtName, nParams, paramValues, paramLengths,
		   paramFormats, resultFormat);
	pq_depth--;
	return res;
}

/*
 * Describe and close calls get no span (nothing executes); they only keep
 * the connection's state in step, and closing a prepared statement drops
 * what we remembered of it.
 */
static PGresult *untraced_call(PGconn *conn, const char *name,
			       PGresult *(*real)(PGconn *, const char *),
			       int forget_stmt)
{
	struct pq_conn *c;
	PGresult *res;

	if (!real)
		return NULL;
	c = traced(conn);
	if (c)
		KEEP_ERRNO(settle(c); if (forget_stmt) stmt_forget(c, name));
	pq_depth++;
	res = real(conn, name);
	pq_depth--;
	return res;
}

HOOK_API PGresult *PQdescribePrepared(PGconn *conn, const char *stmt)
{
	return untraced_call(conn, stmt, REAL(PQdescribePrepared), 0);
}

HOOK_API PGresult *PQdescribePortal(PGconn *conn, const char *portal)
{
	return untraced_call(conn, portal, REAL(PQdescribePortal), 0);
}

HOOK_API PGresult *PQclosePrepared(PGconn *conn, const char *stmt)
{
	return untraced_call(conn, stmt, REAL(PQclosePrepared), 1);
}

/* Ends a COPY whose final result PQendcopy read for the program. */
HOOK_API int PQendcopy(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQendcopy);
	struct pq_conn *c;
	struct pq_entry *e;
	int r;

	if (!real)
		return EOF;
	c = traced(conn);
	pq_depth++;
	r = real(conn);
	pq_depth--;
	e = c ? fifo_head(c) : NULL;
	if (e && e->copy && e->kind == PQ_QUERY) {
		int err = errno;

		if (r != 0 && e->span && !e->failed) {
			span_conn_error(e->span, conn);
			e->failed = 1;
		}
		e->copy = 0;
		fifo_pop_end(c);
		errno = err;
	}
	return r;
}

/* ------------------------------------------------------------ async */

HOOK_API int PQsendQuery(PGconn *conn, const char *query)
{
	int (*real)(PGconn *, const char *) = REAL(PQsendQuery);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	int r, err;

	if (!real)
		return 0;
	c = traced(conn);
	if (!c)
		goto untraced;
	analyze(query, &a, &w);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	r = real(conn, query);
	pq_depth--;
	err = errno;
	send_done(c, conn, &e, r);
	errno = err;
	return r;
untraced:
	pq_depth++;
	r = real(conn, query);
	pq_depth--;
	return r;
}

HOOK_API int PQsendQueryParams(PGconn *conn, const char *command,
			       int nParams, const Oid *paramTypes,
			       const char *const *paramValues,
			       const int *paramLengths,
			       const int *paramFormats, int resultFormat)
{
	int (*real)(PGconn *, const char *, int, const Oid *,
		    const char *const *, const int *, const int *, int) =
		REAL(PQsendQueryParams);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	int r, err;

	if (!real)
		return 0;
	c = traced(conn);
	if (!c)
		goto untraced;
	analyze(command, &a, &w);
	if (stmt_find(c, ""))
		stmt_store(c, "", w.text, w.text_len, w.summary, &a.info);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	r = real(conn, command, nParams, paramTypes, paramValues,
		 paramLengths, paramFormats, resultFormat);
	pq_depth--;
	err = errno;
	send_done(c, conn, &e, r);
	errno = err;
	return r;
untraced:
	pq_depth++;
	r = real(conn, command, nParams, paramTypes, paramValues,
		 paramLengths, paramFormats, resultFormat);
	pq_depth--;
	return r;
}

HOOK_API int PQsendPrepare(PGconn *conn, const char *stmtName,
			   const char *query, int nParams,
			   const Oid *paramTypes)
{
	int (*real)(PGconn *, const char *, const char *, int,
		    const Oid *) = REAL(PQsendPrepare);
	struct pq_conn *c;
	struct pq_analysis a;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_PREPARE };
	int r, err;

	if (!real)
		return 0;
	c = traced(conn);
	if (!c)
		goto untraced;
	analyze(query, &a, &w);
	stmt_store(c, stmtName, w.text, w.text_len, w.summary, &a.info);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	r = real(conn, stmtName, query, nParams, paramTypes);
	pq_depth--;
	err = errno;
	send_done(c, conn, &e, r);
	errno = err;
	return r;
untraced:
	pq_depth++;
	r = real(conn, stmtName, query, nParams, paramTypes);
	pq_depth--;
	return r;
}

HOOK_API int PQsendQueryPrepared(PGconn *conn, const char *stmtName,
				 int nParams,
				 const char *const *paramValues,
				 const int *paramLengths,
				 const int *paramFormats, int resultFormat)
{
	int (*real)(PGconn *, const char *, int, const char *const *,
		    const int *, const int *, int) =
		REAL(PQsendQueryPrepared);
	struct pq_conn *c;
	struct pq_what w;
	struct pq_entry e = { .kind = PQ_QUERY };
	int r, err;

	if (!real)
		return 0;
	c = traced(conn);
	if (!c)
		goto untraced;
	what_of_stmt(stmt_find(c, stmtName), &w);
	e.span = span_begin(c, conn, &w);
	pq_depth++;
	r = real(conn, stmtName, nParams, paramValues, paramLengths,
		 paramFormats, resultFormat);
	pq_depth--;
	err = errno;
	send_done(c, conn, &e, r);
	errno = err;
	return r;
untraced:
	pq_depth++;
	r = real(conn, stmtName, nParams, paramValues, paramLengths,
		 paramFormats, resultFormat);
	pq_depth--;
	return r;
}

/*
 * Commands that produce results but no span (describe, close): queued
 * without a span so later results stay attributed to the right command.
 * forget, if set, is a prepared statement name the command closes.
 */
static int send_spanless(PGconn *conn, int (*real)(PGconn *, const char *),
			 const char *arg, int forget)
{
	struct pq_conn *c = traced(conn);
	struct pq_entry e = { .kind = PQ_QUERY };
	int r, err;

	pq_depth++;
	r = real(conn, arg);
	pq_depth--;
	if (!c)
		return r;
	err = errno;
	if (forget && r)
		stmt_forget(c, arg);
	send_done(c, conn, &e, r);
	errno = err;
	return r;
}

HOOK_API int PQsendDescribePrepared(PGconn *conn, const char *stmt)
{
	int (*real)(PGconn *, const char *) = REAL(PQsendDescribePrepared);

	return real ? send_spanless(conn, real, stmt, 0) : 0;
}

HOOK_API int PQsendDescribePortal(PGconn *conn, const char *portal)
{
	int (*real)(PGconn *, const char *) = REAL(PQsendDescribePortal);

	return real ? send_spanless(conn, real, portal, 0) : 0;
}

HOOK_API int PQsendClosePrepared(PGconn *conn, const char *stmt)
{
	int (*real)(PGconn *, const char *) = REAL(PQsendClosePrepared);

	return real ? send_spanless(conn, real, stmt, 1) : 0;
}

HOOK_API int PQsendClosePortal(PGconn *conn, const char *portal)
{
	int (*real)(PGconn *, const char *) = REAL(PQsendClosePortal);

	return real ? send_spanless(conn, real, portal, 0) : 0;
}

/* The span of a command ends when PQgetResult returns NULL after its
 * results (in pipeline mode: or when the sync point's result arrives). */
HOOK_API PGresult *PQgetResult(PGconn *conn)
{
	PGresult *(*real)(PGconn *) = REAL(PQgetResult);
	struct pq_conn *c;
	PGresult *res;
	int err;

	if (!real)
		return NULL;
	if (pq_depth > 0 || !conn || !preload_enter())
		return real(conn);
	c = conn_find(conn);
	pq_depth++;
	res = real(conn);
	pq_depth--;
	if (!c || (!c->count && !c->lost_queries && !c->lost_syncs))
		return res;
	err = errno;
	fifo_result(c, res);
	errno = err;
	return res;
}

/* ------------------------------------------------------------ pipeline */

HOOK_API int PQenterPipelineMode(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQenterPipelineMode);
	struct pq_conn *c;
	int r;

	if (!real)
		return 0;
	c = traced(conn);
	pq_depth++;
	r = real(conn);
	pq_depth--;
	if (c && r == 1) {
		KEEP_ERRNO(settle(c));
		c->pipeline = 1;
	}
	return r;
}

HOOK_API int PQexitPipelineMode(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQexitPipelineMode);
	struct pq_conn *c;
	int r;

	if (!real)
		return 0;
	c = traced(conn);
	pq_depth++;
	r = real(conn);
	pq_depth--;
	if (c && r == 1) {
		/* Only possible when idle: anything queued is over. */
		c->pipeline = 0;
		KEEP_ERRNO(fifo_end_all(c));
	}
	return r;
}

static int sync_point(PGconn *conn, int (*real)(PGconn *))
{
	struct pq_conn *c = traced(conn);
	struct pq_entry e = { .kind = PQ_SYNC };
	int r;

	pq_depth++;
	r = real(conn);
	pq_depth--;
	if (c && r == 1 && c->pipeline)
		KEEP_ERRNO(fifo_push(c, &e));
	return r;
}

HOOK_API int PQpipelineSync(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQpipelineSync);

	return real ? sync_point(conn, real) : 0;
}

HOOK_API int PQsendPipelineSync(PGconn *conn)
{
	int (*real)(PGconn *) = REAL(PQsendPipelineSync);

	return real ? sync_point(conn, real) : 0;
}
