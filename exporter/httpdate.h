/*
 * Retry-After, as a server sends it with a 429 or 503: delta-seconds or an
 * HTTP-date (RFC 9110 §10.2.3, §5.6.7).  Pure functions over an injected
 * clock, so the unit tests and the fuzzer need neither network nor time.
 * Runs on the exporter thread (any thread could).
 */
#ifndef OTELSHIM_HTTPDATE_H
#define OTELSHIM_HTTPDATE_H

#include <stddef.h>
#include <stdint.h>

/* Longest wait a Retry-After can ask for: past a day is "never" for a
 * batch. */
#define HTTPDATE_MAX_DELAY_S 86400

/*
 * Parses an HTTP-date of len bytes (not NUL-terminated) in any of the
 * three forms RFC 9110 requires recipients to accept:
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 * Returns 0 and sets *unix_s (seconds since the epoch), or -EINVAL.
 */
int httpdate_parse(const char *v, size_t len, int64_t *unix_s);

/*
 * Parses a Retry-After value (len bytes, not NUL-terminated, surrounding
 * white space and CRLF allowed): delta-seconds or an HTTP-date, relative
 * to now_unix.  A date in the past gives 0; either form is capped at
 * HTTPDATE_MAX_DELAY_S.  Returns 0 and sets *delay_ns, or -EINVAL.
 */
int httpdate_retry_after(const char *v, size_t len, int64_t now_unix,
			 uint64_t *delay_ns);

#endif
