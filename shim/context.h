/*
 * Trace context on application threads: span and trace ids, the sampling
 * decision, which span is active on this thread, and the remote parent the
 * process was started with (TRACEPARENT/TRACESTATE, the OpenTelemetry
 * environment carrier).  Spans are started and ended here; ending one hands
 * it to the exporter side.
 */
#ifndef OTELSHIM_CONTEXT_H
#define OTELSHIM_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "pipeline/span.h"
#include "reqtab.h"

/* A parent given explicitly, e.g. from an incoming traceparent header. */
struct ctx_remote {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;
	const char *trace_state;        /* validated, may be NULL */
	size_t trace_state_len;
};

/*
 * Reads the sampler settings and the environment carrier from envp.  Called
 * once from the library constructor; cfg must outlive the process.
 */
void ctx_init(const struct config *cfg, char *const *envp);

/* In a forked child: ids must not repeat the parent's. */
void ctx_after_fork_child(void);

/*
 * Starts a span of `kind` now.  Its parent is `remote` if given, else the
 * request this thread serves or was handed (reqtab_parent), else the
 * process's remote parent, else none.  Returns NULL when no record is
 * free.  An unsampled span is still returned (its ids propagate) but
 * ctx_end() does not export it.
 */
struct span *ctx_start(enum span_kind kind, const struct ctx_remote *remote);

/* ctx_start() of a span that began at start_ns (ctx_now_ns() read by the
 * caller: a request's first byte), without reading the clock again; 0
 * means now. */
struct span *ctx_start_at(enum span_kind kind, const struct ctx_remote *remote,
			  uint64_t start_ns);

/*
 * Starts a span that no other span will have as its parent (a query, a
 * failed connect), as ctx_start() with no remote parent would.  Such a
 * span has nothing to propagate, so an unsampled one is not recorded at
 * all: NULL then too, and the caller fills and exports nothing.
 */
struct span *ctx_start_leaf(enum span_kind kind);

/* Ends the span now (or at its end_ns if already set) and hands it over. */
void ctx_end(struct span *s);

/* Gives the record back without exporting it. */
void ctx_discard(struct span *s);

/* OTELSHIM_REWRITE_TRACEPARENT: whether a traceparent the program writes
 * itself gets our client span as its parent-id. */
int ctx_rewrite_traceparent(void);

/* 1 and the trace id of the local parent a span started now on this
 * thread would get (the request it serves); 0 when it has none. */
int ctx_local_trace(uint8_t trace_id[16]);

/* This thread serves the server span s, registered as ref (reqtab_add);
 * NULL/0: nobody. */
void ctx_serve(struct span *s, uint64_t ref);

/* A span this thread made itself (tests, helpers): registered as a
 * request in flight until ctx_end() on this thread, and served; NULL:
 * serve nobody. */
void ctx_set_active(struct span *s);

/* This thread serves the request ref, whose span it does not hold (the
 * request it reads the body of, the parent of a client request it reads
 * the answer to), known by how. */
void ctx_serve_ref(uint64_t ref, enum reqtab_how how);

/* The thread goes back to its event wait: it serves nobody now. */
void ctx_event_wait(void);

/* The server span this thread serves itself, while in flight; or NULL. */
struct span *ctx_active(void);

/* Formats the context a child of s should continue as a W3C traceparent
 * into buf (cap >= 56); returns the length (55). */
size_t ctx_traceparent(const struct span *s, char *buf, size_t cap);

/* ns since the epoch (CLOCK_REALTIME). */
uint64_t ctx_now_ns(void);

/* Sets s's end time to now unless it has one (never before its start);
 * returns the span's duration in ns.  ctx_end() does this too. */
uint64_t ctx_stop_clock(struct span *s);

/*
 * The sampling decision (docs/otel-reference.md §4), pure for tests.  parent is
 * 0 (none), 1 (local) or 2 (remote); parent_sampled its flag.
 */
int ctx_should_sample(enum config_sampler sampler, double ratio,
		      const uint8_t trace_id[16], int parent,
		      int parent_sampled);

/* Fills buf with n random bytes from this thread's generator. */
void ctx_random(uint8_t *buf, size_t n);

#endif
