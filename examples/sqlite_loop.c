/*
 * A plain sqlite3 C API program for the SQLite tests and benchmark: loops
 * of prepare/bind/step/reset, sqlite3_exec with and without a callback,
 * a UTF-16 prepare that fails and a constraint violation.  It knows
 * nothing of tracing; it prints what it did so a test can compare.
 *
 *   sqlite_loop demo DB N       N bound inserts, selects, errors (N + 14
 *                               statement executions); prints one line per
 *                               select: "select <k> <rows>"
 *   sqlite_loop bench ROWS PASSES
 *                               steps PASSES times through ROWS rows of an
 *                               in-memory table; prints "steps <n>" and
 *                               "ns_per_step <x>"
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "sqlite_loop: %s: %s\n", what,
		db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static int count_rows(void *arg, int n, char **vals, char **names)
{
	(void)n;
	(void)vals;
	(void)names;
	++*(int *)arg;
	return 0;
}

static int stop_at_first(void *arg, int n, char **vals, char **names)
{
	(void)n;
	(void)vals;
	(void)names;
	++*(int *)arg;
	return 1;  /* makes sqlite3_exec return SQLITE_ABORT */
}

static int demo(const char *path, int n)
{
	static const char select_sql[] =
		"SELECT id, name FROM items WHERE qty >= ?";
	/* UTF-16 of a statement over a table that does not exist. */
	static const char bad16[] =
		"SELECT qty FROM no_such_table16 WHERE name = 'secret16-lit'";
	unsigned short wide[sizeof(bad16)];
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *sel = NULL, *bad = NULL, *nul = NULL;
	char name[64];
	int rc, rows;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(db, "open");
	if (sqlite3_exec(db, "DROP TABLE IF EXISTS items;\n"
			 "CREATE TABLE items(id INTEGER PRIMARY KEY, "
			 "name TEXT NOT NULL, qty INTEGER)",
			 NULL, NULL, NULL) != SQLITE_OK)
		die(db, "create");
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		die(db, "begin");
	if (sqlite3_prepare_v2(db, "INSERT INTO items(name, qty) VALUES (?, ?)",
			       -1, &ins, NULL) != SQLITE_OK)
		die(db, "prepare insert");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "secret-bound-name-%d", i);
		sqlite3_bind_text(ins, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 2, 7770000 + i);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die(db, "insert");
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die(db, "commit");

	if (sqlite3_prepare_v3(db, select_sql, -1, 0, &sel, NULL) != SQLITE_OK)
		die(db, "prepare select");
	for (int k = 0; k < 4; k++) {
		sqlite3_bind_int(sel, 1, 7770000 + k * (n / 4));
		rows = 0;
		while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
			rows++;
		if (rc != SQLITE_DONE)
			die(db, "select");
		sqlite3_reset(sel);
		printf("select %d %d\n", k, rows);
	}
	/* Stopped after one row: reset ends the execution. */
	sqlite3_bind_int(sel, 1, 0);
	if (sqlite3_step(sel) != SQLITE_ROW)
		die(db, "select one");
	sqlite3_reset(sel);
	printf("select 4 1\n");

	for (size_t i = 0; i < sizeof(bad16); i++)
		wide[i] = (unsigned char)bad16[i];
	rc = sqlite3_prepare16_v2(db, wide, -1, &bad, NULL);
	if (rc == SQLITE_OK)
		die(db, "prepare16 should fail");

	rows = 0;
	if (sqlite3_exec(db, "SELECT count(*) FROM items; "
			 "SELECT name FROM items WHERE id <= 3",
			 count_rows, &rows, NULL) != SQLITE_OK)
		die(db, "exec select");
	printf("exec rows %d\n", rows);
	rows = 0;
	rc = sqlite3_exec(db, "SELECT name FROM items", stop_at_first, &rows,
			  NULL);
	printf("exec abort rc %d rows %d\n", rc, rows);

	if (sqlite3_prepare_v2(db, "INSERT INTO items(name, qty) VALUES "
			       "(NULL, 99)", -1, &nul, NULL) != SQLITE_OK)
		die(db, "prepare null insert");
	rc = sqlite3_step(nul);
	printf("null insert rc %d\n", rc);

	sqlite3_finalize(ins);
	sqlite3_finalize(sel);
	sqlite3_finalize(nul);
	if (sqlite3_close(db) != SQLITE_OK)
		die(db, "close");
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int bench(int nrows, int passes)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];
	long long steps = 0, sum = 0;
	double t0, t1;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		die(db, "open");
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE t(x INTEGER);"
		 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
		 "FROM c WHERE x < %d) INSERT INTO t SELECT x FROM c", nrows);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(db, "fill");
	if (sqlite3_prepare_v2(db, "SELECT x FROM t", -1, &st, NULL) !=
	    SQLITE_OK)
		die(db, "prepare");
	t0 = now_ns();
	for (int p = 0; p < passes; p++) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			sum += sqlite3_column_int(st, 0);
			steps++;
		}
		steps++;  /* the SQLITE_DONE step */
		sqlite3_reset(st);
	}
	t1 = now_ns();
	printf("steps %lld\nns_per_step %.2f\nsum %lld\n", steps,
	       (t1 - t0) / (double)steps, sum);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "demo"))
		return demo(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "bench"))
		return bench(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: sqlite_loop demo DB N | "
		"sqlite_loop bench ROWS PASSES\n");
	return 2;
}
