/*
 * OTLP/HTTP transport: POSTs one encoded ExportTraceServiceRequest through
 * a reused libcurl handle, gzip-compressed on request, retried the way the
 * OTLP/HTTP specification allows and guarded by a circuit breaker so a
 * dead backend costs no time.  Runs on the exporter thread only.
 *
 * The decisions (what is retryable, how long to wait, Retry-After, the
 * breaker) are pure functions over injected time, declared here so the unit
 * tests can drive them without a network or a clock.
 */
#ifndef OTELSHIM_TRANSPORT_H
#define OTELSHIM_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pipeline/exporter.h"

#define TRANSPORT_NO_DEADLINE      UINT64_MAX
#define TRANSPORT_MAX_ATTEMPTS     5            /* as the Java SDK */
#define TRANSPORT_BACKOFF_INIT_NS  1000000000ull
#define TRANSPORT_BACKOFF_MAX_NS   5000000000ull
/* An attempt that cannot get at least this long before the deadline is
 * not worth starting. */
#define TRANSPORT_MIN_ATTEMPT_NS   50000000ull
#define TRANSPORT_MAX_REQUEST      (64u << 20)  /* before compression */
#define TRANSPORT_MAX_RESPONSE     (4u << 20)   /* parsed at most */

#define TRANSPORT_BREAKER_THRESHOLD 5           /* failed batches in a row */
#define TRANSPORT_BREAKER_COOL_NS   5000000000ull
#define TRANSPORT_BREAKER_MAX_NS    60000000000ull

/*
 * Reads an ExportTraceServiceResponse body: *rejected and the message into
 * (msg, cap).  Returns 0 or a negative errno; same contract as
 * otlp_decode_response, which is what the module passes for protobuf.
 */
typedef int (*transport_decode_fn)(const uint8_t *body, size_t len,
				   int64_t *rejected, char *msg, size_t cap);

struct transport;

/*
 * Creates a transport for host->cfg (endpoint, headers, TLS files,
 * compression, protocol).  decode reads 200 responses for partial success;
 * NULL: 200 bodies are not read.  The host struct is copied; host->cfg
 * and host->counters must outlive the transport.  curl_global_init must
 * have run.  Returns NULL (after logging why) if libcurl cannot be set up.
 */
struct transport *transport_create(const struct exporter_host *host,
				   transport_decode_fn decode);

/*
 * POSTs body (len bytes, an encoded request carrying nspans spans) and
 * retries as allowed, returning by deadline_ns (CLOCK_MONOTONIC;
 * TRANSPORT_NO_DEADLINE for none).  Updates every counter in
 * host->counters: batches sent/failed/retried, spans exported/failed/
 * rejected and the breaker's.  Returns EXPORTER_OK when the server took
 * the batch (also with partial success), else EXPORTER_FAILED.
 */
enum exporter_result transport_send(struct transport *t, const void *body,
				    size_t len, size_t nspans,
				    uint64_t deadline_ns);

/* Frees the handle; its connections are closed (and un-owned). */
void transport_destroy(struct transport *t);

/* Closes the connection to the backend; the next send reconnects. */
void transport_idle(struct transport *t);

/* ---------------------------------------------------- pure decisions */

/* 1 for the HTTP statuses OTLP/HTTP allows retrying: 429, 502, 503, 504. */
int transport_status_retryable(long status);

/* 1 for a libcurl result (CURLcode) that means the request may not have
 * reached a healthy server and may succeed if sent again. */
int transport_curl_retryable(int curl_code);

/*
 * Parses a Retry-After value (len bytes, not NUL-terminated): delta-seconds
 * or an HTTP-date in any of the three forms RFC 9110 requires recipients to
 * accept, relative to now_unix (seconds since the epoch).  A date in the
 * past gives 0.  Returns 0 and sets *delay_ns, or -EINVAL.
 */
int transport_parse_retry_after(const char *v, size_t len, int64_t now_unix,
				uint64_t *delay_ns);

/*
 * Exponential backoff with full jitter before retry number `retry` (0 for
 * the first retry): uniform in [0, min(1 s * 1.5^retry, 5 s)], drawn from
 * the random word rnd.
 */
uint64_t transport_backoff_ns(unsigned retry, uint64_t rnd);

/*
 * Decides whether to send again after attempt number `attempts` (1 after
 * the first) failed.  retryable: the failure allows a retry; hint_ns: the
 * server's Retry-After, or UINT64_MAX for none (then backoff with rnd).
 * Returns 1 and sets *wait_ns if another attempt fits: fewer than
 * max_attempts made, and waiting still leaves TRANSPORT_MIN_ATTEMPT_NS
 * before deadline_ns.  Returns 0 otherwise: the batch has failed.
 */
int transport_next_retry(unsigned attempts, unsigned max_attempts,
			 int retryable, uint64_t hint_ns, uint64_t rnd,
			 uint64_t now_ns, uint64_t deadline_ns,
			 uint64_t *wait_ns);

/*
 * Timeout in ms for one attempt: min(timeout_ms (0 = none), time left to
 * the deadline), rounded down.  Returns 0 for "no limit" and -1 when less
 * than TRANSPORT_MIN_ATTEMPT_NS is left (do not start the attempt).
 */
long transport_attempt_timeout_ms(uint32_t timeout_ms, uint64_t now_ns,
				  uint64_t deadline_ns);

/*
 * Writes a gzip member (RFC 1952) of in into (buf, cap).  Returns the
 * length, or -ENOSPC if cap is too small (transport_gzip_bound is always
 * enough) or -ENOMEM.
 */
ssize_t transport_gzip(const void *in, size_t len, void *buf, size_t cap);
size_t transport_gzip_bound(size_t len);

/*
 * Best-effort reader of an OTLP/JSON ExportTraceServiceResponse:
 * partialSuccess.rejectedSpans (number or string) and errorMessage.  Same
 * contract as transport_decode_fn; an object without partialSuccess is a
 * full success (*rejected = 0, empty msg).
 */
int transport_decode_json_response(const uint8_t *body, size_t len,
				   int64_t *rejected, char *msg, size_t cap);

/*
 * Copies the message of an error body into (msg, cap) as printable text:
 * google.rpc.Status field 2 for protobuf, "message" for JSON, else the
 * body's printable prefix.  Returns the length written.
 */
size_t transport_error_message(const uint8_t *body, size_t len, int json,
			       char *msg, size_t cap);

/* ------------------------------------------------------------ breaker */

enum transport_breaker_state {
	TRANSPORT_BREAKER_CLOSED = 0,
	TRANSPORT_BREAKER_OPEN = 1,
	TRANSPORT_BREAKER_HALF_OPEN = 2,
};

/*
 * Closed: batches go out; TRANSPORT_BREAKER_THRESHOLD failed batches in a
 * row open it.  Open: batches fail at once, without network traffic,
 * until the cool-down (5 s, doubling on each reopening up to 60 s) ends.
 * Half-open: one batch, one attempt, goes out; success closes the breaker
 * and resets the cool-down, failure reopens it.
 */
struct transport_breaker {
	enum transport_breaker_state state;
	unsigned failures;              /* failed batches in a row */
	uint64_t open_until_ns;
	uint64_t cool_ns;               /* length of the next open period */
	uint64_t opens;
};

void transport_breaker_init(struct transport_breaker *b);

/* Before a batch: 1 if it may use the network (an open breaker whose
 * cool-down is over becomes half-open), 0 to fail it at once. */
int transport_breaker_allow(struct transport_breaker *b, uint64_t now_ns);

/* After a batch that used the network: ok or not.  Returns 1 when this
 * call opened the breaker, so the caller can say so once. */
int transport_breaker_record(struct transport_breaker *b, int ok,
			     uint64_t now_ns);

#endif
