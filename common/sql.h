/*
 * SQL text for database spans: literal sanitising (db.query.text) and the
 * operation/target summary (db.query.summary, db.operation.name,
 * db.collection.name), docs/otel-reference.md §6.  One lexer pass over
 * the text, no allocation, no locks, no stdio: it runs on the application
 * thread for every traced query, inside libpq and sqlite3 hooks.
 */
#ifndef OTELSHIM_SQL_H
#define OTELSHIM_SQL_H

#include <stddef.h>
#include <stdint.h>

/* Dialect flags for sql_analyze().  PostgreSQL syntax is the default and
 * SQLite's extra syntax ([name], `name`, ?NNN, :name, @name, $name, x'..')
 * is always understood; SQL_SQLITE additionally treats a "double-quoted"
 * token in value position (after = < > LIKE GLOB, or inside an IN list or a
 * VALUES row) as the string literal SQLite will take it for, and accepts a
 * 'quoted' table name after FROM/JOIN/INTO as a summary target. */
#define SQL_POSTGRES 0x0u
#define SQL_SQLITE   0x1u

/* At most this many input bytes are looked at; the rest is ignored and
 * SQL_TRUNC_INPUT is set.  Keeps the cost per query bounded. */
#define SQL_SCAN_MAX (256u * 1024u)

/* db.query.summary is at most this many bytes, cut between words. */
#define SQL_SUMMARY_MAX 255

/* sql_info.truncated bits. */
#define SQL_TRUNC_TEXT    0x1u  /* sanitised text did not fit its buffer */
#define SQL_TRUNC_SUMMARY 0x2u  /* some summary words did not fit */
#define SQL_TRUNC_INPUT   0x4u  /* input longer than SQL_SCAN_MAX */

struct sql_info {
	/* db.operation.name: "" unless the text holds exactly one
	 * operation ("SELECT", "CREATE TABLE", "PRAGMA"), original case. */
	char operation[32];
	/* db.collection.name: "" unless every collection the text names is
	 * the same one; written as in the text (schema.table, "Quoted"). */
	char collection[128];
	/* strlen() of operation and collection, taken once they are final */
	unsigned operation_len, collection_len;
	unsigned nstatements;   /* non-empty statements separated by ';' */
	unsigned noperations;   /* operations in the summary */
	unsigned ncollections;  /* collection names met (repeats counted) */
	unsigned summary_len;   /* bytes written to the summary */
	unsigned truncated;     /* SQL_TRUNC_* */
	/* SQLite dialect: quoted tokens read by their context rather than
	 * their quotes -- a "double-quoted" token sanitised as a string, a
	 * 'quoted' string taken as a table name.  The text's shape
	 * (sql_shape) cannot tell these apart from names and values. */
	unsigned quoted_guesses;
};

/*
 * Writes sql[0, len) to (out, cap) with every literal replaced by '?':
 * numbers (1, -1, 1.5e3, .5, 0x1F), '..' strings, E'..', B'..', X'..',
 * N'..', U&'..', $tag$..$tag$ bodies, TRUE and FALSE.  IN lists of literals
 * collapse to IN (?) and a multi-row VALUES list of literal rows keeps only
 * its first row, VALUES (?, ?).  Comments are dropped (each becomes one
 * space) since they can hold anything.  Identifiers, "quoted" identifiers,
 * keywords, NULL and placeholders ($1, ?, ?1, :name, @name) are kept.  An
 * unterminated string, comment or quoted identifier hides the rest of the
 * input.  Invalid UTF-8 becomes U+FFFD and NUL a space, so the output is
 * valid UTF-8.  Never reads outside sql[0, len).
 *
 * The output is NUL-terminated and cut at cap - 1 bytes on a character
 * boundary; returns its length (0 if cap is 0).  sql may be NULL if len is
 * 0.  Same as sql_analyze(sql, len, SQL_POSTGRES, out, cap, NULL, 0, NULL).
 */
size_t sql_sanitize(const char *sql, size_t len, char *out, size_t cap);

/*
 * Writes db.query.summary to (summary, cap): "{operation} {target} ..." in
 * statement order, original case, e.g. "SELECT accounts", "INSERT
 * shipping_details SELECT orders", "SELECT SELECT orders customers" for a
 * subquery in FROM.  Operations: SELECT, INSERT, UPDATE, DELETE, MERGE (also
 * in subqueries and WITH bodies), CREATE/ALTER/DROP with their object type
 * ("CREATE TABLE", "DROP INDEX"), TRUNCATE, VACUUM, ANALYZE, COPY, EXPLAIN,
 * CALL, PRAGMA and the first word of any other statement (BEGIN, SET, ...).
 * Targets: the tables after FROM, JOIN, INTO, UPDATE, USING and the object
 * of DDL; a CREATE INDEX targets its table; WITH names are not targets.
 * Names are kept as written ("song list", public.t).  At most
 * min(cap - 1, SQL_SUMMARY_MAX) bytes, cut between words.  info, if not
 * NULL, gets the single operation and collection (or "" when there is not
 * exactly one) and counts.  Returns the summary length.
 */
size_t sql_summarize(const char *sql, size_t len, char *summary, size_t cap,
                     struct sql_info *info);

/*
 * Both of the above in one pass, with dialect flags (SQL_POSTGRES,
 * SQL_SQLITE).  Any of text, summary and info may be NULL (or have cap 0)
 * to skip that output.  Returns the sanitised text's length; the summary's
 * is in info->summary_len.
 */
size_t sql_analyze(const char *sql, size_t len, unsigned flags,
                   char *text, size_t text_cap,
                   char *summary, size_t summary_cap,
                   struct sql_info *info);

/*
 * Writes the shape of sql[0, len) to (out, cap): the text with every
 * literal (numbers and strings, as sanitising replaces them) and every
 * comment replaced by a two-byte marker of its kind.  Two texts with the
 * same shape have the same analysis by sql_analyze() in either dialect,
 * unless it reports quoted_guesses: what it writes never depends on what
 * a literal or a comment holds.  So the analysis of one statement can be
 * kept under its shape for the next run of the same statement with other
 * values, and the shape holds none of them.  Returns the shape's length,
 * or 0 if the text is empty, longer than SQL_SCAN_MAX, holds the marker's
 * byte (0x01), or the shape does not fit in cap bytes.
 */
size_t sql_shape(const char *sql, size_t len, char *out, size_t cap);

/* The most markers a shape may hold to be matched by sql_shape_match(). */
#define SQL_SHAPE_PLAN_MARKS 128

/* Where a shape's markers are, found once for every text held against
 * the shape (sql_shape_plan()). */
struct sql_shape_plan {
	uint8_t ok;             /* 0: texts are not held against this shape */
	uint16_t nmarks;
	uint16_t at[SQL_SHAPE_PLAN_MARKS];      /* each marker's offset */
};

/*
 * Works out the plan of (shape, shape_len), which sql_shape() wrote.  A
 * shape with a '[' (whose name may run on past spaces), more markers than
 * the plan holds or more than 65535 bytes gets a plan that matches
 * nothing.
 */
void sql_shape_plan(const char *shape, size_t shape_len,
		    struct sql_shape_plan *plan);

/*
 * 1 if sql[0, len) has the shape (shape, shape_len) that sql_shape() wrote
 * for another text, found without working out its own: its bytes are the
 * shape's between the markers, and at each marker the lexer cuts a
 * literal or comment of the marker's kind.  plan is the shape's
 * (sql_shape_plan()).  0 when it has not, or when that is not certain
 * that way: a marker whose token does not follow whitespace or a one-byte
 * token (what comes before it could have run on into it), a shape whose
 * plan matches nothing.  So a 1 is always sql_shape()'s verdict; a 0 may
 * not be.
 */
int sql_shape_match(const char *sql, size_t len, const char *shape,
		    size_t shape_len, const struct sql_shape_plan *plan);

/* A marker's first byte: never in a text that has a shape, so a marker
 * cannot be mistaken for the text's own bytes. */
#define SQL_SHAPE_MARK '\1'

#endif
