/*
 * SQL sanitising and summarising for database spans (see sql.h).  A lexer
 * cuts the text into tokens once; a sanitiser turns each token into output
 * text and a summariser follows a few keywords to find operations and
 * tables.  This is deliberately not a parser: it knows where literals,
 * comments and quoted names start and end (the part that must be exact,
 * since a mistake leaks data) and guesses the rest from keyword context.
 *
 * Runs on application threads: no allocation, no locks, only memcpy,
 * memchr and memcmp from libc, linear work with a fixed bound.
 */
#include <stdint.h>
#include <string.h>

#include "sql.h"
#include "utf8.h"

/* ------------------------------------------------------------ characters */

enum {
	C_SPACE = 0x01,         /* whitespace, and NUL */
	C_START = 0x02,         /* ASCII identifier start */
	C_CONT = 0x04,          /* ASCII identifier continuation */
	C_DIGIT = 0x08,
	C_HEX = 0x10,
	C_ALNUM = 0x20,         /* [A-Za-z0-9_]: what a number swallows */
};

static const uint8_t cls[256] = {
	[0] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\v'] = C_SPACE,
	['\f'] = C_SPACE, ['\r'] = C_SPACE, [' '] = C_SPACE,
	['0' ... '9'] = C_CONT | C_DIGIT | C_HEX | C_ALNUM,
	['A' ... 'F'] = C_START | C_CONT | C_HEX | C_ALNUM,
	['G' ... 'Z'] = C_START | C_CONT | C_ALNUM,
	['a' ... 'f'] = C_START | C_CONT | C_HEX | C_ALNUM,
	['g' ... 'z'] = C_START | C_CONT | C_ALNUM,
	['_'] = C_START | C_CONT | C_ALNUM,
	['$'] = C_CONT,
};

#define IS(c, m) (cls[(uint8_t)(c)] & (m))

/* ------------------------------------------------------------- keywords */

/* Keyword flags: what the sanitiser and the summariser need to know. */
enum {
	KF_UNARY = 0x01,        /* a '-' or '+' after it is a sign */
	KF_CLAUSE = 0x02,       /* ends a FROM list */
	KF_MOD = 0x04,          /* DDL modifier, left out of the operation */
	KF_OBJ = 0x08,          /* DDL object type, part of the operation */
	KF_SKIP = 0x10,         /* skipped before a DDL or UPDATE target */
};

/* Sorted by name (sql_kw_lookup is a binary search). */
#define SQL_KEYWORDS(X) \
	X(ALTER, 0) \
	X(ANALYSE, KF_MOD) \
	X(ANALYZE, KF_MOD) \
	X(AND, KF_UNARY) \
	X(AS, KF_UNARY) \
	X(BETWEEN, KF_UNARY) \
	X(BY, KF_UNARY) \
	X(CALL, 0) \
	X(CASE, KF_UNARY) \
	X(CLUSTER, 0) \
	X(COMMENT, 0) \
	X(CONCURRENTLY, KF_SKIP) \
	X(COPY, 0) \
	X(CREATE, 0) \
	X(DATABASE, KF_OBJ) \
	X(DECLARE, 0) \
	X(DEFAULT, KF_UNARY) \
	X(DELETE, 0) \
	X(DISTINCT, 0) \
	X(DO, KF_CLAUSE) \
	X(DOMAIN, KF_OBJ) \
	X(DROP, 0) \
	X(ELSE, KF_UNARY) \
	X(EXCEPT, KF_CLAUSE) \
	X(EXISTS, KF_SKIP) \
	X(EXPLAIN, 0) \
	X(EXTENSION, KF_OBJ) \
	X(FALSE, 0) \
	X(FETCH, KF_CLAUSE) \
	X(FOR, KF_CLAUSE) \
	X(FOREIGN, KF_OBJ) \
	X(FREEZE, KF_MOD) \
	X(FROM, 0) \
	X(FULL, KF_MOD) \
	X(FUNCTION, KF_OBJ) \
	X(GLOB, KF_UNARY) \
	X(GLOBAL, KF_MOD) \
	X(GROUP, KF_CLAUSE) \
	X(HAVING, KF_CLAUSE | KF_UNARY) \
	X(IF, KF_SKIP) \
	X(ILIKE, KF_UNARY) \
	X(IN, KF_UNARY) \
	X(INDEX, KF_OBJ) \
	X(INSERT, 0) \
	X(INTERSECT, KF_CLAUSE) \
	X(INTO, 0) \
	X(IS, KF_UNARY) \
	X(JOIN, 0) \
	X(LATERAL, 0) \
	X(LIKE, KF_UNARY) \
	X(LIMIT, KF_CLAUSE | KF_UNARY) \
	X(LOCAL, KF_MOD) \
	X(LOCK, 0) \
	X(MATERIALIZED, KF_OBJ) \
	X(MERGE, 0) \
	X(NOT, KF_UNARY | KF_SKIP) \
	X(NULL, 0) \
	X(OFFSET, KF_CLAUSE | KF_UNARY) \
	X(ON, KF_CLAUSE | KF_UNARY | KF_MOD) \
	X(ONLY, KF_SKIP) \
	X(OR, KF_UNARY | KF_MOD) \
	X(ORDER, KF_CLAUSE) \
	X(PLAN, KF_MOD) \
	X(POLICY, KF_OBJ) \
	X(PRAGMA, 0) \
	X(PREPARE, 0) \
	X(PROCEDURE, KF_OBJ) \
	X(QUERY, KF_MOD) \
	X(RECURSIVE, KF_MOD) \
	X(REFRESH, 0) \
	X(REINDEX, 0) \
	X(REPLACE, KF_MOD) \
	X(RETURN, KF_UNARY) \
	X(RETURNING, KF_CLAUSE) \
	X(ROLE, KF_OBJ) \
	X(RULE, KF_OBJ) \
	X(SCHEMA, KF_OBJ) \
	X(SELECT, KF_CLAUSE | KF_UNARY) \
	X(SEQUENCE, KF_OBJ) \
	X(SERVER, KF_OBJ) \
	X(SET, KF_CLAUSE | KF_UNARY) \
	X(TABLE, KF_OBJ) \
	X(TABLESPACE, KF_OBJ) \
	X(TEMP, KF_MOD) \
	X(TEMPORARY, KF_MOD) \
	X(THEN, KF_UNARY) \
	X(TRIGGER, KF_OBJ) \
	X(TRUE, 0) \
	X(TRUNCATE, 0) \
	X(TYPE, KF_OBJ) \
	X(UNION, KF_CLAUSE) \
	X(UNIQUE, KF_MOD) \
	X(UNLOGGED, KF_MOD) \
	X(UPDATE, 0) \
	X(USER, KF_OBJ) \
	X(USING, 0) \
	X(VACUUM, 0) \
	X(VALUES, KF_CLAUSE | KF_UNARY) \
	X(VERBOSE, KF_MOD) \
	X(VIEW, KF_OBJ) \
	X(VIRTUAL, KF_OBJ) \
	X(WHEN, KF_UNARY) \
	X(WHERE, KF_CLAUSE | KF_UNARY) \
	X(WINDOW, KF_CLAUSE) \
	X(WITH, KF_CLAUSE)

enum kw {
	KW_NONE = 0,
#define KW_ENUM(name, flags) KW_##name,
	SQL_KEYWORDS(KW_ENUM)
#undef KW_ENUM
	KW_COUNT
};

struct kwent {
	char name[13];
	uint8_t flags;
};

static const struct kwent kwtab[KW_COUNT] = {
	[KW_NONE] = { "", 0 },
#define KW_ENT(name, fl) [KW_##name] = { #name, fl },
	SQL_KEYWORDS(KW_ENT)
#undef KW_ENT
};

#define KW_LONGEST 12

/* Keyword id of the word [s, s + n), case-insensitive, or KW_NONE. */
static uint8_t kw_lookup(const char *s, size_t n)
{
	char up[KW_LONGEST + 1];
	int lo = 1, hi = KW_COUNT - 1;
	size_t i;

	if (n < 2 || n > KW_LONGEST)
		return KW_NONE;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		else if (c < 'A' || c > 'Z')
			return KW_NONE;
		up[i] = c;
	}
	up[n] = 0;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const char *k = kwtab[mid].name;
		int r;

		for (i = 0; up[i] != 0 && up[i] == k[i]; i++)
			;
		r = (uint8_t)up[i] - (uint8_t)k[i];

		if (r == 0)
			return (uint8_t)mid;
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return KW_NONE;
}

#ifdef UNITTEST
/* Every keyword is found by its own name: the table is sorted. */
int sql_keywords_ok(void);
int sql_keywords_ok(void)
{
	int i;

	for (i = 1; i < KW_COUNT; i++)
		if (kw_lookup(kwtab[i].name, strlen(kwtab[i].name)) != i)
			return 0;
	return 1;
}
#endif

/* ---------------------------------------------------------------- lexer */

enum tk {
	TK_SPACE = 1,
	TK_COMMENT,
	TK_WORD,        /* identifier or keyword */
	TK_QIDENT,      /* "name", `name`, [name], U&"name" */
	TK_STRING,      /* any string literal, also unterminated input */
	TK_NUMBER,
	TK_PARAM,       /* $1 ? ?1 :name @name $name */
	TK_PUNCT,       /* one character, or "::" */
	TK_BAD,         /* a byte that is not valid UTF-8 */
};

struct tok {
	uint8_t kind;
	uint8_t kw;     /* TK_WORD: enum kw */
	uint8_t dq;     /* TK_QIDENT: "..." not followed by '.' */
	uint8_t sq;     /* TK_STRING: a plain, terminated '...' */
	const char *s;
	size_t n;
};

/* Longest $tag$ accepted; a longer one hides the rest of the input, so the
 * search for the closing tag stays linear. */
#define DOLLAR_TAG_MAX 64

/* End of a quoted run starting after its opening quote q: doubled quotes
 * are part of the text, with bs a backslash escapes the next byte.  Sets
 * *closed to 0 and returns end if the quote never closes. */
static const char *skip_quoted(const char *p, const char *end, char q, int bs,
                               int *closed)
{
	for (;;) {
		if (!bs) {
			p = memchr(p, q, (size_t)(end - p));
			if (p == NULL)
				break;
		} else {
			while (p < end && *p != q) {
				if (*p == '\\' && end - p >= 2)
					p++;
				p++;
			}
			if (p >= end)
				break;
		}
		if (end - p >= 2 && p[1] == q) {
			p += 2;
			continue;
		}
		*closed = 1;
		return p + 1;
	}
	*closed = 0;
	return end;
}

/* End of a block comment whose opening slash-star ends at p: nested
 * comments count, as in PostgreSQL; unterminated runs to the end. */
static const char *skip_comment(const char *p, const char *end)
{
	int depth = 1;

	while (end - p >= 2) {
		if (p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (p[0] == '*' && p[1] == '/') {
			p += 2;
			if (--depth == 0)
				return p;
		} else {
			p++;
		}
	}
	return end;
}

static const char *skip_number(const char *p, const char *end)
{
	if (*p == '0' && end - p >= 3) {
		char x = (char)(p[1] | 0x20);

		if ((x == 'x' && IS(p[2], C_HEX)) ||
		    ((x == 'b' || x == 'o') && IS(p[2], C_DIGIT))) {
			p += 2;
			goto junk;
		}
	}
	while (p < end && (IS(*p, C_DIGIT) || *p == '_'))
		p++;
	if (p < end && *p == '.' && !(end - p >= 2 && p[1] == '.')) {
		p++;
		while (p < end && (IS(*p, C_DIGIT) || *p == '_'))
			p++;
	}
	if (p < end && (*p | 0x20) == 'e') {
		const char *q = p + 1;

		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q < end && IS(*q, C_DIGIT))
			p = q;
	}
junk:
	/* Letters glued to a number (0x1F, 1e5, 12abc) belong to it. */
	while (p < end && IS(*p, C_ALNUM))
		p++;
	return p;
}

/* [name] is an identifier only when its content looks like a name (SQLite,
 * SQL Server); otherwise '[' is an operator (a PostgreSQL subscript, whose
 * numbers must be sanitised). */
static const char *skip_bracket(const char *p, const char *end)
{
	const char *q = p + 1;

	if (q >= end || IS(*q, C_DIGIT) || *q == ']')
		return NULL;
	while (q < end && q - p <= 128) {
		uint8_t c = (uint8_t)*q;

		if (c == ']')
			return q + 1;
		if (!(IS(c, C_CONT) || c == ' ' || c >= 0x80))
			return NULL;
		q++;
	}
	return NULL;
}

/* A '$' at p: $1, $tag$...$tag$, $$...$$, $name, or an operator. */
static const char *lex_dollar(const char *p, const char *end, struct tok *t)
{
	const char *q = p + 1, *body, *r;
	size_t taglen;

	if (q < end && IS(*q, C_DIGIT)) {
		while (q < end && IS(*q, C_DIGIT))
			q++;
		t->kind = TK_PARAM;
		return q;
	}
	while (q < end && (IS(*q, C_ALNUM) || (uint8_t)*q >= 0x80)) {
		if (q == p + 1 && IS(*q, C_DIGIT))
			break;
		q++;
	}
	if (q >= end || *q != '$') {
		t->kind = q == p + 1 ? TK_PUNCT : TK_PARAM;
		return q;
	}
	t->kind = TK_STRING;
	taglen = (size_t)(q - p - 1);
	if (taglen > DOLLAR_TAG_MAX)
		return end;
	body = q + 1;
	for (r = body; r < end; r++) {
		r = memchr(r, '$', (size_t)(end - r));
		if (r == NULL)
			break;
		if ((size_t)(end - r) >= taglen + 2 && r[taglen + 1] == '$' &&
		    memcmp(r + 1, p + 1, taglen) == 0)
			return r + taglen + 2;
	}
	return end;
}

/* Reads one token at p (p < end) into t; returns where the next starts. */
static const char *lex(const char *p, const char *end, struct tok *t)
{
	const char *s = p;
	uint8_t c = (uint8_t)*p;
	int closed;

	t->s = p;
	t->kw = KW_NONE;
	t->dq = 0;
	t->sq = 0;
	if (IS(c, C_SPACE)) {
		while (p < end && IS(*p, C_SPACE))
			p++;
		t->kind = TK_SPACE;
		goto out;
	}
	t->kind = TK_PUNCT;
	switch (c) {
	case '-':
		if (end - p >= 2 && p[1] == '-') {
			p = memchr(p, '\n', (size_t)(end - p));
			if (p == NULL)
				p = end;
			t->kind = TK_COMMENT;
			goto out;
		}
		break;
	case '/':
		if (end - p >= 2 && p[1] == '*') {
			p = skip_comment(p + 2, end);
			t->kind = TK_COMMENT;
			goto out;
		}
		break;
	case '\'':
		p = skip_quoted(p + 1, end, '\'', 0, &closed);
		t->kind = TK_STRING;
		t->sq = (uint8_t)closed;
		goto out;
	case '"':
	case '`':
		p = skip_quoted(p + 1, end, (char)c, 0, &closed);
		/* An unclosed quote may be a SQLite string: hide the rest. */
		t->kind = closed ? TK_QIDENT : TK_STRING;
		t->dq = c == '"' && !(p < end && *p == '.');
		goto out;
	case '[':
		s = skip_bracket(p, end);
		if (s != NULL) {
			p = s;
			t->kind = TK_QIDENT;
			goto out;
		}
		break;
	case '$':
		p = lex_dollar(p, end, t);
		goto out;
	case '?':
		p++;
		while (p < end && IS(*p, C_DIGIT))
			p++;
		t->kind = TK_PARAM;
		goto out;
	case ':':
		if (end - p >= 2 && p[1] == ':') {
			p += 2;
			goto out;
		}
		/* fall through */
	case '@':
		if (end - p >= 2 &&
		    (IS(p[1], C_CONT) || (uint8_t)p[1] >= 0x80)) {
			p++;
			while (p < end && (IS(*p, C_CONT) ||
			                   (uint8_t)*p >= 0x80))
				p++;
			t->kind = TK_PARAM;
			goto out;
		}
		break;
	case '.':
		if (end - p >= 2 && IS(p[1], C_DIGIT)) {
			p = skip_number(p + 1, end);
			t->kind = TK_NUMBER;
			goto out;
		}
		break;
	default:
		break;
	}
	if (IS(c, C_DIGIT)) {
		p = skip_number(p, end);
		t->kind = TK_NUMBER;
		goto out;
	}
	if (IS(c, C_START) || c >= 0x80) {
		size_t l;

		while (p < end) {
			if (IS(*p, C_CONT)) {
				p++;
			} else if ((uint8_t)*p >= 0x80 &&
			           (l = utf8_char_len(p, (size_t)(end - p))) != 0) {
				p += l;
			} else {
				break;
			}
		}
		if (p == s) {
			t->kind = TK_BAD;
			p++;
			goto out;
		}
		t->kind = TK_WORD;
		if (p - s == 1 && p < end) {
			char u = (char)(c | 0x20);

			if (*p == '\'' && (u == 'e' || u == 'b' || u == 'x' ||
			                   u == 'n')) {
				p = skip_quoted(p + 1, end, '\'', u == 'e',
				                &closed);
				t->kind = TK_STRING;
				goto out;
			}
			if (u == 'u' && end - p >= 2 && p[0] == '&' &&
			    (p[1] == '\'' || p[1] == '"')) {
				char q = p[1];

				p = skip_quoted(p + 2, end, q, 0, &closed);
				t->kind = q == '"' && closed ? TK_QIDENT
				                             : TK_STRING;
				goto out;
			}
		}
		t->kw = kw_lookup(s, (size_t)(p - s));
		goto out;
	}
	p++;
out:
	t->n = (size_t)(p - t->s);
	return p;
}

/* ------------------------------------------------------------ sanitiser */

/*
 * Output positions are logical: the text as if the buffer were unbounded.
 * The buffer holds its first cap - 1 bytes.  Collapsing an IN list or a
 * VALUES row moves the logical end back, so a long list that overflowed
 * the buffer can still end in a complete "IN (?)".
 */
struct san {
	char *buf;
	size_t lim;             /* cap - 1 */
	size_t n;               /* logical length */
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
};

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

/* Copies name bytes, replacing invalid UTF-8 and NUL by U+FFFD. */
static void put_utf8(struct san *o, const char *s, size_t n)
{
	const char *end = s + n, *run = s;

	while (s < end) {
		size_t l = 0;

		if ((uint8_t)*s < 0x80 && *s != 0) {
			s++;
			continue;
		}
		if (*s != 0)
			l = utf8_char_len(s, (size_t)(end - s));
		if (l) {
			s += l;
			continue;
		}
		put(o, run, (size_t)(s - run));
		put(o, "\xef\xbf\xbd", 3);
		run = ++s;
	}
	put(o, run, (size_t)(s - run));
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
		return (kwtab[o->pkw].flags & KF_UNARY) != 0;
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
		if (t->s[0] == ',' || t->s[0] == '-' || t->s[0] == '+')
			return;
		break;
	default:
		break;
	}
	o->lst_ok = 0;
}

static void san_token(struct san *o, const struct tok *t)
{
	int literal = 0, sign = 0;
	char c = t->kind == TK_PUNCT ? t->s[0] : 0;

	switch (t->kind) {
	case TK_SPACE:
		put_space(o, t->s, t->n);
		return;
	case TK_COMMENT:
		/* One space keeps the tokens around it apart. */
		if (o->n > 0 &&
		    !(o->n <= o->lim && IS(o->buf[o->n - 1], C_SPACE)))
			putc1(o, ' ');
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
		o->n = o->lst_out;
		putc1(o, '?');
	}
	if (o->vals_depth >= 0 && o->depth == o->vals_depth && !o->lst) {
		if (c == ',')
			o->vals_expect = 1;
		else if (!(c == '(' && o->vals_expect))
			o->vals_depth = -1;
	}

	/* The token itself. */
	if (t->kind == TK_NUMBER && o->sign)
		o->n = o->sign_out;     /* -1 is one literal */
	if (literal) {
		putc1(o, '?');
	} else if (t->kind == TK_BAD) {
		put(o, "\xef\xbf\xbd", 3);
	} else if (t->kind == TK_QIDENT || t->kind == TK_PARAM) {
		put_utf8(o, t->s, t->n);        /* may hold any byte */
	} else {
		if ((c == '-' || c == '+') && t->n == 1 && sign_context(o)) {
			sign = 1;
			o->sign_out = o->n;
		}
		put(o, t->s, t->n);
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
			o->lst_out = o->n;
			o->lst_ok = 1;
			o->lst_items = 0;
			o->lst_cast = 0;
		}
	} else if (c == ')') {
		if (o->lst == 'V') {
			/* Rows after the first fold into it. */
			if (o->lst_items == 0)
				o->vals_depth = -1;
			else if (o->vals_rows > 0)
				o->n = o->vals_keep;
			else
				o->vals_keep = o->n;
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

/* Can more input still change what the buffer holds? */
static int san_done(const struct san *o)
{
	return o->n > o->lim && !o->lst && o->vals_depth < 0 && !o->sign;
}

/* NUL-terminates, dropping a character the limit cut in two. */
static size_t san_finish(struct san *o, int *truncated)
{
	size_t n = o->n;

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

/* ----------------------------------------------------------- summariser */

#define SUM_DEPTH 32
#define SUM_CTES 8

enum { F_NONE, F_EXPECT, F_AFTER };                     /* FROM lists */
enum { ST_NONE, ST_DML, ST_DDL, ST_LIST, ST_COPY, ST_OTHER };
enum { CTE_NONE, CTE_NAME, CTE_COLS, CTE_AS, CTE_BODY, CTE_NEXT };
enum { T_COLLECTION = 1, T_NOTE };                      /* target kinds */

struct sum {
	char *buf;
	size_t lim;             /* most bytes the summary may hold */
	size_t n;
	int full;
	unsigned flags;
	struct sql_info *info;
	int op_ok;              /* the operation being written fits */
	int op_first;           /* ... and it is the first one */

	/* Statement state, reset at ';'. */
	int at_start;           /* next word is the statement's verb */
	int kind;               /* ST_* */
	int ops;                /* SELECT and friends are operations */
	int explain;            /* EXPLAIN options may follow */
	int prepare;            /* PREPARE name AS <statement> */
	int ddl;                /* after CREATE/DROP/...: object words */
	int ddl_index;          /* CREATE INDEX: the target follows ON */
	int ddl_note;           /* the DDL object is not a collection */
	int skip_paren;         /* skipping an option list: its depth */
	int depth;
	uint8_t query[SUM_DEPTH];       /* this level is a query */
	uint8_t from[SUM_DEPTH];        /* F_* */

	/* The next name is a target (INTO, UPDATE, DDL object ...). */
	int single;             /* T_* or 0 */
	int single_fn;          /* ... unless followed by '(' */
	int skip_word;          /* UPDATE OR IGNORE: skip a word */

	/* A target being read: a (qualified) name [tg_s, tg_e). */
	int tg;                 /* T_* or 0 */
	int tg_fn;              /* a '(' next makes it a function call */
	int tg_dot;             /* a '.' was just read */
	const char *tg_s, *tg_e;

	/* WITH names, which are not collections. */
	int cte;
	int cte_depth;
	int ncte;
	const char *cte_s[SUM_CTES];
	size_t cte_n[SUM_CTES];

	/* The previous significant token. */
	uint8_t pkind;
	uint8_t pkw;
	char pc;
	int gap;                /* space or comment since it */

	unsigned ncoll;
	int coll_ok;            /* collection[] holds the only one */
};

/* Appends " word" (or "word" first) if it fits; once a word does not,
 * nothing more is added so the summary stays in statement order. */
static int sum_put(struct sum *m, const char *s, size_t n)
{
	size_t need = n + (m->n > 0);

	if (m->full || m->buf == NULL)
		return 0;
	if (need > m->lim - m->n) {
		m->full = 1;
		return 0;
	}
	if (m->n > 0)
		m->buf[m->n++] = ' ';
	memcpy(m->buf + m->n, s, n);
	m->n += n;
	return 1;
}

static void op_begin(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;

	m->op_ok = sum_put(m, t->s, t->n);
	m->op_first = ++info->noperations == 1 &&
	              t->n < sizeof(info->operation);
	if (m->op_first) {
		memcpy(info->operation, t->s, t->n);
		info->operation[t->n] = 0;
	}
}

/* Adds an object word to the current operation: "CREATE" + "TABLE". */
static void op_more(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;
	size_t l;

	if (m->op_ok)
		m->op_ok = sum_put(m, t->s, t->n);
	if (!m->op_first)
		return;
	l = strlen(info->operation);
	if (l + 1 + t->n < sizeof(info->operation)) {
		info->operation[l] = ' ';
		memcpy(info->operation + l + 1, t->s, t->n);
		info->operation[l + 1 + t->n] = 0;
	} else {
		info->operation[0] = 0;         /* too long to report */
		m->op_first = 0;
	}
}

static int same_name(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if ((a[i] | 0x20) != (b[i] | 0x20))
			return 0;
	return 1;
}

static void tg_commit(struct sum *m)
{
	const char *s = m->tg_s;
	size_t n = (size_t)(m->tg_e - m->tg_s);
	struct sql_info *info = m->info;
	size_t i;
	char tmp[256];
	size_t tn = 0;

	for (i = 0; i < (size_t)m->ncte; i++)
		if (same_name(s, n, m->cte_s[i], m->cte_n[i]))
			return;
	/* Quoted names may hold NULs and bytes that are not UTF-8. */
	for (i = 0; i < n && tn < sizeof(tmp) - 3; ) {
		size_t l = s[i] == 0 ? 0 : (uint8_t)s[i] < 0x80 ? 1
		                                : utf8_char_len(s + i, n - i);

		if (l == 0) {
			memcpy(tmp + tn, "\xef\xbf\xbd", 3);
			tn += 3;
			i++;
		} else if (tn + l <= sizeof(tmp) - 3) {
			memcpy(tmp + tn, s + i, l);
			tn += l;
			i += l;
		} else {
			break;
		}
	}
	if (i < n)
		tn = sizeof(tmp);       /* too long for any output */
	if (tn <= SQL_SUMMARY_MAX)
		sum_put(m, tmp, tn);
	else if (m->buf != NULL)
		m->full = 1;
	if (m->tg != T_COLLECTION)
		return;
	info->ncollections++;
	if (info->ncollections == 1) {
		m->coll_ok = tn < sizeof(info->collection);
		if (m->coll_ok) {
			memcpy(info->collection, tmp, tn);
			info->collection[tn] = 0;
		}
	} else if (m->coll_ok) {
		m->coll_ok = strlen(info->collection) == tn &&
		             memcmp(info->collection, tmp, tn) == 0;
	}
}

static void tg_begin(struct sum *m, const struct tok *t, int kind, int fn)
{
	m->tg = kind;
	m->tg_fn = fn;
	m->tg_dot = 0;
	m->tg_s = t->s;
	m->tg_e = t->s + t->n;
}

/* Feeds a token to a target being read.  Returns 1 if it was consumed
 * (part of a qualified name), 0 if the name is complete. */
static int tg_feed(struct sum *m, const struct tok *t)
{
	int adjacent = !m->gap;

	if (adjacent && !m->tg_dot && t->kind == TK_PUNCT && t->n == 1 &&
	    t->s[0] == '.') {
		m->tg_dot = 1;
		return 1;
	}
	if (adjacent && m->tg_dot &&
	    (t->kind == TK_WORD || t->kind == TK_QIDENT)) {
		m->tg_e = t->s + t->n;
		m->tg_dot = 0;
		return 1;
	}
	if (!(m->tg_fn && t->kind == TK_PUNCT && t->s[0] == '('))
		tg_commit(m);
	m->tg = 0;
	return 0;
}

static int is_name(const struct sum *m, const struct tok *t)
{
	if (t->kind == TK_QIDENT)
		return 1;
	if (t->kind == TK_STRING && t->sq && (m->flags & SQL_SQLITE) &&
	    m->kind != ST_COPY)
		return 1;
	return t->kind == TK_WORD;
}

static void stmt_reset(struct sum *m)
{
	m->at_start = 1;
	m->kind = ST_NONE;
	m->ops = 0;
	m->explain = 0;
	m->prepare = 0;
	m->ddl = 0;
	m->ddl_index = 0;
	m->ddl_note = 0;
	m->skip_paren = 0;
	m->depth = 0;
	m->query[0] = 0;
	m->from[0] = F_NONE;
	m->single = 0;
	m->skip_word = 0;
	m->tg = 0;
	m->cte = CTE_NONE;
	m->ncte = 0;
	m->pkind = 0;
	m->pkw = 0;
	m->pc = 0;
}

/* The first word of a statement decides what kind it is. */
static void sum_verb(struct sum *m, const struct tok *t)
{
	m->at_start = 0;
	switch (t->kw) {
	case KW_SELECT:
	case KW_INSERT:
	case KW_UPDATE:
	case KW_DELETE:
	case KW_MERGE:
	case KW_REPLACE:
		m->kind = ST_DML;
		m->ops = 1;
		op_begin(m, t);
		m->query[m->depth < SUM_DEPTH ? m->depth : 0] = 1;
		if (t->kw == KW_UPDATE) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_WITH:
		m->kind = ST_DML;
		m->ops = 1;
		m->cte = CTE_NAME;
		m->cte_depth = m->depth;
		return;
	case KW_VALUES:
	case KW_DECLARE:
		m->kind = ST_DML;
		m->ops = 1;
		if (t->kw == KW_DECLARE)
			op_begin(m, t);
		return;
	case KW_CREATE:
	case KW_ALTER:
	case KW_REINDEX:
	case KW_REFRESH:
	case KW_COMMENT:
		m->kind = ST_DDL;
		break;
	case KW_DROP:
	case KW_TRUNCATE:
	case KW_VACUUM:
	case KW_ANALYZE:
	case KW_ANALYSE:
	case KW_CLUSTER:
	case KW_LOCK:
		m->kind = ST_LIST;
		break;
	case KW_COPY:
		m->kind = ST_COPY;
		m->ops = 1;
		m->single = T_COLLECTION;
		m->single_fn = 0;
		op_begin(m, t);
		return;
	case KW_EXPLAIN:
		m->explain = 1;
		m->at_start = 1;
		op_begin(m, t);
		return;
	case KW_PREPARE:
		m->kind = ST_OTHER;
		m->prepare = 1;
		op_begin(m, t);
		return;
	case KW_CALL:
	case KW_PRAGMA:
		m->kind = ST_OTHER;
		m->single = T_NOTE;
		m->single_fn = 0;
		op_begin(m, t);
		return;
	default:
		m->kind = ST_OTHER;
		if (t->kind == TK_WORD && t->n < 32)
			op_begin(m, t);
		return;
	}
	op_begin(m, t);
	m->ddl = 1;
}

/* Words between CREATE/DROP/... and the object's name.  Returns 0 if the
 * token ends that part without being the name. */
static int sum_ddl_word(struct sum *m, const struct tok *t)
{
	uint8_t f = kwtab[t->kw].flags;

	if (t->kw == KW_ON && m->ddl_index) {
		/* CREATE INDEX [name] ON table */
		m->ddl = 0;
		m->ddl_index = 0;
		m->single = T_COLLECTION;
		m->single_fn = 0;
		return 1;
	}
	if (f & KF_OBJ) {
		op_more(m, t);
		switch (t->kw) {
		case KW_INDEX:
			m->ddl_index = m->kind == ST_DDL;
			break;
		case KW_TABLE:
		case KW_VIEW:
		case KW_SEQUENCE:
		case KW_MATERIALIZED:
		case KW_FOREIGN:
		case KW_VIRTUAL:
			break;
		default:
			/* Functions, schemas, roles ...: named in the
			 * summary, but they are not collections. */
			m->ddl_note = 1;
			break;
		}
		return 1;
	}
	if (f & (KF_MOD | KF_SKIP))
		return 1;
	if (m->ddl_index)
		return 1;       /* the index's own name */
	m->ddl = 0;
	if (!is_name(m, t))
		return 0;
	tg_begin(m, t, m->ddl_note ? T_NOTE : T_COLLECTION, 0);
	if (m->kind == ST_LIST)
		m->from[0] = F_AFTER;   /* DROP TABLE a, b */
	return 1;
}

static void sum_word(struct sum *m, const struct tok *t)
{
	int d = m->depth < SUM_DEPTH ? m->depth : -1;
	uint8_t kw = t->kw;
	int q = d >= 0 && m->query[d];

	if (m->ddl && sum_ddl_word(m, t))
		return;
	if (m->single) {
		if (m->skip_word) {
			m->skip_word = 0;
			return;
		}
		if (kw == KW_OR) {
			m->skip_word = 1;
			return;
		}
		if (kwtab[kw].flags & KF_SKIP)
			return;
		if (is_name(m, t)) {
			tg_begin(m, t, m->single, m->single_fn);
			m->single = 0;
			return;
		}
		m->single = 0;
	}
	if (d >= 0 && m->from[d] == F_EXPECT) {
		if (kw == KW_ONLY || kw == KW_LATERAL)
			return;
		m->from[d] = F_AFTER;
		if (is_name(m, t) && !(kwtab[kw].flags & KF_CLAUSE)) {
			tg_begin(m, t, T_COLLECTION, 1);
			return;
		}
	}
	if (m->cte == CTE_NAME && m->depth == m->cte_depth) {
		if (kw == KW_RECURSIVE || !is_name(m, t))
			return;
		if (m->ncte < SUM_CTES) {
			m->cte_s[m->ncte] = t->s;
			m->cte_n[m->ncte] = t->n;
			m->ncte++;
		}
		m->cte = CTE_COLS;
		return;
	}
	if (m->cte == CTE_COLS && m->depth == m->cte_depth && kw == KW_AS) {
		m->cte = CTE_AS;
		return;
	}
	if (m->cte == CTE_NEXT && m->depth == m->cte_depth)
		m->cte = CTE_NONE;
	if (t->kind != TK_WORD)
		return;
	if (d >= 0 && (kwtab[kw].flags & KF_CLAUSE) && m->from[d] != F_NONE)
		m->from[d] = F_NONE;

	switch (kw) {
	case KW_SELECT:
		if (!m->ops || m->pkw == KW_ON)
			return;
		op_begin(m, t);
		if (d >= 0)
			m->query[d] = 1;
		return;
	case KW_INSERT:
	case KW_UPDATE:
	case KW_DELETE:
	case KW_MERGE:
		if (!m->ops || m->pkind != TK_PUNCT ||
		    (m->pc != '(' && m->pc != ')'))
			return;
		op_begin(m, t);
		if (d >= 0)
			m->query[d] = 1;
		if (kw == KW_UPDATE) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_FROM:
		if (q && m->pkw != KW_DISTINCT)
			m->from[d] = F_EXPECT;
		return;
	case KW_JOIN:
		if (q)
			m->from[d] = F_EXPECT;
		return;
	case KW_INTO:
		if (q) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_USING:
		if (q) {
			m->single = T_COLLECTION;
			m->single_fn = 1;
		}
		return;
	case KW_WITH:
		if (m->ops) {
			m->cte = CTE_NAME;
			m->cte_depth = m->depth;
		}
		return;
	case KW_AS:
		if (m->prepare && m->depth == 0) {
			m->prepare = 0;
			m->at_start = 1;
		} else if (m->kind == ST_DDL && m->depth == 0) {
			m->ops = 1;
		}
		return;
	default:
		return;
	}
}

static void sum_punct(struct sum *m, const struct tok *t)
{
	char c = t->s[0];
	int d = m->depth < SUM_DEPTH ? m->depth : -1;

	if (c == '(') {
		if (d >= 0 && m->from[d] == F_EXPECT)
			m->from[d] = F_AFTER;
		if (m->cte == CTE_AS && m->depth == m->cte_depth)
			m->cte = CTE_BODY;
		m->single = 0;
		m->ddl = 0;
		m->depth++;
		if (m->depth < SUM_DEPTH) {
			m->query[m->depth] = 0;
			m->from[m->depth] = F_NONE;
		}
	} else if (c == ')') {
		if (m->depth > 0)
			m->depth--;
		if (m->cte == CTE_BODY && m->depth == m->cte_depth)
			m->cte = CTE_NEXT;
	} else if (c == ',') {
		if (d >= 0 && m->from[d] == F_AFTER)
			m->from[d] = F_EXPECT;
		if (m->cte == CTE_NEXT && m->depth == m->cte_depth)
			m->cte = CTE_NAME;
		m->single = 0;
	} else {
		m->single = 0;
	}
}

static void sum_token(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;

	if (t->kind == TK_SPACE || t->kind == TK_COMMENT) {
		m->gap = 1;
		return;
	}
	if (t->kind == TK_PUNCT && t->s[0] == ';') {
		if (m->tg)
			tg_feed(m, t);
		stmt_reset(m);
		m->gap = 0;
		return;
	}
	if (m->pkind == 0)
		info->nstatements++;
	if (m->tg && tg_feed(m, t))
		goto prev;
	if (m->skip_paren) {
		if (t->kind == TK_PUNCT && t->s[0] == '(')
			m->skip_paren++;
		else if (t->kind == TK_PUNCT && t->s[0] == ')')
			m->skip_paren--;
		goto prev;
	}
	if (m->at_start) {
		if (t->kind == TK_WORD && m->explain &&
		    (kwtab[t->kw].flags & KF_MOD))
			goto prev;
		if (t->kind == TK_PUNCT && t->s[0] == '(' && m->explain) {
			m->skip_paren = 1;
			goto prev;
		}
		if (t->kind == TK_WORD) {
			sum_verb(m, t);
			goto prev;
		}
		m->at_start = 0;
		m->kind = ST_DML;
		m->ops = 1;
	}
	if (m->ddl && t->kind == TK_PUNCT && t->s[0] == '(' &&
	    m->kind == ST_LIST) {
		m->skip_paren = 1;      /* VACUUM (options) */
		goto prev;
	}
	if (t->kind == TK_PUNCT)
		sum_punct(m, t);
	else
		sum_word(m, t);
prev:
	m->gap = 0;
	m->pkind = t->kind;
	m->pkw = t->kw;
	m->pc = t->kind == TK_PUNCT ? t->s[0] : 0;
}

/* ---------------------------------------------------------------- entry */

size_t sql_analyze(const char *sql, size_t len, unsigned flags,
                   char *text, size_t text_cap,
                   char *summary, size_t summary_cap,
                   struct sql_info *info)
{
	struct sql_info local;
	struct san o;
	struct sum m;
	struct tok t;
	const char *p = sql, *end;
	int do_text = text != NULL && text_cap > 0;
	int do_sum = (summary != NULL && summary_cap > 0) || info != NULL;
	int trunc = 0;
	size_t ret = 0;

	if (info == NULL)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (sql == NULL)
		len = 0;
	if (len > SQL_SCAN_MAX) {
		len = SQL_SCAN_MAX;
		info->truncated |= SQL_TRUNC_INPUT;
	}
	end = p + len;

	memset(&o, 0, sizeof(o));
	o.buf = text;
	o.lim = do_text ? text_cap - 1 : 0;
	o.flags = flags;
	o.vals_depth = -1;

	memset(&m, 0, sizeof(m));
	m.info = info;
	m.flags = flags;
	if (summary != NULL && summary_cap > 0) {
		m.buf = summary;
		m.lim = summary_cap - 1 < SQL_SUMMARY_MAX ? summary_cap - 1
		                                          : SQL_SUMMARY_MAX;
	}
	stmt_reset(&m);

	while (p < end && (do_text || do_sum)) {
		p = lex(p, end, &t);
		if (do_text) {
			san_token(&o, &t);
			if (san_done(&o)) {
				/* The buffer is final: stop sanitising. */
				ret = san_finish(&o, &trunc);
				do_text = 0;
			}
		}
		if (do_sum)
			sum_token(&m, &t);
	}
	if (do_text)
		ret = san_finish(&o, &trunc);
	if (m.tg)
		tg_commit(&m);
	if (m.buf != NULL)
		summary[m.n] = 0;
	info->summary_len = (unsigned)m.n;
	if (trunc)
		info->truncated |= SQL_TRUNC_TEXT;
	if (m.full)
		info->truncated |= SQL_TRUNC_SUMMARY;
	if (info->noperations != 1)
		info->operation[0] = 0;
	if (!m.coll_ok)
		info->collection[0] = 0;
	return ret;
}

size_t sql_sanitize(const char *sql, size_t len, char *out, size_t cap)
{
	return sql_analyze(sql, len, SQL_POSTGRES, out, cap, NULL, 0, NULL);
}

size_t sql_summarize(const char *sql, size_t len, char *summary, size_t cap,
                     struct sql_info *info)
{
	struct sql_info local;

	if (info == NULL)
		info = &local;
	sql_analyze(sql, len, SQL_POSTGRES, NULL, 0, summary, cap, info);
	return info->summary_len;
}
