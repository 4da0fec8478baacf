/*
 * The OTLP/HTTP endpoint: the URL spans are posted to, built from the
 * environment the way the exporter specification says (a per-signal
 * variable is the full URL, the generic one a base that gets "v1/traces"),
 * and split into what a connection needs.  One home for both, so that the
 * library and `otelshim doctor` can never post to different places.
 * Pure functions, no allocation.
 */
#ifndef OTELSHIM_ENDPOINT_H
#define OTELSHIM_ENDPOINT_H

#include <stddef.h>

#include "text.h"

#define ENDPOINT_DEFAULT "http://localhost:4318/v1/traces"
/* OTLP/gRPC: the default endpoint and the method every export calls;
 * an endpoint's own path means nothing to gRPC and is left out. */
#define ENDPOINT_GRPC_DEFAULT "http://localhost:4317"
#define ENDPOINT_GRPC_PATH \
	"/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/*
 * The export URL for the value s of an endpoint variable: is_base (the
 * generic variable) appends path after a "/"; otherwise s is used as it
 * is, with "/" inserted when it has no path.  s must be an http:// or
 * https:// URL with a host and nothing that would need escaping.  Writes
 * it NUL-terminated to (out, cap), which needs s.n + strlen(path) + 2
 * bytes; returns its length, or -EINVAL for a refused URL, -ENOSPC.
 * The URL is checked before the room: with cap 0 the call only checks.
 */
int endpoint_url(struct str s, int is_base, const char *path, char *out,
		 size_t cap);

/* The gRPC URL for the endpoint s (either variable): its scheme and
 * authority, then ENDPOINT_GRPC_PATH.  Returns as endpoint_url. */
int endpoint_grpc_url(struct str s, char *out, size_t cap);

/*
 * The URL posts go to for an environment: `getenv`-like lookup of
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT,
 * else the default (empty or blank values count as unset), for the
 * protocol OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL names (grpc, or HTTP).
 * Returns as endpoint_url; *name is the variable it came from (NULL: the
 * default), *grpc whether the protocol is gRPC.
 */
int endpoint_from_env(const char *(*get)(const char *name), char *out,
		      size_t cap, const char **name, int *grpc);

struct endpoint {
	int tls;                /* https:// */
	char host[256];         /* without brackets for an IPv6 literal */
	char port[8];           /* 80 or 443 when the URL gives none */
	char target[2048];      /* path and query, at least "/" */
};

/* Splits an http:// or https:// URL: 0, -EPROTONOSUPPORT for another
 * scheme, -EINVAL when it is malformed (credentials included) or a part
 * is too long. */
int endpoint_split(const char *url, struct endpoint *e);

#endif
