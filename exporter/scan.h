/*
 * A read cursor over text that is not NUL-terminated, for the exporter's
 * small parsers of what a server sends (HTTP-dates in httpdate.c, OTLP/JSON
 * responses in otlp_response.c).  A failed step may leave the cursor moved:
 * the callers give up on the whole input then.  Any thread.
 */
#ifndef OTELSHIM_SCAN_H
#define OTELSHIM_SCAN_H

#include <stdint.h>

#include "common/text.h"

struct scan {
	const char *p, *end;
};

/* Consumes ch; 0, or -1 when the next byte is not ch. */
static inline int scan_char(struct scan *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* Consumes up to max decimal digits into *out; 0, or -1 when fewer than
 * min were there. */
static inline int scan_digits(struct scan *c, unsigned min, unsigned max,
			      int64_t *out)
{
	unsigned n = 0;
	int64_t v = 0;

	while (c->p < c->end && n < max && ascii_is_digit(*c->p)) {
		v = v * 10 + (*c->p - '0');
		c->p++;
		n++;
	}
	*out = v;
	return n >= min ? 0 : -1;
}

#endif
