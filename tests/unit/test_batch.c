/*
 * The batch loop with its exporter thread, as the library runs it, minus
 * the exporter module (absent here, so every batch counts as failed):
 * several producers racing the thread's start, the ring's bound, the
 * flush at shutdown and the counters adding up.  Also run under
 * ThreadSanitizer.
 * links: pipeline/batch.c pipeline/ring.c pipeline/status.c
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/batch.h"

#define PRODUCERS 4
#define PER_PRODUCER 3000

static struct config cfg;

static void *producer(void *arg)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.trace_flags = SPAN_FLAG_SAMPLED;
	for (int i = 0; i < PER_PRODUCER; i++) {
		s.start_ns = (uint64_t)(uintptr_t)arg << 32 | (uint64_t)i;
		batch_submit(&s);
	}
	return NULL;
}

START_TEST(producers_thread_and_shutdown)
{
	pthread_t th[PRODUCERS];
	struct batch_stats st;
	struct batch_host host = { .cfg = &cfg };

	cfg.bsp_max_queue_size = 512;
	cfg.bsp_max_export_batch_size = 64;
	cfg.bsp_schedule_delay_ms = 5;
	cfg.bsp_export_timeout_ms = 2000;
	batch_init(&host);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		pthread_create(&th[i], NULL, producer, (void *)i);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	batch_shutdown();
	batch_get_stats(&st);
	/* Every span was handed over (none lost to the thread's start). */
	ck_assert_uint_eq(st.recorded, PRODUCERS * PER_PRODUCER);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_int_eq(st.thread_running, 0);
	/* No module: each one either failed to export or found the ring
	 * full, and nothing is counted twice. */
	ck_assert_uint_eq(st.exp.spans_failed + st.dropped_queue,
			  PRODUCERS * PER_PRODUCER);
	ck_assert_uint_eq(st.exp.spans_exported, 0);
	/* After shutdown nothing more is taken. */
	producer((void *)9);
	batch_get_stats(&st);
	ck_assert_uint_eq(st.queued, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("batch");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, producers_thread_and_shutdown);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
