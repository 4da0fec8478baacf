/*
 * The loader guard's lock (see forkguard.h, common/loader.h).  A
 * reader-preferring rwlock: our threads take it shared, and may take it
 * again while they hold it (dlopen_beside inside stack_start), which a
 * waiting fork does not block; fork() takes it exclusively, so it waits
 * only for the uses under way, each a few milliseconds at most.
 *
 * The lock lives in a page that fork() hands the child zeroed
 * (MADV_WIPEONFORK), and zero is an unlocked rwlock: the child starts with
 * it free without our handler writing to it, and the parent, whose page
 * fork() leaves writable, releases it without a copy-on-write fault.
 * Each such fault is a measurable part of what a fork costs.  The rest
 * of the page goes to whoever else needs such memory (the exporter's
 * state, pipeline/batch.c): each mapping of its own would cost process
 * start two system calls.
 */
#include <pthread.h>
#include <stdalign.h>
#include <sys/mman.h>

#include "common/loader.h"
#include "forkguard.h"

static pthread_rwlock_t fallback = PTHREAD_RWLOCK_INITIALIZER;
static pthread_rwlock_t *lock = &fallback;
static int wiped_at_fork STARTUP_DATA;

int forkguard_enter(int wait)
{
	if (wait)
		return pthread_rwlock_rdlock(lock) == 0;
	return pthread_rwlock_tryrdlock(lock) == 0;
}

void forkguard_leave(void)
{
	pthread_rwlock_unlock(lock);
}

static void before_fork(void)
{
	pthread_rwlock_wrlock(lock);
}

static void after_fork_parent(void)
{
	pthread_rwlock_unlock(lock);
}

/* Cold: beside the library's other fork handlers (preload.c).  Without
 * the wiped page the child's copy is still locked, and names its writer
 * by a thread id the child's one thread does not have: start it afresh
 * (nothing else runs in the child yet). */
__attribute__((cold)) static void after_fork_child(void)
{
	if (!wiped_at_fork)
		pthread_rwlock_init(lock, NULL);
}

/* The spare bytes first, then the lock. */
#define WIPED_BYTES (FORKGUARD_SPARE_BYTES + sizeof(pthread_rwlock_t))
_Static_assert(FORKGUARD_SPARE_BYTES % alignof(pthread_rwlock_t) == 0,
	       "the lock after the spare bytes is aligned");
_Static_assert(WIPED_BYTES <= 4096, "one page");

STARTUP_CODE void *forkguard_install(void)
{
	char *page = mmap(NULL, WIPED_BYTES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page != MAP_FAILED) {
		if (madvise(page, WIPED_BYTES, MADV_WIPEONFORK) == 0) {
			/* zeroes: PTHREAD_RWLOCK_INITIALIZER */
			lock = (pthread_rwlock_t *)(page +
						    FORKGUARD_SPARE_BYTES);
			wiped_at_fork = 1;
		} else {
			munmap(page, WIPED_BYTES);
		}
	}
	loader_set_guard(forkguard_enter, forkguard_leave);
	loader_atfork(before_fork, after_fork_parent, after_fork_child);
	return wiped_at_fork ? page : NULL;
}
