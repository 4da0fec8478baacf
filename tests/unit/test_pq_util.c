/*
 * The libpq hooks' pure helpers: the FIFO that attributes results to the
 * commands that produced them (one at a time, pipelined with sync points,
 * past its capacity), error messages as spans record them (first line,
 * values in data exceptions and syntax errors redacted, cut buffers,
 * input right before an unmapped page), SQLSTATE classes and ports.
 * links: shim/pq_util.c
 */
#include <errno.h>
#include <stdint.h>

#include "shim/pq_util.h"
#include "unit.h"

static struct pq_fifo fifo;

static void push(enum pq_kind kind, int64_t id)
{
	struct pq_entry e = { .kind = (uint8_t)kind, .rows = id };

	ck_assert_int_eq(pq_fifo_push(&fifo, &e), 0);
}

/* What the hooks do with a route, reduced to the ids of what ends. */
static int64_t ended[2 * PQ_FIFO_MAX];
static size_t nended;

static void pop_end(void)
{
	struct pq_entry *e = pq_fifo_head(&fifo);

	ck_assert_ptr_nonnull(e);
	ended[nended++] = e->rows;
	pq_fifo_pop(&fifo);
}

static enum pq_route got(enum pq_got g)
{
	enum pq_route r = pq_fifo_route(&fifo, g);
	struct pq_entry *e;

	switch (r) {
	case PQ_ROUTE_NONE:
		break;
	case PQ_ROUTE_FOLD:
		pq_fifo_head(&fifo)->results++;
		break;
	case PQ_ROUTE_END:
		pop_end();
		break;
	case PQ_ROUTE_SYNC:
		while ((e = pq_fifo_head(&fifo)) != NULL) {
			int was_sync = e->kind == PQ_SYNC;

			pop_end();
			if (was_sync)
				break;
		}
		break;
	}
	return r;
}

static void reset(void)
{
	memset(&fifo, 0, sizeof(fifo));
	nended = 0;
}

START_TEST(one_command_at_a_time)
{
	reset();
	ck_assert(pq_fifo_idle(&fifo));
	ck_assert_ptr_null(pq_fifo_head(&fifo));
	push(PQ_QUERY, 1);
	ck_assert(!pq_fifo_idle(&fifo));
	/* NULL before any result is not the end of the command. */
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_NONE);
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(pq_fifo_head(&fifo)->results, 2);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_END);
	ck_assert_uint_eq(nended, 1);
	ck_assert_int_eq(ended[0], 1);
	ck_assert(pq_fifo_idle(&fifo));
	/* Popping an empty FIFO changes nothing. */
	pq_fifo_pop(&fifo);
	ck_assert_uint_eq(fifo.count, 0);
}
END_TEST

START_TEST(pipeline_with_syncs)
{
	reset();
	push(PQ_QUERY, 1);
	push(PQ_QUERY, 2);
	push(PQ_SYNC, 3);
	push(PQ_QUERY, 4);
	push(PQ_SYNC, 5);
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_END);
	/* An aborted pipeline: the sync arrives before 2's NULL. */
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(got(PQ_GOT_SYNC), PQ_ROUTE_SYNC);
	ck_assert_uint_eq(nended, 3);
	ck_assert_int_eq(ended[1], 2);
	ck_assert_int_eq(ended[2], 3);
	/* The head is 4: a stray NULL, then its result. */
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_NONE);
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_END);
	/* Out of step at a sync point: results wait for the sync. */
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_NONE);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_NONE);
	ck_assert_int_eq(got(PQ_GOT_SYNC), PQ_ROUTE_SYNC);
	ck_assert_uint_eq(nended, 5);
	ck_assert_int_eq(ended[4], 5);
	ck_assert(pq_fifo_idle(&fifo));
}
END_TEST

/* Past its capacity the FIFO counts commands; their results are read
 * after every tracked one and bring it back to tracking. */
START_TEST(lost_commands)
{
	struct pq_entry q = { .kind = PQ_QUERY }, s = { .kind = PQ_SYNC };
	struct pq_entry *e;

	reset();
	for (int64_t i = 0; i < PQ_FIFO_MAX; i++)
		push(PQ_QUERY, i);
	ck_assert_int_eq(pq_fifo_push(&fifo, &q), -ENOSPC);
	ck_assert_int_eq(pq_fifo_push(&fifo, &s), -ENOSPC);
	ck_assert_int_eq(pq_fifo_push(&fifo, &q), -ENOSPC);
	ck_assert_uint_eq(fifo.lost_queries, 2);
	ck_assert_uint_eq(fifo.lost_syncs, 1);
	/* Room again, but later commands stay behind the lost ones. */
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_FOLD);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_END);
	ck_assert_int_eq(pq_fifo_push(&fifo, &q), -ENOSPC);
	ck_assert_uint_eq(fifo.lost_queries, 3);
	while ((e = pq_fifo_head(&fifo)) != NULL) {
		got(PQ_GOT_RESULT);
		got(PQ_GOT_NULL);
	}
	ck_assert_uint_eq(nended, PQ_FIFO_MAX);
	ck_assert(!pq_fifo_idle(&fifo));
	/* A lost query's NULL counts only after one of its results. */
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_NONE);
	ck_assert_uint_eq(fifo.lost_queries, 3);
	ck_assert_int_eq(got(PQ_GOT_RESULT), PQ_ROUTE_NONE);
	ck_assert_int_eq(got(PQ_GOT_NULL), PQ_ROUTE_NONE);
	ck_assert_uint_eq(fifo.lost_queries, 2);
	ck_assert_int_eq(got(PQ_GOT_SYNC), PQ_ROUTE_NONE);
	ck_assert_uint_eq(fifo.lost_syncs, 0);
	ck_assert_int_eq(got(PQ_GOT_SYNC), PQ_ROUTE_NONE);
	ck_assert_uint_eq(fifo.lost_syncs, 0);
	got(PQ_GOT_RESULT);
	got(PQ_GOT_NULL);
	got(PQ_GOT_RESULT);
	got(PQ_GOT_NULL);
	ck_assert(pq_fifo_idle(&fifo));
	push(PQ_QUERY, 99);
	/* The hooks end what is queued, then forget what was counted. */
	ck_assert_int_eq(pq_fifo_push(&fifo, &q), 0);
	fifo.lost_queries = 5;
	fifo.lost_seen = 1;
	pq_fifo_forget_lost(&fifo);
	ck_assert_uint_eq(fifo.lost_queries, 0);
	ck_assert_uint_eq(fifo.lost_seen, 0);
}
END_TEST

START_TEST(sqlstate_classes)
{
	ck_assert(pq_sqlstate_failed(NULL));
	ck_assert(pq_sqlstate_failed(""));
	ck_assert(pq_sqlstate_failed("0"));
	ck_assert(!pq_sqlstate_failed("00000"));
	ck_assert(!pq_sqlstate_failed("01000"));
	ck_assert(!pq_sqlstate_failed("02000"));
	ck_assert(pq_sqlstate_failed("03000"));
	ck_assert(pq_sqlstate_failed("0A000"));
	ck_assert(pq_sqlstate_failed("22P02"));
	ck_assert(pq_sqlstate_failed("42601"));
}
END_TEST

static char buf[256];

static const char *message(const char *state, const char *msg, size_t cap)
{
	static char out[512];
	struct str m = pq_error_message(state, msg, buf, cap);

	ck_assert_uint_lt(m.n, sizeof(out));
	memcpy(out, m.p, m.n);
	out[m.n] = 0;
	return out;
}

START_TEST(error_messages)
{
	const size_t cap = sizeof(buf);

	ck_assert_str_eq(message("23505", "duplicate key value violates "
				 "unique constraint \"t_pkey\"\nDETAIL: x",
				 cap),
			 "duplicate key value violates unique constraint "
			 "\"t_pkey\"");
	ck_assert_str_eq(message("22P02", "invalid input syntax for type "
				 "integer: \"secret\"", cap),
			 "invalid input syntax for type integer: \"?\"");
	ck_assert_str_eq(message("42601", "syntax error at or near "
				 "\"'x'\" \r\n", cap),
			 "syntax error at or near \"?\"");
	ck_assert_str_eq(message("22012", "unterminated \"abc", cap),
			 "unterminated \"?\"");
	ck_assert_str_eq(message("42P01", "relation \"t\" does not exist",
				 cap), "relation \"t\" does not exist");
	/* libpq's own prefix goes only when there is no SQLSTATE. */
	ck_assert_str_eq(message(NULL, "ERROR:  server closed the "
				 "connection\n", cap),
			 "server closed the connection");
	ck_assert_str_eq(message("XX000", "ERROR:  x", cap), "ERROR:  x");
	ck_assert_str_eq(message(NULL, NULL, cap), "");
	ck_assert_str_eq(message(NULL, "  \r\n", cap), "");
	/* A redacted message is cut to its buffer, never past it. */
	ck_assert_str_eq(message("22001", "value \"0123456789\" too long",
				 12), "value \"?\"");
	ck_assert_str_eq(message("22001", "v \"x\"", 4), "");
	ck_assert_str_eq(message("22001", "v \"x\"", 0), "");
}
END_TEST

/* Messages ending right before an unmapped page: nothing past the NUL is
 * read. */
START_TEST(error_message_guard)
{
	const char *msgs[] = { "a \"b", "ERROR:  ", "x\r", "\"", "" };

	guard_setup();
	for (size_t i = 0; i < NELEM(msgs); i++) {
		const char *m = guarded(msgs[i], strlen(msgs[i]) + 1);

		message("22000", m, sizeof(buf));
		message(NULL, m, sizeof(buf));
	}
}
END_TEST

START_TEST(ports)
{
	ck_assert_int_eq(pq_port("5432"), 5432);
	ck_assert_int_eq(pq_port("65535"), 65535);
	ck_assert_int_eq(pq_port("65536"), 0);
	ck_assert_int_eq(pq_port("0"), 0);
	ck_assert_int_eq(pq_port("-1"), 0);
	ck_assert_int_eq(pq_port(""), 0);
	ck_assert_int_eq(pq_port("x"), 0);
	ck_assert_int_eq(pq_port(NULL), 0);
}
END_TEST

UNIT_MAIN("pq_util", one_command_at_a_time, pipeline_with_syncs,
	  lost_commands, sqlstate_classes, error_messages,
	  error_message_guard, ports)
