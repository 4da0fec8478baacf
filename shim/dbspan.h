/*
 * Database client spans, filled the same way for every database we hook
 * (libpq, sqlite3): a statement's text, kept as written for the exporter
 * thread to analyse (pipeline/span_sql.h) or analysed here into what its
 * spans say (sanitised text, summary, operation, collection), the span's
 * name and db.* attributes, returned rows and errors.  Runs on
 * application threads inside the hooks: no allocation, no locks.
 */
#ifndef OTELSHIM_DBSPAN_H
#define OTELSHIM_DBSPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/sql.h"
#include "common/text.h"
#include "pipeline/record.h"

/* db.query.text is kept up to this many bytes. */
#define DBSPAN_TEXT_CAP 1024

/*
 * A statement's text for its spans: sql_analyze()'s output, or with raw
 * set the text as written (text_len bytes, not NUL-terminated), left to
 * the exporter thread; info and summary are empty then.
 */
struct dbspan_sql {
	struct sql_info info;   /* operation, collection, summary_len */
	size_t text_len;
	unsigned dialect;       /* SQL_POSTGRES or SQL_SQLITE */
	uint8_t raw;
	char summary[SQL_SUMMARY_MAX + 1];
	char text[DBSPAN_TEXT_CAP];
};

/* Analyses sql[0, len) (sql may be NULL when len is 0); dialect as for
 * sql_analyze()'s flags. */
void dbspan_analyze(struct dbspan_sql *a, const char *sql, size_t len,
		    unsigned dialect);

/*
 * Keeps sql[0, len) as written when it is at most max bytes (and fits
 * text[]), else analyses it: a statement's spans then cost its thread a
 * copy, not the analysis.  max: what the caller's spans have room for,
 * so that dbspan_text() finds it fits and need not analyse it there.
 * Inline: a prepare hook keeps every statement's text.
 */
static inline void dbspan_keep(struct dbspan_sql *a, const char *sql,
			       size_t len, unsigned dialect, size_t max)
{
	if (!sql || len > max || len > sizeof(a->text)) {
		dbspan_analyze(a, sql, len, dialect);
		return;
	}
	/* A raw text has no analysis: only what readers of info look at
	 * is cleared, not all of it (the collection alone is 128 bytes). */
	a->info.operation[0] = 0;
	a->info.collection[0] = 0;
	a->info.operation_len = 0;
	a->info.collection_len = 0;
	a->info.summary_len = 0;
	a->summary[0] = 0;
	memcpy(a->text, sql, len);
	a->text_len = len;
	a->dialect = dialect;
	a->raw = 1;
}

/* a's summary, operation and collection (empty for a raw text). */
static inline struct str dbspan_summary(const struct dbspan_sql *a)
{
	return (struct str){ a->summary, a->info.summary_len };
}

static inline struct str dbspan_operation(const struct dbspan_sql *a)
{
	return (struct str){ a->info.operation, a->info.operation_len };
}

static inline struct str dbspan_collection(const struct dbspan_sql *a)
{
	return (struct str){ a->info.collection, a->info.collection_len };
}

/* What a span says about its statement and where it ran.  Empty strings
 * and a zero port are left out. */
struct dbspan_query {
	struct str system;      /* db.system.name: "postgresql", "sqlite" */
	struct str ns;          /* db.namespace: the database or file */
	struct str text;        /* db.query.text, sanitised */
	struct str summary;     /* db.query.summary */
	/* Or, instead of text, summary, operation and collection: the
	 * statement as written, in dialect raw_dialect. */
	struct str raw;
	unsigned raw_dialect;
	struct str operation;   /* db.operation.name */
	struct str collection;  /* db.collection.name */
	struct str server;      /* server.address */
	int port;               /* server.port */
};

/* The analysis' part of q: text, summary, operation and collection, or
 * the raw text. */
void dbspan_query_of(struct dbspan_query *q, const struct dbspan_sql *a);

/*
 * Names s and writes q's attributes but the text.  The name is the
 * summary, else the namespace, else the system (the semantic conventions'
 * order, given that an operation always makes a summary); with a raw
 * text the summary is only known on the exporter thread, which renames
 * the span then.
 */
void dbspan_describe(struct span *s, const struct dbspan_query *q);

/* dbspan_describe() for a statement's analysis (or raw text) a, with no
 * server, without building a query first: what every statement of a
 * connection says is passed as it is kept. */
void dbspan_describe_sql(struct span *s, struct str system, struct str ns,
			 const struct dbspan_sql *a);

/*
 * Writes q's text, after everything else that is known: it is what gets
 * cut when the record's pool runs short, and it leaves reserve pool
 * bytes free for what is only known later (an error).  A raw text goes
 * into the record as it is, to be sanitised when the record leaves the
 * queue, or when it does not fit whole is analysed here (summary,
 * operation, collection and the name written then).
 */
void dbspan_text(struct span *s, const struct dbspan_query *q,
		 size_t reserve);

/* dbspan_text() for a statement's analysis (or raw text) a. */
void dbspan_text_sql(struct span *s, const struct dbspan_sql *a,
		     size_t reserve);

/*
 * A statement's span that ended without an error, attribute by attribute:
 * dbspan_describe_sql(), db.response.returned_rows unless rows < 0, and
 * dbspan_text_sql() with nothing held in reserve.  dbspan_statement_sql()
 * is the call to make: it takes this path when the one-run path cannot.
 */
void dbspan_statement_parts(struct span *s, struct str system, struct str ns,
			    const struct dbspan_sql *a, int64_t rows);

/*
 * dbspan_statement_sql() for a raw text, when the record has none of the
 * attributes yet and room for them all whole: written as one run
 * (rec_reserve()) instead of one writer each checking the room, a slot
 * and its key.  Returns 0 when written, -1 (nothing written) when the
 * record or the text is not such.
 */
static inline int dbspan_statement_raw(struct span *s, struct str system,
				       struct str ns,
				       const struct dbspan_sql *a,
				       int64_t rows)
{
	uint32_t keys = rec_key_bit(ATTR_DB_SYSTEM_NAME) |
			rec_key_bit(ATTR_DB_QUERY_TEXT);
	struct span_attr *at;

	if (ns.n > 0)
		keys |= rec_key_bit(ATTR_DB_NAMESPACE);
	if (rows >= 0)
		keys |= rec_key_bit(ATTR_DB_RESPONSE_RETURNED_ROWS);
	if (!a->raw || a->text_len == 0 ||
	    !(at = rec_reserve(s, keys, 2 + (ns.n > 0) + (rows >= 0),
			       system.n + ns.n + a->text_len)))
		return -1;
	at = rec_put_str(s, at, ATTR_DB_SYSTEM_NAME, system.p, system.n);
	if (ns.n > 0)
		at = rec_put_str(s, at, ATTR_DB_NAMESPACE, ns.p, ns.n);
	s->name = at[-1].v.s;   /* the namespace, else the system */
	if (rows >= 0)
		at = rec_put_int(s, at, ATTR_DB_RESPONSE_RETURNED_ROWS, rows);
	rec_put_sql(s, at, a->text, a->text_len, a->dialect);
	return 0;
}

/*
 * A statement's span that ended without an error, in one call: as one run
 * when it can be, else dbspan_statement_parts().  Inline, so that a
 * constant system is copied without a call.
 */
static inline void dbspan_statement_sql(struct span *s, struct str system,
					struct str ns,
					const struct dbspan_sql *a,
					int64_t rows)
{
	if (dbspan_statement_raw(s, system, ns, a, rows) != 0)
		dbspan_statement_parts(s, system, ns, a, rows);
}

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
