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

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "span.h"

#define EXPORTER_MODULE_NAME "otelshim-exporter.so"
#define EXPORTER_ENTRY "otelshim_exporter_ops"

/* Bump when a call's meaning changes, or when fields of a struct below
 * are reordered or retyped at the same size: the sizes in
 * struct exporter_abi catch every other layout change on their own. */
#define EXPORTER_ABI_VERSION 4

/* The circuit breaker's state, as exporter_counters.breaker_state
 * publishes it. */
enum exporter_breaker_state {
	EXPORTER_BREAKER_CLOSED = 0,    /* batches go out */
	EXPORTER_BREAKER_OPEN = 1,      /* batches fail at once, no network */
	EXPORTER_BREAKER_HALF_OPEN = 2, /* one trial batch goes out */
};

/* Counters the module keeps up to date (relaxed atomics; read by anyone). */
struct exporter_counters {
	uint64_t batches_sent;
	uint64_t batches_failed;
	uint64_t batches_retried;      /* retry attempts, not batches */
	uint64_t spans_exported;
	uint64_t spans_failed;         /* dropped because an export failed */
	uint64_t spans_rejected;       /* partial success: refused by server */
	uint32_t breaker_state;        /* enum exporter_breaker_state */
	uint64_t breaker_opens;        /* times the circuit breaker opened */
	uint64_t spans_spooled;        /* written to the spool (on disk) */
	uint64_t spool_evicted;        /* spool files dropped for room */
	uint64_t spool_delivered;      /* spool files delivered */
};

/* Result of one export call. */
enum exporter_result {
	EXPORTER_OK = 0,
	EXPORTER_FAILED = -1,          /* spans are lost; counted */
	/* Not sent for a reason that passes (backend down, overloaded,
	 * breaker open): not counted as lost; the caller keeps the spans
	 * and offers them again later. */
	EXPORTER_RETRY_LATER = -2,
	/* Written to the spool (OTELSHIM_SPOOL_DIR) for a later process to
	 * deliver: done with here, not lost; counted in spans_spooled. */
	EXPORTER_SPOOLED = 1,
};

/* export_spans flags. */
enum {
	/* The last try (exit, a fatal signal): one attempt, no retry and no
	 * backoff sleep; what is not sent goes to the spool. */
	EXPORTER_FINAL = 1,
	/* No network: straight to the spool (before an exec, after a
	 * final attempt failed, or when an outage would otherwise make the
	 * queue drop spans).  EXPORTER_RETRY_LATER when it cannot. */
	EXPORTER_TO_SPOOL = 2,
	/* n is 0: only deliver what waits in the spool for the endpoint
	 * (the image before an exec left spans there). */
	EXPORTER_DELIVER = 4,
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
	/* Non-zero (and futex-woken, FUTEX_WAKE_PRIVATE) when the process is
	 * about to exit or exec, or the queue is about to spill to the
	 * spool: an export under way makes no further attempt and cuts its
	 * backoff sleep short.  May be NULL. */
	const _Atomic uint32_t *abort_word;
	/* The host's loader guard (common/loader.h), for the module's own
	 * dlopen() calls.  May be NULL. */
	int (*loader_enter)(int wait);
	void (*loader_leave)(void);
};

/*
 * What the two binaries must agree on, first in struct exporter_ops so
 * that a module of any other layout can still be told apart: the version
 * and the size of every struct that crosses the boundary, each taken by
 * the compiler on its own side.  A field added, removed or resized in one
 * of them (or a bound such as SPAN_STRPOOL or CONFIG_MAX_HEADERS changed)
 * makes a library and a module built apart refuse each other, with no
 * version to remember to bump.
 */
struct exporter_abi {
	uint32_t version;               /* EXPORTER_ABI_VERSION */
	uint32_t ops_size;              /* sizeof(struct exporter_ops) */
	uint32_t host_size;             /* sizeof(struct exporter_host) */
	uint32_t counters_size;         /* sizeof(struct exporter_counters) */
	uint32_t config_size;           /* sizeof(struct config) */
	uint32_t span_size;             /* sizeof(struct span) */
};

/* This build's side of struct exporter_abi. */
#define EXPORTER_ABI_THIS_BUILD {                                       \
		.version = EXPORTER_ABI_VERSION,                        \
		.ops_size = sizeof(struct exporter_ops),                \
		.host_size = sizeof(struct exporter_host),              \
		.counters_size = sizeof(struct exporter_counters),      \
		.config_size = sizeof(struct config),                   \
		.span_size = sizeof(struct span),                       \
	}

struct exporter_ops {
	struct exporter_abi abi;   /* EXPORTER_ABI_THIS_BUILD */
	/*
	 * Creates an exporter for this process.  Called once per process; a
	 * forked child calls it again and simply forgets the parent's handle
	 * (cleaning it up could close a connection the parent still uses).
	 * Returns NULL when it cannot work; the host then drops spans.
	 */
	void *(*create)(const struct exporter_host *host);
	/*
	 * Encodes and sends n spans, retrying as OTLP/HTTP allows (flags:
	 * EXPORTER_FINAL, EXPORTER_TO_SPOOL), and returns by deadline_ns
	 * (CLOCK_MONOTONIC) at the latest.  After a successful export, files
	 * waiting in the spool for the same endpoint go out too, within the
	 * same deadline.
	 */
	enum exporter_result (*export_spans)(void *exp,
					     const struct span *spans,
					     size_t n, uint64_t deadline_ns,
					     unsigned flags);
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

/*
 * Compares a module's struct exporter_abi with this build's.  Returns
 * NULL when they agree, else what differs ("version", "struct span", ...)
 * and, in *theirs_v and *ours_v, the two values, for the log line.  Reads
 * nothing past the version when the versions differ: an older module's
 * ops may not have the sizes at all.
 */
static inline const char *exporter_abi_mismatch(const struct exporter_abi *a,
						uint32_t *theirs_v,
						uint32_t *ours_v)
{
#define EXPORTER_ABI_FIELD(f, what) { what, offsetof(struct exporter_abi, f) }
	static const struct {
		const char *what;
		size_t off;
	} fields[] = {
		EXPORTER_ABI_FIELD(version, "version"),
		EXPORTER_ABI_FIELD(ops_size, "struct exporter_ops"),
		EXPORTER_ABI_FIELD(host_size, "struct exporter_host"),
		EXPORTER_ABI_FIELD(counters_size, "struct exporter_counters"),
		EXPORTER_ABI_FIELD(config_size, "struct config"),
		EXPORTER_ABI_FIELD(span_size, "struct span"),
	};
#undef EXPORTER_ABI_FIELD
	static const struct exporter_abi ours = EXPORTER_ABI_THIS_BUILD;
	size_t i;

	_Static_assert(sizeof(fields) / sizeof(fields[0]) ==
		       sizeof(struct exporter_abi) / sizeof(uint32_t),
		       "every field of struct exporter_abi is compared");
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint32_t t, o;

		memcpy(&t, (const char *)a + fields[i].off, sizeof(t));
		memcpy(&o, (const char *)&ours + fields[i].off, sizeof(o));
		if (t != o) {
			*theirs_v = t;
			*ours_v = o;
			return fields[i].what;
		}
	}
	return NULL;
}

#endif
