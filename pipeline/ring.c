/*
 * A bounded multi-producer, single-consumer queue of span records, after
 * Dmitry Vyukov's sequence-numbered array queue: each slot carries a
 * sequence number that says whose turn it is, so producers claim slots with
 * one compare-and-swap and never wait for each other.  Sequence numbers are
 * kept apart from the records so that creating the ring touches only a few
 * pages; record pages become resident as they are first written.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "ring.h"

struct ring {
	size_t capacity;
	_Atomic uint64_t head;          /* next position to push */
	char pad1[64];
	_Atomic uint64_t tail;          /* next position to pop */
	_Atomic uint64_t dropped;
	char pad2[64];
	_Atomic uint64_t *seq;          /* per slot: position it awaits */
	struct span *slots;
	size_t map_len;
};

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

struct ring *ring_create(size_t capacity)
{
	size_t hdr = page_round(sizeof(struct ring));
	size_t seqs = page_round(capacity * sizeof(uint64_t));
	size_t recs = page_round(capacity * sizeof(struct span));
	struct ring *r;
	char *mem;

	if (capacity == 0) {
		errno = EINVAL;
		return NULL;
	}
	mem = mmap(NULL, hdr + seqs + recs, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	/* A forked child drops the parent's ring (batch_after_fork_child)
	 * without reading it: fork() need not copy its page tables, nor leave
	 * the parent to take a copy-on-write fault on each slot it writes
	 * next.  The child sees zeroes there instead (before Linux 4.14 the
	 * advice fails and the pages are copied as before); the header page
	 * is kept, so that ring_destroy still knows the length to unmap. */
	madvise(mem + hdr, seqs + recs, MADV_WIPEONFORK);
	r = (struct ring *)mem;
	r->capacity = capacity;
	r->map_len = hdr + seqs + recs;
	r->seq = (_Atomic uint64_t *)(mem + hdr);
	r->slots = (struct span *)(mem + hdr + seqs);
	ring_reset(r);
	return r;
}

void ring_destroy(struct ring *r)
{
	if (r)
		munmap(r, r->map_len);
}

void ring_reset(struct ring *r)
{
	for (size_t i = 0; i < r->capacity; i++)
		atomic_store_explicit(&r->seq[i], i, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->dropped, 0, memory_order_release);
}

size_t ring_push(struct ring *r, const struct span *s)
{
	uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t idx;

	for (;;) {
		idx = (size_t)(pos % r->capacity);
		uint64_t seq = atomic_load_explicit(&r->seq[idx],
						    memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &r->head, &pos, pos + 1,
				    memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (dif < 0) {
			/* The slot still holds a record from one lap ago. */
			atomic_fetch_add_explicit(&r->dropped, 1,
						  memory_order_relaxed);
			return 0;
		} else {
			pos = atomic_load_explicit(&r->head,
						   memory_order_relaxed);
		}
	}
	memcpy(&r->slots[idx], s, sizeof(*s));
	atomic_store_explicit(&r->seq[idx], pos + 1, memory_order_release);
	return (size_t)(pos + 1 -
			atomic_load_explicit(&r->tail, memory_order_relaxed));
}

size_t ring_pop(struct ring *r, struct span *out, size_t max)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t n = 0;

	while (n < max) {
		size_t idx = (size_t)(pos % r->capacity);
		uint64_t seq = atomic_load_explicit(&r->seq[idx],
						    memory_order_acquire);

		if (seq != pos + 1)
			break;  /* empty, or a producer is mid-copy */
		memcpy(&out[n++], &r->slots[idx], sizeof(*out));
		atomic_store_explicit(&r->seq[idx], pos + r->capacity,
				      memory_order_release);
		pos++;
	}
	atomic_store_explicit(&r->tail, pos, memory_order_relaxed);
	return n;
}

size_t ring_count(const struct ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	return head > tail ? (size_t)(head - tail) : 0;
}

uint64_t ring_dropped(const struct ring *r)
{
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}

