/*
 * A libpq client that uses the asynchronous API and pipeline mode, for the
 * tests and the demo: a non-blocking connect, queries sent with PQsend*
 * and read with poll() + PQconsumeInput() + PQgetResult(), a prepared
 * statement executed several times, and a pipeline whose second batch
 * fails.  It prints one line per result so a test can check it behaved.
 *
 * usage: pq_async CONNINFO
 * $PQ_ASYNC_SECRET (default "pq-async-secret-param") is sent only as a
 * bound parameter value, never in query text.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static void die(PGconn *conn, const char *what)
{
	fprintf(stderr, "pq_async: %s: %s", what, PQerrorMessage(conn));
	PQfinish(conn);
	exit(1);
}

/* Waits until the socket is ready for `events`. */
static void wait_socket(PGconn *conn, short events)
{
	struct pollfd p = { .fd = PQsocket(conn), .events = events };

	if (poll(&p, 1, 10000) <= 0)
		die(conn, "poll");
}

static PGconn *connect_async(const char *conninfo)
{
	PGconn *conn = PQconnectStart(conninfo);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!conn || PQstatus(conn) == CONNECTION_BAD)
		die(conn, "connect");
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			die(conn, "connect");
		wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN
							      : POLLOUT);
		st = PQconnectPoll(conn);
	}
	return conn;
}

/* Prints one result: status, rows, and the SQLSTATE of an error. */
static void show(const char *tag, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	printf("%s %s rows=%d", tag, PQresStatus(st),
	       st == PGRES_TUPLES_OK ? PQntuples(res) : -1);
	if (state)
		printf(" sqlstate=%s", state);
	printf("\n");
}

/* Reads every result of the command just sent, the event-loop way:
 * consume input while libpq is busy, then drain until NULL. */
static void drain(PGconn *conn, const char *tag)
{
	PGresult *res;

	for (;;) {
		while (PQisBusy(conn)) {
			wait_socket(conn, POLLIN);
			if (!PQconsumeInput(conn))
				die(conn, "consume");
		}
		res = PQgetResult(conn);
		if (!res)
			break;
		show(tag, res);
		PQclear(res);
	}
}

/* Reads a pipeline's results up to and including `syncs` sync points. */
static void drain_pipeline(PGconn *conn, int syncs)
{
	int query = 0;
	PGresult *res;

	while (syncs > 0) {
		res = PQgetResult(conn);
		if (!res) {
			query++;        /* end of one query's results */
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			printf("pipeline sync\n");
			syncs--;
		} else {
			char tag[32];

			snprintf(tag, sizeof(tag), "pipeline[%d]", query);
			show(tag, res);
		}
		PQclear(res);
	}
}

static void send_params(PGconn *conn, const char *sql, int n,
			const char *const *values)
{
	if (!PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0))
		die(conn, "send");
}

int main(int argc, char **argv)
{
	const char *secret = getenv("PQ_ASYNC_SECRET");
	const char *v[2];
	char id[16];
	PGconn *conn;
	PGresult *res;

	if (argc < 2) {
		fprintf(stderr, "usage: pq_async CONNINFO\n");
		return 2;
	}
	if (!secret)
		secret = "pq-async-secret-param";
	conn = connect_async(argv[1]);

	res = PQexec(conn, "CREATE TABLE IF NOT EXISTS pq_async_items "
			   "(id int PRIMARY KEY, name text)");
	show("create", res);
	PQclear(res);
	res = PQexec(conn, "TRUNCATE pq_async_items");
	show("truncate", res);
	PQclear(res);

	/* Plain asynchronous queries: a literal, then a bound parameter. */
	if (!PQsendQuery(conn, "INSERT INTO pq_async_items VALUES "
			       "(1, 'pq_async_literal_5309')"))
		die(conn, "send");
	drain(conn, "insert");
	v[0] = "2";
	v[1] = secret;
	send_params(conn, "INSERT INTO pq_async_items (id, name) "
			  "VALUES ($1, $2)", 2, v);
	drain(conn, "insert-params");

	/* Prepared once, executed three times. */
	if (!PQsendPrepare(conn, "get_item",
			   "SELECT name FROM pq_async_items WHERE id = $1",
			   1, NULL))
		die(conn, "prepare");
	drain(conn, "prepare");
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof(id), "%d", i);
		v[0] = id;
		if (!PQsendQueryPrepared(conn, "get_item", 1, v, NULL, NULL,
					 0))
			die(conn, "exec prepared");
		drain(conn, "get_item");
	}

	/* A pipeline: three inserts and a prepared select in one batch; a
	 * failing query and one the failure aborts in a second. */
	if (!PQenterPipelineMode(conn))
		die(conn, "pipeline");
	for (int i = 10; i < 13; i++) {
		snprintf(id, sizeof(id), "%d", i);
		v[0] = id;
		v[1] = secret;
		send_params(conn, "INSERT INTO pq_async_items (id, name) "
				  "VALUES ($1, $2)", 2, v);
	}
	v[0] = "10";
	if (!PQsendQueryPrepared(conn, "get_item", 1, v, NULL, NULL, 0))
		die(conn, "exec prepared");
	if (!PQpipelineSync(conn))
		die(conn, "sync");
	send_params(conn, "SELECT * FROM pq_async_missing", 0, NULL);
	send_params(conn, "SELECT count(*) FROM pq_async_items", 0, NULL);
	if (!PQpipelineSync(conn))
		die(conn, "sync");
	drain_pipeline(conn, 2);
	if (!PQexitPipelineMode(conn))
		die(conn, "exit pipeline");

	/* A parameter the server rejects: its error message quotes it. */
	v[0] = secret;
	res = PQexecParams(conn, "SELECT $1::int", 1, NULL, v, NULL, NULL, 0);
	show("bad-param", res);
	PQclear(res);

	res = PQexec(conn, "SELECT count(*) FROM pq_async_items");
	show("count", res);
	printf("count=%s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return 0;
}
