/*
 * The shared text helpers: views, ASCII case, trimming, comma lists, hex.
 */
#include "common/text.h"
#include "unit.h"

START_TEST(case_and_trim)
{
	struct str a = str_trim(str_of(" \tContent-Type \t"));

	ck_assert_uint_eq(a.n, 12);
	ck_assert(str_eq_nocase(a, STR_LIT("content-TYPE")));
	ck_assert(!str_eq_nocase(a, STR_LIT("content-typ")));
	ck_assert(str_is(a, "content-type"));
	ck_assert(!str_is(a, "content-type2"));
	ck_assert(!str_is(a, "content"));
	ck_assert(str_starts_nocase(a, STR_LIT("CONTENT-")));
	ck_assert(!str_starts_nocase(STR_LIT("co"), STR_LIT("content")));
	ck_assert_uint_eq(str_trim(str_of("  \t ")).n, 0);
	ck_assert_uint_eq(str_of(NULL).n, 0);
	/* ASCII only: bytes past 0x7f are never folded */
	ck_assert(!str_eq_nocase(STR_LIT("\xc3\x89"), STR_LIT("\xc3\xa9")));
	ck_assert_int_eq(ascii_lower('Z'), 'z');
	ck_assert_int_eq(ascii_lower('['), '[');
}
END_TEST

START_TEST(members)
{
	struct str rest = str_of("a, b,,c"), m;
	const char *want[] = { "a", " b", "", "c" };
	int done = 0, i = 0;

	while (str_next_member(&rest, &m, &done)) {
		ck_assert_int_lt(i, 4);
		ck_assert_uint_eq(m.n, strlen(want[i]));
		ck_assert(memcmp(m.p, want[i], m.n) == 0);
		i++;
	}
	ck_assert_int_eq(i, 4);
	rest = str_of("");
	done = 0;
	ck_assert(str_next_member(&rest, &m, &done));
	ck_assert_uint_eq(m.n, 0);
	ck_assert(!str_next_member(&rest, &m, &done));
	rest = str_of(",");
	done = 0;
	i = 0;
	while (str_next_member(&rest, &m, &done)) {
		ck_assert_uint_eq(m.n, 0);
		i++;
	}
	ck_assert_int_eq(i, 2);
}
END_TEST

START_TEST(hex)
{
	const uint8_t b[] = { 0x00, 0x7f, 0xa5, 0xff };
	uint8_t back[4];
	char out[9] = { 0 };

	ck_assert_ptr_eq(hex_encode(out, b, 4), out + 8);
	ck_assert_str_eq(out, "007fa5ff");
	ck_assert_int_eq(hex_decode("007FA5ff", back, 4), 0);
	ck_assert(memcmp(back, b, 4) == 0);
	ck_assert_int_eq(hex_decode("00g0", back, 2), -1);
	ck_assert_int_eq(hex_decode_lower("007FA5ff", back, 4), -1);
	ck_assert_int_eq(hex_decode_lower("007fa5ff", back, 4), 0);
	ck_assert(memcmp(back, b, 4) == 0);
	ck_assert_int_eq(hex_value('F'), 15);
	ck_assert_int_eq(hex_value('/'), -1);
	ck_assert_int_eq(hex_value(':'), -1);
	ck_assert_int_eq(hex_value('G'), -1);
}
END_TEST

/* copy writes exactly the n bytes at an odd place, for every n up to
 * max. */
static void check_copy(void (*copy)(void *, const void *, size_t),
		       size_t max)
{
	char src[100], dst[100], want[100];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('!' + i);
	for (size_t n = 0; n <= max; n++) {
		memset(dst, '.', sizeof(dst));
		memset(want, '.', sizeof(want));
		memcpy(want + 3, src + 1, n);
		copy(dst + 3, src + 1, n);
		ck_assert_msg(memcmp(dst, want, sizeof(dst)) == 0, "n %zu", n);
	}
}

static void copy_short_fn(void *d, const void *s, size_t n)
{
	copy_short(d, s, n);
}

static void copy_medium_fn(void *d, const void *s, size_t n)
{
	copy_medium(d, s, n);
}

/* copy_short writes exactly the n bytes, for every way of copying. */
START_TEST(copy)
{
	check_copy(copy_short_fn, 32);
}
END_TEST

/* copy_medium too, through every length it copies in sixteens and
 * past them. */
START_TEST(copy_medium_exact)
{
	check_copy(copy_medium_fn, 90);
}
END_TEST

UNIT_MAIN("text", case_and_trim, members, hex, copy, copy_medium_exact)
