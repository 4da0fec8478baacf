/*
 * What the libpq hooks know about each connection (keyed by PGconn *):
 * database, host and port for the spans, the commands in flight, and a
 * small map of prepared statement name -> what its spans say, so that a
 * statement prepared once carries its text on every execution.  Also
 * libpq's functions as every pq file calls them, next_<name>() from
 * pq.def.  A PGconn is used by one thread at a time (libpq's rule), so a
 * connection's state needs no lock; only the table that finds it is
 * shared.
 */
#ifndef OTELSHIM_PQ_CONN_H
#define OTELSHIM_PQ_CONN_H

#include <stddef.h>
#include <stdint.h>

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#include "dbspan.h"
#include "pq_util.h"
#include "preload.h"

#define HOOK(ret, name, params, args) LIB_NEXT("libpq", ret, name, params)
#define CALL HOOK
#include "pq.def"
#undef CALL
#undef HOOK

/* Prepared statements remembered per connection (oldest replaced). */
#define PQ_STMT_MAX 32

struct pq_stmt {
	uint8_t used;
	uint32_t hash;
	char name[64];
	char *text;             /* malloc'd: text NUL summary NUL */
	uint16_t text_len;
	uint16_t summary_len;
	uint8_t operation_len, collection_len;
	char operation[32];
	char collection[128];
};

struct pq_conn {
	uint8_t pipeline;       /* in pipeline mode */
	uint8_t info_ok;        /* db, host, port are current */
	int port;
	uint16_t db_len, host_len;      /* of db and host */
	char db[64];
	char host[192];
	struct pq_stmt *stmts;  /* PQ_STMT_MAX, allocated on first prepare */
	unsigned stmt_clock;
	struct pq_fifo fifo;    /* commands sent, results not all read */
};

/* The state of conn, or NULL. */
struct pq_conn *pq_conn_find(const PGconn *conn);

/*
 * The state of conn, created if it has none (a small malloc, once per
 * connection).  NULL when the table is full around conn's slot or memory
 * is short: the connection is then not traced.
 */
struct pq_conn *pq_conn_get(const PGconn *conn);

/* Takes conn's state out of the table (NULL if it had none); the caller
 * ends what is in flight, then pq_conn_free(). */
struct pq_conn *pq_conn_take(const PGconn *conn);
void pq_conn_free(struct pq_conn *c);

/* Database, host and port for the span attributes, read from libpq once
 * the connection is up (and again after pq_conn_changed()). */
void pq_conn_info(struct pq_conn *c, PGconn *conn);

/* A (re)connection completed: read the connection info again at the
 * next span (a multi-host conninfo may have moved on). */
void pq_conn_changed(const PGconn *conn);

/* The statement prepared as name on c, or NULL. */
const struct pq_stmt *pq_stmt_find(struct pq_conn *c, const char *name);

/*
 * Remembers what statement name is (its analysis a).  Runs once per
 * prepare, so the malloc here is off the per-execution path.  Names too
 * long for the map are skipped.
 */
void pq_stmt_store(struct pq_conn *c, const char *name,
		   const struct dbspan_sql *a);

void pq_stmt_forget(struct pq_conn *c, const char *name);

/* Forgets every statement of c (a reset: a new session). */
void pq_stmts_free(struct pq_conn *c);

/* What the spans of st say about it; all empty when st is NULL. */
void pq_stmt_query(const struct pq_stmt *st, struct dbspan_query *q);

#endif
