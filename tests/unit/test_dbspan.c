/*
 * Database spans filled one way for libpq and sqlite3: the analysis of a
 * statement, the name (summary, else namespace, else system), which
 * attributes are written and which left out, the query text cut to leave
 * room for a later error, returned rows and errors.
 * links: shim/dbspan.c pipeline/record.c pipeline/slab.c
 */
#include <stdint.h>

#include "common/semconv.h"
#include "pipeline/record.h"
#include "shim/dbspan.h"
#include "span_text.h"
#include "unit.h"

static struct span *span_new(void)
{
	struct span *s = rec_alloc();

	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(analyze)
{
	struct dbspan_sql a;
	struct dbspan_query q = { 0 };
	const char *sql = "SELECT * FROM accounts WHERE id = 42";

	dbspan_analyze(&a, sql, strlen(sql), SQL_POSTGRES);
	dbspan_query_of(&q, &a);
	ck_assert_str_eq(a.text, "SELECT * FROM accounts WHERE id = ?");
	ck_assert_uint_eq(q.text.n, strlen(a.text));
	ck_assert_uint_eq(q.summary.n, strlen("SELECT accounts"));
	ck_assert(!memcmp(q.summary.p, "SELECT accounts", q.summary.n));
	ck_assert_str_eq(view_text(q.operation), "SELECT");
	ck_assert_str_eq(view_text(q.collection), "accounts");
	dbspan_analyze(&a, NULL, 0, SQL_SQLITE);
	dbspan_query_of(&q, &a);
	ck_assert_uint_eq(q.text.n, 0);
	ck_assert_uint_eq(q.summary.n, 0);
	ck_assert_uint_eq(q.operation.n, 0);
}
END_TEST

static const struct dbspan_query full = {
	.system = STR_LIT("postgresql"), .ns = STR_LIT("shop"),
	.text = STR_LIT("SELECT 1"), .summary = STR_LIT("SELECT"),
	.operation = STR_LIT("SELECT"), .collection = STR_LIT(""),
	.server = STR_LIT("db.local"), .port = 5432,
};

/* What describing `full` and writing its text leave in s, whichever way
 * the attributes were written. */
static void check_full(struct span *s)
{
	const struct span_attr *a;

	ck_assert_uint_eq(s->nattrs, 7);
	ck_assert_str_eq(span_name_text(s), "SELECT");
	ck_assert_int_eq(s->name.off, rec_find_attr(s, ATTR_DB_QUERY_SUMMARY)
			 ->v.s.off);
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_SYSTEM_NAME), "postgresql");
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_NAMESPACE), "shop");
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_QUERY_TEXT), "SELECT 1");
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_OPERATION_NAME), "SELECT");
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_COLLECTION_NAME));
	ck_assert_str_eq(span_attr_text(s, ATTR_SERVER_ADDRESS), "db.local");
	a = rec_find_attr(s, ATTR_SERVER_PORT);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->v.i, 5432);
	ck_assert_ptr_null(rec_find_attr(s, ATTR_DB_RESPONSE_RETURNED_ROWS));
	ck_assert_int_eq(s->status, SPAN_STATUS_UNSET);
}

/* A fresh record gets the attributes as one run; one that already holds
 * one of them attribute by attribute, to the same effect (the key already
 * there replaced). */
START_TEST(describe)
{
	for (int written = 0; written < 2; written++) {
		struct span *s = span_new();

		if (written)
			rec_attr_cstr(s, ATTR_SERVER_ADDRESS, "elsewhere");
		dbspan_describe(s, &full);
		dbspan_text(s, &full, 0);
		check_full(s);
		rec_free(s);
	}
}
END_TEST

START_TEST(name_fallbacks)
{
	struct span *s = span_new();
	struct dbspan_query q = { .system = STR_LIT("sqlite"),
				  .ns = STR_LIT("a.db") };

	dbspan_describe(s, &q);
	ck_assert_str_eq(span_name_text(s), "a.db");
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_QUERY_SUMMARY));
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_QUERY_TEXT));
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_OPERATION_NAME));
	ck_assert_ptr_null(span_attr_text(s, ATTR_SERVER_ADDRESS));
	ck_assert_ptr_null(rec_find_attr(s, ATTR_SERVER_PORT));
	rec_free(s);
	s = span_new();
	q.ns = (struct str){ "", 0 };
	dbspan_describe(s, &q);
	ck_assert_str_eq(span_name_text(s), "sqlite");
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_NAMESPACE));
	rec_free(s);
}
END_TEST

/* The text leaves reserve bytes of the pool and is cut between
 * characters. */
START_TEST(text_reserve)
{
	char text[SPAN_STRPOOL];
	struct dbspan_query q = { .system = STR_LIT("postgresql") };
	struct span *s = span_new();
	const char *t;
	size_t room;

	for (size_t i = 0; i < sizeof(text); i += 2)
		memcpy(text + i, "\xC3\xA9", 2);
	q.text = (struct str){ text, sizeof(text) };
	dbspan_describe(s, &q);
	room = SPAN_STRPOOL - s->pool_used - 101;
	dbspan_text(s, &q, 101);
	t = span_attr_text(s, ATTR_DB_QUERY_TEXT);
	ck_assert_uint_eq(strlen(t), room & ~(size_t)1);
	ck_assert_uint_ge(SPAN_STRPOOL - s->pool_used, 101);
	ck_assert_int_eq(s->truncated, 1);
	rec_free(s);
	/* No room at all: no attribute. */
	s = span_new();
	dbspan_describe(s, &q);
	dbspan_text(s, &q, SPAN_STRPOOL);
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_QUERY_TEXT));
	ck_assert_int_eq(s->truncated, 1);
	rec_free(s);
}
END_TEST

START_TEST(rows_and_errors)
{
	struct span *s = span_new();
	const char *m;

	dbspan_rows(s, 3);
	ck_assert_int_eq(rec_find_attr(s, ATTR_DB_RESPONSE_RETURNED_ROWS)
			 ->v.i, 3);
	dbspan_error(s, "23505", NULL, STR_LIT("duplicate key"));
	ck_assert_str_eq(span_attr_text(s, ATTR_DB_RESPONSE_STATUS_CODE), "23505");
	ck_assert_str_eq(span_attr_text(s, ATTR_ERROR_TYPE), "23505");
	ck_assert_int_eq(s->status, SPAN_STATUS_ERROR);
	m = span_str_ptr(s, s->status_message);
	ck_assert_uint_eq(s->status_message.len, 13);
	ck_assert(!memcmp(m, "duplicate key", 13));
	rec_free(s);

	s = span_new();
	dbspan_error(s, NULL, NULL, STR_LIT("connection lost"));
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_RESPONSE_STATUS_CODE));
	ck_assert_str_eq(span_attr_text(s, ATTR_ERROR_TYPE), "_OTHER");
	rec_free(s);

	s = span_new();
	dbspan_error(s, NULL, "pipeline_aborted", STR_LIT("not executed"));
	ck_assert_ptr_null(span_attr_text(s, ATTR_DB_RESPONSE_STATUS_CODE));
	ck_assert_str_eq(span_attr_text(s, ATTR_ERROR_TYPE), "pipeline_aborted");
	rec_free(s);
}
END_TEST

/* Whether two records hold the same name, attributes and strings. */
static void assert_same_record(const struct span *x, const struct span *y)
{
	ck_assert_uint_eq(x->nattrs, y->nattrs);
	ck_assert_uint_eq(x->pool_used, y->pool_used);
	ck_assert_uint_eq(x->truncated, y->truncated);
	ck_assert_int_eq(x->name.off, y->name.off);
	ck_assert_int_eq(x->name.len, y->name.len);
	ck_assert(!memcmp(x->attrs, y->attrs, x->nattrs * sizeof(x->attrs[0])));
	ck_assert(!memcmp(x->pool, y->pool, x->pool_used));
}

/* dbspan_describe_sql() and dbspan_text_sql() write what the query path
 * writes, for every kind of kept text: raw, analysed, empty, too long to
 * travel raw, with and without a namespace, with a reserve. */
START_TEST(sql_path_same_as_query_path)
{
	static char big[1000];
	const char *texts[] = {
		"INSERT INTO t (name, qty) VALUES ('item1', 1)",
		"SELECT a FROM t WHERE b = 'x'; DELETE FROM u", "", big,
	};
	const struct str nss[] = { STR_LIT("/tmp/app.db"), { "", 0 } };

	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "SELECT ", 7);
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		for (size_t n = 0; n < 2; n++) {
			for (size_t k = 0; k < 2; k++) {
				for (size_t r = 0; r < 2; r++) {
					struct dbspan_sql a;
					struct dbspan_query q = {
						.system = STR_LIT("sqlite"),
						.ns = nss[n],
					};
					struct span *x = span_new();
					struct span *y = span_new();
					size_t len = strlen(texts[t]);
					size_t reserve = r ? 900 : 0;

					/* k: kept raw when it fits the text
					 * buffer, or analysed. */
					dbspan_keep(&a, texts[t], len,
						    SQL_SQLITE,
						    k ? DBSPAN_TEXT_CAP : 0);
					dbspan_query_of(&q, &a);
					dbspan_describe(x, &q);
					dbspan_text(x, &q, reserve);
					dbspan_describe_sql(y, STR_LIT("sqlite"),
							    nss[n], &a);
					dbspan_text_sql(y, &a, reserve);
					assert_same_record(x, y);
					rec_free(x);
					rec_free(y);
				}
			}
		}
	}
}
END_TEST

/* Readies records x and y alike for statement_same_as_parts: f 0,
 * empty; 1, a pool with 100 bytes left; 2, a namespace already written;
 * 3, two attribute slots left; 4, a pool with exactly room for a raw
 * text's strings (n bytes); 5, one byte short of that. */
static void same_start(struct span *x, struct span *y, size_t f, size_t n)
{
	struct span *r[] = { x, y };

	for (size_t i = 0; i < 2; i++) {
		if (f == 1)
			r[i]->pool_used = SPAN_STRPOOL - 100;
		if (f == 2)
			rec_attr_cstr(r[i], ATTR_DB_NAMESPACE, "old.db");
		if (f == 3)
			r[i]->nattrs = SPAN_MAX_ATTRS - 2;
		if (f == 4)
			r[i]->pool_used = (uint16_t)(SPAN_STRPOOL - n);
		if (f == 5)
			r[i]->pool_used = (uint16_t)(SPAN_STRPOOL - n + 1);
	}
}

/* dbspan_statement_sql() writes what dbspan_describe_sql(),
 * dbspan_rows() (for rows >= 0) and dbspan_text_sql() write in turn:
 * raw, analysed and too long texts, with and without a namespace and
 * rows, on an empty record and on ones whose pool, slots or keys leave
 * the statement's attributes short (same_start()). */
START_TEST(statement_same_as_parts)
{
	static char big[1200];
	const char *texts[] = {
		"INSERT INTO t (name, qty) VALUES ('item1', 1)",
		"SELECT a FROM t WHERE b = 'x'; DELETE FROM u", "", big,
	};
	const struct str nss[] = { STR_LIT("/tmp/app.db"), { "", 0 } };
	const int64_t rows[] = { 0, 7, -1 };

	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "SELECT ", 7);
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
	for (size_t n = 0; n < 2; n++)
	for (size_t k = 0; k < 2; k++)
	for (size_t r = 0; r < 3; r++)
	for (size_t f = 0; f < 6; f++) {
		struct dbspan_sql a;
		struct span *x = span_new();
		struct span *y = span_new();

		dbspan_keep(&a, texts[t], strlen(texts[t]), SQL_SQLITE,
			    k ? DBSPAN_TEXT_CAP : 0);
		same_start(x, y, f, strlen("sqlite") + nss[n].n + a.text_len);
		dbspan_describe_sql(x, STR_LIT("sqlite"), nss[n], &a);
		if (rows[r] >= 0)
			dbspan_rows(x, rows[r]);
		dbspan_text_sql(x, &a, 0);
		dbspan_statement_sql(y, STR_LIT("sqlite"), nss[n], &a,
				     rows[r]);
		assert_same_record(x, y);
		ck_assert(!memcmp(x, y, offsetof(struct span, attrs)));
		rec_free(x);
		rec_free(y);
	}
}
END_TEST

UNIT_MAIN("dbspan", analyze, describe, name_fallbacks, text_reserve,
	  rows_and_errors, sql_path_same_as_query_path,
	  statement_same_as_parts)
