/*
 * The sanitiser against PostgreSQL's own lexer and normaliser (libpg_query)
 * as an oracle.  For realistic statements and for generated ones: every
 * constant the real scanner finds must be gone from our output (the output,
 * scanned again, holds no constant token and no string's content), and
 * outside collapsed lists there is a '?' per constant.  The corpus is real
 * PostgreSQL: pg_query_normalize() parses every statement.  (Its count of
 * replaced constants is no bound for ours: it also replaces words the
 * grammar turns into constants, as in extract(epoch FROM ...).)
 */
#include <check.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sql.h"
#include "unit.h"

static const char *const corpus[] = {
	/* pgbench */
	"UPDATE pgbench_accounts SET abalance = abalance + -4213 "
	"WHERE aid = 86597;",
	"SELECT abalance FROM pgbench_accounts WHERE aid = 86597;",
	"UPDATE pgbench_tellers SET tbalance = tbalance + 2311 "
	"WHERE tid = 7;",
	"UPDATE pgbench_branches SET bbalance = bbalance + 2311 "
	"WHERE bid = 1;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
	"VALUES (7, 1, 86597, -4213, CURRENT_TIMESTAMP);",
	"create table pgbench_history(tid int,bid int,aid int,delta int,"
	"mtime timestamp,filler char(22))",
	"create table pgbench_accounts(aid int not null,bid int,"
	"abalance int,filler char(84)) with (fillfactor=100)",
	"insert into pgbench_branches(bid,bbalance) values(1,0)",
	"insert into pgbench_tellers(tid,bid,tbalance) values (10,1,0)",
	"alter table pgbench_branches add primary key (bid)",
	"vacuum analyze pgbench_branches",
	"select o.n, p.partstrat, pg_catalog.count(i.inhparent) from "
	"pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on "
	"(n.oid = c.relnamespace) cross join lateral (select "
	"pg_catalog.array_position(pg_catalog.current_schemas(true), "
	"n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p "
	"on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on "
	"(c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and "
	"o.n is not null group by 1, 2 order by 1 asc limit 1",
	/* DML */
	"SELECT * FROM users WHERE email = 'alice@example.com' "
	"AND password_hash = 'c2VjcmV0IGhhc2g='",
	"SELECT id, name FROM customers WHERE id IN (101, 202, 303) "
	"ORDER BY name LIMIT 25 OFFSET 50",
	"SELECT count(*) FROM orders WHERE total > 99.95 AND "
	"created_at > now() - interval '7 days'",
	"SELECT * FROM events WHERE ts BETWEEN '2024-01-01' AND "
	"'2024-12-31 23:59:59+02'",
	"UPDATE accounts SET balance = balance - 1.5e3, note = "
	"E'line1\\nline2 \\'quoted\\'' WHERE id = 42",
	"DELETE FROM sessions WHERE token = 'd41d8cd98f00b204e9800998ecf8427e'"
	" OR expires < 1700000000",
	"INSERT INTO people (name, age, nick) VALUES ('O''Brien', 37, NULL), "
	"('Zoë', 29, 'zz'), ('Ann', -1, $q$it's$q$)",
	"INSERT INTO blobs (id, data, bits) VALUES (1, '\\xdeadbeef', "
	"B'101010')",
	"INSERT INTO t (a) VALUES (X'1F'), (x'2e')",
	"SELECT $body$ SELECT 'nested' $inner$ x $inner$ $body$ AS code",
	"SELECT 'a'\n'b' AS continued_newline",
	"SELECT U&'\\0441\\043B\\043E\\043D' AS unicode",
	"SELECT '{1,2,3}'::int[], ARRAY[4, 5, 6], (ARRAY[7,8])[1]",
	"SELECT '1'::int + 2::numeric(10, 2) * .5 - 3. / 1e-2",
	"SELECT * FROM t WHERE a = ANY('{\"x\",\"y\"}'::text[])",
	"SELECT jsonb_build_object('key', 'value', 'n', 12) -> 'key'",
	"SELECT data->>'name' FROM docs WHERE data @> '{\"tag\": \"red\"}'",
	"SELECT * FROM t WHERE name LIKE '%smith%' ESCAPE '\\'",
	"SELECT * FROM t WHERE name ~* '^secret[0-9]+$'",
	"SELECT CASE WHEN x > 10 THEN 'big' WHEN x > 5 THEN 'mid' "
	"ELSE 'small' END FROM t",
	"SELECT date_trunc('hour', ts), sum(v) FROM m GROUP BY 1 "
	"HAVING sum(v) > 1000",
	"SELECT * FROM t1 JOIN t2 ON t1.id = t2.t1_id AND t2.kind = 'x' "
	"WHERE t1.v <> -7.25",
	"WITH recent AS (SELECT * FROM orders WHERE created_at > "
	"'2024-06-01') SELECT customer_id, count(*) FROM recent "
	"GROUP BY customer_id HAVING count(*) >= 3",
	"WITH moved AS (DELETE FROM queue WHERE id = 5 RETURNING *) "
	"INSERT INTO done SELECT *, 'ok' FROM moved",
	"INSERT INTO kv (k, v) VALUES ('token', 'abc123') ON CONFLICT (k) "
	"DO UPDATE SET v = EXCLUDED.v || '-2'",
	"MERGE INTO stock s USING delivery d ON s.item = d.item WHEN MATCHED "
	"THEN UPDATE SET qty = s.qty + d.qty WHEN NOT MATCHED THEN INSERT "
	"VALUES (d.item, d.qty, 'new')",
	"SELECT * FROM t WHERE x = $1 AND y = 'lit' AND z = $2",
	"SELECT 1 /* comment 'not a string' */ + 2 -- tail 'x'\n",
	"SELECT \"Weird \"\"Col\"\"\" FROM \"My Table\" WHERE \"id\" = 3",
	"SELECT * FROM generate_series(1, 100) g(i) WHERE i % 7 = 0",
	"SELECT extract(epoch FROM timestamp '2001-02-16 20:38:40')",
	"SELECT substring('PostgreSQL' FROM 2 FOR 4), "
	"position('gre' IN 'PostgreSQL')",
	"SELECT overlay('Txxxxas' placing 'hom' from 2 for 4)",
	"SELECT * FROM t ORDER BY a DESC NULLS LAST LIMIT 10 FOR UPDATE "
	"SKIP LOCKED",
	"SELECT a, b FROM t WHERE (a, b) IN ((1, 'x'), (2, 'y'))",
	"SELECT * FROM t WHERE tags && ARRAY['red', 'blue']::text[]",
	"SELECT pg_sleep(0.25)",
	"SELECT setval('seq_id', 1000, false)",
	"SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (42)",
	"SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS')",
	"SELECT row_number() OVER (PARTITION BY k ORDER BY v ROWS BETWEEN "
	"2 PRECEDING AND CURRENT ROW) FROM t",
	/* DDL and utility */
	"CREATE TABLE IF NOT EXISTS audit (id bigserial PRIMARY KEY, "
	"actor text NOT NULL DEFAULT 'system', level int DEFAULT 3 "
	"CHECK (level BETWEEN 0 AND 9))",
	"CREATE INDEX CONCURRENTLY idx_audit_actor ON audit (actor) "
	"WHERE level > 5",
	"ALTER TABLE audit ADD COLUMN note varchar(200) DEFAULT 'n/a'",
	"ALTER TABLE audit ALTER COLUMN level SET DEFAULT 4",
	"CREATE OR REPLACE FUNCTION add(a int, b int) RETURNS int AS $$ "
	"SELECT a + b + 100 $$ LANGUAGE sql IMMUTABLE",
	"CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 5000",
	"CREATE SEQUENCE s START WITH 100 INCREMENT BY 5",
	"COMMENT ON TABLE audit IS 'holds the secret audit trail'",
	"DROP TABLE IF EXISTS tmp_a, tmp_b CASCADE",
	"TRUNCATE TABLE a, b RESTART IDENTITY",
	"SET statement_timeout = 5000",
	"SET search_path TO 'app', public",
	"SET LOCAL work_mem = '64MB'",
	"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM t WHERE id = 9",
	"COPY (SELECT * FROM t WHERE k = 'export') TO STDOUT WITH CSV",
	"PREPARE q(int) AS SELECT * FROM t WHERE id = $1 AND s = 'x'",
	"EXECUTE q(123)",
	"LISTEN channel_one",
	"NOTIFY channel_one, 'payload text'",
	"DO $$ BEGIN RAISE NOTICE 'hello %', 5; END $$",
	"BEGIN ISOLATION LEVEL SERIALIZABLE",
	"SAVEPOINT sp1",
	"ROLLBACK TO SAVEPOINT sp1",
	"COMMIT",
	"GRANT SELECT ON t TO reader",
	"CREATE ROLE app LOGIN PASSWORD 'hunter2-very-secret'",
	"ALTER ROLE app WITH PASSWORD 'new-secret-pw'",
	"SELECT 1; SELECT 'two'; SELECT 3.0",
};

#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

static int is_const(int kind)
{
	return kind == PG_QUERY__TOKEN__ICONST ||
	       kind == PG_QUERY__TOKEN__FCONST ||
	       kind == PG_QUERY__TOKEN__SCONST ||
	       kind == PG_QUERY__TOKEN__USCONST ||
	       kind == PG_QUERY__TOKEN__BCONST ||
	       kind == PG_QUERY__TOKEN__XCONST;
}

/* PostgreSQL's scanner on s: NULL if it rejects it. */
static PgQuery__ScanResult *scan(const char *s)
{
	PgQueryScanResult r = pg_query_scan(s);
	PgQuery__ScanResult *res = NULL;

	if (r.error == NULL)
		res = pg_query__scan_result__unpack(NULL, r.pbuf.len,
		                                    (void *)r.pbuf.data);
	pg_query_free_scan_result(r);
	return res;
}

/* Does PostgreSQL's parser accept s?  (Normalising parses it.) */
static int parses(const char *s)
{
	PgQueryNormalizeResult r = pg_query_normalize(s);
	int ok = r.error == NULL;

	pg_query_free_normalize_result(r);
	return ok;
}

/* Worth looking for: two letters or digits at least. */
static int telling(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += (*s >= '0' && *s <= '9') || ((*s | 0x20) >= 'a' &&
		                                  (*s | 0x20) <= 'z');
	return n >= 2;
}

/* The text of a string constant without its quotes and prefix. */
static int const_content(const char *s, size_t n, const char **cs,
                         size_t *cn)
{
	const char *q;

	if (n > 0 && s[0] == '$') {
		q = memchr(s + 1, '$', n - 1);
		if (q == NULL)
			return 0;
		*cs = q + 1;
		*cn = n - 2 * (size_t)(q + 1 - s);
		return *cn < n;
	}
	q = memchr(s, '\'', n);
	if (q == NULL || s + n - q < 2)
		return 0;
	*cs = q + 1;
	*cn = (size_t)(s + n - q) - 2;
	return 1;
}

static int count_q(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '?';
	return n;
}

/*
 * Checks one statement.  Returns 0 if PostgreSQL cannot scan it (the
 * generator may make such), 1 if checked.
 */
static int check_stmt(const char *sql)
{
	PgQuery__ScanResult *orig = scan(sql), *again;
	char out[8192], stripped[8192];
	size_t len = strlen(sql), i;
	int nconst = 0;

	if (orig == NULL)
		return 0;
	ck_assert_uint_lt(len, sizeof(stripped));
	sql_sanitize(sql, len, out, sizeof(out));

	/* The output, scanned by PostgreSQL, holds no constant. */
	again = scan(out);
	ck_assert_msg(again != NULL, "unscannable output\n in: %s\nout: %s",
	              sql, out);
	for (i = 0; i < again->n_tokens; i++) {
		PgQuery__ScanToken *t = again->tokens[i];

		ck_assert_msg(!is_const(t->token), "constant '%.*s' left\n"
		              " in: %s\nout: %s", t->end - t->start,
		              out + t->start, sql, out);
	}
	pg_query__scan_result__free_unpacked(again, NULL);

	/* No string's content survives, unless it is also spelled
	 * outside the constants (a column named like the string). */
	memcpy(stripped, sql, len + 1);
	for (i = 0; i < orig->n_tokens; i++) {
		PgQuery__ScanToken *t = orig->tokens[i];

		if (is_const(t->token) && t->end > t->start)
			memset(stripped + t->start, ' ',
			       (size_t)(t->end - t->start));
	}
	for (i = 0; i < orig->n_tokens; i++) {
		PgQuery__ScanToken *t = orig->tokens[i];
		const char *cs;
		size_t cn;
		char frag[512];

		if (!is_const(t->token))
			continue;
		nconst++;
		if (t->token == PG_QUERY__TOKEN__ICONST ||
		    t->token == PG_QUERY__TOKEN__FCONST ||
		    t->token == PG_QUERY__TOKEN__USCONST)
			continue;
		if (!const_content(sql + t->start,
		                   (size_t)(t->end - t->start), &cs, &cn))
			continue;
		if (cn < 2 || cn >= sizeof(frag))
			continue;
		memcpy(frag, cs, cn);
		frag[cn] = 0;
		if (!telling(frag) || strstr(stripped, frag) != NULL)
			continue;
		ck_assert_msg(strstr(out, frag) == NULL, "content '%s' left\n"
		              " in: %s\nout: %s", frag, sql, out);
	}
	pg_query__scan_result__free_unpacked(orig, NULL);

	/* One '?' at least per constant, where nothing collapsed. */
	if (strstr(out, "IN (?)") == NULL && strstr(sql, "VALUES") == NULL &&
	    strstr(sql, "values") == NULL)
		ck_assert_msg(count_q(out) >= nconst, "%d '?' for %d "
		              "constants\n in: %s\nout: %s", count_q(out),
		              nconst, sql, out);
	return 1;
}

START_TEST(corpus_stmt)
{
	ck_assert_msg(parses(corpus[_i]), "PostgreSQL cannot parse: %s",
	              corpus[_i]);
	ck_assert_msg(check_stmt(corpus[_i]), "PostgreSQL cannot scan: %s",
	              corpus[_i]);
}
END_TEST

/* ------------------------------------------------ generated statements */

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct gbuf {
	char s[4096];
	size_t n;
};

static void gput(struct gbuf *b, const char *s)
{
	size_t l = strlen(s);

	if (b->n + l < sizeof(b->s)) {
		memcpy(b->s + b->n, s, l);
		b->n += l;
		b->s[b->n] = 0;
	}
}

static void gputc(struct gbuf *b, char c)
{
	char s[2] = { c, 0 };

	gput(b, s);
}

/* Random text for inside a literal: letters, digits, spaces and the
 * characters that end or escape literals. */
static void gtext(struct gbuf *b, int esc)
{
	static const char chars[] = "abcXYZ019 _-*/;$\"`[]()\\'\n";
	unsigned i, n = 2 + rnd(12);

	for (i = 0; i < n; i++) {
		char c = chars[rnd(sizeof(chars) - 1)];

		if (c == '\'') {
			gput(b, "''");
		} else if (c == '\\') {
			gput(b, esc ? "\\\\" : "\\");
		} else if (c == '$') {
			gput(b, "$ ");
		} else {
			gputc(b, c);
		}
	}
}

static void gliteral(struct gbuf *b)
{
	char num[64];

	switch (rnd(12)) {
	case 0:
		gputc(b, '\'');
		gtext(b, 0);
		gputc(b, '\'');
		break;
	case 1:
		gput(b, "E'");
		gtext(b, 1);
		gput(b, rnd(2) ? "\\''" : "'");
		break;
	case 2:
		gput(b, "$tg$");
		gtext(b, 0);
		gput(b, "$tg$");
		break;
	case 3:
		gput(b, "$$");
		gtext(b, 0);
		gput(b, "$$");
		break;
	case 4:
		snprintf(num, sizeof(num), "%u", rnd(100000));
		gput(b, num);
		break;
	case 5:
		snprintf(num, sizeof(num), "-%u.%u", rnd(1000), rnd(1000));
		gput(b, num);
		break;
	case 6:
		snprintf(num, sizeof(num), "%u.%ue-%u", rnd(10), rnd(100),
		         rnd(20));
		gput(b, num);
		break;
	case 7:
		snprintf(num, sizeof(num), ".%u", rnd(1000));
		gput(b, num);
		break;
	case 8:
		snprintf(num, sizeof(num), "X'%x'", rnd(0xffff));
		gput(b, num);
		break;
	case 9:
		snprintf(num, sizeof(num), "B'%u%u%u'", rnd(2), rnd(2),
		         rnd(2));
		gput(b, num);
		break;
	case 10:
		gputc(b, '\'');
		gtext(b, 0);
		gput(b, "'::text");
		break;
	default:
		snprintf(num, sizeof(num), "%u", rnd(10));
		gput(b, num);
		break;
	}
}

static void gsep(struct gbuf *b)
{
	switch (rnd(6)) {
	case 0:
		gput(b, " /* c'o\"m */ ");
		break;
	case 1:
		gput(b, " -- note 'x'\n");
		break;
	case 2:
		gput(b, "\n\t");
		break;
	default:
		gputc(b, ' ');
		break;
	}
}

static void gstatement(struct gbuf *b)
{
	static const char *const cols[] = { "a", "b1", "t2.c", "\"Col\"",
	                                    "x_9" };
	unsigned i, n;

	b->n = 0;
	b->s[0] = 0;
	switch (rnd(4)) {
	case 0:
		gput(b, "SELECT ");
		gliteral(b);
		gput(b, ", ");
		gput(b, cols[rnd(5)]);
		gsep(b);
		gput(b, "FROM t2 WHERE ");
		gput(b, cols[rnd(5)]);
		gput(b, " = ");
		gliteral(b);
		gsep(b);
		gput(b, "AND a IN (");
		n = 1 + rnd(4);
		for (i = 0; i < n; i++) {
			if (i)
				gput(b, ", ");
			gliteral(b);
		}
		gputc(b, ')');
		break;
	case 1:
		gput(b, "INSERT INTO t2 (a, b) VALUES");
		n = 1 + rnd(3);
		for (i = 0; i < n; i++) {
			gput(b, i ? ", (" : " (");
			gliteral(b);
			gput(b, ",");
			gsep(b);
			gliteral(b);
			gputc(b, ')');
		}
		break;
	case 2:
		gput(b, "UPDATE t2 SET a = a + ");
		gliteral(b);
		gput(b, ", b = ");
		gliteral(b);
		gsep(b);
		gput(b, "WHERE ");
		gput(b, cols[rnd(5)]);
		gput(b, " <> ");
		gliteral(b);
		break;
	default:
		gput(b, "SELECT f(");
		gliteral(b);
		gput(b, ")");
		gsep(b);
		gput(b, "; DELETE FROM t2 WHERE b BETWEEN ");
		gliteral(b);
		gput(b, " AND ");
		gliteral(b);
		break;
	}
}

START_TEST(generated)
{
	struct gbuf b;
	int i, checked = 0;

	for (i = 0; i < 3000; i++) {
		gstatement(&b);
		checked += check_stmt(b.s);
	}
	/* Nearly all generated statements are valid PostgreSQL. */
	ck_assert_int_gt(checked, 2900);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sql_oracle");
	TCase *tc = tcase_create("sql_oracle");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, corpus_stmt, 0, (int)NCORPUS);
	tcase_add_test(tc, generated);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
