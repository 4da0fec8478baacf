/*
 * A small HTTP/1.1 client for plain http:// OTLP endpoints: POST a body,
 * read the status, a few headers and a bounded response body, keep the
 * connection alive between exports.  libcurl and the TLS libraries it
 * pulls in cost a traced process about 9 MiB of mapped pages and every
 * fork() a few hundred microseconds more, so they are only loaded for
 * https:// endpoints; everything else goes through here.  Runs on the
 * exporter thread only; every wait is bounded by the caller's deadline.
 */
#ifndef OTELSHIM_HTTP1_H
#define OTELSHIM_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "common/endpoint.h"

/* Most of a response body kept (the OTLP/HTTP recommendation). */
#define HTTP1_BODY_MAX (4u << 20)

struct http1_response {
	long status;
	const uint8_t *body;    /* the client's buffer, valid until the
				   next call; len bytes */
	size_t len;
	int truncated;          /* longer than HTTP1_BODY_MAX (not chunked):
				   the rest was read and dropped */
	char content_type[64];
	char retry_after[64];   /* the raw header value, or "" */
};

struct http1_client {
	struct endpoint url;
	int fd;                 /* the kept-alive connection, or -1 */
	/* The host's callback (exporter.h): takes a new descriptor as ours
	 * (owned 1, may return another number) or gives it up (0). */
	int (*own_fd)(int fd, int owned);
	uint8_t *buf;           /* response bytes, grown up to a cap */
	size_t cap;
};

void http1_init(struct http1_client *c, const struct endpoint *u,
		int (*own_fd)(int fd, int owned));

/*
 * POSTs len bytes of body with the extra header lines in headers (each
 * "Name: value\r\n"; may be empty) and waits for the response until
 * deadline_ns (CLOCK_MONOTONIC).  A kept-alive connection that turns out
 * to be closed is replaced once, transparently.  Returns 0 with *r filled
 * for any status code, or -errno: -ETIMEDOUT, -ECONNREFUSED (and other
 * connect errors), -EHOSTUNREACH when the name does not resolve,
 * -EPROTO for a response that is not HTTP/1.x, -EMSGSIZE for a body past
 * HTTP1_BODY_MAX.
 */
int http1_post(struct http1_client *c, const char *headers,
	       const void *body, size_t len, uint64_t deadline_ns,
	       struct http1_response *r);

/*
 * The response parser, on its own so that it can be fuzzed: fed the bytes
 * received so far, buf[0..*have), it returns 1 once a whole response is
 * there (r filled; body bytes past HTTP1_BODY_MAX are dropped and *have
 * shrunk), 0 when it needs more, or -EPROTO (not HTTP/1.x, malformed,
 * cut short), -EMSGSIZE (a chunked body or head too big), -ECONNRESET
 * (eof before a byte).  eof: the peer has closed; buf must have room for
 * what is received next.  Interim 1xx responses are skipped (moved out of
 * buf).
 */
struct http1_parser {
	size_t head_len;        /* 0 until the head is complete */
	long content_length;    /* -1: none */
	int is_chunked;
	int keep;               /* the connection stays open after this */
	size_t dropped;
};

void http1_parser_init(struct http1_parser *p);
int http1_parse(struct http1_parser *p, uint8_t *buf, size_t *have, int eof,
		struct http1_response *r);

/* Drops the connection (idle); the next post connects again. */
void http1_disconnect(struct http1_client *c);

/* Drops the connection and the buffer. */
void http1_free(struct http1_client *c);

#endif
