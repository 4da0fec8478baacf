/*
 * Pure helpers for the sqlite3 hooks (see sqlite_util.h).  Kept apart from
 * sqlite.c, which defines interposed symbols, so that unit tests and fuzz
 * targets can link them.
 */
#include <stdint.h>
#include <string.h>

#include "common/sql.h"
#include "common/utf8.h"
#include "sqlite_util.h"

/* Primary result codes, sqlite3.h "Result Codes". */
static const char *const rc_names[] = {
	[0] = "SQLITE_OK",          [1] = "SQLITE_ERROR",
	[2] = "SQLITE_INTERNAL",    [3] = "SQLITE_PERM",
	[4] = "SQLITE_ABORT",       [5] = "SQLITE_BUSY",
	[6] = "SQLITE_LOCKED",      [7] = "SQLITE_NOMEM",
	[8] = "SQLITE_READONLY",    [9] = "SQLITE_INTERRUPT",
	[10] = "SQLITE_IOERR",      [11] = "SQLITE_CORRUPT",
	[12] = "SQLITE_NOTFOUND",   [13] = "SQLITE_FULL",
	[14] = "SQLITE_CANTOPEN",   [15] = "SQLITE_PROTOCOL",
	[16] = "SQLITE_EMPTY",      [17] = "SQLITE_SCHEMA",
	[18] = "SQLITE_TOOBIG",     [19] = "SQLITE_CONSTRAINT",
	[20] = "SQLITE_MISMATCH",   [21] = "SQLITE_MISUSE",
	[22] = "SQLITE_NOLFS",      [23] = "SQLITE_AUTH",
	[24] = "SQLITE_FORMAT",     [25] = "SQLITE_RANGE",
	[26] = "SQLITE_NOTADB",     [27] = "SQLITE_NOTICE",
	[28] = "SQLITE_WARNING",
};

const char *sqlite_rc_name(int rc)
{
	unsigned p = (unsigned)rc & 0xffu;

	if (p == 100)
		return "SQLITE_ROW";
	if (p == 101)
		return "SQLITE_DONE";
	if (p < sizeof(rc_names) / sizeof(rc_names[0]) && rc_names[p])
		return rc_names[p];
	return "SQLITE_UNKNOWN";
}

/* Index of the first c in sql[i, len), or len. */
static size_t skip_to(const char *sql, size_t i, size_t len, char c)
{
	const char *p = i < len ? memchr(sql + i, c, len - i) : NULL;

	return p ? (size_t)(p - sql) : len;
}

size_t sqlite_stmt_end(const char *sql, size_t len)
{
	size_t i = 0;

	while (i < len) {
		char c = sql[i];

		switch (c) {
		case ';':
			return i + 1;
		case '\'':
		case '"':
		case '`':
			/* A doubled quote inside is two back-to-back quoted
			 * runs: the same scan handles it. */
			i = skip_to(sql, i + 1, len, c) + 1;
			break;
		case '[':
			i = skip_to(sql, i + 1, len, ']') + 1;
			break;
		case '-':
			if (i + 1 < len && sql[i + 1] == '-')
				i = skip_to(sql, i + 2, len, '\n');
			else
				i++;
			break;
		case '/':
			if (i + 1 < len && sql[i + 1] == '*') {
				i += 2;
				while (i < len && !(sql[i] == '*' &&
						    i + 1 < len &&
						    sql[i + 1] == '/'))
					i++;
				i += 2;
			} else {
				i++;
			}
			break;
		default:
			i++;
		}
	}
	return len;
}

/* Appends code point cp as UTF-8 if it fits in (out, cap - 1). */
static int put_utf8(uint32_t cp, char *out, size_t cap, size_t *n)
{
	char b[4];
	size_t k = utf8_encode(cp, b);

	if (*n + k + 1 > cap)
		return 0;
	memcpy(out + *n, b, k);
	*n += k;
	return 1;
}

size_t sqlite_utf16_to_utf8(const void *src, long nbytes, char *out,
			    size_t cap, size_t *consumed)
{
	const unsigned char *p = src;
	size_t units = nbytes < 0 ? SIZE_MAX / 2 : (size_t)nbytes / 2;
	size_t i = 0, n = 0;

	if (consumed)
		*consumed = 0;
	if (cap == 0)
		return 0;
	while (p && i < units) {
		uint16_t u, v;
		uint32_t cp;
		size_t used = 1;

		memcpy(&u, p + 2 * i, 2);
		if (u == 0)
			break;
		cp = u;
		if (u >= 0xD800 && u < 0xDC00) {
			cp = 0xFFFD;
			if (i + 1 < units) {
				memcpy(&v, p + 2 * (i + 1), 2);
				if (v >= 0xDC00 && v < 0xE000) {
					cp = 0x10000 + (((uint32_t)u - 0xD800)
							<< 10) + (v - 0xDC00);
					used = 2;
				}
			}
		} else if (u >= 0xDC00 && u < 0xE000) {
			cp = 0xFFFD;
		}
		if (!put_utf8(cp, out, cap, &n))
			break;
		i += used;
	}
	out[n] = 0;
	if (consumed)
		*consumed = 2 * i;
	return n;
}

/* Appends str[0, len) to (out, cap - 1), cut where it stops fitting. */
static void put(char *out, size_t cap, size_t *n, const char *str,
		size_t len)
{
	size_t room = cap - 1 - *n;

	if (len > room)
		len = room;
	memcpy(out + *n, str, len);
	*n += len;
}

/* Appends the sanitised form of sql[0, len), "?" if nothing is left. */
static void put_sql(char *out, size_t cap, size_t *n, const char *sql,
		    size_t len)
{
	size_t k;

	if (*n + 1 >= cap)
		return;
	k = sql_analyze(sql, len, SQL_SQLITE, out + *n, cap - *n, NULL, 0,
			NULL);
	if (k == 0 && len > 0)
		put(out, cap, n, "?", 1);
	*n += k;
}

size_t sqlite_clean_errmsg(const char *msg, char *out, size_t cap)
{
	static const char near[] = "near \"";
	static const char unrec[] = "unrecognized token: \"";
	static const char check[] = "CHECK constraint failed: ";
	const char *tok = NULL, *end = NULL;
	size_t len, n = 0;

	if (cap == 0)
		return 0;
	if (!msg)
		msg = "";
	len = strlen(msg);
	/* Where the message quotes SQL: [tok, end). */
	if (!strncmp(msg, near, sizeof(near) - 1)) {
		/* near "%T": the token runs to the last '": '. */
		tok = msg + sizeof(near) - 1;
		for (const char *q = strstr(tok, "\": "); q;
		     q = strstr(q + 1, "\": "))
			end = q;
	} else if (!strncmp(msg, unrec, sizeof(unrec) - 1)) {
		tok = msg + sizeof(unrec) - 1;
		end = strrchr(tok, '"');
	} else if (!strncmp(msg, check, sizeof(check) - 1)) {
		tok = msg + sizeof(check) - 1;
		end = msg + len;
	}
	if (end) {
		put(out, cap, &n, msg, (size_t)(tok - msg));
		put_sql(out, cap, &n, tok, (size_t)(end - tok));
		put(out, cap, &n, end, len - (size_t)(end - msg));
	} else {
		/* A copy, not cut inside a UTF-8 sequence. */
		put(out, cap, &n, msg, utf8_cut(msg, len, cap - 1));
	}
	out[n] = 0;
	return n;
}
