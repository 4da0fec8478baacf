/*
 * The libpq hooks' connection state (see pq_conn.h): the table that finds
 * a connection's state, what the spans say about the connection, and its
 * prepared statements.  Runs on the application thread that uses the
 * connection; the table is lock-free (ptrtab.h).  libpq's functions are
 * resolved here: pq_conn.h declares them from pq.def for every pq file.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pq_conn.h"
#include "ptrtab.h"

#define HOOK(ret, name, params, args) LIB_SLOT(name)
#define CALL HOOK
#include "pq.def"
#undef CALL
#undef HOOK

/* The connection table: bounded, so a lookup costs at most PQ_PROBES
 * slots. */
#define PQ_TABLE_BITS 10
#define PQ_PROBES 32

struct pq_slot {
	_Atomic uintptr_t key;  /* first: ptrtab.h */
	struct pq_conn *_Atomic conn;
};

static struct pq_slot slots[1u << PQ_TABLE_BITS];
static const struct ptrtab table = PTRTAB(slots, PQ_TABLE_BITS, PQ_PROBES);

/* ------------------------------------------------------------ table */

struct pq_conn *pq_conn_find(const PGconn *conn)
{
	struct pq_slot *sl = ptrtab_find(&table, conn);

	if (!sl)
		return NULL;
	return atomic_load_explicit(&sl->conn, memory_order_acquire);
}

struct pq_conn *pq_conn_get(const PGconn *conn)
{
	struct pq_conn *c = pq_conn_find(conn);
	struct pq_slot *sl;

	if (c || !conn)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	sl = ptrtab_claim(&table, conn);
	if (!sl) {
		free(c);
		return NULL;
	}
	atomic_store_explicit(&sl->conn, c, memory_order_release);
	return c;
}

struct pq_conn *pq_conn_take(const PGconn *conn)
{
	struct pq_slot *sl = ptrtab_find(&table, conn);
	struct pq_conn *c;

	if (!sl)
		return NULL;
	c = atomic_exchange_explicit(&sl->conn, NULL, memory_order_acq_rel);
	ptrtab_free(sl);
	return c;
}

void pq_conn_free(struct pq_conn *c)
{
	pq_stmts_free(c);
	free(c);
}

/* ------------------------------------------------------------ info */

/* Copies libpq's string (may be NULL) to (out, cap), cut to fit;
 * returns its length there. */
static uint16_t copy_info(char *out, size_t cap, const char *v)
{
	out[0] = 0;
	if (v)
		strncat(out, v, cap - 1);
	return (uint16_t)strlen(out);
}

void pq_conn_info(struct pq_conn *c, PGconn *conn)
{
	char *(*db)(const PGconn *) = next_PQdb();
	char *(*host)(const PGconn *) = next_PQhost();
	char *(*port)(const PGconn *) = next_PQport();
	ConnStatusType (*status)(const PGconn *) = next_PQstatus();

	if (c->info_ok)
		return;
	c->db_len = copy_info(c->db, sizeof(c->db), db ? db(conn) : NULL);
	c->host_len = copy_info(c->host, sizeof(c->host),
				host ? host(conn) : NULL);
	c->port = pq_port(port ? port(conn) : NULL);
	c->info_ok = status && status(conn) == CONNECTION_OK;
}

void pq_conn_changed(const PGconn *conn)
{
	struct pq_conn *c = pq_conn_find(conn);

	if (c)
		c->info_ok = 0;
}

/* ------------------------------------------------------------ prepared */

/* FNV-1a: a cheap filter before the name comparison. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct pq_stmt *stmt_slot(struct pq_conn *c, const char *name)
{
	uint32_t h;

	if (!c->stmts || !name)
		return NULL;
	h = name_hash(name);
	for (unsigned i = 0; i < PQ_STMT_MAX; i++) {
		struct pq_stmt *st = &c->stmts[i];

		if (st->used && st->hash == h && !strcmp(st->name, name))
			return st;
	}
	return NULL;
}

const struct pq_stmt *pq_stmt_find(struct pq_conn *c, const char *name)
{
	return stmt_slot(c, name);
}

void pq_stmt_forget(struct pq_conn *c, const char *name)
{
	struct pq_stmt *st = stmt_slot(c, name);

	if (!st)
		return;
	free(st->text);
	memset(st, 0, sizeof(*st));
}

void pq_stmts_free(struct pq_conn *c)
{
	if (!c->stmts)
		return;
	for (unsigned i = 0; i < PQ_STMT_MAX; i++)
		free(c->stmts[i].text);
	free(c->stmts);
	c->stmts = NULL;
}

/* The slot name goes to: its own, a free one, else the oldest taken. */
static struct pq_stmt *stmt_place(struct pq_conn *c, const char *name)
{
	struct pq_stmt *st = stmt_slot(c, name);

	for (unsigned i = 0; i < PQ_STMT_MAX && !st; i++)
		if (!c->stmts[i].used)
			st = &c->stmts[i];
	if (!st)
		st = &c->stmts[c->stmt_clock++ % PQ_STMT_MAX];
	return st;
}

void pq_stmt_store(struct pq_conn *c, const char *name,
		   const struct dbspan_sql *a)
{
	size_t tlen = a->text_len, slen = a->info.summary_len;
	struct pq_stmt *st;
	char *blob;

	if (!name || strlen(name) >= sizeof(st->name))
		return;
	if (!c->stmts) {
		c->stmts = calloc(PQ_STMT_MAX, sizeof(*c->stmts));
		if (!c->stmts)
			return;
	}
	st = stmt_place(c, name);
	blob = malloc(tlen + slen + 2);
	free(st->text);
	memset(st, 0, sizeof(*st));
	if (!blob)
		return;
	memcpy(blob, a->text, tlen);
	blob[tlen] = 0;
	memcpy(blob + tlen + 1, a->summary, slen);
	blob[tlen + 1 + slen] = 0;
	st->text = blob;
	st->text_len = (uint16_t)tlen;
	st->summary_len = (uint16_t)slen;
	strcpy(st->name, name);
	st->hash = name_hash(name);
	memcpy(st->operation, a->info.operation, sizeof(st->operation));
	memcpy(st->collection, a->info.collection, sizeof(st->collection));
	st->operation[sizeof(st->operation) - 1] = 0;
	st->collection[sizeof(st->collection) - 1] = 0;
	st->operation_len = (uint8_t)a->info.operation_len;
	st->collection_len = (uint8_t)a->info.collection_len;
	st->used = 1;
}

void pq_stmt_query(const struct pq_stmt *st, struct dbspan_query *q)
{
	memset(q, 0, sizeof(*q));
	if (!st)
		return;
	q->text = (struct str){ st->text, st->text_len };
	q->summary = (struct str){ st->text + st->text_len + 1,
				   st->summary_len };
	q->operation = (struct str){ st->operation, st->operation_len };
	q->collection = (struct str){ st->collection, st->collection_len };
}
