/*
 * The pointer-keyed table: claiming, finding and freeing slots, tombstones
 * that keep lookups going past freed slots, a full probe window, walking
 * the table, and threads claiming and freeing slots at once (run under
 * TSan too: no two threads ever hold one slot).
 * links: shim/ptrtab.c
 */
#include <pthread.h>
#include <stdint.h>

#include "shim/ptrtab.h"
#include "unit.h"

struct slot {
	_Atomic uintptr_t key;
	_Atomic int holders;    /* threads that hold the slot right now */
	int value;
};

#define BITS 6
#define SLOTS (1u << BITS)

static struct slot slots[SLOTS];
static const struct ptrtab tab = PTRTAB(slots, BITS, 8);

static void clear(void)
{
	memset(slots, 0, sizeof(slots));
}

/* A distinct fake pointer, aligned like a real object. */
static const void *key(uintptr_t i)
{
	return (const void *)(uintptr_t)(0x10000 + 64 * i);
}

/* A key whose window starts at home, found by trying candidates. */
static const void *key_at(size_t home, uintptr_t *next)
{
	for (;; (*next)++)
		if (ptrtab_probe(&tab, key(*next), 0) == ptrtab_at(&tab, home))
			return key((*next)++);
}

START_TEST(claim_find_free)
{
	struct slot *a, *b;

	clear();
	ck_assert_ptr_null(ptrtab_find(&tab, key(1)));
	a = ptrtab_claim(&tab, key(1));
	ck_assert_ptr_nonnull(a);
	a->value = 7;
	b = ptrtab_claim(&tab, key(2));
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_eq(ptrtab_find(&tab, key(1)), a);
	ck_assert_int_eq(((struct slot *)ptrtab_find(&tab, key(1)))->value, 7);
	ck_assert_ptr_eq(ptrtab_find(&tab, key(2)), b);
	ptrtab_free(a);
	ck_assert_ptr_null(ptrtab_find(&tab, key(1)));
	ck_assert_ptr_eq(ptrtab_find(&tab, key(2)), b);
	/* NULL is never a key. */
	ck_assert_ptr_null(ptrtab_find(&tab, NULL));
	ck_assert_ptr_null(ptrtab_claim(&tab, NULL));
}
END_TEST

/* Keys that share a home: a freed slot in front keeps later ones found,
 * and is claimed again first. */
START_TEST(tombstones)
{
	uintptr_t next = 0;
	const void *k1 = key_at(5, &next), *k2 = key_at(5, &next);
	const void *k3 = key_at(5, &next);
	struct slot *s1, *s2, *s3;

	clear();
	s1 = ptrtab_claim(&tab, k1);
	s2 = ptrtab_claim(&tab, k2);
	ck_assert_ptr_eq(s1, &slots[5]);
	ck_assert_ptr_eq(s2, &slots[6]);
	ptrtab_free(s1);
	ck_assert_uint_eq(atomic_load(&slots[5].key), PTRTAB_TOMB);
	ck_assert_ptr_eq(ptrtab_find(&tab, k2), s2);
	s3 = ptrtab_claim(&tab, k3);
	ck_assert_ptr_eq(s3, &slots[5]);
	ck_assert_ptr_eq(ptrtab_find(&tab, k3), s3);
	ck_assert_ptr_null(ptrtab_find(&tab, k1));
}
END_TEST

/* The window wraps around the end of the table and is bounded. */
START_TEST(full_window)
{
	uintptr_t next = 0;
	const void *k[9];
	struct slot *s;

	clear();
	for (int i = 0; i < 9; i++)
		k[i] = key_at(SLOTS - 3, &next);
	for (int i = 0; i < 8; i++) {
		s = ptrtab_claim(&tab, k[i]);
		ck_assert_ptr_eq(s, &slots[(SLOTS - 3 + i) % SLOTS]);
	}
	ck_assert_ptr_null(ptrtab_claim(&tab, k[8]));
	ck_assert_ptr_null(ptrtab_find(&tab, k[8]));
	ck_assert_ptr_eq(ptrtab_find(&tab, k[7]), &slots[4]);
	ptrtab_free(&slots[0]);
	ck_assert_ptr_eq(ptrtab_claim(&tab, k[8]), &slots[0]);
}
END_TEST

/* ptrtab_find_or_claim() gives what ptrtab_find() and then, on a miss,
 * ptrtab_claim() give: a key held past a tombstone is found (not claimed
 * again in the tombstone), a new one takes the first free slot (the
 * tombstone), a full window gives NULL, and NULL is never a key. */
START_TEST(find_or_claim)
{
	uintptr_t next = 0;
	const void *k[9];
	struct slot *s;
	int found = -1;

	clear();
	for (int i = 0; i < 9; i++)
		k[i] = key_at(SLOTS - 3, &next);
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[0], &found),
			 &slots[SLOTS - 3]);
	ck_assert_int_eq(found, 0);
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[1], &found),
			 &slots[SLOTS - 2]);
	ck_assert_int_eq(found, 0);
	ptrtab_free(&slots[SLOTS - 3]);
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[1], &found),
			 &slots[SLOTS - 2]);
	ck_assert_int_eq(found, 1);
	ck_assert_uint_eq(atomic_load(&slots[SLOTS - 3].key), PTRTAB_TOMB);
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[2], &found),
			 &slots[SLOTS - 3]);
	ck_assert_int_eq(found, 0);
	for (int i = 3; i < 8; i++) {
		s = ptrtab_find_or_claim(&tab, k[i], &found);
		ck_assert_ptr_eq(s, &slots[(SLOTS - 3 + i - 1) % SLOTS]);
		ck_assert_int_eq(found, 0);
	}
	/* Window: k[2], k[1], k[3] .. k[7]; one slot left. */
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[0], &found),
			 &slots[(SLOTS - 3 + 7) % SLOTS]);
	ck_assert_ptr_null(ptrtab_find_or_claim(&tab, k[8], &found));
	ck_assert_int_eq(found, 0);
	ck_assert_ptr_eq(ptrtab_find_or_claim(&tab, k[7], &found),
			 &slots[(SLOTS - 3 + 6) % SLOTS]);
	ck_assert_int_eq(found, 1);
	ck_assert_ptr_null(ptrtab_find_or_claim(&tab, NULL, &found));
	ck_assert_int_eq(found, 0);
}
END_TEST

START_TEST(walk)
{
	size_t live = 0;

	clear();
	for (uintptr_t i = 1; i <= 10; i++)
		ck_assert_ptr_nonnull(ptrtab_claim(&tab, key(i)));
	ptrtab_free(ptrtab_find(&tab, key(4)));
	for (size_t i = 0; i < ptrtab_size(&tab); i++) {
		const void *k = ptrtab_key(&tab, i);

		if (!k)
			continue;
		live++;
		ck_assert_ptr_ne(k, key(4));
		ck_assert_ptr_eq(ptrtab_find(&tab, k), &slots[i]);
	}
	ck_assert_uint_eq(live, 9);
}
END_TEST

#define THREADS 4
#define ROUNDS 20000

/* Each thread claims, checks and frees keys of its own; the table is
 * small enough that windows overlap all the time. */
static void *churn(void *arg)
{
	uintptr_t base = (uintptr_t)arg * 1000;
	int failed = 0;

	for (int r = 0; r < ROUNDS; r++) {
		const void *k = key(base + (uintptr_t)(r % 40));
		struct slot *s = ptrtab_claim(&tab, k);

		if (!s)
			continue;   /* window full: allowed */
		if (atomic_fetch_add(&s->holders, 1) != 0)
			failed = 1;
		s->value = r;
		if (ptrtab_find(&tab, k) != s || s->value != r)
			failed = 1;
		atomic_fetch_sub(&s->holders, 1);
		ptrtab_free(s);
		if (ptrtab_find(&tab, k))
			failed = 1;
	}
	return (void *)(uintptr_t)failed;
}

START_TEST(threads)
{
	pthread_t t[THREADS];
	void *failed;

	clear();
	for (uintptr_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn,
						(void *)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &failed), 0);
		ck_assert_ptr_null(failed);
	}
	for (size_t i = 0; i < ptrtab_size(&tab); i++)
		ck_assert_ptr_null(ptrtab_key(&tab, i));
}
END_TEST

UNIT_MAIN("ptrtab", claim_find_free, tombstones, full_window,
	  find_or_claim, walk, threads)
