/*
 * UTF-8, written once for the whole library: well-formedness (the Unicode
 * standard's table of well-formed sequences, which also rules out overlong
 * forms, surrogates and values past U+10FFFF), encoding a code point,
 * cutting without splitting a character, and repair for strings on their
 * way into OTLP — receivers such as Tempo refuse a whole request when one
 * string is not well-formed, and the bytes we record come straight from
 * the program's traffic.  Pure functions, no allocation: hooks may call
 * them.
 */
#ifndef OTELSHIM_UTF8_H
#define OTELSHIM_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Length (1 to 4) of the well-formed character that starts at s, of the
 * avail > 0 bytes there; 0 when s does not start one.  A NUL byte is a
 * well-formed character of length 1: callers that cannot carry NUL check
 * for it themselves.
 */
size_t utf8_char_len(const char *s, size_t avail);

/* Writes code point cp (at most U+10FFFF, no surrogate) as 1 to 4 bytes at
 * out; returns how many. */
size_t utf8_encode(uint32_t cp, char out[4]);

/*
 * How many of the len bytes at s to keep when only room fit: min(len,
 * room), backed up so that the cut does not end inside a character.
 */
size_t utf8_cut(const char *s, size_t len, size_t room);

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

/* 1 if none of the eight bytes in w is NUL or has its high bit set. */
static inline int utf8_ascii_word(uint64_t w)
{
	return !((w & 0x8080808080808080ULL) |
		 ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL));
}

/*
 * Copies n bytes from s to d (which do not overlap) and returns 1 if they
 * were all ASCII without NUL, and so clean in utf8_clean()'s sense; 0
 * says nothing about them.  For the short strings of an OTLP request: the
 * test rides on the copy, a word at a time, with no call.
 */
static inline __attribute__((always_inline)) int
utf8_copy_ascii(void *d, const char *s, size_t n)
{
	uint8_t *o = d;
	uint64_t w, bad = 0;
	uint32_t a, b;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&w, s + i, 8);
			memcpy(o + i, &w, 8);
			bad |= !utf8_ascii_word(w);
		}
		memcpy(&w, s + n - 8, 8);
		memcpy(o + n - 8, &w, 8);
		return !bad && utf8_ascii_word(w);
	}
	if (n >= 4) {
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(o, &a, 4);
		memcpy(o + n - 4, &b, 4);
		return utf8_ascii_word((uint64_t)a << 32 | b);
	}
	if (n == 0)
		return 1;
	o[0] = (uint8_t)s[0];
	o[n / 2] = (uint8_t)s[n / 2];
	o[n - 1] = (uint8_t)s[n - 1];
	return utf8_ascii_word(0x0101010101000000ULL | o[0] |
			       (uint64_t)o[n / 2] << 8 |
			       (uint64_t)o[n - 1] << 16);
}

#endif
