/*
 * libFuzzer target for shim/http.c.  The first input byte picks a split
 * point; the rest goes into a request stream and into a response stream,
 * whole, in two pieces and one byte at a time.  Every way must consume the
 * bytes, report heads whose strings lie in the stream's buffer, and give
 * the same events at the same offsets, with the same head (every string).
 * One byte at a time never takes the whole-head path of http_feed(): that
 * run is the byte-by-byte machine alone, the reference the others are
 * compared with.  The helpers of http_head.c run on
 * what the heads report, those of httpinject.c on the raw input.
 * links: shim/http.c shim/http_head.c shim/httpinject.c shim/propagate.c
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/http.h"
#include "shim/http_head.h"
#include "shim/httpinject.h"

#define LOGCAP 65536

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

	if (l->len >= sizeof(l->s) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->s + l->len, sizeof(l->s) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len >= sizeof(l->s))
		l->len = sizeof(l->s) - 1;
}

static void in_buf(const struct http_stream *st, struct str s)
{
	if (s.p == NULL) {
		if (s.n != 0)
			abort();
		return;
	}
	if (s.p < st->buf || s.p + s.n > st->buf + sizeof(st->buf))
		abort();
}

static void exercise_helpers(const struct http_head *h)
{
	struct str path, query, name, addr;
	char out[600];
	size_t n;
	int port;

	if (h->target.p) {
		http_split_target(h->target.p, h->target.n, &path, &query);
		if (path.p == NULL)
			abort();
		if (query.p) {
			n = http_redact_query(query.p, query.n, out,
					      sizeof(out));
			if (n >= sizeof(out) || out[n] != '\0')
				abort();
		}
		n = http_url_full("http", h->host.p ? h->host.p : "",
				  h->host.n, h->target.p, h->target.n,
				  out, sizeof(out));
		if (n >= sizeof(out) || strlen(out) != n)
			abort();
		http_method_known(h->method.p, h->method.n);
	}
	if (h->host.p && http_split_host(h->host.p, h->host.n, &name,
					  &port) == 0) {
		if (port < -1 || port > 65535)
			abort();
	}
	if (http_client_address(h, &addr) == 0 && addr.p == NULL)
		abort();
}

/* A head's string, absent ("-") told from empty ("||"). */
static void log_str(struct log *l, struct str s)
{
	if (s.p)
		log_add(l, "|%.*s|", (int)s.n, s.p);
	else
		log_add(l, "-");
}

static void log_event(struct log *l, const struct http_stream *st,
		      const struct http_event *ev, size_t pos)
{
	const struct http_head *h = &ev->head;
	unsigned t = ev->type;
	/* A response's head with the body that came with it (http.h):
	 * logged as a byte-wise feed reports it, two events. */
	int with_body = (t & (HTTP_EV_HEAD | HTTP_EV_END)) ==
			(HTTP_EV_HEAD | HTTP_EV_END) && ev->body_bytes > 0;

	if (t & ~(unsigned)(HTTP_EV_HEAD | HTTP_EV_END | HTTP_EV_NOT_HTTP |
			    HTTP_EV_ERROR))
		abort();
	if ((t & (HTTP_EV_NOT_HTTP | HTTP_EV_ERROR)) &&
	    (t & (HTTP_EV_HEAD | HTTP_EV_END)))
		abort();
	if ((t & (HTTP_EV_NOT_HTTP | HTTP_EV_ERROR)) && !http_stream_done(st))
		abort();
	if (with_body && (st->dir != HTTP_DIR_RESPONSE ||
			  ev->body_bytes > pos))
		abort();
	if (with_body)
		pos -= (size_t)ev->body_bytes;
	log_add(l, "@%zu %x", pos, with_body ? HTTP_EV_HEAD : t);
	if (t & HTTP_EV_HEAD) {
		in_buf(st, h->method);
		in_buf(st, h->target);
		in_buf(st, h->host);
		in_buf(st, h->user_agent);
		in_buf(st, h->traceparent);
		in_buf(st, h->tracestate);
		in_buf(st, h->forwarded);
		in_buf(st, h->x_forwarded_for);
		in_buf(st, h->x_forwarded_host);
		if (h->head_bytes > HTTP_HEAD_LIMIT || h->head_bytes > pos)
			abort();
		if (h->method.n + h->target.n > HTTP_TARGET_MAX)
			abort();
		log_add(l, " %u %u %x %lld %u", h->status, h->version_minor,
			h->flags, (long long)h->content_length,
			h->head_bytes);
		log_str(l, h->method);
		log_str(l, h->target);
		log_str(l, h->host);
		log_str(l, h->user_agent);
		log_str(l, h->traceparent);
		log_str(l, h->tracestate);
		log_str(l, h->forwarded);
		log_str(l, h->x_forwarded_for);
		log_str(l, h->x_forwarded_host);
		exercise_helpers(h);
	}
	if (with_body)
		log_add(l, ";@%zu %x", pos + (size_t)ev->body_bytes,
			HTTP_EV_END);
	if (t & HTTP_EV_END)
		log_add(l, " bb=%llu", (unsigned long long)ev->body_bytes);
	log_add(l, ";");
}

/*
 * Runs both directions over data: the request stream's heads are pushed to
 * the response stream as a client would.  piece 0: split at split only.
 */
static void run(struct log *l, const uint8_t *data, size_t len,
		size_t split, size_t piece)
{
	static struct http_stream req, resp;
	static char *one;
	struct http_stream *sts[2] = { &req, &resp };
	struct http_event ev;
	int d;

	if (one == NULL)
		one = malloc(1);
	l->len = 0;
	l->s[0] = '\0';
	http_stream_init(&req, HTTP_DIR_REQUEST);
	http_stream_init(&resp, HTTP_DIR_RESPONSE);
	for (d = 0; d < 2; d++) {
		struct http_stream *st = sts[d];
		size_t pos = 0;

		log_add(l, "[%d]", d);
		while (pos < len) {
			size_t end = piece ? pos + piece :
				     (pos < split ? split : len);
			/* A copy of exactly the piece: reading past it is an
			 * overflow the sanitizer sees. */
			char *copy;
			size_t n, done = 0;

			if (end > len)
				end = len;
			n = end - pos;
			/* One-byte pieces reuse one 1-byte block: allocating
			 * thousands per input only fills ASan's quarantine. */
			copy = n == 1 ? one : malloc(n);
			if (copy == NULL)
				abort();
			memcpy(copy, data + pos, n);
			while (done < n) {
				size_t c = http_feed(st, copy + done,
						     n - done, &ev);

				if (c == 0 || c > n - done)
					abort();
				done += c;
				if (ev.type == 0) {
					if (done != n)
						abort();
					continue;
				}
				log_event(l, st, &ev, pos + done);
				if (d == 0 && (ev.type & HTTP_EV_HEAD))
					http_push_request(&resp, &ev.head);
			}
			if (copy != one)
				free(copy);
			pos = end;
		}
		if (http_eof(st, &ev))
			log_event(l, st, &ev, len);
		if (!http_stream_done(st))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct log whole, other;
	struct hi_point inj;
	struct str v;
	size_t split;

	if (size < 1)
		return 0;
	split = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
	data++;
	size--;
	if (split > size)
		split = size;

	run(&whole, data, size, 0, 0);
	run(&other, data, size, split, 0);
	if (strcmp(whole.s, other.s) != 0) {
		fprintf(stderr, "split %zu differs:\n%s\n%s\n", split,
			whole.s, other.s);
		abort();
	}
	if (size <= 4096) {
		run(&other, data, size, 0, 1);
		if (strcmp(whole.s, other.s) != 0) {
			fprintf(stderr, "bytes differ:\n%s\n%s\n", whole.s,
				other.s);
			abort();
		}
	}

	if (hi_find_point((const char *)data, size, &inj) == 0 &&
	    (inj.offset > size || inj.offset < 13))
		abort();
	if (hi_find_header((const char *)data, size, "traceparent", &v) > 0
	    && (v.p < (const char *)data ||
		v.p + v.n > (const char *)data + size))
		abort();
	return 0;
}
