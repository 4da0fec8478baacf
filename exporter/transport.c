/*
 * OTLP/HTTP and OTLP/gRPC (see transport.h): one sender per exporter
 * (sender.h: the built-in HTTP/1.1 client, or libcurl for https:// and
 * gRPC), its connection kept alive between batches.  gRPC is the same
 * exchange with its message framed and its outcome in trailers (grpc.h).  What to retry, how long to wait and when to stop
 * trying is retry.c's to decide, what the server said is otlp_response.c's
 * to read; this file performs the attempts, sleeps, counts and logs, the
 * same for both senders.  Runs on the exporter thread only.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/text.h"
#include "grpc.h"
#include "gzip.h"
#include "httpdate.h"
#include "retry.h"
#include "sender.h"
#include "transport.h"

#ifndef OTELSHIM_VERSION
#define OTELSHIM_VERSION "0.0.0"
#endif

/* RFC 9110 product tokens: the OTLP exporter SHOULD-form first. */
#define USER_AGENT "OTel-OTLP-Exporter-C/" OTELSHIM_VERSION \
	" otelshim/" OTELSHIM_VERSION

#define LOGGED_MAX        32
#define PARTIAL_LOG_NS    60000000000ull   /* one partial-success line/min */
#define MSG_MAX           256
#define HEADERS_MAX       8192

struct transport {
	struct exporter_host host;
	const struct config *cfg;
	otlp_response_fn decode;
	const struct sender_ops *ops;
	void *sender;

	int grpc;                       /* OTEL_EXPORTER_OTLP_PROTOCOL=grpc */
	uint8_t *zbuf;                  /* the body as sent (gzip, gRPC
					   framing), reused */
	size_t zcap;

	struct retry_breaker br;
	uint64_t rng;

	/* Failures already logged: HTTP statuses as themselves, a sender's
	 * failures as its negative keys (sender_reply.err). */
	int logged[LOGGED_MAX];
	size_t nlogged;
	uint64_t partial_logged_ns;
	unsigned partial_suppressed;
};

/* ------------------------------------------------------------ helpers */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 1 once the host asked the export under way to give up (exit, exec, a
 * queue about to spill to the spool). */
static int aborted(const struct transport *t)
{
	return t->host.abort_word && atomic_load(t->host.abort_word);
}

/* Sleeps until when_ns, or until the host raises its abort word. */
static void sleep_until(const struct transport *t, uint64_t when_ns)
{
	for (;;) {
		uint64_t now = mono_ns();
		struct timespec ts;

		if (now >= when_ns || aborted(t))
			return;
		ts.tv_sec = (time_t)((when_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((when_ns - now) % 1000000000ull);
		/* The exporter thread runs with signals blocked; EINTR only
		 * from a debugger or a stop/continue. */
		if (t->host.abort_word)
			syscall(SYS_futex, t->host.abort_word,
				FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		else
			nanosleep(&ts, NULL);
	}
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t next_rand(struct transport *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Adds v to one of host->counters (relaxed: readers only want totals). */
#define COUNT(t, field, v) \
	count_add((t)->host.counters ? &(t)->host.counters->field : NULL, (v))

static void count_add(uint64_t *field, uint64_t v)
{
	if (field && v)
		__atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}

static void publish_breaker(struct transport *t)
{
	struct exporter_counters *c = t->host.counters;

	if (!c)
		return;
	__atomic_store_n(&c->breaker_state,
			 (uint32_t)retry_breaker_state(&t->br),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&c->breaker_opens, retry_breaker_opens(&t->br),
			 __ATOMIC_RELAXED);
}

__attribute__((format(printf, 3, 4)))
static void tlog(struct transport *t, enum config_log_level lvl,
		 const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!t->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->host.log(lvl, line);
}

/* Returns 1 the first time key is seen, so each failure kind is logged
 * once per process rather than once per batch. */
static int first_time(struct transport *t, int key)
{
	size_t i;

	for (i = 0; i < t->nlogged; i++)
		if (t->logged[i] == key)
			return 0;
	if (t->nlogged < LOGGED_MAX)
		t->logged[t->nlogged++] = key;
	return 1;
}

/* Headers we set from the request itself; a user value would lie about
 * the body. */
static int header_reserved(const char *key)
{
	static const char *const reserved[] = {
		"content-type", "content-encoding", "content-length",
		"transfer-encoding", "expect", "host", "te", "grpc-encoding",
	};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (str_is(str_of(key), reserved[i]))
			return 1;
	return 0;
}

/* Appends one "Name: value" line to the block; 0, or -E2BIG. */
static int add_header(char *block, size_t *len, const char *k, const char *v)
{
	int n = snprintf(block + *len, HEADERS_MAX - *len, "%s:%s%s\r\n", k,
			 *v ? " " : "", v);

	if (n < 0 || (size_t)n >= HEADERS_MAX - *len) {
		block[*len] = '\0';
		return -E2BIG;
	}
	*len += (size_t)n;
	return 0;
}

/* One OTEL_EXPORTER_OTLP_HEADERS entry, or a warning and nothing when it
 * is not allowed or does not fit. */
static void add_user_header(struct transport *t, char *block, size_t *len,
			    size_t i)
{
	const char *k = t->cfg->headers[i].key;
	const char *v = t->cfg->headers[i].value ? t->cfg->headers[i].value
						  : "";

	if (!k || !*k || strpbrk(k, ": \t\r\n") || strpbrk(v, "\r\n") ||
	    header_reserved(k)) {
		tlog(t, CONFIG_LOG_WARN,
		     "OTLP header #%zu ignored: name or value not allowed",
		     i + 1);
		return;
	}
	if (strlen(k) + strlen(v) > 1000 || add_header(block, len, k, v))
		tlog(t, CONFIG_LOG_WARN, "OTLP header %s ignored: too long", k);
}

/* Every request's header lines, for the sender. */
static void build_headers(struct transport *t, char *block)
{
	const struct config *cfg = t->cfg;
	size_t len = 0, i;

	block[0] = '\0';
	add_header(block, &len, "User-Agent", USER_AGENT);
	if (t->grpc) {
		/* The user's headers go as metadata: gRPC's headers. */
		add_header(block, &len, "Content-Type", "application/grpc");
		add_header(block, &len, "TE", "trailers");
		if (cfg->gzip)
			add_header(block, &len, "grpc-encoding", "gzip");
	} else {
		add_header(block, &len, "Content-Type",
			   cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON ?
			   "application/json" : "application/x-protobuf");
		if (cfg->gzip)
			add_header(block, &len, "Content-Encoding", "gzip");
	}
	for (i = 0; i < cfg->n_headers && i < CONFIG_MAX_HEADERS; i++)
		add_user_header(t, block, &len, i);
}

struct transport *transport_create(const struct exporter_host *host,
				   otlp_response_fn decode)
{
	struct transport *t;
	struct timespec ts;
	char *headers = NULL, why[SENDER_WHAT_MAX + 100];

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->host = *host;
	t->cfg = host->cfg;
	t->decode = decode;
	t->grpc = t->cfg && t->cfg->protocol == CONFIG_PROTOCOL_GRPC;
	retry_breaker_init(&t->br);
	clock_gettime(CLOCK_REALTIME, &ts);
	t->rng = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec)
		 ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)t;
	if (t->rng == 0)
		t->rng = 0x9e3779b97f4a7c15ull;
	if (!t->cfg || !t->cfg->endpoint || !*t->cfg->endpoint) {
		tlog(t, CONFIG_LOG_ERROR, "no OTLP endpoint configured");
		goto fail;
	}
	headers = malloc(HEADERS_MAX);
	if (!headers)
		goto fail;
	build_headers(t, headers);
	t->ops = sender_pick(t->cfg->endpoint, t->grpc, getenv);
	t->sender = t->ops->create(&t->host, t->cfg->endpoint, headers, why,
				   sizeof(why));
	if (!t->sender) {
		tlog(t, CONFIG_LOG_ERROR, "OTLP exporter: %s", why);
		goto fail;
	}
	free(headers);
	publish_breaker(t);
	return t;
fail:
	free(headers);
	transport_destroy(t);
	return NULL;
}

void transport_destroy(struct transport *t)
{
	if (!t)
		return;
	if (t->sender)
		t->ops->destroy(t->sender);
	free(t->zbuf);
	free(t);
}

void transport_idle(struct transport *t)
{
	if (t && t->sender)
		t->ops->idle(t->sender);
}

/* ----------------------------------------------------------- one batch */

static int attempt_ok(const struct transport *t, const struct sender_reply *a)
{
	if (t->grpc)
		return a->err == 0 && a->status == 200 &&
		       a->grpc_status == GRPC_OK;
	return a->err == 0 && a->status >= 200 && a->status < 300;
}

/* Retry-After, seconds or an HTTP-date. */
static uint64_t http_retry_after(const struct sender_reply *a)
{
	struct timespec wall;
	uint64_t wait;

	if (!a->retry_after[0])
		return UINT64_MAX;
	clock_gettime(CLOCK_REALTIME, &wall);
	if (httpdate_retry_after(a->retry_after, strlen(a->retry_after),
				 wall.tv_sec, &wait) != 0)
		return UINT64_MAX;
	return wait;
}

/* The wait the server asked for (gRPC's RetryInfo, HTTP's Retry-After),
 * or UINT64_MAX for none. */
static uint64_t retry_after_hint(const struct sender_reply *a)
{
	uint64_t wait;

	if (a->grpc_details[0] &&
	    grpc_retry_delay(a->grpc_details, strlen(a->grpc_details),
			     &wait) == 0)
		return wait;
	return http_retry_after(a);
}

/* Whether a failed attempt that got an answer may be sent again, and
 * after how long the server asked (UINT64_MAX: it did not). */
static int answer_retryable(const struct transport *t,
			    const struct sender_reply *a, uint64_t *hint)
{
	int retryable;

	*hint = UINT64_MAX;
	if (t->grpc && a->status == 200) {
		/* No grpc-status at all: the call broke off. */
		if (a->grpc_status < 0)
			return 1;
		retryable = grpc_retryable(a->grpc_status,
					   retry_after_hint(a) != UINT64_MAX);
	} else {
		retryable = retry_status_retryable(a->status);
	}
	if (retryable)
		*hint = retry_after_hint(a);
	return retryable;
}


/*
 * Sends body, again while retry_next allows it.  Returns the number of
 * attempts made; *a is the last one, *retryable whether its failure
 * allowed a retry.
 */
static unsigned attempt_all(struct transport *t, const void *body,
			    size_t len, unsigned max_attempts,
			    uint64_t deadline_ns, struct sender_reply *a,
			    int *retryable)
{
	uint64_t now = mono_ns();
	unsigned attempts = 0;

	for (;;) {
		uint64_t hint = UINT64_MAX, wait;
		long tmo;

		if (retry_attempt_timeout(t->cfg->otlp_timeout_ms, now,
					  deadline_ns, &tmo))
			break;
		t->ops->post(t->sender, body, len, tmo, a);
		attempts++;
		if (attempt_ok(t, a))
			break;
		if (a->err == 0)
			*retryable = answer_retryable(t, a, &hint);
		else
			*retryable = a->retryable;
		/* libcurl 7.88 cannot send on an HTTP/2 connection whose last
		 * stream ended in a trailers-only answer ("Error in the HTTP2
		 * framing layer"): a failed gRPC call gets a new one. */
		if (t->grpc)
			t->ops->idle(t->sender);
		now = mono_ns();
		if (aborted(t) ||
		    !retry_next(attempts, max_attempts, *retryable, hint,
				next_rand(t), now, deadline_ns, &wait))
			break;
		COUNT(t, batches_retried, 1);
		if (a->err == 0 && t->grpc && a->status == 200)
			tlog(t, CONFIG_LOG_DEBUG,
			     "OTLP export: gRPC status %d, retry in %llu ms",
			     a->grpc_status,
			     (unsigned long long)(wait / 1000000ull));
		else if (a->err == 0)
			tlog(t, CONFIG_LOG_DEBUG,
			     "OTLP export: HTTP %ld, retry in %llu ms",
			     a->status,
			     (unsigned long long)(wait / 1000000ull));
		else
			tlog(t, CONFIG_LOG_DEBUG,
			     "OTLP export: %s, retry in %llu ms", a->what,
			     (unsigned long long)(wait / 1000000ull));
		sleep_until(t, now + wait);
		now = mono_ns();
	}
	return attempts;
}

static void log_failure(struct transport *t, const struct sender_reply *a,
			unsigned attempts)
{
	char msg[MSG_MAX];

	if (a->err != 0) {
		if (!first_time(t, a->err))
			return;
		tlog(t, CONFIG_LOG_WARN,
		     "OTLP export failed after %u attempt%s: %s",
		     attempts, attempts == 1 ? "" : "s", a->what);
		return;
	}
	if (t->grpc && a->status == 200) {
		if (!first_time(t, 1000 + a->grpc_status))
			return;
		grpc_message_text(a->grpc_message, strlen(a->grpc_message),
				  msg, sizeof(msg));
		tlog(t, CONFIG_LOG_WARN,
		     "OTLP export failed after %u attempt%s: gRPC status "
		     "%d %s%s%s", attempts, attempts == 1 ? "" : "s",
		     a->grpc_status,
		     a->grpc_status < 0 ? "(none: the call broke off)" :
		     grpc_code_name(a->grpc_status), msg[0] ? ": " : "", msg);
		return;
	}
	if (!first_time(t, (int)a->status))
		return;
	otlp_response_error(a->body, a->len, a->json, msg, sizeof(msg));
	tlog(t, CONFIG_LOG_WARN,
	     "OTLP export failed after %u attempt%s: HTTP %ld%s%s",
	     attempts, attempts == 1 ? "" : "s", a->status,
	     msg[0] ? ": " : "", msg);
}

/* A 2xx: read partial_success, count, and say so (at most once a minute:
 * the counters have the totals). */
static enum transport_result sent_batch(struct transport *t,
					const struct sender_reply *a,
					size_t nspans)
{
	char msg[MSG_MAX] = "";
	const uint8_t *body = a->body;
	size_t len = a->len;
	int64_t rejected = 0;
	uint64_t now;

	if (t->grpc && len > 0 && grpc_message(a->body, a->len, &body, &len))
		len = 0;
	if (t->decode && len > 0 && !a->truncated &&
	    t->decode(body, len, &rejected, msg, sizeof(msg)) != 0) {
		tlog(t, CONFIG_LOG_DEBUG,
		     "OTLP response not understood (%zu bytes)", len);
		rejected = 0;
		msg[0] = '\0';
	}
	if (rejected < 0)
		rejected = 0;
	if ((uint64_t)rejected > nspans)
		rejected = (int64_t)nspans;
	COUNT(t, batches_sent, 1);
	COUNT(t, spans_exported, nspans - (size_t)rejected);
	COUNT(t, spans_rejected, (uint64_t)rejected);
	if (rejected == 0 && msg[0] == '\0')
		return TRANSPORT_SENT;
	now = mono_ns();
	if (t->partial_logged_ns &&
	    now - t->partial_logged_ns < PARTIAL_LOG_NS) {
		t->partial_suppressed++;
		return TRANSPORT_SENT;
	}
	otlp_response_printable((const uint8_t *)msg, strlen(msg), msg,
				sizeof(msg));
	tlog(t, CONFIG_LOG_WARN,
	     "OTLP partial success: %lld of %zu spans rejected%s%s "
	     "(%u similar before not shown)",
	     (long long)rejected, nspans, msg[0] ? ": " : "", msg,
	     t->partial_suppressed);
	t->partial_logged_ns = now;
	t->partial_suppressed = 0;
	return TRANSPORT_SENT;
}

static enum transport_result drop_batch(struct transport *t, size_t nspans)
{
	COUNT(t, batches_failed, 1);
	COUNT(t, spans_failed, nspans);
	return TRANSPORT_DROPPED;
}

/* A transient failure: the caller keeps the spans for a later try, so
 * only the batch attempt is counted, not lost spans. */
static enum transport_result defer_batch(struct transport *t)
{
	COUNT(t, batches_failed, 1);
	return TRANSPORT_DEFERRED;
}

/* The body to send: body itself, or in t->zbuf its gzip and for gRPC the
 * message prefix before it.  0 or -errno. */
static int make_body(struct transport *t, const void **body, size_t *len)
{
	size_t pre = t->grpc ? GRPC_PREFIX : 0;
	size_t bound = pre + (t->cfg->gzip ? gzip_bound(*len) : *len);
	ssize_t n = (ssize_t)*len;

	if (!t->cfg->gzip && !t->grpc)
		return 0;
	if (bound > t->zcap) {
		uint8_t *nb = realloc(t->zbuf, bound);

		if (!nb)
			return -ENOMEM;
		t->zbuf = nb;
		t->zcap = bound;
	}
	if (t->cfg->gzip)
		n = gzip_encode(*body, *len, t->zbuf + pre, t->zcap - pre);
	else
		memcpy(t->zbuf + pre, *body, *len);
	if (n < 0)
		return (int)n;
	if (t->grpc)
		grpc_prefix(t->zbuf, t->cfg->gzip, (size_t)n);
	*body = t->zbuf;
	*len = pre + (size_t)n;
	return 0;
}

/* The server refused what we sent (400, 413, INVALID_ARGUMENT): that
 * says nothing about its health. */
static int refused_content(const struct transport *t,
			   const struct sender_reply *a)
{
	if (a->err != 0)
		return 0;
	if (t->grpc && a->status == 200)
		return a->grpc_status == GRPC_INVALID_ARGUMENT;
	return a->status == 400 || a->status == 413;
}

/* What the attempts came to: the breaker hears of it, then the counters
 * and the log. */
static enum transport_result settle(struct transport *t,
				    const struct sender_reply *a,
				    unsigned attempts, int retryable,
				    size_t nspans)
{
	enum retry_change ch;

	if (attempts == 0) {
		/* The deadline left no time to try. */
		retry_breaker_skip(&t->br);
		publish_breaker(t);
		return defer_batch(t);
	}
	if (attempt_ok(t, a)) {
		ch = retry_breaker_record(&t->br, 1, mono_ns());
		publish_breaker(t);
		if (ch == RETRY_CLOSED)
			tlog(t, CONFIG_LOG_INFO, "OTLP exports resumed");
		return sent_batch(t, a, nspans);
	}
	log_failure(t, a, attempts);
	/* Every failure but a refused content counts toward the breaker. */
	if (!refused_content(t, a)) {
		ch = retry_breaker_record(&t->br, 0, mono_ns());
		/* Said once when it opens; reopening after a failed trial
		 * is no news. */
		if (ch == RETRY_OPENED || ch == RETRY_REOPENED)
			tlog(t, ch == RETRY_OPENED ? CONFIG_LOG_WARN :
			     CONFIG_LOG_DEBUG,
			     "OTLP endpoint failing: exports paused for %llu s",
			     (unsigned long long)(retry_breaker_cool_ns(&t->br)
						  / 1000000000ull));
	}
	publish_breaker(t);
	/* A backend that is down or overloaded will be back: keep the
	 * spans.  One that refused what we sent will refuse it again. */
	return retryable ? defer_batch(t) : drop_batch(t, nspans);
}

enum transport_result transport_send(struct transport *t, const void *body,
				     size_t len, size_t nspans,
				     uint64_t deadline_ns, unsigned flags)
{
	struct sender_reply a;
	enum retry_pass pass;
	unsigned attempts;
	int retryable = 0;

	memset(&a, 0, sizeof(a));
	if (len > TRANSPORT_MAX_REQUEST) {
		if (first_time(t, INT_MIN))
			tlog(t, CONFIG_LOG_WARN,
			     "OTLP request of %zu bytes over the 64 MiB limit "
			     "not sent", len);
		return drop_batch(t, nspans);
	}
	pass = retry_breaker_allow(&t->br, mono_ns());
	publish_breaker(t);
	if (pass == RETRY_PASS_NONE)
		return defer_batch(t);
	if (make_body(t, &body, &len)) {
		tlog(t, CONFIG_LOG_WARN, "OTLP request: gzip failed");
		return drop_batch(t, nspans);
	}
	attempts = attempt_all(t, body, len, pass == RETRY_PASS_TRIAL ||
			       (flags & TRANSPORT_ONCE) ? 1 : RETRY_MAX_ATTEMPTS,
			       deadline_ns, &a, &retryable);
	return settle(t, &a, attempts, retryable, nspans);
}
