/*
 * Unit tests for shim/propagate.c: traceparent parsing and formatting with
 * the W3C test-harness cases, tracestate validation and truncation.  Every
 * parse input is also placed right before an unmapped page, so reading one
 * byte too many crashes the test.
 * links: shim/propagate.c
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim/propagate.h"
#include "unit.h"

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"

static int parse(const char *s, struct propagate_ctx *c)
{
	size_t len = strlen(s);

	return propagate_parse_traceparent(guarded(s, len), len, c);
}

static int ts(const char *s, char *out, size_t cap)
{
	size_t len = strlen(s);

	return propagate_check_tracestate(guarded(s, len), len, out, cap);
}

START_TEST(tp_valid)
{
	static const uint8_t tid[16] = {
		0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
		0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c,
	};
	static const uint8_t sid[8] = {
		0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31,
	};
	struct propagate_ctx c;

	memset(&c, 0xaa, sizeof(c));
	ck_assert_int_eq(parse(TP, &c), 0);
	ck_assert_mem_eq(c.trace_id, tid, 16);
	ck_assert_mem_eq(c.span_id, sid, 8);
	ck_assert_uint_eq(c.flags, 1);
	ck_assert_int_eq(parse("00-" TID "-" SID "-00", &c), 0);
	ck_assert_uint_eq(c.flags, 0);
	ck_assert_int_eq(parse("00-" TID "-" SID "-03", &c), 0);
	ck_assert_uint_eq(c.flags, 3);
	/* Unknown flag bits are cleared. */
	ck_assert_int_eq(parse("00-" TID "-" SID "-ff", &c), 0);
	ck_assert_uint_eq(c.flags, 3);
	ck_assert_int_eq(parse("00-" TID "-" SID "-08", &c), 0);
	ck_assert_uint_eq(c.flags, 0);
}
END_TEST

START_TEST(tp_whitespace)
{
	struct propagate_ctx c;

	ck_assert_int_eq(parse(" " TP, &c), 0);
	ck_assert_int_eq(parse(TP " ", &c), 0);
	ck_assert_int_eq(parse("\t " TP " \t", &c), 0);
	ck_assert_uint_eq(c.flags, 1);
	ck_assert_int_eq(parse("00 -" TID "-" SID "-01", &c), -1);
	ck_assert_int_eq(parse("00-" TID " -" SID "-01", &c), -1);
	ck_assert_int_eq(parse("\n" TP, &c), -1);
	ck_assert_int_eq(parse("", &c), -1);
	ck_assert_int_eq(parse("   ", &c), -1);
}
END_TEST

START_TEST(tp_invalid)
{
	static const char *const bad[] = {
		/* uppercase */
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"00-" TID "-B7AD6B7169203331-01",
		"00-" TID "-" SID "-0A",
		"0A-" TID "-" SID "-01",
		/* version */
		"ff-" TID "-" SID "-01",
		"0x-" TID "-" SID "-01",
		"g0-" TID "-" SID "-01",
		"-0-" TID "-" SID "-01",
		/* length for version 00 */
		TP ".",
		TP "-",
		TP "-x",
		"00-" TID "-" SID "-1",
		"00-" TID "0-" SID "-01",
		"00-" TID "-" SID "0-01",
		"00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
		/* zero ids */
		"00-00000000000000000000000000000000-" SID "-01",
		"00-" TID "-0000000000000000-01",
		/* separators and digits */
		"00_" TID "-" SID "-01",
		"00-" TID "_" SID "-01",
		"00-" TID "-" SID "_01",
		"00-" TID "-" SID "-0g",
		"00-0af7651916cd43dd8448eb211c80319z-" SID "-01",
		"00-" TID "-b7ad6b716920333.-01",
		/* higher version: char 56 must be '-' */
		"cc-" TID "-" SID "-01.what-the-future-will-be-like",
		"cc-" TID "-" SID "-0",
	};
	struct propagate_ctx c, before;
	size_t i;

	memset(&c, 0x55, sizeof(c));
	before = c;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], &c) == -1, "accepted %s", bad[i]);
		ck_assert_mem_eq(&c, &before, sizeof(c));
	}
}
END_TEST

START_TEST(tp_higher_version)
{
	struct propagate_ctx c;
	char buf[64];

	ck_assert_int_eq(parse("cc-" TID "-" SID "-01", &c), 0);
	ck_assert_int_eq(parse("cc-" TID "-" SID
			       "-01-what-the-future-will-be-like", &c), 0);
	ck_assert_uint_eq(c.flags, 1);
	ck_assert_int_eq(parse("01-" TID "-" SID "-09-", &c), 0);
	ck_assert_uint_eq(c.flags, 1);
	/* Re-emitted as version 00. */
	ck_assert_uint_eq(propagate_format_traceparent(&c, buf, sizeof(buf)),
			  55);
	ck_assert_str_eq(buf, TP);
	/* Even higher versions keep the rules about ids. */
	ck_assert_int_eq(parse("cc-00000000000000000000000000000000-" SID
			       "-01-x", &c), -1);
	ck_assert_int_eq(parse("fe-" TID "-" SID "-01", &c), 0);
}
END_TEST

START_TEST(tp_format)
{
	struct propagate_ctx c;
	char buf[80];

	ck_assert_int_eq(parse(TP, &c), 0);
	memset(buf, '#', sizeof(buf));
	ck_assert_uint_eq(propagate_format_traceparent(&c, buf, 54), 0);
	ck_assert_int_eq(buf[0], '#');
	ck_assert_uint_eq(propagate_format_traceparent(&c, buf, 55), 55);
	ck_assert_mem_eq(buf, TP, 55);
	ck_assert_int_eq(buf[55], '#');
	ck_assert_uint_eq(propagate_format_traceparent(&c, buf, 56), 55);
	ck_assert_str_eq(buf, TP);
	c.flags = 0xfe;
	propagate_format_traceparent(&c, buf, sizeof(buf));
	ck_assert_str_eq(buf, "00-" TID "-" SID "-02");
	/* Into the last 55 bytes before the unmapped page. */
	c.flags = 1;
	ck_assert_uint_eq(propagate_format_traceparent(&c, guard_end - 55, 55),
			  55);
	ck_assert_mem_eq(guard_end - 55, TP, 55);
}
END_TEST

START_TEST(tp_roundtrip_all_flags)
{
	struct propagate_ctx c, d;
	char buf[56];
	unsigned f;

	for (f = 0; f < 256; f++) {
		snprintf(buf, sizeof(buf), "00-" TID "-" SID "-%02x", f);
		ck_assert_int_eq(parse(buf, &c), 0);
		ck_assert_uint_eq(c.flags, f & 3);
		propagate_format_traceparent(&c, buf, sizeof(buf));
		ck_assert_int_eq(parse(buf, &d), 0);
		ck_assert_mem_eq(&c, &d, sizeof(c));
	}
}
END_TEST

START_TEST(ts_basic)
{
	char out[600];

	ck_assert_int_eq(ts("foo=1,bar=2", out, sizeof(out)), 11);
	ck_assert_str_eq(out, "foo=1,bar=2");
	ck_assert_int_eq(ts(" foo=1 , ,\tbar=2 \t,", out, sizeof(out)), 11);
	ck_assert_str_eq(out, "foo=1,bar=2");
	ck_assert_int_eq(ts("", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(ts(" , ,,\t", out, sizeof(out)), 0);
	ck_assert_int_eq(ts("congo=t61rcWkgMzE", out, sizeof(out)), 17);
	ck_assert_int_eq(ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", out,
			    sizeof(out)), 39);
	/* Multi-tenant and Level 2 keys. */
	ck_assert_int_eq(ts("tenant@vendor=x,1a=y,a_-*/@b=z", out,
			    sizeof(out)), 30);
	/* Values: inner spaces, any printable but , and = */
	ck_assert_int_eq(ts("foo=a b!\"#~", out, sizeof(out)), 11);
	ck_assert_str_eq(out, "foo=a b!\"#~");
}
END_TEST

START_TEST(ts_invalid)
{
	static const char *const bad[] = {
		"Foo=1", "_foo=1", "-a=1", "@a=1", "fo o=1", "foo =1",
		"=1", "foo=", "foo", "foo=1,bar", "foo=a=b", "foo=a\tb",
		"foo=\x7f", "foo=\x01", "foo=caf\xc3\xa9", "foo=1,foo=2",
		"foo=1,bar=2,foo=3", "a.b=1", "foo=1;bar=2",
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ts(bad[i], out, sizeof(out)) == -1,
			      "accepted %s", bad[i]);
}
END_TEST

START_TEST(ts_lengths)
{
	char in[700], out[600];

	/* key of 256 characters ok, 257 not */
	memset(in, 'k', 256);
	strcpy(in + 256, "=v");
	ck_assert_int_eq(ts(in, out, sizeof(out)), 258);
	memset(in, 'k', 257);
	strcpy(in + 257, "=v");
	ck_assert_int_eq(ts(in, out, sizeof(out)), -1);
	/* value of 256 characters ok, 257 not */
	strcpy(in, "k=");
	memset(in + 2, 'v', 256);
	in[258] = '\0';
	ck_assert_int_eq(ts(in, out, sizeof(out)), 258);
	memset(in + 2, 'v', 257);
	in[259] = '\0';
	ck_assert_int_eq(ts(in, out, sizeof(out)), -1);
}
END_TEST

START_TEST(ts_members)
{
	char in[400], out[600];
	size_t n = 0;
	int i;

	for (i = 0; i < 32; i++)
		n += (size_t)sprintf(in + n, "%sk%d=%d", i ? "," : "", i, i);
	ck_assert_int_gt(ts(in, out, sizeof(out)), 0);
	ck_assert_str_eq(out, in);
	/* Empty members do not count. */
	strcat(in, ",,  ,");
	ck_assert_int_gt(ts(in, out, sizeof(out)), 0);
	strcat(in, "k32=32");
	ck_assert_int_eq(ts(in, out, sizeof(out)), -1);
}
END_TEST

/* Builds "kN=vvv..." with total length len. */
static void member(char *dst, int idx, size_t len)
{
	int k = sprintf(dst, "k%d=", idx);

	memset(dst + k, 'v', len - (size_t)k);
	dst[len] = '\0';
}

START_TEST(ts_truncate_long_first)
{
	static const size_t lens[] = { 100, 200, 100, 200, 50 };
	char in[800], m[300], out[600], want[800];
	size_t i;
	int r;

	in[0] = want[0] = '\0';
	for (i = 0; i < 5; i++) {
		member(m, (int)i, lens[i]);
		if (i)
			strcat(in, ",");
		strcat(in, m);
		if (i == 3)
			continue;
		if (i)
			strcat(want, ",");
		strcat(want, m);
	}
	/* 654 > 512: the rightmost member over 128 goes first. */
	r = ts(in, out, sizeof(out));
	ck_assert_int_eq(r, (int)strlen(want));
	ck_assert_str_eq(out, want);
	ck_assert_int_le(r, PROPAGATE_TRACESTATE_MAX);
}
END_TEST

START_TEST(ts_truncate_from_right)
{
	char in[800], m[100], out[600], want[800];
	int i;

	in[0] = want[0] = '\0';
	for (i = 0; i < 10; i++) {
		member(m, i, 60);
		if (i)
			strcat(in, ",");
		strcat(in, m);
		if (i < 8) {
			if (i)
				strcat(want, ",");
			strcat(want, m);
		}
	}
	/* 609 > 512, nothing over 128: 9 members are 548, 8 are 487. */
	ck_assert_int_eq(ts(in, out, sizeof(out)), 487);
	ck_assert_str_eq(out, want);
	/* Exactly 512 is kept whole. */
	in[0] = '\0';
	for (i = 0; i < 8; i++) {
		member(m, i, i == 7 ? 64 : 63);
		if (i)
			strcat(in, ",");
		strcat(in, m);
	}
	ck_assert_uint_eq(strlen(in), 512);
	ck_assert_int_eq(ts(in, out, sizeof(out)), 512);
}
END_TEST

START_TEST(ts_small_cap)
{
	char out[32];

	memset(out, '#', sizeof(out));
	ck_assert_int_eq(ts("foo=1,bar=2,baz=3333333333333", out, 20), 11);
	ck_assert_str_eq(out, "foo=1,bar=2");
	ck_assert_int_eq(out[12], '#');
	ck_assert_int_eq(ts("foo=1", out, 1), 0);
	ck_assert_str_eq(out, "");
	memset(out, '#', sizeof(out));
	ck_assert_int_eq(ts("foo=1", out, 0), 0);
	ck_assert_int_eq(out[0], '#');
	/* Validation happens before truncation. */
	ck_assert_int_eq(ts("foo=1,BAD=2", out, 6), -1);
	/* Writing right up to the unmapped page. */
	ck_assert_int_eq(propagate_check_tracestate("a=1,b=2", 7,
						    guard_end - 8, 8), 7);
	ck_assert_str_eq(guard_end - 8, "a=1,b=2");
}
END_TEST

static Suite *propagate_suite(void)
{
	Suite *s = suite_create("propagate");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, tp_valid);
	tcase_add_test(tc, tp_whitespace);
	tcase_add_test(tc, tp_invalid);
	tcase_add_test(tc, tp_higher_version);
	tcase_add_test(tc, tp_format);
	tcase_add_test(tc, tp_roundtrip_all_flags);
	tcase_add_test(tc, ts_basic);
	tcase_add_test(tc, ts_invalid);
	tcase_add_test(tc, ts_lengths);
	tcase_add_test(tc, ts_members);
	tcase_add_test(tc, ts_truncate_long_first);
	tcase_add_test(tc, ts_truncate_from_right);
	tcase_add_test(tc, ts_small_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(propagate_suite());
}
