/*
 * The OTLP/HTTP transport against a small HTTP server on 127.0.0.1 run by
 * a thread here: retries and Retry-After, deadlines, headers, gzip,
 * partial success, big bodies both ways, the circuit breaker as the
 * network sees it, and which libcurl results are retried.  Every network
 * test runs twice, once through each sender: the built-in client (an
 * http:// endpoint), then libcurl (chosen because http_proxy is set, and
 * bypassed by no_proxy=*).  Which sender an endpoint gets, and libcurl
 * missing, are tested too.  The decisions themselves are tested on their
 * own (test_retry, test_httpdate, test_gzip, test_otlp_response).  Also
 * run under ThreadSanitizer.
 * links: exporter/transport.c exporter/grpc.c exporter/sender.c exporter/send_http1.c exporter/send_curl.c exporter/curl_api.c exporter/http1.c exporter/retry.c exporter/httpdate.c exporter/gzip.c exporter/otlp_response.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
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

#include <dlfcn.h>

#include <curl/curl.h>

#include "exporter/retry.h"
#include "exporter/curl_api.h"
#include "exporter/send_curl.h"
#include "exporter/sender.h"
#include "exporter/transport.h"
#include "unit.h"
#include "zbody.h"

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

/* The sender the network tests go through: 0 the built-in client, 1
 * libcurl.  Each test runs in a process of its own (CK_FORK). */
static void use_sender(int which)
{
	if (which) {
		setenv("http_proxy", "http://127.0.0.1:1", 1);
		setenv("no_proxy", "*", 1);
	} else {
		unsetenv("http_proxy");
		unsetenv("all_proxy");
		unsetenv("ALL_PROXY");
	}
}

static int curl_loaded(void)
{
	void *h = dlopen(CURL_API_SONAME, RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

/* ------------------------------------------- libcurl results */

START_TEST(curl_codes)
{
	ck_assert(send_curl_retryable(CURLE_COULDNT_CONNECT));
	ck_assert(send_curl_retryable(CURLE_COULDNT_RESOLVE_HOST));
	ck_assert(send_curl_retryable(CURLE_OPERATION_TIMEDOUT));
	ck_assert(send_curl_retryable(CURLE_SEND_ERROR));
	ck_assert(send_curl_retryable(CURLE_RECV_ERROR));
	ck_assert(send_curl_retryable(CURLE_GOT_NOTHING));
	ck_assert(!send_curl_retryable(CURLE_OK));
	ck_assert(!send_curl_retryable(CURLE_URL_MALFORMAT));
	ck_assert(!send_curl_retryable(CURLE_UNSUPPORTED_PROTOCOL));
	ck_assert(!send_curl_retryable(CURLE_PEER_FAILED_VERIFICATION));
	ck_assert(!send_curl_retryable(CURLE_SSL_CACERT_BADFILE));
	ck_assert(!send_curl_retryable(CURLE_OUT_OF_MEMORY));
	ck_assert(!send_curl_retryable(CURLE_TOO_MANY_REDIRECTS));
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

	use_sender(_i);

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
	ck_assert_int_eq(curl_loaded(), _i);     /* the sender asked for */
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, body, len, 7, t0 + 10 * NS, 0),
			 TRANSPORT_SENT);
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
	ck_assert_uint_eq(counters.breaker_state, EXPORTER_BREAKER_CLOSED);
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

	use_sender(_i);

	s.steps[0] = (struct srv_step){ 0, NULL, NULL, 0, 0 };
	srv_start(&s);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 2, t0 + 600 * MS, 0),
			 TRANSPORT_DEFERRED);
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

	use_sender(_i);

	for (i = 0; i < 5; i++)
		s.steps[i] = (struct srv_step){ 0, NULL, NULL, 0, 0 };
	srv_start(&s);
	cfg.otlp_timeout_ms = 200;
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, t0 + 2500 * MS, 0),
			 TRANSPORT_DEFERRED);
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

	use_sender(_i);

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
						now_ns() + 5 * NS, 0),
				 TRANSPORT_DROPPED);
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

	use_sender(_i);

	s.steps[0] = (struct srv_step){ 200, "Content-Type: "
					"application/json\r\n", resp, 0, 0 };
	s.steps[1] = (struct srv_step){ 200, "Content-Type: "
					"application/json\r\n", "{}", 0, 0 };
	srv_start(&s);
	cfg.protocol = CONFIG_PROTOCOL_HTTP_JSON;
	t = transport_create(&host, otlp_response_json);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(transport_send(t, "{}", 2, 10, now_ns() + 5 * NS, 0),
			 TRANSPORT_SENT);
	ck_assert_int_eq(transport_send(t, "{}", 2, 5, now_ns() + 5 * NS, 0),
			 TRANSPORT_SENT);
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

	use_sender(_i);

	s.steps[0] = (struct srv_step){ 200, NULL, NULL, 0,
					TRANSPORT_MAX_RESPONSE + 12345 };
	srv_start(&s);
	t = transport_create(&host, decode_spy);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(transport_send(t, body, len, 1, now_ns() + 5 * NS, 0),
			 TRANSPORT_SENT);
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

	use_sender(_i);

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < RETRY_BREAKER_THRESHOLD; i++) {
		ck_assert_uint_eq(counters.breaker_state,
				  EXPORTER_BREAKER_CLOSED);
		ck_assert_int_eq(transport_send(t, "abc", 3, 1,
						now_ns() + 150 * MS, 0),
				 TRANSPORT_DEFERRED);
	}
	ck_assert_uint_eq(counters.breaker_state, EXPORTER_BREAKER_OPEN);
	ck_assert_uint_eq(counters.breaker_opens, 1);
	ck_assert_int_eq(logs_containing("exports paused for 5 s"), 1);
	/* Connection refused is logged once, not per batch. */
	ck_assert_int_eq(logs_containing("OTLP export failed"), 1);
	opened = fds_opened;
	ck_assert_int_ge(opened, RETRY_BREAKER_THRESHOLD);
	t0 = now_ns();
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(transport_send(t, "abc", 3, 2,
						now_ns() + 5 * NS, 0),
				 TRANSPORT_DEFERRED);
	ck_assert_uint_lt(now_ns() - t0, 50 * MS);
	ck_assert_int_eq(fds_opened, opened);   /* no connection tried */
	ck_assert_uint_eq(counters.batches_failed,
			  RETRY_BREAKER_THRESHOLD + 3);
	ck_assert_uint_eq(counters.spans_failed, 0);
	/* Transient failures: the caller keeps the spans, none counted lost. */
	transport_destroy(t);
	ck_assert_int_eq(fds_opened, fds_closed);
}
END_TEST

static void open_breaker(struct transport *t)
{
	int i;

	for (i = 0; i < RETRY_BREAKER_THRESHOLD; i++)
		ck_assert_int_eq(transport_send(t, "abc", 3, 1,
						now_ns() + 150 * MS, 0),
				 TRANSPORT_DEFERRED);
	ck_assert_uint_eq(counters.breaker_state, EXPORTER_BREAKER_OPEN);
}

START_TEST(breaker_trial_is_one_attempt)
{
	struct transport *t;
	uint64_t retried, t0;

	use_sender(_i);

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	open_breaker(t);
	retried = counters.batches_retried;
	usleep(5100 * 1000);
	/* Refused again; a closed breaker would retry within 3 s (the first
	 * backoff is at most 1 s), the trial must not. */
	t0 = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, now_ns() + 3 * NS, 0),
			 TRANSPORT_DEFERRED);
	ck_assert_uint_lt(now_ns() - t0, 500 * MS);
	ck_assert_uint_eq(counters.batches_retried, retried);
	ck_assert_uint_eq(counters.breaker_state, EXPORTER_BREAKER_OPEN);
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

	use_sender(_i);

	cfg_for_port(port);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	open_breaker(t);
	s.steps[0] = (struct srv_step){ 200, NULL, "", 0, 0 };
	srv_start_on(&s, port);
	/* Still open: fails without reaching the server. */
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, now_ns() + 3 * NS, 0),
			 TRANSPORT_DEFERRED);
	usleep(5100 * 1000);
	ck_assert_int_eq(transport_send(t, "abc", 3, 4, now_ns() + 3 * NS, 0),
			 TRANSPORT_SENT);
	ck_assert_uint_eq(counters.breaker_state, EXPORTER_BREAKER_CLOSED);
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

	use_sender(_i);

	cfg_for_port(free_port());
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	now = now_ns();
	ck_assert_int_eq(transport_send(t, "abc", 3, 3, now - 1, 0),
			 TRANSPORT_DEFERRED);
	ck_assert_int_eq(transport_send(t, "abc", 3, 3, now + 10 * MS, 0),
			 TRANSPORT_DEFERRED);
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

/* ------------------------------------------- which sender, lazily */

static const char *fake_env[2][2];

static char *fake_getenv(const char *name)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (fake_env[i][0] && strcmp(fake_env[i][0], name) == 0)
			return (char *)fake_env[i][1];
	return NULL;
}

START_TEST(sender_selection)
{
	memset(fake_env, 0, sizeof(fake_env));
	ck_assert_ptr_eq(sender_pick("http://127.0.0.1:4318/v1/traces", 0,
				     fake_getenv), &sender_http1);
	/* gRPC is HTTP/2: libcurl's. */
	ck_assert_ptr_eq(sender_pick("http://127.0.0.1:4317/x", 1,
				     fake_getenv), &sender_curl);
	ck_assert_ptr_eq(sender_pick("http://[::1]/v1/traces", 0, fake_getenv),
			 &sender_http1);
	ck_assert_ptr_eq(sender_pick("https://collector:4318/v1/traces", 0,
				     fake_getenv), &sender_curl);
	/* The scheme is case-insensitive (RFC 3986 section 3.1). */
	ck_assert_ptr_eq(sender_pick("HTTP://collector/", 0, fake_getenv),
			 &sender_http1);
	/* Credentials in the URL: the built-in client refuses them. */
	ck_assert_ptr_eq(sender_pick("http://u:p@collector/", 0, fake_getenv),
			 &sender_curl);
	ck_assert_ptr_eq(sender_pick(NULL, 0, fake_getenv), &sender_curl);
	/* A proxy libcurl would use for http:// ... */
	fake_env[0][0] = "http_proxy";
	fake_env[0][1] = "http://proxy:3128";
	ck_assert_ptr_eq(sender_pick("http://collector/", 0, fake_getenv),
			 &sender_curl);
	fake_env[0][0] = "ALL_PROXY";
	ck_assert_ptr_eq(sender_pick("http://collector/", 0, fake_getenv),
			 &sender_curl);
	/* ... but not the capitalised HTTP_PROXY (libcurl ignores it), nor
	 * an empty one. */
	fake_env[0][0] = "HTTP_PROXY";
	ck_assert_ptr_eq(sender_pick("http://collector/", 0, fake_getenv),
			 &sender_http1);
	fake_env[0][0] = "http_proxy";
	fake_env[0][1] = "";
	ck_assert_ptr_eq(sender_pick("http://collector/", 0, fake_getenv),
			 &sender_http1);
}
END_TEST

/* An http:// export never loads libcurl; an https:// endpoint loads it
 * when the transport is created. */
START_TEST(libcurl_loaded_for_https_only)
{
	struct srv s = { .nsteps = 1 };
	struct transport *t;

	use_sender(0);
	ck_assert(!curl_loaded());
	s.steps[0] = (struct srv_step){ 200, NULL, "", 0, 0 };
	srv_start(&s);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(transport_send(t, "abc", 3, 1, now_ns() + 5 * NS, 0),
			 TRANSPORT_SENT);
	transport_destroy(t);
	srv_stop(&s);
	srv_free(&s);
	ck_assert(!curl_loaded());

	cfg.endpoint = "https://127.0.0.1:1/v1/traces";
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert(curl_loaded());
	transport_destroy(t);
	ck_assert_int_eq(nlogs, 0);
}
END_TEST

/* Without libcurl, an https:// endpoint costs one clear error line and no
 * transport (the host then drops spans); nothing else happens. */
START_TEST(libcurl_missing)
{
	struct transport *t;

	use_sender(0);
	send_curl_soname = "libcurl-not-installed.so.4";
	cfg_for_port(1);
	cfg.endpoint = "https://collector.example:4318/v1/traces";
	ck_assert_ptr_null(transport_create(&host, NULL));
	ck_assert_int_eq(nlogs, 1);
	ck_assert_int_eq(logs_containing("https://collector.example:4318/"
					 "v1/traces needs libcurl, which "
					 "cannot be loaded "
					 "(libcurl-not-installed.so.4"), 1);
	ck_assert_int_eq(fds_opened, 0);
	/* A plain endpoint is not affected. */
	cfg_for_port(1);
	t = transport_create(&host, NULL);
	ck_assert_ptr_nonnull(t);
	transport_destroy(t);
	ck_assert(!curl_loaded());
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport");
	TCase *pure = tcase_create("decisions");
	TCase *net = tcase_create("http");

	tcase_add_test(pure, curl_codes);
	tcase_add_test(pure, sender_selection);
	tcase_add_test(pure, libcurl_loaded_for_https_only);
	tcase_add_test(pure, libcurl_missing);
	tcase_set_timeout(net, 30);
	tcase_add_loop_test(net, retry_after_then_success_gzip, 0, 2);
	tcase_add_loop_test(net, dead_peer_bounded_by_deadline, 0, 2);
	tcase_add_loop_test(net, dead_peer_attempt_timeout_retries, 0, 2);
	tcase_add_loop_test(net, bad_request_not_retried_logged_once, 0, 2);
	tcase_add_loop_test(net, partial_success_json, 0, 2);
	tcase_add_loop_test(net, huge_response_is_not_parsed, 0, 2);
	tcase_add_loop_test(net, breaker_fails_fast_without_network, 0, 2);
	tcase_add_loop_test(net, breaker_trial_is_one_attempt, 0, 2);
	tcase_add_loop_test(net, breaker_closes_when_backend_returns, 0, 2);
	tcase_add_loop_test(net, past_deadline_sends_nothing, 0, 2);
	tcase_add_test(net, create_needs_endpoint);
	suite_add_tcase(s, pure);
	suite_add_tcase(s, net);
	return unit_run(s);
}
