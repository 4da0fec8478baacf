/*
 * The SQL lexer (see sql_lex.h): cuts text into tokens, knowing exactly
 * where literals, comments and quoted names start and end — the part that
 * must be exact, since a mistake leaks data.  No allocation, linear work.
 */
#include <stdint.h>
#include <string.h>

#include "sql_lex.h"
#include "utf8.h"

const uint8_t sql_cls[256] = {
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

const struct kwent sql_kwtab[KW_COUNT] = {
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
		const char *k = sql_kwtab[mid].name;
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
		if (kw_lookup(sql_kwtab[i].name,
			      strlen(sql_kwtab[i].name)) != i)
			return 0;
	return 1;
}
#endif

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

/* Longest [name] content, in bytes of well-formed UTF-8. */
#define BRACKET_MAX 128

/* [name] is an identifier only when its content looks like a name (SQLite,
 * SQL Server); otherwise '[' is an operator (a PostgreSQL subscript, whose
 * numbers must be sanitised).  The length is that of the content once
 * repaired to UTF-8, as the sanitised text carries it: the verdict must
 * not change when that text is read again. */
static const char *skip_bracket(const char *p, const char *end)
{
	const char *q = p + 1;
	int wide = 0;

	if (q >= end || IS(*q, C_DIGIT) || *q == ']')
		return NULL;
	while (q < end && (size_t)(q - p - 1) <= BRACKET_MAX) {
		uint8_t c = (uint8_t)*q;

		if (c == ']') {
			if (wide && utf8_repair(p + 1, (size_t)(q - p - 1), 0,
						NULL, 0) > BRACKET_MAX)
				return NULL;
			return q + 1;
		}
		if (!(IS(c, C_CONT) || c == ' ' || c >= 0x80))
			return NULL;
		wide |= c >= 0x80;
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
const char *sql_lex(const char *p, const char *end, struct tok *t)
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
		/* "t".col names a column of t; "t".5 is t, then a number. */
		t->dq = c == '"' && !(p < end && *p == '.' &&
				      !(end - p >= 2 && IS(p[1], C_DIGIT)));
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
