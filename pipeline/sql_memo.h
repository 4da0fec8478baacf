/*
 * The analyses of recent statements, remembered by their shape (sql_shape
 * in common/sql.h) for the next time a statement of the same shape comes.
 * Programs mostly run a handful of statements over and over, with
 * placeholders ("... WHERE id = $1") or with the values written into the
 * text ("... VALUES ('item7', 7)"); a statement of a known shape is lexed
 * once to find its shape instead of being analysed, or, when its shape is
 * one of the last found, only compared with it.  Nothing here holds a
 * value the program sent: a shape holds no literal and no comment, the
 * sanitised text and the summary none either, and an analysis that read a
 * quoted token as a value or a string as a name is never kept.
 *
 * Used by span_sql.c under ring_pop()'s rule: one thread at a time.
 */
#ifndef OTELSHIM_SQL_MEMO_H
#define OTELSHIM_SQL_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "common/sql.h"

/* Statements with a longer shape, or a longer sanitised text, are
 * analysed every time. */
#define SQL_MEMO_SHAPE_MAX 248
#define SQL_MEMO_TEXT_MAX 248

/* A statement's place in the memo, worked out by sql_memo_find(). */
struct sql_memo_key {
	uint64_t hash;                  /* 0: the statement has no shape */
	unsigned dialect;
	size_t len;
	char shape[SQL_MEMO_SHAPE_MAX];
};

struct sql_memo_entry {
	const char *text;               /* db.query.text, len bytes */
	size_t len;
	const char *summary;            /* info->summary_len bytes */
	const struct sql_info *info;
};

/* Works out the key of (sql, len) in dialect (SQL_POSTGRES or SQL_SQLITE);
 * returns 1 and fills *hit if an analysis is remembered under it (valid
 * until the next sql_memo_keep()), else 0. */
int sql_memo_find(const char *sql, size_t len, unsigned dialect,
		  struct sql_memo_key *key, struct sql_memo_entry *hit);

/*
 * Remembers under key the analysis sql_analyze() gave for the statement:
 * text (tlen bytes), summary and info.  Not kept if the statement has no
 * shape, the text or the summary is long or cut, or the analysis guessed
 * at a quoted token (info->quoted_guesses).
 */
void sql_memo_keep(const struct sql_memo_key *key, const char *text,
		   size_t tlen, const char *summary,
		   const struct sql_info *info);

#endif
