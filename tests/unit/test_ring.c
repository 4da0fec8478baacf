/*
 * The ring: order, capacity by count and by bytes, records of every size
 * across the wrap-around, drop counting, reset, and several producer
 * threads racing one consumer (also run under ThreadSanitizer).
 * links: pipeline/ring.c pipeline/span_sql.c pipeline/sql_memo.c pipeline/record.c pipeline/slab.c
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/ring.h"
#include "unit.h"

/* A record of `pool` pooled bytes (at least 16) that says n at both ends
 * of its pool. */
static struct span make_sized(uint64_t n, size_t pool)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.start_ns = n;
	s.pool_used = (uint16_t)pool;
	memcpy(s.pool, &n, sizeof(n));
	memcpy(s.pool + pool - sizeof(n), &n, sizeof(n));
	return s;
}

static struct span make(uint64_t n)
{
	return make_sized(n, 16);
}

/* The record's pool says n at both ends. */
static void assert_intact(const struct span *s, uint64_t n)
{
	uint64_t first, last;

	ck_assert_uint_eq(s->start_ns, n);
	memcpy(&first, s->pool, sizeof(first));
	memcpy(&last, s->pool + s->pool_used - sizeof(last), sizeof(last));
	ck_assert_uint_eq(first, n);
	ck_assert_uint_eq(last, n);
}

/* The largest record there is: every attribute, event and stack slot and
 * the whole pool in use. */
static struct span make_full(uint64_t n)
{
	struct span s = make_sized(n, SPAN_STRPOOL);
	static const char *const key = "k";

	s.nattrs = SPAN_MAX_ATTRS;
	for (int i = 0; i < SPAN_MAX_ATTRS; i++) {
		s.attrs[i].key = key;
		s.attrs[i].type = SPAN_ATTR_INT;
		s.attrs[i].v.i = (int64_t)(n + (uint64_t)i);
	}
	s.nevents = SPAN_MAX_EVENTS;
	for (int i = 0; i < SPAN_MAX_EVENTS; i++) {
		s.events[i].time_ns = n + (uint64_t)i;
		s.events[i].name = key;
		s.events[i].nattrs = SPAN_MAX_EVENT_ATTRS;
	}
	s.stack_depth = SPAN_STACK_MAX;
	for (int i = 0; i < SPAN_STACK_MAX; i++)
		s.stack[i] = (uintptr_t)(n * 100 + (uint64_t)i);
	return s;
}

START_TEST(fifo_and_capacity)
{
	struct ring *r = ring_create(4);
	struct span out[8];

	ck_assert_ptr_nonnull(r);
	for (uint64_t i = 1; i <= 4; i++) {
		struct span s = make(i);

		ck_assert_uint_eq(ring_push(r, &s), i);
	}
	struct span extra = make(99);
	ck_assert_uint_eq(ring_push(r, &extra), 0);
	ck_assert_uint_eq(ring_dropped(r), 1);
	ck_assert_uint_eq(ring_count(r), 4);
	ck_assert_uint_eq(ring_pop(r, out, 3), 3);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(out[i].start_ns, (uint64_t)i + 1);
	/* Wrap around: two more fit now. */
	for (uint64_t i = 5; i <= 7; i++) {
		struct span s = make(i);

		ck_assert_uint_ne(ring_push(r, &s), 0);
	}
	ck_assert_uint_eq(ring_pop(r, out, 8), 4);
	ck_assert_uint_eq(out[0].start_ns, 4);
	ck_assert_uint_eq(out[3].start_ns, 7);
	ck_assert_uint_eq(ring_pop(r, out, 8), 0);
	ring_destroy(r);
}
END_TEST

START_TEST(odd_capacity_and_reset)
{
	struct ring *r = ring_create(3);
	struct span out[4];

	for (uint64_t lap = 0; lap < 10; lap++) {
		for (uint64_t i = 0; i < 3; i++) {
			struct span s = make(lap * 3 + i);

			ck_assert_uint_ne(ring_push(r, &s), 0);
		}
		ck_assert_uint_eq(ring_pop(r, out, 4), 3);
		ck_assert_uint_eq(out[2].start_ns, lap * 3 + 2);
	}
	struct span s = make(1);
	ring_push(r, &s);
	ring_push(r, &s);
	ring_push(r, &s);
	ring_push(r, &s);
	ck_assert_uint_eq(ring_dropped(r), 1);
	ring_reset(r);
	ck_assert_uint_eq(ring_count(r), 0);
	ck_assert_uint_eq(ring_dropped(r), 0);
	ck_assert_uint_eq(ring_pop(r, out, 4), 0);
	ring_destroy(r);
}
END_TEST

START_TEST(packed_records_round_trip)
{
	struct ring *r = ring_create(4);
	struct span in = make_full(7), out;

	ck_assert_uint_eq(ring_push(r, &in), 1);
	memset(&out, 0xa5, sizeof(out));
	ck_assert_uint_eq(ring_pop(r, &out, 1), 1);
	ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
	ring_destroy(r);
}
END_TEST

/* Large records fill the ring by bytes before they fill it by count;
 * records of mixed sizes come out intact lap after lap, across the
 * padding that a record too long for the end of the buffer leaves. */
START_TEST(bounded_by_bytes_and_wrapping)
{
	size_t cap = 8, fit = 0;
	struct ring *r = ring_create(cap);
	struct span out[8];
	uint64_t next = 0, want = 0;

	for (;;) {
		struct span s = make_full(fit);

		if (!ring_push(r, &s))
			break;
		fit++;
	}
	ck_assert_uint_lt(fit, cap);
	ck_assert_uint_ge(fit, 2);
	ck_assert_uint_eq(ring_dropped(r), 1);
	ck_assert_uint_eq(ring_pop(r, out, 8), fit);
	for (size_t i = 0; i < fit; i++)
		ck_assert_uint_eq(out[i].stack[SPAN_STACK_MAX - 1],
				  i * 100 + SPAN_STACK_MAX - 1);
	for (int lap = 0; lap < 200; lap++) {
		size_t pushed = 0, got;

		for (int k = 0; k < 3; k++) {
			size_t pool = 16 + (size_t)((next * 397) %
						    (SPAN_STRPOOL - 16));
			struct span s = make_sized(next, pool);

			if (ring_push(r, &s)) {
				next++;
				pushed++;
			}
		}
		got = ring_pop(r, out, 8);
		ck_assert_uint_eq(got, pushed);
		for (size_t i = 0; i < got; i++)
			assert_intact(&out[i], want++);
	}
	ck_assert_uint_eq(want, next);
	ring_destroy(r);
}
END_TEST

START_TEST(zero_capacity_refused)
{
	ck_assert_ptr_null(ring_create(0));
}
END_TEST

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct mp {
	struct ring *r;
	int id;
	uint64_t pushed;
};

static void *producer(void *arg)
{
	struct mp *p = arg;

	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		/* Pools from 16 bytes to the whole pool, so that entries
		 * of all sizes race each other across the wrap-around. */
		struct span s = make_sized(((uint64_t)p->id << 32) | i,
					   16 + (i * 131) % (SPAN_STRPOOL - 16));

		if (ring_push(p->r, &s))
			p->pushed++;
	}
	return NULL;
}

START_TEST(many_producers)
{
	struct ring *r = ring_create(256);
	struct mp ps[PRODUCERS];
	pthread_t th[PRODUCERS];
	uint64_t last[PRODUCERS], got = 0, pushed = 0;
	struct span *out = malloc(64 * sizeof(*out));
	int running = PRODUCERS, joined[PRODUCERS] = { 0 };

	for (int i = 0; i < PRODUCERS; i++) {
		ps[i] = (struct mp){ .r = r, .id = i };
		last[i] = UINT64_MAX;
		pthread_create(&th[i], NULL, producer, &ps[i]);
	}
	for (;;) {
		size_t n = ring_pop(r, out, 64);

		for (size_t k = 0; k < n; k++) {
			uint64_t v = out[k].start_ns;
			int id = (int)(v >> 32);
			uint64_t seq = v & 0xffffffffu;

			/* Each producer's spans arrive in order, intact. */
			assert_intact(&out[k], v);
			ck_assert_int_lt(id, PRODUCERS);
			ck_assert(last[id] == UINT64_MAX || seq > last[id]);
			last[id] = seq;
		}
		got += n;
		if (n == 0 && running == 0 && ring_count(r) == 0)
			break;
		if (n == 0 && running > 0) {
			running = 0;
			for (int i = 0; i < PRODUCERS; i++) {
				if (!joined[i] &&
				    pthread_tryjoin_np(th[i], NULL) == 0)
					joined[i] = 1;
				running += !joined[i];
			}
		}
	}
	for (int i = 0; i < PRODUCERS; i++) {
		if (!joined[i])
			pthread_join(th[i], NULL);
		pushed += ps[i].pushed;
	}
	got += ring_pop(r, out, 64);
	/* Nothing lost silently: every push is either popped or counted. */
	ck_assert_uint_eq(got, pushed);
	ck_assert_uint_eq(pushed + ring_dropped(r),
			  (uint64_t)PRODUCERS * PER_PRODUCER);
	free(out);
	ring_destroy(r);
}
END_TEST

size_t ring_resident_pages(const struct ring *r);

/* The consumer makes the pages ahead of the write position resident
 * without touching what producers wrote there, only during the first lap,
 * and a ring nothing was pushed to stays unmapped. */
START_TEST(populated_ahead_of_the_producers)
{
	struct ring *r = ring_create(2048);
	struct span s, out[64];
	size_t pages, n, before;
	uint64_t i;

	ck_assert_ptr_nonnull(r);
	pages = 2048 * RING_BYTES_PER_SPAN / 4096;
	ck_assert_uint_eq(ring_resident_pages(r), 0);
	for (i = 0; i < 8; i++) {
		s = make_sized(i, 600);
		ck_assert_uint_ne(ring_push(r, &s), 0);
	}
	before = ring_resident_pages(r);
	ck_assert_uint_le(before, 2);
	/* 64 KiB ahead at least. */
	ring_populate_ahead(r);
	n = ring_resident_pages(r);
	ck_assert_uint_ge(n, before + 15);
	ck_assert_uint_lt(n, pages / 4);
	/* What was pushed before is intact. */
	ck_assert_uint_eq(ring_pop(r, out, 64), 8);
	for (i = 0; i < 8; i++)
		assert_intact(&out[i], i);
	/* After a burst of about 420 KiB, twice that ahead. */
	for (i = 0; i < 600; i++) {
		s = make_sized(i, 600);
		ck_assert_uint_ne(ring_push(r, &s), 0);
		if (ring_count(r) == 64)
			ck_assert_uint_eq(ring_pop(r, out, 64), 64);
	}
	before = ring_resident_pages(r);
	ring_populate_ahead(r);
	n = ring_resident_pages(r);
	ck_assert_uint_ge(n, before + 2 * 600 * 600 / 4096);
	ring_pop(r, out, 64);
	/* Further on, further ahead; the whole ring once a lap is done. */
	for (i = 0; i < 6000; i++) {
		s = make_sized(i, 600);
		ck_assert_uint_ne(ring_push(r, &s), 0);
		if (ring_count(r) == 64) {
			ck_assert_uint_eq(ring_pop(r, out, 64), 64);
			assert_intact(&out[63], i);
			ring_populate_ahead(r);
		}
	}
	ck_assert_uint_eq(ring_resident_pages(r), pages);
	ring_destroy(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fifo_and_capacity);
	tcase_add_test(tc, odd_capacity_and_reset);
	tcase_add_test(tc, packed_records_round_trip);
	tcase_add_test(tc, bounded_by_bytes_and_wrapping);
	tcase_add_test(tc, zero_capacity_refused);
	tcase_add_test(tc, many_producers);
	tcase_add_test(tc, populated_ahead_of_the_producers);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
