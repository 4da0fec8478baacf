/*
 * SQL sanitising and summarising for database spans (see sql.h): one pass
 * of the lexer (sql_lex.c) cuts the text into batches of tokens, and the
 * sanitiser (sql_sanitize.c) and the summariser (sql_summary.c) each take
 * a batch in a loop of their own.
 *
 * Runs on application threads: no allocation, no locks, only memcpy,
 * memchr and memcmp from libc, linear work with a fixed bound.
 */
#include <string.h>

#include "sql.h"
#include "sql_lex.h"
#include "sql_sanitize.h"
#include "sql_summary.h"

size_t sql_analyze(const char *sql, size_t len, unsigned flags,
                   char *text, size_t text_cap,
                   char *summary, size_t summary_cap,
                   struct sql_info *info)
{
	struct sql_info local;
	struct tok t[SQL_LEX_BATCH];
	struct san o;
	struct sum m;
	const char *p = sql, *end;
	int do_text = text != NULL && text_cap > 0;
	int do_sum = (summary != NULL && summary_cap > 0) || info != NULL;
	int trunc = 0;
	size_t ret = 0, k;

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

	if (do_text)
		sql_san_init(&o, text, text_cap, flags, sql);
	sql_sum_init(&m, summary, summary_cap, flags, info);

	while (p < end && (do_text || do_sum)) {
		k = sql_lex_run(&p, end, t, SQL_LEX_BATCH);
		if (do_text && sql_san_tokens(&o, t, k, p)) {
			/* The buffer is final: stop sanitising. */
			ret = sql_san_finish(&o, p, &trunc);
			do_text = 0;
		}
		if (do_sum)
			sql_sum_tokens(&m, t, k);
	}
	if (do_text)
		ret = sql_san_finish(&o, p, &trunc);
	sql_sum_finish(&m);
	if (text != NULL && text_cap > 0)
		info->quoted_guesses += o.guesses;
	if (trunc)
		info->truncated |= SQL_TRUNC_TEXT;
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
