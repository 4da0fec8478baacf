/*
 * The span records of spans in flight and their writers (see record.h).
 * Records come from a slab (slab.h): claiming one is a compare-and-swap,
 * on any application thread, in signal handlers too.
 */
#include <string.h>

#include "common/utf8.h"
#include "record.h"
#include "slab.h"

SLAB_DEFINE(rec_pool, struct span, RECORD_POOL_SIZE);

/*
 * The record this thread gave back last, plus one; 0 before its first.
 * A thread claims that one again if it is still free: its lines are in
 * this CPU's cache, and the bitmap word beside it too.  A thread's first
 * claim starts at a word picked by its thread-local block's address, so
 * that threads spread over the bitmap's words instead of all passing the
 * first one's line between them.  Initial-exec: the library is loaded at
 * start, its thread-local block is static, and reading it takes no call.
 */
static __thread size_t home __attribute__((tls_model("initial-exec")));

static size_t first_home(void)
{
	return (size_t)fib_hash((uintptr_t)&home, 32) %
	       (RECORD_POOL_SIZE / 64) * 64;
}

struct span *rec_alloc(void)
{
	struct span *s = slab_claim(&rec_pool, home ? home - 1 : first_home());

	/* Only the header needs clearing: strings, attributes and events
	 * are bounded by the counts zeroed here. */
	if (s)
		memset(s, 0, offsetof(struct span, attrs));
	return s;
}

void rec_free(struct span *s)
{
	size_t i;

	if (!s)
		return;
	i = slab_index(&rec_pool, s);
	slab_release(&rec_pool, i);
	home = i + 1;
}

size_t rec_in_flight(void)
{
	return slab_in_use(&rec_pool);
}

/* rec_str, inlined into the writers of this file. */
static inline __attribute__((always_inline)) struct span_str
pool_put(struct span *s, const char *str, size_t len)
{
	size_t room = SPAN_STRPOOL - s->pool_used;
	/* A clean cut reads better (the exporter would repair a split one);
	 * nearly every string fits whole, without the call. */
	size_t n = len <= room ? len : utf8_cut(str, len, room);

	if (n < len)
		s->truncated = 1;
	return rec_append_pool(s, str, n);
}

struct span_str rec_str(struct span *s, const char *str, size_t len)
{
	return pool_put(s, str, len);
}

void rec_name(struct span *s, const char *name, size_t len)
{
	s->name = pool_put(s, name, len);
}

/* A key is one object (common/semconv.h): the same key, the same
 * address.  The slots are searched for it only when its bit is set:
 * a span records a dozen different keys, nearly all of them once.
 * Inlined into each writer: it runs for every attribute of every span. */
static inline __attribute__((always_inline)) struct span_attr *
attr_slot(struct span *s, const char *key)
{
	uint32_t bit = rec_key_bit(key);

	if (s->attr_keys & bit) {
		for (size_t i = 0; i < s->nattrs; i++)
			if (s->attrs[i].key == key)
				return &s->attrs[i];
	}
	if (s->nattrs == SPAN_MAX_ATTRS) {
		s->dropped_attrs++;
		return NULL;
	}
	s->attr_keys |= bit;
	s->attrs[s->nattrs].key = key;
	return &s->attrs[s->nattrs++];
}

const struct span_attr *rec_attr_str(struct span *s, const char *key,
				     const char *val, size_t len)
{
	struct span_attr *a = attr_slot(s, key);

	if (!a)
		return NULL;
	a->type = SPAN_ATTR_STRING;
	a->v.s = pool_put(s, val, len);
	return a;
}

void rec_attr_cstr(struct span *s, const char *key, const char *val)
{
	rec_attr_str(s, key, val, strlen(val));
}

void rec_attr_int(struct span *s, const char *key, int64_t val)
{
	struct span_attr *a = attr_slot(s, key);

	if (!a)
		return;
	a->type = SPAN_ATTR_INT;
	a->v.i = val;
}

int rec_attr_sql(struct span *s, const char *sql, size_t len,
		 unsigned dialect)
{
	struct span_attr *a;

	/* A cut could end inside a literal: the statement goes whole or
	 * not at all. */
	if (len > (size_t)(SPAN_STRPOOL - s->pool_used))
		return -1;
	a = attr_slot(s, ATTR_DB_QUERY_TEXT);
	if (!a)
		return 0;
	a->type = SPAN_ATTR_SQL;
	a->v.sql.text = pool_put(s, sql, len);  /* fits: never cut */
	a->v.sql.dialect = dialect;
	return 0;
}

void rec_attr_stack(struct span *s, const char *key)
{
	struct span_attr *a = attr_slot(s, key);

	if (a)
		a->type = SPAN_ATTR_STACK;
}

void rec_status(struct span *s, enum span_status st, const char *msg,
		size_t len)
{
	s->status = (uint8_t)st;
	if (st == SPAN_STATUS_ERROR && msg && len)
		s->status_message = rec_str(s, msg, len);
}

struct span_event *rec_event(struct span *s, const char *name,
			     uint64_t time_ns)
{
	struct span_event *ev;

	if (s->nevents == SPAN_MAX_EVENTS)
		return NULL;
	ev = &s->events[s->nevents++];
	ev->time_ns = time_ns;
	ev->name = name;
	ev->nattrs = 0;
	return ev;
}

void rec_event_attr_str(struct span *s, struct span_event *ev,
			const char *key, const char *val, size_t len)
{
	struct span_attr *a;

	if (!ev || ev->nattrs == SPAN_MAX_EVENT_ATTRS)
		return;
	a = &ev->attrs[ev->nattrs++];
	a->key = key;
	a->type = SPAN_ATTR_STRING;
	a->v.s = rec_str(s, val, len);
}

const struct span_attr *rec_find_attr(const struct span *s, const char *key)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (!strcmp(s->attrs[i].key, key))
			return &s->attrs[i];
	return NULL;
}
