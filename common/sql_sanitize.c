/*
 * The literal sanitiser (see sql_sanitize.h).  Output positions are
 * logical, so a list that overflowed the buffer can still collapse, and
 * text that is kept as it stands is copied a run at a time.  Runs on
 * application threads: no allocation, linear work.
 */
#include <stdint.h>
#include <string.h>

#include "sql.h"
#include "sql_sanitize.h"
#include "utf8.h"

void sql_san_init(struct san *o, char *buf, size_t cap, unsigned flags,
		  const char *sql)
{
	memset(o, 0, sizeof(*o));
	o->buf = buf;
	o->lim = cap - 1;
	o->run = sql;
	o->flags = flags;
	o->vals_depth = -1;
}


static void put(struct san *o, const char *s, size_t n)
{
	if (o->n < o->lim) {
		size_t room = o->lim - o->n;

		memcpy(o->buf + o->n, s, n < room ? n : room);
	}
	o->n += n;
}

static void putc1(struct san *o, char c)
{
	if (o->n < o->lim)
		o->buf[o->n] = c;
	o->n++;
}

/* Copies name bytes, repaired as utf8_repair() repairs them: NUL and
 * bytes that are not UTF-8 replaced by U+FFFD (utf8_next()). */
static void put_utf8(struct san *o, const char *s, size_t n)
{
	const char *end = s + n, *run = s;
	size_t l;
	int ok;

	while (s < end) {
		if ((uint8_t)*s < 0x80 && *s != 0) {
			s++;
			continue;
		}
		l = utf8_next(s, (size_t)(end - s), &ok);
		if (!ok) {
			put(o, run, (size_t)(s - run));
			put(o, UTF8_REPLACEMENT, 3);
			run = s + l;
		}
		s += l;
	}
	put(o, run, (size_t)(s - run));
}

/* Logical position of input position q, which the run reaches. */
static size_t at(const struct san *o, const char *q)
{
	return o->n + (size_t)(q - o->run);
}

/* Copies the run up to q: before the end moves or a token is replaced. */
static void flush(struct san *o, const char *q)
{
	if (q != o->run)        /* the text may be NULL when empty */
		put(o, o->run, (size_t)(q - o->run));
	o->run = q;
}

/* Are the n bytes at s ASCII without NUL, to be kept as they stand? */
static int plain(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((uint8_t)(s[i] - 1) >= 0x7f)
			return 0;
	return 1;
}

static void put_space(struct san *o, const char *s, size_t n)
{
	const char *nul;

	while ((nul = memchr(s, 0, n)) != NULL) {
		put(o, s, (size_t)(nul - s));
		putc1(o, ' ');
		n -= (size_t)(nul - s) + 1;
		s = nul + 1;
	}
	put(o, s, n);
}

/* Is a '-' or '+' after the previous token a sign (not a minus)? */
static int sign_context(const struct san *o)
{
	switch (o->pkind) {
	case 0:
		return 1;
	case TK_PUNCT:
		return o->pc != ')' && o->pc != ']';
	case TK_WORD:
		return (sql_kwtab[o->pkw].flags & KF_UNARY) != 0;
	default:
		return 0;
	}
}

/* SQLite reads a "double-quoted" token that names no column as a string:
 * treat it as one where a value is expected. */
static int dq_value(const struct san *o)
{
	if (o->lst && o->depth == o->lst_depth)
		return 1;
	if (o->pkind == TK_PUNCT)
		return o->pc == '=' || o->pc == '<' || o->pc == '>';
	return o->pkind == TK_WORD &&
	       (o->pkw == KW_LIKE || o->pkw == KW_GLOB || o->pkw == KW_ILIKE);
}

/* Does this token keep the list around it collapsible?  Counts items. */
static void list_token(struct san *o, const struct tok *t, int literal)
{
	int cast = o->lst_cast;

	o->lst_cast = 0;
	if (literal) {
		o->lst_items++;
		return;
	}
	switch (t->kind) {
	case TK_PARAM:
		if (t->n == 1) {
			o->lst_items++;
			return;
		}
		break;
	case TK_WORD:
		if (cast)
			return;         /* the type of a cast */
		if (t->kw == KW_NULL || t->kw == KW_DEFAULT) {
			o->lst_items++;
			return;
		}
		break;
	case TK_PUNCT:
		if (t->n == 2) {
			o->lst_cast = 1;
			return;
		}
		if (t->c == ',' || t->c == '-' || t->c == '+')
			return;
		break;
	default:
		break;
	}
	o->lst_ok = 0;
}

/*
 * The common case, most tokens of most statements: no list is open and no
 * sign waits for its number.  Returns 0 for a token it does not handle.
 */
static int san_quiet(struct san *o, const struct tok *t)
{
	char c = t->c;

	switch (t->kind) {
	case TK_WORD:
		if (t->kw == KW_TRUE || t->kw == KW_FALSE ||
		    t->kw == KW_VALUES || !(t->plain || plain(t->s, t->n)))
			return 0;
		break;
	case TK_NUMBER:
	case TK_STRING:
		flush(o, t->s);
		putc1(o, '?');
		o->run = t->s + t->n;
		o->pkind = TK_STRING;
		o->pkw = KW_NONE;
		o->pc = 0;
		return 1;
	case TK_PUNCT:
		if (c == '(') {
			if (o->pkw == KW_IN)
				return 0;
			o->depth++;
		} else if (c == ')') {
			if (o->depth > 0)
				o->depth--;
		} else if (c == ';') {
			o->depth = 0;
		} else if (c == '-' || c == '+') {
			return 0;
		}
		break;
	case TK_PARAM:
		/* $1, ?, :name: kept as they stand when they are ASCII. */
		if (!plain(t->s, t->n))
			return 0;
		break;
	default:
		return 0;
	}
	o->pkind = t->kind;
	o->pkw = t->kw;
	o->pc = c;
	return 1;
}

/*
 * The next common case: inside an open list, a number, a string or a
 * comma, no sign before it.  Returns 0 for a token it does not handle.
 */
static int san_list_item(struct san *o, const struct tok *t)
{
	if (t->kind == TK_NUMBER || t->kind == TK_STRING) {
		o->lst_cast = 0;
		o->lst_items++;
		flush(o, t->s);
		putc1(o, '?');
		o->run = t->s + t->n;
		o->pkind = TK_STRING;
		o->pc = 0;
	} else if (t->c == ',' && t->n == 1) {
		o->lst_cast = 0;
		o->pkind = TK_PUNCT;
		o->pc = ',';
	} else {
		return 0;
	}
	o->pkw = KW_NONE;
	return 1;
}

static void san_token(struct san *o, const struct tok *t)
{
	int literal = 0, sign = 0;
	char c = t->c;
	const char *te = t->s + t->n;

	if (!o->sign) {
		if (o->lst ? san_list_item(o, t) :
		    o->vals_depth < 0 && san_quiet(o, t))
			return;
	}
	switch (t->kind) {
	case TK_SPACE:
		flush(o, t->s);
		put_space(o, t->s, t->n);
		o->run = te;
		return;
	case TK_COMMENT:
		/* One space keeps the tokens around it apart. */
		flush(o, t->s);
		if (o->n > 0 &&
		    !(o->n <= o->lim && IS(o->buf[o->n - 1], C_SPACE)))
			putc1(o, ' ');
		o->run = te;
		return;
	case TK_NUMBER:
	case TK_STRING:
		literal = 1;
		break;
	case TK_WORD:
		literal = t->kw == KW_TRUE || t->kw == KW_FALSE;
		break;
	case TK_QIDENT:
		literal = (o->flags & SQL_SQLITE) && t->dq && dq_value(o);
		o->guesses += literal;
		break;
	default:
		break;
	}

	/* A collapsible run stops being one at the first token that is not
	 * a literal, a comma, a sign or a cast (a nested '(' included), and
	 * is then forgotten, so lists inside it can be collapsed. */
	if (o->lst && c != ')')
		list_token(o, t, literal);
	if (o->lst && !o->lst_ok) {
		if (o->lst == 'V')
			o->vals_depth = -1;
		o->lst = 0;
	}
	if (o->lst == 'I' && c == ')' && o->lst_items > 0) {
		flush(o, t->s);
		o->n = o->lst_out;
		putc1(o, '?');
	}
	if (o->vals_depth >= 0 && o->depth == o->vals_depth && !o->lst) {
		if (c == ',')
			o->vals_expect = 1;
		else if (!(c == '(' && o->vals_expect))
			o->vals_depth = -1;
	}

	/* The token itself: kept as it stands unless replaced. */
	if (t->kind == TK_NUMBER && o->sign) {
		flush(o, t->s);
		o->n = o->sign_out;     /* -1 is one literal */
	}
	if (literal) {
		flush(o, t->s);
		putc1(o, '?');
		o->run = te;
	} else if (t->kind == TK_QIDENT || t->kind == TK_PARAM ||
		   (t->kind == TK_WORD && !t->plain)) {
		/* These may hold any byte (words: not UTF-8). */
		if (!plain(t->s, t->n)) {
			flush(o, t->s);
			put_utf8(o, t->s, t->n);
			o->run = te;
		}
	} else if ((c == '-' || c == '+') && t->n == 1 && sign_context(o)) {
		sign = 1;
		o->sign_out = at(o, t->s);
	}
	o->sign = sign;

	/* Parentheses open and close runs. */
	if (c == '(') {
		o->depth++;
		/* No run is open here: a '(' inside one ended it above. */
		if (o->pkind == TK_WORD && o->pkw == KW_IN) {
			o->lst = 'I';
		} else if (o->vals_depth == o->depth - 1 && o->vals_expect) {
			o->lst = 'V';
			o->vals_expect = 0;
		}
		if (o->lst) {
			o->lst_depth = o->depth;
			o->lst_out = at(o, te);
			o->lst_ok = 1;
			o->lst_items = 0;
			o->lst_cast = 0;
		}
	} else if (c == ')') {
		if (o->lst == 'V') {
			/* Rows after the first fold into it. */
			if (o->lst_items == 0) {
				o->vals_depth = -1;
			} else if (o->vals_rows > 0) {
				flush(o, te);
				o->n = o->vals_keep;
			} else {
				o->vals_keep = at(o, te);
			}
			o->vals_rows++;
		}
		o->lst = 0;
		if (o->depth > 0)
			o->depth--;
		if (o->vals_depth > o->depth)
			o->vals_depth = -1;
	} else if (c == ';') {
		o->depth = 0;
		o->lst = 0;
		o->vals_depth = -1;
	} else if (t->kind == TK_WORD && t->kw == KW_VALUES && !o->lst) {
		o->vals_depth = o->depth;
		o->vals_expect = 1;
		o->vals_rows = 0;
	}
	o->pkind = literal ? TK_STRING : t->kind;
	o->pkw = literal ? KW_NONE : t->kw;
	o->pc = c;
}

int sql_san_tokens(struct san *o, const struct tok *t, size_t k,
		   const char *upto)
{
	size_t i;

	for (i = 0; i < k; i++)
		san_token(o, &t[i]);
	/* Past the buffer's end, with nothing open that could move the end
	 * back: the buffer is final. */
	return at(o, upto) > o->lim && !o->lst && o->vals_depth < 0 &&
	       !o->sign;
}

size_t sql_san_finish(struct san *o, const char *upto, int *truncated)
{
	size_t n;

	flush(o, upto);
	n = o->n;

	*truncated = n > o->lim;
	if (n > o->lim) {
		size_t j = o->lim;
		uint8_t lead;

		while (j > 0 && ((uint8_t)o->buf[j - 1] & 0xc0) == 0x80 &&
		       o->lim - j < 3)
			j--;
		n = o->lim;
		lead = j > 0 ? (uint8_t)o->buf[j - 1] : 0;
		if (lead >= 0xc0) {
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if (o->lim - (j - 1) < need)
				n = j - 1;
		}
	}
	o->buf[n] = 0;
	return n;
}
