/*
 * The exporter thread's scheduling policy (see pace.h).
 */
#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include "pace.h"

#define CALM_NS 1000000000ULL

/* tid 0 is the calling thread. */
static void set_policy(pid_t tid, int policy)
{
	struct sched_param none = { .sched_priority = 0 };
	int saved = errno;

	sched_setscheduler(tid, policy, &none);
	errno = saved;
}

void pace_start(struct pace *p)
{
	set_policy(0, SCHED_BATCH);
	atomic_store_explicit(&p->hurried, 0, memory_order_relaxed);
	atomic_store_explicit(&p->tid, gettid(), memory_order_release);
}

void pace_stop(struct pace *p)
{
	atomic_store_explicit(&p->tid, 0, memory_order_release);
}

void pace_hurry(struct pace *p)
{
	pid_t tid;

	if (atomic_load_explicit(&p->hurried, memory_order_relaxed))
		return;
	tid = atomic_load_explicit(&p->tid, memory_order_acquire);
	if (tid <= 0 ||
	    atomic_exchange_explicit(&p->hurried, 1, memory_order_acq_rel))
		return;
	set_policy(tid, SCHED_OTHER);
}

void pace_settle(struct pace *p, size_t queued, size_t cap, uint64_t now_ns)
{
	if (queued >= cap / 2) {
		p->busy_ns = now_ns;
		return;
	}
	if (!atomic_load_explicit(&p->hurried, memory_order_relaxed) ||
	    now_ns - p->busy_ns < CALM_NS)
		return;
	set_policy(0, SCHED_BATCH);
	atomic_store_explicit(&p->hurried, 0, memory_order_release);
}
