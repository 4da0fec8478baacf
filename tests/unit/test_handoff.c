/*
 * The request table and the hand-off rules (shim/reqtab.c): refs go stale
 * for good when a request ends, even when its slot is reused; an event
 * wait forgets the request served; a semaphore released while serving a
 * request hands it to a blocked waiter, a thread reading its own request
 * keeps it, two releases for different requests hand over nothing, a
 * semaphore several threads acquire hands over marks only; the
 * one-in-flight rule needs the job to have begun during the request, alone;
 * and threads registering, reading and tagging at once (run under TSan
 * too: a reader never gets ids torn between two requests).
 * links: shim/reqtab.c
 */
#include <pthread.h>
#include <stdint.h>

#include "shim/reqtab.h"
#include "unit.h"

static uint64_t add(uint8_t n)
{
	uint8_t tid[16], sid[8];

	memset(tid, n, sizeof(tid));
	memset(sid, n, sizeof(sid));
	return reqtab_add(tid, sid, 1);
}

/* The id byte the parent of a span started now would have; -1: none. */
static int parent(void)
{
	struct req_ids ids;
	uint64_t ref;

	if (reqtab_parent(&ids, &ref) != 0)
		return -1;
	ck_assert_int_eq(ids.trace_id[0], ids.span_id[7]);
	return ids.trace_id[0];
}

static void reset(void)
{
	reqtab_serve(0, REQTAB_NONE);
	reqtab_event_wait();
	ck_assert_int_eq(reqtab_inflight(), 0);
}

START_TEST(stale_refs_stay_stale)
{
	struct req_ids ids;
	uint64_t a, b;

	reset();
	a = add(7);
	ck_assert_uint_ne(a, 0);
	ck_assert_int_eq(reqtab_get(a, &ids), 0);
	ck_assert_uint_eq(ids.trace_id[3], 7);
	reqtab_remove(a);
	ck_assert_int_eq(reqtab_get(a, &ids), -1);
	reqtab_remove(a);               /* twice: no effect */
	ck_assert_int_eq(reqtab_inflight(), 0);
	/* Every slot taken once more: a's slot is reused, a stays stale. */
	for (int i = 0; i < REQTAB_SLOTS; i++) {
		b = add(9);
		ck_assert_uint_ne(b, a);
		ck_assert_int_eq(reqtab_get(a, &ids), -1);
		reqtab_remove(b);
	}
	ck_assert_int_eq(reqtab_get(0, &ids), -1);
}
END_TEST

START_TEST(full_table_refuses)
{
	uint64_t refs[REQTAB_SLOTS];

	reset();
	for (int i = 0; i < REQTAB_SLOTS; i++)
		ck_assert_uint_ne(refs[i] = add(1), 0);
	ck_assert_uint_eq(add(2), 0);
	for (int i = 0; i < REQTAB_SLOTS; i++)
		reqtab_remove(refs[i]);
	ck_assert_int_eq(reqtab_inflight(), 0);
}
END_TEST

START_TEST(serving_ends_at_event_wait_and_answer)
{
	uint64_t a;

	reset();
	a = add(3);
	reqtab_serve(a, REQTAB_READ);
	ck_assert_int_eq(parent(), 3);
	reqtab_event_wait();
	/* Gone: and the one-in-flight rule needs a job begun during it. */
	ck_assert_int_eq(parent(), -1);
	reqtab_serve(a, REQTAB_READ);
	reqtab_remove(a);               /* answered */
	ck_assert_int_eq(parent(), -1);
	ck_assert_uint_eq(reqtab_serving(NULL), 0);
}
END_TEST

START_TEST(one_in_flight)
{
	uint64_t a, b;

	reset();
	reqtab_event_woke();            /* a job begun before a */
	a = add(4);
	ck_assert_int_eq(parent(), -1);
	reqtab_event_woke();            /* a job begun during a, alone */
	ck_assert_int_eq(parent(), 4);
	b = add(5);                     /* two in flight: nobody */
	ck_assert_int_eq(parent(), -1);
	reqtab_remove(b);
	/* a alone again, but b began and ended since the job began; and
	 * a is no longer the latest started: undecided from now on. */
	ck_assert_int_eq(parent(), -1);
	reqtab_event_woke();
	ck_assert_int_eq(parent(), -1);
	reqtab_remove(a);
	b = add(6);                     /* a new one after the job began */
	ck_assert_int_eq(parent(), -1);
	reqtab_remove(b);
}
END_TEST

static int fake_sem[6];

/* This thread acquires sem once: from now on it is the semaphore's only
 * acquirer, so a request can be handed over through it. */
static void prime(const void *sem, uint64_t any)
{
	reqtab_serve(any, REQTAB_READ);
	reqtab_post(sem);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(sem, 1);
	/* The first acquisition seen hands over no request (a mark at
	 * most). */
	ck_assert_uint_eq(reqtab_serving(NULL), 0);
}

START_TEST(handoff_through_a_semaphore)
{
	uint64_t a, b;

	reset();
	a = add(10);
	b = add(11);
	for (int i = 0; i < 4; i++)
		prime(&fake_sem[i], a);
	/* Serving a, release; another job's thread blocks and wakes. */
	reqtab_serve(a, REQTAB_READ);
	reqtab_post(&fake_sem[0]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(&fake_sem[0], 1);
	ck_assert_int_eq(parent(), 10);
	ck_assert_uint_eq(reqtab_serving(NULL), a);
	/* A token taken without blocking hands nothing over. */
	reqtab_serve(b, REQTAB_READ);
	reqtab_post(&fake_sem[1]);
	reqtab_serve(a, REQTAB_HANDOFF);
	reqtab_acquired(&fake_sem[1], 0);
	ck_assert_int_eq(parent(), 10);
	/* Handed a, then woken by a thread serving b: no guess. */
	reqtab_serve(b, REQTAB_READ);
	reqtab_post(&fake_sem[2]);
	reqtab_serve(a, REQTAB_HANDOFF);
	reqtab_acquired(&fake_sem[2], 1);
	ck_assert_int_eq(parent(), -1);
	/* A thread that read its request keeps it through a lock. */
	reqtab_serve(b, REQTAB_READ);
	reqtab_post(&fake_sem[2]);
	reqtab_serve(a, REQTAB_READ);
	reqtab_acquired(&fake_sem[2], 1);
	ck_assert_int_eq(parent(), 10);
	/* Two releases for different requests: the tokens have no owner. */
	reqtab_serve(a, REQTAB_READ);
	reqtab_post(&fake_sem[3]);
	reqtab_serve(b, REQTAB_READ);
	reqtab_post(&fake_sem[3]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(&fake_sem[3], 1);
	ck_assert_int_eq(parent(), -1);
	reqtab_acquired(&fake_sem[3], 1);
	ck_assert_int_eq(parent(), -1);
	/* Drained: the next release speaks again. */
	reqtab_serve(b, REQTAB_READ);
	reqtab_post(&fake_sem[3]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(&fake_sem[3], 1);
	ck_assert_int_eq(parent(), 11);
	/* A request ended before the wake hands over nothing. */
	reqtab_serve(a, REQTAB_READ);
	reqtab_post(&fake_sem[0]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_remove(a);
	reqtab_acquired(&fake_sem[0], 1);
	ck_assert_int_eq(parent(), -1);
	reqtab_remove(b);
}
END_TEST

static void *take_once(void *sem)
{
	reqtab_acquired(sem, 0);
	return NULL;
}

START_TEST(shared_semaphore_hands_over_marks_only)
{
	pthread_t t;
	uint64_t a, b;

	reset();
	a = add(13);
	prime(&fake_sem[4], a);
	/* Another thread takes a token of it too: a pool's semaphore. */
	reqtab_serve(a, REQTAB_READ);
	reqtab_post(&fake_sem[4]);
	pthread_create(&t, NULL, take_once, &fake_sem[4]);
	pthread_join(t, NULL);
	/* a alone in flight when released: the mark decides. */
	reqtab_post(&fake_sem[4]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(&fake_sem[4], 1);
	ck_assert_int_eq(parent(), 13);
	ck_assert_uint_eq(reqtab_serving(NULL), 0);
	/* Two in flight when released: nothing. */
	b = add(14);
	reqtab_serve(a, REQTAB_READ);
	reqtab_post(&fake_sem[4]);
	reqtab_serve(0, REQTAB_NONE);
	reqtab_acquired(&fake_sem[4], 1);
	ck_assert_int_eq(parent(), -1);
	reqtab_remove(a);
	reqtab_remove(b);
}
END_TEST

START_TEST(thread_created_while_serving)
{
	uint64_t a;

	reset();
	a = add(12);
	reqtab_serve(a, REQTAB_READ);
	uint64_t v = reqtab_carried();
	reqtab_serve(0, REQTAB_NONE);
	reqtab_started(v);
	ck_assert_int_eq(parent(), 12);
	reqtab_remove(a);
	ck_assert_int_eq(parent(), -1);
}
END_TEST

/* Threads add, serve, post, acquire and read parents at once: a parent is
 * always one whole request (the id bytes agree), never a mix. */
static void *churn(void *arg)
{
	uint8_t n = (uint8_t)(uintptr_t)arg;

	for (int i = 0; i < 20000; i++) {
		uint64_t r = add(n);

		reqtab_serve(r, REQTAB_READ);
		reqtab_post(&fake_sem[i & 3]);
		reqtab_serve(0, REQTAB_NONE);
		reqtab_acquired(&fake_sem[(i + 1) & 3], 1);
		int p = parent();

		ck_assert(p == -1 || (p >= 1 && p <= 4));
		reqtab_event_woke();
		reqtab_remove(r);
	}
	return NULL;
}

START_TEST(threads_at_once)
{
	pthread_t t[4];

	reset();
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)(i + 1));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(reqtab_inflight(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("handoff");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stale_refs_stay_stale);
	tcase_add_test(tc, full_table_refuses);
	tcase_add_test(tc, serving_ends_at_event_wait_and_answer);
	tcase_add_test(tc, one_in_flight);
	tcase_add_test(tc, handoff_through_a_semaphore);
	tcase_add_test(tc, shared_semaphore_hands_over_marks_only);
	tcase_add_test(tc, thread_created_while_serving);
	tcase_add_test(tc, threads_at_once);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
