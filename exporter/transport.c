/*
 * OTLP/HTTP transport over libcurl: one easy handle per exporter, reused so
 * the connection stays alive between batches; gzip through zlib; retries
 * only where the OTLP/HTTP specification allows them, never past the
 * caller's deadline; and a circuit breaker that makes exports fail fast
 * while the backend is down.  Runs on the exporter thread only.
 *
 * Sockets are opened and closed by callbacks here so the host can mark them
 * as the exporter's own: the hooks in libotelshim.so must never trace them.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

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
	transport_decode_fn decode;
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

	struct transport_breaker br;
	uint64_t rng;

	/* Failures already logged: HTTP statuses as themselves, curl codes
	 * as -1 - code. */
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

static void sleep_until(uint64_t when_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(when_ns / 1000000000ull),
		.tv_nsec = (long)(when_ns % 1000000000ull),
	};

	/* The exporter thread runs with signals blocked; EINTR only from a
	 * debugger or a stop/continue. */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
	       == EINTR)
		;
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

static void count(struct transport *t, uint64_t *field, uint64_t v)
{
	if (t->host.counters && v)
		__atomic_fetch_add(field, v, __ATOMIC_RELAXED);
}

static void publish_breaker(struct transport *t)
{
	struct exporter_counters *c = t->host.counters;

	if (!c)
		return;
	__atomic_store_n(&c->breaker_state, (uint32_t)t->br.state,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&c->breaker_opens, t->br.opens, __ATOMIC_RELAXED);
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

/* Copies len bytes into (out, cap) as printable ASCII, NUL-terminated. */
static size_t printable(const uint8_t *s, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;

	if (cap == 0)
		return 0;
	for (i = 0; i < len && n + 1 < cap; i++) {
		uint8_t c = s[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

/* ---------------------------------------------------- pure decisions */

int transport_status_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 ||
	       status == 504;
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

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

struct cursor {
	const char *p, *end;
};

static int cur_digits(struct cursor *c, unsigned min, unsigned max,
		      int64_t *out)
{
	unsigned n = 0;
	int64_t v = 0;

	while (c->p < c->end && n < max && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (*c->p - '0');
		c->p++;
		n++;
	}
	*out = v;
	return n >= min ? 0 : -1;
}

static int cur_char(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

static int cur_month(struct cursor *c, int64_t *mon)
{
	int i;

	if (c->end - c->p < 3)
		return -1;
	for (i = 0; i < 12; i++) {
		if (strncasecmp(c->p, month_names[i], 3) == 0) {
			c->p += 3;
			*mon = i + 1;
			return 0;
		}
	}
	return -1;
}

static int cur_time(struct cursor *c, int64_t *h, int64_t *m, int64_t *s)
{
	if (cur_digits(c, 2, 2, h) || cur_char(c, ':') ||
	    cur_digits(c, 2, 2, m) || cur_char(c, ':') ||
	    cur_digits(c, 2, 2, s))
		return -1;
	return 0;
}

static int cur_gmt(struct cursor *c)
{
	if (cur_char(c, ' ') || c->end - c->p < 3 ||
	    strncmp(c->p, "GMT", 3) != 0)
		return -1;
	c->p += 3;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone, no
 * locale: timegm is not in every libc and mktime reads TZ). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * HTTP-date, RFC 9110 §5.6.7:
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 */
static int parse_http_date(const char *v, size_t len, int64_t *unix_s)
{
	struct cursor c = { v, v + len };
	int64_t day, mon, year, h, m, s;
	int asctime_form = 0;

	while (c.p < c.end && ((*c.p >= 'A' && *c.p <= 'Z') ||
			       (*c.p >= 'a' && *c.p <= 'z')))
		c.p++;
	if (c.p == v)
		return -1;
	if (cur_char(&c, ',') == 0) {
		if (cur_char(&c, ' '))
			return -1;
	} else {
		asctime_form = 1;
		if (cur_char(&c, ' '))
			return -1;
	}
	if (asctime_form) {
		if (cur_month(&c, &mon) || cur_char(&c, ' '))
			return -1;
		if (c.p < c.end && *c.p == ' ')
			c.p++;
		if (cur_digits(&c, 1, 2, &day) || cur_char(&c, ' ') ||
		    cur_time(&c, &h, &m, &s) || cur_char(&c, ' ') ||
		    cur_digits(&c, 4, 4, &year))
			return -1;
	} else {
		if (cur_digits(&c, 2, 2, &day))
			return -1;
		if (cur_char(&c, '-') == 0) {
			if (cur_month(&c, &mon) || cur_char(&c, '-') ||
			    cur_digits(&c, 2, 2, &year))
				return -1;
			/* Two-digit years: RFC 9110 asks for the most
			 * recent past year with those digits; for the
			 * dates a server sends, 70-99 is 19xx. */
			year += year < 70 ? 2000 : 1900;
		} else {
			if (cur_char(&c, ' ') || cur_month(&c, &mon) ||
			    cur_char(&c, ' ') || cur_digits(&c, 4, 4, &year))
				return -1;
		}
		if (cur_char(&c, ' ') || cur_time(&c, &h, &m, &s) ||
		    cur_gmt(&c))
			return -1;
	}
	if (c.p != c.end)
		return -1;
	if (day < 1 || day > 31 || h > 23 || m > 59 || s > 60)
		return -1;
	*unix_s = days_from_civil(year, mon, day) * 86400 + h * 3600 +
		  m * 60 + s;
	return 0;
}

int transport_parse_retry_after(const char *v, size_t len, int64_t now_unix,
				uint64_t *delay_ns)
{
	const char *end = v + len;
	int64_t when;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (v == end)
		return -EINVAL;
	if (*v >= '0' && *v <= '9') {
		uint64_t secs = 0;
		const char *p;

		for (p = v; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			/* Anything past a day is as good as "never" for
			 * a batch; saturate instead of overflowing. */
			if (secs < 86400)
				secs = secs * 10 + (uint64_t)(*p - '0');
		}
		if (secs > 86400)
			secs = 86400;
		*delay_ns = secs * 1000000000ull;
		return 0;
	}
	if (parse_http_date(v, (size_t)(end - v), &when))
		return -EINVAL;
	if (when <= now_unix)
		*delay_ns = 0;
	else if (when - now_unix > 86400)
		*delay_ns = 86400ull * 1000000000ull;
	else
		*delay_ns = (uint64_t)(when - now_unix) * 1000000000ull;
	return 0;
}

uint64_t transport_backoff_ns(unsigned retry, uint64_t rnd)
{
	uint64_t cap = TRANSPORT_BACKOFF_INIT_NS;
	unsigned i;

	for (i = 0; i < retry && cap < TRANSPORT_BACKOFF_MAX_NS; i++)
		cap = cap * 3 / 2;
	if (cap > TRANSPORT_BACKOFF_MAX_NS)
		cap = TRANSPORT_BACKOFF_MAX_NS;
	return rnd % (cap + 1);
}

int transport_next_retry(unsigned attempts, unsigned max_attempts,
			 int retryable, uint64_t hint_ns, uint64_t rnd,
			 uint64_t now_ns, uint64_t deadline_ns,
			 uint64_t *wait_ns)
{
	uint64_t wait;

	if (!retryable || attempts >= max_attempts || attempts == 0)
		return 0;
	if (hint_ns != UINT64_MAX)
		wait = hint_ns;
	else
		wait = transport_backoff_ns(attempts - 1, rnd);
	if (deadline_ns != TRANSPORT_NO_DEADLINE) {
		if (now_ns >= deadline_ns)
			return 0;
		/* A Retry-After longer than the time we have left means
		 * the batch is lost now; sleeping on it only delays the
		 * next one. */
		if (wait > deadline_ns - now_ns ||
		    deadline_ns - now_ns - wait < TRANSPORT_MIN_ATTEMPT_NS)
			return 0;
	}
	*wait_ns = wait;
	return 1;
}

long transport_attempt_timeout_ms(uint32_t timeout_ms, uint64_t now_ns,
				  uint64_t deadline_ns)
{
	uint64_t left_ms;

	if (deadline_ns == TRANSPORT_NO_DEADLINE)
		return (long)timeout_ms;
	if (now_ns >= deadline_ns ||
	    deadline_ns - now_ns < TRANSPORT_MIN_ATTEMPT_NS)
		return -1;
	left_ms = (deadline_ns - now_ns) / 1000000ull;
	if (left_ms > LONG_MAX)
		left_ms = LONG_MAX;
	if (timeout_ms != 0 && timeout_ms < left_ms)
		return (long)timeout_ms;
	return (long)left_ms;
}

size_t transport_gzip_bound(size_t len)
{
	/* zlib's deflateBound for the default memLevel/windowBits, plus
	 * the 18 bytes of gzip header and trailer, plus slack. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 18 + 64;
}

ssize_t transport_gzip(const void *in, size_t len, void *buf, size_t cap)
{
	z_stream zs;
	ssize_t ret;
	int rc;

	if (len > UINT_MAX || cap > UINT_MAX)
		return -EFBIG;
	memset(&zs, 0, sizeof(zs));
	/* Level 1: the exporter shares the CPU with the application, and
	 * span data compresses well even at the fastest level.  windowBits
	 * 15 + 16 asks zlib for a gzip wrapper. */
	rc = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
			  Z_DEFAULT_STRATEGY);
	if (rc != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	rc = deflate(&zs, Z_FINISH);
	if (rc == Z_STREAM_END)
		ret = (ssize_t)zs.total_out;
	else if (rc == Z_OK || rc == Z_BUF_ERROR)
		ret = -ENOSPC;
	else
		ret = -ENOMEM;
	deflateEnd(&zs);
	return ret;
}

/* ---------------------------------------- minimal JSON (responses only) */

#define JSON_MAX_DEPTH 32

static void j_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Reads a string at c->p into (out, cap) (out may be NULL), NUL-terminated
 * and cut to fit.  \u escapes outside ASCII become '?': the text only ever
 * ends up in a log line. */
static int j_string(struct cursor *c, char *out, size_t cap)
{
	size_t n = 0;

	if (cur_char(c, '"'))
		return -1;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;

		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			ch = *c->p++;
			switch (ch) {
			case 'n': case 'r': case 't': case 'b': case 'f':
				ch = ' ';
				break;
			case 'u': {
				int i, cp = 0;

				if (c->end - c->p < 4)
					return -1;
				for (i = 0; i < 4; i++) {
					int h = hexval(c->p[i]);

					if (h < 0)
						return -1;
					cp = cp * 16 + h;
				}
				c->p += 4;
				ch = (cp >= 0x20 && cp < 0x7f) ? (char)cp : '?';
				break;
			}
			case '"': case '\\': case '/':
				break;
			default:
				return -1;
			}
		}
		if (out && n + 1 < cap)
			out[n++] = ch;
	}
	if (cur_char(c, '"'))
		return -1;
	if (out && cap)
		out[n] = '\0';
	return 0;
}

static int j_skip(struct cursor *c, int depth)
{
	j_ws(c);
	if (c->p >= c->end || depth > JSON_MAX_DEPTH)
		return -1;
	if (*c->p == '"')
		return j_string(c, NULL, 0);
	if (*c->p == '{' || *c->p == '[') {
		char close = *c->p == '{' ? '}' : ']';
		int obj = *c->p == '{';

		c->p++;
		j_ws(c);
		if (cur_char(c, close) == 0)
			return 0;
		for (;;) {
			if (obj) {
				j_ws(c);
				if (j_string(c, NULL, 0))
					return -1;
				j_ws(c);
				if (cur_char(c, ':'))
					return -1;
			}
			if (j_skip(c, depth + 1))
				return -1;
			j_ws(c);
			if (cur_char(c, ',') == 0)
				continue;
			return cur_char(c, close);
		}
	}
	/* number, true, false, null */
	if (!((*c->p >= '0' && *c->p <= '9') || *c->p == '-' ||
	      (*c->p >= 'a' && *c->p <= 'z')))
		return -1;
	while (c->p < c->end && *c->p != ',' && *c->p != '}' &&
	       *c->p != ']' && *c->p != ' ' && *c->p != '\t' &&
	       *c->p != '\r' && *c->p != '\n')
		c->p++;
	return 0;
}

/* An int64 written as a JSON number or, as OTLP/JSON does, a string. */
static int j_int(struct cursor *c, int64_t *v)
{
	int quoted, neg = 0;
	int64_t x;

	j_ws(c);
	quoted = cur_char(c, '"') == 0;
	if (cur_char(c, '-') == 0)
		neg = 1;
	if (cur_digits(c, 1, 18, &x))
		return -1;
	if (quoted && cur_char(c, '"'))
		return -1;
	*v = neg ? -x : x;
	return 0;
}

/*
 * Walks the members of the object at c->p, calling fn for each key; fn
 * consumes the value (or returns 1 to have it skipped).
 */
static int j_object(struct cursor *c,
		    int (*fn)(struct cursor *c, const char *key, void *arg),
		    void *arg)
{
	char key[64];

	j_ws(c);
	if (cur_char(c, '{'))
		return -1;
	j_ws(c);
	if (cur_char(c, '}') == 0)
		return 0;
	for (;;) {
		int rc;

		j_ws(c);
		if (j_string(c, key, sizeof(key)))
			return -1;
		j_ws(c);
		if (cur_char(c, ':'))
			return -1;
		j_ws(c);
		rc = fn(c, key, arg);
		if (rc < 0)
			return -1;
		if (rc > 0 && j_skip(c, 1))
			return -1;
		j_ws(c);
		if (cur_char(c, ',') == 0)
			continue;
		return cur_char(c, '}');
	}
}

struct j_partial {
	int64_t rejected;
	char *msg;
	size_t cap;
	int in_partial;
};

static int j_partial_member(struct cursor *c, const char *key, void *arg)
{
	struct j_partial *ps = arg;

	if (!ps->in_partial) {
		if (strcmp(key, "partialSuccess") != 0 &&
		    strcmp(key, "partial_success") != 0)
			return 1;
		ps->in_partial = 1;
		return j_object(c, j_partial_member, ps);
	}
	if (strcmp(key, "rejectedSpans") == 0 ||
	    strcmp(key, "rejected_spans") == 0)
		return j_int(c, &ps->rejected);
	if ((strcmp(key, "errorMessage") == 0 ||
	     strcmp(key, "error_message") == 0) && ps->cap)
		return j_string(c, ps->msg, ps->cap);
	return 1;
}

int transport_decode_json_response(const uint8_t *body, size_t len,
				   int64_t *rejected, char *msg, size_t cap)
{
	struct cursor c = { (const char *)body, (const char *)body + len };
	struct j_partial ps = { 0, msg, cap, 0 };

	if (cap)
		msg[0] = '\0';
	*rejected = 0;
	if (j_object(&c, j_partial_member, &ps))
		return -EINVAL;
	j_ws(&c);
	if (c.p != c.end)
		return -EINVAL;
	*rejected = ps.rejected;
	return 0;
}

struct j_message {
	char *msg;
	size_t cap;
	int found;
};

static int j_message_member(struct cursor *c, const char *key, void *arg)
{
	struct j_message *jm = arg;

	if (strcmp(key, "message") != 0 || jm->found)
		return 1;
	jm->found = 1;
	return j_string(c, jm->msg, jm->cap);
}

/* google.rpc.Status: field 2, message, length-delimited. */
static int pb_status_message(const uint8_t *p, size_t len, char *msg,
			     size_t cap)
{
	const uint8_t *end = p + len;

	while (p < end) {
		uint64_t tag = 0, n = 0;
		int shift = 0;

		do {
			if (p >= end || shift > 63)
				return -1;
			tag |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
		} while (*p++ & 0x80);
		switch (tag & 7) {
		case 0:
			do {
				if (p >= end)
					return -1;
			} while (*p++ & 0x80);
			break;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		case 2:
			shift = 0;
			do {
				if (p >= end || shift > 63)
					return -1;
				n |= (uint64_t)(*p & 0x7f) << shift;
				shift += 7;
			} while (*p++ & 0x80);
			if (n > (uint64_t)(end - p))
				return -1;
			if ((tag >> 3) == 2) {
				printable(p, (size_t)n, msg, cap);
				return 0;
			}
			p += n;
			break;
		default:
			return -1;
		}
	}
	return -1;
}

size_t transport_error_message(const uint8_t *body, size_t len, int json,
			       char *msg, size_t cap)
{
	if (cap == 0)
		return 0;
	msg[0] = '\0';
	if (len == 0)
		return 0;
	if (json) {
		struct cursor c = { (const char *)body,
				    (const char *)body + len };
		struct j_message jm = { msg, cap, 0 };

		if (j_object(&c, j_message_member, &jm) == 0 && jm.found)
			return printable((const uint8_t *)msg, strlen(msg),
					 msg, cap);
	} else if (pb_status_message(body, len, msg, cap) == 0) {
		return strlen(msg);
	}
	/* Not what OTLP says (a proxy's HTML page, plain text): the start
	 * of it is still the best hint for whoever reads the log. */
	return printable(body, len < 160 ? len : 160, msg, cap);
}

/* ------------------------------------------------------------ breaker */

void transport_breaker_init(struct transport_breaker *b)
{
	memset(b, 0, sizeof(*b));
	b->state = TRANSPORT_BREAKER_CLOSED;
	b->cool_ns = TRANSPORT_BREAKER_COOL_NS;
}

int transport_breaker_allow(struct transport_breaker *b, uint64_t now_ns)
{
	switch (b->state) {
	case TRANSPORT_BREAKER_CLOSED:
	case TRANSPORT_BREAKER_HALF_OPEN:
		return 1;
	case TRANSPORT_BREAKER_OPEN:
		if (now_ns < b->open_until_ns)
			return 0;
		b->state = TRANSPORT_BREAKER_HALF_OPEN;
		return 1;
	}
	return 1;
}

static void breaker_open(struct transport_breaker *b, uint64_t now_ns)
{
	b->state = TRANSPORT_BREAKER_OPEN;
	b->open_until_ns = now_ns + b->cool_ns;
	b->opens++;
}

int transport_breaker_record(struct transport_breaker *b, int ok,
			     uint64_t now_ns)
{
	if (ok) {
		b->state = TRANSPORT_BREAKER_CLOSED;
		b->failures = 0;
		b->cool_ns = TRANSPORT_BREAKER_COOL_NS;
		return 0;
	}
	b->failures++;
	if (b->state == TRANSPORT_BREAKER_HALF_OPEN) {
		b->cool_ns *= 2;
		if (b->cool_ns > TRANSPORT_BREAKER_MAX_NS)
			b->cool_ns = TRANSPORT_BREAKER_MAX_NS;
		breaker_open(b, now_ns);
		return 1;
	}
	if (b->state == TRANSPORT_BREAKER_CLOSED &&
	    b->failures >= TRANSPORT_BREAKER_THRESHOLD) {
		breaker_open(b, now_ns);
		return 1;
	}
	return 0;
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
		memcpy(t->resp + t->resp_len, data, room);
		t->resp_len += room;
	} else {
		memcpy(t->resp + t->resp_len, data, n);
		t->resp_len += n;
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "retry-after:";
	struct transport *t = arg;
	size_t n = size * nmemb;
	const char *v;
	size_t vlen;

	/* A new status line: forget what an interim response said. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		t->has_retry_after = 0;
		return n;
	}
	if (n < sizeof(name) - 1 ||
	    strncasecmp(data, name, sizeof(name) - 1) != 0)
		return n;
	v = data + sizeof(name) - 1;
	vlen = n - (sizeof(name) - 1);
	if (vlen >= sizeof(t->retry_after))
		vlen = sizeof(t->retry_after) - 1;
	memcpy(t->retry_after, v, vlen);
	t->retry_after[vlen] = '\0';
	t->retry_after_len = vlen;
	t->has_retry_after = 1;
	return n;
}

static int header_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return 0;
	return 1;
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
		if (strcasecmp(key, reserved[i]) == 0)
			return 1;
	return 0;
}

static int build_headers(struct transport *t)
{
	const struct config *cfg = t->cfg;
	struct curl_slist *l = NULL, *nl;
	char line[1024];
	size_t i;

	nl = curl_slist_append(l, cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON ?
			       "Content-Type: application/json" :
			       "Content-Type: application/x-protobuf");
	if (!nl)
		goto fail;
	l = nl;
	/* No "Expect: 100-continue": the round trip costs more than the
	 * body, and some proxies answer it badly. */
	nl = curl_slist_append(l, "Expect:");
	if (!nl)
		goto fail;
	l = nl;
	if (cfg->gzip) {
		nl = curl_slist_append(l, "Content-Encoding: gzip");
		if (!nl)
			goto fail;
		l = nl;
	}
	for (i = 0; i < cfg->n_headers && i < CONFIG_MAX_HEADERS; i++) {
		const char *k = cfg->headers[i].key;
		const char *v = cfg->headers[i].value ? cfg->headers[i].value
						      : "";
		int n;

		if (!k || !*k || strchr(k, ':') || !header_ok(k) ||
		    !header_ok(v) || header_reserved(k)) {
			tlog(t, CONFIG_LOG_WARN,
			     "OTLP header #%zu ignored: name or value not "
			     "allowed", i + 1);
			continue;
		}
		/* "Name;" is curl's way to send a header with no value. */
		if (*v)
			n = snprintf(line, sizeof(line), "%s: %s", k, v);
		else
			n = snprintf(line, sizeof(line), "%s;", k);
		if (n < 0 || (size_t)n >= sizeof(line)) {
			tlog(t, CONFIG_LOG_WARN,
			     "OTLP header %s ignored: too long", k);
			continue;
		}
		nl = curl_slist_append(l, line);
		if (!nl)
			goto fail;
		l = nl;
	}
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
				   transport_decode_fn decode)
{
	struct transport *t;
	struct timespec ts;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->host = *host;
	t->cfg = host->cfg;
	t->decode = decode;
	transport_breaker_init(&t->br);
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

/* What one attempt came to. */
struct attempt {
	CURLcode rc;
	long status;            /* when rc == CURLE_OK */
	int json_body;          /* the response says it is JSON */
};

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
	transport_error_message(t->resp, t->resp_len, a->json_body, msg,
				sizeof(msg));
	tlog(t, CONFIG_LOG_WARN,
	     "OTLP export failed after %u attempt%s: HTTP %ld%s%s",
	     attempts, attempts == 1 ? "" : "s", a->status,
	     msg[0] ? ": " : "", msg);
}

/* A 200: read partial_success, count, and say so (at most once a minute:
 * the counters have the totals). */
static void on_success(struct transport *t, size_t nspans)
{
	struct exporter_counters *c = t->host.counters;
	char msg[MSG_MAX] = "";
	int64_t rejected = 0;
	uint64_t now;

	if (t->decode && t->resp_len > 0 && !t->resp_truncated) {
		if (t->decode(t->resp, t->resp_len, &rejected, msg,
			      sizeof(msg)) != 0) {
			tlog(t, CONFIG_LOG_DEBUG,
			     "OTLP response not understood (%zu bytes)",
			     t->resp_len);
			rejected = 0;
			msg[0] = '\0';
		}
	}
	if (rejected < 0)
		rejected = 0;
	if ((uint64_t)rejected > nspans)
		rejected = (int64_t)nspans;
	if (c) {
		count(t, &c->batches_sent, 1);
		count(t, &c->spans_exported, nspans - (size_t)rejected);
		count(t, &c->spans_rejected, (uint64_t)rejected);
	}
	if (rejected == 0 && msg[0] == '\0')
		return;
	now = mono_ns();
	if (t->partial_logged_ns &&
	    now - t->partial_logged_ns < PARTIAL_LOG_NS) {
		t->partial_suppressed++;
		return;
	}
	printable((const uint8_t *)msg, strlen(msg), msg, sizeof(msg));
	tlog(t, CONFIG_LOG_WARN,
	     "OTLP partial success: %lld of %zu spans rejected%s%s "
	     "(%u similar before not shown)",
	     (long long)rejected, nspans, msg[0] ? ": " : "", msg,
	     t->partial_suppressed);
	t->partial_logged_ns = now;
	t->partial_suppressed = 0;
}

static enum exporter_result fail_batch(struct transport *t, size_t nspans)
{
	struct exporter_counters *c = t->host.counters;

	if (c) {
		count(t, &c->batches_failed, 1);
		count(t, &c->spans_failed, nspans);
	}
	return EXPORTER_FAILED;
}

/* A transient failure: the caller keeps the spans for a later try, so
 * only the batch attempt is counted, not lost spans. */
static enum exporter_result defer_batch(struct transport *t)
{
	struct exporter_counters *c = t->host.counters;

	if (c)
		count(t, &c->batches_failed, 1);
	return EXPORTER_RETRY_LATER;
}

/* Compresses into t->zbuf when asked; returns the body to send. */
static int prepare_body(struct transport *t, const void *body, size_t len,
			const void **out, size_t *out_len)
{
	size_t bound;
	ssize_t n;

	if (!t->cfg->gzip) {
		*out = body;
		*out_len = len;
		return 0;
	}
	bound = transport_gzip_bound(len);
	if (bound > t->zcap) {
		uint8_t *nb = realloc(t->zbuf, bound);

		if (!nb)
			return -ENOMEM;
		t->zbuf = nb;
		t->zcap = bound;
	}
	n = transport_gzip(body, len, t->zbuf, t->zcap);
	if (n < 0)
		return (int)n;
	*out = t->zbuf;
	*out_len = (size_t)n;
	return 0;
}

enum exporter_result transport_send(struct transport *t, const void *body,
				    size_t len, size_t nspans,
				    uint64_t deadline_ns)
{
	struct attempt a = { CURLE_OK, 0, 0 };
	const void *payload;
	size_t plen;
	unsigned attempts = 0, max_attempts;
	uint64_t now = mono_ns();
	int ok = 0, opened, content_refused, retryable = 0;

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
		return fail_batch(t, nspans);
	}
	if (!transport_breaker_allow(&t->br, now)) {
		publish_breaker(t);
		return defer_batch(t);
	}
	max_attempts = t->br.state == TRANSPORT_BREAKER_HALF_OPEN ?
		       1 : TRANSPORT_MAX_ATTEMPTS;
	publish_breaker(t);
	if (prepare_body(t, body, len, &payload, &plen)) {
		tlog(t, CONFIG_LOG_WARN, "OTLP request: gzip failed");
		return fail_batch(t, nspans);
	}
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)plen);

	for (;;) {
		long tmo = transport_attempt_timeout_ms(t->cfg->otlp_timeout_ms,
							now, deadline_ns);
		uint64_t hint = UINT64_MAX, wait;

		if (tmo < 0)
			break;
		perform(t, tmo, &a);
		attempts++;
		if (a.rc == CURLE_OK && a.status >= 200 && a.status < 300) {
			ok = 1;
			break;
		}
		if (a.rc == CURLE_OK) {
			retryable = transport_status_retryable(a.status);
			if (retryable && t->has_retry_after) {
				struct timespec wall;

				clock_gettime(CLOCK_REALTIME, &wall);
				if (transport_parse_retry_after(
					    t->retry_after, t->retry_after_len,
					    wall.tv_sec, &wait) == 0)
					hint = wait;
			}
		} else {
			retryable = transport_curl_retryable((int)a.rc);
		}
		now = mono_ns();
		if (!transport_next_retry(attempts, max_attempts, retryable,
					  hint, next_rand(t), now,
					  deadline_ns, &wait))
			break;
		if (t->host.counters)
			count(t, &t->host.counters->batches_retried, 1);
		tlog(t, CONFIG_LOG_DEBUG,
		     "OTLP export: %s %ld, retry in %llu ms",
		     a.rc == CURLE_OK ? "HTTP" : "curl error",
		     a.rc == CURLE_OK ? a.status : (long)a.rc,
		     (unsigned long long)(wait / 1000000ull));
		sleep_until(now + wait);
		now = mono_ns();
	}

	if (attempts == 0) {
		/* The deadline left no time to try: says nothing about the
		 * backend, so the breaker does not hear of it. */
		if (t->br.state == TRANSPORT_BREAKER_HALF_OPEN)
			t->br.state = TRANSPORT_BREAKER_OPEN;
		publish_breaker(t);
		return defer_batch(t);
	}
	if (ok) {
		int was_open = t->br.state != TRANSPORT_BREAKER_CLOSED;

		transport_breaker_record(&t->br, 1, now);
		publish_breaker(t);
		if (was_open)
			tlog(t, CONFIG_LOG_INFO, "OTLP exports resumed");
		on_success(t, nspans);
		return EXPORTER_OK;
	}
	log_failure(t, &a, attempts);
	/* A batch refused for its content (400, 413) says nothing about the
	 * backend's health; every other failure counts toward the breaker. */
	content_refused = a.rc == CURLE_OK &&
			  (a.status == 400 || a.status == 413);
	if (!content_refused) {
		int was_closed = t->br.state == TRANSPORT_BREAKER_CLOSED;

		opened = transport_breaker_record(&t->br, 0, now);
		if (opened)
			tlog(t, was_closed ? CONFIG_LOG_WARN : CONFIG_LOG_DEBUG,
			     "OTLP endpoint failing: exports paused for %llu s",
			     (unsigned long long)(t->br.cool_ns /
						  1000000000ull));
	}
	publish_breaker(t);
	/* A backend that is down or overloaded will be back: keep the
	 * spans.  One that refused what we sent will refuse it again. */
	return retryable ? defer_batch(t) : fail_batch(t, nspans);
}
