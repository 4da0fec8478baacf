/*
 * The batch loop with its exporter thread, as the library runs it, minus
 * the exporter module (absent here, so every batch counts as failed):
 * several producers racing the thread's start, the ring's bound, the
 * flush at shutdown and the counters adding up; a forked child that
 * starts with nothing of its parent's.  Also run under ThreadSanitizer.
 * And the check the loader makes before it calls into a module: every
 * struct crossing the boundary the same size on both sides.  And the
 * zero bytes the exporter's state and the fork guard take as unlocked.
 * links: pipeline/batch.c pipeline/pace.c pipeline/ring.c pipeline/span_sql.c pipeline/sql_memo.c pipeline/record.c pipeline/slab.c pipeline/status.c
 */
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/batch.h"
#include "unit.h"

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

/* ThreadSanitizer does not let a child of a threaded process start
 * threads, and AddressSanitizer's allocator may be left locked in one by
 * the parent's other threads (not made fork-safe): there the child stops
 * short of starting its own exporter thread. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define NO_THREADS_AFTER_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define NO_THREADS_AFTER_FORK 1
#endif
#endif

/* What a forked child must find: no ring, no thread, nothing counted, all
 * without its fork handler writing the state (fork() wiped it).  1 if so. */
static int child_starts_clean(void)
{
	struct batch_stats st;

	batch_after_fork_child();
	batch_get_stats(&st);
	if (st.recorded || st.queued || st.dropped_queue || st.thread_running ||
	    st.exp.spans_failed || st.exp.spans_exported)
		return 0;
#ifndef NO_THREADS_AFTER_FORK
	/* Its own spans start its own thread, past the load lock the parent
	 * held across fork(), and are flushed at its exit. */
	producer((void *)7);
	batch_get_stats(&st);
	if (st.recorded != PER_PRODUCER)
		return 0;
	batch_shutdown();
	batch_get_stats(&st);
	if (st.queued || st.thread_running ||
	    st.exp.spans_failed + st.dropped_queue != PER_PRODUCER)
		return 0;
#endif
	return 1;
}

START_TEST(fork_child_starts_clean)
{
	struct batch_stats st;
	struct batch_host host = { .cfg = &cfg };
	pid_t pid;
	int status = -1;

	cfg.bsp_max_queue_size = 512;
	cfg.bsp_max_export_batch_size = 64;
	cfg.bsp_schedule_delay_ms = 5;
	cfg.bsp_export_timeout_ms = 2000;
	/* Room to drain at shutdown under a sanitizer on a busy machine. */
	cfg.exit_timeout_ms = 5000;
	batch_init(&host);
	producer((void *)1);
	batch_get_stats(&st);
	ck_assert_int_eq(st.thread_running, 1);
	batch_before_fork();
	pid = fork();
	if (pid == 0)
		_exit(child_starts_clean() ? 0 : 1);
	batch_after_fork_parent();
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent goes on with its own ring and thread. */
	producer((void *)2);
	batch_shutdown();
	batch_get_stats(&st);
	ck_assert_uint_eq(st.recorded, 2 * PER_PRODUCER);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.exp.spans_failed + st.dropped_queue,
			  2 * PER_PRODUCER);
}
END_TEST

/* A module built against other headers is refused, and the log line
 * says what differs. */
START_TEST(module_abi_check)
{
	static const struct exporter_ops same = {
		.abi = EXPORTER_ABI_THIS_BUILD,
	};
	/* What a module of ABI version 2 exported: an int, then the
	 * calls; the loader must not read sizes from it. */
	static const struct {
		int abi_version;
		void *(*create)(const struct exporter_host *host);
	} v2 = { 2, NULL };
	struct exporter_abi a;
	uint32_t theirs = 0, ours = 0;

	ck_assert_ptr_null(exporter_abi_mismatch(&same.abi, &theirs, &ours));
	ck_assert_uint_eq(same.abi.span_size, sizeof(struct span));
	ck_assert_uint_eq(same.abi.config_size, sizeof(struct config));
	ck_assert_uint_eq(same.abi.ops_size, sizeof(struct exporter_ops));

	a = same.abi;
	a.span_size += 8;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "struct span");
	ck_assert_uint_eq(theirs, sizeof(struct span) + 8);
	ck_assert_uint_eq(ours, sizeof(struct span));
	a = same.abi;
	a.config_size -= 8;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "struct config");
	a = same.abi;
	a.host_size = 0;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "struct exporter_host");
	a = same.abi;
	a.counters_size++;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "struct exporter_counters");
	a = same.abi;
	a.ops_size = 4;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "struct exporter_ops");
	a = same.abi;
	a.version++;
	a.span_size++;
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "version");
	memcpy(&a, &v2, sizeof(int));
	ck_assert_str_eq(exporter_abi_mismatch(&a, &theirs, &ours),
			 "version");
	ck_assert_uint_eq(theirs, 2);
	ck_assert_uint_eq(ours, EXPORTER_ABI_VERSION);
}
END_TEST

/* The exporter's load lock and the fork guard's lock live in a page that
 * is never initialised but zero (mapped fresh, wiped at fork): zero
 * bytes must be the C library's unlocked default. */
START_TEST(zero_bytes_are_unlocked_locks)
{
	static const pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
	static const pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
	static const char zero[sizeof(mutex) > sizeof(rwlock) ?
			       sizeof(mutex) : sizeof(rwlock)];

	ck_assert_mem_eq(&mutex, zero, sizeof(mutex));
	ck_assert_mem_eq(&rwlock, zero, sizeof(rwlock));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, producers_thread_and_shutdown);
	tcase_add_test(tc, fork_child_starts_clean);
	tcase_add_test(tc, module_abi_check);
	tcase_add_test(tc, zero_bytes_are_unlocked_locks);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
