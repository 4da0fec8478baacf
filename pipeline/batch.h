/*
 * The exporter thread's side of the library: it owns the ring, starts the
 * exporter thread when the first span arrives, batches spans by count and
 * time, loads the exporter module and flushes at exit within
 * OTEL_BSP_EXPORT_TIMEOUT.  See exporter.h for the module it drives.
 */
#ifndef OTELSHIM_BATCH_H
#define OTELSHIM_BATCH_H

#include <stdint.h>

#include "config.h"
#include "exporter.h"
#include "span.h"

struct batch_host {
	const struct config *cfg;
	char *const *argv;
	/* Run first on the exporter thread: marks it as ours for the hooks. */
	void (*enter_own_thread)(void);
	/* Run on the exporter thread the first time it has nothing to send
	 * (never if the program exits before): loads the unwinder for
	 * call-site and crash stacks and installs the crash handlers. */
	void (*start_stacks)(void);
	/* The module's descriptors: see exporter_host.own_fd. */
	int (*own_fd)(int fd, int owned);
	/* Self-log, one line, filtered by level. */
	void (*log)(enum config_log_level lvl, const char *msg);
	/* BATCH_STATE_BYTES of zeroes that fork() hands the child zeroed
	 * (MADV_WIPEONFORK), for the exporter's state; NULL: batch_init
	 * maps a page of its own. */
	void *wiped;
};

#define BATCH_STATE_BYTES 1024

/* Stores the host; starts nothing.  From the library constructor. */
void batch_init(const struct batch_host *host);

/* Creates the ring and starts the exporter thread if they are not there
 * yet; called as a sampled span starts rather than when it ends, so that
 * the thread loads the unwinder while that span runs and even a process's
 * first slow span can carry its call stack.  One atomic load afterwards. */
void batch_warm(void);

/*
 * Queues a finished, sampled span (creating the ring and the exporter
 * thread if batch_warm has not).  Never blocks: a full ring drops the span
 * (counted).
 */
void batch_submit(const struct span *s);

/*
 * From a fatal-signal handler (async-signal-safe: atomics, clock_gettime
 * and futex only): asks the exporter thread to send everything queued now
 * and waits until it has, at most timeout_ns.  Never starts the thread.
 * Returns 0, -ETIMEDOUT, or -ESRCH when no exporter thread runs.
 */
int batch_flush_from_signal(uint64_t timeout_ns);

/* Counts a span that could not even be recorded (no free record). */
void batch_note_dropped(void);

/*
 * Exports what is queued and stops the exporter thread, waiting at most
 * OTELSHIM_EXIT_TIMEOUT (never more than OTEL_BSP_EXPORT_TIMEOUT): one
 * attempt without retries, then what is left goes to the spool.
 * Idempotent; from atexit and the destructor.
 */
void batch_shutdown(void);

/*
 * Set ("=1") in the environment of a new image when the one before left
 * spans in the spool for it: the new image delivers them even if it
 * records nothing itself.
 */
#define BATCH_SPOOLED_VAR "OTELSHIM_SPOOLED"

/*
 * Right before an exec replaces the process image: has the exporter
 * thread write what is queued to the spool (no network: microseconds to a
 * few ms), for the new image to deliver; waits at most as long as exit
 * would.  Returns at once when nothing is queued or no exporter thread
 * runs.  Returns 1 when the new image should deliver the spool
 * (BATCH_SPOOLED_VAR): spans went there now, or a delivery this image
 * was asked for has not finished.  Atomics and futex only; never from a
 * vfork child (the memory is the parent's).
 */
int batch_before_exec(void);

/*
 * The image before this one left spans in the spool (BATCH_SPOOLED_VAR):
 * starts the exporter thread, which delivers them once the module is
 * loaded.  From the library's initialisation.
 */
void batch_deliver_spool(void);

/* pthread_atfork handlers.  The child forgets the parent's spans, thread
 * and exporter: fork() itself hands it this module's state zeroed, so
 * the child's handler writes nothing (each page a child writes costs it
 * a page fault) unless the kernel could not wipe it. */
void batch_before_fork(void);
void batch_after_fork_parent(void);
void batch_after_fork_child(void);

struct batch_stats {
	uint64_t recorded;          /* spans handed to batch_submit */
	uint64_t dropped_queue;     /* ring full */
	uint64_t queued;            /* in the ring now */
	int thread_running;
	struct exporter_counters exp;
};

void batch_get_stats(struct batch_stats *st);

#endif
