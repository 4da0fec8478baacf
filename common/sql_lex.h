/*
 * What the SQL lexer hands the sanitiser and the summariser (private to
 * common/sql*.c): character classes, the keywords they care about, and
 * tokens, cut a batch at a time so that each of the two runs its own loop
 * over them.
 */
#ifndef OTELSHIM_SQL_LEX_H
#define OTELSHIM_SQL_LEX_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ characters */

enum {
	C_SPACE = 0x01,         /* whitespace, and NUL */
	C_START = 0x02,         /* ASCII identifier start */
	C_CONT = 0x04,          /* ASCII identifier continuation */
	C_DIGIT = 0x08,
	C_HEX = 0x10,
	C_ALNUM = 0x20,         /* [A-Za-z0-9_]: what a number swallows */
	C_ONE = 0x40,           /* always a token of its own: ( ) , ; = ... */
	C_EXT = 0x80,           /* after an ASCII word, may make it more: a
				   byte >= 0x80 (UTF-8), ' (E'..') or & (U&) */
};

extern const uint8_t sql_cls[256];

#define IS(c, m) (sql_cls[(uint8_t)(c)] & (m))

/* ------------------------------------------------------------- keywords */

/* Keyword flags: what the sanitiser and the summariser need to know. */
enum {
	KF_UNARY = 0x01,        /* a '-' or '+' after it is a sign */
	KF_CLAUSE = 0x02,       /* ends a FROM list */
	KF_MOD = 0x04,          /* DDL modifier, left out of the operation */
	KF_OBJ = 0x08,          /* DDL object type, part of the operation */
	KF_SKIP = 0x10,         /* skipped before a DDL or UPDATE target */
};

/* Sorted by name; the lookup is a perfect hash (sql_lex.c). */
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
	char name[16];          /* NUL-padded: compared 8 bytes at a time */
	uint8_t flags;
};

extern const struct kwent sql_kwtab[KW_COUNT];

/* ---------------------------------------------------------------- lexer */

enum tk {
	TK_SPACE = 1,   /* only whitespace that holds a NUL byte */
	TK_COMMENT,
	TK_WORD,        /* identifier or keyword */
	TK_QIDENT,      /* "name", `name`, [name], U&"name" */
	TK_STRING,      /* any string literal, also unterminated input */
	TK_NUMBER,
	TK_PARAM,       /* $1 ? ?1 :name @name $name */
	TK_PUNCT,       /* one character, or "::" */
};

struct tok {
	uint8_t kind;
	uint8_t gap;    /* whitespace or a comment comes right before it */
	uint8_t kw;     /* TK_WORD: enum kw */
	uint8_t dq;     /* TK_QIDENT: "..." not followed by '.' and a name */
	uint8_t sq;     /* TK_STRING: a plain, terminated '...' */
	uint8_t plain;  /* known to be ASCII without NUL (else: may be) */
	char c;         /* TK_PUNCT: its first character, else 0 */
	const char *s;
	size_t n;
};

/* Tokens cut per call of sql_lex_run(). */
#define SQL_LEX_BATCH 32

/*
 * Cuts the tokens at *p (up to end) into t[0, max) and moves *p past
 * them; returns how many (0 only at end).  Whitespace without a NUL byte
 * is no token, just the next token's gap: the text between two tokens is
 * copied as it stands.
 */
size_t sql_lex_run(const char **p, const char *end, struct tok *t,
		   size_t max);

/* The same, handing over only literal and comment tokens (TK_STRING,
 * TK_NUMBER, TK_COMMENT): what a shape (sql_shape) needs, in about half
 * the time.  Their kind, sq, s and n are as sql_lex_run() gives them. */
size_t sql_lex_marks(const char **p, const char *end, struct tok *t,
		     size_t max);

/* The token at p, where one starts (not whitespace), into t as
 * sql_lex_marks() would hand it over (kind, sq, s, n) if it is a literal
 * or a comment: returns 1 then, else 0 (t's kind is another then). */
int sql_lex_mark_at(const char *p, const char *end, struct tok *t);

#endif
