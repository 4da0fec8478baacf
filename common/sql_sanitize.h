/*
 * The literal sanitiser (private to common/sql*.c): fed the lexer's tokens
 * a batch at a time, it writes db.query.text with every literal as '?', IN
 * lists and VALUES rows collapsed, into a bounded buffer.
 */
#ifndef OTELSHIM_SQL_SANITIZE_H
#define OTELSHIM_SQL_SANITIZE_H

#include <stddef.h>

#include "sql_lex.h"

/*
 * Output positions are logical: the text as if the buffer were unbounded.
 * The buffer holds its first cap - 1 bytes.  Collapsing an IN list or a
 * VALUES row moves the logical end back, so a long list that overflowed
 * the buffer can still end in a complete "IN (?)".
 *
 * Most of the text is kept as it stands (names, keywords, operators, the
 * space between them): it is copied in runs, when something that is not
 * kept (a literal, a comment) or a move of the end comes.
 */
struct san {
	char *buf;
	size_t lim;             /* cap - 1 */
	size_t n;               /* logical length, without the run */
	const char *run;        /* input kept from here on, not yet copied */
	unsigned flags;
	int depth;

	/* A run of tokens that may collapse: an IN (...) list or a row of
	 * a VALUES list.  Only literals, '?', NULL, DEFAULT, signs, casts
	 * and commas keep it collapsible. */
	int lst;                /* 0, 'I' (IN list) or 'V' (VALUES row) */
	int lst_depth;          /* depth inside the parenthesis */
	size_t lst_out;         /* logical position after '(' */
	int lst_ok;
	int lst_items;
	int lst_cast;           /* previous token was "::" */

	/* A VALUES list: rows after the first collapse into it while every
	 * row so far was collapsible. */
	int vals_depth;         /* -1: not in such a VALUES list */
	int vals_expect;        /* after VALUES or ',': '(' starts a row */
	int vals_rows;
	size_t vals_keep;       /* logical position after the first row */

	int sign;               /* a unary sign was written at sign_out */
	size_t sign_out;

	/* The previous significant token. */
	uint8_t pkind;
	uint8_t pkw;
	char pc;
	unsigned guesses;       /* "double-quoted" tokens taken as strings */
};

/* Starts on buf (cap > 0 bytes) for the text that starts at sql; flags
 * SQL_POSTGRES or SQL_SQLITE. */
void sql_san_init(struct san *o, char *buf, size_t cap, unsigned flags,
		  const char *sql);

/*
 * Takes the next k tokens, the text up to upto (the end of the last one,
 * or the whitespace after it).  Returns 1 once more input can no longer
 * change what the buffer holds, else 0.
 */
int sql_san_tokens(struct san *o, const struct tok *t, size_t k,
		   const char *upto);

/* NUL-terminates what the text up to upto gives, dropping a character
 * the limit cut in two; returns the length and sets *truncated. */
size_t sql_san_finish(struct san *o, const char *upto, int *truncated);

#endif
