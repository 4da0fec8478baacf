/*
 * A statement's shape (see sql.h): the lexer's tokens written back as they
 * stand, except literals and comments, which become a marker of their
 * kind.  Statements that differ only inside literals and comments -- the
 * same INSERT run with other values -- have one shape, and the analysis
 * of one holds for all of them: it never looks inside a literal or a
 * comment (SQLite's quoted-token guesses aside, which sql_info counts).
 */
#include <string.h>

#include "sql.h"
#include "sql_lex.h"
#include "text.h"

/* The marker's second byte: which kind of token it stands for.  Every
 * difference the analysis makes between two literal tokens is here. */
static char mark_of(const struct tok *t)
{
	if (t->kind == TK_NUMBER)
		return 'N';
	if (t->kind == TK_COMMENT)
		return 'C';
	return t->sq ? 'S' : 's';       /* a plain, closed '...' or another */
}

size_t sql_shape(const char *sql, size_t len, char *out, size_t cap)
{
	struct tok t[SQL_LEX_BATCH];
	const char *p = sql, *end = sql + len, *run = sql;
	size_t n = 0, k, i, kept;

	if (len == 0 || len > SQL_SCAN_MAX || memchr(sql, SQL_SHAPE_MARK, len))
		return 0;
	while (p < end) {
		k = sql_lex_marks(&p, end, t, SQL_LEX_BATCH);
		for (i = 0; i < k; i++) {
			/* The text since the last marker, then this one. */
			kept = (size_t)(t[i].s - run);
			if (cap - n < kept + 2)
				return 0;
			copy_medium(out + n, run, kept);
			out[n + kept] = SQL_SHAPE_MARK;
			out[n + kept + 1] = mark_of(&t[i]);
			n += kept + 2;
			run = t[i].s + t[i].n;
		}
	}
	kept = (size_t)(end - run);
	if (cap - n < kept)
		return 0;
	copy_medium(out + n, run, kept);
	return n + kept;
}

/* Whether the byte before a literal ends whatever token came before it,
 * whatever the literal holds: whitespace, or a byte that is a token of
 * its own and never part of a longer one ('&' is, in U&'..'). */
static int ends_token(char c)
{
	return IS(c, C_SPACE) || (IS(c, C_ONE) && !IS(c, C_EXT));
}

void sql_shape_plan(const char *shape, size_t shape_len,
		    struct sql_shape_plan *plan)
{
	const char *s = shape, *send = shape + shape_len, *mark;

	plan->ok = 0;
	plan->nmarks = 0;
	if (shape_len == 0 || shape_len > UINT16_MAX ||
	    memchr(shape, '[', shape_len))
		return;
	while ((mark = memchr(s, SQL_SHAPE_MARK, (size_t)(send - s)))) {
		if (plan->nmarks == SQL_SHAPE_PLAN_MARKS)
			return;
		plan->at[plan->nmarks++] = (uint16_t)(mark - shape);
		s = mark + 2;
		if (s > send)
			return;
	}
	plan->ok = 1;
}

int sql_shape_match(const char *sql, size_t len, const char *shape,
		    size_t shape_len, const struct sql_shape_plan *plan)
{
	const char *p = sql, *end = sql + len, *mark;
	const char *s = shape, *send = shape + shape_len;
	struct tok t;
	size_t seg;

	if (!plan->ok || len == 0 || len > SQL_SCAN_MAX)
		return 0;
	for (size_t k = 0;; k++) {
		mark = k < plan->nmarks ? shape + plan->at[k] : NULL;
		seg = (size_t)((mark ? mark : send) - s);
		/* Bytes equal to the shape's hold no marker byte. */
		if ((size_t)(end - p) < seg || memcmp(p, s, seg) != 0)
			return 0;
		p += seg;
		if (mark == NULL)
			break;
		if (p == end || (p > sql && !ends_token(p[-1])))
			return 0;
		/* The literal or comment that starts at p, if one does. */
		if (!sql_lex_mark_at(p, end, &t) || mark_of(&t) != mark[1] ||
		    (t.kind != TK_NUMBER &&
		     memchr(p, SQL_SHAPE_MARK, t.n) != NULL))
			return 0;
		p += t.n;
		s = mark + 2;
	}
	return p == end;
}
