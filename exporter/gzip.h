/*
 * gzip (RFC 1952) of one request body in one call, for
 * OTEL_EXPORTER_OTLP_COMPRESSION=gzip.  Runs on the exporter thread (any
 * thread could: no state is kept between calls).
 */
#ifndef OTELSHIM_GZIP_H
#define OTELSHIM_GZIP_H

#include <stddef.h>
#include <sys/types.h>

/* A capacity that always holds the gzip member of len bytes. */
size_t gzip_bound(size_t len);

/*
 * Writes a gzip member of (in, len) into (buf, cap).  Returns its length,
 * or -ENOSPC when cap is too small (gzip_bound(len) never is), -EFBIG for
 * an input or buffer past 4 GiB, -ENOMEM.
 */
ssize_t gzip_encode(const void *in, size_t len, void *buf, size_t cap);

#endif
