/*
 * The retry policy and the circuit breaker, with injected time: which
 * statuses are retryable, backoff with full jitter, Retry-After against
 * the deadline, attempt timeouts, and every transition of the breaker.
 * links: exporter/retry.c
 */
#include <errno.h>

#include "exporter/retry.h"
#include "unit.h"

#define NS 1000000000ull
#define MS 1000000ull

START_TEST(statuses)
{
	static const long yes[] = { 429, 502, 503, 504 };
	static const long no[] = { 200, 204, 301, 302, 400, 401, 403, 404,
				   408, 413, 500, 501, 505 };
	size_t i;

	for (i = 0; i < NELEM(yes); i++)
		ck_assert_int_eq(retry_status_retryable(yes[i]), 1);
	for (i = 0; i < NELEM(no); i++)
		ck_assert_int_eq(retry_status_retryable(no[i]), 0);
}
END_TEST

static uint64_t cap_for(unsigned retry)
{
	static const uint64_t caps[] = {
		1000 * MS, 1500 * MS, 2250 * MS, 3375 * MS,
	};

	return retry < 4 ? caps[retry] : 5 * NS;
}

START_TEST(backoff_bounds_and_jitter)
{
	uint64_t x = 88172645463325252ull;
	unsigned r;

	for (r = 0; r < 12; r++) {
		uint64_t cap = cap_for(r), lo = UINT64_MAX, hi = 0;
		int i;

		ck_assert_uint_le(retry_backoff_ns(r, 0), cap);
		ck_assert_uint_le(retry_backoff_ns(r, UINT64_MAX), cap);
		ck_assert_uint_eq(retry_backoff_ns(r, cap), cap);
		for (i = 0; i < 2000; i++) {
			uint64_t w;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w = retry_backoff_ns(r, x);
			ck_assert_uint_le(w, cap);
			if (w < lo)
				lo = w;
			if (w > hi)
				hi = w;
		}
		/* Full jitter: the whole range is used. */
		ck_assert_uint_lt(lo, cap / 20);
		ck_assert_uint_gt(hi, cap - cap / 20);
	}
}
END_TEST

START_TEST(next_retry_rules)
{
	uint64_t w = 0, now = 1000 * NS;

	/* Not retryable, or attempts used up. */
	ck_assert_int_eq(retry_next(1, 5, 0, UINT64_MAX, 7, now,
				    RETRY_NO_DEADLINE, &w), 0);
	ck_assert_int_eq(retry_next(5, 5, 1, UINT64_MAX, 7, now,
				    RETRY_NO_DEADLINE, &w), 0);
	ck_assert_int_eq(retry_next(1, 1, 1, UINT64_MAX, 7, now,
				    RETRY_NO_DEADLINE, &w), 0);
	/* Retry-After wins over backoff, exactly. */
	ck_assert_int_eq(retry_next(1, 5, 1, 3 * NS, 7, now,
				    now + 10 * NS, &w), 1);
	ck_assert_uint_eq(w, 3 * NS);
	/* Backoff within its cap. */
	ck_assert_int_eq(retry_next(3, 5, 1, UINT64_MAX,
				    UINT64_MAX - 3, now,
				    RETRY_NO_DEADLINE, &w), 1);
	ck_assert_uint_le(w, cap_for(2));
	/* A Retry-After past the deadline: give up now. */
	ck_assert_int_eq(retry_next(1, 5, 1, 11 * NS, 7, now,
				    now + 10 * NS, &w), 0);
	/* Wait fits but leaves too little for the attempt. */
	ck_assert_int_eq(retry_next(1, 5, 1, 10 * NS - 10 * MS, 7,
				    now, now + 10 * NS, &w), 0);
	ck_assert_int_eq(retry_next(1, 5, 1, 10 * NS -
				    RETRY_MIN_ATTEMPT_NS, 7,
				    now, now + 10 * NS, &w), 1);
	/* Deadline already gone. */
	ck_assert_int_eq(retry_next(1, 5, 1, 0, 7, now, now, &w), 0);
	ck_assert_int_eq(retry_next(1, 5, 1, 0, 7, now + 1, now, &w), 0);
}
END_TEST

START_TEST(next_retry_never_past_deadline)
{
	uint64_t x = 0x1234567887654321ull;
	int i, yes = 0;

	for (i = 0; i < 100000; i++) {
		uint64_t now, deadline, hint, w = 0;
		unsigned attempts;
		int r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		now = 1000 * NS + x % (100 * NS);
		deadline = now - 2 * NS + (x >> 20) % (12 * NS);
		hint = (x & 3) == 0 ? (x >> 30) % (8 * NS) : UINT64_MAX;
		attempts = 1 + (unsigned)((x >> 8) % 6);
		r = retry_next(attempts, 5, 1, hint, x * 31, now,
			       deadline, &w);
		if (!r)
			continue;
		yes++;
		ck_assert_uint_lt(now, deadline);
		ck_assert_uint_le(now + w + RETRY_MIN_ATTEMPT_NS,
				  deadline);
		ck_assert_uint_lt(attempts, 5);
		if (hint != UINT64_MAX)
			ck_assert_uint_eq(w, hint);
		else
			ck_assert_uint_le(w, cap_for(attempts - 1));
	}
	ck_assert_int_gt(yes, 1000);
}
END_TEST

/* The attempt's timeout, or the -ETIMEDOUT that says not to start it. */
static long tmo(uint32_t timeout_ms, uint64_t now, uint64_t deadline)
{
	long ms = -42;
	int rc = retry_attempt_timeout(timeout_ms, now, deadline, &ms);

	if (rc) {
		ck_assert_int_eq(rc, -ETIMEDOUT);
		ck_assert_int_eq(ms, -42);
		return -1;
	}
	return ms;
}

START_TEST(attempt_timeouts)
{
	uint64_t now = 50 * NS;

	ck_assert_int_eq(tmo(10000, now, RETRY_NO_DEADLINE), 10000);
	ck_assert_int_eq(tmo(0, now, RETRY_NO_DEADLINE), 0);
	ck_assert_int_eq(tmo(10000, now, now + 3 * NS), 3000);
	ck_assert_int_eq(tmo(0, now, now + 3 * NS), 3000);
	ck_assert_int_eq(tmo(700, now, now + 3 * NS), 700);
	ck_assert_int_eq(tmo(700, now, now + 10 * MS), -1);
	ck_assert_int_eq(tmo(700, now, now), -1);
	ck_assert_int_eq(tmo(700, now, now - 1), -1);
}
END_TEST

START_TEST(breaker_transitions)
{
	struct retry_breaker b;
	uint64_t t = 100 * NS;
	int i;

	retry_breaker_init(&b);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_CLOSED);
	/* Four failures, then a success: stays closed, count restarts. */
	for (i = 0; i < RETRY_BREAKER_THRESHOLD - 1; i++) {
		ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_FULL);
		ck_assert_int_eq(retry_breaker_record(&b, 0, t),
				 RETRY_UNCHANGED);
	}
	ck_assert_int_eq(retry_breaker_record(&b, 1, t), RETRY_UNCHANGED);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_CLOSED);
	for (i = 0; i < RETRY_BREAKER_THRESHOLD - 1; i++)
		ck_assert_int_eq(retry_breaker_record(&b, 0, t),
				 RETRY_UNCHANGED);
	/* The fifth in a row opens it for 5 s. */
	ck_assert_int_eq(retry_breaker_record(&b, 0, t), RETRY_OPENED);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_OPEN);
	ck_assert_uint_eq(retry_breaker_opens(&b), 1);
	ck_assert_uint_eq(retry_breaker_cool_ns(&b), 5 * NS);
	ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_NONE);
	ck_assert_int_eq(retry_breaker_allow(&b, t + 5 * NS - 1),
			 RETRY_PASS_NONE);
	/* Cool-down over: one trial, half-open. */
	ck_assert_int_eq(retry_breaker_allow(&b, t + 5 * NS),
			 RETRY_PASS_TRIAL);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_HALF_OPEN);
	/* Trial fails: open again, for 10 s now. */
	t += 5 * NS;
	ck_assert_int_eq(retry_breaker_record(&b, 0, t), RETRY_REOPENED);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_OPEN);
	ck_assert_uint_eq(retry_breaker_opens(&b), 2);
	ck_assert_uint_eq(retry_breaker_cool_ns(&b), 10 * NS);
	ck_assert_int_eq(retry_breaker_allow(&b, t + 10 * NS - 1),
			 RETRY_PASS_NONE);
	ck_assert_int_eq(retry_breaker_allow(&b, t + 10 * NS),
			 RETRY_PASS_TRIAL);
	/* Keep failing: 20, 40, then 60 s at most. */
	t += 10 * NS;
	retry_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 20 * NS);
	t += 20 * NS;
	ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_TRIAL);
	retry_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 40 * NS);
	t += 40 * NS;
	ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_TRIAL);
	retry_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 60 * NS);
	t += 60 * NS;
	ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_TRIAL);
	retry_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 60 * NS);
	/* A successful trial closes it and resets the cool-down. */
	t += 60 * NS;
	ck_assert_int_eq(retry_breaker_allow(&b, t), RETRY_PASS_TRIAL);
	ck_assert_int_eq(retry_breaker_record(&b, 1, t), RETRY_CLOSED);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_CLOSED);
	ck_assert_uint_eq(b.failures, 0);
	for (i = 0; i < RETRY_BREAKER_THRESHOLD - 1; i++)
		retry_breaker_record(&b, 0, t);
	ck_assert_int_eq(retry_breaker_record(&b, 0, t), RETRY_OPENED);
	ck_assert_uint_eq(b.open_until_ns - t, 5 * NS);
}
END_TEST

/* A trial that made no attempt: nothing counted, still due. */
START_TEST(breaker_skip)
{
	struct retry_breaker b;
	uint64_t t = 100 * NS;
	int i;

	retry_breaker_init(&b);
	/* Closed: a skipped batch changes nothing. */
	retry_breaker_skip(&b);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_CLOSED);
	for (i = 0; i < RETRY_BREAKER_THRESHOLD; i++)
		retry_breaker_record(&b, 0, t);
	ck_assert_int_eq(retry_breaker_allow(&b, t + 5 * NS),
			 RETRY_PASS_TRIAL);
	retry_breaker_skip(&b);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_OPEN);
	ck_assert_uint_eq(retry_breaker_opens(&b), 1);
	ck_assert_uint_eq(retry_breaker_cool_ns(&b), 5 * NS);
	/* The next batch is the trial, at once. */
	ck_assert_int_eq(retry_breaker_allow(&b, t + 5 * NS),
			 RETRY_PASS_TRIAL);
	ck_assert_int_eq(retry_breaker_state(&b), EXPORTER_BREAKER_HALF_OPEN);
}
END_TEST

UNIT_MAIN("retry", statuses, backoff_bounds_and_jitter, next_retry_rules,
	  next_retry_never_past_deadline, attempt_timeouts,
	  breaker_transitions, breaker_skip)
