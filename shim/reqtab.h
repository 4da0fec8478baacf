/*
 * Requests in flight and who is serving them: the facts parentage is
 * decided from (README "How parentage is decided").  Three parts, all
 * lock-free and allocation-free, safe in signal handlers:
 *
 *   - the table of server requests in flight in the process, each named by
 *     a ref (its start number and slot) that goes stale the moment the
 *     request is answered, so a stale ref can never name another request;
 *   - per thread, the request the thread is serving now (cur) and the mark
 *     taken when its current job began (mark), for the one-in-flight rule;
 *   - tags on synchronisation objects (semaphores): what the thread that
 *     released one was serving, for the thread that wakes from it.
 *
 * Every rule here may answer "nobody" but never a request other than the
 * one the work is for, in the cases the README lists as decided.
 */
#ifndef OTELSHIM_REQTAB_H
#define OTELSHIM_REQTAB_H

#include <stdint.h>

/* Requests followed at once; a request beyond this has no children. */
#define REQTAB_SLOTS 256

/* Buckets of semaphore tags (a power of two). */
#define REQTAB_TAGS 1024

/* The ids of a request, copied out of the table. */
struct req_ids {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;
};

/* ------------------------------------------------------------ table */

/* Registers a request in flight; its ref (never 0), or 0 if the table is
 * full. */
uint64_t reqtab_add(const uint8_t trace_id[16], const uint8_t span_id[8],
		    uint8_t flags);

/* The request is answered (or abandoned): its ref goes stale. */
void reqtab_remove(uint64_t ref);

/* 0 and the ids while ref is in flight; -1 once it is stale (or 0). */
int reqtab_get(uint64_t ref, struct req_ids *out);

/* Requests in flight now, for tests. */
int reqtab_inflight(void);

/* ------------------------------------------------------------ threads */

/* How a thread came to serve a request: what it may be used for. */
enum reqtab_how {
	REQTAB_NONE = 0,
	REQTAB_READ,            /* it read the request (head or body) */
	REQTAB_ANSWER,          /* it read an answer to a request made for it
				   (a callback that may also start another
				   request's queued work: pools, agents) */
	REQTAB_CONNECT,         /* first request on a connection opened while
				   it read the request */
	REQTAB_HANDOFF,         /* woken by a thread serving it */
};

/* This thread serves ref from now on (0: nobody), known by how. */
void reqtab_serve(uint64_t ref, enum reqtab_how how);

/* What this thread serves, if still in flight (and *how, if given);
 * else 0. */
uint64_t reqtab_serving(enum reqtab_how *how);

/*
 * The thread goes back to its event wait (epoll_wait, poll on several
 * descriptors, ...): whatever it served ends here, nothing is attributed
 * across unrelated callbacks.
 */
void reqtab_event_wait(void);

/* The event wait returned: a new job (the next callbacks) begins. */
void reqtab_event_woke(void);

/*
 * The parent of a span this thread starts now, into out: 0, or -1 for
 * none.  The request it serves; else, if exactly one request is in flight
 * in the process, no other one has been since this thread's job began and
 * that request had already started then, that one; else none.
 */
int reqtab_parent(struct req_ids *out, uint64_t *ref);

/* ------------------------------------------------------------ hand-offs */

/*
 * The thread releases the synchronisation object at addr (sem_post): a
 * thread woken by it takes over what this thread serves.  Two releases
 * carrying different requests before the wakes that consume them make the
 * object say nothing until it is drained: a counted token has no owner.
 */
void reqtab_post(const void *addr);

/*
 * The thread acquired the object at addr (one token).  blocked: it had to
 * wait (sem_trywait failed first), so it was handed work: its job starts
 * here, serving what the releaser served (or nothing if that is unknown or
 * contradicts what it serves already).
 */
void reqtab_acquired(const void *addr, int blocked);

/* What a thread this thread creates starts with (pthread_create): an
 * opaque value for reqtab_started(). */
uint64_t reqtab_carried(void);

/* First thing on a thread created with carried: the creator's request
 * (a hand-off), or its mark. */
void reqtab_started(uint64_t carried);

#endif
