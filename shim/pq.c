/*
 * libpq hooks: one CLIENT span per statement execution, whether the program
 * uses the synchronous calls (PQexec...), the asynchronous ones (PQsend...
 * then PQgetResult until NULL) or pipeline mode.  libpq is never linked in:
 * every real function is found on first use (pq.def, preload.h), so a
 * program that dlopen()s libpq later is traced too.
 *
 * Each hook is a trampoline: it decides whether the call is traced, calls
 * libpq, and hands what happened to the connection's command state
 * (pq_cmd.c), keeping errno as libpq left it.  libpq calls its own
 * exported functions through the PLT (PQexec calls PQgetResult), so a
 * per-thread depth counter lets only the outermost call be traced.
 */
#include <stdio.h>

#include "pq_cmd.h"

/* Every hook's declaration, from the table: a hook whose definition
 * drifts from its row does not compile. */
#define HOOK(ret, name, params, args) HOOK_API ret name params;
#define CALL(ret, name, params, args)
#include "pq.def"
#undef CALL
#undef HOOK

/* Depth of libpq calls on this thread: only the outermost is traced. */
static PRELOAD_TLS int pq_depth;

/* The value of call, a call into libpq, made with the depth raised. */
#define NESTED(call)                                                      \
	({                                                                \
		pq_depth++;                                               \
		__auto_type nested_ = (call);                             \
		pq_depth--;                                               \
		nested_;                                                  \
	})

/* The state of conn if this call is to be traced, else NULL. */
static struct pq_conn *traced(PGconn *conn)
{
	if (pq_depth > 0 || !conn || !preload_enter())
		return NULL;
	return pq_conn_get(conn);
}

/* ------------------------------------------------------------ connect */

/* After a connect call (not one libpq made itself): follow conn. */
static PGconn *connected(PGconn *conn)
{
	if (pq_depth == 0 && conn && preload_enter())
		KEEP_ERRNO(pq_cmd_connected(conn));
	return conn;
}

HOOK_API PGconn *PQconnectdb(const char *conninfo)
{
	if (!next_PQconnectdb())
		return NULL;
	return connected(NESTED(next_PQconnectdb()(conninfo)));
}

HOOK_API PGconn *PQconnectStart(const char *conninfo)
{
	if (!next_PQconnectStart())
		return NULL;
	return connected(NESTED(next_PQconnectStart()(conninfo)));
}

/* PQconnectdbParams and PQconnectStartParams. */
static PGconn *connect_params(PGconn *(*real)(const char *const *,
					      const char *const *, int),
			      const char *const *keywords,
			      const char *const *values, int expand_dbname)
{
	if (!real)
		return NULL;
	return connected(NESTED(real(keywords, values, expand_dbname)));
}

HOOK_API PGconn *PQconnectdbParams(const char *const *keywords,
				   const char *const *values,
				   int expand_dbname)
{
	return connect_params(next_PQconnectdbParams(), keywords, values,
			      expand_dbname);
}

HOOK_API PGconn *PQconnectStartParams(const char *const *keywords,
				      const char *const *values,
				      int expand_dbname)
{
	return connect_params(next_PQconnectStartParams(), keywords, values,
			      expand_dbname);
}

HOOK_API PGconn *PQsetdbLogin(const char *pghost, const char *pgport,
			      const char *pgoptions, const char *pgtty,
			      const char *dbName, const char *login,
			      const char *pwd)
{
	if (!next_PQsetdbLogin())
		return NULL;
	return connected(NESTED(next_PQsetdbLogin()(pghost, pgport,
						    pgoptions, pgtty, dbName,
						    login, pwd)));
}

/* PQconnectPoll and PQresetPoll: once a (re)connection completes, the
 * connection info is read again at the next span. */
static PostgresPollingStatusType polled(PostgresPollingStatusType r,
					PGconn *conn)
{
	if (r == PGRES_POLLING_OK && pq_depth == 0)
		KEEP_ERRNO(pq_conn_changed(conn));
	return r;
}

HOOK_API PostgresPollingStatusType PQconnectPoll(PGconn *conn)
{
	if (!next_PQconnectPoll())
		return PGRES_POLLING_FAILED;
	return polled(NESTED(next_PQconnectPoll()(conn)), conn);
}

HOOK_API PostgresPollingStatusType PQresetPoll(PGconn *conn)
{
	if (!next_PQresetPoll())
		return PGRES_POLLING_FAILED;
	return polled(NESTED(next_PQresetPoll()(conn)), conn);
}

HOOK_API void PQreset(PGconn *conn)
{
	if (!next_PQreset())
		return;
	KEEP_ERRNO(pq_cmd_reset(conn));
	pq_depth++;
	next_PQreset()(conn);
	pq_depth--;
}

HOOK_API int PQresetStart(PGconn *conn)
{
	if (!next_PQresetStart())
		return 0;
	KEEP_ERRNO(pq_cmd_reset(conn));
	return NESTED(next_PQresetStart()(conn));
}

/* Always forgets conn, even when libpq finishes its own connections
 * (PQping): the pointer may come back for a new connection. */
HOOK_API void PQfinish(PGconn *conn)
{
	if (conn)
		KEEP_ERRNO(pq_cmd_drop(conn));
	if (!next_PQfinish())
		return;
	pq_depth++;
	next_PQfinish()(conn);
	pq_depth--;
}

/* ------------------------------------------------------------ statements */

/*
 * The whole body of a statement hook: the span of the statement starts
 * (its text sql, or what was prepared as stmt: pq_cmd_begin), libpq runs
 * with the depth raised, and what it returned goes to done (pq_cmd_done
 * after PQexec..., pq_cmd_sent after PQsend...) with errno kept.  fail is
 * what the call returns while libpq is not loaded.
 */
#define STATEMENT(name, args, fail, mode, done, src, sql, stmt)           \
	struct pq_cmd k_;                                                 \
	__typeof__(next_##name() args) res_;                              \
									  \
	if (!next_##name())                                               \
		return fail;                                              \
	pq_cmd_begin(&k_, traced(conn), conn, mode, src, sql, stmt);      \
	res_ = NESTED(next_##name() args);                                \
	KEEP_ERRNO(done(&k_, res_));                                      \
	return res_

#define EXEC_STATEMENT(name, args, src, sql, stmt)                        \
	STATEMENT(name, args, NULL, PQ_MODE_EXEC, pq_cmd_done, src, sql, stmt)
#define SEND_STATEMENT(name, args, src, sql, stmt)                        \
	STATEMENT(name, args, 0, PQ_MODE_SEND, pq_cmd_sent, src, sql, stmt)

HOOK_API PGresult *PQexec(PGconn *conn, const char *query)
{
	EXEC_STATEMENT(PQexec, (conn, query), PQ_SRC_TEXT, query, NULL);
}

HOOK_API PGresult *PQexecParams(PGconn *conn, const char *command,
				int nParams, const Oid *paramTypes,
				const char *const *paramValues,
				const int *paramLengths,
				const int *paramFormats, int resultFormat)
{
	EXEC_STATEMENT(PQexecParams, (conn, command, nParams, paramTypes,
				      paramValues, paramLengths,
				      paramFormats, resultFormat),
		       PQ_SRC_PARAMS, command, NULL);
}

HOOK_API PGresult *PQprepare(PGconn *conn, const char *stmtName,
			     const char *query, int nParams,
			     const Oid *paramTypes)
{
	EXEC_STATEMENT(PQprepare, (conn, stmtName, query, nParams,
				   paramTypes),
		       PQ_SRC_PREPARE, query, stmtName);
}

HOOK_API PGresult *PQexecPrepared(PGconn *conn, const char *stmtName,
				  int nParams,
				  const char *const *paramValues,
				  const int *paramLengths,
				  const int *paramFormats, int resultFormat)
{
	EXEC_STATEMENT(PQexecPrepared, (conn, stmtName, nParams, paramValues,
					paramLengths, paramFormats,
					resultFormat),
		       PQ_SRC_NAME, NULL, stmtName);
}

HOOK_API int PQsendQuery(PGconn *conn, const char *query)
{
	SEND_STATEMENT(PQsendQuery, (conn, query), PQ_SRC_TEXT, query, NULL);
}

HOOK_API int PQsendQueryParams(PGconn *conn, const char *command,
			       int nParams, const Oid *paramTypes,
			       const char *const *paramValues,
			       const int *paramLengths,
			       const int *paramFormats, int resultFormat)
{
	SEND_STATEMENT(PQsendQueryParams, (conn, command, nParams,
					   paramTypes, paramValues,
					   paramLengths, paramFormats,
					   resultFormat),
		       PQ_SRC_PARAMS, command, NULL);
}

HOOK_API int PQsendPrepare(PGconn *conn, const char *stmtName,
			   const char *query, int nParams,
			   const Oid *paramTypes)
{
	SEND_STATEMENT(PQsendPrepare, (conn, stmtName, query, nParams,
				       paramTypes),
		       PQ_SRC_PREPARE, query, stmtName);
}

HOOK_API int PQsendQueryPrepared(PGconn *conn, const char *stmtName,
				 int nParams,
				 const char *const *paramValues,
				 const int *paramLengths,
				 const int *paramFormats, int resultFormat)
{
	SEND_STATEMENT(PQsendQueryPrepared, (conn, stmtName, nParams,
					     paramValues, paramLengths,
					     paramFormats, resultFormat),
		       PQ_SRC_NAME, NULL, stmtName);
}

/* ------------------------------------------------------------ describe */

/*
 * Describe and close calls get no span (nothing executes); they only keep
 * the connection's state in step, and closing a prepared statement drops
 * what we remembered of it.  The PQsend... ones are queued without a span
 * so that later results stay attributed to the right command.
 */
static PGresult *spanless(PGresult *(*real)(PGconn *, const char *),
			  PGconn *conn, const char *name, int closes)
{
	struct pq_conn *c;

	if (!real)
		return NULL;
	c = traced(conn);
	if (c)
		KEEP_ERRNO(pq_cmd_spanless(c, closes ? name : NULL));
	return NESTED(real(conn, name));
}

static int send_spanless(int (*real)(PGconn *, const char *), PGconn *conn,
			 const char *name, int closes)
{
	struct pq_cmd k = { .conn = conn, .e.kind = PQ_QUERY,
			    .closes = closes ? name : NULL };
	int r;

	if (!real)
		return 0;
	k.c = traced(conn);
	r = NESTED(real(conn, name));
	KEEP_ERRNO(pq_cmd_sent(&k, r));
	return r;
}

HOOK_API PGresult *PQdescribePrepared(PGconn *conn, const char *stmt)
{
	return spanless(next_PQdescribePrepared(), conn, stmt, 0);
}

HOOK_API PGresult *PQdescribePortal(PGconn *conn, const char *portal)
{
	return spanless(next_PQdescribePortal(), conn, portal, 0);
}

HOOK_API PGresult *PQclosePrepared(PGconn *conn, const char *stmt)
{
	return spanless(next_PQclosePrepared(), conn, stmt, 1);
}

HOOK_API int PQsendDescribePrepared(PGconn *conn, const char *stmt)
{
	return send_spanless(next_PQsendDescribePrepared(), conn, stmt, 0);
}

HOOK_API int PQsendDescribePortal(PGconn *conn, const char *portal)
{
	return send_spanless(next_PQsendDescribePortal(), conn, portal, 0);
}

HOOK_API int PQsendClosePrepared(PGconn *conn, const char *stmt)
{
	return send_spanless(next_PQsendClosePrepared(), conn, stmt, 1);
}

HOOK_API int PQsendClosePortal(PGconn *conn, const char *portal)
{
	return send_spanless(next_PQsendClosePortal(), conn, portal, 0);
}

/* ------------------------------------------------------------ results */

/* The span of a command ends when PQgetResult returns NULL after its
 * results (in pipeline mode: or when the sync point's result arrives). */
HOOK_API PGresult *PQgetResult(PGconn *conn)
{
	PGresult *(*real)(PGconn *) = next_PQgetResult();
	struct pq_conn *c;
	PGresult *res;

	if (!real)
		return NULL;
	if (pq_depth > 0 || !conn || !preload_enter())
		return real(conn);
	c = pq_conn_find(conn);
	res = NESTED(real(conn));
	KEEP_ERRNO(pq_cmd_result(c, res));
	return res;
}

/* Ends a COPY whose final result PQendcopy read for the program. */
HOOK_API int PQendcopy(PGconn *conn)
{
	struct pq_conn *c;
	int r;

	if (!next_PQendcopy())
		return EOF;
	c = traced(conn);
	r = NESTED(next_PQendcopy()(conn));
	KEEP_ERRNO(pq_cmd_endcopy(c, conn, r != 0));
	return r;
}

/* ------------------------------------------------------------ pipeline */

/* Pipeline mode entered or left, a sync point sent: what changes once
 * libpq said it succeeded (1). */
static int pipeline(int (*real)(PGconn *), PGconn *conn,
		    enum pq_pipeline what)
{
	struct pq_conn *c;
	int r;

	if (!real)
		return 0;
	c = traced(conn);
	r = NESTED(real(conn));
	if (c && r == 1)
		KEEP_ERRNO(pq_cmd_pipeline(c, what));
	return r;
}

HOOK_API int PQenterPipelineMode(PGconn *conn)
{
	return pipeline(next_PQenterPipelineMode(), conn, PQ_PIPELINE_ENTER);
}

HOOK_API int PQexitPipelineMode(PGconn *conn)
{
	return pipeline(next_PQexitPipelineMode(), conn, PQ_PIPELINE_EXIT);
}

HOOK_API int PQpipelineSync(PGconn *conn)
{
	return pipeline(next_PQpipelineSync(), conn, PQ_PIPELINE_SYNC);
}

HOOK_API int PQsendPipelineSync(PGconn *conn)
{
	return pipeline(next_PQsendPipelineSync(), conn, PQ_PIPELINE_SYNC);
}
