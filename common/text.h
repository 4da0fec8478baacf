/*
 * Text helpers every part of otelshim needs: a string view over bytes we
 * do not own (struct str), ASCII-only classification and case folding
 * (locale-independent on purpose: HTTP, SQL keywords and OTEL_* values are
 * ASCII, and the program's locale must not change what we record), hex
 * digits, trimming and comma-separated lists.  Pure functions: no
 * allocation, no locks, no system calls, so hooks and signal handlers may
 * call them.
 */
#ifndef OTELSHIM_TEXT_H
#define OTELSHIM_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes [p, p + n), not NUL-terminated, owned by someone else. */
struct str {
	const char *p;
	size_t n;
};

#define STR_LIT(lit) ((struct str){ (lit), sizeof(lit) - 1 })

struct str str_of(const char *cstr);        /* NULL gives the empty view */

static inline char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline int ascii_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline int ascii_is_alpha(char c)
{
	c = ascii_lower(c);
	return c >= 'a' && c <= 'z';
}

/* HTTP's optional white space: a space or a tab. */
static inline int ascii_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The end of the run of bytes at p (up to end) whose class in table has a
 * bit of mask: names, tokens and values, most of what the parsers read.
 * Four bytes at a time while four are left, so that the bound is checked
 * once for them rather than for each.
 */
static inline const char *class_run_end(const char *p, const char *end,
					const uint8_t table[256], uint8_t mask)
{
	while (end - p >= 4) {
		if (!(table[(uint8_t)p[0]] & mask))
			return p;
		if (!(table[(uint8_t)p[1]] & mask))
			return p + 1;
		if (!(table[(uint8_t)p[2]] & mask))
			return p + 2;
		if (!(table[(uint8_t)p[3]] & mask))
			return p + 3;
		p += 4;
	}
	while (p < end && (table[(uint8_t)*p] & mask))
		p++;
	return p;
}

/* The value of a hex digit of either case, or -1. */
static inline int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ASCII case-insensitive equality of two views. */
int str_eq_nocase(struct str a, struct str b);

/* Whether a equals lit, a lowercase literal, ignoring a's ASCII case. */
int str_is(struct str a, const char *lit);

/* Whether a starts with prefix, ignoring ASCII case. */
int str_starts_nocase(struct str a, struct str prefix);

/* a without spaces and tabs at either end. */
struct str str_trim(struct str a);

/*
 * Splits the next comma-separated member off *rest: returns 1 with the
 * member (untrimmed, possibly empty) in *out, 0 once the list is used up.
 * A list of n commas has n + 1 members; the empty list has one, empty.
 * Start with *rest the whole list and *done 0.
 */
int str_next_member(struct str *rest, struct str *out, int *done);

/*
 * n bytes as 2n lowercase hex digits at out (no NUL added); returns
 * out + 2n.
 */
char *hex_encode(char *out, const uint8_t *bytes, size_t n);

/*
 * Exactly 2n hex digits at s into n bytes; 0, or -1 (out partly written)
 * when one is not a hex digit.  hex_decode_lower takes lowercase digits
 * only, as W3C Trace Context requires.
 */
int hex_decode(const char *s, uint8_t *out, size_t n);
int hex_decode_lower(const char *s, uint8_t *out, size_t n);

/*
 * memcpy() for the few bytes of a method, a header value or an attribute:
 * up to 16 as overlapping words (exactly the n bytes are read and
 * written), without the call; longer ones through memcpy().
 */
static inline __attribute__((always_inline)) void
copy_short(void *dst, const void *src, size_t n)
{
	char *d = dst;
	const char *s = src;
	uint64_t a, b;
	uint32_t c, e;
	uint16_t f, g;

	if (n >= 8) {
		if (n > 16) {
			memcpy(d, s, n);
			return;
		}
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&c, s, 4);
		memcpy(&e, s + n - 4, 4);
		memcpy(d, &c, 4);
		memcpy(d + n - 4, &e, 4);
	} else if (n >= 2) {
		memcpy(&f, s, 2);
		memcpy(&g, s + n - 2, 2);
		memcpy(d, &f, 2);
		memcpy(d + n - 2, &g, 2);
	} else if (n) {
		d[0] = s[0];
	}
}

/*
 * copy_short() for runs of text up to 64 bytes (a statement's words
 * between its literals, a sanitised statement): sixteen bytes at a time,
 * the last sixteen overlapping what was copied (exactly the n bytes are
 * read and written), without the call; longer ones through memcpy().
 * dst and src must not overlap.
 */
static inline __attribute__((always_inline)) void
copy_medium(void *dst, const void *src, size_t n)
{
	char *d = dst;
	const char *s = src;
	uint64_t v[2];
	size_t i;

	if (n <= 16) {
		copy_short(d, s, n);
		return;
	}
	if (n > 64) {
		memcpy(d, s, n);
		return;
	}
	for (i = 0; i + 16 < n; i += 16) {
		memcpy(v, s + i, 16);
		memcpy(d + i, v, 16);
	}
	memcpy(v, s + n - 16, 16);
	memcpy(d + n - 16, v, 16);
}

/* 1 if all n bytes at p are zero: a trace or span id that is not one. */
static inline int bytes_all_zero(const uint8_t *p, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

#endif
