/*
 * SQL sanitising and summarising: exact outputs for a table of PostgreSQL
 * and SQLite statements, malformed input, inputs that end right before an
 * unmapped page, truncation at every buffer size, and idempotence; shapes,
 * and one analysis for statements of one shape.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/sql.h"
#include "unit.h"

int sql_keywords_ok(void);

struct scase {
	const char *in;
	unsigned flags;
	const char *text;       /* sanitised */
	const char *summary;
	const char *op;         /* db.operation.name, "" if not single */
	const char *coll;       /* db.collection.name, "" if not single */
};

static const struct scase cases[] = {
	/* The semantic conventions' own examples. */
	{ "SELECT *\nFROM wuser_table\nWHERE username = 'jdoe'", 0,
	  "SELECT *\nFROM wuser_table\nWHERE username = ?",
	  "SELECT wuser_table", "SELECT", "wuser_table" },
	{ "INSERT INTO shipping_details\n (order_id,\n address)\n"
	  "SELECT order_id,\n address\nFROM orders\nWHERE order_id = 17", 0,
	  "INSERT INTO shipping_details\n (order_id,\n address)\n"
	  "SELECT order_id,\n address\nFROM orders\nWHERE order_id = ?",
	  "INSERT shipping_details SELECT orders", "", "" },
	{ "SELECT *\nFROM songs,\n artists\n"
	  "WHERE songs.artist_id == artists.id", 0,
	  "SELECT *\nFROM songs,\n artists\n"
	  "WHERE songs.artist_id == artists.id",
	  "SELECT songs artists", "SELECT", "" },
	{ "SELECT order_date\nFROM (SELECT *\n FROM orders o\n"
	  " JOIN customers c\n ON o.customer_id = c.customer_id)", 0,
	  "SELECT order_date\nFROM (SELECT *\n FROM orders o\n"
	  " JOIN customers c\n ON o.customer_id = c.customer_id)",
	  "SELECT SELECT orders customers", "", "" },
	{ "SELECT *\nFROM \"song list\",\n 'artists'", SQL_SQLITE,
	  "SELECT *\nFROM \"song list\",\n ?",
	  "SELECT \"song list\" 'artists'", "SELECT", "" },
	/* ... but a quoted string is never a target for PostgreSQL. */
	{ "SELECT * FROM \"song list\", 'artists'", 0,
	  "SELECT * FROM \"song list\", ?",
	  "SELECT \"song list\"", "SELECT", "\"song list\"" },

	/* pgbench's TPC-B-like transaction and its setup. */
	{ "UPDATE pgbench_accounts SET abalance = abalance + -4213 "
	  "WHERE aid = 86597;", 0,
	  "UPDATE pgbench_accounts SET abalance = abalance + ? "
	  "WHERE aid = ?;",
	  "UPDATE pgbench_accounts", "UPDATE", "pgbench_accounts" },
	{ "SELECT abalance FROM pgbench_accounts WHERE aid = 86597;", 0,
	  "SELECT abalance FROM pgbench_accounts WHERE aid = ?;",
	  "SELECT pgbench_accounts", "SELECT", "pgbench_accounts" },
	{ "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
	  "VALUES (7, 1, 86597, -4213, CURRENT_TIMESTAMP);", 0,
	  "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
	  "VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP);",
	  "INSERT pgbench_history", "INSERT", "pgbench_history" },
	{ "vacuum analyze pgbench_branches", 0,
	  "vacuum analyze pgbench_branches",
	  "vacuum pgbench_branches", "vacuum", "pgbench_branches" },
	{ "truncate table pgbench_accounts, pgbench_branches", 0,
	  "truncate table pgbench_accounts, pgbench_branches",
	  "truncate table pgbench_accounts pgbench_branches",
	  "truncate table", "" },
	{ "copy pgbench_accounts from stdin with (freeze on)", 0,
	  "copy pgbench_accounts from stdin with (freeze on)",
	  "copy pgbench_accounts", "copy", "pgbench_accounts" },
	{ "BEGIN;", 0, "BEGIN;", "BEGIN", "BEGIN", "" },
	{ "END;", 0, "END;", "END", "END", "" },

	/* Literals of every kind. */
	{ "SELECT 1, 1.5, .5, 1., 1e10, 1.5E-3, 0x1F, 0b101, 1_000", 0,
	  "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?", "SELECT", "SELECT", "" },
	{ "SELECT t1.c2, x1e5, col_3 FROM t1", 0,
	  "SELECT t1.c2, x1e5, col_3 FROM t1", "SELECT t1", "SELECT", "t1" },
	{ "SELECT 'it''s', E'it\\'s \\\\', e'x', B'1010', b'1', X'ff', "
	  "x'00', N'nat', U&'d\\0061t' UESCAPE '!'", 0,
	  "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? UESCAPE ?",
	  "SELECT", "SELECT", "" },
	{ "SELECT $$it's$$, $tag$ a $$ b $t$ $tag$, $a$$a$", 0,
	  "SELECT ?, ?, ?", "SELECT", "SELECT", "" },
	{ "SELECT '1'::int, 2::text, CAST('3' AS int), DATE '2024-01-01', "
	  "INTERVAL '1 day'", 0,
	  "SELECT ?::int, ?::text, CAST(? AS int), DATE ?, INTERVAL ?",
	  "SELECT", "SELECT", "" },
	{ "SELECT * FROM t WHERE a = -5 AND b = - 6 AND c = x - 7 "
	  "AND d = (-8) AND e = 2-1", 0,
	  "SELECT * FROM t WHERE a = ? AND b = ? AND c = x - ? "
	  "AND d = (?) AND e = ?-?", "SELECT t", "SELECT", "t" },
	{ "SELECT true, FALSE, NULL, a IS NOT NULL FROM t", 0,
	  "SELECT ?, ?, NULL, a IS NOT NULL FROM t",
	  "SELECT t", "SELECT", "t" },
	{ "SELECT arr[1], arr[i+2], ARRAY[3,4], a[i] FROM t", 0,
	  "SELECT arr[?], arr[i+?], ARRAY[?,?], a[i] FROM t",
	  "SELECT t", "SELECT", "t" },

	/* Placeholders stay. */
	{ "SELECT * FROM t WHERE a = $1 AND b = ? AND c = ?12 AND d = :name "
	  "AND e = @v AND f = $x", 0,
	  "SELECT * FROM t WHERE a = $1 AND b = ? AND c = ?12 AND d = :name "
	  "AND e = @v AND f = $x", "SELECT t", "SELECT", "t" },

	/* IN lists and VALUES rows. */
	{ "SELECT * FROM t WHERE id IN (1, 2, 3) AND s NOT IN ('a','b') "
	  "AND x IN (SELECT y FROM u WHERE z IN (4, -5))", 0,
	  "SELECT * FROM t WHERE id IN (?) AND s NOT IN (?) "
	  "AND x IN (SELECT y FROM u WHERE z IN (?))",
	  "SELECT t SELECT u", "", "" },
	{ "SELECT * FROM t WHERE id IN (1, a, 3)", 0,
	  "SELECT * FROM t WHERE id IN (?, a, ?)",
	  "SELECT t", "SELECT", "t" },
	{ "SELECT * FROM t WHERE id IN ($1, $2)", 0,
	  "SELECT * FROM t WHERE id IN ($1, $2)", "SELECT t", "SELECT", "t" },
	{ "SELECT * FROM t WHERE id IN ('1'::int, 2 /* two */, NULL)", 0,
	  "SELECT * FROM t WHERE id IN (?)", "SELECT t", "SELECT", "t" },
	{ "INSERT INTO t VALUES (1,'a'),(2,'b'), (3, 'c') RETURNING id", 0,
	  "INSERT INTO t VALUES (?,?) RETURNING id",
	  "INSERT t", "INSERT", "t" },
	{ "INSERT INTO t VALUES (1, now()), (2, now())", 0,
	  "INSERT INTO t VALUES (?, now()), (?, now())",
	  "INSERT t", "INSERT", "t" },
	{ "INSERT INTO t VALUES (1, DEFAULT), (2, NULL), (x, 3), (4, 5)", 0,
	  "INSERT INTO t VALUES (?, DEFAULT), (x, ?), (?, ?)",
	  "INSERT t", "INSERT", "t" },
	{ "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2",
	  0, "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = ?",
	  "INSERT t", "INSERT", "t" },

	/* Comments are dropped. */
	{ "SELECT 1 -- secret\nFROM t", 0, "SELECT ? \nFROM t",
	  "SELECT t", "SELECT", "t" },
	{ "SELECT/* secret /* nested */ still */1", 0, "SELECT ?",
	  "SELECT", "SELECT", "" },
	{ "SELECT 1 /* a */ /* b */ FROM t", 0, "SELECT ?   FROM t",
	  "SELECT t", "SELECT", "t" },
	{ "SELECT '/* not a comment */', \"--\" FROM t", 0,
	  "SELECT ?, \"--\" FROM t", "SELECT t", "SELECT", "t" },
	{ "SELECT 2--1\n", 0, "SELECT ? \n", "SELECT", "SELECT", "" },

	/* Quoted and qualified names. */
	{ "SELECT x FROM \"Public\".\"Users\" u WHERE u.\"id\" = 5", 0,
	  "SELECT x FROM \"Public\".\"Users\" u WHERE u.\"id\" = ?",
	  "SELECT \"Public\".\"Users\"", "SELECT", "\"Public\".\"Users\"" },
	{ "SELECT * FROM pg_catalog.pg_tables", 0,
	  "SELECT * FROM pg_catalog.pg_tables",
	  "SELECT pg_catalog.pg_tables", "SELECT", "pg_catalog.pg_tables" },
	{ "SELECT \"a\"\"b\" FROM \"we\"\"ird\"", 0,
	  "SELECT \"a\"\"b\" FROM \"we\"\"ird\"",
	  "SELECT \"we\"\"ird\"", "SELECT", "\"we\"\"ird\"" },
	{ "SELECT * FROM a . b", 0, "SELECT * FROM a . b",
	  "SELECT a", "SELECT", "a" },

	/* Joins, functions in FROM, FROM that is not a table. */
	{ "SELECT * FROM a LEFT JOIN b USING (id) JOIN c ON c.id = a.id, d",
	  0, "SELECT * FROM a LEFT JOIN b USING (id) JOIN c ON c.id = a.id, d",
	  "SELECT a b c", "SELECT", "" },
	{ "SELECT * FROM generate_series(1, 10) g, t2", 0,
	  "SELECT * FROM generate_series(?, ?) g, t2",
	  "SELECT t2", "SELECT", "t2" },
	{ "SELECT extract(year FROM ts), substring(s FROM 2 FOR 3) FROM t "
	  "WHERE a IS DISTINCT FROM b", 0,
	  "SELECT extract(year FROM ts), substring(s FROM ? FOR ?) FROM t "
	  "WHERE a IS DISTINCT FROM b", "SELECT t", "SELECT", "t" },
	{ "SELECT * FROM t FOR UPDATE", 0, "SELECT * FROM t FOR UPDATE",
	  "SELECT t", "SELECT", "t" },
	{ "SELECT a FROM t UNION ALL SELECT b FROM t", 0,
	  "SELECT a FROM t UNION ALL SELECT b FROM t",
	  "SELECT t SELECT t", "", "t" },
	{ "DELETE FROM t USING u WHERE t.id = u.id", 0,
	  "DELETE FROM t USING u WHERE t.id = u.id",
	  "DELETE t u", "DELETE", "" },
	{ "UPDATE ONLY t SET a = 1 FROM u WHERE t.id = u.id", 0,
	  "UPDATE ONLY t SET a = ? FROM u WHERE t.id = u.id",
	  "UPDATE t u", "UPDATE", "" },
	{ "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE "
	  "SET v = 1 WHEN NOT MATCHED THEN INSERT VALUES (s.id, 2)", 0,
	  "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE "
	  "SET v = ? WHEN NOT MATCHED THEN INSERT VALUES (s.id, ?)",
	  "MERGE t s", "MERGE", "" },

	/* WITH: bodies count, names do not. */
	{ "WITH x AS (DELETE FROM t WHERE a = 1 RETURNING *), "
	  "y (c) AS MATERIALIZED (SELECT * FROM u) "
	  "INSERT INTO v SELECT * FROM x JOIN y ON true", 0,
	  "WITH x AS (DELETE FROM t WHERE a = ? RETURNING *), "
	  "y (c) AS MATERIALIZED (SELECT * FROM u) "
	  "INSERT INTO v SELECT * FROM x JOIN y ON ?",
	  "DELETE t SELECT u INSERT v SELECT", "", "" },
	{ "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) "
	  "SELECT * FROM r", 0,
	  "WITH RECURSIVE r(n) AS (SELECT ? UNION ALL SELECT n+? FROM r) "
	  "SELECT * FROM r", "SELECT SELECT SELECT", "", "" },

	/* DDL. */
	{ "CREATE TABLE IF NOT EXISTS public.foo (id int PRIMARY KEY, "
	  "name text DEFAULT 'x')", 0,
	  "CREATE TABLE IF NOT EXISTS public.foo (id int PRIMARY KEY, "
	  "name text DEFAULT ?)",
	  "CREATE TABLE public.foo", "CREATE TABLE", "public.foo" },
	{ "create temp table tmp_x as select * from t1", 0,
	  "create temp table tmp_x as select * from t1",
	  "create table tmp_x select t1", "", "" },
	{ "CREATE UNIQUE INDEX CONCURRENTLY idx_foo ON public.foo (name)", 0,
	  "CREATE UNIQUE INDEX CONCURRENTLY idx_foo ON public.foo (name)",
	  "CREATE INDEX public.foo", "CREATE INDEX", "public.foo" },
	{ "CREATE INDEX ON bar USING btree (x)", 0,
	  "CREATE INDEX ON bar USING btree (x)",
	  "CREATE INDEX bar", "CREATE INDEX", "bar" },
	{ "DROP TABLE IF EXISTS a, b CASCADE", 0,
	  "DROP TABLE IF EXISTS a, b CASCADE", "DROP TABLE a b",
	  "DROP TABLE", "" },
	{ "ALTER TABLE ONLY foo ADD COLUMN b int DEFAULT 5, ADD c int", 0,
	  "ALTER TABLE ONLY foo ADD COLUMN b int DEFAULT ?, ADD c int",
	  "ALTER TABLE foo", "ALTER TABLE", "foo" },
	{ "CREATE MATERIALIZED VIEW mv AS SELECT a FROM t", 0,
	  "CREATE MATERIALIZED VIEW mv AS SELECT a FROM t",
	  "CREATE MATERIALIZED VIEW mv SELECT t", "", "" },
	{ "CREATE OR REPLACE FUNCTION f(a int) RETURNS int AS $$ "
	  "SELECT 'secret' FROM x $$ LANGUAGE sql", 0,
	  "CREATE OR REPLACE FUNCTION f(a int) RETURNS int AS ? LANGUAGE sql",
	  "CREATE FUNCTION f", "CREATE FUNCTION", "" },
	{ "CREATE SCHEMA IF NOT EXISTS app", 0,
	  "CREATE SCHEMA IF NOT EXISTS app", "CREATE SCHEMA app",
	  "CREATE SCHEMA", "" },

	/* Other statements. */
	{ "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t", 0,
	  "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t",
	  "EXPLAIN SELECT t", "", "t" },
	{ "COPY (SELECT * FROM t WHERE a = 'x') TO STDOUT", 0,
	  "COPY (SELECT * FROM t WHERE a = ?) TO STDOUT",
	  "COPY SELECT t", "", "t" },
	{ "COPY t FROM '/etc/secret.csv'", SQL_SQLITE,
	  "COPY t FROM ?", "COPY t", "COPY", "t" },
	{ "CALL do_thing(1, 'x')", 0, "CALL do_thing(?, ?)",
	  "CALL do_thing", "CALL", "" },
	{ "SET search_path TO 'public'", 0, "SET search_path TO ?",
	  "SET", "SET", "" },
	{ "PREPARE q (int) AS SELECT * FROM t WHERE id = $1", 0,
	  "PREPARE q (int) AS SELECT * FROM t WHERE id = $1",
	  "PREPARE SELECT t", "", "t" },
	{ "DECLARE c CURSOR FOR SELECT * FROM t", 0,
	  "DECLARE c CURSOR FOR SELECT * FROM t",
	  "DECLARE SELECT t", "", "t" },
	{ "BEGIN; UPDATE t SET a = 1; COMMIT;", 0,
	  "BEGIN; UPDATE t SET a = ?; COMMIT;",
	  "BEGIN UPDATE t COMMIT", "", "t" },
	{ "(SELECT 1 FROM a) UNION (SELECT 2 FROM b)", 0,
	  "(SELECT ? FROM a) UNION (SELECT ? FROM b)",
	  "SELECT a SELECT b", "", "" },

	/* SQLite. */
	{ "PRAGMA journal_mode = WAL", SQL_SQLITE, "PRAGMA journal_mode = WAL",
	  "PRAGMA journal_mode", "PRAGMA", "" },
	{ "PRAGMA main.table_info(users)", SQL_SQLITE,
	  "PRAGMA main.table_info(users)", "PRAGMA main.table_info",
	  "PRAGMA", "" },
	{ "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, :name)", SQL_SQLITE,
	  "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, :name)",
	  "INSERT kv", "INSERT", "kv" },
	{ "REPLACE INTO kv VALUES (1, 'x')", SQL_SQLITE,
	  "REPLACE INTO kv VALUES (?, ?)", "REPLACE kv", "REPLACE", "kv" },
	{ "UPDATE OR IGNORE [my table] SET `col` = @v WHERE x = $y",
	  SQL_SQLITE,
	  "UPDATE OR IGNORE [my table] SET `col` = @v WHERE x = $y",
	  "UPDATE [my table]", "UPDATE", "[my table]" },
	{ "SELECT * FROM `order` WHERE `name` = \"bob\" AND \"t\".\"x\" = 1",
	  SQL_SQLITE,
	  "SELECT * FROM `order` WHERE `name` = ? AND \"t\".\"x\" = ?",
	  "SELECT `order`", "SELECT", "`order`" },
	{ "INSERT INTO t (\"a\", \"b\") VALUES (\"x\", \"y\"), (\"z\", 1)",
	  SQL_SQLITE, "INSERT INTO t (\"a\", \"b\") VALUES (?, ?)",
	  "INSERT t", "INSERT", "t" },
	{ "SELECT * FROM t WHERE a LIKE \"%x%\" OR b IN (\"p\", \"q\")",
	  SQL_SQLITE, "SELECT * FROM t WHERE a LIKE ? OR b IN (?)",
	  "SELECT t", "SELECT", "t" },
	/* The same double quotes are names for PostgreSQL. */
	{ "SELECT * FROM t WHERE a = \"b\"", 0,
	  "SELECT * FROM t WHERE a = \"b\"", "SELECT t", "SELECT", "t" },
	{ "CREATE VIRTUAL TABLE docs USING fts5(body)", SQL_SQLITE,
	  "CREATE VIRTUAL TABLE docs USING fts5(body)",
	  "CREATE VIRTUAL TABLE docs", "CREATE VIRTUAL TABLE", "docs" },
	{ "EXPLAIN QUERY PLAN SELECT * FROM t", SQL_SQLITE,
	  "EXPLAIN QUERY PLAN SELECT * FROM t", "EXPLAIN SELECT t", "", "t" },
	{ "ATTACH DATABASE 'other.db' AS o", SQL_SQLITE,
	  "ATTACH DATABASE ? AS o", "ATTACH", "ATTACH", "" },

	/* Malformed input. */
	{ "SELECT 'unterminated secret", 0, "SELECT ?", "SELECT",
	  "SELECT", "" },
	{ "SELECT E'unterminated \\' secret", 0, "SELECT ?", "SELECT",
	  "SELECT", "" },
	{ "SELECT $$ unterminated secret", 0, "SELECT ?", "SELECT",
	  "SELECT", "" },
	{ "SELECT $tag$ secret $tag", 0, "SELECT ?", "SELECT", "SELECT", "" },
	{ "SELECT \"unterminated secret", 0, "SELECT ?", "SELECT",
	  "SELECT", "" },
	{ "SELECT 1 /* unterminated secret", 0, "SELECT ? ", "SELECT",
	  "SELECT", "" },
	{ "SELECT 1 -- secret", 0, "SELECT ? ", "SELECT", "SELECT", "" },
	{ "", 0, "", "", "", "" },
	{ "   ;;  ", 0, "   ;;  ", "", "", "" },
	{ "$ $$", 0, "$ ?", "", "", "" },
	{ "SELECT \xff\xfe FROM t\xc3", 0,
	  "SELECT \xef\xbf\xbd\xef\xbf\xbd FROM t\xef\xbf\xbd",
	  "SELECT t\xef\xbf\xbd", "SELECT", "t\xef\xbf\xbd" },
	/* A byte that is not UTF-8 is part of the word, as the U+FFFD it
	 * becomes: sanitising the text again changes nothing. */
	{ "SELECT * FROM t WHERE a IN(::\xff\"\"", SQL_SQLITE,
	  "SELECT * FROM t WHERE a IN(::\xef\xbf\xbd?", "SELECT t",
	  "SELECT", "t" },
	{ "SELECT * FROM t WHERE a IN(::\xef\xbf\xbd\"\"", SQL_SQLITE,
	  "SELECT * FROM t WHERE a IN(::\xef\xbf\xbd?", "SELECT t",
	  "SELECT", "t" },
	{ "SELECT caf\xc3\xa9 FROM \"\xe2\x82\xac\" WHERE a = 'b'", 0,
	  "SELECT caf\xc3\xa9 FROM \"\xe2\x82\xac\" WHERE a = ?",
	  "SELECT \"\xe2\x82\xac\"", "SELECT", "\"\xe2\x82\xac\"" },
	{ "SELECT \"\xff\" FROM \"\xff\"", 0,
	  "SELECT \"\xef\xbf\xbd\" FROM \"\xef\xbf\xbd\"",
	  "SELECT \"\xef\xbf\xbd\"", "SELECT", "\"\xef\xbf\xbd\"" },
	{ "))) SELECT ((( FROM", 0, "))) SELECT ((( FROM", "SELECT", "SELECT",
	  "" },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

START_TEST(table)
{
	const struct scase *c = &cases[_i];
	char text[2048], sum[256];
	struct sql_info info;
	size_t n;

	n = sql_analyze(c->in, strlen(c->in), c->flags, text, sizeof(text),
	                sum, sizeof(sum), &info);
	ck_assert_msg(strcmp(text, c->text) == 0, "case %d text\n in: %s\n"
	              "got: %s\nwant: %s", _i, c->in, text, c->text);
	ck_assert_uint_eq(n, strlen(text));
	ck_assert_msg(strcmp(sum, c->summary) == 0, "case %d summary\n in: %s"
	              "\ngot: %s\nwant: %s", _i, c->in, sum, c->summary);
	ck_assert_uint_eq(info.summary_len, strlen(sum));
	ck_assert_msg(strcmp(info.operation, c->op) == 0,
	              "case %d op: got '%s' want '%s'", _i, info.operation,
	              c->op);
	ck_assert_msg(strcmp(info.collection, c->coll) == 0,
	              "case %d collection: got '%s' want '%s'", _i,
	              info.collection, c->coll);
	ck_assert_uint_eq(info.operation_len, strlen(c->op));
	ck_assert_uint_eq(info.collection_len, strlen(c->coll));
	ck_assert_uint_eq(info.truncated, 0);

	/* The two single-purpose entry points agree (PostgreSQL cases). */
	if (c->flags == 0) {
		char t2[2048], s2[256];

		ck_assert_uint_eq(sql_sanitize(c->in, strlen(c->in), t2,
		                               sizeof(t2)), n);
		ck_assert_str_eq(t2, text);
		ck_assert_uint_eq(sql_summarize(c->in, strlen(c->in), s2,
		                                sizeof(s2), NULL),
		                  strlen(sum));
		ck_assert_str_eq(s2, sum);
	}

	/* Sanitising sanitised text changes nothing. */
	{
		char again[2048];

		sql_analyze(text, n, c->flags, again, sizeof(again), NULL, 0,
		            NULL);
		ck_assert_msg(strcmp(again, text) == 0, "case %d not "
		              "idempotent:\n%s\n%s", _i, text, again);
	}
}
END_TEST

START_TEST(keywords_sorted)
{
	ck_assert(sql_keywords_ok());
}
END_TEST

START_TEST(statement_counts)
{
	struct sql_info info;
	char sum[256];

	sql_summarize("SELECT 1; ; SELECT 2;  UPDATE t SET a=1", 39, sum,
	              sizeof(sum), &info);
	ck_assert_uint_eq(info.nstatements, 3);
	ck_assert_uint_eq(info.noperations, 3);
	ck_assert_uint_eq(info.ncollections, 1);
	ck_assert_str_eq(sum, "SELECT SELECT UPDATE t");
	ck_assert_str_eq(info.operation, "");
	ck_assert_str_eq(info.collection, "t");

	/* NULL and empty inputs. */
	ck_assert_uint_eq(sql_sanitize(NULL, 0, sum, sizeof(sum)), 0);
	ck_assert_str_eq(sum, "");
	ck_assert_uint_eq(sql_summarize(NULL, 0, sum, sizeof(sum), &info), 0);
	ck_assert_uint_eq(info.nstatements, 0);
	ck_assert_uint_eq(sql_sanitize("SELECT 1", 8, sum, 0), 0);
	ck_assert_uint_eq(sql_sanitize("SELECT 1", 8, NULL, 0), 0);
	ck_assert_uint_eq(sql_summarize("SELECT 1", 8, NULL, 0, &info), 0);
	ck_assert_str_eq(info.operation, "SELECT");
}
END_TEST

/* Copies tmpl to (buf, cap) with its '@' replaced by word. */
static void fill(char *buf, size_t cap, const char *tmpl, const char *word)
{
	const char *at = strchr(tmpl, '@');

	ck_assert_ptr_nonnull(at);
	ck_assert_uint_lt(strlen(tmpl) + strlen(word), cap);
	memcpy(buf, tmpl, (size_t)(at - tmpl));
	strcpy(buf + (at - tmpl), word);
	strcat(buf, at + 1);
}

/* Literal bytes never survive: a marker placed in every kind of literal,
 * also unterminated at the very end. */
START_TEST(markers_hidden)
{
	static const char *const tmpl[] = {
		"SELECT '@'", "SELECT 'a''@'", "SELECT E'\\'@'",
		"SELECT E'\\\\'||'@'", "SELECT $$@$$", "SELECT $q$@$q$",
		"SELECT $q$ $$ @ $q$", "SELECT X'@'", "SELECT B'@'",
		"SELECT U&'@'", "SELECT N'@'", "SELECT 1 -- @",
		"SELECT /* /* */ @ */ 1", "SELECT '@", "SELECT $$@",
		"SELECT E'@", "SELECT \"@", "SELECT `@",
		"INSERT INTO t VALUES ('x'), ('@')", "SELECT 1 IN (2, '@')",
		"SELECT 'a' '@'", "SELECT 'a'\n'@'",
	};
	char in[256], out[256];
	size_t i;

	for (i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++) {
		fill(in, sizeof(in), tmpl[i], "MARKER");
		sql_sanitize(in, strlen(in), out, sizeof(out));
		ck_assert_msg(strstr(out, "MARKER") == NULL, "%s -> %s", in,
		              out);
		ck_assert_msg(strstr(out, "ARKE") == NULL, "%s -> %s", in, out);
		sql_analyze(in, strlen(in), SQL_SQLITE, out, sizeof(out), NULL,
		            0, NULL);
		ck_assert_msg(strstr(out, "ARKE") == NULL, "%s -> %s", in, out);
		/* ... and never reach the summary. */
		sql_summarize(in, strlen(in), out, sizeof(out), NULL);
		ck_assert_msg(strstr(out, "ARKE") == NULL, "%s -> %s", in, out);
	}
}
END_TEST

/* Every buffer size gives a prefix of the full output, cut on a character
 * boundary and NUL-terminated. */
START_TEST(truncation_every_cap)
{
	const struct scase *c = &cases[_i];
	char full[2048], part[2048];
	size_t n = sql_analyze(c->in, strlen(c->in), c->flags, full,
	                       sizeof(full), NULL, 0, NULL);
	size_t cap;

	for (cap = 1; cap <= n + 2; cap++) {
		struct sql_info info;
		size_t m;

		memset(part, 'Z', sizeof(part));
		m = sql_analyze(c->in, strlen(c->in), c->flags, part, cap,
		                NULL, 0, &info);
		ck_assert_uint_lt(m, cap);
		ck_assert_int_eq(part[m], 0);
		ck_assert_int_eq(memcmp(part, full, m), 0);
		if (cap > n) {
			ck_assert_uint_eq(m, n);
			ck_assert(!(info.truncated & SQL_TRUNC_TEXT));
		} else {
			ck_assert(info.truncated & SQL_TRUNC_TEXT);
			/* Only a partial character may be dropped. */
			ck_assert_uint_ge(m + 3, cap - 1);
			ck_assert((full[m] & 0xc0) != 0x80);
		}
	}
}
END_TEST

START_TEST(long_in_list_collapses)
{
	static char in[100000];
	char out[64];
	size_t n = 0, m;
	int i;

	n += (size_t)sprintf(in, "SELECT * FROM t WHERE id IN (");
	for (i = 0; i < 10000; i++)
		n += (size_t)sprintf(in + n, "%s%d", i ? ", " : "", i);
	n += (size_t)sprintf(in + n, ") AND b = 'x'");
	m = sql_sanitize(in, n, out, sizeof(out));
	ck_assert_str_eq(out, "SELECT * FROM t WHERE id IN (?) AND b = ?");
	ck_assert_uint_eq(m, strlen(out));

	/* Multi-row VALUES likewise. */
	n = (size_t)sprintf(in, "INSERT INTO t VALUES ");
	for (i = 0; i < 5000; i++)
		n += (size_t)sprintf(in + n, "%s(%d, 'v%d')", i ? ", " : "",
		                     i, i);
	m = sql_sanitize(in, n, out, sizeof(out));
	ck_assert_str_eq(out, "INSERT INTO t VALUES (?, ?)");
	ck_assert_uint_eq(m, strlen(out));
}
END_TEST

START_TEST(summary_limits)
{
	static char in[8192];
	char sum[256], small[16];
	struct sql_info info;
	size_t n = 0, m;
	int i;

	/* 255 bytes at most, cut between words. */
	n = (size_t)sprintf(in, "SELECT * FROM ");
	for (i = 0; i < 100; i++)
		n += (size_t)sprintf(in + n, "%stable_%03d", i ? ", " : "", i);
	m = sql_summarize(in, n, sum, sizeof(sum), &info);
	ck_assert_uint_le(m, SQL_SUMMARY_MAX);
	ck_assert_uint_eq(m, strlen(sum));
	ck_assert(info.truncated & SQL_TRUNC_SUMMARY);
	ck_assert_uint_eq(info.ncollections, 100);
	ck_assert_str_eq(info.collection, "");
	ck_assert_str_eq(sum + m - 9, "table_023");
	ck_assert_uint_eq(m, 6 + 24 * 10);

	/* A small buffer: whole words only. */
	m = sql_summarize("SELECT abc FROM t JOIN defghijkl", 32, small,
	                  sizeof(small), &info);
	ck_assert_str_eq(small, "SELECT t");
	ck_assert_uint_eq(m, 8);
	ck_assert(info.truncated & SQL_TRUNC_SUMMARY);

	/* A collection name too long for sql_info is not reported. */
	n = (size_t)sprintf(in, "SELECT * FROM ");
	for (i = 0; i < 130; i++)
		in[n++] = 'x';
	m = sql_summarize(in, n, sum, sizeof(sum), &info);
	ck_assert_str_eq(info.collection, "");
	ck_assert_uint_eq(info.ncollections, 1);
	ck_assert_uint_eq(m, 6 + 1 + 130);

	/* Input beyond SQL_SCAN_MAX is not looked at. */
	{
		size_t big = SQL_SCAN_MAX + 100;
		char *p = malloc(big);

		ck_assert_ptr_nonnull(p);
		memset(p, ' ', big);
		memcpy(p, "SELECT 1", 8);
		memcpy(p + big - 20, "; DROP TABLE x", 14);
		sql_summarize(p, big, sum, sizeof(sum), &info);
		ck_assert_str_eq(sum, "SELECT");
		ck_assert(info.truncated & SQL_TRUNC_INPUT);
		free(p);
	}
}
END_TEST

START_TEST(nul_bytes)
{
	static const char in[] = "SELECT 'a\0b', c\0d FROM t";
	static const char qi[] = "SELECT \"a\0b\", :p\xff FROM \"x\0\"";
	char out[64], sum[64];

	sql_analyze(in, sizeof(in) - 1, 0, out, sizeof(out), sum, sizeof(sum),
	            NULL);
	ck_assert_str_eq(out, "SELECT ?, c d FROM t");
	ck_assert_str_eq(sum, "SELECT t");
	/* Inside names and placeholders they become U+FFFD. */
	sql_analyze(qi, sizeof(qi) - 1, 0, out, sizeof(out), sum, sizeof(sum),
	            NULL);
	ck_assert_str_eq(out, "SELECT \"a\xef\xbf\xbd" "b\", "
	                 ":p\xef\xbf\xbd FROM \"x\xef\xbf\xbd\"");
	ck_assert_str_eq(sum, "SELECT \"x\xef\xbf\xbd\"");
}
END_TEST

/* Each case, and each prefix of it, placed so its last byte is the last
 * byte before an unmapped page: any read past len faults. */
START_TEST(page_boundary)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *guard;
	size_t i, k;

	ck_assert_ptr_ne(map, MAP_FAILED);
	guard = map + pg;
	ck_assert_int_eq(mprotect(guard, (size_t)pg, PROT_NONE), 0);
	for (i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].in);

		for (k = 0; k <= len; k++) {
			char *p = guard - k;
			char text[2048], sum[256];
			struct sql_info info;

			memcpy(p, cases[i].in, k);
			sql_analyze(p, k, cases[i].flags, text, sizeof(text),
			            sum, sizeof(sum), &info);
			ck_assert_uint_le(strlen(text), sizeof(text) - 1);
			ck_assert_uint_le(sql_shape(p, k, text, sizeof(text)),
					  sizeof(text));
		}
	}
	/* Tails that stop inside every kind of token. */
	{
		static const char *const tails[] = {
			"'", "E'\\", "$", "$a", "$a$", "$a$x$a", "$1", "?",
			"?1", ":", "::", ":a", "@", "@a", "/", "/*", "/* *",
			"-", "--", "\"", "\"\"", "`", "[", "[a", "[a b",
			"0x", "0x1", "1e", "1e+", "1.", ".", ".5", "U&",
			"U&'", "u&\"", "x", "x'", "\xc3", "\xe2\x82", "\xf0",
			"IN (", "IN (1,", "VALUES (1), (", "WITH a AS (",
			"SELECT * FROM a.", "CREATE INDEX ON",
		};

		for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
			size_t len = strlen(tails[i]);
			char *p = guard - len;
			char text[64], sum[64];

			memcpy(p, tails[i], len);
			sql_analyze(p, len, SQL_SQLITE, text, sizeof(text),
			            sum, sizeof(sum), NULL);
			sql_analyze(p, len, 0, text, sizeof(text), sum,
			            sizeof(sum), NULL);
			sql_shape(p, len, text, sizeof(text));
		}
	}
	munmap(map, (size_t)pg * 2);
}
END_TEST

/* The shape: literals and comments as markers of their kind, the rest
 * as it stands; none for a text holding the marker's byte or too long
 * for the buffer. */
START_TEST(shape)
{
	static const struct {
		const char *in, *shape;
	} shapes[] = {
		{ "INSERT INTO t (a, b) VALUES ('x', 12)",
		  "INSERT INTO t (a, b) VALUES (\1S, \1N)" },
		{ "SELECT a /* it's */ FROM t WHERE b = E'it\\'s' -- x'y",
		  "SELECT a \1C FROM t WHERE b = \1s \1C" },
		{ "SELECT $1, ?, ?2, :n, @n, TRUE, NULL FROM \"t 'x'\" "
		  "JOIN [a b] ON `c`", NULL },
		{ "SELECT -1.5e3, .5, 0x1F, $q$a'b$q$, X'00', 'open",
		  "SELECT -\1N, \1N, \1N, \1s, \1s, \1s" },
		{ "SELECT 'a''b' || U&'\\0041'",
		  "SELECT \1S || \1s" },
	};
	char out[256];
	size_t n;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const char *want = shapes[i].shape ? shapes[i].shape :
		                   shapes[i].in;

		n = sql_shape(shapes[i].in, strlen(shapes[i].in), out,
		              sizeof(out));
		ck_assert_uint_eq(n, strlen(want));
		ck_assert(memcmp(out, want, n) == 0);
		/* Exactly as long as the buffer: fits; one byte short: not. */
		ck_assert_uint_eq(sql_shape(shapes[i].in, strlen(shapes[i].in),
		                            out, n), n);
		ck_assert_uint_eq(sql_shape(shapes[i].in, strlen(shapes[i].in),
		                            out, n - 1), 0);
	}
	ck_assert_uint_eq(sql_shape("", 0, out, sizeof(out)), 0);
	ck_assert_uint_eq(sql_shape("SELECT \1", 8, out, sizeof(out)), 0);
}
END_TEST

/* Statements of one shape have one analysis, in both dialects. */
START_TEST(same_shape_same_analysis)
{
	static const char *const pairs[][2] = {
		{ "INSERT INTO t (name, qty) VALUES ('item1', 1)",
		  "INSERT INTO t (name, qty) VALUES ('a much longer one', 97)" },
		{ "SELECT * FROM t WHERE a IN (1, 2, 3) -- first",
		  "SELECT * FROM t WHERE a IN (4, 5, 6) /* second */" },
		{ "UPDATE u SET x = -5 WHERE y = E'\\n'",
		  "UPDATE u SET x = -17 WHERE y = X'ff'" },
		{ "SELECT a FROM b WHERE c = 'x' LIMIT 10",
		  "SELECT a FROM b WHERE c = 'it''s' LIMIT 2" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		for (unsigned d = SQL_POSTGRES; d <= SQL_SQLITE; d++) {
			char s0[256], s1[256], t0[256], t1[256];
			char m0[256], m1[256];
			struct sql_info i0, i1;
			size_t n0, n1;

			n0 = sql_shape(pairs[i][0], strlen(pairs[i][0]), s0,
			               sizeof(s0));
			n1 = sql_shape(pairs[i][1], strlen(pairs[i][1]), s1,
			               sizeof(s1));
			ck_assert(n0 > 0 && n0 == n1 && !memcmp(s0, s1, n0));
			sql_analyze(pairs[i][0], strlen(pairs[i][0]), d, t0,
			            sizeof(t0), m0, sizeof(m0), &i0);
			sql_analyze(pairs[i][1], strlen(pairs[i][1]), d, t1,
			            sizeof(t1), m1, sizeof(m1), &i1);
			ck_assert_str_eq(t0, t1);
			ck_assert_str_eq(m0, m1);
			ck_assert(memcmp(&i0, &i1, sizeof(i0)) == 0);
			ck_assert_uint_eq(i0.quoted_guesses, 0);
		}
}
END_TEST

/* What the shape cannot tell: SQLite reading a quoted token by where it
 * stands.  Counted, in the SQLite dialect only. */
START_TEST(quoted_guesses)
{
	static const struct {
		const char *in;
		unsigned guesses;
	} guesses[] = {
		{ "SELECT x FROM t WHERE y = \"dq\"", 1 },
		{ "SELECT x FROM t WHERE y IN (\"a\", \"b\")", 2 },
		{ "SELECT * FROM 'tbl'", 1 },
		{ "SELECT \"x\" FROM \"t\" WHERE \"t\".\"y\" = 'v'", 0 },
	};
	struct sql_info info;
	char text[128], sum[128];

	for (size_t i = 0; i < sizeof(guesses) / sizeof(guesses[0]); i++) {
		sql_analyze(guesses[i].in, strlen(guesses[i].in), SQL_SQLITE,
		            text, sizeof(text), sum, sizeof(sum), &info);
		ck_assert_uint_eq(info.quoted_guesses, guesses[i].guesses);
		sql_analyze(guesses[i].in, strlen(guesses[i].in), SQL_POSTGRES,
		            text, sizeof(text), sum, sizeof(sum), &info);
		ck_assert_uint_eq(info.quoted_guesses, 0);
	}
}
END_TEST

/* A text held against another's shape: a match only where sql_shape()
 * gives that shape, and the common statements of one shape matched. */
START_TEST(shape_match)
{
	static char bracket[300];
	static const struct {
		const char *shaped, *text;
		int match;
	} matches[] = {
		{ "INSERT INTO t (a, b) VALUES ('x', 12);",
		  "INSERT INTO t (a, b) VALUES ('it''s', 3);", 1 },
		{ "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 7;", 1 },
		{ "SELECT a /* c */ FROM t WHERE b = E'x' -- y",
		  "SELECT a /* other */ FROM t WHERE b = X'00' -- w", 1 },
		{ "UPDATE t SET a = .5 WHERE b IN (1,2)",
		  "UPDATE t SET a = 1e3 WHERE b IN (0x1F,3)", 1 },
		{ "SELECT 1", "SELECT 2", 1 },
		/* Other shapes. */
		{ "SELECT 1", "SELECT 'a'", 0 },
		{ "SELECT 'a'", "SELECT 'a", 0 },
		{ "SELECT 1", "SELECT 1 ", 0 },
		{ "SELECT 1 ", "SELECT 1", 0 },
		{ "SELECT 1, 2", "SELECT 1", 0 },
		/* The name before ".5" would take the digits in. */
		{ "SELECT abc.5", "SELECT abc5", 0 },
		/* U& before an unclosed quote starts a string. */
		{ "SELECT U&$$x$$", "SELECT U&'x", 0 },
		/* No shape: the marker's byte in a literal. */
		{ "SELECT 'a'", "SELECT '\1'", 0 },
		/* Not told apart this way (sql_shape() decides): a literal
		 * after a byte that may belong to a longer token. */
		{ "SELECT x=-1", "SELECT x=-2", 0 },
		{ "SELECT [a] FROM t WHERE b = 1",
		  "SELECT [a] FROM t WHERE b = 2", 0 },
		/* A [ whose name runs on over spaces and past 128 bytes in
		 * one text, not in the other. */
		{ bracket, "SELECT [a 1 b]", 0 },
	};
	char s1[512], s2[512];
	struct sql_shape_plan plan;
	size_t n1, n2;

	memset(bracket, '7', sizeof(bracket) - 1);
	memcpy(bracket, "SELECT [a ", 10);
	memcpy(bracket + sizeof(bracket) - 4, " b]", 3);
	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		const char *a = matches[i].shaped, *b = matches[i].text;
		int got;

		n1 = sql_shape(a, strlen(a), s1, sizeof(s1));
		ck_assert_uint_gt(n1, 0);
		sql_shape_plan(s1, n1, &plan);
		got = sql_shape_match(b, strlen(b), s1, n1, &plan);
		ck_assert_msg(got == matches[i].match, "case %zu: %d", i, got);
		if (got) {
			n2 = sql_shape(b, strlen(b), s2, sizeof(s2));
			ck_assert(n2 == n1 && memcmp(s1, s2, n1) == 0);
		}
		/* And the text that gave a shape has it. */
		if (matches[i].match)
			ck_assert(sql_shape_match(a, strlen(a), s1, n1,
						  &plan));
	}
}
END_TEST

/* A [name] whose bytes are not all UTF-8 is a name when its repaired
 * text fits the limit, and the text written holds it repaired the same
 * way: a truncated sequence is one U+FFFD, not one per byte, so that the
 * text read again gives the same verdict and the same text. */
START_TEST(bracket_repair)
{
	char in[200], text[600], again[600];
	size_t n, m;

	/* "\xf3\x96" and 125 letters: 3 + 125 = 128 bytes repaired. */
	snprintf(in, sizeof(in), "SELECT [\xf3\x96%0125d] "
		 "FROM t WHERE x = 1", 0);
	memset(in + 10, 'a', 125);
	for (unsigned flags = 0; flags <= SQL_SQLITE; flags++) {
		n = sql_analyze(in, strlen(in), flags, text, sizeof(text),
				NULL, 0, NULL);
		ck_assert_ptr_nonnull(strstr(text, "[\xef\xbf\xbd" "aaa"));
		ck_assert_ptr_nonnull(strstr(text, "aaa] FROM t WHERE x = ?"));
		m = sql_analyze(text, n, flags, again, sizeof(again), NULL, 0,
				NULL);
		ck_assert_uint_eq(m, n);
		ck_assert_str_eq(again, text);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sql");
	TCase *tc = tcase_create("sql");

	tcase_add_loop_test(tc, table, 0, (int)NCASES);
	tcase_add_test(tc, keywords_sorted);
	tcase_add_test(tc, statement_counts);
	tcase_add_test(tc, markers_hidden);
	tcase_add_loop_test(tc, truncation_every_cap, 0, (int)NCASES);
	tcase_add_test(tc, long_in_list_collapses);
	tcase_add_test(tc, shape);
	tcase_add_test(tc, same_shape_same_analysis);
	tcase_add_test(tc, quoted_guesses);
	tcase_add_test(tc, summary_limits);
	tcase_add_test(tc, nul_bytes);
	tcase_add_test(tc, page_boundary);
	tcase_add_test(tc, shape_match);
	tcase_add_test(tc, bracket_repair);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
