/*
 * Raw statements leave the ring sanitised: a record filled the way the
 * database hooks fill it, with literals (a password, numbers, strings) in
 * its raw text, comes out of ring_pop() with db.query.text, the summary,
 * operation, collection and name, the other strings intact and no byte
 * of a literal anywhere in the record or the ring; also when the raw text
 * was cut inside a literal, sanitises to nothing, or leaves the pool too
 * little room, and when it is too long to travel raw.
 * A statement is analysed once and then found in the memo (sql_memo.c)
 * by its shape, with the same placeholders or other values, with the
 * same result; an analysis that guessed at SQLite's quoted tokens never
 * is.
 * links: shim/dbspan.c pipeline/record.c pipeline/slab.c pipeline/ring.c pipeline/span_sql.c pipeline/sql_memo.c
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/semconv.h"
#include "pipeline/record.h"
#include "pipeline/ring.h"
#include "pipeline/sql_memo.h"
#include "shim/dbspan.h"
#include "span_text.h"
#include "unit.h"

static const char *const secrets[] = {
	"hunter2-pw", "31337", "4242", "Ada Lovelace", "cut-secret",
	"comment-secret", "dq-secret",
};

/* No attribute of s is still a raw statement, and no secret is in any
 * byte of it. */
static void assert_clean(const struct span *s)
{
	for (size_t i = 0; i < s->nattrs; i++)
		ck_assert_int_ne(s->attrs[i].type, SPAN_ATTR_SQL);
	for (size_t i = 0; i < NELEM(secrets); i++)
		ck_assert_ptr_null(memmem(s, sizeof(*s), secrets[i],
					  strlen(secrets[i])));
}

/* Pushes the in-flight record s through a ring of its own; the record as
 * it comes out, the ring's memory checked clean after the pop. */
static void through_ring(struct span *s, struct span *out)
{
	struct ring *r = ring_create(4);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(ring_push(r, s), 1);
	rec_free(s);
	memset(out, 0, sizeof(*out));
	ck_assert_uint_eq(ring_pop(r, out, 1), 1);
	assert_clean(out);
	ring_destroy(r);
}

static struct span *span_new(void)
{
	struct span *s = rec_alloc();

	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(raw_text_sanitised_at_pop)
{
	const char *sql = "SELECT name FROM users WHERE password = "
			  "'hunter2-pw' AND id = 31337 OR name IN "
			  "('Ada Lovelace', 'x') -- comment-secret\n";
	struct dbspan_query q = {
		.system = STR_LIT("postgresql"), .ns = STR_LIT("shop"),
		.raw = { sql, strlen(sql) }, .raw_dialect = SQL_POSTGRES,
		.server = STR_LIT("db.local"), .port = 5432,
	};
	struct span *s = span_new();
	const struct span_attr *a;
	struct span out;

	dbspan_describe(s, &q);
	dbspan_text(s, &q, 64);
	/* In flight: raw, and named by the namespace until the pop. */
	a = rec_find_attr(s, ATTR_DB_QUERY_TEXT);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->type, SPAN_ATTR_SQL);
	ck_assert_str_eq(span_text(s, s->name), "shop");
	ck_assert_ptr_null(rec_find_attr(s, ATTR_DB_QUERY_SUMMARY));
	/* Strings written after the text (an error) survive the pop. */
	dbspan_error(s, "28P01", NULL, STR_LIT("password authentication "
					      "failed for user x"));
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_TEXT),
			 "SELECT name FROM users WHERE password = ? AND "
			 "id = ? OR name IN (?) \n");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_SUMMARY), "SELECT users");
	ck_assert_str_eq(span_name_text(&out), "SELECT users");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_OPERATION_NAME), "SELECT");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_COLLECTION_NAME), "users");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_NAMESPACE), "shop");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_SYSTEM_NAME), "postgresql");
	ck_assert_str_eq(span_attr_text(&out, ATTR_SERVER_ADDRESS), "db.local");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_RESPONSE_STATUS_CODE), "28P01");
	ck_assert_str_eq(span_text(&out, out.status_message),
			 "password authentication failed for user x");
	ck_assert_int_eq(out.truncated, 0);
}
END_TEST

/* A raw text cut inside a string literal hides the rest: nothing of the
 * literal comes out. */
START_TEST(cut_literal_stays_hidden)
{
	const char *sql = "INSERT INTO t (a, b) VALUES (4242, 'cut-secret";
	struct span *s = span_new();
	struct span out;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	rec_name(s, "sqlite", 6);
	ck_assert_int_eq(rec_attr_sql(s, sql,
				      strlen(sql), SQL_SQLITE), 0);
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_TEXT),
			 "INSERT INTO t (a, b) VALUES (?, ?");
	ck_assert_str_eq(span_name_text(&out), "INSERT t");
}
END_TEST

/* A text that sanitises to nothing leaves no attribute; the name stays
 * the fallback. */
START_TEST(nothing_left)
{
	const char *sql = "/* comment-secret 31337 */";
	struct span *s = span_new();
	struct span out;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	rec_name(s, "main.db", 7);
	rec_attr_sql(s, sql, strlen(sql), SQL_SQLITE);
	through_ring(s, &out);
	ck_assert_ptr_null(rec_find_attr(&out, ATTR_DB_QUERY_TEXT));
	ck_assert_ptr_null(rec_find_attr(&out, ATTR_DB_QUERY_SUMMARY));
	ck_assert_uint_eq(out.nattrs, 1);
	ck_assert_str_eq(span_name_text(&out), "main.db");
}
END_TEST

/* A statement that sanitises to nothing takes its attribute away, and
 * only it: the attributes after it stay, in their order. */
START_TEST(empty_text_leaves_the_rest)
{
	const char *sql = "-- comment-secret";
	struct span *s = span_new();
	struct span out;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	rec_attr_sql(s, sql, strlen(sql), SQL_SQLITE);
	rec_attr_int(s, ATTR_DB_RESPONSE_RETURNED_ROWS, 7);
	rec_attr_cstr(s, ATTR_DB_NAMESPACE, "main");
	through_ring(s, &out);
	ck_assert_uint_eq(out.nattrs, 3);
	ck_assert_ptr_eq(out.attrs[0].key, ATTR_DB_SYSTEM_NAME);
	ck_assert_ptr_eq(out.attrs[1].key, ATTR_DB_RESPONSE_RETURNED_ROWS);
	ck_assert_int_eq(out.attrs[1].v.i, 7);
	ck_assert_ptr_eq(out.attrs[2].key, ATTR_DB_NAMESPACE);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_NAMESPACE), "main");
}
END_TEST

/* A text shorter than the statement (an IN list of literals collapsed)
 * leaves none of the statement's last bytes past it. */
START_TEST(shorter_text_leaves_nothing)
{
	const char *sql = "SELECT a FROM t WHERE b IN (1, 2, 3, 4, 5, 6, 7, "
			  "8, 9, 10, 11, 12, 31337)";
	struct span *s = span_new();
	struct span out;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	rec_attr_sql(s, sql, strlen(sql), SQL_SQLITE);
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_TEXT),
			 "SELECT a FROM t WHERE b IN (?)");
	for (size_t i = out.pool_used; i < SPAN_STRPOOL; i++)
		ck_assert_int_eq(out.pool[i], 0);
}
END_TEST

/* The dialect travels with the text: SQLite takes a "double-quoted"
 * value for a string literal. */
START_TEST(dialect)
{
	const char *sql = "SELECT * FROM t WHERE a = \"dq-secret\"";
	struct span *s = span_new();
	struct span out;

	rec_attr_sql(s, sql, strlen(sql), SQL_SQLITE);
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_TEXT),
			 "SELECT * FROM t WHERE a = ?");
}
END_TEST

/* With the pool nearly full, the summary and its friends still come out
 * whole and it is the text that is cut (between characters). */
START_TEST(short_pool_cuts_the_text)
{
	char ns[SPAN_STRPOOL];
	const char *sql = "UPDATE accounts SET owner = 'Ada Lovelace', "
			  "balance = 31337 WHERE id = 4242";
	struct dbspan_query q = {
		.system = STR_LIT("sqlite"), .raw = { sql, strlen(sql) },
		.raw_dialect = SQL_SQLITE,
	};
	struct span *s = span_new();
	struct span out;
	const char *t;

	memset(ns, 'n', sizeof(ns));
	q.ns = (struct str){ ns, SPAN_STRPOOL - 6 - strlen(sql) };
	dbspan_describe(s, &q);
	dbspan_text(s, &q, 0);
	ck_assert_uint_eq(s->pool_used, SPAN_STRPOOL);
	ck_assert_int_eq(rec_find_attr(s, ATTR_DB_QUERY_TEXT)->type,
			 SPAN_ATTR_SQL);
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_SUMMARY), "UPDATE accounts");
	ck_assert_str_eq(span_name_text(&out), "UPDATE accounts");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_OPERATION_NAME), "UPDATE");
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_COLLECTION_NAME), "accounts");
	t = span_attr_text(&out, ATTR_DB_QUERY_TEXT);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_gt(strlen(t), 0);
	ck_assert(!strncmp(t, "UPDATE accounts SET owner = ?, balance = ? "
			   "WHERE id = ?", strlen(t)));
	ck_assert_int_eq(out.truncated, 1);
	ck_assert_uint_le(out.pool_used, SPAN_STRPOOL);
}
END_TEST

/* A text that does not fit the record whole is analysed before it is
 * queued: no raw statement in the record at all. */
START_TEST(too_long_for_the_record)
{
	char sql[SPAN_STRPOOL + 200];
	struct dbspan_query q = { .system = STR_LIT("postgresql") };
	struct span *s = span_new();
	size_t n;
	struct span out;

	n = (size_t)snprintf(sql, sizeof(sql), "SELECT * FROM big WHERE "
			     "secret = 'hunter2-pw' AND id IN (");
	while (n < sizeof(sql) - 16)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "31337, ");
	n += (size_t)snprintf(sql + n, sizeof(sql) - n, "1)");
	q.raw = (struct str){ sql, n };
	dbspan_describe(s, &q);
	dbspan_text(s, &q, 224);
	assert_clean(s);
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_QUERY_TEXT),
			 "SELECT * FROM big WHERE secret = ? AND id IN (?)");
	ck_assert_str_eq(span_text(s, s->name), "SELECT big");
	through_ring(s, &out);
	ck_assert_str_eq(span_attr_text(&out, ATTR_DB_QUERY_SUMMARY), "SELECT big");
}
END_TEST

/* A statement kept for its spans: as written while it fits, analysed
 * when it does not. */
START_TEST(keep_or_analyse)
{
	struct dbspan_sql a;
	struct dbspan_query q = { 0 };
	const char *sql = "DELETE FROM t WHERE id = 4242";

	dbspan_keep(&a, sql, strlen(sql), SQL_SQLITE, 100);
	dbspan_query_of(&q, &a);
	ck_assert_int_eq(a.raw, 1);
	ck_assert_uint_eq(q.raw.n, strlen(sql));
	ck_assert_uint_eq(q.text.n, 0);
	ck_assert_uint_eq(q.raw_dialect, SQL_SQLITE);
	dbspan_keep(&a, sql, strlen(sql), SQL_SQLITE, 10);
	dbspan_query_of(&q, &a);
	ck_assert_int_eq(a.raw, 0);
	ck_assert_uint_eq(q.raw.n, 0);
	ck_assert_str_eq(a.text, "DELETE FROM t WHERE id = ?");
	ck_assert_str_eq(view_text(q.operation), "DELETE");
}
END_TEST

/* What a resolved record says about its statement, as one string. */
static const char *resolved(const char *sql, unsigned d)
{
	static char out[4 * SPAN_STRPOOL];
	struct span *s = span_new();
	struct span rec;

	rec_attr_sql(s, sql, strlen(sql), d);
	through_ring(s, &rec);
	snprintf(out, sizeof(out), "%s|", span_attr_text(&rec,
		 ATTR_DB_QUERY_TEXT));
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s|",
		 span_attr_text(&rec, ATTR_DB_QUERY_SUMMARY));
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s|",
		 span_attr_text(&rec, ATTR_DB_OPERATION_NAME));
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s|%s",
		 span_attr_text(&rec, ATTR_DB_COLLECTION_NAME),
		 span_name_text(&rec));
	return out;
}

/* A statement comes out of the memo as the analysis gave it the first
 * time, with the same placeholders or with other values in it; in the
 * other dialect it is analysed again. */
START_TEST(memo_gives_the_same_analysis)
{
	static const char *const sqls[][2] = {
		{ "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
		  NULL },
		{ "UPDATE t SET a = ?1, b = :b WHERE id = @id", NULL },
		{ "INSERT INTO \"song list\" (a, b) VALUES ($1, $2)", NULL },
		{ "SELECT * FROM a JOIN b ON a.id = b.id", NULL },
		{ "BEGIN", NULL },
		{ "INSERT INTO t (name, qty) VALUES ('item1', 1)",
		  "INSERT INTO t (name, qty) VALUES ('Ada Lovelace', 31337)" },
		{ "SELECT a FROM t WHERE b = 'x' /* note */",
		  "SELECT a FROM t WHERE b = 'hunter2-pw' /* comment-secret */" },
	};
	struct sql_memo_key key;
	struct sql_memo_entry m;

	for (size_t i = 0; i < NELEM(sqls); i++)
		for (unsigned d = SQL_POSTGRES; d <= SQL_SQLITE; d++) {
			const char *next = sqls[i][1] ? sqls[i][1] :
					   sqls[i][0];
			char first[4 * SPAN_STRPOOL];

			strcpy(first, resolved(sqls[i][0], d));
			ck_assert(sql_memo_find(next, strlen(next), d, &key,
						&m));
			ck_assert_str_eq(resolved(next, d), first);
		}
}
END_TEST

/* SQLite takes "dq" for a string where a value goes, and 'tbl' for a name
 * after FROM: the shape cannot tell, so such an analysis is never kept. */
START_TEST(memo_never_keeps_a_guess)
{
	static const char *const sqls[] = {
		"select x from t where y = \"dqv\"",
		"SELECT * FROM 'tbl'",
	};
	struct sql_memo_key key;
	struct sql_memo_entry m;

	for (size_t i = 0; i < NELEM(sqls); i++) {
		resolved(sqls[i], SQL_SQLITE);
		ck_assert(!sql_memo_find(sqls[i], strlen(sqls[i]),
					 SQL_SQLITE, &key, &m));
		resolved(sqls[i], SQL_POSTGRES);
		ck_assert(sql_memo_find(sqls[i], strlen(sqls[i]),
					SQL_POSTGRES, &key, &m));
	}
	ck_assert_str_eq(resolved(sqls[0], SQL_POSTGRES),
			 "select x from t where y = \"dqv\"|select t|"
			 "select|t|select t");
	ck_assert_str_eq(resolved(sqls[0], SQL_SQLITE),
			 "select x from t where y = ?|select t|select|t|"
			 "select t");
	ck_assert_str_eq(resolved("SELECT * FROM 'other'", SQL_SQLITE),
			 "SELECT * FROM ?|SELECT 'other'|SELECT|'other'|"
			 "SELECT 'other'");
}
END_TEST

/* A text that holds the marker's byte has no shape: never taken for a
 * shape with a literal in it. */
START_TEST(memo_text_like_a_shape)
{
	static const char sql[] = "INSERT INTO t VALUES (5)";
	static const char fake[] = "INSERT INTO t VALUES (\001N)";
	struct sql_memo_key key;
	struct sql_memo_entry m;
	char first[4 * SPAN_STRPOOL];

	strcpy(first, resolved(sql, SQL_POSTGRES));
	ck_assert(sql_memo_find(sql, strlen(sql), SQL_POSTGRES, &key, &m));
	ck_assert(!sql_memo_find(fake, strlen(fake), SQL_POSTGRES, &key, &m));
	ck_assert_str_ne(resolved(fake, SQL_POSTGRES), first);
	ck_assert_str_eq(first, "INSERT INTO t VALUES (?)|INSERT t|INSERT|t|"
			 "INSERT t");
}
END_TEST

/* A literal-free statement is found as it stands and one with a literal
 * by its shape, whatever their length: every way the hash reads a
 * statement's last bytes, the lengths a bare entry has and has not. */
START_TEST(memo_every_length)
{
	char bare[SQL_MEMO_SHAPE_MAX + 1], lit[SQL_MEMO_SHAPE_MAX + 1];
	char first[4 * SPAN_STRPOOL];
	struct sql_memo_key key;
	struct sql_memo_entry m;

	for (size_t len = 1; len <= SQL_MEMO_SHAPE_MAX; len++) {
		memset(bare, 'a', len);
		bare[len] = '\0';
		strcpy(first, resolved(bare, SQL_POSTGRES));
		ck_assert(sql_memo_find(bare, len, SQL_POSTGRES, &key, &m));
		ck_assert_uint_eq(m.len, len);
		ck_assert_str_eq(resolved(bare, SQL_POSTGRES), first);
		/* The shape is a byte longer: " 7" becomes " \1N". */
		if (len < 3 || len + 1 > SQL_MEMO_SHAPE_MAX)
			continue;
		memcpy(lit, bare, len + 1);
		memcpy(lit + len - 2, " 7", 2);
		strcpy(first, resolved(lit, SQL_POSTGRES));
		lit[len - 1] = '8';
		ck_assert(sql_memo_find(lit, len, SQL_POSTGRES, &key, &m));
		ck_assert_str_eq(resolved(lit, SQL_POSTGRES), first);
	}
}
END_TEST

/* Statements with values in them, taken in turns, two of the last ones'
 * shapes matched as the statements stand: each comes out as its first
 * analysis gave it, whichever way it was found, and never from an entry
 * of the other dialect. */
START_TEST(memo_recent_shapes)
{
	static const char *const sqls[][3] = {
		{ "INSERT INTO t (name, qty) VALUES ('item1', 1);",
		  "INSERT INTO t (name, qty) VALUES ('x', 22);",
		  "INSERT INTO t (name, qty) VALUES ('', 333);" },
		{ "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 20;",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 300;" },
		{ "UPDATE t SET a = 'b' /* 1 */ WHERE c = 2",
		  "UPDATE t SET a = 'bb' /* 22 */ WHERE c = 3",
		  "UPDATE t SET a = 'bbb' -- 333\n WHERE c = 4" },
	};
	char first[NELEM(sqls)][4 * SPAN_STRPOOL];
	struct sql_memo_key key;
	struct sql_memo_entry m;

	for (size_t i = 0; i < NELEM(sqls); i++)
		strcpy(first[i], resolved(sqls[i][0], SQL_POSTGRES));
	for (size_t round = 0; round < 3; round++)
		for (size_t i = 0; i < NELEM(sqls); i++) {
			const char *sql = sqls[i][round];

			/* Its line comment keeps the newline out of
			 * the literal: another shape. */
			if (i == 2 && round == 2)
				continue;
			ck_assert(sql_memo_find(sql, strlen(sql), SQL_POSTGRES,
						&key, &m));
			ck_assert_str_eq(resolved(sql, SQL_POSTGRES),
					 first[i]);
			ck_assert(!sql_memo_find(sqls[i][1],
						 strlen(sqls[i][1]),
						 SQL_SQLITE, &key, &m));
		}
	ck_assert(!sql_memo_find(sqls[2][2], strlen(sqls[2][2]), SQL_POSTGRES,
				 &key, &m));
}
END_TEST

UNIT_MAIN("span_sql", raw_text_sanitised_at_pop, cut_literal_stays_hidden,
	  nothing_left, empty_text_leaves_the_rest,
	  shorter_text_leaves_nothing, dialect,
	  short_pool_cuts_the_text, too_long_for_the_record, keep_or_analyse,
	  memo_gives_the_same_analysis, memo_never_keeps_a_guess,
	  memo_text_like_a_shape, memo_every_length, memo_recent_shapes)
