/*
 * The analyses of recent statements that hold no literal, remembered for
 * the next time the same text comes.  Programs mostly run a handful of
 * parameterised statements ("... WHERE id = $1", prepared or not) over and
 * over; their text comes out of the sanitiser unchanged, so the analysis
 * can be looked up by the text itself.  A statement with a literal is
 * never kept: nothing here holds a value the program sent.
 *
 * Used by span_sql.c under ring_pop()'s rule: one thread at a time.
 */
#ifndef OTELSHIM_SQL_MEMO_H
#define OTELSHIM_SQL_MEMO_H

#include <stddef.h>

#include "common/sql.h"

/* Statements longer than this are analysed every time. */
#define SQL_MEMO_TEXT_MAX 248

struct sql_memo_entry {
	const char *text;               /* the statement, which is its own
					 * db.query.text */
	size_t len;
	const char *summary;            /* info->summary_len bytes */
	const struct sql_info *info;
};

/* The analysis of (sql, len) in dialect (SQL_POSTGRES or SQL_SQLITE) if
 * it is remembered: 1 and *hit filled, valid until the next
 * sql_memo_keep(); else 0. */
int sql_memo_find(const char *sql, size_t len, unsigned dialect,
		  struct sql_memo_entry *hit);

/*
 * Remembers the analysis of (sql, len): text (tlen bytes), summary and
 * info, as sql_analyze() gave them.  Kept only when the text is the
 * statement itself, short enough and not cut.
 */
void sql_memo_keep(const char *sql, size_t len, unsigned dialect,
		   const char *text, size_t tlen, const char *summary,
		   const struct sql_info *info);

#endif
