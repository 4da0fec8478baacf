/*
 * The OTLP/HTTP transport: the pure decisions (retryable statuses and curl
 * errors, Retry-After, backoff with jitter, deadlines, the circuit breaker,
 * response and error-body reading, gzip) with injected time, and the real
 * thing against a small HTTP server on 127.0.0.1 run by a thread here.
 * links: exporter/transport.c
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "exporter/transport.h"

#define NS 1000000000ull
#define MS 1000000ull

/* ------------------------------------------------------ test host */

static struct config cfg;
static struct exporter_counters counters;
static char endpoint[128];
static char logs[64][512];
static int nlogs;
static int fds_opened, fds_closed;

static void host_log(enum config_log_level lvl, const char *msg)
{
	if (nlogs < 64)
		snprintf(logs[nlogs++], sizeof(logs[0]), "%d %s", (int)lvl,
			 msg);
}

static int host_own_fd(int fd, int owned)
{
	ck_assert_int_ge(fd, 0);
	if (owned)
		fds_opened++;
	else
		fds_closed++;
	return fd;
}

static struct exporter_host host = {
	.cfg = &cfg,
	.counters = &counters,
	.log = host_log,
	.argv = NULL,
	.own_fd = host_own_fd,
};

static int logs_containing(const char *s)
{
	int i, n = 0;

	for (i = 0; i < nlogs; i++)
		n += strstr(logs[i], s) != NULL;
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void cfg_for_port(int port)
{
	memset(&cfg, 0, sizeof(cfg));
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d/v1/traces",
		 port);
	cfg.endpoint = endpoint;
	cfg.otlp_timeout_ms = 10000;
	cfg.protocol = CONFIG_PROTOCOL_HTTP_PROTOBUF;
}

/* ------------------------------------------------ pure: retryable */

START_TEST(statuses)
{
	static const long yes[] = { 429, 502, 503, 504 };
	static const long no[] = { 200, 204, 301, 302, 400, 401, 403, 404,
				   408, 413, 500, 501, 505 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_int_eq(transport_status_retryable(yes[i]), 1);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_int_eq(transport_status_retryable(no[i]), 0);
}
END_TEST

START_TEST(curl_codes)
{
	ck_assert(transport_curl_retryable(CURLE_COULDNT_CONNECT));
	ck_assert(transport_curl_retryable(CURLE_COULDNT_RESOLVE_HOST));
	ck_assert(transport_curl_retryable(CURLE_OPERATION_TIMEDOUT));
	ck_assert(transport_curl_retryable(CURLE_SEND_ERROR));
	ck_assert(transport_curl_retryable(CURLE_RECV_ERROR));
	ck_assert(transport_curl_retryable(CURLE_GOT_NOTHING));
	ck_assert(!transport_curl_retryable(CURLE_OK));
	ck_assert(!transport_curl_retryable(CURLE_URL_MALFORMAT));
	ck_assert(!transport_curl_retryable(CURLE_UNSUPPORTED_PROTOCOL));
	ck_assert(!transport_curl_retryable(CURLE_PEER_FAILED_VERIFICATION));
	ck_assert(!transport_curl_retryable(CURLE_SSL_CACERT_BADFILE));
	ck_assert(!transport_curl_retryable(CURLE_OUT_OF_MEMORY));
	ck_assert(!transport_curl_retryable(CURLE_TOO_MANY_REDIRECTS));
}
END_TEST

/* --------------------------------------------- pure: Retry-After */

static int ra(const char *v, int64_t now, uint64_t *d)
{
	return transport_parse_retry_after(v, strlen(v), now, d);
}

START_TEST(retry_after_seconds)
{
	uint64_t d = 42;

	ck_assert_int_eq(ra("1", 0, &d), 0);
	ck_assert_uint_eq(d, 1 * NS);
	ck_assert_int_eq(ra(" 120 \r\n", 0, &d), 0);
	ck_assert_uint_eq(d, 120 * NS);
	ck_assert_int_eq(ra("0", 0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* Saturates rather than overflowing. */
	ck_assert_int_eq(ra("99999999999999999999999", 0, &d), 0);
	ck_assert_uint_eq(d, 86400 * NS);
	d = 42;
	ck_assert_int_eq(ra("", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("   ", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("1.5", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("-1", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("10s", 0, &d), -EINVAL);
	ck_assert_int_eq(ra("soon", 0, &d), -EINVAL);
	ck_assert_uint_eq(d, 42);
	/* Not NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(transport_parse_retry_after("37xyz", 2, 0, &d), 0);
	ck_assert_uint_eq(d, 37 * NS);
}
END_TEST

START_TEST(retry_after_dates)
{
	const int64_t t0 = 784111777;   /* Sun, 06 Nov 1994 08:49:37 GMT */
	uint64_t d = 42;

	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sunday, 06-Nov-94 08:49:47 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sun Nov  6 08:49:47 1994", t0, &d), 0);
	ck_assert_uint_eq(d, 10 * NS);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:37 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* In the past: retry at once. */
	ck_assert_int_eq(ra("Sat, 05 Nov 1994 08:49:37 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 0);
	/* Day, month and year boundaries. */
	ck_assert_int_eq(ra("Wed, 01 Jan 2025 00:00:00 GMT",
			    1735689600 - 5, &d), 0);
	ck_assert_uint_eq(d, 5 * NS);
	ck_assert_int_eq(ra("Thu, 29 Feb 2024 23:59:59 GMT",
			    1709251199 - 61, &d), 0);
	ck_assert_uint_eq(d, 61 * NS);
	ck_assert_int_eq(ra("Tue, 31 Dec 2024 23:59:59 GMT",
			    1735689599 - 1, &d), 0);
	ck_assert_uint_eq(d, 1 * NS);
	/* Far future: capped at a day. */
	ck_assert_int_eq(ra("Fri, 01 Jan 2100 00:00:00 GMT", t0, &d), 0);
	ck_assert_uint_eq(d, 86400 * NS);

	d = 42;
	ck_assert_int_eq(ra("Sun, 06 Foo 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 32 Nov 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 24:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 UTC", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49:47 GMT x", t0, &d),
			 -EINVAL);
	ck_assert_int_eq(ra("Sun, 06 Nov 1994 08:49", t0, &d), -EINVAL);
	ck_assert_int_eq(ra("Sun Nov  6 08:49:47", t0, &d), -EINVAL);
	ck_assert_int_eq(ra("Sun,06 Nov 1994 08:49:47 GMT", t0, &d),
			 -EINVAL);
	ck_assert_uint_eq(d, 42);
}
END_TEST

/* ------------------------------------------ pure: backoff, deadlines */

static uint64_t cap_for(unsigned retry)
{
	static const uint64_t caps[] = {
		1000 * MS, 1500 * MS, 2250 * MS, 3375 * MS,
	};

	return retry < 4 ? caps[retry] : 5 * NS;
}

START_TEST(backoff_bounds_and_jitter)
{
	uint64_t x = 88172645463325252ull;
	unsigned r;

	for (r = 0; r < 12; r++) {
		uint64_t cap = cap_for(r), lo = UINT64_MAX, hi = 0;
		int i;

		ck_assert_uint_le(transport_backoff_ns(r, 0), cap);
		ck_assert_uint_le(transport_backoff_ns(r, UINT64_MAX), cap);
		ck_assert_uint_eq(transport_backoff_ns(r, cap), cap);
		for (i = 0; i < 2000; i++) {
			uint64_t w;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w = transport_backoff_ns(r, x);
			ck_assert_uint_le(w, cap);
			if (w < lo)
				lo = w;
			if (w > hi)
				hi = w;
		}
		/* Full jitter: the whole range is used. */
		ck_assert_uint_lt(lo, cap / 20);
		ck_assert_uint_gt(hi, cap - cap / 20);
	}
}
END_TEST

START_TEST(next_retry_rules)
{
	uint64_t w = 0, now = 1000 * NS;

	/* Not retryable, or attempts used up. */
	ck_assert_int_eq(transport_next_retry(1, 5, 0, UINT64_MAX, 7, now,
					      TRANSPORT_NO_DEADLINE, &w), 0);
	ck_assert_int_eq(transport_next_retry(5, 5, 1, UINT64_MAX, 7, now,
					      TRANSPORT_NO_DEADLINE, &w), 0);
	ck_assert_int_eq(transport_next_retry(1, 1, 1, UINT64_MAX, 7, now,
					      TRANSPORT_NO_DEADLINE, &w), 0);
	/* Retry-After wins over backoff, exactly. */
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 3 * NS, 7, now,
					      now + 10 * NS, &w), 1);
	ck_assert_uint_eq(w, 3 * NS);
	/* Backoff within its cap. */
	ck_assert_int_eq(transport_next_retry(3, 5, 1, UINT64_MAX,
					      UINT64_MAX - 3, now,
					      TRANSPORT_NO_DEADLINE, &w), 1);
	ck_assert_uint_le(w, cap_for(2));
	/* A Retry-After past the deadline: give up now. */
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 11 * NS, 7, now,
					      now + 10 * NS, &w), 0);
	/* Wait fits but leaves too little for the attempt. */
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 10 * NS - 10 * MS, 7,
					      now, now + 10 * NS, &w), 0);
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 10 * NS -
					      TRANSPORT_MIN_ATTEMPT_NS, 7,
					      now, now + 10 * NS, &w), 1);
	/* Deadline already gone. */
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 0, 7, now, now, &w),
			 0);
	ck_assert_int_eq(transport_next_retry(1, 5, 1, 0, 7, now + 1, now,
					      &w), 0);
}
END_TEST

START_TEST(next_retry_never_past_deadline)
{
	uint64_t x = 0x1234567887654321ull;
	int i, yes = 0;

	for (i = 0; i < 100000; i++) {
		uint64_t now, deadline, hint, w = 0;
		unsigned attempts;
		int r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		now = 1000 * NS + x % (100 * NS);
		deadline = now - 2 * NS + (x >> 20) % (12 * NS);
		hint = (x & 3) == 0 ? (x >> 30) % (8 * NS) : UINT64_MAX;
		attempts = 1 + (unsigned)((x >> 8) % 6);
		r = transport_next_retry(attempts, 5, 1, hint, x * 31, now,
					 deadline, &w);
		if (!r)
			continue;
		yes++;
		ck_assert_uint_lt(now, deadline);
		ck_assert_uint_le(now + w + TRANSPORT_MIN_ATTEMPT_NS,
				  deadline);
		ck_assert_uint_lt(attempts, 5);
		if (hint != UINT64_MAX)
			ck_assert_uint_eq(w, hint);
		else
			ck_assert_uint_le(w, cap_for(attempts - 1));
	}
	ck_assert_int_gt(yes, 1000);
}
END_TEST

START_TEST(attempt_timeouts)
{
	uint64_t now = 50 * NS;

	ck_assert_int_eq(transport_attempt_timeout_ms(10000, now,
						      TRANSPORT_NO_DEADLINE),
			 10000);
	ck_assert_int_eq(transport_attempt_timeout_ms(0, now,
						      TRANSPORT_NO_DEADLINE),
			 0);
	ck_assert_int_eq(transport_attempt_timeout_ms(10000, now,
						      now + 3 * NS), 3000);
	ck_assert_int_eq(transport_attempt_timeout_ms(0, now, now + 3 * NS),
			 3000);
	ck_assert_int_eq(transport_attempt_timeout_ms(700, now, now + 3 * NS),
			 700);
	ck_assert_int_eq(transport_attempt_timeout_ms(700, now,
						      now + 10 * MS), -1);
	ck_assert_int_eq(transport_attempt_timeout_ms(700, now, now), -1);
	ck_assert_int_eq(transport_attempt_timeout_ms(700, now, now - 1), -1);
}
END_TEST

/* ------------------------------------------------- pure: breaker */

START_TEST(breaker_transitions)
{
	struct transport_breaker b;
	uint64_t t = 100 * NS;
	int i;

	transport_breaker_init(&b);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_CLOSED);
	/* Four failures, then a success: stays closed, count restarts. */
	for (i = 0; i < TRANSPORT_BREAKER_THRESHOLD - 1; i++) {
		ck_assert_int_eq(transport_breaker_allow(&b, t), 1);
		ck_assert_int_eq(transport_breaker_record(&b, 0, t), 0);
	}
	ck_assert_int_eq(transport_breaker_record(&b, 1, t), 0);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_CLOSED);
	for (i = 0; i < TRANSPORT_BREAKER_THRESHOLD - 1; i++)
		ck_assert_int_eq(transport_breaker_record(&b, 0, t), 0);
	/* The fifth in a row opens it for 5 s. */
	ck_assert_int_eq(transport_breaker_record(&b, 0, t), 1);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_OPEN);
	ck_assert_uint_eq(b.opens, 1);
	ck_assert_int_eq(transport_breaker_allow(&b, t), 0);
	ck_assert_int_eq(transport_breaker_allow(&b, t + 5 * NS - 1), 0);
	/* Cool-down over: one trial, half-open. */
	ck_assert_int_eq(transport_breaker_allow(&b, t + 5 * NS), 1);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_HALF_OPEN);
	/* Trial fails: open again, for 10 s now. */
	t += 5 * NS;
	ck_assert_int_eq(transport_breaker_record(&b, 0, t), 1);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_OPEN);
	ck_assert_uint_eq(b.opens, 2);
	ck_assert_int_eq(transport_breaker_allow(&b, t + 10 * NS - 1), 0);
	ck_assert_int_eq(transport_breaker_allow(&b, t + 10 * NS), 1);
	/* Keep failing: 20, 40, then 60 s at most. */
	t += 10 * NS;
	transport_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 20 * NS);
	t += 20 * NS;
	ck_assert_int_eq(transport_breaker_allow(&b, t), 1);
	transport_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 40 * NS);
	t += 40 * NS;
	ck_assert_int_eq(transport_breaker_allow(&b, t), 1);
	transport_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 60 * NS);
	t += 60 * NS;
	ck_assert_int_eq(transport_breaker_allow(&b, t), 1);
	transport_breaker_record(&b, 0, t);
	ck_assert_uint_eq(b.open_until_ns - t, 60 * NS);
	/* A successful trial closes it and resets the cool-down. */
	t += 60 * NS;
	ck_assert_int_eq(transport_breaker_allow(&b, t), 1);
	ck_assert_int_eq(transport_breaker_record(&b, 1, t), 0);
	ck_assert_int_eq(b.state, TRANSPORT_BREAKER_CLOSED);
	ck_assert_uint_eq(b.failures, 0);
	for (i = 0; i < TRANSPORT_BREAKER_THRESHOLD - 1; i++)
		transport_breaker_record(&b, 0, t);
	ck_assert_int_eq(transport_breaker_record(&b, 0, t), 1);
	ck_assert_uint_eq(b.open_until_ns - t, 5 * NS);
}
END_TEST

/* --------------------------------------------- pure: bodies, gzip */

static size_t gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	rc = inflate(&zs, Z_FINISH);
	ck_assert_int_eq(rc, Z_STREAM_END);
	ck_assert_uint_eq(zs.avail_in, 0);
	inflateEnd(&zs);
	return zs.total_out;
}

static uint8_t *sample_body(size_t len)
{
	uint8_t *b = malloc(len);
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((i % 61) < 40 ? 'a' + i % 26 : (i * 7) >> 3);
	return b;
}

START_TEST(gzip_round_trip)
{
	static const size_t sizes[] = { 0, 1, 100, 65536, 1000003 };
	size_t k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k], cap = transport_gzip_bound(len);
		uint8_t *in = sample_body(len + 1);
		uint8_t *z = malloc(cap), *out = malloc(len + 16);
		ssize_t n = transport_gzip(in, len, z, cap);

		ck_assert_int_gt(n, 10);
		ck_assert_int_eq(z[0], 0x1f);
		ck_assert_int_eq(z[1], 0x8b);
		ck_assert_uint_eq(gunzip(z, (size_t)n, out, len + 16), len);
		ck_assert_int_eq(memcmp(in, out, len), 0);
		free(in);
		free(z);
		free(out);
	}
	{
		uint8_t *in = sample_body(4096), z[16];

		ck_assert_int_eq(transport_gzip(in, 4096, z, sizeof(z)),
				 -ENOSPC);
		free(in);
	}
	/* Incompressible input still fits the bound. */
	{
		size_t len = 200000, i;
		uint8_t *in = malloc(len), *z, *out = malloc(len);
		uint64_t x = 99;
		ssize_t n;

		for (i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			in[i] = (uint8_t)(x >> 56);
		}
		z = malloc(transport_gzip_bound(len));
		n = transport_gzip(in, len, z, transport_gzip_bound(len));
		ck_assert_int_gt(n, (ssize_t)len);
		ck_assert_uint_eq(gunzip(z, (size_t)n, out, len), len);
		ck_assert_int_eq(memcmp(in, out, len), 0);
		free(in);
		free(z);
		free(out);
	}
}
END_TEST

static int jdec(const char *s, int64_t *rej, char *msg, size_t cap)
{
	return transport_decode_json_response((const uint8_t *)s, strlen(s),
					      rej, msg, cap);
}

START_TEST(json_responses)
{
	int64_t rej = -1;
	char msg[32];

	ck_assert_int_eq(jdec("{}", &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(jdec(" { \"partialSuccess\" : {} } \n", &rej, msg,
			      sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"rejectedSpans\":\"3\","
			      "\"errorMessage\":\"too \\\"old\\\" \\u00e9\"}}",
			      &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 3);
	ck_assert_str_eq(msg, "too \"old\" ?");
	ck_assert_int_eq(jdec("{\"x\":[1,{\"a\":null},\"}\"],"
			      "\"partialSuccess\":{\"other\":{\"r\":[]},"
			      "\"rejectedSpans\":12},\"y\":true}",
			      &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 12);
	ck_assert_str_eq(msg, "");
	/* A long message is cut to the buffer. */
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"errorMessage\":"
			      "\"0123456789012345678901234567890123456789\"}}",
			      &rej, msg, 8), 0);
	ck_assert_str_eq(msg, "0123456");
	ck_assert_int_eq(jdec("", &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{", &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"rejectedSpans\":x}}",
			      &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{} trailing", &rej, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(jdec("<html>", &rej, msg, sizeof(msg)), -EINVAL);
}
END_TEST

START_TEST(error_messages)
{
	/* google.rpc.Status { code: 3, message: "bad id\n" } */
	static const uint8_t pb[] = { 0x08, 0x03, 0x12, 0x07, 'b', 'a', 'd',
				      ' ', 'i', 'd', '\n' };
	static const uint8_t pb_bad[] = { 0x08, 0x03, 0x12, 0x70, 'b' };
	const char *js = "{\"code\":3,\"message\":\"invalid \\u0041\","
			 "\"details\":[]}";
	const char *html = "<html>\r\n<body>Bad Gateway</body>\x01";
	char msg[64];

	ck_assert_uint_eq(transport_error_message(pb, sizeof(pb), 0, msg,
						  sizeof(msg)), 6);
	ck_assert_str_eq(msg, "bad id");
	ck_assert_uint_gt(transport_error_message((const uint8_t *)js,
						  strlen(js), 1, msg,
						  sizeof(msg)), 0);
	ck_assert_str_eq(msg, "invalid A");
	transport_error_message((const uint8_t *)html, strlen(html), 0, msg,
				sizeof(msg));
	ck_assert_str_eq(msg, "<html>  <body>Bad Gateway</body>?");
	/* A truncated protobuf falls back to the printable text. */
	transport_error_message(pb_bad, sizeof(pb_bad), 0, msg, sizeof(msg));
	ck_assert_str_eq(msg, "???pb");
	ck_assert_uint_eq(transport_error_message(pb, 0, 0, msg, sizeof(msg)),
			  0);
	ck_assert_str_eq(msg, "");
	transport_error_message(pb, sizeof(pb), 0, msg, 4);
	ck_assert_str_eq(msg, "bad");
}
END_TEST

/* ------------------------------------------- the real HTTP server */

#define SRV_MAX 8

struct srv_step {
	int status;                     /* 0: read the request, never answer */
	const char *headers;            /* extra lines, each ending \r\n */
	const char *body;
	size_t body_len;                /* 0: strlen(body) */
	size_t big;                     /* >0: send this many 'x' as body */
};

struct srv_req {
	char head[4096];
	uint8_t *body;
	size_t body_len;
};

struct srv {
	int lfd, port;
	pthread_t th;
	struct srv_step steps[SRV_MAX];
	int nsteps;
	struct srv_req reqs[SRV_MAX];
	int nreqs;
	int accepts;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one request from fd into r; returns 0, or -1 on EOF/error/timeout. */
static int read_request(int fd, struct srv_req *r)
{
	size_t cap = 4 << 20, have = 0, clen = 0, hlen = 0;
	char *buf = malloc(cap), *end = NULL, *cl;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		if (end && have >= hlen + clen)
			break;
		if (poll(&pfd, 1, 10000) <= 0 || have == cap)
			goto fail;
		n = recv(fd, buf + have, cap - have, 0);
		if (n <= 0)
			goto fail;
		have += (size_t)n;
		if (!end) {
			end = memmem(buf, have, "\r\n\r\n", 4);
			if (!end)
				continue;
			hlen = (size_t)(end - buf) + 4;
			if (hlen >= sizeof(r->head))
				goto fail;
			memcpy(r->head, buf, hlen);
			r->head[hlen] = '\0';
			cl = strcasestr(r->head, "\r\nContent-Length:");
			clen = cl ? strtoul(cl + 17, NULL, 10) : 0;
		}
	}
	r->body = malloc(clen + 1);
	memcpy(r->body, buf + hlen, clen);
	r->body_len = clen;
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int respond(int fd, const struct srv_step *st)
{
	char head[512];
	size_t blen = st->big ? st->big :
		      st->body_len ? st->body_len :
		      st->body ? strlen(st->body) : 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Whatever\r\nContent-Length: %zu\r\n"
			 "%s\r\n", st->status, blen,
			 st->headers ? st->headers : "");

	if (write_all(fd, head, (size_t)n))
		return -1;
	if (st->big) {
		char chunk[65536];
		size_t left = st->big;

		memset(chunk, 'x', sizeof(chunk));
		while (left > 0) {
			size_t k = left < sizeof(chunk) ? left : sizeof(chunk);

			if (write_all(fd, chunk, k))
				return -1;
			left -= k;
		}
		return 0;
	}
	return blen ? write_all(fd, st->body, blen) : 0;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (s->nreqs < s->nsteps) {
		struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
		int fd;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			break;
		s->accepts++;
		/* Serve requests on this connection while it lasts. */
		while (s->nreqs < s->nsteps) {
			const struct srv_step *st = &s->steps[s->nreqs];

			if (read_request(fd, &s->reqs[s->nreqs]))
				break;
			s->nreqs++;
			if (st->status == 0) {
				/* The dead peer: wait for the client to
				 * give up and close. */
				char c;

				pfd.fd = fd;
				pfd.events = POLLIN;
				if (poll(&pfd, 1, 10000) > 0)
					(void)!recv(fd, &c, 1, 0);
				break;
			}
			if (respond(fd, st))
				break;
		}
		close(fd);
	}
	return NULL;
}

/* Listens on 127.0.0.1:port (0: any free port) and points cfg at it. */
static void srv_start_on(struct srv *s, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->lfd, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->lfd, 8), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&a, &alen),
			 0);
	s->port = ntohs(a.sin_port);
	cfg_for_port(s->port);
	ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_start(struct srv *s)
{
	srv_start_on(s, 0);
}

static void srv_stop(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static void srv_free(struct srv *s)
{
	int i;

	for (i = 0; i < s->nreqs; i++)
		free(s->reqs[i].body);
}

static int has_header(const struct srv_req *r, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	return strcasestr(r->head, want) != NULL;
}

/* ------------------------------------------------- real-socket tests */

START_TEST(retry_after_then_success_gzip)
{
	struct srv s = { .nsteps = 2 };
	struct transport *t;
	size_t len = 65536;
	uint8_t *body = sample_body(len), *plain = malloc(len + 16);
	uint64_t t0, dt;
	int i;

	s.steps[0] = (struct srv_step){ 503, "Retry-After: 1\r\n",
					"busy", 0, 0 };
	s.steps[1] = (struct srv_step){ 200, "Content-Type: "
					"application/x-protobuf\r\n", "", 0,
					0 };
	srv_start(&s);
	cfg.gzip = 1;
	cfg.headers[0] = (struct config_kv){ "X-Scope-OrgID", "tenant1" };
	cfg.headers[1] = (struct config_kv){ "api-key", "" };
	cfg.headers[2] = (struct config_kv){ "Content-Type", "text/plain" };
	cfg.headers[3] = (struct config_kv){ "x-evil", "a\r\nInjected: 1" };
	cfg.n_headers = 4;
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, body, len, 7, t0 + 10 * NS),
			 EXPORTER_OK);
	dt = now_ns() - t0;
	/* Waited the server's one second, not a random backoff. */
	ck_assert_uint_ge(dt, 950 * MS);
	ck_assert_uint_lt(dt, 3 * NS);
	transport_destroy(t);
	srv_stop(&s);

	ck_assert_int_eq(s.nreqs, 2);
	ck_assert_int_eq(s.accepts, 1);         /* kept alive */
	ck_assert_uint_eq(counters.batches_retried, 1);
	ck_assert_uint_eq(counters.batches_sent, 1);
	ck_assert_uint_eq(counters.batches_failed, 0);
	ck_assert_uint_eq(counters.spans_exported, 7);
	ck_assert_uint_eq(counters.spans_failed, 0);
	ck_assert_uint_eq(counters.breaker_state, TRANSPORT_BREAKER_CLOSED);
	for (i = 0; i < 2; i++) {
		const struct srv_req *r = &s.reqs[i];

		ck_assert_msg(strncmp(r->head, "POST /v1/traces HTTP/1.1\r\n",
				      26) == 0, "%s", r->head);
		ck_assert(has_header(r, "Content-Type: "
				     "application/x-protobuf"));
		ck_assert(has_header(r, "Content-Encoding: gzip"));
		ck_assert(has_header(r, "X-Scope-OrgID: tenant1"));
		ck_assert(has_header(r, "api-key:"));
		ck_assert(has_header(r, "User-Agent: OTel-OTLP-Exporter-C/"
				     OTELSHIM_VERSION " otelshim/"
				     OTELSHIM_VERSION));
		ck_assert_ptr_null(strcasestr(r->head, "\r\nExpect:"));
		ck_assert_ptr_null(strcasestr(r->head, "Injected"));
		ck_assert_ptr_null(strcasestr(r->head, "text/plain"));
		ck_assert_uint_lt(r->body_len, len / 2);
		ck_assert_uint_eq(gunzip(r->body, r->body_len, plain,
					 len + 16), len);
		ck_assert_int_eq(memcmp(plain, body, len), 0);
	}
	/* Every socket went through the host, and was handed back. */
	ck_assert_int_ge(fds_opened, 1);
	ck_assert_int_eq(fds_opened, fds_closed);
	/* The two refused headers were reported. */
	ck_assert_int_eq(logs_containing("OTLP header"), 2);
	free(body);
	free(plain);
	srv_free(&s);
}
END_TEST

START_TEST(dead_peer_bounded_by_deadline)
{
	struct srv s = { .nsteps = 1 };
	struct transport *t;
	uint64_t t0, dt;

	s.steps[0] = (struct srv_step){ 0, NULL, NULL, 0, 0 };
	srv_start(&s);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 2, t0 + 600 * MS),
			 EXPORTER_RETRY_LATER);
	dt = now_ns() - t0;
	ck_assert_uint_ge(dt, 500 * MS);
	ck_assert_uint_lt(dt, 850 * MS);
	transport_destroy(t);
	srv_stop(&s);
	ck_assert_int_eq(s.nreqs, 1);
	ck_assert_uint_eq(counters.batches_failed, 1);
	ck_assert_uint_eq(counters.spans_failed, 0)  /* kept by the caller */;
	ck_assert_int_eq(logs_containing("OTLP export failed"), 1);
	srv_free(&s);
}
END_TEST

START_TEST(dead_peer_attempt_timeout_retries)
{
	struct srv s = { .nsteps = 5 };
	struct transport *t;
	uint64_t t0, dt;
	int i;

	for (i = 0; i < 5; i++)
		s.steps[i] = (struct srv_step){ 0, NULL, NULL, 0, 0 };
	srv_start(&s);
	cfg.otlp_timeout_ms = 200;
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, t0 + 2500 * MS),
			 EXPORTER_RETRY_LATER);
	dt = now_ns() - t0;
	ck_assert_uint_lt(dt, 2750 * MS);
	transport_destroy(t);
	/* Let the server's pending accept run out. */
	shutdown(s.lfd, SHUT_RDWR);
	srv_stop(&s);
	/* Each attempt gave up after its own 200 ms, and timed-out attempts
	 * are retried while the deadline allows. */
	ck_assert_int_ge(s.nreqs, 1);
	ck_assert_uint_eq(counters.batches_retried, (uint64_t)s.nreqs - 1);
	ck_assert_uint_eq(counters.batches_failed, 1);
	srv_free(&s);
}
END_TEST

START_TEST(bad_request_not_retried_logged_once)
{
	static const uint8_t status[] = { 0x08, 0x03, 0x12, 0x0a, 'b', 'a',
					  'd', ' ', 's', 'p', 'a', 'n', 'i',
					  'd' };
	struct srv s = { .nsteps = 3 };
	struct transport *t;
	int i;

	for (i = 0; i < 2; i++)
		s.steps[i] = (struct srv_step){
			400, "Content-Type: application/x-protobuf\r\n",
			(const char *)status, sizeof(status), 0 };
	s.steps[2] = (struct srv_step){ 302, "Location: http://127.0.0.1:1/"
					"\r\n", "", 0, 0 };
	srv_start(&s);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(transport_send(t, "abc", 3, 4,
						now_ns() + 5 * NS),
				 EXPORTER_FAILED);
	transport_destroy(t);
	srv_stop(&s);
	ck_assert_int_eq(s.nreqs, 3);
	ck_assert_uint_eq(counters.batches_retried, 0);
	ck_assert_uint_eq(counters.batches_failed, 3);
	ck_assert_uint_eq(counters.spans_failed, 12);
	ck_assert_int_eq(logs_containing("HTTP 400: bad spanid"), 1);
	/* The redirect was reported, not followed. */
	ck_assert_int_eq(logs_containing("HTTP 302"), 1);
	ck_assert_int_eq(s.accepts, 1);
	srv_free(&s);
}
END_TEST

START_TEST(partial_success_json)
{
	static const char resp[] = "{\"partialSuccess\":{\"rejectedSpans\":"
				   "\"2\",\"errorMessage\":\"too old\"}}";
	struct srv s = { .nsteps = 2 };
	struct transport *t;

	s.steps[0] = (struct srv_step){ 200, "Content-Type: "
					"application/json\r\n", resp, 0, 0 };
	s.steps[1] = (struct srv_step){ 200, "Content-Type: "
					"application/json\r\n", "{}", 0, 0 };
	srv_start(&s);
	cfg.protocol = CONFIG_PROTOCOL_HTTP_JSON;
	t = transport_create(&host, transport_decode_json_response);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(transport_send(t, "{}", 2, 10, now_ns() + 5 * NS),
			 EXPORTER_OK);
	ck_assert_int_eq(transport_send(t, "{}", 2, 5, now_ns() + 5 * NS),
			 EXPORTER_OK);
	transport_destroy(t);
	srv_stop(&s);
	ck_assert(has_header(&s.reqs[0], "Content-Type: application/json"));
	ck_assert_ptr_null(strcasestr(s.reqs[0].head, "Content-Encoding"));
	ck_assert_uint_eq(s.reqs[0].body_len, 2);
	ck_assert_uint_eq(counters.batches_sent, 2);
	ck_assert_uint_eq(counters.batches_retried, 0);
	ck_assert_uint_eq(counters.spans_rejected, 2);
	ck_assert_uint_eq(counters.spans_exported, 13);
	ck_assert_int_eq(logs_containing("2 of 10 spans rejected: too old"),
			 1);
	srv_free(&s);
}
END_TEST

static int decode_called;

static int decode_spy(const uint8_t *body, size_t len, int64_t *rejected,
		      char *msg, size_t cap)
{
	decode_called++;
	*rejected = 0;
	if (cap)
		msg[0] = '\0';
	return 0;
}

/* Big both ways: a 2 MiB request goes out without "Expect: 100-continue"
 * (libcurl adds it above 1 MiB), a 4 MiB+ response is not parsed. */
START_TEST(huge_response_is_not_parsed)
{
	struct srv s = { .nsteps = 1 };
	struct transport *t;
	size_t len = 2 << 20;
	uint8_t *body = sample_body(len);

	s.steps[0] = (struct srv_step){ 200, NULL, NULL, 0,
					TRANSPORT_MAX_RESPONSE + 12345 };
	srv_start(&s);
	t = transport_create(&host, decode_spy);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(transport_send(t, body, len, 1, now_ns() + 5 * NS),
			 EXPORTER_OK);
	transport_destroy(t);
	srv_stop(&s);
	ck_assert_ptr_null(strcasestr(s.reqs[0].head, "\r\nExpect:"));
	ck_assert_uint_eq(s.reqs[0].body_len, len);
	ck_assert_int_eq(memcmp(s.reqs[0].body, body, len), 0);
	free(body);
	ck_assert_int_eq(decode_called, 0);
	ck_assert_uint_eq(counters.batches_sent, 1);
	srv_free(&s);
}
END_TEST

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

START_TEST(breaker_fails_fast_without_network)
{
	struct transport *t;
	uint64_t t0;
	int i, opened;

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < TRANSPORT_BREAKER_THRESHOLD; i++) {
		ck_assert_uint_eq(counters.breaker_state,
				  TRANSPORT_BREAKER_CLOSED);
		ck_assert_int_eq(transport_send(t, "abc", 3, 1,
						now_ns() + 150 * MS),
				 EXPORTER_RETRY_LATER);
	}
	ck_assert_uint_eq(counters.breaker_state, TRANSPORT_BREAKER_OPEN);
	ck_assert_uint_eq(counters.breaker_opens, 1);
	ck_assert_int_eq(logs_containing("exports paused for 5 s"), 1);
	/* Connection refused is logged once, not per batch. */
	ck_assert_int_eq(logs_containing("OTLP export failed"), 1);
	opened = fds_opened;
	ck_assert_int_ge(opened, TRANSPORT_BREAKER_THRESHOLD);
	t0 = now_ns();
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(transport_send(t, "abc", 3, 2,
						now_ns() + 5 * NS),
				 EXPORTER_RETRY_LATER);
	ck_assert_uint_lt(now_ns() - t0, 50 * MS);
	ck_assert_int_eq(fds_opened, opened);   /* no connection tried */
	ck_assert_uint_eq(counters.batches_failed,
			  TRANSPORT_BREAKER_THRESHOLD + 3);
	ck_assert_uint_eq(counters.spans_failed, 0);
	/* Transient failures: the caller keeps the spans, none counted lost. */
	transport_destroy(t);
	ck_assert_int_eq(fds_opened, fds_closed);
}
END_TEST

static void open_breaker(struct transport *t)
{
	int i;

	for (i = 0; i < TRANSPORT_BREAKER_THRESHOLD; i++)
		ck_assert_int_eq(transport_send(t, "abc", 3, 1,
						now_ns() + 150 * MS),
				 EXPORTER_RETRY_LATER);
	ck_assert_uint_eq(counters.breaker_state, TRANSPORT_BREAKER_OPEN);
}

START_TEST(breaker_trial_is_one_attempt)
{
	struct transport *t;
	uint64_t retried, t0;

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	open_breaker(t);
	retried = counters.batches_retried;
	usleep(5100 * 1000);
	/* Refused again; a closed breaker would retry within 3 s (the first
	 * backoff is at most 1 s), the trial must not. */
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, now_ns() + 3 * NS),
			 EXPORTER_RETRY_LATER);
	ck_assert_uint_lt(now_ns() - t0, 500 * MS);
	ck_assert_uint_eq(counters.batches_retried, retried);
	ck_assert_uint_eq(counters.breaker_state, TRANSPORT_BREAKER_OPEN);
	ck_assert_uint_eq(counters.breaker_opens, 2);
	/* Reopened quietly: the warning was said the first time. */
	ck_assert_int_eq(logs_containing("2 OTLP endpoint failing"), 1);
	ck_assert_int_eq(logs_containing("4 OTLP endpoint failing: exports "
					 "paused for 10 s"), 1);
	transport_destroy(t);
}
END_TEST

START_TEST(breaker_closes_when_backend_returns)
{
	struct srv s = { .nsteps = 1 };
	struct transport *t;
	int port = free_port();

	cfg_for_port(port);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	open_breaker(t);
	s.steps[0] = (struct srv_step){ 200, NULL, "", 0, 0 };
	srv_start_on(&s, port);
	/* Still open: fails without reaching the server. */
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, now_ns() + 3 * NS),
			 EXPORTER_RETRY_LATER);
	usleep(5100 * 1000);
	ck_assert_int_eq(transport_send(t, "abc", 3, 4, now_ns() + 3 * NS),
			 EXPORTER_OK);
	ck_assert_uint_eq(counters.breaker_state, TRANSPORT_BREAKER_CLOSED);
	ck_assert_uint_eq(counters.breaker_opens, 1);
	ck_assert_uint_eq(counters.spans_exported, 4);
	ck_assert_int_eq(logs_containing("OTLP exports resumed"), 1);
	transport_destroy(t);
	srv_stop(&s);
	ck_assert_int_eq(s.nreqs, 1);
	srv_free(&s);
}
END_TEST

START_TEST(past_deadline_sends_nothing)
{
	struct transport *t;
	uint64_t now;

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	now = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 3, now - 1),
			 EXPORTER_RETRY_LATER);
	ck_assert_int_eq(transport_send(t, "abc", 3, 3, now + 10 * MS),
			 EXPORTER_RETRY_LATER);
	ck_assert_int_eq(fds_opened, 0);
	ck_assert_uint_eq(counters.spans_failed, 0);
	transport_destroy(t);
}
END_TEST

START_TEST(create_needs_endpoint)
{
	memset(&cfg, 0, sizeof(cfg));
	ck_assert_ptr_null(transport_create(&host, NULL));
	ck_assert_int_eq(logs_containing("no OTLP endpoint"), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport");
	TCase *pure = tcase_create("decisions");
	TCase *net = tcase_create("http");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_add_test(pure, statuses);
	tcase_add_test(pure, curl_codes);
	tcase_add_test(pure, retry_after_seconds);
	tcase_add_test(pure, retry_after_dates);
	tcase_add_test(pure, backoff_bounds_and_jitter);
	tcase_add_test(pure, next_retry_rules);
	tcase_add_test(pure, next_retry_never_past_deadline);
	tcase_add_test(pure, attempt_timeouts);
	tcase_add_test(pure, breaker_transitions);
	tcase_add_test(pure, gzip_round_trip);
	tcase_add_test(pure, json_responses);
	tcase_add_test(pure, error_messages);
	tcase_set_timeout(net, 30);
	tcase_add_test(net, retry_after_then_success_gzip);
	tcase_add_test(net, dead_peer_bounded_by_deadline);
	tcase_add_test(net, dead_peer_attempt_timeout_retries);
	tcase_add_test(net, bad_request_not_retried_logged_once);
	tcase_add_test(net, partial_success_json);
	tcase_add_test(net, huge_response_is_not_parsed);
	tcase_add_test(net, breaker_fails_fast_without_network);
	tcase_add_test(net, breaker_trial_is_one_attempt);
	tcase_add_test(net, breaker_closes_when_backend_returns);
	tcase_add_test(net, past_deadline_sends_nothing);
	tcase_add_test(net, create_needs_endpoint);
	suite_add_tcase(s, pure);
	suite_add_tcase(s, net);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
