/*
 * The slot pool: the slot asked for, else the lowest free slot of its
 * bitmap word and the words after it; exhaustion and reuse; and claims
 * and releases racing on several threads (run under TSan too), each
 * asking for the slot it gave back last: no slot is ever held by two
 * owners, a slot's previous owner's writes are seen by the next, and
 * exactly the pool's size can be held at once.
 * links: pipeline/slab.c
 */
#include <pthread.h>

#include "pipeline/slab.h"
#include "unit.h"

#define NSLOTS   128
#define THREADS  8
#define ROUNDS   20000
#define HOLD     4       /* slots one churning thread holds at once */

/* owner is only ever accessed relaxed, so that the one ordering between
 * a slot's successive owners is the slab's own: TSan reports data if
 * claim and release do not order it. */
struct slot {
	_Atomic int owner;      /* 0: free; else the claiming thread's id */
	int data;               /* plain */
	char pad[56];
};

SLAB_DEFINE(pool, struct slot, NSLOTS);
SLAB_DEFINE(never, struct slot, 64);

START_TEST(lowest_first)
{
	struct slot *a, *b, *c;

	ck_assert_ptr_null(slab_at(&never, 0));
	ck_assert_uint_eq(slab_in_use(&never), 0);
	a = slab_claim(&pool, 0);
	b = slab_claim(&pool, 0);
	c = slab_claim(&pool, 0);
	ck_assert_uint_eq(slab_index(&pool, a), 0);
	ck_assert_uint_eq(slab_index(&pool, b), 1);
	ck_assert_uint_eq(slab_index(&pool, c), 2);
	ck_assert_ptr_eq(slab_at(&pool, 1), b);
	ck_assert_uint_eq((uintptr_t)b - (uintptr_t)a, sizeof(struct slot));
	ck_assert_uint_eq(slab_in_use(&pool), 3);
	slab_release(&pool, 1);
	ck_assert_uint_eq(slab_in_use(&pool), 2);
	ck_assert_ptr_eq(slab_claim(&pool, 0), b);
	slab_release(&pool, 0);
	slab_release(&pool, 1);
	slab_release(&pool, 2);
	ck_assert_uint_eq(slab_in_use(&pool), 0);
}
END_TEST

START_TEST(near_first)
{
	/* The slot asked for, in either word. */
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 70)), 70);
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 5)), 5);
	/* Taken: the lowest free of its word, not of the pool. */
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 70)), 64);
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 5)), 0);
	/* Its word full: the next word's lowest, wrapping to the first. */
	for (size_t i = 64; i < NSLOTS; i++)
		if (i != 64 && i != 70)
			ck_assert_uint_eq(slab_index(&pool,
						     slab_claim(&pool, i)), i);
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 127)), 1);
	slab_release(&pool, 0);
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 100)), 0);
	ck_assert_uint_eq(slab_index(&pool, slab_claim(&pool, 100)), 2);
	ck_assert_uint_eq(slab_in_use(&pool), 64 + 4);
	for (size_t i = 0; i < NSLOTS; i++)
		if (i < 3 || i == 5 || i >= 64)
			slab_release(&pool, i);
	ck_assert_uint_eq(slab_in_use(&pool), 0);
}
END_TEST

START_TEST(exhaustion)
{
	static struct slot *held[NSLOTS];

	for (size_t i = 0; i < NSLOTS; i++) {
		held[i] = slab_claim(&pool, 0);
		ck_assert_ptr_nonnull(held[i]);
		ck_assert_uint_eq(slab_index(&pool, held[i]), i);
	}
	ck_assert_ptr_null(slab_claim(&pool, 0));
	ck_assert_uint_eq(slab_in_use(&pool), NSLOTS);
	/* A slot given back in the second bitmap word is the one reused. */
	slab_release(&pool, 100);
	ck_assert_ptr_eq(slab_claim(&pool, 0), held[100]);
	ck_assert_ptr_null(slab_claim(&pool, 0));
	ck_assert_ptr_null(slab_claim(&pool, 100));
	for (size_t i = 0; i < NSLOTS; i++)
		slab_release(&pool, i);
	ck_assert_uint_eq(slab_in_use(&pool), 0);
}
END_TEST

struct worker {
	pthread_t th;
	int id;                 /* 1.. */
	long claimed;
	long exhausted;         /* claims that found every slot taken */
	int failed;             /* a slot came with an owner or stale data */
};

/* Marks s as ours; fails if another thread holds it. */
static int take(struct worker *w, struct slot *s)
{
	int free_ = 0;

	if (!atomic_compare_exchange_strong_explicit(&s->owner, &free_, w->id,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return -1;
	s->data = w->id;
	return 0;
}

/* Checks that s is still ours and gives it back. */
static int give(struct worker *w, struct slot *s)
{
	int bad = s->data != w->id ||
		  atomic_load_explicit(&s->owner, memory_order_relaxed) !=
		  w->id;

	atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
	slab_release(&pool, slab_index(&pool, s));
	return bad ? -1 : 0;
}

/* Claims, without giving back, until NSLOTS attempts. */
static void *grab(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NSLOTS; i++) {
		struct slot *s = slab_claim(&pool, (size_t)w->id * 17 % NSLOTS);

		if (!s) {
			w->exhausted++;
			continue;
		}
		w->claimed++;
		if (take(w, s) < 0)
			w->failed = 1;
	}
	return NULL;
}

START_TEST(threads_exhaust)
{
	static struct worker ws[THREADS];
	long claimed = 0, exhausted = 0;

	for (int i = 0; i < THREADS; i++) {
		ws[i].id = i + 1;
		pthread_create(&ws[i].th, NULL, grab, &ws[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(ws[i].th, NULL);
		ck_assert_int_eq(ws[i].failed, 0);
		claimed += ws[i].claimed;
		exhausted += ws[i].exhausted;
	}
	/* Nobody gave back: every slot once, every other attempt counted. */
	ck_assert_int_eq(claimed, NSLOTS);
	ck_assert_int_eq(exhausted, (long)THREADS * NSLOTS - NSLOTS);
	ck_assert_uint_eq(slab_in_use(&pool), NSLOTS);
	for (size_t i = 0; i < NSLOTS; i++) {
		struct slot *s = slab_at(&pool, i);

		ck_assert_int_ne(atomic_load(&s->owner), 0);
		atomic_store(&s->owner, 0);
		slab_release(&pool, i);
	}
	ck_assert_uint_eq(slab_in_use(&pool), 0);
}
END_TEST

/* Claims and gives back ROUNDS times, holding up to HOLD slots, each time
 * asking for the slot it gave back last, as span records are claimed. */
static void *churn(void *arg)
{
	struct worker *w = arg;
	struct slot *held[HOLD] = { NULL };
	size_t last = (size_t)w->id * 17 % NSLOTS;

	for (int i = 0; i < ROUNDS; i++) {
		struct slot **h = &held[i % HOLD];

		if (*h) {
			last = slab_index(&pool, *h);
			if (give(w, *h) < 0)
				w->failed = 1;
		}
		*h = slab_claim(&pool, last);
		if (!*h) {
			w->exhausted++;
			continue;
		}
		w->claimed++;
		if (take(w, *h) < 0)
			w->failed = 1;
	}
	for (int i = 0; i < HOLD; i++)
		if (held[i] && give(w, held[i]) < 0)
			w->failed = 1;
	return NULL;
}

START_TEST(threads_churn)
{
	static struct worker ws[THREADS];
	long claimed = 0;

	/* Leave fewer free slots than the threads want, so that claims
	 * race for the last ones and some find none. */
	for (int i = 0; i < NSLOTS - THREADS * HOLD / 2; i++)
		ck_assert_ptr_nonnull(slab_claim(&pool, 0));
	for (int i = 0; i < THREADS; i++) {
		ws[i].id = i + 1;
		pthread_create(&ws[i].th, NULL, churn, &ws[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(ws[i].th, NULL);
		ck_assert_int_eq(ws[i].failed, 0);
		claimed += ws[i].claimed;
		ck_assert_int_eq(ws[i].claimed + ws[i].exhausted, ROUNDS);
	}
	ck_assert_int_gt(claimed, 0);
	ck_assert_uint_eq(slab_in_use(&pool), NSLOTS - THREADS * HOLD / 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = tcase_create("slab");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lowest_first);
	tcase_add_test(tc, near_first);
	tcase_add_test(tc, exhaustion);
	tcase_add_test(tc, threads_exhaust);
	tcase_add_test(tc, threads_churn);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
