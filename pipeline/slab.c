/*
 * The slot pool (see slab.h).  Claiming takes the lowest clear bit of the
 * first bitmap word that has one, with acquire order so that the slot's
 * previous owner's writes (released with the bit) are seen before the
 * slot is reused.  Runs on any application thread, inside signal handlers
 * too.
 */
#include <sys/mman.h>

#include "slab.h"

static size_t slab_bytes(const struct slab *sl)
{
	return (size_t)sl->nwords * 64 * sl->slot_size;
}

/* The slot array, mapped by the first caller. */
static char *slab_base(struct slab *sl)
{
	void *mem = atomic_load_explicit(&sl->mem, memory_order_acquire);
	void *expect = NULL;

	if (mem)
		return mem;
	mem = mmap(NULL, slab_bytes(sl), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong(&sl->mem, &expect, mem)) {
		/* Another thread won the race: use its mapping. */
		munmap(mem, slab_bytes(sl));
		return expect;
	}
	return mem;
}

void *slab_claim(struct slab *sl)
{
	char *base = slab_base(sl);

	if (!base)
		return NULL;
	for (size_t w = 0; w < sl->nwords; w++) {
		uint64_t bits = atomic_load_explicit(&sl->bits[w],
						     memory_order_relaxed);

		while (bits != UINT64_MAX) {
			int bit = __builtin_ctzll(~bits);

			if (atomic_compare_exchange_weak_explicit(
				    &sl->bits[w], &bits,
				    bits | ((uint64_t)1 << bit),
				    memory_order_acquire,
				    memory_order_relaxed))
				return base + (w * 64 + (size_t)bit) *
					      sl->slot_size;
		}
	}
	return NULL;
}

void slab_release(struct slab *sl, size_t i)
{
	atomic_fetch_and_explicit(&sl->bits[i / 64],
				  ~((uint64_t)1 << (i % 64)),
				  memory_order_release);
}

size_t slab_index(const struct slab *sl, const void *slot)
{
	const char *base = atomic_load_explicit(&sl->mem,
						memory_order_relaxed);

	return (size_t)((const char *)slot - base) / sl->slot_size;
}

void *slab_at(const struct slab *sl, size_t i)
{
	char *base = atomic_load_explicit(&sl->mem, memory_order_relaxed);

	return base ? base + i * sl->slot_size : NULL;
}

size_t slab_in_use(const struct slab *sl)
{
	size_t n = 0;

	for (size_t w = 0; w < sl->nwords; w++)
		n += (size_t)__builtin_popcountll(atomic_load_explicit(
			&sl->bits[w], memory_order_relaxed));
	return n;
}
