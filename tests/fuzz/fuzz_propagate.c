/*
 * libFuzzer target for shim/propagate.c.  The input is parsed as a
 * traceparent and as a tracestate.  A valid traceparent must format to a
 * version-00 value that parses back to the same context; a valid
 * tracestate must come out normalised (no whitespace or empty members, at
 * most 512 characters, within the cap) and checking the output again must
 * give the output unchanged.
 * links: shim/propagate.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/propagate.h"

static void check_traceparent(const char *s, size_t len)
{
	struct propagate_ctx c, d;
	char buf[PROPAGATE_TRACEPARENT_LEN + 1], again[sizeof(buf)];
	size_t i;

	if (propagate_parse_traceparent(s, len, &c) != 0)
		return;
	if (c.flags & ~PROPAGATE_FLAGS_KNOWN)
		abort();
	if (propagate_format_traceparent(&c, buf, sizeof(buf)) !=
	    PROPAGATE_TRACEPARENT_LEN || buf[PROPAGATE_TRACEPARENT_LEN])
		abort();
	if (memcmp(buf, "00-", 3) != 0)
		abort();
	for (i = 0; i < PROPAGATE_TRACEPARENT_LEN; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			abort();
	if (propagate_parse_traceparent(buf, PROPAGATE_TRACEPARENT_LEN,
					&d) != 0)
		abort();
	if (memcmp(&c, &d, sizeof(c)) != 0)
		abort();
	propagate_format_traceparent(&d, again, sizeof(again));
	if (memcmp(buf, again, sizeof(buf)) != 0)
		abort();
	/* A context never parses from fewer than 55 bytes. */
	if (propagate_parse_traceparent(s, len < 54 ? len : 54, &d) == 0)
		abort();
}

static void check_tracestate(const char *s, size_t len, size_t cap)
{
	char out[PROPAGATE_TRACESTATE_MAX + 1], again[sizeof(out)];
	char *small;
	int n, m;

	n = propagate_check_tracestate(s, len, out, sizeof(out));
	if (n < 0)
		return;
	if ((size_t)n > PROPAGATE_TRACESTATE_MAX || strlen(out) != (size_t)n)
		abort();
	if (n > 0 && (out[0] == ',' || out[n - 1] == ',' ||
		      out[0] == ' ' || out[n - 1] == ' ' ||
		      strstr(out, ",,") || strstr(out, " ,") ||
		      strstr(out, ", ") || strchr(out, '\t')))
		abort();
	m = propagate_check_tracestate(out, (size_t)n, again, sizeof(again));
	if (m != n || memcmp(out, again, (size_t)n) != 0)
		abort();
	/* Any smaller cap gives a valid list that fits it. */
	small = malloc(cap ? cap : 1);
	if (small == NULL)
		abort();
	m = propagate_check_tracestate(s, len, small, cap);
	if (m < 0 || (cap && (size_t)m >= cap) || (!cap && m != 0))
		abort();
	if (cap && (size_t)m != strlen(small))
		abort();
	free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	size_t cap;

	if (size < 1)
		return 0;
	cap = (size_t)data[0] * 2;
	copy = malloc(size - 1 ? size - 1 : 1);
	if (copy == NULL)
		abort();
	/* An exact-size copy: reading past it is caught. */
	memcpy(copy, data + 1, size - 1);
	check_traceparent(copy, size - 1);
	check_tracestate(copy, size - 1, cap);
	free(copy);
	return 0;
}
