/*
 * Work handed to another thread through a POSIX semaphore (CPython's locks
 * and conditions, C worker pools): a thread woken from a semaphore that a
 * thread serving request X released serves X until it is handed something
 * else (reqtab.h has the rules and their limits).  A wait that finds a
 * token without blocking hands nothing over.  pthread_cond is not hooked:
 * CPython passes its GIL through one, which would hand every request to
 * every thread.  Runs on application threads, also in signal handlers
 * (sem_post is async-signal-safe): reqtab's tags are lock-free for them.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "preload.h"
#include "reqtab.h"

HOOK_API int sem_post(sem_t *sem)
{
	/* Tag first: the waiter may run before we return. */
	if (preload_enter())
		KEEP_ERRNO(reqtab_post(sem));
	return real_sem_post(sem);
}

HOOK_API int sem_trywait(sem_t *sem)
{
	int r = real_sem_trywait(sem);

	if (r == 0 && preload_enter())
		KEEP_ERRNO(reqtab_acquired(sem, 0));
	return r;
}

/* The token taken without blocking, if there was one: 1; else 0. */
static inline int took_at_once(sem_t *sem)
{
	int e = errno;

	if (real_sem_trywait(sem) == 0)
		return 1;
	errno = e;
	return 0;
}

#define SEM_WAIT(call)                                                  \
	do {                                                            \
		int r_;                                                 \
									\
		if (!preload_enter())                                   \
			return call;                                    \
		if (took_at_once(sem)) {                                \
			KEEP_ERRNO(reqtab_acquired(sem, 0));            \
			return 0;                                       \
		}                                                       \
		r_ = call;                                              \
		if (r_ == 0)                                            \
			KEEP_ERRNO(reqtab_acquired(sem, 1));            \
		return r_;                                              \
	} while (0)

HOOK_API int sem_wait(sem_t *sem)
{
	SEM_WAIT(real_sem_wait(sem));
}

HOOK_API int sem_timedwait(sem_t *sem, const struct timespec *t)
{
	SEM_WAIT(real_sem_timedwait(sem, t));
}

HOOK_API int sem_clockwait(sem_t *sem, clockid_t clock,
			   const struct timespec *t)
{
	SEM_WAIT(real_sem_clockwait(sem, clock, t));
}

/*
 * A thread created while serving a request starts serving it (a pool that
 * grows when work arrives: anyio, concurrent.futures).  The start routine
 * is wrapped in a small block the new thread frees.  pthread_create is not
 * async-signal-safe, so malloc is allowed here.
 */
struct start {
	void *(*fn)(void *);
	void *arg;
	uint64_t carried;
};

static void *thread_start(void *p)
{
	struct start st = *(struct start *)p;

	free(p);
	reqtab_started(st.carried);
	return st.fn(st.arg);
}

HOOK_API int pthread_create(pthread_t *t, const pthread_attr_t *attr,
			    void *(*fn)(void *), void *arg)
{
	struct start *st;
	uint64_t v;
	int r;

	if (!preload_enter() || !(v = reqtab_carried()) ||
	    !(st = malloc(sizeof(*st))))
		return real_pthread_create(t, attr, fn, arg);
	st->fn = fn;
	st->arg = arg;
	st->carried = v;
	r = real_pthread_create(t, attr, thread_start, st);
	if (r != 0)
		free(st);
	return r;
}
