/*
 * Raw statements made safe to leave the process.  A database span's
 * record carries the statement as the program wrote it (SPAN_ATTR_SQL),
 * so that the program's thread only copies it; the exporter thread runs
 * the sanitiser and the summariser (common/sql.h) here, as ring_pop()
 * takes the record out of the queue.  That is the only way out of the
 * ring, so every reader after it (encoders, spool, exit and crash
 * flushes) sees sanitised text only.
 */
#ifndef OTELSHIM_SPAN_SQL_H
#define OTELSHIM_SPAN_SQL_H

#include "span.h"

/*
 * Replaces every SPAN_ATTR_SQL attribute of s with db.query.text (literals
 * as '?'), db.query.summary, db.operation.name and db.collection.name, and
 * names s by the summary when there is one.  The raw bytes are wiped from
 * the pool.  The text is what gets cut when the pool is short.  Records
 * without such an attribute are left as they are.
 */
void span_sql_resolve(struct span *s);

#endif
