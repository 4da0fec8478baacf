/*
 * How promptly the exporter thread runs.  It runs SCHED_BATCH: woken by
 * a full batch, it waits for a CPU to come free or for the next tick
 * rather than preempt a thread of the program, and it never takes a
 * real-time policy a program may have given the thread that started it.
 * That wait is a tick or more (4 ms at 250 Hz) when both CPUs are busy,
 * and a program that records spans fast fills the queue sooner: 2048
 * sqlite3 statements take 6 ms.  So a thread that finds the queue half
 * full hurries the exporter onto the normal policy, where a wake-up runs
 * it at once; it goes back to SCHED_BATCH once the queue has stayed
 * under half for a second.
 *
 * The state lives in the exporter's fork-wiped page (batch.c): a child
 * starts with no thread to hurry.
 */
#ifndef OTELSHIM_PACE_H
#define OTELSHIM_PACE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct pace {
	_Atomic pid_t tid;      /* the exporter thread, 0 if none */
	_Atomic int hurried;    /* on the normal policy */
	uint64_t busy_ns;       /* exporter thread only: when it last saw
				 * the queue half full */
};

/* On the exporter thread as it starts: SCHED_BATCH, and its id for
 * pace_hurry(). */
void pace_start(struct pace *p);

/* On the exporter thread as it ends: nothing to hurry any more. */
void pace_stop(struct pace *p);

/* On a thread that found the queue half full: the exporter thread on the
 * normal policy, unless it is already.  A system call, once a burst;
 * keeps errno. */
void pace_hurry(struct pace *p);

/* On the exporter thread each time round its loop, with the spans queued
 * (of at most cap): back to SCHED_BATCH after a second under half full. */
void pace_settle(struct pace *p, size_t queued, size_t cap, uint64_t now_ns);

#endif
