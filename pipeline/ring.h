/*
 * The bounded queue between application threads and the exporter thread.
 * Any number of producers push span records, one consumer pops them.  A
 * push never blocks and never allocates: when the ring is full the record
 * is dropped and counted.  Push is lock-free and async-signal-safe, so hooks
 * running inside signal handlers may use it.
 */
#ifndef OTELSHIM_RING_H
#define OTELSHIM_RING_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

struct ring;

/*
 * Creates a ring of `capacity` records.  The storage is reserved with mmap
 * and only the pages that records are written to become resident.  Returns
 * NULL on failure (errno set).
 */
struct ring *ring_create(size_t capacity);

/* Unmaps the ring; no thread may use it any more. */
void ring_destroy(struct ring *r);

/*
 * Copies *s into the ring.  Returns the number of records queued after the
 * push (an estimate under concurrency), or 0 if the ring was full and the
 * record was dropped.  Any thread, any time, including signal handlers.
 */
size_t ring_push(struct ring *r, const struct span *s);

/*
 * Moves up to max records into out[] in queue order; returns how many.
 * Only one thread may pop at a time.  A record still being written by an
 * interrupted producer ends the pop early; it is returned next time.
 */
size_t ring_pop(struct ring *r, struct span *out, size_t max);

/* Records queued now (an estimate under concurrency). */
size_t ring_count(const struct ring *r);

/* Records dropped because the ring was full, since creation or reset. */
uint64_t ring_dropped(const struct ring *r);

/*
 * Empties the ring and zeroes the drop counter.  For a forked child, which
 * drops what it inherited: only valid while no other thread uses the ring
 * (in a fork child handler, the child is single-threaded).
 */
void ring_reset(struct ring *r);

#endif
