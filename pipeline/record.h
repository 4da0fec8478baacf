/*
 * Filling span records on application threads: a fixed pool of records for
 * spans in flight, and writers for names, attributes, events and status.
 * Everything here is lock-free and allocation-free; a string that does not
 * fit the record's pool is truncated and the record marked as such.
 */
#ifndef OTELSHIM_RECORD_H
#define OTELSHIM_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/fibhash.h"
#include "common/semconv.h"
#include "common/text.h"
#include "span.h"

/* How many spans may be in flight (started, not ended) at once. */
#define RECORD_POOL_SIZE 512

/*
 * Takes a zeroed record from the pool; NULL when all are in flight (the
 * caller then records nothing).  Async-signal-safe.
 */
struct span *rec_alloc(void);

/* Gives a record back to the pool. */
void rec_free(struct span *s);

/* Number of records in flight, for tests and the self-report. */
size_t rec_in_flight(void);

/* Copies (str, len) into the pool; returns the reference (len 0 if none
 * of it fit). */
struct span_str rec_str(struct span *s, const char *str, size_t len);

void rec_name(struct span *s, const char *name, size_t len);
/* key: one of common/semconv.h's keys.  Setting a key the record has
 * already replaces its value.  Returns the attribute, NULL when the
 * record had no slot left for it. */
const struct span_attr *rec_attr_str(struct span *s, const char *key,
				     const char *val, size_t len);
/* rec_attr_str with a NUL-terminated value. */
void rec_attr_cstr(struct span *s, const char *key, const char *val);
void rec_attr_int(struct span *s, const char *key, int64_t val);
/*
 * A statement's raw text as db.query.text (SPAN_ATTR_SQL, dialect SQL_*),
 * to be sanitised on the exporter thread when the record leaves the ring.
 * Always that key: a record without its bit in attr_keys holds no raw
 * text (span_sql_resolve).  Never cut: when (sql, len) does not fit the
 * pool whole, nothing is written and -1 returned (the caller analyses it
 * itself then); 0 when written.
 */
int rec_attr_sql(struct span *s, const char *sql,
		 size_t len, unsigned dialect);
/* An attribute whose value is the record's captured stack. */
void rec_attr_stack(struct span *s, const char *key);

/* Sets the status; msg only kept for SPAN_STATUS_ERROR (may be NULL). */
void rec_status(struct span *s, enum span_status st, const char *msg,
		size_t len);

/* Appends an event at time_ns; returns it for rec_event_attr_*, or NULL
 * if the record has no room left. */
struct span_event *rec_event(struct span *s, const char *name,
			     uint64_t time_ns);
void rec_event_attr_str(struct span *s, struct span_event *ev,
			const char *key, const char *val, size_t len);

/*
 * Inline writers for the hot paths, each the writer of the same name in
 * rec_attr_* with its common case taken in the caller: a key the record
 * does not have yet, a slot free and (for text) a value that fits the
 * pool whole are appended without a call; in any other case that writer
 * runs.  The record comes out the same either way.
 */

/* The bit of key in span.attr_keys: the top bits of its address times a
 * large odd constant (Fibonacci hashing), which spreads keys defined next
 * to each other.  A bit may be shared by several keys. */
static inline uint32_t rec_key_bit(const char *key)
{
	return 1u << fib_hash((uintptr_t)key, 5);
}

/* The slot of a new attribute key, typed: NULL when the key's bit is
 * set (the record may have it) or no slot is left. */
static inline struct span_attr *rec_append_slot(struct span *s,
						const char *key,
						uint8_t type)
{
	uint32_t bit = rec_key_bit(key);
	struct span_attr *a;

	if ((s->attr_keys & bit) || s->nattrs >= SPAN_MAX_ATTRS)
		return NULL;
	s->attr_keys |= bit;
	a = &s->attrs[s->nattrs++];
	a->key = key;
	a->type = type;
	return a;
}

/* Copies (str, len), which fits, into the pool. */
static inline struct span_str rec_append_pool(struct span *s,
					      const char *str, size_t len)
{
	uint16_t used = s->pool_used;

	copy_short(s->pool + used, str, len);
	s->pool_used = (uint16_t)(used + len);
	return (struct span_str){ .off = used, .len = (uint16_t)len };
}

static inline const struct span_attr *rec_append_str(struct span *s,
						     const char *key,
						     const char *val,
						     size_t len)
{
	struct span_attr *a;

	if (len > (size_t)(SPAN_STRPOOL - s->pool_used) ||
	    !(a = rec_append_slot(s, key, SPAN_ATTR_STRING)))
		return rec_attr_str(s, key, val, len);
	a->v.s = rec_append_pool(s, val, len);
	return a;
}

/* rec_append_str() of a value that is not empty; an empty one is left
 * out. */
static inline void rec_append_nonempty(struct span *s, const char *key,
				       const char *val, size_t len)
{
	if (len > 0)
		rec_append_str(s, key, val, len);
}

static inline void rec_append_int(struct span *s, const char *key,
				  int64_t val)
{
	struct span_attr *a = rec_append_slot(s, key, SPAN_ATTR_INT);

	if (a)
		a->v.i = val;
	else
		rec_attr_int(s, key, val);
}

static inline int rec_append_sql(struct span *s, const char *sql,
				 size_t len, unsigned dialect)
{
	struct span_attr *a;

	if (len > (size_t)(SPAN_STRPOOL - s->pool_used))
		return -1;
	a = rec_append_slot(s, ATTR_DB_QUERY_TEXT, SPAN_ATTR_SQL);
	if (!a)
		return rec_attr_sql(s, sql, len, dialect);
	a->v.sql.text = rec_append_pool(s, sql, len);
	a->v.sql.dialect = dialect;
	return 0;
}

/*
 * Room for a run of n new attributes written at once: the first of n
 * slots, taken, when the record has none of the bits in keys (the run's
 * keys' rec_key_bit()s or'ed), n slots and bytes of pool free; the bits
 * are then set.  NULL otherwise, with nothing changed: the caller writes
 * the attributes one by one instead.  The caller then writes all n, in
 * order, with rec_put_str/_int/_sql, each of which returns the next slot.
 */
static inline struct span_attr *rec_reserve(struct span *s, uint32_t keys,
					    size_t n, size_t bytes)
{
	size_t first = s->nattrs;

	if ((s->attr_keys & keys) || n > (size_t)(SPAN_MAX_ATTRS - first) ||
	    bytes > (size_t)(SPAN_STRPOOL - s->pool_used))
		return NULL;
	s->attr_keys |= keys;
	s->nattrs = (uint8_t)(first + n);
	return &s->attrs[first];
}

static inline struct span_attr *rec_put_str(struct span *s,
					    struct span_attr *a,
					    const char *key, const char *val,
					    size_t len)
{
	a->key = key;
	a->type = SPAN_ATTR_STRING;
	a->v.s = rec_append_pool(s, val, len);
	return a + 1;
}

static inline struct span_attr *rec_put_int(struct span *s,
					    struct span_attr *a,
					    const char *key, int64_t val)
{
	a->key = key;
	a->type = SPAN_ATTR_INT;
	a->v.i = val;
	return a + 1;
}

/* A raw statement: see rec_attr_sql(). */
static inline struct span_attr *rec_put_sql(struct span *s,
					    struct span_attr *a,
					    const char *sql, size_t len,
					    unsigned dialect)
{
	a->key = ATTR_DB_QUERY_TEXT;
	a->type = SPAN_ATTR_SQL;
	a->v.sql.text = rec_append_pool(s, sql, len);
	a->v.sql.dialect = dialect;
	return a + 1;
}

/* Looks up a string attribute (for tests and for deriving names). */
const struct span_attr *rec_find_attr(const struct span *s, const char *key);

#endif
