/*
 * Unit tests for shim/http.c, the framer.  Stream inputs are run whole,
 * split at every possible point and fed one byte at a time; each piece is
 * copied right before an unmapped page, so reading past a piece crashes
 * the test, and every way of feeding must give the same events at the same
 * offsets.
 * links: shim/http.c
 */
#include <stdarg.h>
#include <stdio.h>

#include "shim/http.h"
#include "unit.h"

#define LOGCAP 16384

/* ------------------------------------------------------- event logging */

struct log {
	char s[LOGCAP];
	size_t len;
};

static void log_add(struct log *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_add(struct log *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->s + l->len, sizeof(l->s) - l->len, fmt, ap);
	va_end(ap);
	if (n < 0 || l->len + (size_t)n >= sizeof(l->s))
		ck_abort_msg("event log overflow");
	l->len += (size_t)n;
}

static void log_str(struct log *l, const char *tag, struct str s)
{
	if (s.p)
		log_add(l, " %s=%.*s", tag, (int)s.n, s.p);
}

/* Head strings must lie inside the stream's buffer. */
static void check_in_buf(const struct http_stream *st, struct str s)
{
	if (s.p == NULL)
		return;
	if (s.p < st->buf || s.p + s.n > st->buf + sizeof(st->buf))
		ck_abort_msg("head string outside the stream buffer");
}

static void log_event(struct log *l, const struct http_stream *st,
		      const struct http_event *ev, size_t pos)
{
	const struct http_head *h = &ev->head;
	/* A response's head and the body that came with it may be one
	 * event (http.h): logged as the two events of a byte-wise feed,
	 * the head's at the body's first byte. */
	int with_body = (ev->type & (HTTP_EV_HEAD | HTTP_EV_END)) ==
			(HTTP_EV_HEAD | HTTP_EV_END) && ev->body_bytes > 0;

	if (with_body && st->dir != HTTP_DIR_RESPONSE)
		ck_abort_msg("a request's head came with its body's end");
	log_add(l, "@%zu", with_body ? pos - (size_t)ev->body_bytes : pos);
	if (ev->type & HTTP_EV_HEAD) {
		check_in_buf(st, h->method);
		check_in_buf(st, h->target);
		check_in_buf(st, h->host);
		check_in_buf(st, h->user_agent);
		check_in_buf(st, h->traceparent);
		check_in_buf(st, h->tracestate);
		check_in_buf(st, h->forwarded);
		check_in_buf(st, h->x_forwarded_for);
		check_in_buf(st, h->x_forwarded_host);
		log_add(l, " H");
		if (h->method.p)
			log_add(l, " %.*s %.*s", (int)h->method.n,
				h->method.p, (int)h->target.n,
				h->target.p);
		if (h->status)
			log_add(l, " %u", h->status);
		log_add(l, " 1.%u", h->version_minor);
		log_str(l, "host", h->host);
		log_str(l, "ua", h->user_agent);
		log_str(l, "tp", h->traceparent);
		log_str(l, "ts", h->tracestate);
		log_str(l, "fwd", h->forwarded);
		log_str(l, "xff", h->x_forwarded_for);
		log_str(l, "xfh", h->x_forwarded_host);
		if (h->content_length >= 0)
			log_add(l, " cl=%lld", (long long)h->content_length);
		if (h->flags)
			log_add(l, " f=%x", h->flags);
		log_add(l, " hb=%u", h->head_bytes);
	}
	if (with_body)
		log_add(l, ";@%zu", pos);
	if (ev->type & HTTP_EV_END)
		log_add(l, " E bb=%llu", (unsigned long long)ev->body_bytes);
	if (ev->type & HTTP_EV_NOT_HTTP)
		log_add(l, " N");
	if (ev->type & HTTP_EV_ERROR)
		log_add(l, " X");
	log_add(l, ";");
}

/* What to tell a response stream before it sees bytes. */
struct setup {
	const char *push[16];   /* request methods, NULL-terminated */
};

static void prepare(struct http_stream *st, enum http_dir dir,
		    const struct setup *su)
{
	int i;

	http_stream_init(st, dir);
	for (i = 0; su && i < 16 && su->push[i]; i++) {
		struct http_head h;

		memset(&h, 0, sizeof(h));
		h.method.p = su->push[i];
		h.method.n = strlen(su->push[i]);
		http_push_request(st, &h);
	}
}

/* Feeds one piece from right before the unmapped page. */
static void feed_piece(struct log *l, struct http_stream *st,
		       const char *in, size_t n, size_t base)
{
	const char *g = guarded(in, n);
	size_t done = 0;

	while (done < n) {
		struct http_event ev;
		size_t c = http_feed(st, g + done, n - done, &ev);

		/* Plain checks: Check records every passing assertion,
		 * which would dominate the run time here. */
		if (c == 0 || c > n - done)
			ck_abort_msg("consumed %zu of %zu at %zu", c,
				     n - done, base + done);
		done += c;
		if (ev.type)
			log_event(l, st, &ev, base + done);
		else if (done != n)
			ck_abort_msg("stopped without event at %zu",
				     base + done);
	}
}

/* Feeds in whole (split 0, piece 0), in two at split, or in pieces. */
static void run(struct log *l, enum http_dir dir, const struct setup *su,
		const char *in, size_t len, size_t split, size_t piece,
		int eof)
{
	struct http_stream *st = malloc(sizeof(*st));
	size_t pos = 0;

	if (st == NULL)
		ck_abort_msg("malloc");
	l->len = 0;
	l->s[0] = '\0';
	prepare(st, dir, su);
	while (pos < len) {
		size_t n = len - pos;

		if (piece && n > piece)
			n = piece;
		else if (split && pos < split)
			n = split - pos;
		feed_piece(l, st, in + pos, n, pos);
		pos += n;
	}
	if (eof) {
		struct http_event ev;

		if (http_eof(st, &ev))
			log_event(l, st, &ev, len);
		log_add(l, "EOF");
	}
	free(st);
}

/* Runs every way of feeding and compares with want. */
static void check_stream(enum http_dir dir, const struct setup *su,
			 const char *in, size_t len, int eof,
			 const char *want)
{
	static struct log whole, other;
	size_t split;

	run(&whole, dir, su, in, len, 0, 0, eof);
	ck_assert_str_eq(whole.s, want);
	run(&other, dir, su, in, len, 0, 1, eof);
	ck_assert_str_eq(other.s, want);
	for (split = 1; split < len; split++) {
		run(&other, dir, su, in, len, split, 0, eof);
		if (strcmp(other.s, want) != 0)
			ck_abort_msg("split %zu: %s", split, other.s);
	}
}

#define REQ(in, want) check_stream(HTTP_DIR_REQUEST, NULL, in, \
				   sizeof(in) - 1, 0, want)
#define RESP(su, in, eof, want) check_stream(HTTP_DIR_RESPONSE, su, in, \
					     sizeof(in) - 1, eof, want)

/* --------------------------------------------------------- request side */

START_TEST(req_simple_get)
{
	REQ("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
	    "@79 H GET /a?b=1 1.1 host=example.com ua=curl/8.5.0 hb=79"
	    " E bb=0;");
	REQ("GET / HTTP/1.0\r\n\r\n", "@18 H GET / 1.0 f=2 hb=18 E bb=0;");
	REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	    "@42 H GET / 1.0 hb=42 E bb=0;");
	REQ("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
	    "@49 H GET / 1.1 f=2 hb=49 E bb=0;");
	/* Connection lists: empty members, OWS, whole tokens only. */
	REQ("GET / HTTP/1.0\r\nConnection: , \t, Keep-Alive ,\r\n\r\n",
	    "@49 H GET / 1.0 hb=49 E bb=0;");
	REQ("GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n",
	    "@43 H GET / 1.0 f=2 hb=43 E bb=0;");
	REQ("GET / HTTP/1.1\r\nConnection: foo,close\r\n\r\n",
	    "@41 H GET / 1.1 f=2 hb=41 E bb=0;");
	REQ("GET / HTTP/1.1\r\nConnection: clos, closed\r\n\r\n",
	    "@44 H GET / 1.1 hb=44 E bb=0;");
	/* LF-only lines, header names in any case, OWS around values. */
	REQ("GET /x HTTP/1.1\nHOST:   h:8080 \t\nuser-AGENT:a b\n\n",
	    "@49 H GET /x 1.1 host=h:8080 ua=a b hb=49 E bb=0;");
	/* Empty lines before a request are tolerated. */
	REQ("\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	    "@22 H GET / 1.1 hb=18 E bb=0;");
	/* Any token method. */
	REQ("M-SEARCH * HTTP/1.1\r\n\r\n",
	    "@23 H M-SEARCH * 1.1 hb=23 E bb=0;");
}
END_TEST

START_TEST(req_content_length)
{
	REQ("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
	    "@48 H POST /p 1.1 host=h cl=5 hb=48;@53 E bb=5;");
	REQ("POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
	    "@39 H POST /p 1.1 cl=0 hb=39 E bb=0;");
	REQ("PUT /p HTTP/1.1\r\nContent-Length: 3, 3\r\n"
	    "content-length: 3\r\n\r\nabc",
	    "@60 H PUT /p 1.1 cl=3 hb=60;@63 E bb=3;");
	REQ("POST /p HTTP/1.1\r\nContent-Length: 3\r\n"
	    "Content-Length: 4\r\n\r\nabc", "@56 X;");
	REQ("POST /p HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc", "@38 X;");
	REQ("POST /p HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", "@38 X;");
	REQ("POST /p HTTP/1.1\r\nContent-Length:\r\n\r\nabc", "@35 X;");
	REQ("POST /p HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n"
	    "\r\n", "@55 X;");
}
END_TEST

START_TEST(req_chunked)
{
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;ext=1;q=\"x y\"\r\nhello\r\n"
	    "0a \t; e\r\n0123456789\r\n"
	    "0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
	    "@48 H POST /c 1.1 f=1 hb=48;@118 E bb=70;");
	/* gzip then chunked: still chunked; no trailers; LF-only. */
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
	    "A\nabcdefghij\n0\n\n",
	    "@54 H POST /c 1.1 f=1 hb=54;@70 E bb=16;");
	/* Chunked wins over Content-Length. */
	REQ("POST /c HTTP/1.1\r\nContent-Length: 100\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
	    "GET / HTTP/1.1\r\n\r\n",
	    "@69 H POST /c 1.1 cl=100 f=1 hb=69;@80 E bb=11;"
	    "@98 H GET / 1.1 hb=18 E bb=0;");
	/* A request with a coding but not chunked cannot be framed. */
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "@45 X;");
	/* Bad chunk framing. */
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "g\r\n", "@48 H POST /c 1.1 f=1 hb=48;@49 X;");
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nab\r\n", "@48 H POST /c 1.1 f=1 hb=48;@53 X;");
	REQ("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1000000000000000\r\n", "@48 H POST /c 1.1 f=1 hb=48;@64 X;");
}
END_TEST

START_TEST(req_keepalive_many)
{
	static char in[32768], want[LOGCAP];
	size_t n = 0, w = 0;
	int i;

	for (i = 0; i < 60; i++) {
		size_t start = n, hb;

		if (i % 3 == 0) {
			n += (size_t)sprintf(in + n, "GET /r%d HTTP/1.1\r\n"
					     "Host: h\r\n\r\n", i);
			w += (size_t)sprintf(want + w, "@%zu H GET /r%d 1.1 "
					     "host=h hb=%zu E bb=0;", n, i,
					     n - start);
		} else if (i % 3 == 1) {
			n += (size_t)sprintf(in + n, "POST /r%d HTTP/1.1\r\n"
					     "Content-Length: 2\r\n\r\n", i);
			hb = n - start;
			w += (size_t)sprintf(want + w, "@%zu H POST /r%d 1.1 "
					     "cl=2 hb=%zu;", n, i, hb);
			n += (size_t)sprintf(in + n, "%02d", i);
			w += (size_t)sprintf(want + w, "@%zu E bb=2;", n);
		} else {
			n += (size_t)sprintf(in + n, "PUT /r%d HTTP/1.1\r\n"
					     "Transfer-Encoding: chunked\r\n"
					     "\r\n", i);
			hb = n - start;
			w += (size_t)sprintf(want + w, "@%zu H PUT /r%d 1.1 "
					     "f=1 hb=%zu;", n, i, hb);
			n += (size_t)sprintf(in + n, "2\r\n%02d\r\n0\r\n\r\n",
					     i);
			w += (size_t)sprintf(want + w, "@%zu E bb=12;", n);
		}
	}
	check_stream(HTTP_DIR_REQUEST, NULL, in, n, 0, want);
}
END_TEST

START_TEST(req_pipelined)
{
	static const char in[] =
		"GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\n"
		"POST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /4 HTTP/1.1"
		"\r\n\r\n";
	struct http_stream st;
	struct http_event ev;
	const char *p;
	size_t len = sizeof(in) - 1, c;

	REQ("GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\n"
	    "POST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /4 HTTP/1.1"
	    "\r\n\r\n",
	    "@19 H GET /1 1.1 hb=19 E bb=0;@39 H HEAD /2 1.1 hb=20 E bb=0;"
	    "@78 H POST /3 1.1 cl=1 hb=39;@79 E bb=1;"
	    "@98 H GET /4 1.1 hb=19 E bb=0;");
	/* One read with everything: the caller loops on the rest. */
	p = guarded(in, len);
	http_stream_init(&st, HTTP_DIR_REQUEST);
	c = http_feed(&st, p, len, &ev);
	ck_assert_uint_eq(c, 19);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD | HTTP_EV_END);
	ck_assert_int_eq(ev.head.target.p[1], '1');
	c = http_feed(&st, p + 19, len - 19, &ev);
	ck_assert_uint_eq(c, 20);
	ck_assert_mem_eq(ev.head.method.p, "HEAD", 4);
}
END_TEST

START_TEST(req_trace_headers)
{
	REQ("GET / HTTP/1.1\r\ntraceparent: 00-abc-01\r\n"
	    "TraceState: a=1\r\nX: y\r\ntracestate: b=2 , c=3\r\n\r\n",
	    "@88 H GET / 1.1 tp=00-abc-01 ts=a=1,b=2 , c=3 hb=88 E bb=0;");
	/* Two traceparent lines: invalid, tracestate goes too. */
	REQ("GET / HTTP/1.1\r\ntraceparent: a\r\ntracestate: a=1\r\n"
	    "traceparent: a\r\n\r\n",
	    "@67 H GET / 1.1 f=10 hb=67 E bb=0;");
	/* More tracestate lines than we keep: dropped. */
	REQ("GET / HTTP/1.1\r\ntraceparent: t\r\ntracestate: a=1\r\n"
	    "tracestate: b=1\r\ntracestate: c=1\r\ntracestate: d=1\r\n"
	    "tracestate: e=1\r\n\r\n",
	    "@119 H GET / 1.1 tp=t f=20 hb=119 E bb=0;");
	REQ("GET / HTTP/1.1\r\nForwarded: for=1.2.3.4\r\n"
	    "X-Forwarded-For: 5.6.7.8, 9.9.9.9\r\nX-Forwarded-Host: x\r\n"
	    "X-Forwarded-For: 1.1.1.1\r\n\r\n",
	    "@124 H GET / 1.1 fwd=for=1.2.3.4 xff=5.6.7.8, 9.9.9.9 xfh=x"
	    " hb=124 E bb=0;");
}
END_TEST

/* Header names are known in any case, by every byte; responses keep
 * none of the request headers. */
START_TEST(header_names)
{
	REQ("GET / HTTP/1.1\r\nHOST: a\r\nuSER-aGENT: b\r\nTRACEPARENT: c\r\n"
	    "TRACESTATE: d\r\nFORWARDED: e\r\nX-FORWARDED-FOR: f\r\n"
	    "X-FORWARDED-HOST: g\r\nCONTENT-LENGTH: 0\r\n"
	    "CONNECTION: close\r\nTRANSFER-ENCODING: chunked\r\n\r\n"
	    "0\r\n\r\n",
	    "@194 H GET / 1.1 host=a ua=b tp=c ts=d fwd=e xff=f xfh=g cl=0"
	    " f=3 hb=194;@199 E bb=5;");
	REQ("GET / HTTP/1.1\r\nHosx: a\r\nUser-Agenx: b\r\nTraceparenx: c\r\n"
	    "Tracestatx: d\r\nForwardex: e\r\nX-Forwarded-Fox: f\r\n"
	    "X-Forwarded-Hosx: g\r\nContent-Lengtx: 5\r\n"
	    "Connectiox: close\r\nTransfer-Encodinx: chunked\r\n"
	    "Xost: h\r\nXser-agent: u\r\n\r\n",
	    "@218 H GET / 1.1 hb=218 E bb=0;");
	/* A short name differing inside; a repeated kept header keeps its
	 * first value, OWS after it dropped. */
	REQ("GET / HTTP/1.1\r\nHxst: a\r\nhOsT: b \t\r\nHost: c\r\n"
	    "Content-Length: 0 \r\n\r\n",
	    "@67 H GET / 1.1 host=b cl=0 hb=67 E bb=0;");
	/* Content-Type, known to be skipped, in any case, and names near
	 * it. */
	REQ("POST / HTTP/1.1\r\ncontent-TYPE: a\r\nContent-Typ: b\r\n"
	    "Content-Typex: c\r\nContent\rType: d\r\nContent-Length: 1"
	    "\r\n\r\nx", "@76 X;");
	REQ("POST / HTTP/1.1\r\ncontent-TYPE: a\r\nContent-Typ: b\r\n"
	    "Content-Typex: c\r\nContent-Length: 1\r\n\r\nx",
	    "@89 H POST / 1.1 cl=1 hb=89;@90 E bb=1;");
	/* Nor are the control bytes that fold into '-' and ':'. */
	REQ("GET / HTTP/1.1\r\nContent\rLength: 5\r\n\r\nabcde",
	    "@24 X;");
	REQ("GET / HTTP/1.1\r\nHost\x1a: a\r\n\r\n", "@21 X;");
	/* '_' and '^' are no '-' or letter whatever their case. */
	REQ("GET / HTTP/1.1\r\nContent_Length: 5\r\nX-Forwarded_Host: g\r\n"
	    "Trace^parent: x\r\n\r\n",
	    "@75 H GET / 1.1 hb=75 E bb=0;");
	RESP(NULL, "HTTP/1.1 200 OK\r\nHost: a\r\nUser-Agent: b\r\n"
	     "Traceparent: c\r\nTracestate: d\r\nForwarded: e\r\n"
	     "X-Forwarded-For: f\r\nX-Forwarded-Host: g\r\n"
	     "CONTENT-length: 2\r\nconnection: CLOSE\r\n\r\nok", 0,
	     "@167 H 200 1.1 cl=2 f=2 hb=167;@169 E bb=2;");
}
END_TEST

/* What a request stream tells of a head fed in pieces: the CR of its
 * empty line as the last byte fed, and the trace headers gone by. */
START_TEST(req_head_seen)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n"
				  "Tracestate: a=1\r\n\r\n";
	size_t ending = sizeof(req) - 3, len = sizeof(req) - 1;
	static const char tp_cr[] = "PUT / HTTP/1.0\r\ntraceparent: x\n\r";
	static const char value_cr[] = "GET / HTTP/1.1\r\nX: y\r";
	static const char resp_cr[] = "HTTP/1.1 200 OK\r\n\r";
	struct http_stream st;
	struct http_event ev;

	for (size_t i = 0; i < len; i++) {
		unsigned seen;

		if (i == 0)
			http_stream_init(&st, HTTP_DIR_REQUEST);
		http_feed(&st, req + i, 1, &ev);
		seen = http_head_seen(&st);
		ck_assert_int_eq((seen & HTTP_SEEN_ENDING) != 0, i == ending);
		ck_assert_int_eq((seen & HTTP_SEEN_TRACESTATE) != 0,
				 i >= sizeof(req) - 4);
		ck_assert_int_eq(seen & HTTP_SEEN_TRACEPARENT, 0);
		ck_assert_int_eq(ev.type != 0, i == len - 1);
	}
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, tp_cr, sizeof(tp_cr) - 1, &ev);
	ck_assert_uint_eq(http_head_seen(&st),
			  HTTP_SEEN_ENDING | HTTP_SEEN_TRACEPARENT);
	/* A CR inside a value is no ending; responses have none. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, value_cr, sizeof(value_cr) - 1, &ev);
	ck_assert_uint_eq(http_head_seen(&st), 0);
	http_stream_init(&st, HTTP_DIR_RESPONSE);
	http_feed(&st, resp_cr, sizeof(resp_cr) - 1, &ev);
	ck_assert_uint_eq(http_head_seen(&st), 0);
}
END_TEST

START_TEST(req_secrets_never_stored)
{
	static const char in[] =
		"GET /s HTTP/1.1\r\nAuthorization: Bearer SECRET1\r\n"
		"Cookie: c=SECRET2\r\nProxy-Authorization: Basic SECRET3\r\n"
		"Host: h\r\n\r\n";
	struct http_stream st;
	struct http_event ev;
	size_t pos = 0, i;

	/* Byte by byte, so any temporary copy would show. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	for (i = 0; i < sizeof(in) - 1; i++) {
		pos += http_feed(&st, in + i, 1, &ev);
		ck_assert_ptr_null(memmem(st.buf, sizeof(st.buf), "SECRET",
					  6));
	}
	ck_assert_uint_eq(pos, sizeof(in) - 1);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD | HTTP_EV_END);
	ck_assert_uint_eq(ev.head.host.n, 1);
}
END_TEST

START_TEST(req_oversized)
{
	static char in[80000], want[512];
	size_t n;

	/* A huge cookie is skipped without buffering it. */
	n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nCookie: ");
	memset(in + n, 'c', 5000);
	n += 5000;
	n += (size_t)sprintf(in + n, "\r\nHost: h\r\n\r\n");
	sprintf(want, "@%zu H GET / 1.1 host=h hb=%zu E bb=0;", n, n);
	check_stream(HTTP_DIR_REQUEST, NULL, in, n, 0, want);

	/* A long User-Agent is cut to what fits. */
	n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nUser-Agent: ");
	memset(in + n, 'u', 5000);
	n += 5000;
	n += (size_t)sprintf(in + n, "\r\nContent-Length: 1\r\n\r\nz");
	{
		struct http_stream st;
		struct http_event ev;
		size_t c;

		http_stream_init(&st, HTTP_DIR_REQUEST);
		c = http_feed(&st, guarded(in, n), n, &ev);
		ck_assert_uint_eq(c, n - 1);
		ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
		ck_assert_uint_eq(ev.head.flags, HTTP_H_TRUNCATED);
		ck_assert_int_eq(ev.head.content_length, 1);
		ck_assert_uint_eq(ev.head.user_agent.n,
				  HTTP_BUF_SIZE - 128 - 3 - 1);
	}

	/* A long target is cut too, the rest of the head still counts. */
	n = (size_t)sprintf(in, "GET /");
	memset(in + n, 't', 5000);
	n += 5000;
	n += (size_t)sprintf(in + n, " HTTP/1.1\r\nHost: h\r\n\r\n");
	{
		struct http_stream st;
		struct http_event ev;

		http_stream_init(&st, HTTP_DIR_REQUEST);
		ck_assert_uint_eq(http_feed(&st, guarded(in, n), n, &ev), n);
		ck_assert_uint_eq(ev.type, HTTP_EV_HEAD | HTTP_EV_END);
		ck_assert_uint_eq(ev.head.flags, HTTP_H_TRUNCATED);
		ck_assert_uint_eq(ev.head.method.n + ev.head.target.n,
				  HTTP_TARGET_MAX);
		ck_assert_uint_eq(ev.head.host.n, 1);
	}

	/* A head beyond the limit is an error. */
	n = (size_t)sprintf(in, "GET / HTTP/1.1\r\n");
	while (n < HTTP_HEAD_LIMIT + 100)
		n += (size_t)sprintf(in + n, "X-Filler: %080d\r\n", 0);
	n += (size_t)sprintf(in + n, "\r\n");
	{
		struct http_stream st;
		struct http_event ev;
		size_t c;

		http_stream_init(&st, HTTP_DIR_REQUEST);
		c = http_feed(&st, guarded(in, n), n, &ev);
		ck_assert_uint_eq(ev.type, HTTP_EV_ERROR);
		ck_assert_uint_le(c, HTTP_HEAD_LIMIT + 100);
		ck_assert_int_eq(http_stream_done(&st), 1);
	}
}
END_TEST

START_TEST(req_not_http)
{
	REQ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "@1 N;");
	REQ("SSH-2.0-OpenSSH_9.6\r\n", "@20 N;");
	REQ("get / HTTP/1.1\r\n\r\n", "@1 N;");
	REQ("GET / HTTP/2.0\r\n\r\n", "@12 N;");
	REQ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "@12 N;");
	REQ("GET  / HTTP/1.1\r\n\r\n", "@5 N;");
	REQ("GET / HTTP/1.1 \r\n\r\n", "@15 N;");
	REQ("GET /\r\n", "@6 N;");
	REQ("EHLO mail.example.com\r\n", "@22 N;");
	REQ("GET /\x01 HTTP/1.1\r\n", "@6 N;");
	REQ("GET / HTTP/1.1\r\x00", "@16 N;");
	REQ("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ / HTTP/1.1\r\n", "@33 N;");
	REQ("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", "@17 N;");
	/* After a good message, garbage stops the stream too. */
	REQ("GET / HTTP/1.1\r\n\r\n\x00\x01\x02",
	    "@18 H GET / 1.1 hb=18 E bb=0;@19 N;");
	/* Malformed header lines after a good start line are errors. */
	REQ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "@20 X;");
	REQ("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", "@24 X;");
	REQ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "@25 X;");
	REQ("GET / HTTP/1.1\r\n\rX", "@18 X;");
}
END_TEST

START_TEST(req_garbage_random)
{
	static char in[512];
	struct http_stream st;
	struct http_event ev;
	unsigned seed = 12345;
	int round;

	for (round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand_r(&seed) % sizeof(in)) + 1, pos = 0;
		size_t i;
		int evs = 0;

		for (i = 0; i < n; i++)
			in[i] = (char)rand_r(&seed);
		if (round % 2)
			memcpy(in, "GET ", 4);
		http_stream_init(&st, round % 4 < 2 ? HTTP_DIR_REQUEST :
				 HTTP_DIR_RESPONSE);
		while (pos < n) {
			const char *g = guarded(in + pos, n - pos);
			size_t c = http_feed(&st, g, n - pos, &ev);

			if (c == 0)
				ck_abort_msg("no progress");
			pos += c;
			if (ev.type)
				evs++;
		}
		ck_assert_uint_eq(pos, n);
		ck_assert_int_le(evs, 2);
	}
}
END_TEST

START_TEST(req_obs_fold)
{
	REQ("GET / HTTP/1.1\r\nX-Long: a\r\n  continued\r\nHost: h\r\n"
	    "User-Agent: u\r\n\tmore\r\n\r\n",
	    "@73 H GET / 1.1 host=h ua=u hb=73 E bb=0;");
}
END_TEST

START_TEST(req_connect)
{
	struct http_stream st;
	struct http_event ev;
	static const char in[] = "CONNECT example.com:443 HTTP/1.1\r\n"
				 "Host: example.com:443\r\n\r\n\x16\x03\x01";

	check_stream(HTTP_DIR_REQUEST, NULL, in, sizeof(in) - 1, 1,
		     "@59 H CONNECT example.com:443 1.1 host=example.com:443"
		     " hb=59 E bb=0;EOF");
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, in, sizeof(in) - 1, &ev);
	ck_assert_int_eq(http_stream_done(&st), 1);
	ck_assert_uint_eq(http_feed(&st, "GET", 3, &ev), 3);
	ck_assert_uint_eq(ev.type, 0);
}
END_TEST

START_TEST(req_eof)
{
	check_stream(HTTP_DIR_REQUEST, NULL, "GET / HTTP/1.1\r\n\r\n", 18, 1,
		     "@18 H GET / 1.1 hb=18 E bb=0;EOF");
	check_stream(HTTP_DIR_REQUEST, NULL, "GET / HTTP/1.1\r\nHo", 18, 1,
		     "@18 X;EOF");
	check_stream(HTTP_DIR_REQUEST, NULL,
		     "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", 41, 1,
		     "@38 H POST / 1.1 cl=9 hb=38;@41 X;EOF");
	check_stream(HTTP_DIR_REQUEST, NULL, "", 0, 1, "EOF");
}
END_TEST

/* -------------------------------------------------------- response side */


START_TEST(resp_basic)
{
	RESP(NULL, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	     "Set-Cookie: s=SECRET\r\n\r\nok", 0,
	     "@60 H 200 1.1 cl=2 hb=60;@62 E bb=2;");
	RESP(NULL, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	     "HTTP/1.1 500\r\nContent-Length: 1\r\n\r\nx", 0,
	     "@45 H 404 1.1 cl=0 hb=45 E bb=0;@80 H 500 1.1 cl=1 hb=35;"
	     "@81 E bb=1;");
	/* Response headers we would keep in a request are not kept. */
	RESP(NULL, "HTTP/1.1 200 OK\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
	     0, "@47 H 200 1.1 cl=0 hb=47 E bb=0;");
	RESP(NULL, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "3;x\r\nabc\r\n0;y\r\nT: 1\r\n\r\n", 0,
	     "@47 H 200 1.1 f=1 hb=47;@70 E bb=23;");
}
END_TEST

/* A response whose body of known length came with its head ends in the
 * call that reads the head; the rest of the bytes wait for the next call.
 * A request's head is always an event of its own (a client's writer edits
 * it before the body goes out). */
START_TEST(resp_body_with_head)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				   "\r\nokHTTP/1.1 200 OK\r\n";
	static const char req[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\n"
				  "\r\nok";
	struct http_stream *st = malloc(sizeof(*st));
	struct http_event ev;
	size_t n;

	ck_assert_ptr_nonnull(st);
	http_stream_init(st, HTTP_DIR_RESPONSE);
	n = http_feed(st, resp, sizeof(resp) - 1, &ev);
	ck_assert_uint_eq(n, 40);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD | HTTP_EV_END);
	ck_assert_uint_eq(ev.head.status, 200);
	ck_assert_uint_eq(ev.head.head_bytes, 38);
	ck_assert_uint_eq(ev.body_bytes, 2);
	/* The body cut short: the head alone, the end with the rest. */
	http_stream_init(st, HTTP_DIR_RESPONSE);
	n = http_feed(st, resp, 39, &ev);
	ck_assert_uint_eq(n, 38);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
	http_stream_init(st, HTTP_DIR_REQUEST);
	n = http_feed(st, req, sizeof(req) - 1, &ev);
	ck_assert_uint_eq(n, sizeof(req) - 3);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
	n = http_feed(st, req + n, 2, &ev);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ev.type, HTTP_EV_END);
	free(st);
}
END_TEST

START_TEST(resp_close_delimited)
{
	RESP(NULL, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabcdef",
	     1, "@45 H 200 1.1 f=2 hb=45;@51 E bb=6;EOF");
	RESP(NULL, "HTTP/1.0 200 OK\r\n\r\nabc", 1,
	     "@19 H 200 1.0 f=2 hb=19;@22 E bb=3;EOF");
	/* A coding that is not chunked: the body runs to the close. */
	RESP(NULL, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz",
	     1, "@44 H 200 1.1 f=2 hb=44;@47 E bb=3;EOF");
	/* EOF inside a length-delimited body is an error. */
	RESP(NULL, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 1,
	     "@38 H 200 1.1 cl=5 hb=38;@40 X;EOF");
}
END_TEST

START_TEST(resp_no_body)
{
	static const struct setup head_get = { { "HEAD", "GET", NULL } };
	static const struct setup gets = { { "GET", "GET", "GET", NULL } };

	RESP(&head_get, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
	     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0,
	     "@40 H 200 1.1 cl=100 hb=40 E bb=0;@78 H 200 1.1 cl=2 hb=38;"
	     "@80 E bb=2;");
	RESP(&gets, "HTTP/1.1 204 No Content\r\n\r\n"
	     "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
	     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!", 0,
	     "@27 H 204 1.1 hb=27 E bb=0;@76 H 304 1.1 cl=10 hb=49 E bb=0;"
	     "@114 H 200 1.1 cl=1 hb=38;@115 E bb=1;");
}
END_TEST

START_TEST(resp_interim)
{
	static const struct setup head_get = { { "HEAD", "GET", NULL } };

	/* 1xx do not answer the request: HEAD applies to the 200. */
	RESP(&head_get, "HTTP/1.1 100 Continue\r\n\r\n"
	     "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
	     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
	     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0,
	     "@25 H 100 1.1 hb=25 E bb=0;@69 H 103 1.1 hb=44 E bb=0;"
	     "@107 H 200 1.1 cl=5 hb=38 E bb=0;@145 H 200 1.1 cl=2 hb=38;"
	     "@147 E bb=2;");
}
END_TEST

START_TEST(resp_switch)
{
	static const struct setup connect = { { "CONNECT", NULL } };
	struct http_stream st;
	struct http_event ev;
	static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
				 "\r\n\x81\x05hello";

	RESP(NULL, "HTTP/1.1 101 Switching Protocols\r\n"
	     "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
	     1, "@77 H 101 1.1 f=4 hb=77 E bb=0;EOF");
	http_stream_init(&st, HTTP_DIR_RESPONSE);
	ck_assert_uint_eq(http_feed(&st, up, 77, &ev), 77);
	ck_assert_int_eq(http_stream_done(&st), 1);
	RESP(&connect, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03",
	     1, "@39 H 200 1.1 hb=39 E bb=0;EOF");
	/* A refused CONNECT is an ordinary response. */
	RESP(&connect, "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 1\r\n\r\n"
	     "x", 0, "@46 H 407 1.1 cl=1 hb=46;@47 E bb=1;");
	/* http_stop: the other direction saw the switch. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_stop(&st);
	ck_assert_int_eq(http_stream_done(&st), 1);
	ck_assert_uint_eq(http_feed(&st, "GET / HTTP/1.1\r\n\r\n", 18, &ev),
			  18);
	ck_assert_uint_eq(ev.type, 0);
}
END_TEST

START_TEST(resp_not_http)
{
	RESP(NULL, "SSH-2.0-x\r\n", 0, "@1 N;");
	RESP(NULL, "HTTP/2 200\r\n\r\n", 0, "@6 N;");
	RESP(NULL, "HTTP/1.1 20 OK\r\n\r\n", 0, "@12 N;");
	RESP(NULL, "HTTP/1.1 099 x\r\n\r\n", 0, "@12 N;");
	RESP(NULL, "HTTP/1.1 2000 OK\r\n\r\n", 0, "@13 N;");
	RESP(NULL, "HTTP/1.1 200 O\x01K\r\n\r\n", 0, "@15 N;");
	RESP(NULL, "HTTP/1.1 200\r\n\r\n", 0, "@16 H 200 1.1 f=2 hb=16;");
}
END_TEST

START_TEST(resp_pending_overflow)
{
	struct http_stream st;
	struct http_head h;
	struct http_event ev;
	static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n";
	int i;

	http_stream_init(&st, HTTP_DIR_RESPONSE);
	memset(&h, 0, sizeof(h));
	h.method.p = "HEAD";
	h.method.n = 4;
	for (i = 0; i < 20; i++)
		http_push_request(&st, &h);
	/* 16 are remembered: those responses have no body. */
	for (i = 0; i < 16; i++) {
		ck_assert_uint_eq(http_feed(&st, r, sizeof(r) - 1, &ev),
				  sizeof(r) - 1);
		ck_assert_uint_eq(ev.type, HTTP_EV_HEAD | HTTP_EV_END);
	}
	ck_assert_uint_eq(http_feed(&st, r, sizeof(r) - 1, &ev),
			  sizeof(r) - 1);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
}
END_TEST

/* What a server may have read of a request it answers: the method once
 * its space is read, the target once its space is, nothing once the head
 * was complete or for bytes that never began a request. */
START_TEST(unfinished_request)
{
	struct http_stream st;
	struct http_event ev;
	struct http_head h;
	const char *full = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";

	http_stream_init(&st, HTTP_DIR_REQUEST);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);
	http_feed(&st, "GE", 2, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);
	http_feed(&st, "T /pa", 5, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 1);
	ck_assert(str_is(h.method, "get"));
	ck_assert_ptr_null(h.target.p);
	http_feed(&st, "th HTTP/1.1\r\nHost: h\r\nX: y", 27, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 1);
	ck_assert(str_is(h.target, "/path"));
	ck_assert(str_is(h.host, "h"));
	http_feed(&st, "\r\n\r\n", 4, &ev);
	ck_assert(ev.type & HTTP_EV_HEAD);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);
	http_eof(&st, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);

	/* Malformed in its target: the method is still known. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, "GET /a\x01", 7, &ev);
	ck_assert(ev.type & HTTP_EV_NOT_HTTP);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 1);
	ck_assert(str_is(h.method, "get"));
	/* Not a request at all; a response stream never has one. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, "\x16\x03", 2, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);
	http_stream_init(&st, HTTP_DIR_RESPONSE);
	http_feed(&st, "HTTP/1.1 2", 10, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 0);
	/* A second request on the connection, cut in its head. */
	http_stream_init(&st, HTTP_DIR_REQUEST);
	http_feed(&st, full, strlen(full), &ev);
	http_feed(&st, "POST /y", 7, &ev);
	http_eof(&st, &ev);
	ck_assert_int_eq(http_unfinished_request(&st, &h), 1);
	ck_assert(str_is(h.method, "post"));
}
END_TEST

START_TEST(skip_body_bytes)
{
	/* sendfile: the head is seen, the body only counted. */
	static const char head[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	static const char chunked[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
	struct http_stream st;
	struct http_event ev;
	size_t n;

	http_stream_init(&st, HTTP_DIR_RESPONSE);
	ck_assert(http_stream_idle(&st));
	n = http_feed(&st, head, 5, &ev);
	ck_assert_uint_eq(n, 5);
	ck_assert(!http_stream_idle(&st));
	/* A head cannot be skipped. */
	ck_assert_uint_eq(http_skip(&st, 3, &ev), 0);
	n = http_feed(&st, head + 5, sizeof(head) - 6, &ev);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
	ck_assert_uint_eq(http_skip(&st, 4, &ev), 4);
	ck_assert_uint_eq(ev.type, 0);
	ck_assert_uint_eq(http_skip(&st, 100, &ev), 6);
	ck_assert_uint_eq(ev.type, HTTP_EV_END);
	ck_assert_uint_eq(ev.body_bytes, 10);
	ck_assert(http_stream_idle(&st));

	/* Chunk data up to the end of the chunk, then framing again. */
	http_stream_init(&st, HTTP_DIR_RESPONSE);
	n = http_feed(&st, chunked, sizeof(chunked) - 1, &ev);
	ck_assert_uint_eq(ev.type, HTTP_EV_HEAD);
	if (n < sizeof(chunked) - 1)
		http_feed(&st, chunked + n, sizeof(chunked) - 1 - n, &ev);
	ck_assert_uint_eq(http_skip(&st, 9, &ev), 5);
	ck_assert_uint_eq(http_skip(&st, 4, &ev), 0);
	n = http_feed(&st, "\r\n0\r\n\r\n", 7, &ev);
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(ev.type, HTTP_EV_END);
}
END_TEST

/* -------------------------------------------------------- whole heads */

/*
 * A head that arrives whole is taken by a faster path of http_feed() than
 * one fed a byte at a time (which only the byte machine sees): both must
 * give the same events.  The inputs sit at the edges of what that path
 * takes: lengths at their limits and one past, shapes it leaves to the
 * machine.
 */
static void check_whole(enum http_dir dir, const char *in, size_t len)
{
	static struct log whole, bytes;

	run(&whole, dir, NULL, in, len, 0, 0, 1);
	run(&bytes, dir, NULL, in, len, 0, 1, 1);
	ck_assert_str_eq(whole.s, bytes.s);
}

/* GET, a target making the start line, one header of name with a value
 * of n times c, then tail. */
static size_t head_with(char *in, size_t tlen, const char *name,
			size_t n, char c, const char *tail)
{
	size_t k = (size_t)sprintf(in, "GET /");

	memset(in + k, 't', tlen - 1);
	k += tlen - 1;
	k += (size_t)sprintf(in + k, " HTTP/1.1\r\n%s: ", name);
	memset(in + k, c, n);
	k += n;
	k += (size_t)sprintf(in + k, "\r\n%s\r\n", tail);
	return k;
}

START_TEST(whole_head_limits)
{
	static const char *const shapes[] = {
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\nUser-Agent: u\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\n",
		"GET / HTTP/1.1\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		"GET / HTTP/1.1\r\n: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\th \t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\nhost: second\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\x80\xff\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: 1\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\ntraceparent: a\r\ntraceparent: b\r\n"
		"tracestate: x=1\r\n\r\n",
		"GET / HTTP/1.1\r\ntracestate: a=1\r\ntracestate: b=2\r\n"
		"TRACESTATE: c=3\r\ntracestate: d=4\r\ntracestate: e=5\r\n"
		"traceparent: t\r\n\r\n",
		"GET / HTTP/1.1\r\ntracestate: a=1\r\ntracestate: b=2\r\n"
		"traceparent: t\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3,3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nContent-Length: 3 , 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 03"
		"\r\n\r\nabc",
		"POST / HTTP/1.1\r\nContent-Length: 123456789012345678\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		"0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.9\r\n\r\nGET / HTTP/1.x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n",
		"Get / HTTP/1.1\r\n\r\n",
	};
	static const char *const statuses[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204"
		"\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 \t\x80 ok \r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 200 OK\n\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.0 200 OK\r\nHost: kept by requests only\r\n\r\nbody",
		"HTTP/1.1 101 Switching\r\nConnection: upgrade\r\n\r\nxx",
	};
	static char in[HTTP_HEAD_LIMIT + 256];
	size_t i, n, k;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_whole(HTTP_DIR_REQUEST, shapes[i], strlen(shapes[i]));
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		check_whole(HTTP_DIR_RESPONSE, statuses[i],
			    strlen(statuses[i]));

	/* Methods of HTTP_METHOD_MAX bytes and one more. */
	for (n = HTTP_METHOD_MAX; n <= HTTP_METHOD_MAX + 1; n++) {
		memset(in, 'M', n);
		k = n + (size_t)sprintf(in + n, " / HTTP/1.1\r\n\r\n");
		check_whole(HTTP_DIR_REQUEST, in, k);
	}
	/* Method and target of HTTP_TARGET_MAX bytes and around. */
	for (n = HTTP_TARGET_MAX - 4; n <= HTTP_TARGET_MAX - 2; n++)
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, n, "Host", 1, 'h', ""));
	/* Kept values that just fit (GET and the target use 4 bytes), one
	 * more, trailing white space past the limit; an interpreted one. */
	for (n = HTTP_BUF_SIZE - 128 - 6; n <= HTTP_BUF_SIZE - 128 - 3; n++) {
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, 1, "User-Agent", n, 'u', ""));
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, 1, "User-Agent", n, ' ', ""));
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, 1, "User-Agent", n, 'u',
				      "Host: after\r\n"));
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, 1, "tracestate", n / 2, 's',
				      "tracestate: x=1\r\n"
				      "tracestate: y=2\r\n"));
		check_whole(HTTP_DIR_REQUEST, in,
			    head_with(in, 1, "Connection", n + 124, ' ',
				      ""));
	}
	/* Heads of HTTP_HEAD_LIMIT bytes and one more. */
	for (n = HTTP_HEAD_LIMIT - 1; n <= HTTP_HEAD_LIMIT + 1; n++) {
		k = head_with(in, 1, "X-Filler", n - 30, 'f', "");
		ck_assert_uint_eq(k, n);
		check_whole(HTTP_DIR_REQUEST, in, k);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("stream");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, req_simple_get);
	tcase_add_test(tc, req_content_length);
	tcase_add_test(tc, req_chunked);
	tcase_add_test(tc, req_keepalive_many);
	tcase_add_test(tc, req_pipelined);
	tcase_add_test(tc, req_trace_headers);
	tcase_add_test(tc, header_names);
	tcase_add_test(tc, req_head_seen);
	tcase_add_test(tc, req_secrets_never_stored);
	tcase_add_test(tc, req_oversized);
	tcase_add_test(tc, req_not_http);
	tcase_add_test(tc, req_garbage_random);
	tcase_add_test(tc, req_obs_fold);
	tcase_add_test(tc, req_connect);
	tcase_add_test(tc, req_eof);
	tcase_add_test(tc, resp_basic);
	tcase_add_test(tc, resp_body_with_head);
	tcase_add_test(tc, resp_close_delimited);
	tcase_add_test(tc, resp_no_body);
	tcase_add_test(tc, resp_interim);
	tcase_add_test(tc, resp_switch);
	tcase_add_test(tc, resp_not_http);
	tcase_add_test(tc, resp_pending_overflow);
	tcase_add_test(tc, skip_body_bytes);
	tcase_add_test(tc, unfinished_request);
	tcase_add_test(tc, whole_head_limits);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
