/*
 * Fuzz target for raw statements resolved as records leave the ring
 * (pipeline/span_sql.c).  The first input byte lays out a record: the
 * dialect, how much of the pool a namespace fills before the statement,
 * whether an error message follows it; the rest is the statement, cut to
 * the room left (as the hooks never do, to reach cuts inside literals),
 * with an unterminated literal holding a marker after it.  Afterwards: no
 * raw attribute, every reference inside the pool, nothing but zeroes past
 * it, the other strings as they were, the summary and the text what the
 * analysis gives (cut where the pool is short), the name the summary or
 * the namespace, every pool byte in a string a reader sees, and the
 * marker in none of them nor anywhere else in the record, unless the
 * analysis itself kept it (an earlier unterminated literal that the tail
 * closes: fuzz_sql judges the analysis).  Then the statement without
 * the tail, resolved twice: the records are the same byte for byte and
 * carry the analysis's text, also when the second (or both) came from
 * the memo of literal-free statements.
 * links: pipeline/span_sql.c pipeline/sql_memo.c pipeline/record.c pipeline/slab.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/semconv.h"
#include "common/sql.h"
#include "pipeline/record.h"
#include "pipeline/span_sql.h"

#define MARK "QZXJ"
static const char tail[] = " '" MARK;
static const char errmsg[] = "no such table";

/* Says which check failed, for the crash report. */
#define check(ok)                                                         \
	do {                                                              \
		if (!(ok)) {                                              \
			fprintf(stderr, "check failed: line %d\n", __LINE__); \
			abort();                                          \
		}                                                         \
	} while (0)

static int inside(const struct span *s, struct span_str r)
{
	return (size_t)r.off + r.len <= s->pool_used;
}

static int equals(const struct span *s, struct span_str r, const char *p,
		  size_t n)
{
	return r.len == n && !memcmp(span_str_ptr(s, r), p, n);
}

static int prefix(const struct span *s, struct span_str r, const char *p,
		  size_t n)
{
	return r.len <= n && !memcmp(span_str_ptr(s, r), p, r.len);
}

static int same(struct span_str a, struct span_str b)
{
	return a.off == b.off && a.len == b.len;
}

static unsigned char covered[SPAN_STRPOOL];

/* Marks the bytes of r seen; with marked, they must not hold the
 * marker. */
static void cover(const struct span *s, struct span_str r, int marked)
{
	memset(covered + r.off, 1, r.len);
	if (marked)
		check(!memmem(span_str_ptr(s, r), r.len, MARK, strlen(MARK)));
}

static const struct span_attr *find(const struct span *s, const char *key)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (s->attrs[i].key == key)
			return &s->attrs[i];
	return NULL;
}

/* Fills s the way the database hooks do, with (sql, len) cut to the
 * room the pool has left; returns the length kept. */
static size_t fill(struct span *s, const char *ns, size_t nslen,
		   const char *sql, size_t len, unsigned dialect,
		   int with_error)
{
	const struct span_attr *nsa;
	size_t room;

	memset(s, 0, sizeof(*s));
	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, "sqlite");
	nsa = rec_attr_str(s, ATTR_DB_NAMESPACE, ns, nslen);
	s->name = nsa->v.s;
	room = SPAN_STRPOOL - s->pool_used;
	if (with_error)
		room = room > sizeof(errmsg) ? room - sizeof(errmsg) : 0;
	if (len > room)
		len = room;
	check(rec_attr_sql(s, sql, len, dialect) == 0);
	if (with_error)
		rec_status(s, SPAN_STATUS_ERROR, errmsg, strlen(errmsg));
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct span s;
	static char sql[SPAN_STRPOOL * 2], ns[SPAN_STRPOOL];
	static char text[SPAN_STRPOOL + 1], summary[SQL_SUMMARY_MAX + 1];
	struct sql_info info;
	static struct span twice[2];
	const struct span_attr *a;
	size_t nslen, len, tlen, bare;
	unsigned dialect;
	int with_error, marked;

	if (size < 1)
		return 0;
	dialect = data[0] & 1 ? SQL_SQLITE : SQL_POSTGRES;
	with_error = data[0] & 2;
	nslen = 1 + (size_t)(data[0] >> 2) * 19;  /* 1 .. 1198 */
	data++, size--;
	len = size < sizeof(sql) - sizeof(tail) ? size :
	      sizeof(sql) - sizeof(tail);
	memcpy(sql, data, len);
	bare = len;
	marked = !memmem(sql, len, MARK, strlen(MARK));
	memcpy(sql + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;

	memset(ns, 'n', nslen);
	len = fill(&s, ns, nslen, sql, len, dialect, with_error);

	tlen = sql_analyze(sql, len, dialect, text, sizeof(text), summary,
			   sizeof(summary), &info);
	marked = marked && !memmem(text, tlen, MARK, strlen(MARK)) &&
		 !memmem(summary, info.summary_len, MARK, strlen(MARK)) &&
		 !strstr(info.operation, MARK) &&
		 !strstr(info.collection, MARK);
	span_sql_resolve(&s);

	check(s.pool_used <= SPAN_STRPOOL);
	for (size_t i = s.pool_used; i < SPAN_STRPOOL; i++)
		check(s.pool[i] == 0);
	check(inside(&s, s.name) && inside(&s, s.status_message));
	for (size_t i = 0; i < s.nattrs; i++) {
		check(s.attrs[i].type != SPAN_ATTR_SQL);
		if (s.attrs[i].type == SPAN_ATTR_STRING)
			check(inside(&s, s.attrs[i].v.s));
	}
	check(equals(&s, find(&s, ATTR_DB_NAMESPACE)->v.s, ns, nslen));
	if (with_error)
		check(equals(&s, s.status_message, errmsg, strlen(errmsg)));
	a = find(&s, ATTR_DB_QUERY_SUMMARY);
	if (info.summary_len) {
		/* Cut only when the pool is short (invalid UTF-8 grows). */
		check(a && prefix(&s, a->v.s, summary, info.summary_len));
		check(a->v.s.len == info.summary_len || s.truncated);
		check(same(s.name, a->v.s));
	} else {
		check(!a && equals(&s, s.name, ns, nslen));
	}
	a = find(&s, ATTR_DB_QUERY_TEXT);
	if (a) {
		check(a->v.s.len > 0 && a->v.s.len <= tlen);
		check(!memcmp(span_str_ptr(&s, a->v.s), text, a->v.s.len));
		check(a->v.s.len == tlen || s.truncated);
	}
	/* Every pool byte belongs to a string a reader sees (nothing of
	 * the raw text is left between them), and none holds the marker;
	 * outside the pool, no byte does either. */
	memset(covered, 0, sizeof(covered));
	cover(&s, s.name, marked);
	cover(&s, s.status_message, marked);
	for (size_t i = 0; i < s.nattrs; i++)
		if (s.attrs[i].type == SPAN_ATTR_STRING)
			cover(&s, s.attrs[i].v.s, marked);
	for (size_t i = 0; i < s.pool_used; i++)
		check(covered[i]);
	if (marked)
		check(!memmem(&s, offsetof(struct span, pool), MARK,
			      strlen(MARK)));

	for (int i = 0; i < 2; i++) {
		bare = fill(&twice[i], ns, nslen, sql, bare, dialect,
			    with_error);
		span_sql_resolve(&twice[i]);
	}
	check(!memcmp(&twice[0], &twice[1], sizeof(twice[0])));
	tlen = sql_analyze(sql, bare, dialect, text, sizeof(text), summary,
			   sizeof(summary), &info);
	a = find(&twice[1], ATTR_DB_QUERY_TEXT);
	if (a) {
		check(a->v.s.len > 0 && a->v.s.len <= tlen);
		check(!memcmp(span_str_ptr(&twice[1], a->v.s), text,
			      a->v.s.len));
		check(a->v.s.len == tlen || twice[1].truncated);
	}
	return 0;
}
