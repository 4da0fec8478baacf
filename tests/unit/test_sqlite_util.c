/*
 * The sqlite3 hooks' pure helpers: result code names, the end of the
 * first statement, UTF-16 to UTF-8, and literals kept out of SQLite's
 * error messages, including cut buffers and input right before an
 * unmapped page.
 * links: shim/sqlite_util.c
 */
#include <stdint.h>

#include "shim/sqlite_util.h"
#include "unit.h"

START_TEST(rc_names)
{
	ck_assert_str_eq(sqlite_rc_name(0), "SQLITE_OK");
	ck_assert_str_eq(sqlite_rc_name(1), "SQLITE_ERROR");
	ck_assert_str_eq(sqlite_rc_name(5), "SQLITE_BUSY");
	ck_assert_str_eq(sqlite_rc_name(19), "SQLITE_CONSTRAINT");
	/* SQLITE_CONSTRAINT_UNIQUE: extended codes give the primary name */
	ck_assert_str_eq(sqlite_rc_name(2067), "SQLITE_CONSTRAINT");
	ck_assert_str_eq(sqlite_rc_name(28), "SQLITE_WARNING");
	ck_assert_str_eq(sqlite_rc_name(100), "SQLITE_ROW");
	ck_assert_str_eq(sqlite_rc_name(101), "SQLITE_DONE");
	ck_assert_str_eq(sqlite_rc_name(29), "SQLITE_UNKNOWN");
	ck_assert_str_eq(sqlite_rc_name(-1), "SQLITE_UNKNOWN");
}
END_TEST

static size_t end_of(const char *s)
{
	return sqlite_stmt_end(s, strlen(s));
}

START_TEST(stmt_end)
{
	ck_assert_uint_eq(end_of("SELECT 1; SELECT 2"), 9);
	ck_assert_uint_eq(end_of("SELECT 1"), 8);
	ck_assert_uint_eq(end_of(""), 0);
	ck_assert_uint_eq(end_of("SELECT ';'; x"), 11);
	ck_assert_uint_eq(end_of("SELECT 'it''s;'; x"), 16);
	ck_assert_uint_eq(end_of("SELECT \"a;b\"; x"), 13);
	ck_assert_uint_eq(end_of("SELECT `a;b`; x"), 13);
	ck_assert_uint_eq(end_of("SELECT [a;b]; x"), 13);
	ck_assert_uint_eq(end_of("SELECT 1 -- ;\n; x"), 15);
	ck_assert_uint_eq(end_of("SELECT 1 /* ; */; x"), 17);
	ck_assert_uint_eq(end_of("SELECT 1 - 2; x"), 13);
	ck_assert_uint_eq(end_of("SELECT 4 / 2; x"), 13);
	/* unterminated: runs to the end */
	ck_assert_uint_eq(end_of("SELECT 'a; b"), 12);
	ck_assert_uint_eq(end_of("SELECT 1 /* ; "), 14);
	ck_assert_uint_eq(end_of("SELECT [a; b"), 12);
	ck_assert_uint_eq(end_of("SELECT 1 -- ;"), 13);
	/* only len bytes are looked at */
	ck_assert_uint_eq(sqlite_stmt_end("SELECT 1; x", 5), 5);
}
END_TEST

START_TEST(utf16)
{
	/* "Aé€😀" then U+0000 then more */
	const uint16_t in[] = { 'A', 0xE9, 0x20AC, 0xD83D, 0xDE00, 0, 'Z' };
	const uint16_t lone[] = { 'a', 0xDC00, 'b', 0xD800 };
	char out[32];
	size_t used, n;

	n = sqlite_utf16_to_utf8(in, -1, out, sizeof(out), &used);
	ck_assert_uint_eq(n, 10);
	ck_assert_str_eq(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
	ck_assert_uint_eq(used, 10);
	n = sqlite_utf16_to_utf8(in, 6, out, sizeof(out), &used);
	ck_assert_str_eq(out, "A\xC3\xA9\xE2\x82\xAC");
	ck_assert_uint_eq(used, 6);
	/* odd byte counts drop the half unit */
	n = sqlite_utf16_to_utf8(in, 3, out, sizeof(out), NULL);
	ck_assert_str_eq(out, "A");
	/* a surrogate pair cut by nbytes is a lone surrogate */
	n = sqlite_utf16_to_utf8(in, 8, out, sizeof(out), NULL);
	ck_assert_str_eq(out, "A\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBD");
	n = sqlite_utf16_to_utf8(lone, sizeof(lone), out, sizeof(out), NULL);
	ck_assert_str_eq(out, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
	/* cut on a character boundary */
	n = sqlite_utf16_to_utf8(in, -1, out, 5, &used);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(out, "A\xC3\xA9");
	ck_assert_uint_eq(used, 4);
	n = sqlite_utf16_to_utf8(in, -1, out, 1, NULL);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(sqlite_utf16_to_utf8(in, -1, out, 0, NULL), 0);
	ck_assert_uint_eq(sqlite_utf16_to_utf8(NULL, 0, out, 4, NULL), 0);
}
END_TEST

static const char *clean(const char *msg)
{
	static char out[256];

	sqlite_clean_errmsg(msg, out, sizeof(out));
	return out;
}

START_TEST(errmsg)
{
	ck_assert_str_eq(clean("near \"'secret'\": syntax error"),
			 "near \"?\": syntax error");
	ck_assert_str_eq(clean("near \"garbage\": syntax error"),
			 "near \"garbage\": syntax error");
	ck_assert_str_eq(clean("near \"4242\": syntax error"),
			 "near \"?\": syntax error");
	/* a token holding '": ' itself */
	ck_assert_str_eq(clean("near \"'a\": b'\": syntax error"),
			 "near \"?\": syntax error");
	ck_assert_str_eq(clean("unrecognized token: \"'secret; SELECT 4\""),
			 "unrecognized token: \"?\"");
	ck_assert_str_eq(clean("unrecognized token: \"x'4\""),
			 "unrecognized token: \"?\"");
	ck_assert_str_eq(clean("CHECK constraint failed: a > 5"),
			 "CHECK constraint failed: a > ?");
	ck_assert_str_eq(clean("CHECK constraint failed: positive"),
			 "CHECK constraint failed: positive");
	ck_assert_str_eq(clean("UNIQUE constraint failed: users.email"),
			 "UNIQUE constraint failed: users.email");
	ck_assert_str_eq(clean("no such table: t"), "no such table: t");
	ck_assert_str_eq(clean("near \"x"), "near \"x");
	ck_assert_str_eq(clean(""), "");
	ck_assert_str_eq(clean(NULL), "");
}
END_TEST

START_TEST(errmsg_cut)
{
	const char *msgs[] = {
		"near \"'secret'\": syntax error",
		"unrecognized token: \"'secret\"",
		"CHECK constraint failed: a > 'secret'",
		"no such column: caf\xC3\xA9\xC3\xA9",
	};
	char out[64];

	for (size_t m = 0; m < NELEM(msgs); m++) {
		for (size_t cap = 0; cap < sizeof(out); cap++) {
			size_t n;

			memset(out, 'X', sizeof(out));
			n = sqlite_clean_errmsg(msgs[m], out, cap);
			if (cap == 0) {
				ck_assert_uint_eq(n, 0);
				ck_assert_int_eq(out[0], 'X');
				continue;
			}
			ck_assert_uint_lt(n, cap);
			ck_assert_uint_eq(strlen(out), n);
			ck_assert_ptr_null(strstr(out, "secret"));
			/* never ends inside a UTF-8 sequence */
			if (n > 0)
				ck_assert((out[n - 1] & 0xC0) != 0xC0);
		}
	}
}
END_TEST

/* Input that ends right before an unmapped page: no read past len. */
START_TEST(stmt_end_guard)
{
	const char *ins[] = { "SELECT '", "SELECT [", "x /*", "x /* *",
			      "x -", "x /", "'a''", "--" };

	guard_setup();
	for (size_t i = 0; i < NELEM(ins); i++) {
		size_t len = strlen(ins[i]);

		ck_assert_uint_eq(sqlite_stmt_end(guarded(ins[i], len), len),
				  len);
	}
}
END_TEST

UNIT_MAIN("sqlite_util", rc_names, stmt_end, utf16, errmsg, errmsg_cut,
	  stmt_end_guard)
