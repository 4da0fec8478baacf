/*
 * The span record: the one type the application side (shim/) and the
 * exporter side (exporter/) share.  A record is fixed-size and holds every
 * string inline in a small pool, so filling one never allocates and copying
 * one into the ring is a memcpy.  Strings that do not fit are truncated.
 *
 * Attribute keys are pointers to the keys of common/semconv.h (one object
 * per key: equal keys, equal addresses) and event names pointers to string
 * literals: both stay valid for the life of the process (and across fork).
 */
#ifndef OTELSHIM_SPAN_H
#define OTELSHIM_SPAN_H

#include <stddef.h>
#include <stdint.h>

#define SPAN_MAX_ATTRS       20
#define SPAN_MAX_EVENTS      2
#define SPAN_MAX_EVENT_ATTRS 3
#define SPAN_STRPOOL         1280
#define SPAN_STACK_MAX       24

/* OTLP SpanKind and StatusCode values (docs/otel-reference.md §1). */
enum span_kind {
	SPAN_KIND_INTERNAL = 1,
	SPAN_KIND_SERVER = 2,
	SPAN_KIND_CLIENT = 3,
	SPAN_KIND_PRODUCER = 4,
	SPAN_KIND_CONSUMER = 5,
};

enum span_status {
	SPAN_STATUS_UNSET = 0,
	SPAN_STATUS_OK = 1,
	SPAN_STATUS_ERROR = 2,
};

enum span_attr_type {
	SPAN_ATTR_STRING = 1,
	SPAN_ATTR_INT,
	SPAN_ATTR_DOUBLE,
	SPAN_ATTR_BOOL,
	/* The value is the record's captured stack (span.stack), rendered as
	 * text by the exporter, which symbolises it off the hot path. */
	SPAN_ATTR_STACK,
	/* The value (v.sql) is a statement's text as the program passed it,
	 * literals and all.  It only travels from the hook to the exporter
	 * thread: ring_pop() replaces it (span_sql.h) with db.query.text
	 * sanitised and the summary attributes, so no reader of a popped
	 * record ever meets this type. */
	SPAN_ATTR_SQL,
};

/* A string stored in the record's pool: bytes [off, off + len). */
struct span_str {
	uint16_t off;
	uint16_t len;
};

/* A raw statement: its bytes in the pool and its dialect (SQL_* of
 * common/sql.h). */
struct span_sql {
	struct span_str text;
	uint32_t dialect;
};

struct span_attr {
	const char *key;
	uint8_t type;           /* enum span_attr_type */
	union {
		struct span_str s;
		struct span_sql sql;
		int64_t i;
		double d;
		int b;
	} v;
};

struct span_event {
	uint64_t time_ns;
	const char *name;
	uint8_t nattrs;
	struct span_attr attrs[SPAN_MAX_EVENT_ATTRS];
};

/* W3C trace flags bit: sampled. */
#define SPAN_FLAG_SAMPLED 0x01

struct span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];      /* all zero: a root span */
	uint8_t trace_flags;            /* W3C flags, SPAN_FLAG_SAMPLED */
	uint8_t parent_is_remote;       /* 1: parent came from another process */
	uint8_t kind;                   /* enum span_kind */
	uint8_t status;                 /* enum span_status */
	uint8_t nattrs;
	uint8_t nevents;
	uint8_t stack_depth;            /* valid entries in stack[] */
	uint8_t truncated;              /* some string did not fit the pool */
	uint16_t dropped_attrs;         /* attributes that found no slot */
	uint16_t pool_used;
	uint32_t attr_keys;             /* keys in attrs, hashed to one bit
					   each (record.c); a bit may be left
					   set by a key taken away */
	uint64_t start_ns;              /* CLOCK_REALTIME, ns since the epoch */
	uint64_t end_ns;
	struct span_str name;
	struct span_str status_message; /* only with SPAN_STATUS_ERROR */
	struct span_str trace_state;    /* W3C tracestate, may be empty */
	struct span_attr attrs[SPAN_MAX_ATTRS];
	struct span_event events[SPAN_MAX_EVENTS];
	uintptr_t stack[SPAN_STACK_MAX];  /* return addresses, innermost first */
	char pool[SPAN_STRPOOL];
};

/* A record's counts clamped to its arrays: what a reader may walk, so that
 * a damaged record can never take it past them. */
static inline size_t span_nattrs(const struct span *s)
{
	return s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
}

static inline size_t span_nevents(const struct span *s)
{
	return s->nevents < SPAN_MAX_EVENTS ? s->nevents : SPAN_MAX_EVENTS;
}

static inline size_t span_event_nattrs(const struct span_event *ev)
{
	return ev->nattrs < SPAN_MAX_EVENT_ATTRS ? ev->nattrs :
	       SPAN_MAX_EVENT_ATTRS;
}

static inline size_t span_stack_depth(const struct span *s)
{
	return s->stack_depth < SPAN_STACK_MAX ? s->stack_depth :
	       SPAN_STACK_MAX;
}

static inline size_t span_pool_used(const struct span *s)
{
	return s->pool_used < SPAN_STRPOOL ? s->pool_used : SPAN_STRPOOL;
}

/* The sampler's verdict: only a sampled record is exported.  Another is
 * kept for its ids alone (its children's parent), so nothing else need
 * be written into it. */
static inline int span_sampled(const struct span *s)
{
	return s->trace_flags & SPAN_FLAG_SAMPLED;
}

/* Bytes of a pooled string (not NUL-terminated). */
static inline const char *span_str_ptr(const struct span *s, struct span_str r)
{
	return s->pool + r.off;
}

#endif
