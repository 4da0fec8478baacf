/*
 * W3C Trace Context: parsing and formatting of the traceparent header and
 * validation of tracestate.  Pure functions over caller-owned buffers: no
 * allocation, no locks, no syscalls, bounded work, so they are safe inside
 * hooks running on application threads and in signal handlers.
 */
#ifndef OTELSHIM_PROPAGATE_H
#define OTELSHIM_PROPAGATE_H

#include <stddef.h>
#include <stdint.h>

/* Length of a version-00 traceparent value, without NUL. */
#define PROPAGATE_TRACEPARENT_LEN 55
/* The tracestate length we propagate (the spec asks for at least 512). */
#define PROPAGATE_TRACESTATE_MAX  512
/* Members in a tracestate list; more makes the whole list invalid. */
#define PROPAGATE_TRACESTATE_MEMBERS 32

/* Trace flags of Level 2: sampled and random trace-id. */
#define PROPAGATE_FLAG_SAMPLED 0x01
#define PROPAGATE_FLAG_RANDOM  0x02
#define PROPAGATE_FLAGS_KNOWN  0x03

struct propagate_ctx {
	uint8_t trace_id[16];
	uint8_t span_id[8];     /* the parent-id field of traceparent */
	uint8_t flags;          /* only PROPAGATE_FLAGS_KNOWN bits */
};

/*
 * Parses a traceparent value: 0 and *out filled if valid, -1 otherwise
 * (*out untouched).  Surrounding spaces and tabs are tolerated; version 00
 * must be exactly 55 characters; a higher version may carry more fields
 * after a '-' at offset 55; version ff, uppercase hex and all-zero ids are
 * invalid.  Flag bits we do not know are cleared, as the spec asks of
 * anyone who propagates the context onwards.
 */
int propagate_parse_traceparent(const char *s, size_t len,
				struct propagate_ctx *out);

/*
 * Writes "00-<trace-id>-<span-id>-<flags>" into buf (55 bytes, plus a NUL
 * if cap > 55); returns 55, or 0 and writes nothing if cap < 55.  Unknown
 * flag bits are sent as 0.
 */
size_t propagate_format_traceparent(const struct propagate_ctx *c, char *buf,
				    size_t cap);

/*
 * Validates a tracestate value per Trace Context Level 2 and writes the
 * normalised list into out: members without surrounding whitespace, empty
 * members removed, joined by ",".  When the list is longer than
 * min(PROPAGATE_TRACESTATE_MAX, cap - 1), whole members are removed:
 * members longer than 128 characters first (rightmost first), then from the
 * right.  Returns the length written (NUL-terminated when cap > 0; 0 means
 * empty, so omit the header), or -1 if the value is invalid (bad key or
 * value, duplicate key, more than 32 members, an input over 64 KiB): drop
 * tracestate then.  s and out must not overlap.
 */
int propagate_check_tracestate(const char *s, size_t len, char *out,
			       size_t cap);

#endif
