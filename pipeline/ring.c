/*
 * A bounded multi-producer, single-consumer queue of packed span records
 * (span_pack.h) in one circular byte buffer.  A producer claims room with
 * one compare-and-swap on the write position, packs its record there and
 * publishes it by setting the entry's state word; producers never wait
 * for each other, and a record takes the bytes it holds, not a 2 KB slot.
 *
 * Records may carry a statement's raw text (SPAN_ATTR_SQL); the pop
 * sanitises it (span_sql.h) as it unpacks each record, so that whatever
 * leaves the ring holds none.
 *
 * The consumer reads entries in order and stops at the first one not yet
 * published (a producer interrupted mid-copy), and it zeroes what it has
 * read before giving the room back: a state word that is not zero can
 * then only have been written by the producer that owns that entry now,
 * wherever in the buffer the entries of this lap begin.  An entry that
 * would run past the end of the buffer is placed at its start, and the
 * bytes skipped are a padding entry of their own.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "ring.h"
#include "span_pack.h"
#include "span_sql.h"

enum entry_state {
	ENTRY_FREE = 0,         /* zeroed: claimed, not yet published */
	ENTRY_SPAN = 1,
	ENTRY_PAD = 2,          /* room skipped to wrap around */
};

struct entry {
	_Atomic uint32_t state; /* enum entry_state, published last */
	uint32_t len;           /* bytes of the entry, header included */
};

struct ring {
	size_t capacity;                /* records */
	size_t size;                    /* bytes of data[] */
	unsigned char *data;
	size_t map_len;
	/* The consumer's: data[] made resident so far, and the write
	 * position when it last looked (ring_populate_ahead). */
	size_t populated;
	uint64_t populated_at;
	char pad0[64];
	_Atomic uint64_t head;          /* bytes claimed, ever */
	_Atomic uint64_t pushed;        /* records claimed, ever */
	char pad1[64];
	_Atomic uint64_t tail;          /* bytes given back, ever */
	_Atomic uint64_t popped;        /* records popped, ever */
	_Atomic uint64_t dropped;
	char pad2[64];
};

/* The least ring_populate_ahead() keeps resident ahead of the write
 * position; a ring that fills fast gets twice what was written since the
 * consumer last looked (a batch of 512 statements takes about 150 KB). */
#define RING_AHEAD_MIN (64 * 1024)

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static size_t entry_len(size_t body)
{
	return (sizeof(struct entry) + body + 7) & ~(size_t)7;
}

struct ring *ring_create(size_t capacity)
{
	size_t hdr = page_round(sizeof(struct ring));
	size_t size = capacity * RING_BYTES_PER_SPAN;
	size_t floor = 2 * entry_len(SPAN_PACKED_MAX);
	struct ring *r;
	char *mem;

	if (capacity == 0 || capacity > SIZE_MAX / RING_BYTES_PER_SPAN) {
		errno = EINVAL;
		return NULL;
	}
	/* Room for at least two of the largest records, whatever the
	 * capacity, so that any record can always be queued. */
	size = page_round(size < floor ? floor : size);
	mem = mmap(NULL, hdr + size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	/* A forked child never reads the parent's ring: it is left out of the
	 * child altogether, so fork() need not copy its page tables, nor
	 * leave the parent to take a copy-on-write fault on each page it
	 * writes next.  The child's batch state says it has no ring
	 * (batch.c), so nothing there refers to the hole. */
	madvise(mem, hdr + size, MADV_DONTFORK);
	r = (struct ring *)mem;
	r->capacity = capacity;
	r->size = size;
	r->data = (unsigned char *)mem + hdr;
	r->map_len = hdr + size;
	return r;
}

void ring_destroy(struct ring *r)
{
	if (r)
		munmap(r, r->map_len);
}

void ring_reset(struct ring *r)
{
	memset(r->data, 0, r->size);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->pushed, 0, memory_order_relaxed);
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->popped, 0, memory_order_relaxed);
	atomic_store_explicit(&r->dropped, 0, memory_order_release);
}

static struct entry *entry_at(const struct ring *r, uint64_t pos)
{
	return (struct entry *)(r->data + pos % r->size);
}

static size_t drop(struct ring *r)
{
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
	return 0;
}

size_t ring_push(struct ring *r, const struct span *s)
{
	struct span_packing packing = span_packing_of(s);
	size_t len = entry_len(span_packed_size(&packing));
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t queued;
	size_t skip;
	struct entry *e;

	for (;;) {
		/* Acquire: the consumer zeroed what it gave back. */
		uint64_t tail = atomic_load_explicit(&r->tail,
						     memory_order_acquire);
		size_t off = (size_t)(pos % r->size);

		if (atomic_load_explicit(&r->pushed, memory_order_relaxed) -
		    atomic_load_explicit(&r->popped, memory_order_relaxed) >=
		    r->capacity)
			return drop(r);
		skip = off + len > r->size ? r->size - off : 0;
		if (pos + skip + len - tail > r->size)
			return drop(r);
		if (atomic_compare_exchange_weak_explicit(
			    &r->head, &pos, pos + skip + len,
			    memory_order_relaxed, memory_order_relaxed))
			break;
	}
	queued = atomic_fetch_add_explicit(&r->pushed, 1,
					   memory_order_relaxed) + 1;
	if (skip) {
		e = entry_at(r, pos);
		e->len = (uint32_t)skip;
		atomic_store_explicit(&e->state, ENTRY_PAD,
				      memory_order_release);
		pos += skip;
	}
	e = entry_at(r, pos);
	e->len = (uint32_t)len;
	span_pack(s, &packing, (unsigned char *)(e + 1));
	atomic_store_explicit(&e->state, ENTRY_SPAN, memory_order_release);
	return (size_t)(queued -
			atomic_load_explicit(&r->popped, memory_order_relaxed));
}

void ring_populate_ahead(struct ring *r)
{
	uint64_t head, ahead;
	size_t want;

	if (r->populated >= r->size)
		return;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	ahead = 2 * (head - r->populated_at);
	if (ahead < RING_AHEAD_MIN)
		ahead = RING_AHEAD_MIN;
	r->populated_at = head;
	want = head + ahead >= r->size ? r->size :
	       page_round((size_t)(head + ahead));
	if (want <= r->populated)
		return;
	/* Faults the pages in writable without touching a byte, so that a
	 * producer writing one of them meanwhile loses nothing.  Any failure
	 * (a kernel before 5.14, no memory) leaves them to the producers. */
	if (madvise(r->data + r->populated, want - r->populated,
		    MADV_POPULATE_WRITE) != 0)
		want = r->size;
	r->populated = want;
}

#ifdef UNITTEST
/* Pages of the ring's storage that are resident now. */
size_t ring_resident_pages(const struct ring *r);
size_t ring_resident_pages(const struct ring *r)
{
	unsigned char vec[4096];
	size_t pages = r->size / 4096, n = 0, at, k, i;

	for (at = 0; at < pages; at += k) {
		k = pages - at < sizeof(vec) ? pages - at : sizeof(vec);
		if (mincore(r->data + at * 4096, k * 4096, vec) != 0)
			return 0;
		for (i = 0; i < k; i++)
			n += vec[i] & 1;
	}
	return n;
}
#endif

size_t ring_pop(struct ring *r, struct span *out, size_t max)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t n = 0;

	while (n < max) {
		struct entry *e = entry_at(r, pos);
		uint32_t state = atomic_load_explicit(&e->state,
						      memory_order_acquire);
		uint32_t len;

		if (state == ENTRY_FREE)
			break;  /* empty, or a producer is mid-copy */
		len = e->len;   /* published with the state */
		if (state == ENTRY_SPAN) {
			span_unpack((const unsigned char *)(e + 1), &out[n]);
			/* The one way out of the queue: no raw statement
			 * gets past it. */
			span_sql_resolve(&out[n++]);
		}
		/* Zeroed before the room is given back (the release below),
		 * so that no stale byte reads as a published entry later. */
		memset(&e->len, 0, len - sizeof(e->state));
		atomic_store_explicit(&e->state, ENTRY_FREE,
				      memory_order_relaxed);
		pos += len;
	}
	atomic_fetch_add_explicit(&r->popped, n, memory_order_relaxed);
	atomic_store_explicit(&r->tail, pos, memory_order_release);
	return n;
}

size_t ring_count(const struct ring *r)
{
	uint64_t in = atomic_load_explicit(&r->pushed, memory_order_relaxed);
	uint64_t out = atomic_load_explicit(&r->popped, memory_order_relaxed);

	return in > out ? (size_t)(in - out) : 0;
}

uint64_t ring_pushed(const struct ring *r)
{
	return atomic_load_explicit(&r->pushed, memory_order_relaxed);
}

uint64_t ring_dropped(const struct ring *r)
{
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
