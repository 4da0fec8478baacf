/*
 * The slot pool (see slab.h): what is not inline there, the mapping of
 * the array on first use and the walks over it.  Runs on any application
 * thread, inside signal handlers too.
 */
#include <sys/mman.h>

#include "slab.h"

static size_t slab_bytes(const struct slab *sl)
{
	return (size_t)sl->nwords * 64 * sl->slot_size;
}

char *slab_map(struct slab *sl)
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
			&sl->words[w].bits, memory_order_relaxed));
	return n;
}
