/*
 * What analysing one statement costs the application thread: calls
 * sql_analyze() on a fixed statement into buffers the size the database
 * hooks use (shim/dbspan.h), so that callgrind can count the instructions
 * per call.  bench/sqlcost.sh runs it for every statement below and prints
 * a table; by hand:
 *
 *     sqlcost                  lists the statements, one name a line
 *     sqlcost NAME [N]         analyses statement NAME N times (10000)
 *     sqlcost -s NAME [N]      works out its shape N times instead
 *     sqlcost -t NAME          prints its text, summary and info once
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sql.h"

static const struct stmt {
	const char *name;
	unsigned flags;
	const char *sql;
} stmts[] = {
	{ "insert40", SQL_POSTGRES,
	  "INSERT INTO t(a,b) VALUES (12345, 'some text');" },
	{ "pgbench_select", SQL_POSTGRES,
	  "SELECT abalance FROM pgbench_accounts WHERE aid = $1;" },
	{ "pgbench_update", SQL_POSTGRES,
	  "UPDATE pgbench_accounts SET abalance = abalance + -4213 "
	  "WHERE aid = 86597;" },
	{ "pgbench_insert", SQL_POSTGRES,
	  "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
	  "VALUES (7, 1, 86597, -4213, CURRENT_TIMESTAMP);" },
	{ "select_short", SQL_POSTGRES,
	  "SELECT * FROM users WHERE id = 42" },
	{ "update_short", SQL_POSTGRES,
	  "UPDATE users SET name = 'bob' WHERE id = 7" },
	{ "sqlite_insert", SQL_SQLITE,
	  "INSERT INTO t (name, qty) VALUES ('item42', 42);" },
	{ "long300", SQL_POSTGRES,
	  "SELECT o.id, o.created_at, c.name, c.email, SUM(l.qty * l.price) "
	  "FROM orders o JOIN customers c ON c.id = o.customer_id "
	  "JOIN order_lines l ON l.order_id = o.id "
	  "WHERE c.country = 'Deutschland' AND o.status IN ('paid', "
	  "'shipped', 'delivered') AND o.created_at > '2024-01-01 00:00:00' "
	  "AND c.email LIKE '%@example.com' GROUP BY o.id, c.name "
	  "ORDER BY o.created_at DESC LIMIT 50;" },
	{ "comment_utf8", SQL_POSTGRES,
	  "/* report: Übersicht */ SELECT \"straße\", nom -- prénom\n"
	  "FROM \"clients_été\" WHERE ville = 'Zürich' AND n > 3;" },
};

#define NSTMTS (sizeof(stmts) / sizeof(stmts[0]))

/* As in struct dbspan_sql. */
static char text[1024], summary[SQL_SUMMARY_MAX + 1];
static struct sql_info info;

int main(int argc, char **argv)
{
	const struct stmt *st = NULL;
	int show = argc > 1 && strcmp(argv[1], "-t") == 0;
	int shape = argc > 1 && strcmp(argv[1], "-s") == 0;
	int opt = show || shape;
	const char *name = argc > 1 + opt ? argv[1 + opt] : NULL;
	long n = argc > 2 + opt && !show ? atol(argv[2 + opt]) : 10000;
	size_t i, len;

	if (name == NULL) {
		for (i = 0; i < NSTMTS; i++)
			printf("%s %zu\n", stmts[i].name,
			       strlen(stmts[i].sql));
		return 0;
	}
	for (i = 0; i < NSTMTS; i++)
		if (strcmp(stmts[i].name, name) == 0)
			st = &stmts[i];
	if (st == NULL) {
		fprintf(stderr, "sqlcost: no statement %s\n", name);
		return 2;
	}
	len = strlen(st->sql);
	if (show) {
		size_t k = sql_analyze(st->sql, len, st->flags, text,
				       sizeof(text), summary, sizeof(summary),
				       &info);

		printf("text     %.*s\nsummary  %s\noperation %s\n"
		       "collection %s\n", (int)k, text, summary,
		       info.operation, info.collection);
		return 0;
	}
	if (shape) {
		while (n-- > 0)
			sql_shape(st->sql, len, text, sizeof(text));
		return 0;
	}
	while (n-- > 0)
		sql_analyze(st->sql, len, st->flags, text, sizeof(text),
			    summary, sizeof(summary), &info);
	return 0;
}
