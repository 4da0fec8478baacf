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
		    unsigned dialect)
{
	memset(&a->info, 0, sizeof(a->info));
	a->text[0] = 0;
	a->summary[0] = 0;
	a->text_len = 0;
	a->dialect = dialect;
	a->raw = 0;
	if (sql)
		a->text_len = sql_analyze(sql, len, dialect, a->text,
					  sizeof(a->text), a->summary,
					  sizeof(a->summary), &a->info);
}

void dbspan_query_of(struct dbspan_query *q, const struct dbspan_sql *a)
{
	q->text = (struct str){ a->text, a->raw ? 0 : a->text_len };
	q->summary = dbspan_summary(a);
	q->operation = dbspan_operation(a);
	q->collection = dbspan_collection(a);
	q->raw = (struct str){ a->text, a->raw ? a->text_len : 0 };
	q->raw_dialect = a->dialect;
}

/* Names s by the value of its string attribute a (if written), sharing
 * its bytes in the pool. */
static void name_by(struct span *s, const struct span_attr *a)
{
	if (a && a->type == SPAN_ATTR_STRING)
		s->name = a->v.s;
}

/* The summary as an attribute and the span's name, the operation and the
 * collection. */
static void describe_analysis(struct span *s, struct str summary,
			      struct str operation, struct str collection)
{
	if (summary.n > 0)
		name_by(s, rec_append_str(s, ATTR_DB_QUERY_SUMMARY,
					  summary.p, summary.n));
	rec_append_nonempty(s, ATTR_DB_OPERATION_NAME, operation.p,
			    operation.n);
	rec_append_nonempty(s, ATTR_DB_COLLECTION_NAME, collection.p,
			    collection.n);
}

/* describe_analysis() of a's summary, operation and collection. */
static void describe_sql_analysis(struct span *s, const struct dbspan_sql *a)
{
	describe_analysis(s, dbspan_summary(a), dbspan_operation(a),
			  dbspan_collection(a));
}

/* db.system.name and db.namespace, and the name they give s until a
 * summary names it (below, or for a raw text on the exporter thread):
 * the namespace, else the system. */
static inline __attribute__((always_inline)) void
describe_where(struct span *s, struct str system, struct str ns)
{
	const struct span_attr *sys, *nsa = NULL;

	sys = rec_append_str(s, ATTR_DB_SYSTEM_NAME, system.p, system.n);
	if (ns.n > 0)
		nsa = rec_append_str(s, ATTR_DB_NAMESPACE, ns.p, ns.n);
	name_by(s, nsa ? nsa : sys);
}

/* Adds the key bit, the slot and the bytes of the string attribute key
 * to a run being planned, when val is not empty. */
static inline void plan_str(uint32_t *keys, size_t *n, size_t *bytes,
			    const char *key, struct str val)
{
	if (val.n > 0) {
		*keys |= rec_key_bit(key);
		(*n)++;
		*bytes += val.n;
	}
}

/* Writes val at a when planned (not empty); returns the next slot. */
static inline struct span_attr *put_planned(struct span *s,
					    struct span_attr *a,
					    const char *key, struct str val)
{
	return val.n > 0 ? rec_put_str(s, a, key, val.p, val.n) : a;
}

/*
 * dbspan_describe() as one run (rec_reserve()), for a record that has
 * none of q's attributes yet and room for them all, as nearly every libpq
 * span has: one check of the record instead of one per attribute.  -1,
 * with nothing written, otherwise.
 */
static int describe_run(struct span *s, const struct dbspan_query *q)
{
	uint32_t keys = 0;
	size_t n = 0, bytes = 0;
	struct span_attr *at;

	plan_str(&keys, &n, &bytes, ATTR_DB_SYSTEM_NAME, q->system);
	plan_str(&keys, &n, &bytes, ATTR_DB_NAMESPACE, q->ns);
	plan_str(&keys, &n, &bytes, ATTR_DB_QUERY_SUMMARY, q->summary);
	plan_str(&keys, &n, &bytes, ATTR_DB_OPERATION_NAME, q->operation);
	plan_str(&keys, &n, &bytes, ATTR_DB_COLLECTION_NAME, q->collection);
	plan_str(&keys, &n, &bytes, ATTR_SERVER_ADDRESS, q->server);
	if (q->port > 0) {
		keys |= rec_key_bit(ATTR_SERVER_PORT);
		n++;
	}
	if (q->system.n == 0 || !(at = rec_reserve(s, keys, n, bytes)))
		return -1;
	at = rec_put_str(s, at, ATTR_DB_SYSTEM_NAME, q->system.p,
			 q->system.n);
	at = put_planned(s, at, ATTR_DB_NAMESPACE, q->ns);
	s->name = at[-1].v.s;   /* the namespace, else the system */
	if (q->summary.n > 0) {
		at = rec_put_str(s, at, ATTR_DB_QUERY_SUMMARY, q->summary.p,
				 q->summary.n);
		s->name = at[-1].v.s;
	}
	at = put_planned(s, at, ATTR_DB_OPERATION_NAME, q->operation);
	at = put_planned(s, at, ATTR_DB_COLLECTION_NAME, q->collection);
	at = put_planned(s, at, ATTR_SERVER_ADDRESS, q->server);
	if (q->port > 0)
		rec_put_int(s, at, ATTR_SERVER_PORT, q->port);
	return 0;
}

void dbspan_describe(struct span *s, const struct dbspan_query *q)
{
	if (describe_run(s, q) == 0)
		return;
	describe_where(s, q->system, q->ns);
	describe_analysis(s, q->summary, q->operation, q->collection);
	rec_append_nonempty(s, ATTR_SERVER_ADDRESS, q->server.p, q->server.n);
	if (q->port > 0)
		rec_append_int(s, ATTR_SERVER_PORT, q->port);
}

/* dbspan_describe_sql(), inlined into dbspan_statement_sql() too. */
static inline __attribute__((always_inline)) void
describe_sql(struct span *s, struct str system, struct str ns,
	     const struct dbspan_sql *a)
{
	describe_where(s, system, ns);
	/* A raw text has no analysis yet. */
	if (!a->raw)
		describe_sql_analysis(s, a);
}

void dbspan_describe_sql(struct span *s, struct str system, struct str ns,
			 const struct dbspan_sql *a)
{
	describe_sql(s, system, ns, a);
}

/* Writes text, cut on a character boundary to leave reserve bytes. */
static void put_text(struct span *s, struct str text, size_t reserve)
{
	size_t room = SPAN_STRPOOL - s->pool_used;
	size_t n;

	room = room > reserve ? room - reserve : 0;
	n = utf8_cut(text.p, text.n, room);
	if (n < text.n)
		s->truncated = 1;
	rec_append_nonempty(s, ATTR_DB_QUERY_TEXT, text.p, n);
}

/* A raw text too long to travel whole (a cut raw text would lose the
 * summary of what follows the cut): analysed here.  Apart, so that the
 * common path does not set up the analysis' kilobytes of stack. */
static __attribute__((noinline)) void put_analysed(struct span *s,
						   struct str raw,
						   unsigned dialect,
						   size_t reserve)
{
	struct dbspan_sql a;

	dbspan_analyze(&a, raw.p, raw.n, dialect);
	describe_sql_analysis(s, &a);
	put_text(s, (struct str){ a.text, a.text_len }, reserve);
}

/* dbspan_text() for the sanitised text, or the raw one (raw.n > 0). */
static inline __attribute__((always_inline)) void
put_query_text(struct span *s, struct str text, struct str raw,
	       unsigned dialect, size_t reserve)
{
	size_t room = SPAN_STRPOOL - s->pool_used;

	if (raw.n == 0) {
		put_text(s, text, reserve);
		return;
	}
	room = room > reserve ? room - reserve : 0;
	if (raw.n <= room &&
	    rec_append_sql(s, raw.p, raw.n, dialect) == 0)
		return;
	put_analysed(s, raw, dialect, reserve);
}

void dbspan_text(struct span *s, const struct dbspan_query *q,
		 size_t reserve)
{
	put_query_text(s, q->text, q->raw, q->raw_dialect, reserve);
}

/* dbspan_text_sql(), inlined into dbspan_statement_sql() too. */
static inline __attribute__((always_inline)) void
text_sql(struct span *s, const struct dbspan_sql *a, size_t reserve)
{
	struct str text = { a->text, a->text_len }, none = { a->text, 0 };

	if (a->raw)
		put_query_text(s, none, text, a->dialect, reserve);
	else
		put_query_text(s, text, none, a->dialect, reserve);
}

void dbspan_text_sql(struct span *s, const struct dbspan_sql *a,
		     size_t reserve)
{
	text_sql(s, a, reserve);
}

void dbspan_rows(struct span *s, int64_t rows)
{
	rec_append_int(s, ATTR_DB_RESPONSE_RETURNED_ROWS, rows);
}

void dbspan_statement_parts(struct span *s, struct str system, struct str ns,
			    const struct dbspan_sql *a, int64_t rows)
{
	describe_sql(s, system, ns, a);
	if (rows >= 0)
		dbspan_rows(s, rows);
	text_sql(s, a, 0);
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
