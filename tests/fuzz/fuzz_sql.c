/*
 * Fuzz target for the SQL sanitiser and summariser.  Raw input: output is
 * NUL-terminated within its buffer, valid UTF-8, a prefix of the untruncated
 * output, and sanitising it again changes nothing.  The lexer's two modes
 * cut the same literals and comments, and its shape (sql_shape) holds for
 * it: the input with other literals and comments written in,
 * if it has the same shape, has the same analysis; a text found to have a
 * shape without working it out (sql_shape_match) has it.  The same bytes also
 * drive a statement generator that puts a marker inside every literal and
 * comment it writes: the marker must never reach the text, the summary or
 * the shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sql.h"
#include "common/sql_lex.h"

#define MARK "QZXJ"

static void check(int ok)
{
	if (!ok)
		abort();
}

static int valid_utf8(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;

	while (p < end) {
		size_t l, i;
		uint32_t cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			l = 2, cp = *p & 0x1f;
		else if (*p >= 0xe0 && *p <= 0xef)
			l = 3, cp = *p & 0x0f;
		else if (*p >= 0xf0 && *p <= 0xf4)
			l = 4, cp = *p & 0x07;
		else
			return 0;
		if ((size_t)(end - p) < l)
			return 0;
		for (i = 1; i < l; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((l == 3 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += l;
	}
	return 1;
}

static void raw(const uint8_t *data, size_t size, unsigned flags)
{
	static char full[3 * 4096 + 16], part[3 * 4096 + 16];
	static char again[3 * 4096 + 16];
	char sum[300];
	struct sql_info info;
	size_t n, m, cap;

	n = sql_analyze((const char *)data, size, flags, full, sizeof(full),
	                sum, sizeof(sum), &info);
	check(n < sizeof(full) && full[n] == 0 && strlen(full) == n);
	check(valid_utf8(full, n));
	check(info.summary_len <= SQL_SUMMARY_MAX);
	check(strlen(sum) == info.summary_len);
	check(valid_utf8(sum, info.summary_len));
	check(memchr(info.operation, 0, sizeof(info.operation)) != NULL);
	check(memchr(info.collection, 0, sizeof(info.collection)) != NULL);
	check(info.operation_len == strlen(info.operation));
	check(info.collection_len == strlen(info.collection));
	check(info.noperations != 1 || info.nstatements >= 1);
	check(!(info.truncated & SQL_TRUNC_TEXT));

	/* Idempotent. */
	m = sql_analyze(full, n, flags, again, sizeof(again), NULL, 0, NULL);
	check(m == n && memcmp(again, full, n) == 0);

	/* A smaller buffer holds a prefix, cut on a character boundary. */
	cap = size > 0 ? (size_t)data[0] % (n + 2) + 1 : 1;
	memset(part, 0x55, cap + 1);
	m = sql_analyze((const char *)data, size, flags, part, cap, NULL, 0,
	                &info);
	check(m < cap && part[m] == 0 && memcmp(part, full, m) == 0);
	check(valid_utf8(part, m));
	check(part[cap] == 0x55 || cap > sizeof(part) - 2);
	check(m == n || (info.truncated & SQL_TRUNC_TEXT));
	check(m == n || m + 3 >= cap - 1);
}

/* ------------------------------------------------------------ shapes */

/* What a literal or a comment of t's kind is replaced by, chosen by pick;
 * NULL to keep it. */
static const char *other(const struct tok *t, uint8_t pick)
{
	static const char *const number[] = { "0", "42", "7.5", "1e3", ".5" };
	static const char *const string[] = { "'v'", "''", "'it''s'" };
	static const char *const other_string[] = {
		"E'q'", "X'00'", "$$d$$", "'open",
	};

	switch (t->kind) {
	case TK_NUMBER:
		return number[pick % 5];
	case TK_STRING:
		return t->sq ? string[pick % 3] : other_string[pick % 4];
	case TK_COMMENT:
		return pick & 1 ? "/* c */" : NULL;
	default:
		return NULL;
	}
}

/* sql_lex_marks() hands over exactly the literal and comment tokens that
 * sql_lex_run() cuts. */
static void marks_as_run(const char *sql, size_t size)
{
	static struct tok all[4096 + 1], marks[4096 + 1];
	const char *p = sql, *end = sql + size;
	size_t na = 0, nm = 0, k;

	while (p < end) {
		k = sql_lex_run(&p, end, all + na, SQL_LEX_BATCH);
		for (size_t i = na; i < na + k; i++)
			if (all[i].kind == TK_STRING || all[i].kind == TK_NUMBER ||
			    all[i].kind == TK_COMMENT)
				all[nm++] = all[i];
		na = nm;
	}
	p = sql;
	nm = 0;
	while (p < end)
		nm += sql_lex_marks(&p, end, marks + nm, SQL_LEX_BATCH);
	check(nm == na);
	for (size_t i = 0; i < nm; i++)
		check(marks[i].kind == all[i].kind && marks[i].s == all[i].s &&
		      marks[i].n == all[i].n && marks[i].sq == all[i].sq);
}

/* A text matched against the shape of the input before it (another
 * statement, nearly always) has that shape. */
static void match_other(const char *sql, size_t size)
{
	static char prev[8192], shape[8192];
	static struct sql_shape_plan plan;
	static size_t prev_len;
	size_t len;

	if (prev_len > 0 &&
	    sql_shape_match(sql, size, prev, prev_len, &plan)) {
		len = sql_shape(sql, size, shape, sizeof(shape));
		check(len == prev_len && memcmp(shape, prev, len) == 0);
	}
	len = sql_shape(sql, size, shape, sizeof(shape));
	if (len > 0) {
		memcpy(prev, shape, len);
		prev_len = len;
		sql_shape_plan(prev, prev_len, &plan);
	}
}

/* The input with its literals and comments replaced (by the choices the
 * input's own bytes make): if its shape is the same, so is its analysis,
 * unless the analysis guessed at quoted tokens (never remembered). */
static void same_shape(const uint8_t *data, size_t size, unsigned flags)
{
	static char shape[8192], shape2[8192], var[65536];
	static struct sql_shape_plan plan, plan2;
	static char text[3 * 65536], text2[3 * 65536];
	char sum[300], sum2[300];
	struct sql_info info, info2;
	struct tok t[SQL_LEX_BATCH];
	const char *sql = (const char *)data, *p = sql, *end = sql + size;
	const char *run = sql, *r;
	size_t n = 0, len, len2, k, i, rl, kept;

	len = sql_shape(sql, size, shape, sizeof(shape));
	if (len == 0)
		return;
	while (p < end) {
		k = sql_lex_run(&p, end, t, SQL_LEX_BATCH);
		for (i = 0; i < k; i++) {
			r = other(&t[i], data[(size_t)(t[i].s - sql) * 7 % size]);
			if (r == NULL)
				continue;
			kept = (size_t)(t[i].s - run);
			rl = strlen(r);
			if (n + kept + rl > sizeof(var))
				return;
			memcpy(var + n, run, kept);
			memcpy(var + n + kept, r, rl);
			n += kept + rl;
			run = t[i].s + t[i].n;
		}
	}
	if (n + (size_t)(end - run) > sizeof(var))
		return;
	memcpy(var + n, run, (size_t)(end - run));
	n += (size_t)(end - run);

	len2 = sql_shape(var, n, shape2, sizeof(shape2));
	sql_shape_plan(shape, len, &plan);
	if (len2 > 0)
		sql_shape_plan(shape2, len2, &plan2);
	if (sql_shape_match(var, n, shape, len, &plan) ||
	    (len2 > 0 && sql_shape_match(sql, size, shape2, len2, &plan2)))
		check(len2 == len && memcmp(shape, shape2, len) == 0);
	if (len2 != len || memcmp(shape, shape2, len) != 0)
		return;
	len = sql_analyze(sql, size, flags, text, sizeof(text), sum,
			  sizeof(sum), &info);
	len2 = sql_analyze(var, n, flags, text2, sizeof(text2), sum2,
			   sizeof(sum2), &info2);
	if (info.quoted_guesses || info2.quoted_guesses)
		return;
	check(len == len2 && memcmp(text, text2, len) == 0);
	check(memcmp(&info, &info2, sizeof(info)) == 0);
	check(memcmp(sum, sum2, info.summary_len) == 0);
}

/* ------------------------------------------------ marker statements */

struct gen {
	const uint8_t *p, *end;
	char out[8192];
	size_t n;
};

static unsigned take(struct gen *g, unsigned mod)
{
	if (g->p >= g->end)
		return 0;
	return *g->p++ % mod;
}

static void emit(struct gen *g, const char *s, size_t n)
{
	if (g->n + n < sizeof(g->out)) {
		memcpy(g->out + g->n, s, n);
		g->n += n;
	}
}

static void emits(struct gen *g, const char *s)
{
	emit(g, s, strlen(s));
}

/* Literal or comment content: the marker plus fuzz bytes, with what would
 * end the construct escaped or replaced by bad. */
static void content(struct gen *g, int kind)
{
	unsigned i, n = take(g, 16);

	emits(g, MARK);
	for (i = 0; i < n && g->p < g->end; i++) {
		char c = (char)*g->p++;

		switch (kind) {
		case 'q':               /* '...' */
			if (c == '\'')
				emit(g, "''", 2);
			else
				emit(g, &c, 1);
			break;
		case 'e':               /* E'...' */
			if (c == '\'' || c == '\\')
				emit(g, "\\", 1);
			emit(g, &c, 1);
			break;
		case '$':               /* $m$...$m$ */
			emit(g, c == '$' ? "_" : &c, 1);
			break;
		case 'c':               /* block comment */
			emit(g, c == '*' || c == '/' ? "_" : &c, 1);
			break;
		default:                /* line comment */
			emit(g, c == '\n' || c == '\r' ? "_" : &c, 1);
			break;
		}
	}
}

static void marker(const uint8_t *data, size_t size)
{
	static const char *const frag[] = {
		"SELECT ", "FROM t ", "WHERE a = ", ", ", " IN (", ") ",
		"INSERT INTO u VALUES (", "UPDATE v SET b = ", ";", " AND ",
		"(", ")", "::text ", "- ", "+ ", " x1 ", "\"Q\" ", "$1 ", "? ",
		"CREATE TABLE w AS ", "WITH c AS (", "JOIN d ON ", "\n",
		"E", "U&", "[k] ", "`k` ", "PRAGMA ", "= ", "LIKE ",
	};
	struct gen g;
	char text[3 * sizeof(g.out)], shape[2 * sizeof(g.out)], sum[300];
	size_t n;
	int i;

	g.p = data;
	g.end = data + size;
	g.n = 0;
	for (i = 0; i < 64 && g.p < g.end; i++) {
		switch (take(&g, 10)) {
		case 0:
			emits(&g, " '");
			content(&g, 'q');
			emits(&g, "' ");
			break;
		case 1:
			emits(&g, " E'");
			content(&g, 'e');
			emits(&g, "' ");
			break;
		case 2:
			emits(&g, " $m$");
			content(&g, '$');
			emits(&g, "$m$ ");
			break;
		case 3:
			emits(&g, " /*");
			content(&g, 'c');
			emits(&g, "*/ ");
			break;
		case 4:
			emits(&g, " --");
			content(&g, 'l');
			emits(&g, "\n");
			break;
		case 5:
			emits(&g, " X'");
			emits(&g, MARK);
			emits(&g, "' ");
			break;
		default:
			emits(&g, frag[take(&g, sizeof(frag) / sizeof(*frag))]);
			break;
		}
	}
	/* Also unterminated at the end. */
	if (take(&g, 2)) {
		emits(&g, " '");
		content(&g, 'q');
	}
	n = sql_shape(g.out, g.n, shape, sizeof(shape));
	check(memmem(shape, n, MARK, strlen(MARK)) == NULL);
	sql_analyze(g.out, g.n, SQL_POSTGRES, text, sizeof(text), sum,
	            sizeof(sum), NULL);
	check(strstr(text, MARK) == NULL);
	check(strstr(sum, MARK) == NULL);
	sql_analyze(g.out, g.n, SQL_SQLITE, text, sizeof(text), sum,
	            sizeof(sum), NULL);
	check(strstr(text, MARK) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	raw(data, size, SQL_POSTGRES);
	raw(data, size, SQL_SQLITE);
	marks_as_run((const char *)data, size);
	match_other((const char *)data, size);
	same_shape(data, size, SQL_POSTGRES);
	same_shape(data, size, SQL_SQLITE);
	marker(data, size);
	return 0;
}
