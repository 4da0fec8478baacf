/*
 * The command's own small HTTP/1.1 POST, for `doctor` (an empty export to
 * the endpoint) and `flush` (spooled requests): one request per
 * connection, plain http:// only, every wait bounded.
 */
#ifndef OTELSHIM_TOOL_POST_H
#define OTELSHIM_TOOL_POST_H

#include <stddef.h>

#include "common/endpoint.h"

#define POST_TIMEOUT_S 10

/* A connected socket to e (its names tried in order), or -1 with *why
 * saying what failed ("does not resolve", "refused the connection"). */
int post_connect(const struct endpoint *e, const char **why);

/*
 * POSTs len bytes of body as ctype with the header lines in headers
 * ("Name: value\r\n" each, may be "") on fd, which it closes.  Returns the
 * answer's HTTP status, or 0 when none came.
 */
int post_send(int fd, const struct endpoint *e, const char *ctype,
	      const char *headers, const void *body, size_t len);

#endif
