/*
 * The bounded queue between application threads and the exporter thread.
 * Any number of producers push span records, one consumer pops them.  A
 * push never blocks and never allocates: when the ring is full the record
 * is dropped and counted.  Push is lock-free and async-signal-safe, so hooks
 * running inside signal handlers may use it.
 *
 * Records are kept packed (span_pack.h), so the ring is bounded twice: by
 * a number of records, and by bytes, RING_BYTES_PER_SPAN for each of them.
 */
#ifndef OTELSHIM_RING_H
#define OTELSHIM_RING_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

struct ring;

/*
 * Bytes of storage per record of capacity.  A packed HTTP server span
 * takes about 600 bytes, a SQL span 300-500 plus its statement; records
 * larger than this on average (long statements, stacks) fill the ring by
 * bytes before they fill it by count.
 */
#define RING_BYTES_PER_SPAN 1024

/*
 * Creates a ring of `capacity` records (and capacity * RING_BYTES_PER_SPAN
 * bytes, never less than two of the largest records).  The storage is
 * reserved with mmap and only the pages that records are written to
 * become resident.  Returns NULL on failure (errno set).
 */
struct ring *ring_create(size_t capacity);

/* Unmaps the ring; no thread may use it any more. */
void ring_destroy(struct ring *r);

/*
 * Copies *s into the ring, packed.  Returns the number of records queued after the
 * push (an estimate under concurrency), or 0 if the ring was full and the
 * record was dropped.  Any thread, any time, including signal handlers.
 */
size_t ring_push(struct ring *r, const struct span *s);

/*
 * Moves up to max records into out[] in queue order, unpacked (only what
 * a record's counts cover is written), a raw statement in any of them
 * sanitised and summarised (span_sql_resolve()); returns how many.
 * Only one thread may pop at a time.  A record still being written by an
 * interrupted producer ends the pop early; it is returned next time.
 */
size_t ring_pop(struct ring *r, struct span *out, size_t max);

/*
 * Makes the pages the next records go to resident, so that producers do
 * not take a page fault each as they first fill the ring: on the
 * consumer's thread, between pops, beyond the write position by twice
 * what producers wrote since the last call (64 KiB at least), until the
 * whole ring has been.  Costs nothing after that.
 */
void ring_populate_ahead(struct ring *r);

/* Records queued now (an estimate under concurrency). */
size_t ring_count(const struct ring *r);

/* Records pushed (queued at the time), since creation or reset. */
uint64_t ring_pushed(const struct ring *r);

/* Records dropped because the ring was full, since creation or reset. */
uint64_t ring_dropped(const struct ring *r);

/*
 * Empties the ring and zeroes its counters.  Only valid while no other
 * thread uses the ring.
 */
void ring_reset(struct ring *r);

#endif
