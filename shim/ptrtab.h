/*
 * A fixed, lock-free table that finds state by a pointer key (a PGconn, a
 * sqlite3_stmt) on application threads: open addressing, linear probing
 * over a bounded window of slots.  The slots are the caller's: an array of
 * its own structs, each starting with `_Atomic uintptr_t key`, so that a
 * lookup and what the caller keeps beside the key share a cache line.
 *
 * A key goes 0 (never used) -> pointer -> PTRTAB_TOMB (freed) -> pointer
 * ...; never back to 0, so a lookup may stop at the first 0.  A slot is
 * claimed with one compare-and-swap and freed with one release store, so
 * two threads never hold one slot.  Keeping one key in one slot is the
 * caller's part: it claims a key only after ptrtab_find() missed it, and
 * a key is not claimed by two threads at once (a PGconn or a statement
 * being created belongs to one thread).
 */
#ifndef OTELSHIM_PTRTAB_H
#define OTELSHIM_PTRTAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fibhash.h"

#define PTRTAB_TOMB ((uintptr_t)1)

struct ptrtab {
	void *slots;            /* 1 << bits structs, stride bytes apart */
	size_t stride;
	unsigned bits;
	unsigned probes;        /* slots looked at from a key's home */
};

/* A table over array, whose elements start with their key. */
#define PTRTAB(array, nbits, nprobes)                                     \
	{ (array), sizeof((array)[0]), (nbits), (nprobes) }

static inline size_t ptrtab_size(const struct ptrtab *t)
{
	return (size_t)1 << t->bits;
}

/* The key of slot i. */
static inline _Atomic uintptr_t *ptrtab_at(const struct ptrtab *t, size_t i)
{
	return (_Atomic uintptr_t *)((char *)t->slots + i * t->stride);
}

/* Whether key can be one: 0 and PTRTAB_TOMB mark free slots. */
static inline int ptrtab_is_key(const void *key)
{
	return (uintptr_t)key > PTRTAB_TOMB;
}

/* The key of the i-th slot of key's window, which starts at a Fibonacci
 * hash of key's address and wraps around the table. */
static inline _Atomic uintptr_t *ptrtab_probe(const struct ptrtab *t,
					      const void *key, unsigned i)
{
	size_t home = (size_t)fib_hash((uintptr_t)key >> 4, t->bits);

	return ptrtab_at(t, (home + i) & (ptrtab_size(t) - 1));
}

/*
 * The slot holding key, or NULL (always for NULL, which no slot holds).
 * Inline: sqlite3_step() asks once per row.
 */
static inline void *ptrtab_find(const struct ptrtab *t, const void *key)
{
	for (unsigned i = 0; ptrtab_is_key(key) && i < t->probes; i++) {
		_Atomic uintptr_t *k = ptrtab_probe(t, key, i);
		uintptr_t v = atomic_load_explicit(k, memory_order_acquire);

		if (v == (uintptr_t)key)
			return (void *)k;
		if (v == 0)
			break;
	}
	return NULL;
}

/*
 * A free slot in key's window, now holding key; NULL when every slot of
 * the window is taken (or key is NULL).  What the caller keeps in the
 * slot beside the key is its own to reset.
 */
void *ptrtab_claim(const struct ptrtab *t, const void *key);

/*
 * ptrtab_find(), then ptrtab_claim() when key was not found, in one walk
 * of the window: the slot holding key (*found set), else the first free
 * slot of the window, now holding key (another thread taking that slot
 * first sends it the way of ptrtab_claim()); NULL when neither.
 */
static inline void *ptrtab_find_or_claim(const struct ptrtab *t,
					 const void *key, int *found)
{
	_Atomic uintptr_t *k, *free_k = NULL;
	uintptr_t v = 0, w;
	unsigned i;

	*found = 0;
	if (!ptrtab_is_key(key))
		return NULL;
	/* Up to the window's first free slot... */
	for (i = 0; i < t->probes; i++) {
		k = ptrtab_probe(t, key, i);
		v = atomic_load_explicit(k, memory_order_acquire);
		if (v == (uintptr_t)key) {
			*found = 1;
			return (void *)k;
		}
		if (v <= PTRTAB_TOMB) {
			free_k = k;
			break;
		}
	}
	/* ... and past a freed one, only key or a never-used slot (the
	 * end of every chain) still matter. */
	for (i++; free_k && v == PTRTAB_TOMB && i < t->probes; i++) {
		k = ptrtab_probe(t, key, i);
		w = atomic_load_explicit(k, memory_order_acquire);
		if (w == (uintptr_t)key) {
			*found = 1;
			return (void *)k;
		}
		if (w == 0)
			break;
	}
	if (free_k && atomic_compare_exchange_strong(free_k, &v,
						     (uintptr_t)key))
		return (void *)free_k;
	return ptrtab_claim(t, key);
}

/* Frees a slot ptrtab_find() or ptrtab_claim() returned.  Inline: one
 * store, on every sqlite3_finalize(). */
static inline void ptrtab_free(void *slot)
{
	atomic_store_explicit((_Atomic uintptr_t *)slot, PTRTAB_TOMB,
			      memory_order_release);
}

/* The key slot i holds, or NULL when it is free: for walking the table. */
const void *ptrtab_key(const struct ptrtab *t, size_t i);

#endif
