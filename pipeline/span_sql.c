/*
 * Raw statements sanitised and summarised on the exporter thread (see
 * span_sql.h).  Runs on whichever thread pops the ring; no allocation,
 * no locks.
 */
#include <string.h>

#include "common/semconv.h"
#include "common/sql.h"
#include "common/text.h"
#include "record.h"
#include "span_sql.h"
#include "sql_memo.h"

/* A pooled string clamped to the used bytes, so that a damaged
 * reference can never reach past them. */
static struct span_str clamp(struct span_str r, size_t used)
{
	if (r.off > used)
		r.off = (uint16_t)used;
	if (r.len > used - r.off)
		r.len = (uint16_t)(used - r.off);
	return r;
}

/* Where r lies once the bytes cut are out of the pool: after them, moved
 * down; overlapping them (nothing but the raw statement should), empty. */
static void shift(struct span_str *r, struct span_str cut)
{
	size_t end = (size_t)cut.off + cut.len;

	if (r->off >= end)
		r->off = (uint16_t)(r->off - cut.len);
	else if ((size_t)r->off + r->len > cut.off)
		*r = (struct span_str){ cut.off, 0 };
}

/*
 * Takes the bytes cut out of s's pool (used bytes): what follows moves
 * down over them, every reference with it.  The bytes freed at the end
 * still hold what they held: the caller writes its strings over them and
 * zeroes the rest (wipe_from), so that nothing of the raw statement is
 * left.
 */
static void pool_cut(struct span *s, size_t used, struct span_str cut)
{
	size_t end = (size_t)cut.off + cut.len;

	s->pool_used = (uint16_t)(used - cut.len);
	/* Nearly always the statement is the last string: nothing lies
	 * after it to move down.  What overlaps it (its own attribute, which
	 * the caller writes again) or starts at its end with nothing in it
	 * is then left as it is: the bytes it could reach are written over
	 * or zeroed (wipe_from). */
	if (used == end)
		return;
	memmove(s->pool + cut.off, s->pool + end, used - end);
	shift(&s->name, cut);
	shift(&s->status_message, cut);
	shift(&s->trace_state, cut);
	for (size_t i = 0; i < span_nattrs(s); i++) {
		struct span_attr *a = &s->attrs[i];

		if (a->type == SPAN_ATTR_STRING)
			shift(&a->v.s, cut);
		else if (a->type == SPAN_ATTR_SQL)      /* resolved next */
			shift(&a->v.sql.text, cut);
	}
	for (size_t i = 0; i < span_nevents(s); i++) {
		struct span_event *ev = &s->events[i];

		for (size_t j = 0; j < span_event_nattrs(ev); j++)
			if (ev->attrs[j].type == SPAN_ATTR_STRING)
				shift(&ev->attrs[j].v.s, cut);
	}
}

/* Zeroes the pool from what is used now up to used, what it held before
 * pool_cut(): the bytes of it that no string was written over. */
static void wipe_from(struct span *s, size_t used)
{
	if (s->pool_used < used)
		memset(s->pool + s->pool_used, 0, used - s->pool_used);
}

/* Removes attribute a from s. */
static void attr_remove(struct span *s, struct span_attr *a)
{
	size_t n = span_nattrs(s), i = (size_t)(a - s->attrs);

	memmove(a, a + 1, (n - i - 1) * sizeof(*a));
	s->nattrs = (uint8_t)(n - 1);
}

/* rec_append_pool() for the text, longer than the other strings: up to
 * 64 bytes copied without a call. */
static struct span_str append_text(struct span *s, const char *text,
				   size_t len)
{
	uint16_t used = s->pool_used;

	copy_medium(s->pool + used, text, len);
	s->pool_used = (uint16_t)(used + len);
	return (struct span_str){ .off = used, .len = (uint16_t)len };
}

/* Resolves the raw statement of attribute a (see span_sql_resolve);
 * returns 0 when a was removed (its text came out empty), else 1. */
static int resolve(struct span *s, struct span_attr *a)
{
	char text_buf[SPAN_STRPOOL + 1];
	char summary_buf[SQL_SUMMARY_MAX + 1];
	struct sql_info info_buf;
	struct sql_memo_key key;
	struct sql_memo_entry m;
	size_t used = span_pool_used(s);
	struct span_str raw = clamp(a->v.sql.text, used);
	const char *sql = s->pool + raw.off;
	unsigned dialect = a->v.sql.dialect & SQL_SQLITE;

	if (!sql_memo_find(sql, raw.len, dialect, &key, &m)) {
		m.len = sql_analyze(sql, raw.len, dialect, text_buf,
				    sizeof(text_buf), summary_buf,
				    sizeof(summary_buf), &info_buf);
		sql_memo_keep(&key, text_buf, m.len, summary_buf, &info_buf);
		m.text = text_buf;
		m.summary = summary_buf;
		m.info = &info_buf;
	}
	a->type = SPAN_ATTR_STRING;
	a->v.s = raw;
	pool_cut(s, used, raw);
	if (m.info->summary_len > 0) {
		const struct span_attr *sum = rec_append_str(
			s, ATTR_DB_QUERY_SUMMARY, m.summary,
			m.info->summary_len);

		/* The name is the summary: its bytes shared in the pool. */
		s->name = sum ? sum->v.s :
				rec_str(s, m.summary, m.info->summary_len);
	}
	rec_append_nonempty(s, ATTR_DB_OPERATION_NAME, m.info->operation,
			    m.info->operation_len);
	rec_append_nonempty(s, ATTR_DB_COLLECTION_NAME, m.info->collection,
			    m.info->collection_len);
	/* Last, so that it is the text that the pool cuts (rec_str(); a
	 * text that fits whole, nearly every one, without the call). */
	a->v.s = m.len <= (size_t)(SPAN_STRPOOL - s->pool_used) ?
		 append_text(s, m.text, m.len) :
		 rec_str(s, m.text, m.len);
	wipe_from(s, used);
	if (m.info->truncated & SQL_TRUNC_TEXT)
		s->truncated = 1;
	if (a->v.s.len > 0)
		return 1;
	attr_remove(s, a);
	return 0;
}

/* Resolves every raw statement of s from attribute i on: of the
 * attributes s has now, not the strings resolve() appends after them. */
static void resolve_from(struct span *s, size_t i)
{
	size_t n = span_nattrs(s);

	while (i < n) {
		if (s->attrs[i].type != SPAN_ATTR_SQL ||
		    resolve(s, &s->attrs[i]))
			i++;
		else
			n--;    /* removed: the next one moved down to i */
	}
}

void span_sql_resolve(struct span *s)
{
	size_t n = span_nattrs(s);

	/* Every record passes here: most hold no statement, and a raw
	 * statement is always db.query.text (rec_attr_sql), whose bit
	 * such a record mostly lacks. */
	if (!(s->attr_keys & rec_key_bit(ATTR_DB_QUERY_TEXT)))
		return;
	for (size_t i = 0; i < n; i++)
		if (s->attrs[i].type == SPAN_ATTR_SQL) {
			resolve_from(s, i);
			return;
		}
}
