/*
 * W3C Trace Context (traceparent, tracestate) on application threads.  The
 * rules follow the Trace Context Recommendation and Level 2 as summarised
 * in docs/otel-reference.md §5; every function works on caller-owned
 * memory with work bounded by its input, so hooks may call them anywhere,
 * signal handlers included.
 */
#include <string.h>

#include "common/text.h"
#include "propagate.h"

/* Longest tracestate member kept when truncation has to choose. */
#define TS_LONG_MEMBER 128
#define TS_KEY_MAX     256
#define TS_VALUE_MAX   256

int propagate_parse_traceparent(const char *s, size_t len,
				struct propagate_ctx *out)
{
	struct propagate_ctx c;
	uint8_t version;

	struct str t = str_trim((struct str){ s, len });

	s = t.p;
	len = t.n;
	if (len < PROPAGATE_TRACEPARENT_LEN)
		return -1;
	if (hex_decode_lower(s, &version, 1) < 0 || version == 0xff)
		return -1;
	if (version == 0 && len != PROPAGATE_TRACEPARENT_LEN)
		return -1;
	/* Later versions keep the fields at their places; anything after
	 * them must start with a '-' and is not ours to read. */
	if (len > PROPAGATE_TRACEPARENT_LEN &&
	    s[PROPAGATE_TRACEPARENT_LEN] != '-')
		return -1;
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -1;
	if (hex_decode_lower(s + 3, c.trace_id, 16) < 0 ||
	    hex_decode_lower(s + 36, c.span_id, 8) < 0 ||
	    hex_decode_lower(s + 53, &c.flags, 1) < 0)
		return -1;
	if (bytes_all_zero(c.trace_id, 16) || bytes_all_zero(c.span_id, 8))
		return -1;
	c.flags &= PROPAGATE_FLAGS_KNOWN;
	*out = c;
	return 0;
}

size_t propagate_format_traceparent(const struct propagate_ctx *c, char *buf,
				    size_t cap)
{
	uint8_t flags = c->flags & PROPAGATE_FLAGS_KNOWN;
	char *p = buf;

	if (cap < PROPAGATE_TRACEPARENT_LEN)
		return 0;
	*p++ = '0';
	*p++ = '0';
	*p++ = '-';
	p = hex_encode(p, c->trace_id, 16);
	*p++ = '-';
	p = hex_encode(p, c->span_id, 8);
	*p++ = '-';
	p = hex_encode(p, &flags, 1);
	if (cap > PROPAGATE_TRACEPARENT_LEN)
		*p = '\0';
	return PROPAGATE_TRACEPARENT_LEN;
}

static int key_first(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int key_char(char c)
{
	return key_first(c) || c == '_' || c == '-' || c == '*' || c == '/' ||
	       c == '@';
}

/* Value characters: printable ASCII except ',' and '='. */
static int value_char(char c)
{
	return c >= 0x20 && c <= 0x7e && c != ',' && c != '=';
}

/* Checks one trimmed, non-empty member; returns the key length or -1. */
static int check_member(const char *m, size_t len)
{
	size_t k, i;

	for (k = 0; k < len && m[k] != '='; k++)
		if (!(k == 0 ? key_first(m[k]) : key_char(m[k])))
			return -1;
	if (k == 0 || k == len || k > TS_KEY_MAX)
		return -1;
	if (len - k - 1 == 0 || len - k - 1 > TS_VALUE_MAX)
		return -1;
	for (i = k + 1; i < len; i++)
		if (!value_char(m[i]))
			return -1;
	if (m[len - 1] == ' ')
		return -1;
	return (int)k;
}

struct ts_member {
	uint16_t off;   /* offset into the input, after trimming */
	uint16_t len;
	uint16_t klen;
	uint8_t keep;
};

/* Total length of the kept members joined by ','. */
static size_t joined_len(const struct ts_member *m, int n)
{
	size_t total = 0;
	int i, kept = 0;

	for (i = 0; i < n; i++) {
		if (!m[i].keep)
			continue;
		total += m[i].len;
		kept++;
	}
	return kept ? total + (size_t)(kept - 1) : 0;
}

/* Removes the member truncation gives up first: the rightmost long one,
 * else the rightmost one. */
static void drop_one(struct ts_member *m, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		if (m[i].keep && m[i].len > TS_LONG_MEMBER) {
			m[i].keep = 0;
			return;
		}
	}
	for (i = n - 1; i >= 0; i--) {
		if (m[i].keep) {
			m[i].keep = 0;
			return;
		}
	}
}

int propagate_check_tracestate(const char *s, size_t len, char *out,
			       size_t cap)
{
	struct ts_member m[PROPAGATE_TRACESTATE_MEMBERS];
	size_t pos = 0, limit, w = 0;
	int n = 0, i, j;

	/* Members are at most 513 bytes, so an input longer than what 32 of
	 * them and their separators and whitespace can take is either
	 * invalid or mostly whitespace; offsets are 16-bit, cap the input. */
	if (len > UINT16_MAX)
		return -1;
	while (pos <= len) {
		size_t a = pos, b = pos;
		int klen;

		while (b < len && s[b] != ',')
			b++;
		pos = b + 1;
		while (a < b && ascii_is_ows(s[a]))
			a++;
		while (b > a && ascii_is_ows(s[b - 1]))
			b--;
		if (a == b)
			continue;
		if (n == PROPAGATE_TRACESTATE_MEMBERS)
			return -1;
		klen = check_member(s + a, b - a);
		if (klen < 0)
			return -1;
		m[n].off = (uint16_t)a;
		m[n].len = (uint16_t)(b - a);
		m[n].klen = (uint16_t)klen;
		m[n].keep = 1;
		n++;
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (m[i].klen == m[j].klen &&
			    memcmp(s + m[i].off, s + m[j].off, m[i].klen) == 0)
				return -1;
	limit = cap > 0 ? cap - 1 : 0;
	if (limit > PROPAGATE_TRACESTATE_MAX)
		limit = PROPAGATE_TRACESTATE_MAX;
	while (joined_len(m, n) > limit)
		drop_one(m, n);
	for (i = 0; i < n; i++) {
		if (!m[i].keep)
			continue;
		if (w > 0)
			out[w++] = ',';
		memcpy(out + w, s + m[i].off, m[i].len);
		w += m[i].len;
	}
	if (cap > 0)
		out[w] = '\0';
	return (int)w;
}
