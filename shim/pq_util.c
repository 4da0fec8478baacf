/*
 * Pure helpers for the libpq hooks (see pq_util.h).  Kept apart from
 * pq.c, which defines interposed symbols, so that unit tests and fuzz
 * targets can link them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pq_util.h"

int pq_fifo_push(struct pq_fifo *f, const struct pq_entry *e)
{
	if (f->count == PQ_FIFO_MAX || f->lost_queries || f->lost_syncs) {
		if (e->kind == PQ_SYNC)
			f->lost_syncs++;
		else
			f->lost_queries++;
		return -ENOSPC;
	}
	f->e[(f->head + f->count) % PQ_FIFO_MAX] = *e;
	f->count++;
	return 0;
}

struct pq_entry *pq_fifo_head(struct pq_fifo *f)
{
	return f->count ? &f->e[f->head] : NULL;
}

void pq_fifo_pop(struct pq_fifo *f)
{
	if (!f->count)
		return;
	f->head = (f->head + 1) % PQ_FIFO_MAX;
	f->count--;
}

void pq_fifo_forget_lost(struct pq_fifo *f)
{
	f->lost_queries = 0;
	f->lost_syncs = 0;
	f->lost_seen = 0;
}

int pq_fifo_idle(const struct pq_fifo *f)
{
	return !f->count && !f->lost_queries && !f->lost_syncs;
}

/* A result read while nothing is queued: one of a command only counted.
 * A query's results end with NULL, a sync point is one result. */
static void lost_result(struct pq_fifo *f, enum pq_got got)
{
	switch (got) {
	case PQ_GOT_SYNC:
		if (f->lost_syncs)
			f->lost_syncs--;
		break;
	case PQ_GOT_RESULT:
		f->lost_seen = 1;
		break;
	case PQ_GOT_NULL:
		if (f->lost_seen && f->lost_queries)
			f->lost_queries--;
		f->lost_seen = 0;
		break;
	}
}

enum pq_route pq_fifo_route(struct pq_fifo *f, enum pq_got got)
{
	const struct pq_entry *e = pq_fifo_head(f);

	if (!e) {
		lost_result(f, got);
		return PQ_ROUTE_NONE;
	}
	if (got == PQ_GOT_SYNC)
		return PQ_ROUTE_SYNC;   /* everything up to it is over */
	if (e->kind == PQ_SYNC)
		return PQ_ROUTE_NONE;   /* out of step: wait for the sync */
	if (got == PQ_GOT_RESULT)
		return PQ_ROUTE_FOLD;
	return e->results ? PQ_ROUTE_END : PQ_ROUTE_NONE;
}

int pq_sqlstate_failed(const char *sqlstate)
{
	return !(sqlstate && sqlstate[0] == '0' && sqlstate[1] >= '0' &&
		 sqlstate[1] <= '2');
}

/* Copies msg[0, len) to (out, cap) with every "double-quoted" part
 * replaced by "?"; returns the length written (NUL not counted). */
static size_t redact_quoted(const char *msg, size_t len, char *out,
			    size_t cap)
{
	size_t o = 0;
	int inside = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len && o + 4 < cap; i++) {
		if (msg[i] == '"') {
			out[o++] = '"';
			if (!inside)
				out[o++] = '?';
			inside = !inside;
		} else if (!inside) {
			out[o++] = msg[i];
		}
	}
	if (inside && o + 1 < cap)
		out[o++] = '"';
	out[o] = 0;
	return o;
}

struct str pq_error_message(const char *sqlstate, const char *msg,
			    char *buf, size_t cap)
{
	static const char prefix[] = "ERROR:  ";
	struct str m = str_of(msg);

	/* libpq prefixes its own messages with "ERROR:  " sometimes. */
	if (!sqlstate && !strncmp(m.p, prefix, sizeof(prefix) - 1)) {
		m.p += sizeof(prefix) - 1;
		m.n -= sizeof(prefix) - 1;
	}
	m.n = strcspn(m.p, "\n");
	while (m.n > 0 && (m.p[m.n - 1] == ' ' || m.p[m.n - 1] == '\r'))
		m.n--;
	if (sqlstate && (!strncmp(sqlstate, "22", 2) ||
			 !strcmp(sqlstate, "42601"))) {
		m.n = redact_quoted(m.p, m.n, buf, cap);
		m.p = buf;
	}
	return m;
}

int pq_port(const char *s)
{
	long n = s ? strtol(s, NULL, 10) : 0;

	return n > 0 && n < 65536 ? (int)n : 0;
}
