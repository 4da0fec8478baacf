/*
 * Trace context: the sampler (ratio bounds, determinism, parent-based
 * cases), the environment carrier (TRACEPARENT/TRACESTATE), parent choice
 * and id generation.  batch_submit is replaced by a recorder here, which is
 * the one seam between context.c and the exporter side.
 * links: shim/context.c pipeline/record.c pipeline/slab.c shim/propagate.c shim/reqtab.c
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pipeline/batch.h"
#include "pipeline/record.h"
#include "shim/context.h"
#include "unit.h"

static struct span submitted[8];
static int nsubmitted;

static int ndropped;

void batch_note_dropped(void)
{
	ndropped++;
}

/* No exporter thread to start. */
void batch_warm(void)
{
}

void batch_submit(const struct span *s)
{
	if (nsubmitted < 8)
		submitted[nsubmitted] = *s;
	nsubmitted++;
}

static struct config cfg_with(enum config_sampler sampler, double ratio)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	c.sampler = sampler;
	c.sampler_ratio = ratio;
	c.propagate_tracecontext = 1;
	return c;
}

static void id_with_low(uint8_t id[16], uint64_t low)
{
	memset(id, 0xab, 8);
	for (int i = 15; i >= 8; i--, low >>= 8)
		id[i] = (uint8_t)low;
}

START_TEST(sampler_fixed)
{
	uint8_t id[16];

	id_with_low(id, 1);
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_ALWAYS_ON, 0, id, 0, 0));
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_ALWAYS_OFF, 1, id, 2, 1));
	/* Parent-based: no parent uses the root sampler, else the parent. */
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 0,
				    id, 0, 0));
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 0,
				     id, 2, 0));
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 0,
				     id, 1, 0));
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF, 0,
				    id, 2, 1));
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF, 0,
				     id, 0, 0));
}
END_TEST

START_TEST(sampler_ratio_bounds)
{
	uint8_t id[16];

	id_with_low(id, 0);
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.0, id,
				     0, 0));
	id_with_low(id, UINT64_MAX);
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 1.0, id,
				    0, 0));
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO,
				     0.999999, id, 0, 0));
	/* Exactly at the bound: 0.5 * 2^64 = 2^63. */
	id_with_low(id, (uint64_t)1 << 63);
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.5, id,
				     0, 0));
	id_with_low(id, ((uint64_t)1 << 63) - 1);
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.5, id,
				    0, 0));
	/* The ratio sampler ignores the parent's flag... */
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.5, id,
				    2, 0));
	/* ...the parent-based one follows it. */
	id_with_low(id, 0);
	ck_assert(!ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO,
				     0.5, id, 2, 0));
	ck_assert(ctx_should_sample(CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO,
				    0.5, id, 0, 0));
}
END_TEST

START_TEST(sampler_ratio_statistics)
{
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);
	int hits25 = 0, subset = 1;

	ctx_init(&c, NULL);
	for (int i = 0; i < 20000; i++) {
		uint8_t id[16];
		int lo, hi;

		ctx_random(id, 16);
		lo = ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.25, id,
				       0, 0);
		hi = ctx_should_sample(CONFIG_SAMPLER_TRACEIDRATIO, 0.5, id,
				       0, 0);
		hits25 += lo;
		if (lo && !hi)
			subset = 0;
	}
	/* 25% of 20000 = 5000; 5 sigma is about 300. */
	ck_assert_int_gt(hits25, 4700);
	ck_assert_int_lt(hits25, 5300);
	ck_assert(subset);
}
END_TEST

START_TEST(env_carrier_parent)
{
	struct config c = cfg_with(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 1);
	char *env[] = {
		"PATH=/bin",
		"TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-"
		"b7ad6b7169203331-01",
		"TRACESTATE=congo=t61rcWkgMzE, rojo=00f067aa0ba902b7",
		NULL,
	};
	struct span *s;

	ctx_init(&c, env);
	s = ctx_start(SPAN_KIND_CLIENT, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->trace_id[0], 0x0a);
	ck_assert_uint_eq(s->trace_id[15], 0x9c);
	ck_assert_uint_eq(s->parent_span_id[0], 0xb7);
	ck_assert_uint_eq(s->parent_span_id[7], 0x31);
	ck_assert_int_eq(s->parent_is_remote, 1);
	ck_assert(s->trace_flags & SPAN_FLAG_SAMPLED);
	ck_assert_int_eq(s->trace_state.len,
			 strlen("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
	ck_assert(!memcmp(span_str_ptr(s, s->trace_state),
			  "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
			  s->trace_state.len));

	/* A child of an active span is local and inherits the trace. */
	ctx_set_active(s);
	struct span *child = ctx_start(SPAN_KIND_CLIENT, NULL);
	ck_assert(!memcmp(child->trace_id, s->trace_id, 16));
	ck_assert(!memcmp(child->parent_span_id, s->span_id, 8));
	ck_assert_int_eq(child->parent_is_remote, 0);

	char tp[64];
	ck_assert_uint_eq(ctx_traceparent(child, tp, sizeof(tp)), 55);
	ck_assert(!strncmp(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36));
	ck_assert(!strcmp(tp + 53, "01"));

	nsubmitted = 0;
	ctx_end(child);
	ctx_end(s);
	ck_assert_int_eq(nsubmitted, 2);
	ck_assert_ptr_null(ctx_active());
	ck_assert_uint_eq(rec_in_flight(), 0);
	ck_assert(submitted[0].end_ns >= submitted[0].start_ns);
}
END_TEST

START_TEST(env_carrier_unsampled_and_invalid)
{
	struct config c = cfg_with(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 1);
	char *unsampled[] = {
		"TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-"
		"b7ad6b7169203331-00", NULL,
	};
	char *invalid[] = {
		"TRACEPARENT=00-0AF7651916CD43DD8448EB211C80319C-"
		"b7ad6b7169203331-01",
		"TRACESTATE=a=b", NULL,
	};
	struct span *s;

	ctx_init(&c, unsampled);
	s = ctx_start(SPAN_KIND_SERVER, NULL);
	ck_assert(!(s->trace_flags & SPAN_FLAG_SAMPLED));
	nsubmitted = 0;
	ctx_end(s);
	ck_assert_int_eq(nsubmitted, 0);  /* unsampled: not exported */

	/* Uppercase hex is invalid: a new trace, tracestate ignored. */
	struct config c2 = cfg_with(CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON, 1);
	ctx_init(&c2, invalid);
	s = ctx_start(SPAN_KIND_SERVER, NULL);
	ck_assert_int_eq(s->parent_is_remote, 0);
	ck_assert_uint_eq(s->trace_state.len, 0);
	ck_assert(s->trace_flags & SPAN_FLAG_SAMPLED);
	ctx_discard(s);
}
END_TEST

START_TEST(ids_random_and_fork_reseed)
{
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);
	uint8_t a[16], b[16];

	ctx_init(&c, NULL);
	ctx_random(a, 16);
	ctx_random(b, 16);
	ck_assert(memcmp(a, b, 16) != 0);
	struct span *s1 = ctx_start(SPAN_KIND_INTERNAL, NULL);
	struct span *s2 = ctx_start(SPAN_KIND_INTERNAL, NULL);
	ck_assert(memcmp(s1->trace_id, s2->trace_id, 16) != 0);
	ck_assert(memcmp(s1->span_id, s2->span_id, 8) != 0);
	ck_assert_ptr_null(NULL);
	ctx_discard(s1);
	ctx_discard(s2);
	/* After a fork the generator reseeds: the next ids differ from
	 * what the same generator state would have produced. */
	ctx_after_fork_child();
	ctx_random(a, 16);
	ck_assert(memcmp(a, b, 16) != 0);
}
END_TEST

#define MAIN_IDS 400000
#define HANDLER_IDS 20000

static uint64_t handler_ids[HANDLER_IDS];
static volatile sig_atomic_t handler_n;

/* What a hook running in a signal handler does: takes ids. */
static void take_id(int sig)
{
	(void)sig;
	if (handler_n < HANDLER_IDS) {
		ctx_random((uint8_t *)&handler_ids[handler_n], 8);
		handler_n = handler_n + 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A signal handler on the same thread that takes ids while the code it
 * interrupted is taking some never gets the same ones. */
START_TEST(ids_unique_with_signal_handlers)
{
	static uint64_t all[MAIN_IDS + HANDLER_IDS];
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);
	struct itimerval every = { { 0, 10 }, { 0, 10 } }, off = { 0 };
	struct sigaction sa, old;
	size_t i, n;

	ctx_init(&c, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = take_id;
	sa.sa_flags = SA_RESTART;
	ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
	for (i = 0; i < MAIN_IDS; i++)
		ctx_random((uint8_t *)&all[i], 8);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	n = (size_t)handler_n;
	ck_assert_uint_gt(n, 50);       /* the handler did interrupt */
	memcpy(all + MAIN_IDS, handler_ids, n * sizeof(all[0]));
	qsort(all, MAIN_IDS + n, sizeof(all[0]), cmp_u64);
	for (i = 0; i + 1 < MAIN_IDS + n; i++)
		ck_assert_msg(all[i] != all[i + 1], "id %016llx twice",
			      (unsigned long long)all[i]);
}
END_TEST

START_TEST(record_pool_exhaustion)
{
	static struct span *held[RECORD_POOL_SIZE];
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);

	ctx_init(&c, NULL);
	for (int i = 0; i < RECORD_POOL_SIZE; i++) {
		held[i] = ctx_start(SPAN_KIND_INTERNAL, NULL);
		ck_assert_ptr_nonnull(held[i]);
	}
	ndropped = 0;
	ck_assert_ptr_null(ctx_start(SPAN_KIND_INTERNAL, NULL));
	ck_assert_int_eq(ndropped, 1);
	for (int i = 0; i < RECORD_POOL_SIZE; i++)
		ctx_discard(held[i]);
	ck_assert_uint_eq(rec_in_flight(), 0);
}
END_TEST

START_TEST(record_strings_truncate)
{
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);
	static char big[4096];
	struct span *s;

	ctx_init(&c, NULL);
	s = ctx_start(SPAN_KIND_INTERNAL, NULL);
	memset(big, 'x', sizeof(big));
	/* A multi-byte character straddling the cut is not split. */
	memcpy(big + SPAN_STRPOOL - 5, "\xc3\xa9\xc3\xa9\xc3\xa9", 6);
	rec_name(s, "n", 1);
	rec_attr_str(s, "db.query.text", big, sizeof(big));
	ck_assert(s->truncated);
	const struct span_attr *a = rec_find_attr(s, "db.query.text");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_lt(a->v.s.len, SPAN_STRPOOL);
	ck_assert_uint_ne(((unsigned char)span_str_ptr(s, a->v.s)
			   [a->v.s.len - 1] & 0xC0), 0xC0);
	rec_attr_int(s, "k", 1);
	rec_attr_int(s, "k", 2);  /* same key: replaced, not repeated */
	ck_assert_int_eq(rec_find_attr(s, "k")->v.i, 2);
	ctx_discard(s);
}
END_TEST

/* Setting a key again replaces its value, whichever keys came before:
 * keys 8 bytes apart, more of them than a record has slots, so that some
 * share a bit of the record's key filter and some do not. */
START_TEST(record_attr_replaced)
{
	struct config c = cfg_with(CONFIG_SAMPLER_ALWAYS_ON, 1);
	static char keys[SPAN_MAX_ATTRS + 8][8];
	struct span *s;
	int i, round;

	ctx_init(&c, NULL);
	s = ctx_start(SPAN_KIND_INTERNAL, NULL);
	for (i = 0; i < SPAN_MAX_ATTRS + 8; i++) {
		keys[i][0] = 'k';
		keys[i][1] = (char)('A' + i);
	}
	for (round = 0; round < 3; round++)
		for (i = 0; i < SPAN_MAX_ATTRS + 8; i++)
			rec_attr_int(s, keys[i], round * 100 + i);
	ck_assert_uint_eq(s->nattrs, SPAN_MAX_ATTRS);
	ck_assert_uint_eq(s->dropped_attrs, 3 * 8);
	for (i = 0; i < SPAN_MAX_ATTRS; i++) {
		ck_assert_ptr_eq(s->attrs[i].key, keys[i]);
		ck_assert_int_eq(s->attrs[i].v.i, 200 + i);
	}
	ctx_discard(s);
}
END_TEST

UNIT_MAIN("context", sampler_fixed, sampler_ratio_bounds,
	  sampler_ratio_statistics, env_carrier_parent,
	  env_carrier_unsampled_and_invalid, ids_random_and_fork_reseed,
	  ids_unique_with_signal_handlers,
	  record_pool_exhaustion, record_strings_truncate,
	  record_attr_replaced)
