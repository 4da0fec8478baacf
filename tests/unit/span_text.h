/*
 * For unit tests that read what a span record holds: its pooled strings
 * (and views of text) as NUL-terminated C strings, for ck_assert_str_eq.  Each helper returns its
 * own static buffer, valid until its next call.
 */
#ifndef OTELSHIM_SPAN_TEXT_H
#define OTELSHIM_SPAN_TEXT_H

#include <check.h>
#include <string.h>

#include "pipeline/record.h"
#include "pipeline/span.h"

static inline const char *span_text_into(char *out, const struct span *s,
					 struct span_str r)
{
	memcpy(out, span_str_ptr(s, r), r.len);
	out[r.len] = 0;
	return out;
}

/* The pooled string r of s. */
static inline const char *span_text(const struct span *s, struct span_str r)
{
	static char out[SPAN_STRPOOL + 1];

	return span_text_into(out, s, r);
}

/* A view (common/text.h) of up to SPAN_STRPOOL bytes. */
static inline const char *view_text(struct str v)
{
	static char out[SPAN_STRPOOL + 1];

	ck_assert_uint_le(v.n, SPAN_STRPOOL);
	memcpy(out, v.p, v.n);
	out[v.n] = 0;
	return out;
}

/* The span's name. */
static inline const char *span_name_text(const struct span *s)
{
	static char out[SPAN_STRPOOL + 1];

	return span_text_into(out, s, s->name);
}

/* A string attribute's value; NULL when absent. */
static inline const char *span_attr_text(const struct span *s,
					 const char *key)
{
	static char out[SPAN_STRPOOL + 1];
	const struct span_attr *a = rec_find_attr(s, key);

	if (!a)
		return NULL;
	ck_assert_int_eq(a->type, SPAN_ATTR_STRING);
	return span_text_into(out, s, a->v.s);
}

#endif
