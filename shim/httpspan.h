/*
 * HTTP spans from request heads, for httpconn.c: the name and attributes
 * of a SERVER span (a request read) or a CLIENT span (a request written),
 * the incoming trace context of a request, and the end of a span with its
 * response status or transport error, following the semantic conventions
 * for HTTP spans.  Runs on the application thread that moved the bytes.
 */
#ifndef OTELSHIM_HTTPSPAN_H
#define OTELSHIM_HTTPSPAN_H

#include <stddef.h>

#include "pipeline/span.h"
#include "context.h"
#include "fdtab.h"
#include "http.h"
#include "peer.h"

/* The numeric address of a connection's IP peer, made once for all the
 * spans of the connection (hs_peer). */
struct hs_peer {
	char host[PEER_TEXT_MAX];       /* "" if the peer is not IP */
	size_t len;
	int port;                       /* -1 if none */
};

/* The peer of e, as its spans record it. */
void hs_peer(const struct fd_entry *e, struct hs_peer *p);

/*
 * The incoming context of a request head: 1 and *r filled when its
 * traceparent is valid (a valid tracestate is copied to ts[cap] and
 * referenced), else 0.
 */
int hs_remote(const struct http_head *h, struct ctx_remote *r, char *ts,
	      size_t cap);

/* The same from the values of a traceparent and a tracestate header
 * (tracestate.p NULL: none). */
int hs_remote_from(struct str traceparent, struct str tracestate,
		   struct ctx_remote *r, char *ts, size_t cap);

/* Names the SERVER span s and sets its attributes from the request head h
 * read on e, whose peer is peer.  This and the next two write nothing
 * into a span the sampler left out: it is never exported. */
void hs_server(struct span *s, const struct http_head *h,
	       const struct fd_entry *e, const struct hs_peer *peer);

/* Names the CLIENT span s and sets its attributes from the request head h
 * written on e, whose peer is peer. */
void hs_client(struct span *s, const struct http_head *h,
	       const struct fd_entry *e, const struct hs_peer *peer);

/* Ends s (NULL: nothing) with the final response status (0: none) or the
 * transport error err (an error.type value; NULL: none). */
void hs_end(struct span *s, unsigned status, const char *err);

#endif
