/*
 * The SQL lexer (see sql_lex.h): cuts text into tokens, knowing exactly
 * where literals, comments and quoted names start and end — the part that
 * must be exact, since a mistake leaks data.  No allocation, linear work.
 */
#include <stdint.h>
#include <string.h>

#include "sql_lex.h"
#include "text.h"
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
	/* Bytes that start no longer token (no comment, string, number,
	 * name or parameter). */
	[0x01 ... 0x08] = C_ONE, [0x0e ... 0x1f] = C_ONE, [0x7f] = C_ONE,
	['!'] = C_ONE, ['#'] = C_ONE, ['%'] = C_ONE, ['&'] = C_ONE | C_EXT,
	['('] = C_ONE, [')'] = C_ONE, ['*'] = C_ONE, ['+'] = C_ONE,
	[','] = C_ONE, [';'] = C_ONE, ['<'] = C_ONE, ['='] = C_ONE,
	['>'] = C_ONE, ['\\'] = C_ONE, [']'] = C_ONE, ['^'] = C_ONE,
	['{'] = C_ONE, ['|'] = C_ONE, ['}'] = C_ONE, ['~'] = C_ONE,
	[0x80 ... 0xff] = C_EXT, ['\''] = C_EXT,
};

const struct kwent sql_kwtab[KW_COUNT] = {
	[KW_NONE] = { "", 0 },
#define KW_ENT(name, fl) [KW_##name] = { #name, fl },
	SQL_KEYWORDS(KW_ENT)
#undef KW_ENT
};


/*
 * Keyword lookup by a perfect hash: the first two and the last two letters
 * of a word, each pair read as one 16-bit number, and its length, put in
 * 64 bits and multiplied, give each of the keywords a slot of its own
 * (KW_HASH_MUL was searched for that; the unit test checks every keyword
 * is found by its name).  A word costs two short loads, one multiplication
 * and, if its slot is taken, one comparison.  Letters compare in either
 * case since c & 0xdf is upper case for a letter and no letter for any
 * other byte a word holds, and the hash keeps of each byte only its five
 * low bits, which a letter's two cases share.  After a change to the
 * keyword list, find a new multiplier and table if the test fails.
 */
#define KW_HASH_MUL 0xa2f018914126c00full

static inline unsigned kw_hash(const char *s, size_t n)
{
	uint64_t lo = ((uint8_t)s[0] | (uint8_t)s[1] << 8) & 0x1f1f;
	uint64_t hi = ((uint8_t)s[n - 2] | (uint8_t)s[n - 1] << 8) & 0x1f1f;

	return (unsigned)(((lo | hi << 16 | (uint64_t)n << 32) *
			   KW_HASH_MUL) >> 55);
}

static const uint8_t kw_slot[512] = {
	[  1] = KW_SERVER, [  7] = KW_MATERIALIZED, [  9] = KW_DO,
	[ 12] = KW_REINDEX, [ 16] = KW_ONLY, [ 26] = KW_REPLACE,
	[ 38] = KW_CREATE, [ 43] = KW_TRIGGER, [ 49] = KW_WINDOW,
	[ 52] = KW_EXCEPT, [ 58] = KW_ELSE, [ 66] = KW_VIRTUAL, [ 67] = KW_IF,
	[ 68] = KW_VERBOSE, [ 72] = KW_GLOBAL, [ 73] = KW_AND,
	[ 75] = KW_ILIKE, [ 77] = KW_UNION, [ 81] = KW_RULE,
	[ 85] = KW_BETWEEN, [ 89] = KW_IN, [ 92] = KW_DATABASE,
	[106] = KW_ANALYSE, [116] = KW_INDEX, [127] = KW_SCHEMA,
	[128] = KW_POLICY, [129] = KW_LOCK, [132] = KW_JOIN,
	[134] = KW_LATERAL, [143] = KW_EXPLAIN, [144] = KW_UNLOGGED,
	[145] = KW_FOREIGN, [148] = KW_REFRESH, [154] = KW_GLOB,
	[155] = KW_FOR, [157] = KW_INTO, [172] = KW_TABLESPACE,
	[176] = KW_RETURN, [186] = KW_EXTENSION, [188] = KW_CONCURRENTLY,
	[191] = KW_SET, [196] = KW_RECURSIVE, [201] = KW_ORDER,
	[206] = KW_TRUNCATE, [208] = KW_PRAGMA, [210] = KW_PREPARE,
	[230] = KW_COMMENT, [235] = KW_INSERT, [246] = KW_TRUE,
	[252] = KW_FULL, [253] = KW_PLAN, [264] = KW_DEFAULT,
	[265] = KW_DELETE, [269] = KW_CASE, [270] = KW_OFFSET, [271] = KW_NOT,
	[272] = KW_ROLE, [273] = KW_FROM, [284] = KW_WITH, [286] = KW_FREEZE,
	[288] = KW_LIMIT, [290] = KW_TYPE, [291] = KW_ON, [297] = KW_DECLARE,
	[298] = KW_WHEN, [299] = KW_NULL, [302] = KW_OR, [310] = KW_BY,
	[311] = KW_FETCH, [318] = KW_TEMPORARY, [326] = KW_CLUSTER,
	[335] = KW_UPDATE, [337] = KW_DISTINCT, [345] = KW_THEN,
	[353] = KW_FALSE, [358] = KW_QUERY, [359] = KW_IS, [360] = KW_GROUP,
	[366] = KW_COPY, [372] = KW_VALUES, [381] = KW_MERGE,
	[384] = KW_RETURNING, [390] = KW_TEMP, [396] = KW_USING,
	[401] = KW_INTERSECT, [422] = KW_CALL, [430] = KW_AS,
	[438] = KW_ALTER, [439] = KW_VACUUM, [446] = KW_HAVING,
	[448] = KW_UNIQUE, [450] = KW_ANALYZE, [452] = KW_LOCAL,
	[459] = KW_USER, [470] = KW_EXISTS, [471] = KW_PROCEDURE,
	[475] = KW_TABLE, [477] = KW_FUNCTION, [482] = KW_SEQUENCE,
	[483] = KW_SELECT, [485] = KW_DOMAIN, [493] = KW_DROP,
	[501] = KW_WHERE, [506] = KW_LIKE, [507] = KW_VIEW,
};

#define KW_LONGEST 12

/* From byte 16 - n on: n bytes that fold a letter to upper case, then
 * zeros, so that 16 bytes of a word of n letters compare with a name. */
static const uint8_t kw_fold[32] = {
	0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf,
	0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf,
};

/* Keyword id of the word [s, s + n), case-insensitive, or KW_NONE; end
 * is where the text ends. */
static inline uint8_t kw_lookup(const char *s, size_t n, const char *end)
{
	const char *k;
	uint64_t w[2], f[2], kk[2];
	uint8_t kw;
	size_t i;

	if (n < 2 || n > KW_LONGEST)
		return KW_NONE;
	kw = kw_slot[kw_hash(s, n)];
	k = sql_kwtab[kw].name;
	if (kw == KW_NONE || k[n] != 0)
		return KW_NONE;
	if (end - s >= 16) {
		memcpy(w, s, 16);
		memcpy(f, kw_fold + 16 - n, 16);
		memcpy(kk, k, 16);
		return ((w[0] & f[0]) ^ kk[0]) | ((w[1] & f[1]) ^ kk[1]) ?
		       KW_NONE : kw;
	}
	/* Near the end of the text (the statement's last words), a word
	 * of up to 8 letters in one 8-byte compare while 8 bytes are left:
	 * the mask's first 8 bytes are then its n letters and zeros. */
	if (n <= 8 && end - s >= 8) {
		memcpy(w, s, 8);
		memcpy(f, kw_fold + 16 - n, 8);
		memcpy(kk, k, 8);
		return (w[0] & f[0]) ^ kk[0] ? KW_NONE : kw;
	}
	for (i = 0; i < n; i++)
		if ((s[i] & 0xdf) != k[i])
			return KW_NONE;
	return kw;
}

#ifdef UNITTEST
/* Every keyword is found by its own name, in either case, where the text
 * goes on, where it ends and where only 8 bytes are left (the three ways
 * kw_lookup() compares); a longer or shorter word is not. */
int sql_keywords_ok(void);
int sql_keywords_ok(void)
{
	char b[32];
	size_t n, j;
	int i;

	for (i = 1; i < KW_COUNT; i++) {
		n = strlen(sql_kwtab[i].name);
		/* '(' after the word: a mask a byte too long sees it. */
		memset(b, '(', sizeof(b));
		for (j = 0; j < n; j++)
			b[j] = (char)(sql_kwtab[i].name[j] | (j & 1 ? 0x20 : 0));
		if (kw_lookup(b, n, b + sizeof(b)) != i ||
		    kw_lookup(b, n, b + n) != i ||
		    kw_lookup(b, n, b + (n < 8 ? 8 : n)) != i ||
		    kw_lookup(b, n - 1, b + sizeof(b)) == i ||
		    kw_lookup(b, n - 1, b + (n - 1 < 8 ? 8 : n - 1)) == i ||
		    kw_lookup(b + 1, n - 1, b + n) == i)
			return 0;
		b[n] = 'S';
		if (kw_lookup(b, n + 1, b + sizeof(b)) == i ||
		    kw_lookup(b, n + 1, b + (n < 8 ? 8 : n + 1)) == i)
			return 0;
	}
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

/* Reads the token at p (p < end, not whitespace) into t's kind, kw, dq
 * and sq (kw, dq and sq are 0 on entry); returns where the next starts. */
static const char *lex_one(const char *p, const char *end, struct tok *t)
{
	const char *s = p;
	uint8_t c = (uint8_t)*p;
	int closed;

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

		/* A byte that is not UTF-8 belongs to the word as the U+FFFD
		 * it becomes in the output would: sanitising that output
		 * again must see the same words. */
		while (p < end) {
			if (IS(*p, C_CONT)) {
				p++;
			} else if ((uint8_t)*p >= 0x80) {
				l = utf8_char_len(p, (size_t)(end - p));
				p += l ? l : 1;
			} else {
				break;
			}
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
		t->kw = kw_lookup(s, (size_t)(p - s), end);
		goto out;
	}
	p++;
out:
	return p;
}

/* Any other token at s into x, with its gap; returns where it ends. */
static const char *lex_other(const char *s, const char *end, struct tok *x,
			     uint8_t gap)
{
	const char *p;

	*x = (struct tok){ .gap = gap, .s = s };
	p = lex_one(s, end, x);
	x->n = (size_t)(p - s);
	if (x->kind == TK_PUNCT)
		x->c = *s;
	return p;
}

/* End of the run of ASCII name bytes at p: names are most of a
 * statement's bytes. */
static inline const char *skip_cont(const char *p, const char *end)
{
	return class_run_end(p, end, sql_cls, C_CONT);
}

size_t sql_lex_run(const char **pp, const char *end, struct tok *t,
		   size_t max)
{
	const char *p = *pp, *s;
	uint8_t gap = 0;
	size_t k = 0;

	while (p < end && k < max) {
		struct tok *x = &t[k];
		uint8_t c = (uint8_t)*p, cl = sql_cls[c];

		s = p;
		if (cl & C_START) {
			/* A plain ASCII word, unless it goes on in UTF-8 or
			 * is a literal's prefix (E'..', U&'..'). */
			p = skip_cont(p + 1, end);
			if (p < end && ((uint8_t)*p >= 0x80 ||
			                (p - s == 1 && (*p == '\'' ||
			                                *p == '&')))) {
				p = lex_other(s, end, x, gap);
			} else {
				*x = (struct tok){
					.kind = TK_WORD, .gap = gap, .plain = 1,
					.kw = kw_lookup(s, (size_t)(p - s), end),
					.s = s, .n = (size_t)(p - s),
				};
			}
			gap = 0;
		} else if ((cl & C_ONE) ||
		           (c == '.' && !(end - p >= 2 && IS(p[1], C_DIGIT)))) {
			p++;
			*x = (struct tok){
				.kind = TK_PUNCT, .gap = gap, .plain = 1,
				.c = (char)c, .s = s, .n = 1,
			};
			gap = 0;
		} else if (cl & C_SPACE) {
			int nul = c == 0;

			for (p++; p < end && IS(*p, C_SPACE); p++)
				nul |= *p == 0;
			gap = 1;
			if (!nul)
				continue;
			*x = (struct tok){
				.kind = TK_SPACE, .s = s, .n = (size_t)(p - s),
			};
		} else {
			p = lex_other(s, end, x, gap);
			gap = x->kind == TK_COMMENT;
		}
		k++;
		/* A single space after a token, the common case, without
		 * a trip round the loop. */
		if (end - p >= 2 && p[0] == ' ' && !IS(p[1], C_SPACE)) {
			p++;
			gap = 1;
		}
	}
	*pp = p;
	return k;
}

/* Whitespace and the bytes that are always a token of their own: what
 * sql_lex_marks() passes over in one run, none of it a mark. */
#define C_PASS (C_SPACE | C_ONE)

/*
 * The token at s, a token's start that is not whitespace, cut where
 * sql_lex_run() cuts it, by the same code: returns its end, and sets
 * t->kind (TK_WORD for any word, not looked up) and for a string t->sq.
 * A plain ASCII word, a number of digits alone and a plain '...' string,
 * most of what it meets, are cut right here.
 */
static inline __attribute__((always_inline)) const char *
lex_at(const char *s, const char *end, struct tok *t)
{
	const char *p = s;
	uint8_t c = (uint8_t)*p, cl = sql_cls[c];
	int closed;

	if (cl & C_START) {
		/* A plain ASCII word, unless it goes on in UTF-8 or is a
		 * literal's prefix (E'..', U&'..'). */
		p = skip_cont(p + 1, end);
		if (p >= end || !IS(*p, C_EXT) ||
		    ((uint8_t)*p < 0x80 && p - s != 1)) {
			t->kind = TK_WORD;
			return p;
		}
		return lex_other(s, end, t, 0);
	}
	if (cl & C_DIGIT) {
		/* Digits alone, as most numbers are: what skip_number()
		 * gives them, without the call. */
		for (p++; p < end && IS(*p, C_DIGIT); p++)
			;
		if (p < end && (IS(*p, C_ALNUM) || *p == '.'))
			p = skip_number(s, end);
		t->kind = TK_NUMBER;
		t->sq = 0;
		return p;
	}
	if (c == '\'') {
		p = skip_quoted(p + 1, end, '\'', 0, &closed);
		t->kind = TK_STRING;
		t->sq = (uint8_t)closed;
		return p;
	}
	if (c == '.' && !(end - p >= 2 && IS(p[1], C_DIGIT))) {
		t->kind = TK_PUNCT;
		return p + 1;
	}
	return lex_other(s, end, t, 0);
}

/* A literal or a comment, the tokens a shape marks. */
static inline int is_mark(const struct tok *t)
{
	return t->kind == TK_STRING || t->kind == TK_NUMBER ||
	       t->kind == TK_COMMENT;
}

int sql_lex_mark_at(const char *p, const char *end, struct tok *t)
{
	t->s = p;
	t->n = (size_t)(lex_at(p, end, t) - p);
	return is_mark(t);
}

/*
 * sql_lex_run()'s tokens, but only literals and comments handed over:
 * what is neither is passed over as cheaply as it can be told apart --
 * spaces and one-byte tokens in runs, the rest by lex_at().
 */
size_t sql_lex_marks(const char **pp, const char *end, struct tok *t,
		     size_t max)
{
	const char *p = *pp, *s;
	size_t k = 0;

	while (k < max) {
		p = class_run_end(p, end, sql_cls, C_PASS);
		if (p >= end)
			break;
		s = p;
		p = lex_at(s, end, &t[k]);
		if (is_mark(&t[k])) {
			t[k].s = s;
			t[k].n = (size_t)(p - s);
			k++;
		}
	}
	*pp = p;
	return k;
}
