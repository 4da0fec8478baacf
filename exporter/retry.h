/*
 * When to send a batch again, and when to stop sending for a while: the
 * retry policy OTLP/HTTP allows (which statuses, exponential backoff with
 * full jitter, the server's Retry-After, never past the caller's deadline)
 * and a circuit breaker that makes exports fail fast while the backend is
 * down.  Pure functions over injected time and randomness, so the unit
 * tests drive them without a network or a clock.  The transport calls
 * them on the exporter thread; a breaker is not shared between threads.
 */
#ifndef OTELSHIM_RETRY_H
#define OTELSHIM_RETRY_H

#include <stdint.h>

#include "pipeline/exporter.h"

#define RETRY_NO_DEADLINE      UINT64_MAX
#define RETRY_MAX_ATTEMPTS     5            /* as the Java SDK */
#define RETRY_BACKOFF_INIT_NS  1000000000ull
#define RETRY_BACKOFF_MAX_NS   5000000000ull
/* An attempt that cannot get at least this long before the deadline is
 * not worth starting. */
#define RETRY_MIN_ATTEMPT_NS   50000000ull

#define RETRY_BREAKER_THRESHOLD 5           /* failed batches in a row */
#define RETRY_BREAKER_COOL_NS   5000000000ull
#define RETRY_BREAKER_MAX_NS    60000000000ull

/* 1 for the HTTP statuses OTLP/HTTP allows retrying: 429, 502, 503, 504. */
int retry_status_retryable(long status);

/*
 * Exponential backoff with full jitter before retry number `retry` (0 for
 * the first retry): uniform in [0, min(1 s * 1.5^retry, 5 s)], drawn from
 * the random word rnd.
 */
uint64_t retry_backoff_ns(unsigned retry, uint64_t rnd);

/*
 * Whether to send again after attempt number `attempts` (1 after the
 * first) failed.  retryable: the failure allows a retry; hint_ns: the
 * server's Retry-After, or UINT64_MAX for none (then backoff with rnd).
 * Returns 1 and sets *wait_ns if another attempt fits: fewer than
 * max_attempts made, and waiting still leaves RETRY_MIN_ATTEMPT_NS before
 * deadline_ns (RETRY_NO_DEADLINE for none).  Returns 0 otherwise: the
 * batch has failed.
 */
int retry_next(unsigned attempts, unsigned max_attempts, int retryable,
	       uint64_t hint_ns, uint64_t rnd, uint64_t now_ns,
	       uint64_t deadline_ns, uint64_t *wait_ns);

/*
 * The timeout of one attempt: min(timeout_ms (0 = none), time left to the
 * deadline) in *ms, rounded down; 0 there means no limit.  Returns 0, or
 * -ETIMEDOUT when less than RETRY_MIN_ATTEMPT_NS is left (do not start
 * the attempt; *ms is then untouched).
 */
int retry_attempt_timeout(uint32_t timeout_ms, uint64_t now_ns,
			  uint64_t deadline_ns, long *ms);

/* ------------------------------------------------------------ breaker */

/*
 * Closed: batches go out; RETRY_BREAKER_THRESHOLD failed batches in a row
 * open it.  Open: batches fail at once, without network traffic, until
 * the cool-down (5 s, doubling on each reopening up to 60 s) ends.
 * Half-open: one batch, one attempt, goes out; success closes the breaker
 * and resets the cool-down, failure reopens it.  Read it through the
 * functions below; the fields are its own.
 */
struct retry_breaker {
	enum exporter_breaker_state state;
	unsigned failures;              /* failed batches in a row */
	uint64_t open_until_ns;
	uint64_t cool_ns;               /* length of the (next) open period */
	uint64_t opens;
};

/* What the breaker lets a batch do. */
enum retry_pass {
	RETRY_PASS_NONE,        /* open: fail it at once, no network */
	RETRY_PASS_FULL,        /* closed: up to RETRY_MAX_ATTEMPTS attempts */
	RETRY_PASS_TRIAL,       /* half-open: one attempt, which decides */
};

/* What recording a batch's outcome did to the breaker. */
enum retry_change {
	RETRY_UNCHANGED,
	RETRY_OPENED,           /* closed -> open: too many failures */
	RETRY_REOPENED,         /* half-open -> open: the trial failed */
	RETRY_CLOSED,           /* half-open -> closed: the trial succeeded */
};

void retry_breaker_init(struct retry_breaker *b);

/* Before a batch.  An open breaker whose cool-down is over becomes
 * half-open and lets one trial through. */
enum retry_pass retry_breaker_allow(struct retry_breaker *b,
				    uint64_t now_ns);

/* After a batch that used the network: ok (the server took it) or not. */
enum retry_change retry_breaker_record(struct retry_breaker *b, int ok,
				       uint64_t now_ns);

/* After a batch that was let through but made no attempt (its deadline
 * left no time): that says nothing about the backend, so nothing is
 * counted; a trial falls back to open, still due. */
void retry_breaker_skip(struct retry_breaker *b);

enum exporter_breaker_state retry_breaker_state(const struct retry_breaker *b);

/* How often the breaker has opened (reopenings included). */
uint64_t retry_breaker_opens(const struct retry_breaker *b);

/* Length of the open period under way, or of the next one when closed. */
uint64_t retry_breaker_cool_ns(const struct retry_breaker *b);

#endif
