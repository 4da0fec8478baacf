/*
 * Retry-After values and the three HTTP-date forms, each input placed
 * right before an unmapped page so that reading past it faults.
 * links: exporter/httpdate.c
 */
#include <errno.h>
#include <string.h>

#include "exporter/httpdate.h"
#include "unit.h"

#define NS 1000000000ull

static int date(const char *v, int64_t *t)
{
	size_t len = strlen(v);

	return httpdate_parse(guarded(v, len), len, t);
}

START_TEST(http_dates)
{
	int64_t t = 42;

	ck_assert_int_eq(date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	ck_assert_int_eq(t, 784111777);
	t = 42;
	ck_assert_int_eq(date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	ck_assert_int_eq(t, 784111777);
	t = 42;
	ck_assert_int_eq(date("Sun Nov  6 08:49:37 1994", &t), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
	ck_assert_int_eq(t, 0);
	/* Two-digit years before 70 are this century's. */
	ck_assert_int_eq(date("Friday, 01-Mar-24 00:00:00 GMT", &t), 0);
	ck_assert_int_eq(t, 1709251200);
	t = 42;
	ck_assert_int_eq(date("", &t), -EINVAL);
	ck_assert_int_eq(date("Sun", &t), -EINVAL);
	ck_assert_int_eq(date("Sun, 06 Nov 1994 08:49:37", &t), -EINVAL);
	ck_assert_int_eq(date("Sun, 06 Nov 1994 08:49:37 G", &t), -EINVAL);
	ck_assert_int_eq(date("Sun Nov  6 08:49:37 199", &t), -EINVAL);
	ck_assert_int_eq(date("Sunday, 06-Nov-94 08:49:37", &t), -EINVAL);
	ck_assert_int_eq(t, 42);
}
END_TEST

/* Retry-After of the string v, placed right before an unmapped page. */
static int ra(const char *v, int64_t now, uint64_t *d)
{
	size_t len = strlen(v);

	return httpdate_retry_after(guarded(v, len), len, now, d);
}

START_TEST(retry_after_seconds)
{
	uint64_t d = 42;

	ck_assert_int_eq(ra("1", 0, &d), 0);
	ck_assert_uint_eq(d, 1 * NS);
	ck_assert_int_eq(ra(" 120 \r\n", 0, &d), 0);
	ck_assert_uint_eq(d, 120 * NS);
	ck_assert_int_eq(ra("0", 0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* Saturates rather than overflowing. */
	ck_assert_int_eq(ra("99999999999999999999999", 0, &d), 0);
	ck_assert_uint_eq(d, 86400 * NS);
	d = 42;
	ck_assert_int_eq(ra("", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("   ", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("1.5", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("-1", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("10s", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("soon", 0, &d), -EINVAL);
	ck_assert_uint_eq(d, 42);
	/* Not NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(httpdate_retry_after("37xyz", 2, 0, &d), 0);
	ck_assert_uint_eq(d, 37 * NS);
}
END_TEST

START_TEST(retry_after_dates)
{
	const int64_t t0 = 784111777;   /* Sun, 06 Nov 1994 08:49:37 GMT */
	uint64_t d = 42;

	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sunday, 06-Nov-94 08:49:47 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sun Nov  6 08:49:47 1994", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* In the past: retry at once. */
	ck_assert_int_eq(ra("Sat, 05 Nov 1994 08:49:37 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* Day, month and year boundaries. */
	ck_assert_int_eq(ra("Wed, 01 Jan 2025 00:00:00 GMT",
			    1735689600 - 5, &d), 0);
	ck_assert_uint_eq(d, 5 * NS);
	ck_assert_int_eq(ra("Thu, 29 Feb 2024 23:59:59 GMT",
			    1709251199 - 61, &d), 0);
	ck_assert_uint_eq(d, 61 * NS);
	ck_assert_int_eq(ra("Tue, 31 Dec 2024 23:59:59 GMT",
			    1735689599 - 1, &d), 0);
	ck_assert_uint_eq(d, 1 * NS);
	/* Far future: capped at a day. */
	ck_assert_int_eq(ra("Fri, 01 Jan 2100 00:00:00 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 86400 * NS);

	d = 42;
	ck_assert_int_eq(ra("Sun, 06 Foo 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 32 Nov 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 24:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 UTC", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 GMT x", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49", t0, &d), -EINVAL);
	ck_assert_int_eq(ra("Sun Nov  6 08:49:47", t0, &d), -EINVAL);
	ck_assert_int_eq(ra("Sun,06 Nov 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_uint_eq(d, 42);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("httpdate");
	TCase *tc = tcase_create("httpdate");

	tcase_add_checked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, http_dates);
	tcase_add_test(tc, retry_after_seconds);
	tcase_add_test(tc, retry_after_dates);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
