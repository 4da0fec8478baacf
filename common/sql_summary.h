/*
 * The summariser (private to common/sql*.c): fed the lexer's tokens a batch
 * at a time, it follows a few keywords to find each statement's operation and
 * tables, for db.query.summary, db.operation.name and db.collection.name.
 * Deliberately not a parser: it guesses from keyword context.
 */
#ifndef OTELSHIM_SQL_SUMMARY_H
#define OTELSHIM_SQL_SUMMARY_H

#include <stddef.h>

#include "sql.h"
#include "sql_lex.h"

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

	/* The next name is a target (INTO, UPDATE, DDL object ...). */
	int single;             /* T_* or 0 */
	int single_fn;          /* ... unless followed by '(' */
	int skip_word;          /* UPDATE OR IGNORE: skip a word */

	/* A target being read: a (qualified) name [tg_s, tg_e). */
	int tg;                 /* T_* or 0 */
	int tg_fn;              /* a '(' next makes it a function call */
	int tg_dot;             /* a '.' was just read */
	int tg_plain;           /* every part is plain ASCII */
	const char *tg_s, *tg_e;

	/* WITH names, which are not collections. */
	int cte;
	int cte_depth;
	int ncte;

	/* The previous significant token. */
	uint8_t pkind;
	uint8_t pkw;
	char pc;
	int gap;                /* space or comment since it */

	unsigned ncoll;
	int coll_ok;            /* collection[] holds the only one */

	/* Arrays last: each entry is written before it is read, so they
	 * are left out of the start's zeroing. */
	uint8_t query[SUM_DEPTH];       /* this level is a query */
	uint8_t from[SUM_DEPTH];        /* F_* */
	const char *cte_s[SUM_CTES];
	size_t cte_n[SUM_CTES];
};

/* Starts a summary into buf (cap bytes; NULL: info only), filling *info. */
void sql_sum_init(struct sum *m, char *buf, size_t cap, unsigned flags,
		  struct sql_info *info);

void sql_sum_tokens(struct sum *m, const struct tok *t, size_t k);

/* Ends the text: the summary NUL-terminated, info's fields final. */
void sql_sum_finish(struct sum *m);

#endif
