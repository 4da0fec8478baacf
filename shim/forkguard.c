/*
 * The loader guard's lock (see forkguard.h, common/loader.h).  A
 * reader-preferring rwlock: our threads take it shared, and may take it
 * again while they hold it (dlopen_beside inside stack_start), which a
 * waiting fork does not block; fork() takes it exclusively, so it waits
 * only for the uses under way, each a few milliseconds at most.
 */
#include <pthread.h>

#include "common/loader.h"
#include "forkguard.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

int forkguard_enter(int wait)
{
	if (wait)
		return pthread_rwlock_rdlock(&lock) == 0;
	return pthread_rwlock_tryrdlock(&lock) == 0;
}

void forkguard_leave(void)
{
	pthread_rwlock_unlock(&lock);
}

static void before_fork(void)
{
	pthread_rwlock_wrlock(&lock);
}

static void after_fork_parent(void)
{
	pthread_rwlock_unlock(&lock);
}

/* The lock names its writer by thread id, and the child's one thread has
 * another: start it afresh (nothing else runs in the child yet). */
static void after_fork_child(void)
{
	pthread_rwlock_init(&lock, NULL);
}

void forkguard_install(void)
{
	loader_set_guard(forkguard_enter, forkguard_leave);
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
