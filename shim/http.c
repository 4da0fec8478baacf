/*
 * HTTP/1.x recognition for the socket hooks, on application threads: a
 * byte-at-a-time state machine per connection direction that finds message
 * heads and message ends in whatever pieces the program reads or writes.
 * It observes, it does not validate: it stops following a stream (once,
 * cheaply) when the bytes are not HTTP/1.x or stop making sense, and the
 * program never notices.
 *
 * The head buffer holds only what a span may record: the method and target
 * and the values of a few request headers.  Every other header line is
 * skipped as it streams by, so Authorization, Cookie and friends never
 * reach our memory, and a head full of large cookies does not overflow it.
 */
#include <string.h>

#include "http.h"

/* Head bytes reserved for parsing framing headers after the kept strings
 * have filled the rest. */
#define FRAMING_RESERVE 128
#define KEPT_LIMIT      (HTTP_BUF_SIZE - FRAMING_RESERVE)
/* Empty lines tolerated before a message (RFC 9112 section 2.2). */
#define LEADING_EMPTY_MAX 16
#define CHUNK_EXT_MAX   4096
#define PENDING_MAX     16

enum {
	/* start line */
	S_START = 0,
	S_METHOD,
	S_TARGET,
	S_VERSION,
	S_STATUS,
	S_REASON,
	/* header section */
	S_HSTART,
	S_HNAME,
	S_HOWS,
	S_HVALUE,
	S_HSKIP,
	/* body: every state from here on counts body bytes */
	S_BODY_CL,
	S_CHUNK_SIZE,
	S_CHUNK_WS,
	S_CHUNK_EXT,
	S_CHUNK_DATA,
	S_CHUNK_DATA_CR,
	S_TRAILER_START,
	S_TRAILER_LINE,
	S_BODY_CLOSE,
	/* final */
	S_OFF,          /* tunnel or protocol switch: ignore everything */
	S_DEAD,         /* not HTTP, or an error was reported */
};

/* Indices of struct http_stream.str, in the order of struct http_head. */
enum {
	STR_METHOD = 0,
	STR_TARGET,
	STR_HOST,
	STR_UA,
	STR_TP,
	STR_TS,
	STR_FWD,
	STR_XFF,
	STR_XFH,
};

/* What a header line is to us.  Kept headers use their STR_ index. */
enum {
	K_SKIP = 0,
	K_CL = 16,
	K_TE,
	K_CONN,
};

/* Parse-private bits of http_stream.flags, above the public HTTP_H_*. */
#define F_TE         0x0100   /* Transfer-Encoding seen */
#define F_KEEPALIVE  0x0200   /* Connection: keep-alive */
#define F_CONN_CLOSE 0x0400   /* Connection: close */
#define F_LINE_TRUNC 0x0800   /* the current header value did not fit */
#define F_OFF_AFTER  0x1000   /* stop after this message (tunnel, 101) */
#define F_CR         0x2000   /* a CR ended a line: the LF must follow */
#define F_IN_HEAD    0x4000   /* the head of this message is not complete */

/* Request kinds queued on a response stream. */
enum { REQ_PLAIN = 0, REQ_HEAD = 1, REQ_CONNECT = 2 };

/* --------------------------------------------------------- stream state */

void http_stream_init(struct http_stream *st, enum http_dir dir)
{
	memset(st, 0, offsetof(struct http_stream, buf));
	st->dir = (uint8_t)dir;
	st->state = S_START;
	st->content_length = -1;
}

void http_stop(struct http_stream *st)
{
	st->state = S_OFF;
}

int http_stream_done(const struct http_stream *st)
{
	return st->state >= S_OFF;
}

void http_push_request(struct http_stream *resp, const struct http_head *req)
{
	unsigned kind = REQ_PLAIN;

	if (resp->npending >= PENDING_MAX)
		return;
	if (req->method.p && req->method.n == 4 &&
	    memcmp(req->method.p, "HEAD", 4) == 0)
		kind = REQ_HEAD;
	else if (req->method.p && req->method.n == 7 &&
		 memcmp(req->method.p, "CONNECT", 7) == 0)
		kind = REQ_CONNECT;
	resp->pending |= (uint32_t)kind << (2 * resp->npending);
	resp->npending++;
}

static unsigned pop_request(struct http_stream *st)
{
	unsigned kind;

	if (st->npending == 0)
		return REQ_PLAIN;
	kind = st->pending & 3;
	st->pending >>= 2;
	st->npending--;
	return kind;
}

/* Resets the per-message fields when the first byte of a message arrives. */
static void begin_message(struct http_stream *st)
{
	st->used = 0;
	st->have = 0;
	st->flags = F_IN_HEAD;
	st->ntp = 0;
	st->nts = 0;
	st->status = 0;
	st->version_minor = 0;
	st->method_len = 0;
	st->aux = 0;
	st->head_bytes = 1;
	st->body_bytes = 0;
	st->remaining = 0;
	st->content_length = -1;
}

static unsigned fail(struct http_stream *st, unsigned what)
{
	st->state = S_DEAD;
	return what;
}

/* The start line is where "not HTTP" is decided; after it, "error". */
static unsigned fail_here(struct http_stream *st)
{
	return fail(st, st->state < S_HSTART ? HTTP_EV_NOT_HTTP :
					       HTTP_EV_ERROR);
}

static void set_str(struct http_stream *st, int i, size_t off, size_t len)
{
	st->str[i].off = (uint16_t)off;
	st->str[i].len = (uint16_t)len;
	st->have |= (uint16_t)(1u << i);
}

/* Where struct http_head keeps each of the stream's strings (STR_*). */
static const size_t head_field[HTTP_NSTR] = {
	offsetof(struct http_head, method),
	offsetof(struct http_head, target),
	offsetof(struct http_head, host),
	offsetof(struct http_head, user_agent),
	offsetof(struct http_head, traceparent),
	offsetof(struct http_head, tracestate),
	offsetof(struct http_head, forwarded),
	offsetof(struct http_head, x_forwarded_for),
	offsetof(struct http_head, x_forwarded_host),
};

static void fill_head(const struct http_stream *st, struct http_head *h)
{
	unsigned have = st->have;

	/* All absent, then the few a head has (none on a response). */
	h->method = h->target = h->host = h->user_agent = (struct str){ 0 };
	h->traceparent = h->tracestate = h->forwarded = (struct str){ 0 };
	h->x_forwarded_for = h->x_forwarded_host = (struct str){ 0 };
	while (have) {
		int i = __builtin_ctz(have);
		struct str *s = (struct str *)((char *)h + head_field[i]);

		s->p = st->buf + st->str[i].off;
		s->n = st->str[i].len;
		have &= have - 1;
	}
	h->content_length = st->content_length;
	h->head_bytes = st->head_bytes;
	h->status = st->status;
	h->version_minor = st->version_minor;
	h->flags = (uint8_t)(st->flags & 0xff);
}

static unsigned end_message(struct http_stream *st, struct http_event *ev)
{
	ev->body_bytes = st->body_bytes;
	st->aux = 0;
	st->state = (st->flags & F_OFF_AFTER) ? S_OFF : S_START;
	return HTTP_EV_END;
}

/* ------------------------------------------------------ framing headers */

/*
 * Calls back on each member of a comma-separated list, trimmed, empty ones
 * skipped; stops early when fn returns non-zero and returns that.  Inline,
 * fn with it: a list is most often one short member (keep-alive).
 */
static inline __attribute__((always_inline)) int
each_element(struct str list, void *arg, int (*fn)(void *arg, struct str e))
{
	const char *p = list.p, *end = list.p + list.n, *comma, *b, *e;
	int r;

	for (;;) {
		for (comma = p; comma < end && *comma != ','; comma++)
			;
		for (b = p; b < comma && ascii_is_ows(*b); b++)
			;
		for (e = comma; e > b && ascii_is_ows(e[-1]); e--)
			;
		if (e > b && (r = fn(arg, (struct str){ b, (size_t)(e - b) })))
			return r;
		if (comma == end)
			return 0;
		p = comma + 1;
	}
}

/* The value of 1 to 18 decimal digits, or -1. */
static int64_t decimal_value(struct str e)
{
	int64_t v = 0;
	size_t i;

	if (e.n == 0 || e.n > 18)
		return -1;
	for (i = 0; i < e.n; i++) {
		if (!ascii_is_digit(e.p[i]))
			return -1;
		v = v * 10 + (e.p[i] - '0');
	}
	return v;
}

struct cl_parse {
	int64_t value;          /* -1 until the first element */
};

static int cl_element(void *arg, struct str e)
{
	struct cl_parse *cl = arg;
	int64_t v = decimal_value(e);

	if (v < 0 || (cl->value >= 0 && cl->value != v))
		return -1;
	cl->value = v;
	return 0;
}

/* Content-Length: digits, or a list of identical values; two different
 * lengths leave the framing ambiguous, which we refuse to guess. */
static int parse_content_length(struct http_stream *st, struct str v)
{
	/* Nearly every value is one number: no list to split then. */
	int64_t value = decimal_value(v);

	if (value < 0) {
		struct cl_parse cl = { -1 };

		if (each_element(v, &cl, cl_element) || cl.value < 0)
			return -1;
		value = cl.value;
	}
	if (st->content_length >= 0 && st->content_length != value)
		return -1;
	st->content_length = value;
	return 0;
}

/*
 * 1 if the n bytes at p (4 or more, as every name we look for is) are
 * lit, a lowercase name of letters and '-', in any case.  p may hold any
 * byte (a whole head's line, not yet cut at its ':'): a letter of lit has
 * bit 0x40, which '-' has not, so lit shifted right by one and masked
 * with 0x20 has that bit where the case may differ only, and a '-' must
 * be one (a CR with 0x20 set would be a '-').  Eight bytes compare at
 * once (four for a shorter name), the last ones overlapping.
 */
static inline __attribute__((always_inline)) int
lit_at(const char *p, const char *lit, size_t n)
{
	const uint64_t fold = 0x2020202020202020u;
	uint64_t a, b;
	uint32_t a4, b4;
	size_t k;

	if (n < 8) {
		memcpy(&a4, p, 4);
		memcpy(&b4, lit, 4);
		if ((a4 | ((b4 >> 1) & (uint32_t)fold)) != b4)
			return 0;
		memcpy(&a4, p + n - 4, 4);
		memcpy(&b4, lit + n - 4, 4);
		return (a4 | ((b4 >> 1) & (uint32_t)fold)) == b4;
	}
	for (k = 0; k + 8 < n; k += 8) {
		memcpy(&a, p + k, 8);
		memcpy(&b, lit + k, 8);
		if ((a | ((b >> 1) & fold)) != b)
			return 0;
	}
	memcpy(&a, p + n - 8, 8);
	memcpy(&b, lit + n - 8, 8);
	return (a | ((b >> 1) & fold)) == b;
}

/* 1 if e is lit, a lowercase token of letters and '-' (4 or more, as
 * lit_at() needs), in any case. */
#define TOKEN_IS(e, lit) \
	((e).n == sizeof(lit) - 1 && lit_at((e).p, lit, sizeof(lit) - 1))

static int te_element(void *arg, struct str e)
{
	struct http_stream *st = arg;
	size_t k = 0;

	while (k < e.n && e.p[k] != ';' && !ascii_is_ows(e.p[k]))
		k++;
	st->flags |= F_TE;
	if (TOKEN_IS(((struct str){ e.p, k }), "chunked"))
		st->flags |= HTTP_H_CHUNKED;
	else
		st->flags &= (uint16_t)~HTTP_H_CHUNKED;
	return 0;
}

static int conn_element(void *arg, struct str e)
{
	struct http_stream *st = arg;

	if (TOKEN_IS(e, "close"))
		st->flags |= F_CONN_CLOSE;
	else if (TOKEN_IS(e, "keep-alive"))
		st->flags |= F_KEEPALIVE;
	else if (TOKEN_IS(e, "upgrade"))
		st->flags |= HTTP_H_UPGRADE;
	return 0;
}

#undef TOKEN_IS

/*
 * The header names a stream looks for, once for both of its readers: the
 * name, its kind, and 1 when only a request keeps it (a response keeps
 * none of these).  Content-Type is here to be passed over quickly by a
 * whole head (known_name), not to be kept.  Every name is four letters
 * or more, as lit_at() needs.
 */
#define HTTP_NAMES(X) \
	X("content-length", K_CL, 0) \
	X("content-type", K_SKIP, 0) \
	X("connection", K_CONN, 0) \
	X("host", STR_HOST, 1) \
	X("user-agent", STR_UA, 1) \
	X("traceparent", STR_TP, 1) \
	X("tracestate", STR_TS, 1) \
	X("transfer-encoding", K_TE, 0) \
	X("forwarded", STR_FWD, 1) \
	X("x-forwarded-for", STR_XFF, 1) \
	X("x-forwarded-host", STR_XFH, 1)

#define LEN(lit) (sizeof(lit) - 1)
/* What a name of the table is to a stream of dir: its kind, or K_SKIP. */
#define KIND_FOR(kind, request_only, req) \
	((request_only) && !(req) ? K_SKIP : (kind))

/* What the header named name[0..n) (any case) is to a stream of dir. */
static int classify_name(const char *name, size_t n, unsigned dir)
{
	int req = dir == HTTP_DIR_REQUEST;

#define X(lit, kind, request_only) \
	if (n == LEN(lit) && lit_at(name, lit, LEN(lit))) \
		return KIND_FOR(kind, request_only, req);
	HTTP_NAMES(X)
#undef X
	return K_SKIP;
}

static int classify_header(const struct http_stream *st)
{
	/* namelen is one past the name kept when the name was longer. */
	if (st->namelen > sizeof(st->name))
		return K_SKIP;
	return classify_name(st->name, st->namelen, st->dir);
}

/* Keeps v[0..n) at the end of the buffer's used bytes, where it may lie
 * already (the byte machine stored it there); returns its offset. */
static inline uint16_t keep_value(struct http_stream *st, const char *v,
				  size_t n)
{
	uint16_t at = st->used;

	if (v != st->buf + at)
		copy_short(st->buf + at, v, n);
	st->used = (uint16_t)(at + n);
	return at;
}

/*
 * The value v[0..n) of a header line of kind, trailing whitespace and
 * all, cut if it did not fit: the framing headers are interpreted where
 * the value lies, a kept one is kept (its first line, for all but
 * traceparent and tracestate, whose repeats are judged here) and the
 * rest is dropped.  The value is either at the end of the buffer's used
 * bytes (the byte machine's, with those bytes given back) or anywhere
 * else (a whole head's, copied into the buffer only if kept).  Returns
 * -1 if the head can no longer be framed.
 */
static inline __attribute__((always_inline)) int
take_value(struct http_stream *st, int kind, const char *v, size_t n, int cut)
{
	struct str val;
	uint16_t at;

	while (n > 0 && ascii_is_ows(v[n - 1]))
		n--;
	val = (struct str){ v, n };
	switch (kind) {
	case K_CL:
		return cut ? -1 : parse_content_length(st, val);
	case K_TE:
		return cut ? -1 : each_element(val, st, te_element);
	case K_CONN:
		if (!cut)
			each_element(val, st, conn_element);
		return 0;
	case STR_TP:
		if (++st->ntp == 1 && !cut)
			set_str(st, STR_TP, keep_value(st, v, n), n);
		else
			st->flags |= HTTP_H_TP_INVALID;
		return 0;
	case STR_TS:
		if (cut || st->nts == HTTP_TS_FRAGS) {
			st->flags |= HTTP_H_TS_DROPPED;
			return 0;
		}
		at = keep_value(st, v, n);
		st->ts[st->nts].off = at;
		st->ts[st->nts].len = (uint16_t)n;
		st->nts++;
		return 0;
	default:
		if (st->have & (1u << kind))
			return 0;
		set_str(st, kind, keep_value(st, v, n), n);
		if (cut)
			st->flags |= HTTP_H_TRUNCATED;
		return 0;
	}
}

/* The byte machine's header line has ended, its value stored from
 * val_off on: keep or interpret it. */
static int finish_header(struct http_stream *st)
{
	size_t n = st->used - st->val_off;

	st->used = st->val_off;
	return take_value(st, st->kind, st->buf + st->val_off, n,
			  (st->flags & F_LINE_TRUNC) != 0);
}

/* Makes tracestate one string: the lines joined by ','. */
static void join_tracestate(struct http_stream *st)
{
	size_t total = 0, w;
	int i;

	if (st->flags & (HTTP_H_TP_INVALID | HTTP_H_TS_DROPPED)) {
		st->have &= (uint16_t)~(1u << STR_TS);
		if (st->flags & HTTP_H_TP_INVALID)
			st->have &= (uint16_t)~(1u << STR_TP);
		return;
	}
	if (st->nts == 0)
		return;
	if (st->nts == 1) {
		set_str(st, STR_TS, st->ts[0].off, st->ts[0].len);
		return;
	}
	for (i = 0; i < st->nts; i++)
		total += st->ts[i].len;
	total += st->nts - 1;
	if (st->used + total > KEPT_LIMIT) {
		st->flags |= HTTP_H_TS_DROPPED;
		return;
	}
	w = st->used;
	for (i = 0; i < st->nts; i++) {
		if (i > 0)
			st->buf[w++] = ',';
		memmove(st->buf + w, st->buf + st->ts[i].off, st->ts[i].len);
		w += st->ts[i].len;
	}
	set_str(st, STR_TS, st->used, total);
	st->used = (uint16_t)w;
}

/* The empty line after the headers: decide how the body is framed. */
static unsigned head_done(struct http_stream *st, struct http_event *ev)
{
	int no_body = 0;

	join_tracestate(st);
	if (st->flags & F_CONN_CLOSE ||
	    (st->version_minor == 0 && !(st->flags & F_KEEPALIVE)))
		st->flags |= HTTP_H_CLOSE;
	if (st->dir == HTTP_DIR_REQUEST) {
		if (st->method_len == 7 && memcmp(st->buf, "CONNECT", 7) == 0) {
			st->flags |= F_OFF_AFTER;
			no_body = 1;
		} else if (st->flags & F_TE) {
			/* A request must be chunked if it has any coding. */
			if (!(st->flags & HTTP_H_CHUNKED))
				return fail(st, HTTP_EV_ERROR);
			st->state = S_CHUNK_SIZE;
		} else if (st->content_length > 0) {
			st->state = S_BODY_CL;
			st->remaining = (uint64_t)st->content_length;
		} else {
			no_body = 1;
		}
	} else if (st->status < 200) {
		/* Interim: the request is still waiting for its response. */
		no_body = 1;
		if (st->status == 101)
			st->flags |= F_OFF_AFTER;
	} else {
		unsigned kind = pop_request(st);

		if (kind == REQ_HEAD || st->status == 204 ||
		    st->status == 304) {
			no_body = 1;
		} else if (kind == REQ_CONNECT && st->status / 100 == 2) {
			no_body = 1;
			st->flags |= F_OFF_AFTER;
		} else if (st->flags & F_TE) {
			if (st->flags & HTTP_H_CHUNKED) {
				st->state = S_CHUNK_SIZE;
			} else {
				st->state = S_BODY_CLOSE;
				st->flags |= HTTP_H_CLOSE;
			}
		} else if (st->content_length > 0) {
			st->state = S_BODY_CL;
			st->remaining = (uint64_t)st->content_length;
		} else if (st->content_length == 0) {
			no_body = 1;
		} else {
			st->state = S_BODY_CLOSE;
			st->flags |= HTTP_H_CLOSE;
		}
	}
	if (st->state == S_CHUNK_SIZE) {
		st->aux = 0;
		st->remaining = 0;
	}
	st->flags &= (uint16_t)~F_IN_HEAD;
	fill_head(st, &ev->head);
	if (no_body)
		return HTTP_EV_HEAD | end_message(st, ev);
	return HTTP_EV_HEAD;
}

static void chunk_size_done(struct http_stream *st)
{
	st->aux = 0;
	st->state = st->remaining ? S_CHUNK_DATA : S_TRAILER_START;
}

/* --------------------------------------------------------- the machine */

static void store(struct http_stream *st, unsigned char c, size_t limit)
{
	if (st->used < limit)
		st->buf[st->used++] = (char)c;
	else
		st->flags |= F_LINE_TRUNC;
}

/* A CR ends a line only with the LF right after it: the state that saw the
 * CR stays, and sees that LF next as if the CR had not been there. */
static unsigned await_lf(struct http_stream *st)
{
	st->flags |= F_CR;
	return 0;
}

/* CR (then LF) or a bare LF ends the start line; 1 if c did. */
static int end_of_start_line(struct http_stream *st, unsigned char c)
{
	if (c == '\r')
		await_lf(st);
	else if (c == '\n')
		st->state = S_HSTART;
	else
		return 0;
	return 1;
}

/* After the version (requests), the status or the reason (responses): the
 * line must end here, else this is not HTTP. */
static unsigned start_line_ends(struct http_stream *st, unsigned char c)
{
	return end_of_start_line(st, c) ? 0 : fail(st, HTTP_EV_NOT_HTTP);
}

/* One byte of a state that needs byte-level attention; returns events. */
static unsigned step(struct http_stream *st, unsigned char c,
		     struct http_event *ev)
{
	static const char version[] = "HTTP/1.";
	int d;

	if (st->flags & F_CR) {
		if (c != '\n')
			return fail_here(st);
		st->flags &= (uint16_t)~F_CR;
	}
	switch (st->state) {
	case S_START:
		if (c == '\r' || c == '\n') {
			st->aux++;
			if (st->aux > LEADING_EMPTY_MAX)
				return fail(st, HTTP_EV_NOT_HTTP);
			return 0;
		}
		begin_message(st);
		if (st->dir == HTTP_DIR_RESPONSE) {
			/* A status line starts with the version (aux is 0). */
			st->state = S_VERSION;
			return step(st, c, ev);
		}
		if (c < 'A' || c > 'Z')
			return fail(st, HTTP_EV_NOT_HTTP);
		st->buf[st->used++] = (char)c;
		st->state = S_METHOD;
		return 0;
	case S_METHOD:
		if (c == ' ') {
			st->method_len = st->used;
			set_str(st, STR_METHOD, 0, st->used);
			st->state = S_TARGET;
			return 0;
		}
		if (!http_tchar(c) || st->used >= HTTP_METHOD_MAX)
			return fail(st, HTTP_EV_NOT_HTTP);
		st->buf[st->used++] = (char)c;
		return 0;
	case S_TARGET:
		if (c == ' ') {
			if (st->used == st->method_len)
				return fail(st, HTTP_EV_NOT_HTTP);
			set_str(st, STR_TARGET, st->method_len,
				st->used - st->method_len);
			st->aux = 0;
			st->state = S_VERSION;
			return 0;
		}
		if (c <= 0x20 || c == 0x7f)
			return fail(st, HTTP_EV_NOT_HTTP);
		if (st->used < HTTP_TARGET_MAX)
			st->buf[st->used++] = (char)c;
		else
			st->flags |= HTTP_H_TRUNCATED;
		return 0;
	case S_VERSION:
		if (st->aux < 7) {
			if (c != (unsigned char)version[st->aux])
				return fail(st, HTTP_EV_NOT_HTTP);
			st->aux++;
			return 0;
		}
		if (st->aux == 7) {
			if (c < '0' || c > '9')
				return fail(st, HTTP_EV_NOT_HTTP);
			st->version_minor = (uint8_t)(c - '0');
			st->aux = 8;
			return 0;
		}
		if (st->dir == HTTP_DIR_RESPONSE) {
			if (c != ' ')
				return fail(st, HTTP_EV_NOT_HTTP);
			st->aux = 0;
			st->state = S_STATUS;
			return 0;
		}
		return start_line_ends(st, c);
	case S_STATUS:
		if (st->aux < 3) {
			if (c < '0' || c > '9')
				return fail(st, HTTP_EV_NOT_HTTP);
			st->status = (uint16_t)(st->status * 10 + (c - '0'));
			st->aux++;
			if (st->aux == 3 && st->status < 100)
				return fail(st, HTTP_EV_NOT_HTTP);
			return 0;
		}
		if (c == ' ') {
			st->state = S_REASON;
			return 0;
		}
		return start_line_ends(st, c);
	case S_REASON:
		if (c == '\t' || (c >= 0x20 && c != 0x7f))
			return 0;
		return start_line_ends(st, c);
	case S_HSTART:
		if (c == '\r')
			return await_lf(st);
		if (c == '\n')
			return head_done(st, ev);
		if (ascii_is_ows((char)c)) {
			/* obs-fold: a continuation line, ignored. */
			st->state = S_HSKIP;
			return 0;
		}
		if (!http_tchar(c))
			return fail(st, HTTP_EV_ERROR);
		st->name[0] = ascii_lower((char)c);
		st->namelen = 1;
		st->state = S_HNAME;
		return 0;
	case S_HNAME:
		if (c == ':') {
			st->kind = (uint8_t)classify_header(st);
			if (st->kind == K_SKIP) {
				st->state = S_HSKIP;
				return 0;
			}
			st->val_off = st->used;
			st->flags &= (uint16_t)~F_LINE_TRUNC;
			st->state = S_HOWS;
			return 0;
		}
		if (!http_tchar(c))
			return fail(st, HTTP_EV_ERROR);
		if (st->namelen < sizeof(st->name))
			st->name[st->namelen] = ascii_lower((char)c);
		if (st->namelen <= sizeof(st->name))
			st->namelen++;
		return 0;
	case S_HOWS:
		if (ascii_is_ows((char)c))
			return 0;
		st->state = S_HVALUE;
		/* fall through */
	case S_HVALUE:
		if (c == '\r')
			return await_lf(st);
		if (c == '\n')
			goto header_end;
		if (c != '\t' && (c < 0x20 || c == 0x7f))
			return fail(st, HTTP_EV_ERROR);
		store(st, c, st->kind >= K_CL ? HTTP_BUF_SIZE : KEPT_LIMIT);
		return 0;
	case S_CHUNK_SIZE:
		d = hex_value((char)c);
		if (d >= 0) {
			/* 15 hex digits: more than any body we will see. */
			if (st->aux >= 15)
				return fail(st, HTTP_EV_ERROR);
			st->remaining = st->remaining * 16 + (unsigned)d;
			st->aux++;
			return 0;
		}
		if (st->aux == 0)
			return fail(st, HTTP_EV_ERROR);
		st->state = S_CHUNK_WS;
		/* fall through */
	case S_CHUNK_WS:
		if (ascii_is_ows((char)c))
			return 0;
		if (c == ';') {
			st->aux = 0;
			st->state = S_CHUNK_EXT;
			return 0;
		}
		if (c == '\r')
			return await_lf(st);
		if (c == '\n') {
			chunk_size_done(st);
			return 0;
		}
		return fail(st, HTTP_EV_ERROR);
	case S_CHUNK_DATA_CR:
		if (c == '\r')
			return await_lf(st);
		if (c != '\n')
			return fail(st, HTTP_EV_ERROR);
		st->aux = 0;
		st->remaining = 0;
		st->state = S_CHUNK_SIZE;
		return 0;
	case S_TRAILER_START:
		if (c == '\r')
			return await_lf(st);
		if (c == '\n')
			return end_message(st, ev);
		st->state = S_TRAILER_LINE;
		return 0;
	default:
		return 0;
	}
header_end:
	if (finish_header(st) < 0)
		return fail(st, HTTP_EV_ERROR);
	st->state = S_HSTART;
	return 0;
}

/* States that skip to the end of a line: a header we do not keep, a chunk
 * extension, a trailer line.  Returns events; *n is set to bytes used. */
static unsigned skip_line(struct http_stream *st, const char *p, size_t len,
			  size_t *n)
{
	const char *lf = memchr(p, '\n', len);

	*n = lf ? (size_t)(lf + 1 - p) : len;
	if (st->state == S_HSKIP) {
		st->head_bytes += (uint32_t)*n;
		if (st->head_bytes > HTTP_HEAD_LIMIT)
			return fail(st, HTTP_EV_ERROR);
		if (lf)
			st->state = S_HSTART;
		return 0;
	}
	st->body_bytes += *n;
	st->aux += (uint32_t)*n;
	if (st->state == S_CHUNK_EXT) {
		if (st->aux > CHUNK_EXT_MAX)
			return fail(st, HTTP_EV_ERROR);
		if (lf)
			chunk_size_done(st);
		return 0;
	}
	if (st->aux > HTTP_HEAD_LIMIT)
		return fail(st, HTTP_EV_ERROR);
	if (lf)
		st->state = S_TRAILER_START;
	return 0;
}

/* The head limit cuts a run short, so that the byte crossing it still goes
 * through the checks of one byte; returns the run's length after that,
 * now counted in the head. */
static size_t count_run(struct http_stream *st, size_t n)
{
	if (st->head_bytes + n > HTTP_HEAD_LIMIT)
		n = st->head_bytes < HTTP_HEAD_LIMIT ?
		    HTTP_HEAD_LIMIT - st->head_bytes : 0;
	st->head_bytes += (uint32_t)n;
	return n;
}

/*
 * Runs of bytes with nothing to decide until the run ends, taken in one
 * go rather than byte by byte: the method, the request target and a
 * header value (stored as they are), a header name (stored lowercased),
 * a reason phrase (skipped) and a whole "HTTP/1.x".  Returns the run's
 * length, 0 when p does not start one; the byte that ends a run goes
 * through step().
 */
static size_t take_run(struct http_stream *st, const char *p, const char *end)
{
	const unsigned char *q = (const unsigned char *)p;
	const unsigned char *stop = (const unsigned char *)end;
	size_t n, keep, limit;
	uint16_t cut;

	if (st->flags & F_CR)
		return 0;
	switch (st->state) {
	case S_METHOD:
		while (q < stop && http_tchar(*q) &&
		       st->used + (size_t)((const char *)q - p) <
		       HTTP_METHOD_MAX)
			q++;
		limit = HTTP_METHOD_MAX;
		cut = 0;
		break;
	case S_VERSION:
		/* The rest of "HTTP/1.x": aux bytes of it were seen (a
		 * response's first byte goes through step()). */
		n = 8 - st->aux;
		if (st->aux >= 8 || (size_t)(end - p) < n ||
		    memcmp(p, &"HTTP/1."[st->aux], n - 1) ||
		    !ascii_is_digit(p[n - 1]) ||
		    st->head_bytes + n > HTTP_HEAD_LIMIT)
			return 0;
		st->version_minor = (uint8_t)(p[n - 1] - '0');
		st->aux = 8;
		return count_run(st, n);
	case S_STATUS:
		/* Three digits and the space after them. */
		if (st->aux != 0 || end - p < 4 || !ascii_is_digit(p[0]) ||
		    p[0] == '0' || !ascii_is_digit(p[1]) ||
		    !ascii_is_digit(p[2]) || p[3] != ' ' ||
		    st->head_bytes + 4 > HTTP_HEAD_LIMIT)
			return 0;
		st->status = (uint16_t)((p[0] - '0') * 100 +
					(p[1] - '0') * 10 + (p[2] - '0'));
		st->aux = 3;
		st->state = S_REASON;
		return count_run(st, 4);
	case S_REASON:
		while (q < stop && (*q == '\t' || (*q >= 0x20 && *q != 0x7f)))
			q++;
		return count_run(st, (size_t)((const char *)q - p));
	case S_HNAME:
		while (q < stop && http_tchar(*q))
			q++;
		n = count_run(st, (size_t)((const char *)q - p));
		for (size_t i = 0; i < n; i++) {
			if (st->namelen < sizeof(st->name))
				st->name[st->namelen] = ascii_lower(p[i]);
			if (st->namelen <= sizeof(st->name))
				st->namelen++;
		}
		return n;
	case S_TARGET:
		while (q < stop && *q > 0x20 && *q != 0x7f)
			q++;
		limit = HTTP_TARGET_MAX;
		cut = HTTP_H_TRUNCATED;
		break;
	default:        /* S_HVALUE */
		while (q < stop && ((*q >= 0x20 && *q != 0x7f) || *q == '\t'))
			q++;
		limit = st->kind >= K_CL ? HTTP_BUF_SIZE : KEPT_LIMIT;
		cut = F_LINE_TRUNC;
		break;
	}
	n = count_run(st, (size_t)((const char *)q - p));
	keep = st->used < limit ? limit - st->used : 0;
	if (keep > n)
		keep = n;
	memcpy(st->buf + st->used, p, keep);
	st->used = (uint16_t)(st->used + keep);
	if (keep < n)
		st->flags |= cut;
	return n;
}

/* A CR with its LF after it ends the line in these states just as the LF
 * alone would (await_lf), so the pair can go to step() as its LF. */
static int crlf_as_lf(const struct http_stream *st)
{
	if (st->flags & F_CR)
		return 0;
	switch (st->state) {
	case S_VERSION:
		return st->dir == HTTP_DIR_REQUEST && st->aux == 8;
	case S_STATUS:
		return st->aux == 3;
	case S_REASON:
	case S_HSTART:
	case S_HOWS:
	case S_HVALUE:
		return 1;
	default:
		return 0;
	}
}

/* Up to *k bytes of a body or chunk whose length is known: *k is cut to
 * what remains of it; returns HTTP_EV_END if that ends the message. */
static unsigned take_body(struct http_stream *st, uint64_t *k,
			  struct http_event *ev)
{
	if (*k > st->remaining)
		*k = st->remaining;
	st->remaining -= *k;
	st->body_bytes += *k;
	if (st->remaining > 0)
		return 0;
	if (st->state == S_BODY_CL)
		return end_message(st, ev);
	st->state = S_CHUNK_DATA_CR;
	return 0;
}

/* ---------------------------------------------------------- whole heads */

/*
 * Most heads arrive whole, in one read or write.  Such a head is taken
 * here a line at a time (runs, memchr) instead of through the machine,
 * with the same effects: each value goes through take_value() and the
 * empty line through head_done(), as they would byte by byte.  Only the
 * plain shape is taken: lines ending in CRLF, no obs-fold, nothing cut
 * to fit, nothing the machine would refuse.  Anything else, and a head
 * cut short by the end of the data, makes whole_head() return 0 before
 * head_done(): the machine then reads the same bytes from the first, and
 * begin_message() resets whatever was written here.
 */

/* The end of a run of value bytes (header value, reason phrase): what
 * S_HVALUE and S_REASON take, HTAB, SP, visible ASCII and obs-text. */
static const char *value_end(const char *p, const char *end)
{
	static const uint8_t vchar[256] = {
		['\t'] = 1, [0x20 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
	};

	return class_run_end(p, end, vchar, 1);
}

static int is_crlf(const char *p, const char *end)
{
	return end - p >= 2 && memcmp(p, "\r\n", 2) == 0;
}

/* The end of a run of token bytes (a method, a header name). */
static const char *token_end(const char *p, const char *end)
{
	return class_run_end(p, end, http_tchars(), 1);
}

/*
 * A header line at p (of a whole head) whose name is one of HTTP_NAMES,
 * ':' after it: sets *n to the name's length and returns what
 * classify_name() would, without reading the name twice.  *n is 0 for
 * any other line: its name is none we look for, if it is a name.
 */
static inline __attribute__((always_inline)) int
known_name(const char *p, const char *end, unsigned dir, size_t *n)
{
	size_t avail = (size_t)(end - p);
	int req = dir == HTTP_DIR_REQUEST;
	char first;

	*n = 0;
	if (avail < LEN("host:"))
		return K_SKIP;
	first = (char)(*p | 0x20);
#define X(lit, kind, request_only) \
	if (first == lit[0] && avail > LEN(lit) && p[LEN(lit)] == ':' && \
	    lit_at(p, lit, LEN(lit))) { \
		*n = LEN(lit); \
		return KIND_FOR(kind, request_only, req); \
	}
	HTTP_NAMES(X)
#undef X
	return K_SKIP;
}

#undef KIND_FOR
#undef LEN

/* "METHOD SP target SP HTTP/1.x CRLF" into the buffer; returns the byte
 * after it, or NULL. */
static const char *whole_request_line(struct http_stream *st, const char *p,
				      const char *end)
{
	const char *m = p, *t;
	size_t mlen, tlen;

	if (*p < 'A' || *p > 'Z')
		return NULL;
	p = token_end(p, end);
	mlen = (size_t)(p - m);
	if (mlen > HTTP_METHOD_MAX || p == end || *p != ' ')
		return NULL;
	t = ++p;
	while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f)
		p++;
	tlen = (size_t)(p - t);
	if (tlen == 0 || mlen + tlen > HTTP_TARGET_MAX || end - p < 11 ||
	    *p != ' ' || memcmp(p + 1, "HTTP/1.", 7) != 0 ||
	    !ascii_is_digit(p[8]) || !is_crlf(p + 9, end))
		return NULL;
	copy_short(st->buf, m, mlen);
	copy_short(st->buf + mlen, t, tlen);
	st->used = (uint16_t)(mlen + tlen);
	st->method_len = (uint16_t)mlen;
	set_str(st, STR_METHOD, 0, mlen);
	set_str(st, STR_TARGET, mlen, tlen);
	st->version_minor = (uint8_t)(p[8] - '0');
	return p + 11;
}

/* "HTTP/1.x SP 3DIGIT [SP reason] CRLF"; returns the byte after it, or
 * NULL. */
static const char *whole_status_line(struct http_stream *st, const char *p,
				     const char *end)
{
	if (end - p < 14 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    !ascii_is_digit(p[7]) || p[8] != ' ' || p[9] < '1' || p[9] > '9' ||
	    !ascii_is_digit(p[10]) || !ascii_is_digit(p[11]))
		return NULL;
	st->version_minor = (uint8_t)(p[7] - '0');
	st->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 +
				(p[11] - '0'));
	p += 12;
	if (*p == ' ')
		p = value_end(p + 1, end);
	return is_crlf(p, end) ? p + 2 : NULL;
}

/*
 * The header lines and the empty line after them; returns the byte after
 * that, or NULL.  Values of headers we keep or interpret are taken as
 * S_HVALUE would (take_value); the others are skipped as by S_HSKIP.
 */
static const char *whole_fields(struct http_stream *st, const char *p,
				const char *end)
{
	const char *name, *v, *lf;
	size_t n, limit;
	int kind;

	while (!is_crlf(p, end)) {
		kind = known_name(p, end, st->dir, &n);
		if (n) {
			p += n;
		} else {
			name = p;
			p = token_end(p, end);
			if (p == name || p == end || *p != ':')
				return NULL;
		}
		p++;
		if (kind == K_SKIP) {
			lf = memchr(p, '\n', (size_t)(end - p));
			if (!lf)
				return NULL;
			p = lf + 1;
			continue;
		}
		while (p < end && ascii_is_ows(*p))
			p++;
		v = p;
		p = value_end(p, end);
		n = (size_t)(p - v);
		limit = kind >= K_CL ? HTTP_BUF_SIZE : KEPT_LIMIT;
		if (!is_crlf(p, end) || st->used + n > limit ||
		    take_value(st, kind, v, n, 0) < 0)
			return NULL;
		p += 2;
	}
	return p + 2;
}

/* A whole head at the start of a message: the bytes it took (its
 * events in *what), or 0 when the machine must read them. */
static size_t whole_head(struct http_stream *st, const char *p,
			 const char *end, struct http_event *ev,
			 unsigned *what)
{
	const char *q;

	if (*p == '\r' || *p == '\n')
		return 0;       /* empty lines before a message */
	begin_message(st);
	if (st->dir == HTTP_DIR_REQUEST)
		q = whole_request_line(st, p, end);
	else
		q = whole_status_line(st, p, end);
	if (q)
		q = whole_fields(st, q, end);
	if (!q || q - p > HTTP_HEAD_LIMIT)
		return 0;
	st->head_bytes = (uint32_t)(q - p);
	*what = head_done(st, ev);
	return (size_t)(q - p);
}

size_t http_feed(struct http_stream *st, const char *data, size_t len,
		 struct http_event *ev)
{
	const char *p = data, *end = data + len;
	unsigned what = 0;
	uint64_t k;
	size_t n;

	ev->type = 0;
	ev->body_bytes = 0;
	while (p < end && what == 0) {
		if (st->state == S_START) {
			n = whole_head(st, p, end, ev, &what);
			if (n) {
				p += n;
				/* A response's body of known length that came
				 * with its head ends in the same event: the
				 * caller is called back once.  Not a request's:
				 * a client's writer edits the head before its
				 * body goes out (httpconn.c). */
				if (st->state == S_BODY_CL &&
				    st->dir == HTTP_DIR_RESPONSE &&
				    st->remaining <= (uint64_t)(end - p)) {
					k = st->remaining;
					what |= take_body(st, &k, ev);
					p += k;
				}
				break;
			}
		}
		switch (st->state) {
		case S_BODY_CL:
		case S_CHUNK_DATA:
			k = (uint64_t)(end - p);
			what = take_body(st, &k, ev);
			p += k;
			break;
		case S_BODY_CLOSE:
			st->body_bytes += (size_t)(end - p);
			p = end;
			break;
		case S_OFF:
		case S_DEAD:
			p = end;
			break;
		case S_HSKIP:
		case S_CHUNK_EXT:
		case S_TRAILER_LINE:
			what = skip_line(st, p, (size_t)(end - p), &n);
			p += n;
			break;
		case S_METHOD:
		case S_TARGET:
		case S_VERSION:
		case S_STATUS:
		case S_REASON:
		case S_HNAME:
		case S_HVALUE:
			n = take_run(st, p, end);
			if (n) {
				p += n;
				break;
			}
			/* A byte that ends the run: */
			/* fall through */
		default:
			if (*p == '\r' && end - p >= 2 && p[1] == '\n' &&
			    st->head_bytes + 2 <= HTTP_HEAD_LIMIT &&
			    crlf_as_lf(st)) {
				st->head_bytes++;       /* the CR */
				p++;
			}
			if (st->state >= S_BODY_CL)
				st->body_bytes++;
			else if (st->state != S_START)
				st->head_bytes++;
			if (st->head_bytes > HTTP_HEAD_LIMIT) {
				what = fail_here(st);
				p++;
				break;
			}
			what = step(st, (unsigned char)*p++, ev);
			break;
		}
	}
	ev->type = what;
	return (size_t)(p - data);
}

int http_unfinished_request(const struct http_stream *st,
			    struct http_head *h)
{
	if (st->dir != HTTP_DIR_REQUEST || !(st->flags & F_IN_HEAD) ||
	    !(st->have & (1u << STR_METHOD)))
		return 0;
	fill_head(st, h);
	return 1;
}

int http_stream_idle(const struct http_stream *st)
{
	return st->state == S_START;
}

unsigned http_head_seen(const struct http_stream *st)
{
	unsigned seen = 0;

	if (st->dir != HTTP_DIR_REQUEST)
		return 0;
	if ((st->flags & (F_IN_HEAD | F_CR)) == (F_IN_HEAD | F_CR) &&
	    st->state == S_HSTART)
		seen |= HTTP_SEEN_ENDING;
	if (st->ntp)
		seen |= HTTP_SEEN_TRACEPARENT;
	if (st->nts || (st->flags & HTTP_H_TS_DROPPED))
		seen |= HTTP_SEEN_TRACESTATE;
	return seen;
}

uint64_t http_skip(struct http_stream *st, uint64_t n, struct http_event *ev)
{
	uint64_t k = n;

	ev->type = 0;
	ev->body_bytes = 0;
	switch (st->state) {
	case S_BODY_CL:
	case S_CHUNK_DATA:
		ev->type = take_body(st, &k, ev);
		break;
	case S_BODY_CLOSE:
		st->body_bytes += k;
		break;
	case S_OFF:
	case S_DEAD:
		break;
	default:
		k = 0;
	}
	return k;
}

unsigned http_eof(struct http_stream *st, struct http_event *ev)
{
	unsigned what = 0;

	ev->type = 0;
	ev->body_bytes = 0;
	if (st->state == S_BODY_CLOSE)
		what = end_message(st, ev);
	else if (st->state != S_START && st->state < S_OFF)
		what = HTTP_EV_ERROR;
	if (st->state != S_OFF)
		st->state = S_DEAD;
	ev->type = what;
	return what;
}
