/*
 * Database client spans (see dbspan.h): one way to name them and to write
 * the db.* attributes, for the libpq and the sqlite3 hooks alike.
 */
#include <string.h>

#include "common/semconv.h"
#include "common/utf8.h"
#include "pipeline/record.h"
#include "dbspan.h"

void dbspan_analyze(struct dbspan_sql *a, const char *sql, size_t len,
		    unsigned flags)
{
	memset(&a->info, 0, sizeof(a->info));
	a->text[0] = 0;
	a->summary[0] = 0;
	a->text_len = 0;
	if (sql)
		a->text_len = sql_analyze(sql, len, flags, a->text,
					  sizeof(a->text), a->summary,
					  sizeof(a->summary), &a->info);
}

void dbspan_query_of(struct dbspan_query *q, const struct dbspan_sql *a)
{
	q->text = (struct str){ a->text, a->text_len };
	q->summary = (struct str){ a->summary, a->info.summary_len };
	q->operation = a->info.operation;
	q->collection = a->info.collection;
}

static void put_cstr(struct span *s, const char *key, const char *val)
{
	if (val && val[0])
		rec_attr_cstr(s, key, val);
}

void dbspan_describe(struct span *s, const struct dbspan_query *q)
{
	const struct span_attr *a;

	rec_attr_cstr(s, ATTR_DB_SYSTEM_NAME, q->system);
	if (q->summary.n > 0) {
		rec_attr_str(s, ATTR_DB_QUERY_SUMMARY, q->summary.p,
			     q->summary.n);
		/* The name is the summary: share its bytes in the pool. */
		a = rec_find_attr(s, ATTR_DB_QUERY_SUMMARY);
		if (a && a->type == SPAN_ATTR_STRING)
			s->name = a->v.s;
	} else if (q->ns.n > 0) {
		rec_name(s, q->ns.p, q->ns.n);
	} else {
		rec_name(s, q->system, strlen(q->system));
	}
	if (q->ns.n > 0)
		rec_attr_str(s, ATTR_DB_NAMESPACE, q->ns.p, q->ns.n);
	put_cstr(s, ATTR_DB_OPERATION_NAME, q->operation);
	put_cstr(s, ATTR_DB_COLLECTION_NAME, q->collection);
	put_cstr(s, ATTR_SERVER_ADDRESS, q->server);
	if (q->port > 0)
		rec_attr_int(s, ATTR_SERVER_PORT, q->port);
}

void dbspan_text(struct span *s, const struct dbspan_query *q,
		 size_t reserve)
{
	size_t room = SPAN_STRPOOL - s->pool_used;
	size_t n;

	room = room > reserve ? room - reserve : 0;
	/* Cut on a character boundary. */
	n = utf8_cut(q->text.p, q->text.n, room);
	if (n < q->text.n)
		s->truncated = 1;
	if (n > 0)
		rec_attr_str(s, ATTR_DB_QUERY_TEXT, q->text.p, n);
}

void dbspan_rows(struct span *s, int64_t rows)
{
	rec_attr_int(s, ATTR_DB_RESPONSE_RETURNED_ROWS, rows);
}

void dbspan_error(struct span *s, const char *code, const char *type,
		  struct str msg)
{
	if (code)
		rec_attr_cstr(s, ATTR_DB_RESPONSE_STATUS_CODE, code);
	if (!type)
		type = code ? code : "_OTHER";
	rec_attr_cstr(s, ATTR_ERROR_TYPE, type);
	rec_status(s, SPAN_STATUS_ERROR, msg.p, msg.n);
}
