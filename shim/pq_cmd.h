/*
 * The commands a libpq connection runs, and their spans: a span starts
 * when a statement is sent and ends when its last result has been read,
 * whether the program called libpq synchronously (PQexec...), sent and
 * then read results (PQsend... then PQgetResult until NULL) or pipelined.
 * Called by the hooks (pq.c) after they decided a call is traced, on the
 * thread that uses the connection.
 */
#ifndef OTELSHIM_PQ_CMD_H
#define OTELSHIM_PQ_CMD_H

#include "pq_conn.h"

/* How the program runs a statement. */
enum pq_mode {
	PQ_MODE_EXEC,           /* PQexec...: the call returns its result */
	PQ_MODE_SEND,           /* PQsend...: results are read later */
};

/* What names the statement a hook runs. */
enum pq_src {
	PQ_SRC_TEXT,            /* SQL text */
	PQ_SRC_PARAMS,          /* SQL text that replaces the unnamed
				 * statement (PQexecParams) */
	PQ_SRC_PREPARE,         /* SQL text prepared under a name */
	PQ_SRC_NAME,            /* the name of a prepared statement */
};

/* A statement between a hook's call into libpq and its return. */
struct pq_cmd {
	struct pq_conn *c;      /* NULL: not traced */
	PGconn *conn;
	struct pq_entry e;
	/* A prepared statement the command closes, forgotten once sent. */
	const char *closes;
};

/*
 * Before the statement goes to libpq: starts its span, with the text
 * (sql) or what was prepared under name.  c NULL: not traced, and the
 * later calls on k do nothing.
 */
void pq_cmd_begin(struct pq_cmd *k, struct pq_conn *c, PGconn *conn,
		  enum pq_mode mode, enum pq_src src, const char *sql,
		  const char *name);

/* After a PQ_MODE_EXEC call: its result (NULL: libpq failed). */
void pq_cmd_done(struct pq_cmd *k, const PGresult *res);

/*
 * After a send call (1: sent, 0: failed) that pq_cmd_begin() started, or
 * one that runs no statement (describe, close: k filled in by the caller,
 * without a span), queued so that later results stay attributed to the
 * right command.
 */
void pq_cmd_sent(struct pq_cmd *k, int ok);

/* A result the program read with PQgetResult (NULL: the end of one
 * command's results). */
void pq_cmd_result(struct pq_conn *c, const PGresult *res);

/* A describe or close call that returns its result (no span): settles
 * the connection; closes, if not NULL, is a prepared statement it
 * closes. */
void pq_cmd_spanless(struct pq_conn *c, const char *closes);

/* PQendcopy read the final result of a COPY; failed: it said so. */
void pq_cmd_endcopy(struct pq_conn *c, PGconn *conn, int failed);

/* Outside pipeline mode at most one command is in flight: a new one
 * means the previous one is done even if NULL was never read. */
void pq_cmd_settle(struct pq_conn *c);

/* What a pipeline call did. */
enum pq_pipeline {
	PQ_PIPELINE_ENTER,      /* pipeline mode entered */
	PQ_PIPELINE_EXIT,       /* left: only possible when idle */
	PQ_PIPELINE_SYNC,       /* a sync point sent */
};

void pq_cmd_pipeline(struct pq_conn *c, enum pq_pipeline what);

/* A connect call returned conn: its state starts afresh (an entry left
 * under the same pointer is from a PQfinish we did not see). */
void pq_cmd_connected(const PGconn *conn);

/* A reset: a new session, so queued commands are over, prepared
 * statements gone, pipeline mode off. */
void pq_cmd_reset(const PGconn *conn);

/* conn goes away (PQfinish): ends what is in flight and forgets it. */
void pq_cmd_drop(const PGconn *conn);

#endif
