/*
 * UTF-8 repair for strings on their way into OTLP.  Receivers such as Tempo
 * refuse a whole request when one string is not well-formed UTF-8, and the
 * bytes we record come straight from the program's traffic, so every string
 * passes through here first.  Pure functions, no allocation.
 */
#ifndef OTELSHIM_UTF8_H
#define OTELSHIM_UTF8_H

#include <stddef.h>

/*
 * Copies (in, len) into (out, cap) as well-formed UTF-8.  Each maximal
 * ill-formed subsequence (Unicode's "maximal subpart" rule) becomes one
 * U+FFFD, and so does each NUL byte, which a C string cannot carry.  At most
 * max_chars code points are kept (0 = no limit); a character is never split.
 *
 * Like snprintf: returns the length the whole result has (without the
 * terminating NUL) and writes as many whole characters of it as fit in
 * cap - 1 bytes, NUL-terminated when cap > 0.  out may be NULL when cap is
 * 0, to measure.  The result never exceeds 3 * len bytes.
 */
size_t utf8_repair(const char *in, size_t len, size_t max_chars,
		   char *out, size_t cap);

/* 1 if (s, len) is well-formed UTF-8 without NUL bytes, else 0. */
int utf8_clean(const char *s, size_t len);

#endif
