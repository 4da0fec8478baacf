/*
 * Commands in flight on a libpq connection and their spans (see
 * pq_cmd.h): each command sent is queued in the connection's FIFO
 * (pq_util.h) until its results have been read, and the results libpq
 * hands back are folded into its span: rows, COPY state, the error.  Runs
 * on the thread that uses the connection, inside the hooks.
 */
#include <stdint.h>
#include <string.h>

#include "common/sql.h"
#include "pipeline/record.h"
#include "context.h"
#include "pq_cmd.h"
#include "stack.h"

/* libpq 17's PGRES_TUPLES_CHUNK (chunked rows mode), by value so older
 * headers build: rows are counted like single-row results. */
#define PQ_TUPLES_CHUNK 12

/* Pool bytes kept free when the query text is written: room for the
 * SQLSTATE and the server's message, which only arrive later. */
#define PQ_RESERVE 224

/* The status description of an error is cut to this. */
#define PQ_ERRMSG_CAP 256

/* ------------------------------------------------------------ spans */

/* Starts the span of a command on c described by q. */
static struct span *span_begin(struct pq_conn *c, PGconn *conn,
			       struct dbspan_query *q)
{
	struct span *s = ctx_start_leaf(SPAN_KIND_CLIENT);

	if (!s)
		return NULL;
	pq_conn_info(c, conn);
	q->system = STR_LIT("postgresql");
	q->ns = (struct str){ c->db, c->db_len };
	q->server = (struct str){ c->host, c->host_len };
	q->port = c->port;
	dbspan_describe(s, q);
	dbspan_text(s, q, PQ_RESERVE);
	return s;
}

/* Marks the span failed with sqlstate (NULL: libpq failed itself). */
static void span_error(struct span *s, const char *sqlstate, const char *msg)
{
	char buf[PQ_ERRMSG_CAP];
	struct str m = pq_error_message(sqlstate, msg, buf, sizeof(buf));

	dbspan_error(s, sqlstate && sqlstate[0] ? sqlstate : NULL, NULL, m);
}

/* The span of a call that failed in libpq (nothing was sent, or the
 * connection broke): the message is libpq's. */
static void span_conn_error(struct span *s, PGconn *conn)
{
	char *(*errmsg)(const PGconn *) = next_PQerrorMessage();

	span_error(s, NULL, errmsg ? errmsg(conn) : NULL);
}

/* An error result: recorded once per command, warnings left out. */
static void entry_error(struct pq_entry *e, const PGresult *res)
{
	char *(*field)(const PGresult *, int) = next_PQresultErrorField();
	char *(*errmsg)(const PGresult *) = next_PQresultErrorMessage();
	const char *state, *msg;

	if (e->failed || !e->span || !field)
		return;
	state = field(res, PG_DIAG_SQLSTATE);
	if (!pq_sqlstate_failed(state))
		return;
	msg = field(res, PG_DIAG_MESSAGE_PRIMARY);
	if (!msg && errmsg)
		msg = errmsg(res);
	span_error(e->span, state, msg);
	e->failed = 1;
}

/* Folds one result of the command into its entry. */
static void entry_result(struct pq_entry *e, const PGresult *res)
{
	static const char aborted[] =
		"not executed: an earlier command in the pipeline failed";
	ExecStatusType (*status)(const PGresult *) = next_PQresultStatus();
	int (*ntuples)(const PGresult *) = next_PQntuples();
	ExecStatusType st;

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
	case PGRES_FATAL_ERROR:
	case PGRES_NONFATAL_ERROR:
	case PGRES_BAD_RESPONSE:
		entry_error(e, res);
		/* A COPY that was running is over, as after its last result. */
		__attribute__((fallthrough));
	case PGRES_COMMAND_OK:
		e->copy = 0;
		break;
	case PGRES_PIPELINE_ABORTED:
		if (e->failed || !e->span)
			break;
		dbspan_error(e->span, NULL, "pipeline_aborted",
			     (struct str){ aborted, sizeof(aborted) - 1 });
		e->failed = 1;
		break;
	default:
		break;
	}
}

/* A failure libpq reported for the whole call. */
static void entry_conn_error(struct pq_entry *e, PGconn *conn)
{
	span_conn_error(e->span, conn);
	e->failed = 1;
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
		dbspan_rows(s, e->rows);
	stack_capture_if_slow(s);
	ctx_end(s);
}

/* ------------------------------------------------------------ fifo */

/* Queues a sent command; one the FIFO can only count gives its span
 * back. */
static void fifo_push(struct pq_conn *c, const struct pq_entry *e)
{
	if (pq_fifo_push(&c->fifo, e) != 0 && e->span)
		ctx_discard(e->span);
}

static void fifo_pop_end(struct pq_conn *c)
{
	struct pq_entry *e = pq_fifo_head(&c->fifo);

	if (!e)
		return;
	entry_end(e);
	pq_fifo_pop(&c->fifo);
}

/* Ends everything queued: the program moved on (a new command outside
 * pipeline mode, a reset, PQfinish), so whatever was not read is over. */
static void fifo_end_all(struct pq_conn *c)
{
	while (c->fifo.count)
		fifo_pop_end(c);
	pq_fifo_forget_lost(&c->fifo);
}

void pq_cmd_settle(struct pq_conn *c)
{
	if (!c->pipeline && (c->fifo.count || c->fifo.lost_queries))
		fifo_end_all(c);
}

void pq_cmd_result(struct pq_conn *c, const PGresult *res)
{
	ExecStatusType (*status)(const PGresult *) = next_PQresultStatus();
	enum pq_got got = PQ_GOT_NULL;
	struct pq_entry *e;

	if (!c || pq_fifo_idle(&c->fifo))
		return;
	if (res)
		got = status && status(res) == PGRES_PIPELINE_SYNC ?
		      PQ_GOT_SYNC : PQ_GOT_RESULT;
	switch (pq_fifo_route(&c->fifo, got)) {
	case PQ_ROUTE_NONE:
		break;
	case PQ_ROUTE_FOLD:
		entry_result(pq_fifo_head(&c->fifo), res);
		break;
	case PQ_ROUTE_END:
		fifo_pop_end(c);
		break;
	case PQ_ROUTE_SYNC:
		while ((e = pq_fifo_head(&c->fifo)) != NULL) {
			int was_sync = e->kind == PQ_SYNC;

			fifo_pop_end(c);
			if (was_sync)
				break;
		}
		break;
	}
}

/* ------------------------------------------------------------ commands */

void pq_cmd_begin(struct pq_cmd *k, struct pq_conn *c, PGconn *conn,
		  enum pq_mode mode, enum pq_src src, const char *sql,
		  const char *name)
{
	struct dbspan_sql a;
	struct dbspan_query q;

	memset(k, 0, sizeof(*k));
	k->c = c;
	k->conn = conn;
	k->e.kind = src == PQ_SRC_PREPARE ? PQ_PREPARE : PQ_QUERY;
	if (!c)
		return;
	if (mode == PQ_MODE_EXEC)
		pq_cmd_settle(c);
	if (src == PQ_SRC_NAME) {
		pq_stmt_query(pq_stmt_find(c, name), &q);
	} else if (src == PQ_SRC_PREPARE ||
		   (src == PQ_SRC_PARAMS && pq_stmt_find(c, ""))) {
		/* A prepare names the statement; PQexecParams replaces the
		 * unnamed one, if we know it.  Analysed here, once, for
		 * every execution by name to reuse. */
		dbspan_analyze(&a, sql, sql ? strlen(sql) : 0, SQL_POSTGRES);
		memset(&q, 0, sizeof(q));
		dbspan_query_of(&q, &a);
		pq_stmt_store(c, src == PQ_SRC_PREPARE ? name : "", &a);
	} else {
		/* Run once: the exporter thread analyses it. */
		memset(&q, 0, sizeof(q));
		q.raw = (struct str){ sql, sql ? strlen(sql) : 0 };
		q.raw_dialect = SQL_POSTGRES;
	}
	k->e.span = span_begin(c, conn, &q);
}

/*
 * A result ends the span, except the start of a COPY, whose span stays
 * queued until the copy's final result has been read (PQgetResult,
 * PQendcopy).
 */
void pq_cmd_done(struct pq_cmd *k, const PGresult *res)
{
	struct pq_entry *e = &k->e;

	if (!k->c || !e->span)
		return;
	if (!res) {
		entry_conn_error(e, k->conn);
		entry_end(e);
		return;
	}
	entry_result(e, res);
	if (e->copy && e->kind == PQ_QUERY) {
		fifo_push(k->c, e);
		return;
	}
	entry_end(e);
}

void pq_cmd_sent(struct pq_cmd *k, int ok)
{
	struct pq_entry *e = &k->e;

	if (!k->c)
		return;
	if (!ok) {
		if (e->span) {
			entry_conn_error(e, k->conn);
			entry_end(e);
		}
		return;
	}
	if (k->closes)
		pq_stmt_forget(k->c, k->closes);
	pq_cmd_settle(k->c);
	fifo_push(k->c, e);
}

void pq_cmd_spanless(struct pq_conn *c, const char *closes)
{
	pq_cmd_settle(c);
	if (closes)
		pq_stmt_forget(c, closes);
}

void pq_cmd_endcopy(struct pq_conn *c, PGconn *conn, int failed)
{
	struct pq_entry *e = c ? pq_fifo_head(&c->fifo) : NULL;

	if (!e || !e->copy || e->kind != PQ_QUERY)
		return;
	if (failed && e->span && !e->failed)
		entry_conn_error(e, conn);
	e->copy = 0;
	fifo_pop_end(c);
}

void pq_cmd_pipeline(struct pq_conn *c, enum pq_pipeline what)
{
	struct pq_entry sync = { .kind = PQ_SYNC };

	switch (what) {
	case PQ_PIPELINE_ENTER:
		pq_cmd_settle(c);
		c->pipeline = 1;
		break;
	case PQ_PIPELINE_EXIT:
		/* Anything queued is over. */
		c->pipeline = 0;
		fifo_end_all(c);
		break;
	case PQ_PIPELINE_SYNC:
		if (c->pipeline)
			fifo_push(c, &sync);
		break;
	}
}

/* ------------------------------------------------------------ sessions */

void pq_cmd_connected(const PGconn *conn)
{
	if (pq_conn_find(conn))
		pq_cmd_drop(conn);
	pq_conn_get(conn);
}

void pq_cmd_reset(const PGconn *conn)
{
	struct pq_conn *c = pq_conn_find(conn);

	if (!c)
		return;
	fifo_end_all(c);
	pq_stmts_free(c);
	c->pipeline = 0;
	c->info_ok = 0;
}

void pq_cmd_drop(const PGconn *conn)
{
	struct pq_conn *c = pq_conn_take(conn);

	if (c) {
		fifo_end_all(c);
		pq_conn_free(c);
	}
}
