/*
 * Pure helpers for the libpq hooks: the FIFO that attributes each result
 * PQgetResult returns to the command that produced it, and what an error
 * or a port becomes in a span.  They never call libpq: the hooks tell
 * them what libpq said.  No allocation, no locks, no stdio: they run
 * inside the hooks, on the thread that uses the connection.
 */
#ifndef OTELSHIM_PQ_UTIL_H
#define OTELSHIM_PQ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/text.h"

struct span;

/* Commands whose results are awaited, per connection.  Beyond this the
 * commands are counted but get no span (see struct pq_fifo). */
#define PQ_FIFO_MAX 64

enum pq_kind {
	PQ_QUERY = 1,   /* a statement execution (span may be NULL) */
	PQ_PREPARE,     /* a Parse: its span is exported only if it failed */
	PQ_SYNC,        /* a pipeline sync point */
};

/* One command sent and not yet fully read. */
struct pq_entry {
	struct span *span;      /* NULL: not traced, only kept in order */
	int64_t rows;
	uint8_t kind;           /* enum pq_kind */
	uint8_t results;        /* results seen, saturating */
	uint8_t has_rows;       /* a row-returning result was seen */
	uint8_t failed;         /* an error is recorded */
	uint8_t copy;           /* a COPY is in progress */
};

/*
 * The commands of one connection, oldest first.  When the FIFO is full,
 * later commands are only counted (lost_queries, lost_syncs): they form a
 * suffix of the pipeline, so their results arrive after every tracked
 * one, and nothing new is tracked until they have all been read.
 */
struct pq_fifo {
	unsigned head;
	unsigned count;
	unsigned lost_queries;
	unsigned lost_syncs;
	uint8_t lost_seen;      /* a result of a lost query was read */
	struct pq_entry e[PQ_FIFO_MAX];
};

/* Queues a copy of e: 0, or -ENOSPC when the FIFO is full or has lost
 * track, e then being only counted (its span is the caller's to give
 * back). */
int pq_fifo_push(struct pq_fifo *f, const struct pq_entry *e);

/* The oldest command, or NULL. */
struct pq_entry *pq_fifo_head(struct pq_fifo *f);

/* Drops the oldest command (the caller has ended its span). */
void pq_fifo_pop(struct pq_fifo *f);

/* Forgets the commands only counted: the caller has ended the rest. */
void pq_fifo_forget_lost(struct pq_fifo *f);

/* 1 when nothing is queued or counted. */
int pq_fifo_idle(const struct pq_fifo *f);

/* What PQgetResult returned. */
enum pq_got {
	PQ_GOT_NULL,            /* NULL: a command's results are over */
	PQ_GOT_RESULT,          /* a result */
	PQ_GOT_SYNC,            /* a PGRES_PIPELINE_SYNC result */
};

/* What the caller does with it. */
enum pq_route {
	PQ_ROUTE_NONE,          /* nothing more */
	PQ_ROUTE_FOLD,          /* fold the result into the head */
	PQ_ROUTE_END,           /* end the head and pop it */
	PQ_ROUTE_SYNC,          /* end and pop up to the first sync point */
};

/*
 * Attributes what PQgetResult returned to the oldest command queued, and
 * keeps count of results of commands only counted.
 */
enum pq_route pq_fifo_route(struct pq_fifo *f, enum pq_got got);

/*
 * 1 when sqlstate reports a failure, 0 for classes 00, 01 and 02
 * (success, warning, no data).  NULL (libpq failed on its own) is a
 * failure.
 */
int pq_sqlstate_failed(const char *sqlstate);

/*
 * The status description of an error: msg's first line without trailing
 * blanks; without libpq's "ERROR:  " prefix when there is no SQLSTATE;
 * and for data exceptions (class 22) and syntax errors (42601), whose
 * message quotes a value from the query or its parameters ('invalid input
 * syntax for type integer: "..."'), every "double-quoted" part replaced by
 * "?" in (buf, cap).  Returns a view of msg or buf; msg may be NULL.
 */
struct str pq_error_message(const char *sqlstate, const char *msg,
			    char *buf, size_t cap);

/* The port number in s ("5432"), or 0 when s holds none. */
int pq_port(const char *s);

#endif
