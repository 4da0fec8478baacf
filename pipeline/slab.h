/*
 * A fixed pool of fixed-size slots for application threads: span records,
 * HTTP connection states.  The slots are one array mapped on first use, so
 * untouched slots cost no memory; a bitmap says which are taken, and a slot
 * is claimed with one compare-and-swap on a bitmap word.  A claim names the
 * slot it would like (for a span record, the one its thread gave back
 * last: a thread that records span after span then reuses a slot whose
 * lines are in its CPU's cache), and each bitmap word has a cache line of
 * its own, so threads that keep to different words pass no line between
 * CPUs.  A slot taken, the claim gets the lowest free slot of that word,
 * then of the words after it, so that few pages of the array ever become
 * resident.  No lock, no malloc: every function is async-signal-safe.
 */
#ifndef OTELSHIM_SLAB_H
#define OTELSHIM_SLAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* 64 slots' bits, alone in their cache line. */
struct slab_word {
	_Atomic uint64_t bits;          /* bit set: slot taken */
} __attribute__((aligned(64)));

/* Fields are private; define one with SLAB_DEFINE. */
struct slab {
	size_t slot_size;
	unsigned nwords;                /* bitmap words, 64 slots each */
	struct slab_word *words;
	void *_Atomic mem;              /* the slots, once mapped */
};

/* A static slab `name` of nslots (a multiple of 64) slots of slot_type. */
#define SLAB_DEFINE(name, slot_type, nslots)                               \
	_Static_assert((nslots) % 64 == 0 && (nslots) > 0,                 \
		       "slab slots come in bitmap words of 64");            \
	static struct slab_word name##_words[(nslots) / 64];               \
	static struct slab name = { sizeof(slot_type), (nslots) / 64,      \
				    name##_words, NULL }

/* The slot array, mapped by the first caller; NULL if it could not be.
 * For slab_claim(). */
char *slab_map(struct slab *sl);

/*
 * Claims slot `near` (0 .. slots - 1) if it is free, else the lowest free
 * slot of near's bitmap word, else of the words after it (wrapping), and
 * returns it, not cleared: the caller initialises what it needs.  NULL
 * when every slot is taken or the array could not be mapped.  Acquire
 * order, so that the slot's previous owner's writes (released with the
 * bit) are seen before it is reused.  Inline: a span record is claimed
 * for every span.
 */
static inline void *slab_claim(struct slab *sl, size_t near)
{
	char *base = atomic_load_explicit(&sl->mem, memory_order_acquire);
	size_t first = near / 64 % sl->nwords, w = first;
	uint64_t liked = (uint64_t)1 << (near % 64);

	if (__builtin_expect(!base, 0) && !(base = slab_map(sl)))
		return NULL;
	do {
		_Atomic uint64_t *word = &sl->words[w].bits;
		uint64_t bits = atomic_load_explicit(word,
						     memory_order_relaxed);

		while (bits != UINT64_MAX) {
			/* The liked bit, or the lowest clear one. */
			uint64_t bit = w == first && !(bits & liked) ?
				       liked : ~bits & (bits + 1);

			if (atomic_compare_exchange_weak_explicit(
				    word, &bits, bits | bit,
				    memory_order_acquire,
				    memory_order_relaxed))
				return base + (w * 64 + (size_t)
					       __builtin_ctzll(bit)) *
					      sl->slot_size;
		}
		if (++w == sl->nwords)
			w = 0;
	} while (w != first);
	return NULL;
}

/* Gives back the slot of index i (from slab_index); it may be handed out
 * again at once. */
static inline void slab_release(struct slab *sl, size_t i)
{
	atomic_fetch_and_explicit(&sl->words[i / 64].bits,
				  ~((uint64_t)1 << (i % 64)),
				  memory_order_release);
}

/* The index of a slot slab_claim returned: 0 .. slots - 1. */
static inline size_t slab_index(const struct slab *sl, const void *slot)
{
	const char *base = atomic_load_explicit(&sl->mem,
						memory_order_relaxed);

	return (size_t)((const char *)slot - base) / sl->slot_size;
}

/* The slot of index i, or NULL while nothing was ever claimed. */
void *slab_at(const struct slab *sl, size_t i);

/* Slots taken now (a snapshot under concurrency). */
size_t slab_in_use(const struct slab *sl);

#endif
