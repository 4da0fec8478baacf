/*
 * The in-flight span pool and the record writers (see record.h).  The pool
 * is a bitmap over a lazily mapped array: claiming a record is one
 * compare-and-swap on a bitmap word, and the lowest free record is taken
 * first so that few pages of the array ever become resident.
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "common/utf8.h"
#include "record.h"

#define POOL_WORDS (RECORD_POOL_SIZE / 64)

static _Atomic uint64_t pool_bits[POOL_WORDS];
static struct span *_Atomic pool_mem;

static struct span *pool_base(void)
{
	struct span *mem = atomic_load_explicit(&pool_mem,
						memory_order_acquire);
	struct span *expect = NULL;
	void *m;

	if (mem)
		return mem;
	m = mmap(NULL, RECORD_POOL_SIZE * sizeof(struct span),
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong(&pool_mem, &expect, m)) {
		/* Another thread won the race: use its mapping. */
		munmap(m, RECORD_POOL_SIZE * sizeof(struct span));
		return expect;
	}
	return m;
}

struct span *rec_alloc(void)
{
	struct span *base = pool_base();

	if (!base)
		return NULL;
	for (size_t w = 0; w < POOL_WORDS; w++) {
		uint64_t bits = atomic_load_explicit(&pool_bits[w],
						     memory_order_relaxed);

		while (bits != UINT64_MAX) {
			int bit = __builtin_ctzll(~bits);
			uint64_t want = bits | ((uint64_t)1 << bit);

			if (atomic_compare_exchange_weak_explicit(
				    &pool_bits[w], &bits, want,
				    memory_order_acquire,
				    memory_order_relaxed)) {
				struct span *s = &base[w * 64 + (size_t)bit];

				/* Only the header needs clearing: strings,
				 * attributes and events are bounded by the
				 * counts zeroed here. */
				memset(s, 0, offsetof(struct span, attrs));
				return s;
			}
		}
	}
	return NULL;
}

void rec_free(struct span *s)
{
	struct span *base = atomic_load_explicit(&pool_mem,
						 memory_order_relaxed);
	size_t i;

	if (!s || !base)
		return;
	i = (size_t)(s - base);
	atomic_fetch_and_explicit(&pool_bits[i / 64],
				  ~((uint64_t)1 << (i % 64)),
				  memory_order_release);
}

size_t rec_in_flight(void)
{
	size_t n = 0;

	for (size_t w = 0; w < POOL_WORDS; w++)
		n += (size_t)__builtin_popcountll(atomic_load_explicit(
			&pool_bits[w], memory_order_relaxed));
	return n;
}

struct span_str rec_str(struct span *s, const char *str, size_t len)
{
	struct span_str r = { .off = s->pool_used, .len = 0 };
	size_t room = SPAN_STRPOOL - s->pool_used;
	/* A clean cut reads better (the exporter would repair a split one). */
	size_t n = utf8_cut(str, len, room);

	if (n < len)
		s->truncated = 1;
	memcpy(s->pool + s->pool_used, str, n);
	s->pool_used = (uint16_t)(s->pool_used + n);
	r.len = (uint16_t)n;
	return r;
}

void rec_name(struct span *s, const char *name, size_t len)
{
	s->name = rec_str(s, name, len);
}

static struct span_attr *attr_slot(struct span *s, const char *key)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (s->attrs[i].key == key || !strcmp(s->attrs[i].key, key))
			return &s->attrs[i];
	if (s->nattrs == SPAN_MAX_ATTRS) {
		s->dropped_attrs++;
		return NULL;
	}
	s->attrs[s->nattrs].key = key;
	return &s->attrs[s->nattrs++];
}

void rec_attr_str(struct span *s, const char *key, const char *val,
		  size_t len)
{
	struct span_attr *a = attr_slot(s, key);

	if (!a)
		return;
	a->type = SPAN_ATTR_STRING;
	a->v.s = rec_str(s, val, len);
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
