/*
 * Retry decisions and the circuit breaker (see retry.h).  Nothing here
 * reads a clock, sleeps or logs: the transport does that around them.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "retry.h"

int retry_status_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 ||
	       status == 504;
}

uint64_t retry_backoff_ns(unsigned retry, uint64_t rnd)
{
	uint64_t cap = RETRY_BACKOFF_INIT_NS;
	unsigned i;

	for (i = 0; i < retry && cap < RETRY_BACKOFF_MAX_NS; i++)
		cap = cap * 3 / 2;
	if (cap > RETRY_BACKOFF_MAX_NS)
		cap = RETRY_BACKOFF_MAX_NS;
	return rnd % (cap + 1);
}

int retry_next(unsigned attempts, unsigned max_attempts, int retryable,
	       uint64_t hint_ns, uint64_t rnd, uint64_t now_ns,
	       uint64_t deadline_ns, uint64_t *wait_ns)
{
	uint64_t wait;

	if (!retryable || attempts >= max_attempts || attempts == 0)
		return 0;
	if (hint_ns != UINT64_MAX)
		wait = hint_ns;
	else
		wait = retry_backoff_ns(attempts - 1, rnd);
	if (deadline_ns != RETRY_NO_DEADLINE) {
		if (now_ns >= deadline_ns)
			return 0;
		/* A Retry-After longer than the time we have left means
		 * the batch is lost now; sleeping on it only delays the
		 * next one. */
		if (wait > deadline_ns - now_ns ||
		    deadline_ns - now_ns - wait < RETRY_MIN_ATTEMPT_NS)
			return 0;
	}
	*wait_ns = wait;
	return 1;
}

int retry_attempt_timeout(uint32_t timeout_ms, uint64_t now_ns,
			  uint64_t deadline_ns, long *ms)
{
	uint64_t left_ms;

	if (deadline_ns == RETRY_NO_DEADLINE) {
		*ms = (long)timeout_ms;
		return 0;
	}
	if (now_ns >= deadline_ns ||
	    deadline_ns - now_ns < RETRY_MIN_ATTEMPT_NS)
		return -ETIMEDOUT;
	left_ms = (deadline_ns - now_ns) / 1000000ull;
	if (left_ms > LONG_MAX)
		left_ms = LONG_MAX;
	if (timeout_ms != 0 && timeout_ms < left_ms)
		*ms = (long)timeout_ms;
	else
		*ms = (long)left_ms;
	return 0;
}

/* ------------------------------------------------------------ breaker */

void retry_breaker_init(struct retry_breaker *b)
{
	memset(b, 0, sizeof(*b));
	b->state = EXPORTER_BREAKER_CLOSED;
	b->cool_ns = RETRY_BREAKER_COOL_NS;
}

enum retry_pass retry_breaker_allow(struct retry_breaker *b,
				    uint64_t now_ns)
{
	switch (b->state) {
	case EXPORTER_BREAKER_CLOSED:
		return RETRY_PASS_FULL;
	case EXPORTER_BREAKER_HALF_OPEN:
		return RETRY_PASS_TRIAL;
	case EXPORTER_BREAKER_OPEN:
		if (now_ns < b->open_until_ns)
			return RETRY_PASS_NONE;
		b->state = EXPORTER_BREAKER_HALF_OPEN;
		return RETRY_PASS_TRIAL;
	}
	return RETRY_PASS_FULL;
}

static void breaker_open(struct retry_breaker *b, uint64_t now_ns)
{
	b->state = EXPORTER_BREAKER_OPEN;
	b->open_until_ns = now_ns + b->cool_ns;
	b->opens++;
}

enum retry_change retry_breaker_record(struct retry_breaker *b, int ok,
				       uint64_t now_ns)
{
	if (ok) {
		enum exporter_breaker_state was = b->state;

		b->state = EXPORTER_BREAKER_CLOSED;
		b->failures = 0;
		b->cool_ns = RETRY_BREAKER_COOL_NS;
		return was == EXPORTER_BREAKER_CLOSED ? RETRY_UNCHANGED :
							RETRY_CLOSED;
	}
	b->failures++;
	if (b->state == EXPORTER_BREAKER_HALF_OPEN) {
		b->cool_ns *= 2;
		if (b->cool_ns > RETRY_BREAKER_MAX_NS)
			b->cool_ns = RETRY_BREAKER_MAX_NS;
		breaker_open(b, now_ns);
		return RETRY_REOPENED;
	}
	if (b->state == EXPORTER_BREAKER_CLOSED &&
	    b->failures >= RETRY_BREAKER_THRESHOLD) {
		breaker_open(b, now_ns);
		return RETRY_OPENED;
	}
	return RETRY_UNCHANGED;
}

void retry_breaker_skip(struct retry_breaker *b)
{
	if (b->state == EXPORTER_BREAKER_HALF_OPEN)
		b->state = EXPORTER_BREAKER_OPEN;
}

enum exporter_breaker_state retry_breaker_state(const struct retry_breaker *b)
{
	return b->state;
}

uint64_t retry_breaker_opens(const struct retry_breaker *b)
{
	return b->opens;
}

uint64_t retry_breaker_cool_ns(const struct retry_breaker *b)
{
	return b->cool_ns;
}
