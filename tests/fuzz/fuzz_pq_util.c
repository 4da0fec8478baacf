/*
 * Fuzz target for the libpq hooks' pure helpers.  The input's first byte
 * picks a SQLSTATE, the rest is an error message: the status description
 * stays on one line within its buffer, and a value quoted in a data
 * exception never survives.  The same bytes then drive the result FIFO
 * as a sequence of sends and results: commands end once each, in the
 * order they were sent, and the FIFO never holds more than it can.
 * links: shim/pq_util.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/pq_util.h"

#define MARK "QZXJ"

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_message(const uint8_t *data, size_t size)
{
	static const char *const states[] = {
		NULL, "", "00000", "01000", "22P02", "22", "42601", "23505",
	};
	const char *state = size ? states[data[0] % 8] : NULL;
	char msg[700], lit[800], buf[256];
	size_t k = size > 1 ? (size - 1 < 600 ? size - 1 : 600) : 0;
	size_t cap = size ? data[0] % (sizeof(buf) + 1) : sizeof(buf);
	struct str m;

	memcpy(msg, data + (size ? 1 : 0), k);
	msg[k] = 0;
	m = pq_error_message(state, msg, buf, cap);
	check(!memchr(m.p, '\n', m.n));
	check((m.p >= msg && m.p + m.n <= msg + k) ||
	      (m.p == buf && (cap == 0 || m.n < cap)));
	if (pq_port(msg) < 0 || pq_port(msg) > 65535)
		abort();

	/* A value quoted by a data exception. */
	for (size_t i = 0; i < k; i++)
		if (msg[i] == '"' || msg[i] == '\n' || msg[i] == 0)
			msg[i] = 'a';
	memcpy(lit, "invalid input: \"" MARK, 20);
	memcpy(lit + 20, msg, k);
	memcpy(lit + 20 + k, "\" here", 7);
	m = pq_error_message("22P02", lit, buf, sizeof(buf));
	check(!memmem(m.p, m.n, MARK, 4));
}

/* The FIFO driven by data: each byte a send (query, prepare, sync) or a
 * result (row, NULL, sync result), as the hooks would. */
static void check_fifo(const uint8_t *data, size_t size)
{
	static struct pq_fifo f;
	int64_t next_id = 1, last_ended = 0;
	struct pq_entry *e;

	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i < size; i++) {
		unsigned op = data[i] % 6;

		if (op < 3) {
			struct pq_entry n = { .kind = (uint8_t)(op + 1),
					      .rows = next_id++ };

			pq_fifo_push(&f, &n);
			check(f.count <= PQ_FIFO_MAX);
			continue;
		}
		switch (pq_fifo_route(&f, (enum pq_got)(op - 3))) {
		case PQ_ROUTE_NONE:
			break;
		case PQ_ROUTE_FOLD:
			e = pq_fifo_head(&f);
			check(e && e->kind != PQ_SYNC);
			check(op == 3 + PQ_GOT_RESULT);
			e->results++;
			break;
		case PQ_ROUTE_END:
			e = pq_fifo_head(&f);
			check(e && e->results && e->kind != PQ_SYNC);
			check(e->rows > last_ended);
			last_ended = e->rows;
			pq_fifo_pop(&f);
			break;
		case PQ_ROUTE_SYNC:
			check(op == 3 + PQ_GOT_SYNC);
			while ((e = pq_fifo_head(&f)) != NULL) {
				int was_sync = e->kind == PQ_SYNC;

				check(e->rows > last_ended);
				last_ended = e->rows;
				pq_fifo_pop(&f);
				if (was_sync)
					break;
			}
			break;
		}
	}
	/* What the hooks do when the program moves on. */
	while ((e = pq_fifo_head(&f)) != NULL) {
		check(e->rows > last_ended);
		last_ended = e->rows;
		pq_fifo_pop(&f);
	}
	pq_fifo_forget_lost(&f);
	check(pq_fifo_idle(&f));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_message(data, size);
	check_fifo(data, size);
	return 0;
}
