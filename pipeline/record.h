/*
 * Filling span records on application threads: a fixed pool of records for
 * spans in flight, and writers for names, attributes, events and status.
 * Everything here is lock-free and allocation-free; a string that does not
 * fit the record's pool is truncated and the record marked as such.
 */
#ifndef OTELSHIM_RECORD_H
#define OTELSHIM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

/* How many spans may be in flight (started, not ended) at once. */
#define RECORD_POOL_SIZE 512

/*
 * Takes a zeroed record from the pool; NULL when all are in flight (the
 * caller then records nothing).  Async-signal-safe.
 */
struct span *rec_alloc(void);

/* Gives a record back to the pool. */
void rec_free(struct span *s);

/* Number of records in flight, for tests and the self-report. */
size_t rec_in_flight(void);

/* Copies (str, len) into the pool; returns the reference (len 0 if none
 * of it fit). */
struct span_str rec_str(struct span *s, const char *str, size_t len);

void rec_name(struct span *s, const char *name, size_t len);
/* key: one of common/semconv.h's keys.  Setting a key the record has
 * already replaces its value.  Returns the attribute, NULL when the
 * record had no slot left for it. */
const struct span_attr *rec_attr_str(struct span *s, const char *key,
				     const char *val, size_t len);
/* rec_attr_str with a NUL-terminated value. */
void rec_attr_cstr(struct span *s, const char *key, const char *val);
void rec_attr_int(struct span *s, const char *key, int64_t val);
/*
 * A statement's raw text (SPAN_ATTR_SQL, dialect SQL_*), to be sanitised on
 * the exporter thread when the record leaves the ring.  Never cut: when
 * (sql, len) does not fit the pool whole, nothing is written and -1
 * returned (the caller analyses it itself then); 0 when written.
 */
int rec_attr_sql(struct span *s, const char *key, const char *sql,
		 size_t len, unsigned dialect);
/* An attribute whose value is the record's captured stack. */
void rec_attr_stack(struct span *s, const char *key);

/* Sets the status; msg only kept for SPAN_STATUS_ERROR (may be NULL). */
void rec_status(struct span *s, enum span_status st, const char *msg,
		size_t len);

/* Appends an event at time_ns; returns it for rec_event_attr_*, or NULL
 * if the record has no room left. */
struct span_event *rec_event(struct span *s, const char *name,
			     uint64_t time_ns);
void rec_event_attr_str(struct span *s, struct span_event *ev,
			const char *key, const char *val, size_t len);

/* Looks up a string attribute (for tests and for deriving names). */
const struct span_attr *rec_find_attr(const struct span *s, const char *key);

#endif
