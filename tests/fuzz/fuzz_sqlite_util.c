/*
 * Fuzz target for the sqlite3 hooks' pure helpers.  The input is used as
 * SQL (the statement end stays within it), as UTF-16 (the UTF-8 output is
 * valid and NUL-terminated within its buffer) and as an error message
 * (the cleaned copy fits its buffer, and a literal planted where SQLite
 * quotes SQL never survives).
 * links: shim/sqlite_util.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "shim/sqlite_util.h"

#define MARK "QZXJ"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[300], msg[700];
	size_t n, used, cap, k;

	check(sqlite_stmt_end((const char *)data, size) <= size);

	cap = size ? 1 + data[0] % sizeof(out) : sizeof(out);
	n = sqlite_utf16_to_utf8(data, (long)size, out, cap, &used);
	check(n < cap && out[n] == 0 && strlen(out) == n);
	check(used <= size && used % 2 == 0);
	check(utf8_clean(out, n));

	/* As a message of its own. */
	k = size < 600 ? size : 600;
	memcpy(msg, data, k);
	msg[k] = 0;
	n = sqlite_clean_errmsg(msg, out, cap);
	check(n < cap && strlen(out) == n);

	/* A string literal where SQLite quotes the statement. */
	for (size_t i = 0; i < k; i++)
		if (msg[i] == '\'' || msg[i] == 0)
			msg[i] = 'a';
	if (k > 0 && data[0] & 1) {
		char lit[700 + 64];

		memcpy(lit, "near \"'" MARK, 11);
		memcpy(lit + 11, msg, k);
		memcpy(lit + 11 + k, "'\": syntax error", 17);
		sqlite_clean_errmsg(lit, out, sizeof(out));
	} else {
		char lit[700 + 64];

		memcpy(lit, "CHECK constraint failed: x = '" MARK, 34);
		memcpy(lit + 34, msg, k);
		memcpy(lit + 34 + k, "'", 2);
		sqlite_clean_errmsg(lit, out, sizeof(out));
	}
	check(!strstr(out, MARK));
	return 0;
}
