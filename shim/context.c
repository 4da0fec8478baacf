/*
 * Trace context: ids, sampling, the active span per thread and the process's
 * remote parent (see context.h).  Ids come from a per-thread xoshiro256**
 * generator seeded from getrandom(2): no lock and no system call per id.  A
 * fork bumps a generation counter so that a child reseeds before its first
 * id instead of repeating its parent's sequence.
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/batch.h"
#include "pipeline/record.h"
#include "context.h"
#include "preload.h"
#include "propagate.h"
#include "reqtab.h"

static const struct config *ctx_cfg STARTUP_DATA;

/* The remote parent from TRACEPARENT, if valid. */
static int remote_valid STARTUP_DATA;
static struct ctx_remote remote_parent STARTUP_DATA;
static char remote_state[512];

static _Atomic unsigned fork_generation = 1;

/*
 * A thread's id generator: word i of its sequence is splitmix64's output
 * for key + i (a bijection of i, so a thread never repeats a word before
 * 2^64 of them).  Words are claimed by moving the counter on in one
 * instruction that a signal handler on the same thread cannot split:
 * a hook running in a handler takes the words after (or before) those of
 * the code it interrupted, never the same ones.
 */
struct rng {
	uint64_t key;
	uint64_t next;                  /* index of the next word */
	unsigned generation;
};

static PRELOAD_TLS struct rng thread_rng;
/* The server span this thread read the request of, while it serves it;
 * trace_state of children comes from it (reqtab has the ids). */
static PRELOAD_TLS struct span *thread_active;
static PRELOAD_TLS uint64_t thread_active_ref;
static PRELOAD_TLS struct span *thread_registered;     /* by ctx_set_active */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Cold: once per thread, and once more after a fork. */
static __attribute__((noinline, cold)) void rng_seed(struct rng *r)
{
	uint64_t seed[2] = { 0 };
	long got = syscall(SYS_getrandom, seed, sizeof(seed), 0x1 /*NONBLOCK*/);

	if (got != (long)sizeof(seed)) {
		/* No entropy yet (early boot): mix what differs anyway. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
		    ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)r;
		for (int i = 0; i < 2; i++)
			seed[i] ^= splitmix(&x);
	}
	r->key = seed[0];
	r->next = seed[1];
	r->generation = atomic_load_explicit(&fork_generation,
					     memory_order_relaxed);
}

/* This thread's generator, seeded again first if the process forked
 * since it was seeded. */
static inline struct rng *rng_current(void)
{
	struct rng *r = &thread_rng;

	if (__builtin_expect(r->generation != atomic_load_explicit(
				     &fork_generation, memory_order_relaxed),
			     0))
		rng_seed(r);
	return r;
}

/* Claims n words of r's sequence; returns the first one's index. */
static inline uint64_t rng_claim(struct rng *r, uint64_t n)
{
#if defined(__x86_64__)
	/* One instruction, interrupted before or after, never within; no
	 * lock prefix: no other thread touches this state. */
	__asm__ volatile("xaddq %0, %1" : "+r"(n), "+m"(r->next));
	return n;
#else
	/* Elsewhere an atomic add, which a signal cannot split either. */
	return __atomic_fetch_add(&r->next, n, __ATOMIC_RELAXED);
#endif
}

/* Word i of r's sequence. */
static inline uint64_t rng_word(const struct rng *r, uint64_t i)
{
	uint64_t x = r->key + i * 0x9E3779B97F4A7C15ULL;

	return splitmix(&x);
}

void ctx_random(uint8_t *buf, size_t n)
{
	struct rng *r = rng_current();
	uint64_t i = rng_claim(r, (n + 7) / 8), x;

	/* Ids are whole words: 8 bytes at a time copy without a call. */
	for (; n >= 8; n -= 8, buf += 8) {
		x = rng_word(r, i++);
		memcpy(buf, &x, 8);
	}
	if (n > 0) {
		x = rng_word(r, i);
		memcpy(buf, &x, n);
	}
}

/*
 * A new span's ids: the span id, and first the trace id when trace is
 * set (a root span); neither all zero.  Three words (or one) claimed at
 * once, in the order ctx_random() would give them.
 */
static void new_ids(struct span *s, int trace)
{
	struct rng *r = rng_current();
	uint64_t i = rng_claim(r, trace ? 3 : 1), a, b;

	if (trace) {
		a = rng_word(r, i++);
		b = rng_word(r, i++);
		while (!(a | b)) {      /* once in 2^128 */
			a = rng_word(r, rng_claim(r, 1));
			b = rng_word(r, rng_claim(r, 1));
		}
		memcpy(s->trace_id, &a, 8);
		memcpy(s->trace_id + 8, &b, 8);
	}
	a = rng_word(r, i);
	while (!a)                      /* once in 2^64 */
		a = rng_word(r, rng_claim(r, 1));
	memcpy(s->span_id, &a, 8);
}

/* ctx_now_ns(), inlined where spans start and end. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t ctx_now_ns(void)
{
	return now_ns();
}

STARTUP_CODE static const char *env_value(char *const *envp,
					     const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

STARTUP_CODE void ctx_init(const struct config *cfg, char *const *envp)
{
	const char *tp = env_value(envp, "TRACEPARENT");
	const char *ts = env_value(envp, "TRACESTATE");
	struct propagate_ctx pc;
	int len;

	ctx_cfg = cfg;
	remote_valid = 0;
	memset(&remote_parent, 0, sizeof(remote_parent));
	if (!cfg->propagate_tracecontext || !tp)
		return;
	if (propagate_parse_traceparent(tp, strlen(tp), &pc) != 0)
		return;  /* invalid: ignore it and tracestate (W3C) */
	memcpy(remote_parent.trace_id, pc.trace_id, 16);
	memcpy(remote_parent.span_id, pc.span_id, 8);
	remote_parent.flags = pc.flags;
	if (ts) {
		len = propagate_check_tracestate(ts, strlen(ts), remote_state,
						 sizeof(remote_state));
		if (len > 0) {
			remote_parent.trace_state = remote_state;
			remote_parent.trace_state_len = (size_t)len;
		}
	}
	remote_valid = 1;
}

/* Cold: beside the library's other fork handlers (preload.c). */
__attribute__((cold)) void ctx_after_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

/* ctx_should_sample(), inlined into ctx_start(). */
static inline __attribute__((always_inline)) int
should_sample(enum config_sampler sampler, double ratio,
	      const uint8_t trace_id[16], int parent, int parent_sampled)
{
	uint64_t x = 0;

	switch (sampler) {
	case CONFIG_SAMPLER_ALWAYS_ON:
		return 1;
	case CONFIG_SAMPLER_ALWAYS_OFF:
		return 0;
	case CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON:
		return parent ? parent_sampled : 1;
	case CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF:
		return parent ? parent_sampled : 0;
	case CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO:
		if (parent)
			return parent_sampled;
		/* a root uses the ratio */
		__attribute__((fallthrough));
	case CONFIG_SAMPLER_TRACEIDRATIO:
		if (ratio >= 1.0)
			return 1;
		if (!(ratio > 0.0))
			return 0;
		/* Deterministic on the trace id: the last 8 bytes, big-endian,
		 * below ratio * 2^64.  A higher ratio samples a superset. */
		for (int i = 8; i < 16; i++)
			x = (x << 8) | trace_id[i];
		return x < (uint64_t)(ratio * 18446744073709551616.0);
	}
	return 1;
}

int ctx_should_sample(enum config_sampler sampler, double ratio,
		      const uint8_t trace_id[16], int parent,
		      int parent_sampled)
{
	return should_sample(sampler, ratio, trace_id, parent,
			     parent_sampled);
}

struct span *ctx_start_at(enum span_kind kind, const struct ctx_remote *remote,
			  uint64_t start_ns)
{
	struct span *s = rec_alloc();
	const struct span *own = NULL;
	struct req_ids local;
	uint64_t ref = 0;
	int parent = 0, parent_sampled = 0, has_local;

	if (!s) {
		batch_note_dropped();
		return NULL;
	}
	s->kind = (uint8_t)kind;
	has_local = !remote && reqtab_parent(&local, &ref) == 0;
	if (has_local && thread_active && thread_active_ref == ref)
		own = thread_active;
	if (!remote && !has_local && remote_valid)
		remote = &remote_parent;
	if (remote) {
		memcpy(s->trace_id, remote->trace_id, 16);
		memcpy(s->parent_span_id, remote->span_id, 8);
		s->parent_is_remote = 1;
		parent = 2;
		parent_sampled = remote->flags & SPAN_FLAG_SAMPLED;
		/* The random-trace-id flag travels with the trace id. */
		s->trace_flags = remote->flags & 0x02;
		if (remote->trace_state_len)
			s->trace_state = rec_str(s, remote->trace_state,
						 remote->trace_state_len);
	} else if (has_local) {
		memcpy(s->trace_id, local.trace_id, 16);
		memcpy(s->parent_span_id, local.span_id, 8);
		parent = 1;
		parent_sampled = local.flags & SPAN_FLAG_SAMPLED;
		s->trace_flags = local.flags & 0x02;
		/* Only a span this thread serves itself gives its state: a
		 * request handed over carries its ids alone. */
		if (own && own->trace_state.len)
			s->trace_state = rec_str(s,
				span_str_ptr(own, own->trace_state),
				own->trace_state.len);
	}
	new_ids(s, !parent);
	if (should_sample(ctx_cfg->sampler, ctx_cfg->sampler_ratio,
			      s->trace_id, parent, parent_sampled)) {
		s->trace_flags |= SPAN_FLAG_SAMPLED;
		batch_warm();
	}
	/* A clock read costs tens of nanoseconds on a virtual machine's
	 * clock source: none when the caller has the time. */
	s->start_ns = start_ns ? start_ns : now_ns();
	return s;
}

struct span *ctx_start(enum span_kind kind, const struct ctx_remote *remote)
{
	return ctx_start_at(kind, remote, 0);
}

struct span *ctx_start_leaf(enum span_kind kind)
{
	struct span *s = ctx_start(kind, NULL);

	if (s && !span_sampled(s)) {
		rec_free(s);
		return NULL;
	}
	return s;
}

uint64_t ctx_stop_clock(struct span *s)
{
	if (!s->end_ns)
		s->end_ns = now_ns();
	if (s->end_ns < s->start_ns)
		s->end_ns = s->start_ns;
	return s->end_ns - s->start_ns;
}

/* s ends: a span ctx_set_active registered is in flight no more. */
static void unregister(const struct span *s)
{
	if (s != thread_registered)
		return;
	if (thread_active == s)
		reqtab_remove(thread_active_ref);
	thread_registered = NULL;
}

void ctx_end(struct span *s)
{
	if (!s)
		return;
	ctx_stop_clock(s);
	unregister(s);
	if (thread_active == s)
		thread_active = NULL;
	if (span_sampled(s))
		batch_submit(s);
	rec_free(s);
}

void ctx_discard(struct span *s)
{
	unregister(s);
	if (thread_active == s)
		thread_active = NULL;
	rec_free(s);
}

int ctx_rewrite_traceparent(void)
{
	return ctx_cfg && ctx_cfg->rewrite_traceparent;
}

int ctx_local_trace(uint8_t trace_id[16])
{
	struct req_ids local;
	uint64_t ref;

	if (reqtab_parent(&local, &ref) != 0)
		return 0;
	memcpy(trace_id, local.trace_id, 16);
	return 1;
}

void ctx_serve(struct span *s, uint64_t ref)
{
	thread_active = s;
	thread_active_ref = ref;
	reqtab_serve(ref, REQTAB_READ);
}

void ctx_set_active(struct span *s)
{
	uint64_t ref = 0;

	if (s) {
		ref = reqtab_add(s->trace_id, s->span_id, s->trace_flags);
		thread_registered = s;
	}
	ctx_serve(s, ref);
}

void ctx_serve_ref(uint64_t ref, enum reqtab_how how)
{
	if (ref != thread_active_ref) {
		thread_active = NULL;
		thread_active_ref = 0;
	}
	reqtab_serve(ref, how);
}

void ctx_event_wait(void)
{
	thread_active = NULL;
	thread_active_ref = 0;
	reqtab_event_wait();
}

struct span *ctx_active(void)
{
	if (thread_active && reqtab_serving(NULL) != thread_active_ref)
		thread_active = NULL;
	return thread_active;
}

size_t ctx_traceparent(const struct span *s, char *buf, size_t cap)
{
	struct propagate_ctx pc;

	memcpy(pc.trace_id, s->trace_id, 16);
	memcpy(pc.span_id, s->span_id, 8);
	pc.flags = s->trace_flags & (SPAN_FLAG_SAMPLED | 0x02);
	return propagate_format_traceparent(&pc, buf, cap);
}
