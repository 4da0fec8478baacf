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

/* U+FFFD, what every repair here writes for bytes that are not UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/*
 * What starts at s, of the avail > 0 bytes there: *ok 1 and the length (1
 * to 4) of a well-formed character other than NUL, or *ok 0 and how many
 * bytes one U+FFFD replaces -- a NUL, or a maximal ill-formed subpart
 * (Unicode's rule, as utf8_repair() applies it).  Every repair walks a
 * string this way, so that all of them write the same text.
 */
size_t utf8_next(const char *s, size_t avail, int *ok);

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

/* Sixteen bytes as one vector (GCC's vector extension: SSE2 on x86-64,
 * plain words where there is no SIMD). */
typedef int8_t utf8_v16 __attribute__((vector_size(16)));

/*
 * Copies the n bytes at s so that they end at end (back to front, for a
 * writer that fills its buffer that way) and returns 1 if they were all
 * ASCII without NUL, and so clean in utf8_clean()'s sense; 0 says nothing
 * about them.  Sixteen bytes at a time from the back, the frontmost
 * sixteen taken whole whatever n is: one path for every length, no call.
 * So it reads up to 15 bytes in front of s and writes up to 15 in front
 * of end - n: both must be addressable (a string inside a larger record,
 * a buffer whose free space is in front), and what it writes there is
 * garbage for the caller to overwrite.
 */
static inline __attribute__((always_inline)) int
utf8_copy_ascii_before(uint8_t *end, const char *s, size_t n)
{
	/* lanes + k: the last k of sixteen lanes set. */
	static const utf8_v16 lanes[2] = {
		{ 0 }, { -1, -1, -1, -1, -1, -1, -1, -1,
			 -1, -1, -1, -1, -1, -1, -1, -1 } };
	const utf8_v16 one = { 1, 1, 1, 1, 1, 1, 1, 1,
			       1, 1, 1, 1, 1, 1, 1, 1 };
	utf8_v16 v, m, bad = { 0 };
	uint64_t h[2];
	size_t k;

	for (k = n; k > 16; k -= 16) {
		memcpy(&v, s + k - 16, 16);
		memcpy(end - n + k - 16, &v, 16);
		bad |= v < one;         /* signed: NUL or high bit set */
	}
	memcpy(&v, s + k - 16, 16);
	memcpy(end - n + k - 16, &v, 16);
	memcpy(&m, (const int8_t *)lanes + k, 16);
	bad |= (v < one) & m;
	memcpy(h, &bad, 16);
	return !(h[0] | h[1]);
}

#endif
