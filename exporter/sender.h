/*
 * What the transport (transport.c) needs from an HTTP client: POST one
 * body, say what came back.  Two implement it: send_http1.c, the small
 * built-in client for plain http:// endpoints, and send_curl.c, libcurl
 * loaded on first use for https:// and whatever the built-in client
 * cannot do (a proxy from the environment).  Retries, the circuit
 * breaker, compression, counting and logging stay in transport.c, written
 * once for both.  Runs on the exporter thread only.
 */
#ifndef OTELSHIM_SENDER_H
#define OTELSHIM_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/exporter.h"

#define SENDER_WHAT_MAX 256

/* What one POST came to. */
struct sender_reply {
	/* 0: an HTTP response came (status and the fields below are set);
	 * otherwise no response, and err is a key unique to this kind of
	 * failure (for logging each once), what says it in words. */
	int err;
	int retryable;          /* err != 0: sending again may succeed */
	long status;
	const uint8_t *body;    /* the sender's buffer, valid until its next
				   call; len bytes */
	size_t len;
	int truncated;          /* the body was longer than TRANSPORT_MAX_
				   RESPONSE: only its start is in body */
	int json;               /* Content-Type says JSON */
	char retry_after[64];   /* the raw header value, or "" */
	/* gRPC (grpc.h): the trailers' status (-1: none came), message
	 * and details, raw. */
	int grpc_status;
	char grpc_message[256];
	char grpc_details[512];
	char what[SENDER_WHAT_MAX];
};

struct sender_ops {
	const char *name;
	/*
	 * A client for url, sending the header lines in headers ("Name:
	 * value\r\n" each, User-Agent and Content-Type included) with every
	 * request; sockets are handed to host->own_fd.  NULL on failure,
	 * with why (cap bytes) saying it.
	 */
	void *(*create)(const struct exporter_host *host, const char *url,
			const char *headers, char *why, size_t cap);
	/* POSTs len bytes of body; the attempt ends by timeout_ms (0: no
	 * limit of ours).  Fills *r; the connection is kept alive. */
	void (*post)(void *s, const void *body, size_t len, long timeout_ms,
		     struct sender_reply *r);
	/* Closes the connection; the next post opens one. */
	void (*idle)(void *s);
	void (*destroy)(void *s);
};

extern const struct sender_ops sender_http1;
extern const struct sender_ops sender_curl;

/*
 * The sender for url: the built-in client for an http:// URL it can
 * parse, unless getenv_fn finds a proxy setting libcurl would honour for
 * it (http_proxy, all_proxy, ALL_PROXY) or the protocol is gRPC (HTTP/2);
 * libcurl for everything else.
 */
const struct sender_ops *sender_pick(const char *url, int grpc,
				     char *(*getenv_fn)(const char *));

#endif
