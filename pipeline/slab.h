/*
 * A fixed pool of fixed-size slots for application threads: span records,
 * HTTP connection states.  The slots are one array mapped on first use, so
 * untouched slots cost no memory; a bitmap says which are taken, and a slot
 * is claimed with one compare-and-swap on a bitmap word, lowest free first,
 * so that few pages of the array ever become resident.  No lock, no malloc:
 * every function is async-signal-safe.
 */
#ifndef OTELSHIM_SLAB_H
#define OTELSHIM_SLAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Fields are private; define one with SLAB_DEFINE. */
struct slab {
	size_t slot_size;
	unsigned nwords;                /* bitmap words, 64 slots each */
	_Atomic uint64_t *bits;         /* bit set: slot taken */
	void *_Atomic mem;              /* the slots, once mapped */
};

/* A static slab `name` of nslots (a multiple of 64) slots of slot_type. */
#define SLAB_DEFINE(name, slot_type, nslots)                               \
	_Static_assert((nslots) % 64 == 0 && (nslots) > 0,                 \
		       "slab slots come in bitmap words of 64");            \
	static _Atomic uint64_t name##_bits[(nslots) / 64];                \
	static struct slab name = { sizeof(slot_type), (nslots) / 64,      \
				    name##_bits, NULL }

/*
 * Claims the lowest free slot and returns it, not cleared: the caller
 * initialises what it needs.  NULL when every slot is taken or the array
 * could not be mapped.
 */
void *slab_claim(struct slab *sl);

/* Gives back the slot of index i (from slab_index); it may be handed out
 * again at once. */
void slab_release(struct slab *sl, size_t i);

/* The index of a slot slab_claim returned: 0 .. slots - 1. */
size_t slab_index(const struct slab *sl, const void *slot);

/* The slot of index i, or NULL while nothing was ever claimed. */
void *slab_at(const struct slab *sl, size_t i);

/* Slots taken now (a snapshot under concurrency). */
size_t slab_in_use(const struct slab *sl);

#endif
