/*
 * The boundary between the preloaded library and the exporter module
 * (otelshim-exporter.so).  The batch loop in libotelshim.so dlopen()s the
 * module on the exporter thread the first time there is something to send
 * and talks to it only through struct exporter_ops, so libcurl, protobuf-c
 * and zlib are never loaded into a process that records no span.
 *
 * Every function here runs on the exporter thread only.
 */
#ifndef OTELSHIM_EXPORTER_H
#define OTELSHIM_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "span.h"

#define EXPORTER_ABI_VERSION 2
#define EXPORTER_MODULE_NAME "otelshim-exporter.so"
#define EXPORTER_ENTRY "otelshim_exporter_ops"

/* Counters the module keeps up to date (relaxed atomics; read by anyone). */
struct exporter_counters {
	uint64_t batches_sent;
	uint64_t batches_failed;
	uint64_t batches_retried;      /* retry attempts, not batches */
	uint64_t spans_exported;
	uint64_t spans_failed;         /* dropped because an export failed */
	uint64_t spans_rejected;       /* partial success: refused by server */
	uint32_t breaker_state;        /* enum transport_breaker_state:
					  0 closed, 1 open, 2 half-open */
	uint64_t breaker_opens;        /* times the circuit breaker opened */
};

/* Result of one export call. */
enum exporter_result {
	EXPORTER_OK = 0,
	EXPORTER_FAILED = -1,          /* spans are lost; counted */
	/* Not sent for a reason that passes (backend down, overloaded,
	 * breaker open): not counted as lost; the caller keeps the spans
	 * and offers them again later. */
	EXPORTER_RETRY_LATER = -2,
};

/* What the library gives the module. */
struct exporter_host {
	const struct config *cfg;
	struct exporter_counters *counters;
	/* Logs one line (no newline) at the given level; the host filters by
	 * OTEL_LOG_LEVEL and prefixes "otelshim: ". */
	void (*log)(enum config_log_level level, const char *msg);
	/* argv of the process, for process.command_args; may be NULL. */
	char *const *argv;
	/* Takes fd as the exporter's own (owned = 1, right after it is
	 * created) or no longer (owned = 0, right before it is closed): the
	 * hooks never trace it.  Taking it may move it to another number,
	 * out of the range the program's descriptor limit allows it (so the
	 * program never meets EMFILE sooner): the return value is the
	 * descriptor to use from then on.  May be NULL. */
	int (*own_fd)(int fd, int owned);
};

struct exporter_ops {
	int abi_version;           /* EXPORTER_ABI_VERSION */
	/*
	 * Creates an exporter for this process.  Called once per process; a
	 * forked child calls it again and simply forgets the parent's handle
	 * (cleaning it up could close a connection the parent still uses).
	 * Returns NULL when it cannot work; the host then drops spans.
	 */
	void *(*create)(const struct exporter_host *host);
	/*
	 * Encodes and sends n spans, retrying as OTLP/HTTP allows, and returns
	 * by deadline_ns (CLOCK_MONOTONIC) at the latest.
	 */
	enum exporter_result (*export_spans)(void *exp, const struct span *spans,
					     size_t n, uint64_t deadline_ns);
	void (*destroy)(void *exp);
	/*
	 * No export is due soon (the queue drained, or a failed batch waits
	 * a second for its next try): let go of descriptors (the backend
	 * connection, the output file) and of memory kept for the next
	 * batch until then.  May be NULL.
	 */
	void (*idle)(void *exp);
};

/* The module's one exported symbol. */
const struct exporter_ops *otelshim_exporter_ops(void);

#endif
