/*
 * Database client spans, filled the same way for every database we hook
 * (libpq, sqlite3): a statement's text analysed once into what its spans
 * say (sanitised text, summary, operation, collection), the span's name
 * and db.* attributes, returned rows and errors.  Runs on application
 * threads inside the hooks: no allocation, no locks.
 */
#ifndef OTELSHIM_DBSPAN_H
#define OTELSHIM_DBSPAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/sql.h"
#include "common/text.h"

struct span;

/* db.query.text is kept up to this many bytes. */
#define DBSPAN_TEXT_CAP 1024

/* A statement's text analysed for its spans: sql_analyze()'s output. */
struct dbspan_sql {
	struct sql_info info;   /* operation, collection, summary_len */
	size_t text_len;
	char summary[SQL_SUMMARY_MAX + 1];
	char text[DBSPAN_TEXT_CAP];
};

/* Analyses sql[0, len) (sql may be NULL when len is 0); flags as for
 * sql_analyze(). */
void dbspan_analyze(struct dbspan_sql *a, const char *sql, size_t len,
		    unsigned flags);

/* What a span says about its statement and where it ran.  Empty strings
 * (or NULL) and a zero port are left out. */
struct dbspan_query {
	const char *system;     /* db.system.name: "postgresql", "sqlite" */
	struct str ns;          /* db.namespace: the database or file */
	struct str text;        /* db.query.text, sanitised */
	struct str summary;     /* db.query.summary */
	const char *operation;  /* db.operation.name */
	const char *collection; /* db.collection.name */
	const char *server;     /* server.address */
	int port;               /* server.port */
};

/* The analysis' part of q: text, summary, operation and collection. */
void dbspan_query_of(struct dbspan_query *q, const struct dbspan_sql *a);

/*
 * Names s and writes q's attributes but the text.  The name is the
 * summary, else the namespace, else the system (the semantic conventions'
 * order, given that an operation always makes a summary).
 */
void dbspan_describe(struct span *s, const struct dbspan_query *q);

/*
 * Writes q's text, after everything else that is known: it is what gets
 * cut when the record's pool runs short, and it leaves reserve pool
 * bytes free for what is only known later (an error).
 */
void dbspan_text(struct span *s, const struct dbspan_query *q,
		 size_t reserve);

/* db.response.returned_rows. */
void dbspan_rows(struct span *s, int64_t rows);

/*
 * Marks s failed, msg (already cleaned of literals) as the status
 * description.  code (a SQLSTATE, an SQLite result code name) is
 * db.response.status_code, left out when NULL; type is error.type, or when
 * NULL the code, or "_OTHER" without one (the client library failed on
 * its own).
 */
void dbspan_error(struct span *s, const char *code, const char *type,
		  struct str msg);

#endif
