/*
 * Unit tests for the pure half of shim/httpinject.c: where a request line
 * ends and which headers a written head already carries.  Inputs sit right
 * before an unmapped page, so reading past one crashes the test; the edit
 * itself is tested through httpconn.c (test_httpconn).
 * links: shim/httpinject.c shim/propagate.c
 */
#include "shim/httpinject.h"
#include "unit.h"

START_TEST(header_find)
{
	static const char block[] =
		"GET / HTTP/1.1\r\nHost: a\r\nTRACEPARENT:  tp1 \r\n"
		"X: y\ntraceparent:tp2\r\n\r\ntraceparent: body\r\n";
	struct str v;
	const char *b = guarded(block, sizeof(block) - 1);

	ck_assert_int_eq(hi_find_header(b, sizeof(block) - 1,
					  "traceparent", &v), 2);
	ck_assert_uint_eq(v.n, 3);
	ck_assert_mem_eq(v.p, "tp1", 3);
	ck_assert_int_eq(hi_find_header(b, sizeof(block) - 1, "host", &v),
			 1);
	ck_assert_mem_eq(v.p, "a", 1);
	ck_assert_int_eq(hi_find_header(b, sizeof(block) - 1, "x", &v), 1);
	ck_assert_int_eq(hi_find_header(b, sizeof(block) - 1, "cookie",
					  &v), 0);
	ck_assert_ptr_null(v.p);
	/* "Host" must be followed by ':' right away. */
	b = guarded("Hostx: 1\r\nHost : 2\r\n", 20);
	ck_assert_int_eq(hi_find_header(b, 20, "host", &v), 0);
	/* An unterminated last line may still grow: not counted. */
	b = guarded("Host: a", 7);
	ck_assert_int_eq(hi_find_header(b, 7, "host", &v), 0);
	ck_assert_int_eq(hi_find_header(b, 0, "host", &v), 0);
}
END_TEST

static int inject(const char *s, struct hi_point *out)
{
	return hi_find_point(guarded(s, strlen(s)), strlen(s), out);
}

START_TEST(inject_point)
{
	struct hi_point in;
	const char *s;
	size_t i;

	ck_assert_int_eq(inject("GET /x HTTP/1.1\r\nHost: h\r\n\r\n", &in), 0);
	ck_assert_uint_eq(in.offset, 17);
	ck_assert_int_eq(in.has_traceparent, 0);
	ck_assert_int_eq(in.has_tracestate, 0);
	ck_assert_int_eq(in.head_complete, 1);
	ck_assert_int_eq(inject("POST / HTTP/1.0\nTraceparent: x\n"
				"tracestate: a=1\n\nbody", &in), 0);
	ck_assert_uint_eq(in.offset, 16);
	ck_assert_int_eq(in.has_traceparent, 1);
	ck_assert_int_eq(in.has_tracestate, 1);
	ck_assert_int_eq(in.head_complete, 1);
	/* Head continues in a later write. */
	ck_assert_int_eq(inject("GET / HTTP/1.1\r\nHost: h\r\ntracepa", &in),
			 0);
	ck_assert_int_eq(in.has_traceparent, 0);
	ck_assert_int_eq(in.head_complete, 0);
	/* traceparent in the body does not count. */
	ck_assert_int_eq(inject("POST / HTTP/1.1\r\n\r\ntraceparent: x\r\n",
				&in), 0);
	ck_assert_int_eq(in.has_traceparent, 0);
	/* Every prefix of a request line is incomplete, never invalid. */
	s = "OPTIONS * HTTP/1.1\r\n";
	for (i = 0; i < strlen(s); i++) {
		ck_assert_int_eq(hi_find_point(guarded(s, i), i, &in), -2);
	}
	ck_assert_int_eq(inject(s, &in), 0);
	ck_assert_uint_eq(in.offset, strlen(s));
	ck_assert_int_eq(inject("HTTP/1.1 200 OK\r\n\r\n", &in), -1);
	ck_assert_int_eq(inject("get / HTTP/1.1\r\n", &in), -1);
	ck_assert_int_eq(inject("GET / HTTP/2.0\r\n", &in), -1);
	ck_assert_int_eq(inject("GET  / HTTP/1.1\r\n", &in), -1);
	ck_assert_int_eq(inject("GET / HTTP/1.1\rX", &in), -1);
	ck_assert_int_eq(inject("\x16\x03\x01", &in), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("httpinject");
	TCase *tc = tcase_create("httpinject");

	tcase_add_checked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, header_find);
	tcase_add_test(tc, inject_point);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
