/*
 * UTF-8 (see utf8.h).  The decoder follows the table of well-formed byte
 * sequences in the Unicode standard (ch. 3, table 3-7).
 */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

static const char replacement[3] = UTF8_REPLACEMENT;

size_t utf8_next(const char *s, size_t n, int *ok)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*ok = 0;
	if (c < 0x80) {
		*ok = c != 0;
		return 1;
	}
	if (c < 0xc2)
		return 1;       /* stray continuation or overlong C0/C1 */
	if (c < 0xe0) {
		need = 2;
	} else if (c < 0xf0) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;      /* overlong */
		if (c == 0xed)
			hi = 0x9f;      /* surrogates */
	} else if (c < 0xf5) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;      /* overlong */
		if (c == 0xf4)
			hi = 0x8f;      /* past U+10FFFF */
	} else {
		return 1;
	}
	if (n < 2 || p[1] < lo || p[1] > hi)
		return 1;
	for (i = 2; i < need; i++) {
		if (i >= n || p[i] < 0x80 || p[i] > 0xbf)
			return i;
	}
	*ok = 1;
	return need;
}

size_t utf8_char_len(const char *s, size_t avail)
{
	int ok;
	size_t n;

	if (s[0] == 0)
		return 1;
	n = utf8_next(s, avail, &ok);
	return ok ? n : 0;
}

size_t utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t utf8_cut(const char *s, size_t len, size_t room)
{
	size_t n = len < room ? len : room;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return n;
}

size_t utf8_repair(const char *in, size_t len, size_t max_chars,
		   char *out, size_t cap)
{
	size_t i = 0, total = 0, written = 0, chars = 0;
	int fits = cap > 0;

	while (i < len) {
		int ok;
		size_t n = utf8_next(in + i, len - i, &ok);
		const char *src = ok ? in + i : replacement;
		size_t outn = ok ? n : sizeof(replacement);

		if (max_chars && chars == max_chars)
			break;
		chars++;
		/* Once one character does not fit, none after it is written,
		 * so the output is always a prefix of whole characters. */
		if (fits && written + outn < cap) {
			memcpy(out + written, src, outn);
			written += outn;
		} else {
			fits = 0;
		}
		total += outn;
		i += n;
	}
	if (cap > 0)
		out[written] = '\0';
	return total;
}

int utf8_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	uint64_t w;

	/* Most strings are plain ASCII: eight bytes at a time while no byte
	 * has its high bit set and none is NUL (which we also replace). */
	while (i + 8 <= len) {
		memcpy(&w, p + i, 8);
		if (!utf8_ascii_word(w))
			break;
		i += 8;
	}
	/* And most are short: the bytes the loop left, up to seven, in one
	 * test, by loads that may overlap what it saw. */
	if (i + 8 > len) {
		if (len >= 8) {
			memcpy(&w, p + len - 8, 8);
		} else if (len >= 4) {
			uint32_t a, b;

			memcpy(&a, p, 4);
			memcpy(&b, p + len - 4, 4);
			w = (uint64_t)a << 32 | b;
		} else if (len > 0) {
			w = 0x0101010101000000ULL | p[0] |
			    (uint64_t)p[len / 2] << 8 |
			    (uint64_t)p[len - 1] << 16;
		} else {
			return 1;
		}
		if (utf8_ascii_word(w))
			return 1;
	}
	while (i < len) {
		int ok;

		if (p[i] >= 0x01 && p[i] < 0x80) {
			i++;
			continue;
		}
		i += utf8_next(s + i, len - i, &ok);
		if (!ok)
			return 0;
	}
	return 1;
}
