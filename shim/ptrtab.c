/*
 * The pointer-keyed table (see ptrtab.h): claiming and walking slots.
 * Lookups and freeing are inline in the header.  Called on application
 * threads, from inside hooks: no allocation, no locks.
 */
#include "ptrtab.h"

void *ptrtab_claim(const struct ptrtab *t, const void *key)
{
	for (unsigned i = 0; ptrtab_is_key(key) && i < t->probes; i++) {
		_Atomic uintptr_t *k = ptrtab_probe(t, key, i);
		uintptr_t v = atomic_load_explicit(k, memory_order_relaxed);

		/* A failed exchange reloads v: another thread took the
		 * slot (move on) or it is still free (try again). */
		while (v == 0 || v == PTRTAB_TOMB) {
			if (atomic_compare_exchange_weak(k, &v,
							 (uintptr_t)key))
				return (void *)k;
		}
	}
	return NULL;
}

const void *ptrtab_key(const struct ptrtab *t, size_t i)
{
	const void *k = (const void *)atomic_load_explicit(
		ptrtab_at(t, i), memory_order_acquire);

	return ptrtab_is_key(k) ? k : NULL;
}
