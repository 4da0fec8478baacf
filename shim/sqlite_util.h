/*
 * Pure helpers for the sqlite3 hooks (sqlite.c): result code names, where
 * the first statement of a script ends, UTF-16 to UTF-8 for the prepare16
 * family, and keeping literals out of SQLite's error messages.  No
 * allocation, no locks, no stdio: they run inside the hooks.
 */
#ifndef OTELSHIM_SQLITE_UTIL_H
#define OTELSHIM_SQLITE_UTIL_H

#include <stddef.h>

/*
 * The name of SQLite result code rc's primary code (rc & 0xff), e.g.
 * "SQLITE_CONSTRAINT" for 19 or for SQLITE_CONSTRAINT_UNIQUE (2067).
 * Never NULL: an unknown code gives "SQLITE_UNKNOWN".
 */
const char *sqlite_rc_name(int rc);

/*
 * Length of the first statement of sql[0, len): up to and including the
 * first ';' outside a string, quoted identifier ("..", `..`, [..]) or
 * comment; len if there is none.  An unterminated string, identifier or
 * block comment runs to the end.
 */
size_t sqlite_stmt_end(const char *sql, size_t len);

/*
 * Converts native-endian UTF-16 to UTF-8 into (out, cap), NUL-terminated:
 * at most nbytes bytes of src (all of it up to a U+0000 when nbytes is
 * negative), stopping at U+0000.  A lone surrogate becomes U+FFFD.  The
 * output is cut at cap - 1 on a character boundary.  Returns the output
 * length, and in *consumed (if not NULL) the input bytes converted.
 */
size_t sqlite_utf16_to_utf8(const void *src, long nbytes, char *out,
			    size_t cap, size_t *consumed);

/*
 * Copies sqlite3_errmsg() text msg to (out, cap), NUL-terminated, with the
 * SQL that some messages quote sanitised like db.query.text, since it can
 * hold literals: 'near "X": syntax error', 'unrecognized token: "X"' and
 * 'CHECK constraint failed: X'.  Other messages are copied unchanged.
 * Returns the output length.
 */
size_t sqlite_clean_errmsg(const char *msg, char *out, size_t cap);

#endif
