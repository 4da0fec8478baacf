/*
 * Text helpers (see text.h).
 */
#include <string.h>

#include "loader.h"
#include "text.h"

STARTUP_CODE struct str str_of(const char *cstr)
{
	struct str s = { cstr ? cstr : "", cstr ? strlen(cstr) : 0 };

	return s;
}

int str_eq_nocase(struct str a, struct str b)
{
	size_t i;

	if (a.n != b.n)
		return 0;
	for (i = 0; i < a.n; i++)
		if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
			return 0;
	return 1;
}

STARTUP_CODE int str_is(struct str a, const char *lit)
{
	size_t i;

	for (i = 0; i < a.n; i++)
		if (lit[i] == '\0' || ascii_lower(a.p[i]) != lit[i])
			return 0;
	return lit[i] == '\0';
}

int str_starts_nocase(struct str a, struct str prefix)
{
	if (a.n < prefix.n)
		return 0;
	a.n = prefix.n;
	return str_eq_nocase(a, prefix);
}

STARTUP_CODE struct str str_trim(struct str a)
{
	while (a.n > 0 && ascii_is_ows(a.p[0])) {
		a.p++;
		a.n--;
	}
	while (a.n > 0 && ascii_is_ows(a.p[a.n - 1]))
		a.n--;
	return a;
}

STARTUP_CODE int str_next_member(struct str *rest, struct str *out, int *done)
{
	const char *comma;

	if (*done)
		return 0;
	out->p = rest->p;
	comma = rest->n ? memchr(rest->p, ',', rest->n) : NULL;
	if (comma == NULL) {
		out->n = rest->n;
		*done = 1;
		return 1;
	}
	out->n = (size_t)(comma - rest->p);
	rest->n -= out->n + 1;
	rest->p = comma + 1;
	return 1;
}

char *hex_encode(char *out, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		*out++ = digits[bytes[i] >> 4];
		*out++ = digits[bytes[i] & 15];
	}
	return out;
}

static int decode(const char *s, uint8_t *out, size_t n, int lower_only)
{
	size_t i;

	for (i = 0; lower_only && i < 2 * n && s[i]; i++)
		if (s[i] >= 'A' && s[i] <= 'F')
			return -1;
	/* Digit by digit, so that a short string's NUL stops the reading. */
	for (i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo;

		if (hi < 0 || (lo = hex_value(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
	return decode(s, out, n, 0);
}

int hex_decode_lower(const char *s, uint8_t *out, size_t n)
{
	return decode(s, out, n, 1);
}
