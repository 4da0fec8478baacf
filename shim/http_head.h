/*
 * A request head (struct http_head, from http.h) turned into span
 * attributes: the method, the target's path and query with sensitive
 * values redacted, url.full with credentials redacted, the Host value
 * split into name and port, and the client address a proxy reports.
 * Pure functions: no allocation, no locks, no system calls; results point
 * into the caller's strings or are written to the caller's buffer.
 */
#ifndef OTELSHIM_HTTP_HEAD_H
#define OTELSHIM_HTTP_HEAD_H

#include <stddef.h>

#include "common/text.h"
#include "http.h"

/* 1 if the method is one the semantic conventions know (case-sensitive:
 * CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT TRACE QUERY), else 0:
 * report "_OTHER" and the original in http.request.method_original. */
int http_method_known(const char *m, size_t len);

/*
 * Splits a request target into path and query, dropping any fragment.
 * Origin form "/a?b": path "/a", query "b".  Absolute form
 * "http://h/a?b": path "/a" (the literal "/" when empty), query "b".
 * "*": path "*".  Authority form (CONNECT "h:443"): empty path.  query.p is
 * NULL when there is no '?'; path.p is never NULL.
 */
void http_split_target(const char *t, size_t len, struct str *path,
		       struct str *query);

/*
 * Copies a query string (without '?') into out, replacing the values of
 * the sensitive keys (common/redact.h) with "REDACTED".
 * Returns the length written; truncated to cap - 1, NUL-terminated if
 * cap > 0.
 */
size_t http_redact_query(const char *q, size_t len, char *out, size_t cap);


/*
 * Builds url.full for a client span: scheme "://" host path ["?" query]
 * from the Host value and an origin-form target, or from an absolute-form
 * target alone; userinfo becomes "REDACTED:REDACTED", sensitive query
 * values "REDACTED", any fragment is dropped.  Returns the length written;
 * truncated to cap - 1, NUL-terminated if cap > 0.
 */
size_t http_url_full(const char *scheme, const char *host, size_t host_len,
		     const char *target, size_t target_len, char *out,
		     size_t cap);

/*
 * Splits a Host value ("h", "h:8080", "[::1]:8080") into the name (without
 * brackets) and the port; *port is -1 without a port.  Returns 0, or -1 if
 * the value is malformed (empty name, bad port).
 */
int http_split_host(const char *h, size_t len, struct str *name, int *port);

/*
 * The client address a proxy reported: the "for" of the first Forwarded
 * element (quotes, brackets and port removed; "unknown" and obfuscated
 * "_..." identifiers skipped), else the first X-Forwarded-For entry.
 * Returns 0 and *addr pointing into the head's strings, or -1 if none.
 */
int http_client_address(const struct http_head *h, struct str *addr);

#endif
