/*
 * A span record packed to what it holds.  struct span is sized for the
 * largest span (2 KB and more: twenty attribute slots, a 1280-byte string
 * pool, a stack), while a typical one uses a fifth of it: the queue keeps
 * records packed, so copying one in and out moves only the bytes in use
 * and the queue's memory follows the spans' real size.
 *
 * Layout: the header (every field before attrs), then attrs[nattrs],
 * events[nevents], stack[stack_depth] and pool[pool_used].  Both sides
 * are in one process, so pointers (attribute keys, event names) travel
 * as they are.
 */
#ifndef OTELSHIM_SPAN_PACK_H
#define OTELSHIM_SPAN_PACK_H

#include <stddef.h>
#include <string.h>

#include "span.h"

#define SPAN_PACK_HEADER offsetof(struct span, attrs)

/* The bytes of each section of a packed record.  The attributes follow
 * the header in struct span as in the packed layout: they are one run. */
struct span_packing {
	size_t head;            /* the header and attrs[nattrs] */
	size_t events;
	size_t stack;
	size_t pool;
};

static inline struct span_packing span_packing_of(const struct span *s)
{
	return (struct span_packing){
		.head = SPAN_PACK_HEADER +
			span_nattrs(s) * sizeof(s->attrs[0]),
		.events = span_nevents(s) * sizeof(s->events[0]),
		.stack = span_stack_depth(s) * sizeof(s->stack[0]),
		.pool = span_pool_used(s),
	};
}

/* Bytes span_pack writes for a record of packing p. */
static inline size_t span_packed_size(const struct span_packing *p)
{
	return p->head + p->events + p->stack + p->pool;
}

/* The largest packed record: every section full. */
#define SPAN_PACKED_MAX sizeof(struct span)

/* Copies the section of n bytes at src to dst; returns dst's end. */
static inline unsigned char *span_pack_copy(unsigned char *dst,
					    const void *src, size_t n)
{
	memcpy(dst, src, n);
	return dst + n;
}

/* Writes s packed at dst (span_packed_size(p) bytes); p is
 * span_packing_of(s).  Events and stack entries are rare: an empty
 * section costs a test, not a copy. */
static inline void span_pack(const struct span *s,
			     const struct span_packing *p, unsigned char *dst)
{
	dst = span_pack_copy(dst, s, p->head);
	if (p->events)
		dst = span_pack_copy(dst, s->events, p->events);
	if (p->stack)
		dst = span_pack_copy(dst, s->stack, p->stack);
	span_pack_copy(dst, s->pool, p->pool);
}

/*
 * Unpacks the record at src into *out.  Only the parts the counts cover
 * are written; the rest of *out is left as it was, and no reader looks
 * past the counts.
 */
static inline void span_unpack(const unsigned char *src, struct span *out)
{
	size_t n;

	memcpy(out, src, SPAN_PACK_HEADER);
	src += SPAN_PACK_HEADER;
	n = span_nattrs(out) * sizeof(out->attrs[0]);
	memcpy(out->attrs, src, n);
	src += n;
	n = span_nevents(out) * sizeof(out->events[0]);
	memcpy(out->events, src, n);
	src += n;
	n = span_stack_depth(out) * sizeof(out->stack[0]);
	memcpy(out->stack, src, n);
	src += n;
	memcpy(out->pool, src, span_pool_used(out));
}

#endif
