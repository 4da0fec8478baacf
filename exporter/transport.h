/*
 * OTLP/HTTP transport: POSTs one encoded ExportTraceServiceRequest through
 * a kept-alive connection (sender.h: the built-in HTTP/1.1 client for
 * http://, libcurl loaded on first use for https://), gzip-compressed on
 * request (gzip.c), retried as retry.c decides and guarded by its circuit
 * breaker, so a dead backend costs no time.  Runs on the exporter thread
 * only.
 */
#ifndef OTELSHIM_TRANSPORT_H
#define OTELSHIM_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/exporter.h"
#include "otlp_response.h"

#define TRANSPORT_MAX_REQUEST      (64u << 20)  /* before compression */
#define TRANSPORT_MAX_RESPONSE     (4u << 20)   /* parsed at most */

/* What became of a batch handed to transport_send. */
enum transport_result {
	/* The server took it (2xx), possibly with a partial success.
	 * Counted: a batch sent, its spans exported or rejected. */
	TRANSPORT_SENT,
	/* It will never be taken: refused for its content (400, 413, any
	 * status OTLP does not let us retry, a redirect), a request over
	 * TRANSPORT_MAX_REQUEST, a failure to compress, a sender error
	 * that sending again cannot fix (TLS, a malformed response).  Counted:
	 * a batch failed, its spans failed.  The caller drops them. */
	TRANSPORT_DROPPED,
	/* Not taken for a reason that passes: the backend is down,
	 * overloaded (429, 502-504) or unreachable in time, the breaker is
	 * open, the deadline left no time to try.  Counted: a batch failed,
	 * no span.  The caller keeps the spans and offers them again. */
	TRANSPORT_DEFERRED,
};

struct transport;

/*
 * Creates a transport for host->cfg (endpoint, headers, TLS files,
 * compression, protocol).  decode reads 2xx responses for partial
 * success (otlp_response_protobuf or _json); NULL: they are not read.
 * The host struct is copied; host->cfg and host->counters must outlive
 * the transport.  curl_global_init must have run.  Returns NULL (after
 * logging why) when there is no endpoint or libcurl cannot be set up.
 */
struct transport *transport_create(const struct exporter_host *host,
				   otlp_response_fn decode);

/* transport_send flags. */
enum {
	/* One attempt, no retry and no backoff sleep: at exit and before
	 * an exec, where what fails goes to the spool instead. */
	TRANSPORT_ONCE = 1,
};

/*
 * POSTs body (len bytes, an encoded request carrying nspans spans),
 * retrying as allowed (unless flags has TRANSPORT_ONCE), and returns by
 * deadline_ns (CLOCK_MONOTONIC; UINT64_MAX for none).  Keeps every
 * counter in host->counters up to date, the breaker's included.
 */
enum transport_result transport_send(struct transport *t, const void *body,
				     size_t len, size_t nspans,
				     uint64_t deadline_ns, unsigned flags);

/* Frees the handle; its connections are closed (and un-owned). */
void transport_destroy(struct transport *t);

/* Closes the connection to the backend; the next send reconnects. */
void transport_idle(struct transport *t);

#endif
