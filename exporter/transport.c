/*
 * OTLP/HTTP over libcurl (see transport.h): one easy handle per exporter,
 * reused so the connection stays alive between batches.  What to retry,
 * how long to wait and when to stop trying is retry.c's to decide, what
 * the server said is otlp_response.c's to read; this file performs the
 * attempts, sleeps, counts and logs.  Runs on the exporter thread only.
 *
 * Sockets are opened and closed by callbacks here so the host can mark them
 * as the exporter's own: the hooks in libotelshim.so must never trace them.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/text.h"
#include "gzip.h"
#include "httpdate.h"
#include "retry.h"
#include "transport.h"

#ifndef OTELSHIM_VERSION
#define OTELSHIM_VERSION "0.0.0"
#endif

/* RFC 9110 product tokens: the OTLP exporter SHOULD-form first. */
#define USER_AGENT "OTel-OTLP-Exporter-C/" OTELSHIM_VERSION \
	" otelshim/" OTELSHIM_VERSION

/* Used when neither a deadline nor OTEL_EXPORTER_OTLP_TIMEOUT bounds an
 * attempt: connect within this, and give up on a peer that sends nothing
 * for LOW_SPEED_SECONDS. */
#define FALLBACK_CONNECT_MS 30000L
#define LOW_SPEED_SECONDS   30L

#define LOGGED_MAX        32
#define PARTIAL_LOG_NS    60000000000ull   /* one partial-success line/min */
#define MSG_MAX           256
#define RETRY_AFTER_MAX   64

struct transport {
	struct exporter_host host;
	const struct config *cfg;
	otlp_response_fn decode;
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];

	/* The current attempt's response: body (at most TRANSPORT_MAX_RESPONSE
	 * kept, the rest discarded) and its Retry-After header. */
	uint8_t *resp;
	size_t resp_len, resp_cap;
	int resp_truncated;
	char retry_after[RETRY_AFTER_MAX];
	size_t retry_after_len;
	int has_retry_after;

	uint8_t *zbuf;                  /* gzip output, reused */
	size_t zcap;

	struct retry_breaker br;
	uint64_t rng;

	/* Failures already logged: HTTP statuses as themselves, curl codes
	 * as -1 - code. */
	int logged[LOGGED_MAX];
	size_t nlogged;
	uint64_t partial_logged_ns;
	unsigned partial_suppressed;
};

/* What one attempt came to. */
struct attempt {
	CURLcode rc;
	long status;            /* when rc == CURLE_OK */
	int json_body;          /* the response says it is JSON */
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

/*
 * Transient: the name did not resolve (a collector container still
 * starting, a DNS hiccup), the connection could not be made or broke, the
 * peer closed without a response, or the attempt timed out.  Everything
 * else is a configuration or local problem (malformed URL, unsupported
 * scheme, TLS handshake or certificate failure, out of memory, a 3xx we do
 * not follow) that sending the same request again cannot fix; the next
 * batch tries again anyway, and the breaker stops the waste.
 */
int transport_curl_retryable(int curl_code)
{
	switch (curl_code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* ------------------------------------------------------ libcurl glue */

/*
 * libcurl creates every connection's socket here, on the exporter thread,
 * so the host can mark it as ours before it carries a byte.  SOCK_CLOEXEC:
 * a program that execs must not hand our connection to its child.
 */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
				 struct curl_sockaddr *addr)
{
	struct transport *t = arg;
	int fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		    addr->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (t->host.own_fd)
		fd = t->host.own_fd(fd, 1);
	return fd;
}

/* Un-marks before closing: once closed, the number may at once belong to
 * a descriptor of the program's that must not look like ours. */
static int close_socket(void *arg, curl_socket_t fd)
{
	struct transport *t = arg;

	if (t->host.own_fd)
		t->host.own_fd(fd, 0);
	return close(fd);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transport *t = arg;
	size_t n = size * nmemb, room;

	/* Always claim the bytes: refusing them would turn a 200 with a big
	 * body into a failed transfer.  Past the limit they are dropped. */
	if (t->resp_len + n > t->resp_cap &&
	    t->resp_cap < TRANSPORT_MAX_RESPONSE) {
		size_t want = t->resp_cap ? t->resp_cap : 4096;
		uint8_t *nb;

		while (want < t->resp_len + n && want < TRANSPORT_MAX_RESPONSE)
			want *= 2;
		if (want > TRANSPORT_MAX_RESPONSE)
			want = TRANSPORT_MAX_RESPONSE;
		nb = realloc(t->resp, want);
		if (nb) {
			t->resp = nb;
			t->resp_cap = want;
		}
	}
	room = t->resp_cap - t->resp_len;
	if (n > room) {
		t->resp_truncated = 1;
		n = room;
	}
	memcpy(t->resp + t->resp_len, data, n);
	t->resp_len += n;
	return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const struct str name = STR_LIT("retry-after:");
	struct transport *t = arg;
	size_t n = size * nmemb, vlen;

	/* A new status line: forget what an interim response said. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		t->has_retry_after = 0;
		return n;
	}
	if (!str_starts_nocase((struct str){ data, n }, name))
		return n;
	vlen = n - name.n;
	if (vlen >= sizeof(t->retry_after))
		vlen = sizeof(t->retry_after) - 1;
	memcpy(t->retry_after, data + name.n, vlen);
	t->retry_after[vlen] = '\0';
	t->retry_after_len = vlen;
	t->has_retry_after = 1;
	return n;
}

/* Headers we set from the request itself; a user value would lie about
 * the body. */
static int header_reserved(const char *key)
{
	static const char *const reserved[] = {
		"content-type", "content-encoding", "content-length",
		"transfer-encoding", "expect", "host",
	};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (str_is(str_of(key), reserved[i]))
			return 1;
	return 0;
}

/* Appends line to *l; 0, or -ENOMEM (and *l is kept). */
static int add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *nl = curl_slist_append(*l, line);

	if (!nl)
		return -ENOMEM;
	*l = nl;
	return 0;
}

/* One OTEL_EXPORTER_OTLP_HEADERS entry as a curl header line, or a
 * warning and nothing when it is not allowed or too long. */
static int add_user_header(struct transport *t, struct curl_slist **l,
			   size_t i)
{
	const char *k = t->cfg->headers[i].key;
	const char *v = t->cfg->headers[i].value ? t->cfg->headers[i].value
						  : "";
	char line[1024];
	int n;

	if (!k || !*k || strchr(k, ':') || strpbrk(k, "\r\n") ||
	    strpbrk(v, "\r\n") || header_reserved(k)) {
		tlog(t, CONFIG_LOG_WARN,
		     "OTLP header #%zu ignored: name or value not allowed",
		     i + 1);
		return 0;
	}
	/* "Name;" is curl's way to send a header with no value. */
	if (*v)
		n = snprintf(line, sizeof(line), "%s: %s", k, v);
	else
		n = snprintf(line, sizeof(line), "%s;", k);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		tlog(t, CONFIG_LOG_WARN, "OTLP header %s ignored: too long", k);
		return 0;
	}
	return add_header(l, line);
}

static int build_headers(struct transport *t)
{
	const struct config *cfg = t->cfg;
	struct curl_slist *l = NULL;
	size_t i;

	if (add_header(&l, cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON ?
		       "Content-Type: application/json" :
		       "Content-Type: application/x-protobuf"))
		goto fail;
	/* No "Expect: 100-continue": the round trip costs more than the
	 * body, and some proxies answer it badly. */
	if (add_header(&l, "Expect:"))
		goto fail;
	if (cfg->gzip && add_header(&l, "Content-Encoding: gzip"))
		goto fail;
	for (i = 0; i < cfg->n_headers && i < CONFIG_MAX_HEADERS; i++)
		if (add_user_header(t, &l, i))
			goto fail;
	t->headers = l;
	return 0;
fail:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* The options that never change between requests. */
static int setup_handle(struct transport *t)
{
	const struct config *cfg = t->cfg;
	CURL *c = t->curl;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) \
		rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_URL, cfg->endpoint);
	SET(CURLOPT_ERRORBUFFER, t->errbuf);
	SET(CURLOPT_HTTPHEADER, t->headers);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_POST, 1L);
	/* Redirects are not followed: OTLP defines none; following would
	 * send the configured headers (API keys, tenant ids) to whatever
	 * host the redirect names, and curl would turn the POST into a GET
	 * on 301/302.  A 3xx is a misconfigured endpoint: fail and log. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->certificate)
		SET(CURLOPT_CAINFO, cfg->certificate);
	if (cfg->client_certificate)
		SET(CURLOPT_SSLCERT, cfg->client_certificate);
	if (cfg->client_key)
		SET(CURLOPT_SSLKEY, cfg->client_key);
	/* A peer that accepts and then sends nothing is dropped even when no
	 * timeout applies. */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, t);
	SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	SET(CURLOPT_CLOSESOCKETDATA, t);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, t);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, t);
#undef SET
	if (rc != CURLE_OK) {
		tlog(t, CONFIG_LOG_ERROR, "libcurl setup failed: %s",
		     curl_easy_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

struct transport *transport_create(const struct exporter_host *host,
				   otlp_response_fn decode)
{
	struct transport *t;
	struct timespec ts;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->host = *host;
	t->cfg = host->cfg;
	t->decode = decode;
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
	t->curl = curl_easy_init();
	if (!t->curl) {
		tlog(t, CONFIG_LOG_ERROR, "libcurl: cannot create a handle");
		goto fail;
	}
	if (build_headers(t) || setup_handle(t))
		goto fail;
	publish_breaker(t);
	return t;
fail:
	transport_destroy(t);
	return NULL;
}

void transport_destroy(struct transport *t)
{
	if (!t)
		return;
	if (t->curl)
		curl_easy_cleanup(t->curl);
	curl_slist_free_all(t->headers);
	free(t->resp);
	free(t->zbuf);
	free(t);
}

void transport_idle(struct transport *t)
{
	/* Cleaning the handle up closes its connections (through our
	 * close-socket callback); setup_handle() builds a new one. */
	if (t && t->curl) {
		curl_easy_cleanup(t->curl);
		t->curl = NULL;
	}
}

/* ----------------------------------------------------------- one batch */

static int attempt_ok(const struct attempt *a)
{
	return a->rc == CURLE_OK && a->status >= 200 && a->status < 300;
}

static void perform(struct transport *t, long timeout_ms, struct attempt *a)
{
	char *ctype = NULL;

	t->resp_len = 0;
	t->resp_truncated = 0;
	t->has_retry_after = 0;
	t->errbuf[0] = '\0';
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 timeout_ms ? timeout_ms : FALLBACK_CONNECT_MS);
	a->status = 0;
	a->json_body = t->cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON;
	a->rc = curl_easy_perform(t->curl);
	if (a->rc != CURLE_OK)
		return;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &ctype) ==
	    CURLE_OK && ctype)
		a->json_body = strstr(ctype, "json") != NULL;
}

/* The failed attempt's Retry-After as a wait, or UINT64_MAX for none. */
static uint64_t retry_after_hint(struct transport *t)
{
	struct timespec wall;
	uint64_t wait;

	if (!t->has_retry_after)
		return UINT64_MAX;
	clock_gettime(CLOCK_REALTIME, &wall);
	if (httpdate_retry_after(t->retry_after, t->retry_after_len,
				 wall.tv_sec, &wait) != 0)
		return UINT64_MAX;
	return wait;
}

/*
 * Sends the body set on the handle, again while retry_next allows it.
 * Returns the number of attempts made; *a is the last one, *retryable
 * whether its failure allowed a retry.
 */
static unsigned attempt_all(struct transport *t, unsigned max_attempts,
			    uint64_t deadline_ns, struct attempt *a,
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
		perform(t, tmo, a);
		attempts++;
		if (attempt_ok(a))
			break;
		if (a->rc == CURLE_OK) {
			*retryable = retry_status_retryable(a->status);
			if (*retryable)
				hint = retry_after_hint(t);
		} else {
			*retryable = transport_curl_retryable((int)a->rc);
		}
		now = mono_ns();
		if (aborted(t) ||
		    !retry_next(attempts, max_attempts, *retryable, hint,
				next_rand(t), now, deadline_ns, &wait))
			break;
		COUNT(t, batches_retried, 1);
		tlog(t, CONFIG_LOG_DEBUG,
		     "OTLP export: %s %ld, retry in %llu ms",
		     a->rc == CURLE_OK ? "HTTP" : "curl error",
		     a->rc == CURLE_OK ? a->status : (long)a->rc,
		     (unsigned long long)(wait / 1000000ull));
		sleep_until(t, now + wait);
		now = mono_ns();
	}
	return attempts;
}

static void log_failure(struct transport *t, const struct attempt *a,
			unsigned attempts)
{
	char msg[MSG_MAX];

	if (a->rc != CURLE_OK) {
		if (!first_time(t, -1 - (int)a->rc))
			return;
		tlog(t, CONFIG_LOG_WARN,
		     "OTLP export failed after %u attempt%s: %s%s%s",
		     attempts, attempts == 1 ? "" : "s",
		     curl_easy_strerror(a->rc), t->errbuf[0] ? ": " : "",
		     t->errbuf);
		return;
	}
	if (!first_time(t, (int)a->status))
		return;
	otlp_response_error(t->resp, t->resp_len, a->json_body, msg,
			    sizeof(msg));
	tlog(t, CONFIG_LOG_WARN,
	     "OTLP export failed after %u attempt%s: HTTP %ld%s%s",
	     attempts, attempts == 1 ? "" : "s", a->status,
	     msg[0] ? ": " : "", msg);
}

/* A 2xx: read partial_success, count, and say so (at most once a minute:
 * the counters have the totals). */
static enum transport_result sent_batch(struct transport *t, size_t nspans)
{
	char msg[MSG_MAX] = "";
	int64_t rejected = 0;
	uint64_t now;

	if (t->decode && t->resp_len > 0 && !t->resp_truncated &&
	    t->decode(t->resp, t->resp_len, &rejected, msg,
		      sizeof(msg)) != 0) {
		tlog(t, CONFIG_LOG_DEBUG,
		     "OTLP response not understood (%zu bytes)", t->resp_len);
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

/* Compresses into t->zbuf when asked, and sets what the handle sends. */
static int set_body(struct transport *t, const void *body, size_t len)
{
	size_t bound;
	ssize_t n;

	if (t->cfg->gzip) {
		bound = gzip_bound(len);
		if (bound > t->zcap) {
			uint8_t *nb = realloc(t->zbuf, bound);

			if (!nb)
				return -ENOMEM;
			t->zbuf = nb;
			t->zcap = bound;
		}
		n = gzip_encode(body, len, t->zbuf, t->zcap);
		if (n < 0)
			return (int)n;
		body = t->zbuf;
		len = (size_t)n;
	}
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)len);
	return 0;
}

/* What the attempts came to: the breaker hears of it, then the counters
 * and the log. */
static enum transport_result settle(struct transport *t,
				    const struct attempt *a,
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
	if (attempt_ok(a)) {
		ch = retry_breaker_record(&t->br, 1, mono_ns());
		publish_breaker(t);
		if (ch == RETRY_CLOSED)
			tlog(t, CONFIG_LOG_INFO, "OTLP exports resumed");
		return sent_batch(t, nspans);
	}
	log_failure(t, a, attempts);
	/* A batch refused for its content (400, 413) says nothing about the
	 * backend's health; every other failure counts toward the breaker. */
	if (!(a->rc == CURLE_OK && (a->status == 400 || a->status == 413))) {
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
	struct attempt a = { CURLE_OK, 0, 0 };
	enum retry_pass pass;
	unsigned attempts;
	int retryable = 0;

	if (!t->curl) {
		t->curl = curl_easy_init();
		if (!t->curl || setup_handle(t)) {
			transport_idle(t);
			return defer_batch(t);
		}
	}
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
	if (set_body(t, body, len)) {
		tlog(t, CONFIG_LOG_WARN, "OTLP request: gzip failed");
		return drop_batch(t, nspans);
	}
	attempts = attempt_all(t, pass == RETRY_PASS_TRIAL ||
			       (flags & TRANSPORT_ONCE) ? 1 : RETRY_MAX_ATTEMPTS,
			       deadline_ns, &a, &retryable);
	return settle(t, &a, attempts, retryable, nspans);
}
