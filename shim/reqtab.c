/*
 * Requests in flight, what each thread serves, and tags on semaphores (see
 * reqtab.h).  Runs on application threads, also inside signal handlers:
 * atomics only, no lock that a handler could wait on forever, no malloc.
 *
 * A ref is (start number << 8 | slot).  Start numbers are never reused, so
 * a ref that is stale stays stale: a slot taken by a later request has a
 * different ref, and a reader that copied ids checks the ref again after
 * copying (the slot's ids change only while it is free).
 */
#include <stdatomic.h>
#include <string.h>

#include "common/fibhash.h"
#include "reqtab.h"
#include "preload.h"

#define SLOT_BITS  8
#define SLOT_MASK  ((1u << SLOT_BITS) - 1)
#define SLOT_BUSY  UINT64_MAX           /* being filled in */

_Static_assert(REQTAB_SLOTS == 1u << SLOT_BITS, "ref packs the slot");
_Static_assert(!(REQTAB_TAGS & (REQTAB_TAGS - 1)), "power of two");

/* A line of its own: threads that take different slots share no line. */
struct rt_slot {
	_Atomic uint64_t ref;           /* 0 free, SLOT_BUSY, or the ref */
	_Atomic uint64_t ids[3];        /* trace id (2 words), span id */
	_Atomic uint8_t flags;
} __attribute__((aligned(64)));

static struct rt_slot slots[REQTAB_SLOTS];

/*
 * Requests ever started and requests in flight, one word, so that a
 * request's start is one atomic operation on a line all threads share and
 * its end another, and whoever reads the start number reads the count of
 * that moment with it.
 */
#define FLIGHT_BITS 16
#define FLIGHT_MASK ((1ULL << FLIGHT_BITS) - 1)
#define ONE_STARTED (1ULL << FLIGHT_BITS)

_Static_assert(REQTAB_SLOTS <= FLIGHT_MASK, "in flight fits its bits");

static _Atomic uint64_t requests;

/* The slot this thread took last, plus one (0 before its first), tried
 * first: a thread that serves one request after another keeps to one
 * line.  A thread's first request tries a slot picked by the address of
 * its thread-local block, so that threads start apart. */
static PRELOAD_TLS unsigned home;

static unsigned first_slot(void)
{
	return home ? home - 1 :
	       (unsigned)fib_hash((uintptr_t)&home, SLOT_BITS);
}

/* ------------------------------------------------------------ table */

uint64_t reqtab_add(const uint8_t trace_id[16], const uint8_t span_id[8],
		    uint8_t flags)
{
	unsigned first = first_slot();
	uint64_t w[3], ref, want, now;
	struct rt_slot *s;

	for (unsigned i = 0; i < REQTAB_SLOTS; i++) {
		s = &slots[(first + i) & SLOT_MASK];
		want = 0;
		if (atomic_load_explicit(&s->ref, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&s->ref, &want, SLOT_BUSY))
			continue;
		memcpy(w, trace_id, 16);
		memcpy(&w[2], span_id, 8);
		for (int k = 0; k < 3; k++)
			atomic_store_explicit(&s->ids[k], w[k],
					      memory_order_relaxed);
		atomic_store_explicit(&s->flags, flags, memory_order_relaxed);
		now = atomic_fetch_add(&requests, ONE_STARTED + 1) +
		      ONE_STARTED + 1;
		home = ((first + i) & SLOT_MASK) + 1;
		ref = now >> FLIGHT_BITS << SLOT_BITS | (home - 1);
		atomic_store(&s->ref, ref);
		return ref;
	}
	return 0;
}

void reqtab_remove(uint64_t ref)
{
	uint64_t want = ref;

	if (!ref)
		return;
	if (atomic_compare_exchange_strong(&slots[ref & SLOT_MASK].ref, &want,
					   0))
		atomic_fetch_sub(&requests, 1);
}

int reqtab_get(uint64_t ref, struct req_ids *out)
{
	struct rt_slot *s = &slots[ref & SLOT_MASK];
	uint64_t w[3];

	if (!ref || atomic_load(&s->ref) != ref)
		return -1;
	for (int k = 0; k < 3; k++)
		w[k] = atomic_load_explicit(&s->ids[k], memory_order_relaxed);
	out->flags = atomic_load_explicit(&s->flags, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->ref, memory_order_relaxed) != ref)
		return -1;
	memcpy(out->trace_id, w, 16);
	memcpy(out->span_id, &w[2], 8);
	return 0;
}

int reqtab_inflight(void)
{
	return (int)(atomic_load(&requests) & FLIGHT_MASK);
}

/* The only request in flight, if there is exactly one and it is the one
 * started last; else 0. */
static uint64_t sole_latest(uint64_t *epoch)
{
	uint64_t now = atomic_load(&requests), e = now >> FLIGHT_BITS, r;

	*epoch = e;
	if ((now & FLIGHT_MASK) != 1)
		return 0;
	for (unsigned i = 0; i < REQTAB_SLOTS; i++) {
		r = atomic_load_explicit(&slots[i].ref, memory_order_relaxed);
		if (r && r != SLOT_BUSY && r >> SLOT_BITS == e)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------ threads */

/*
 * mark: the start number of the latest request when this thread's job
 * began, if exactly one request was in flight then (MARK_SOLE set), else
 * 0.  A tag carries a ref (MARK_SOLE clear) or a mark.
 */
#define MARK_SOLE  (1ULL << 63)
#define CONFLICT   UINT64_MAX

static PRELOAD_TLS uint64_t cur;
static PRELOAD_TLS uint64_t mark;
static PRELOAD_TLS uint8_t cur_how;     /* enum reqtab_how */

void reqtab_serve(uint64_t ref, enum reqtab_how how)
{
	cur = ref;
	cur_how = ref ? (uint8_t)how : REQTAB_NONE;
}

uint64_t reqtab_serving(enum reqtab_how *how)
{
	struct req_ids ids;

	if (cur && reqtab_get(cur, &ids) != 0)
		reqtab_serve(0, REQTAB_NONE);
	if (how)
		*how = (enum reqtab_how)cur_how;
	return cur;
}

void reqtab_event_wait(void)
{
	reqtab_serve(0, REQTAB_NONE);
}

/* The mark for "now". */
static uint64_t mark_now(void)
{
	uint64_t now = atomic_load(&requests);

	return now >> FLIGHT_BITS && (now & FLIGHT_MASK) == 1 ?
	       MARK_SOLE | now >> FLIGHT_BITS : 0;
}

void reqtab_event_woke(void)
{
	mark = mark_now();
}

int reqtab_parent(struct req_ids *out, uint64_t *ref)
{
	uint64_t r, epoch;

	if (cur && reqtab_get(cur, out) == 0) {
		*ref = cur;
		return 0;
	}
	reqtab_serve(0, REQTAB_NONE);
	/* One in flight: it is the latest started, this thread's job began
	 * after it started while it was alone, and none started since. */
	if (!(mark & MARK_SOLE))
		return -1;
	r = sole_latest(&epoch);
	if (!r || (mark & ~MARK_SOLE) != epoch || reqtab_get(r, out) != 0)
		return -1;
	*ref = r;
	return 0;
}

/* ------------------------------------------------------------ hand-offs */

struct rt_tag {
	_Atomic uint64_t seq;           /* odd while being changed */
	_Atomic uintptr_t key;          /* the object's address */
	_Atomic uint64_t val;           /* a ref, a mark, CONFLICT or 0 */
	_Atomic uint64_t mval;          /* the releasers' mark (or 0) */
	_Atomic uintptr_t owner;        /* who acquires it: 0 nobody yet
					   since the key came, a thread, or
					   OWNER_SHARED */
	_Atomic uint32_t count;         /* releases not yet acquired */
};

/*
 * A semaphore several threads acquire (a pool's queue) hands out tokens
 * with no owner: a thread woken by X's release may dequeue another
 * request's work, because a thread that took an earlier token may not
 * have dequeued yet.  Such a semaphore hands over only a mark (the
 * one-in-flight rule).  A request itself is handed over only through a
 * semaphore one thread acquires (CPython's per-waiter locks, a thread's
 * own wake-up semaphore), and not on its first acquisition seen: tokens
 * taken before the key came to its bucket went unseen.
 */
#define OWNER_SHARED ((uintptr_t)1)

static struct rt_tag tags[REQTAB_TAGS];

/* A bucket this thread holds, and an object a signal handler released
 * while it did (the holder turns that object's tag into CONFLICT). */
static PRELOAD_TLS struct rt_tag *held;
static PRELOAD_TLS uintptr_t nested_key;

static struct rt_tag *tag_of(uintptr_t key)
{
	return &tags[fib_hash(key, 10)];
}

_Static_assert(REQTAB_TAGS == 1024, "tag_of takes 10 bits");

/* Takes the bucket; 0, or -1 when this thread already holds it (we are in
 * a signal handler that interrupted the holder). */
static int tag_lock(struct rt_tag *t)
{
	uint64_t s;

	if (held == t)
		return -1;
	for (;;) {
		s = atomic_load_explicit(&t->seq, memory_order_relaxed);
		if (!(s & 1) && atomic_compare_exchange_weak(&t->seq, &s,
							      s + 1))
			break;
	}
	held = t;
	return 0;
}

static void tag_unlock(struct rt_tag *t)
{
	if (nested_key) {
		if (atomic_load_explicit(&t->key, memory_order_relaxed) ==
		    nested_key) {
			atomic_store_explicit(&t->val, CONFLICT,
					      memory_order_relaxed);
			atomic_store_explicit(&t->mval, 0,
					      memory_order_relaxed);
		}
		nested_key = 0;
	}
	held = NULL;
	atomic_fetch_add_explicit(&t->seq, 1, memory_order_release);
}

/* What a release by this thread hands over: what it serves, else its mark
 * if that can still decide something, else 0. */
static uint64_t carried(void)
{
	uint64_t r = reqtab_serving(NULL);

	return r ? r : mark;
}

uint64_t reqtab_carried(void)
{
	return carried();
}

void reqtab_started(uint64_t v)
{
	if (v & MARK_SOLE) {
		mark = v;
		return;
	}
	reqtab_serve(v, REQTAB_HANDOFF);
}

void reqtab_post(const void *addr)
{
	uintptr_t key = (uintptr_t)addr;
	struct rt_tag *t = tag_of(key);
	uint64_t v = carried(), m, old;
	uint32_t n;

	/* Nothing to hand over and nothing here to contradict: one load. */
	if (!v && (atomic_load_explicit(&t->key, memory_order_relaxed) !=
		   key || !atomic_load_explicit(&t->count,
						memory_order_relaxed)))
		return;
	if (tag_lock(t) != 0) {
		nested_key = key;
		return;
	}
	/* The mark a shared semaphore hands over: ours if we serve
	 * nobody, else whether the request we serve is alone now. */
	m = v & MARK_SOLE ? v : v ? mark_now() : 0;
	n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if (atomic_load_explicit(&t->key, memory_order_relaxed) != key) {
		atomic_store_explicit(&t->key, key, memory_order_relaxed);
		atomic_store_explicit(&t->owner, 0, memory_order_relaxed);
		n = 0;
	}
	if (n == 0) {
		atomic_store_explicit(&t->val, v, memory_order_relaxed);
		atomic_store_explicit(&t->mval, m, memory_order_relaxed);
	} else {
		old = atomic_load_explicit(&t->val, memory_order_relaxed);
		if (old != v)
			atomic_store_explicit(&t->val, CONFLICT,
					      memory_order_relaxed);
		if (atomic_load_explicit(&t->mval, memory_order_relaxed) != m)
			atomic_store_explicit(&t->mval, 0,
					      memory_order_relaxed);
	}
	atomic_store_explicit(&t->count, n + 1, memory_order_relaxed);
	tag_unlock(t);
}

/* Takes one release's tag of key: what it hands this thread (a ref only
 * from a semaphore this thread alone has acquired before), or 0. */
static uint64_t tag_take(uintptr_t key)
{
	struct rt_tag *t = tag_of(key);
	uintptr_t me = (uintptr_t)&cur, was;
	uint64_t v = 0;
	uint32_t n;

	if (atomic_load_explicit(&t->key, memory_order_relaxed) != key ||
	    !atomic_load_explicit(&t->count, memory_order_relaxed))
		return 0;
	if (tag_lock(t) != 0)
		return CONFLICT;
	n = atomic_load_explicit(&t->count, memory_order_relaxed);
	if (atomic_load_explicit(&t->key, memory_order_relaxed) == key && n) {
		was = atomic_load_explicit(&t->owner, memory_order_relaxed);
		v = atomic_load_explicit(&t->val, memory_order_relaxed);
		if (was != me || v == CONFLICT)
			v = atomic_load_explicit(&t->mval,
						 memory_order_relaxed);
		atomic_store_explicit(&t->owner, !was || was == me ? me :
				      OWNER_SHARED, memory_order_relaxed);
		atomic_store_explicit(&t->count, n - 1, memory_order_relaxed);
	}
	tag_unlock(t);
	return v;
}

void reqtab_acquired(const void *addr, int blocked)
{
	uint64_t v = tag_take((uintptr_t)addr), now;
	enum reqtab_how how;

	if (!blocked)
		return;  /* no hand-off: the token was there already */
	now = reqtab_serving(&how);
	/* A thread that read its request itself (thread per request) keeps
	 * it through any lock it waits for. */
	if (now && how == REQTAB_READ)
		return;
	if (v == CONFLICT || !v || (v & MARK_SOLE)) {
		/* Woken by a thread serving nobody it could name: a new job
		 * with the releaser's mark, or, in the middle of serving a
		 * request handed over, nothing we can tell apart from a new
		 * job: no guess either way. */
		reqtab_serve(0, REQTAB_NONE);
		mark = v == CONFLICT ? 0 : v;
		return;
	}
	/* Serving another request already: which one this is for is not
	 * known. */
	reqtab_serve(now && now != v ? 0 : v, REQTAB_HANDOFF);
	mark = 0;
}
