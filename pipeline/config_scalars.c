/*
 * The kinds of single values a setting can have, one reader each: a word
 * of the row's list, a bounded decimal number, a ratio, a file name, UTF-8
 * text, an http(s) URL, and a variable we do not implement.  Each writes
 * the row's field only when the value is valid, and otherwise warns with
 * the row's words and default.  Part of config_load: library constructor,
 * no stdio, no locale.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/endpoint.h"
#include "common/text.h"
#include "common/utf8.h"
#include "config_row.h"

/* "<name> <what>; using <def>" (or "; ignoring it"), the value unshown. */
static void warn_unshown(struct config_loader *ld,
			 const struct config_row *row, struct config_value v)
{
	struct config_msg m = { .n = 0 };

	config_msg_str(&m, row->what);
	config_msg_str(&m, row->def ? "; using " : "; ignoring it");
	config_msg_str(&m, row->def ? row->def : "");
	config_warn_text(ld, v.name, m.buf);
}

/* -------------------------------------------------------------- numbers */

enum num_err { NUM_OK, NUM_INVALID, NUM_NEGATIVE, NUM_RANGE };

/* A decimal integer in [0, max]; a leading '+' is allowed. */
static enum num_err parse_u32(struct str s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int neg = 0;

	if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
		neg = s.p[0] == '-';
		i = 1;
	}
	if (i == s.n)
		return NUM_INVALID;
	for (; i < s.n; i++) {
		if (!ascii_is_digit(s.p[i]))
			return NUM_INVALID;
		if (v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (neg && v != 0)
		return NUM_NEGATIVE;
	if (v > max)
		return NUM_RANGE;
	*out = (uint32_t)v;
	return NUM_OK;
}

/*
 * A decimal fraction: digits, optional point and digits, optional
 * exponent.  Written out rather than strtod() so the result never depends
 * on the program's locale.  0, or -EINVAL.
 */
static int parse_double(struct str s, double *out)
{
	uint64_t mant = 0;
	int exp10 = 0, digits = 0, eneg = 0, e = 0;
	size_t i = 0;
	double v;

	if (i < s.n && s.p[i] == '+')
		i++;
	for (; i < s.n && ascii_is_digit(s.p[i]); i++, digits++) {
		if (mant < 100000000000000000ull)
			mant = mant * 10 + (uint64_t)(s.p[i] - '0');
		else
			exp10++;
	}
	if (i < s.n && s.p[i] == '.') {
		for (i++; i < s.n && ascii_is_digit(s.p[i]); i++) {
			digits++;
			if (mant < 100000000000000000ull) {
				mant = mant * 10 + (uint64_t)(s.p[i] - '0');
				exp10--;
			}
		}
	}
	if (digits == 0)
		return -EINVAL;
	if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
		size_t start;

		i++;
		if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
			eneg = s.p[i] == '-';
			i++;
		}
		start = i;
		for (; i < s.n && ascii_is_digit(s.p[i]); i++) {
			if (e < 10000)
				e = e * 10 + (s.p[i] - '0');
		}
		if (i == start)
			return -EINVAL;
	}
	if (i != s.n)
		return -EINVAL;
	exp10 += eneg ? -e : e;
	v = (double)mant;
	if (mant == 0)
		exp10 = 0;
	for (; exp10 > 0 && v < 1e300; exp10--)
		v *= 10.0;
	for (; exp10 < 0 && v > 0.0; exp10++)
		v /= 10.0;
	*out = v;
	return 0;
}

/* ---------------------------------------------------------- the kinds */

const struct config_word *config_word(const struct config_word *words,
				      struct str s)
{
	for (; words->word != NULL; words++) {
		if (str_is(s, words->word))
			return words;
	}
	return NULL;
}

/* One of the row's words, into an int (or enum) field. */
static int read_word(struct config_loader *ld, const struct config_row *row,
		     struct config_value v)
{
	const struct config_word *w = config_word(row->words, v.s);

	if (w == NULL || w->value == CONFIG_UNSUPPORTED) {
		config_warn_value(ld, v.name, v.s,
				  w ? "is not supported" : row->what,
				  row->def);
		return -EINVAL;
	}
	*(int *)config_field(ld, row) = w->value;
	return 0;
}

/* A decimal number in [row->min, row->max], into a 32-bit field. */
static int read_number(struct config_loader *ld,
		       const struct config_row *row, struct config_value v)
{
	struct config_msg at_least = { .n = 0 };
	const char *what = row->what;
	uint32_t n = 0;

	switch (parse_u32(v.s, row->max, &n)) {
	case NUM_OK:
		if (n >= row->min) {
			*(uint32_t *)config_field(ld, row) = n;
			return 0;
		}
		config_msg_str(&at_least, "must be at least ");
		config_msg_u32(&at_least, row->min);
		what = at_least.buf;
		break;
	case NUM_NEGATIVE:
		what = "is negative";
		break;
	case NUM_RANGE:
		what = "is too large";
		break;
	case NUM_INVALID:
		break;
	}
	config_warn_value(ld, v.name, v.s, what, row->def);
	return -EINVAL;
}

/* A fraction in [0, 1], into a double field. */
static int read_ratio(struct config_loader *ld, const struct config_row *row,
		      struct config_value v)
{
	double r;

	if (parse_double(v.s, &r) != 0 || !(r >= 0.0 && r <= 1.0)) {
		config_warn_value(ld, v.name, v.s, row->what, row->def);
		return -EINVAL;
	}
	*(double *)config_field(ld, row) = r;
	return 0;
}

/* Any bytes, kept as they are: a file name. */
static int read_text(struct config_loader *ld, const struct config_row *row,
		     struct config_value v)
{
	const char *p = config_keep(ld, str_of(v.raw));

	if (p == NULL)
		return -ENOMEM;
	*(const char **)config_field(ld, row) = p;
	return 0;
}

/* Text for the wire, which must be well-formed UTF-8. */
static int read_utf8(struct config_loader *ld, const struct config_row *row,
		     struct config_value v)
{
	if (!utf8_clean(v.raw, strlen(v.raw))) {
		warn_unshown(ld, row, v);
		return -EINVAL;
	}
	return read_text(ld, row, v);
}

/*
 * An http(s) URL, made into the one the exporter posts to (endpoint.h):
 * for OTLP/HTTP the row's own variable is the full URL, used as it is with
 * "/" inserted if it has no path, and its generic variable a base to which
 * row->path is appended; for gRPC (the protocol row is read first) either
 * gives the scheme and authority, and the Export method is the path.  The
 * warning never shows the value: URLs can carry credentials.
 */
static int read_url(struct config_loader *ld, const struct config_row *row,
		    struct config_value v)
{
	const char **field = config_field(ld, row);
	int grpc = ld->cfg->protocol == CONFIG_PROTOCOL_GRPC;
	size_t cap = v.s.n + 2 + (grpc ? sizeof(ENDPOINT_GRPC_PATH) :
				  strlen(row->path));
	char *url;

	if (v.src == CONFIG_SRC_DEFAULT) {      /* ours, a full URL */
		*field = grpc ? ENDPOINT_GRPC_DEFAULT ENDPOINT_GRPC_PATH :
				v.raw;
		return 0;
	}
	if (endpoint_url(v.s, 0, "", NULL, 0) == -EINVAL) {
		warn_unshown(ld, row, v);
		return -EINVAL;
	}
	url = config_alloc(ld, cap);
	if (url == NULL)
		return -ENOMEM;
	if (grpc)
		endpoint_grpc_url(v.s, url, cap);
	else
		endpoint_url(v.s, v.src == CONFIG_SRC_GENERIC, row->path, url,
			     cap);
	*field = url;
	return 0;
}

/* A variable of the specification we do not implement: said once. */
static int read_unsupported(struct config_loader *ld,
			    const struct config_row *row,
			    struct config_value v)
{
	config_warn_text(ld, v.name, row->what);
	return -EINVAL;
}

const struct config_kind config_kind_word = { read_word, 0 };
const struct config_kind config_kind_number = { read_number, 0 };
const struct config_kind config_kind_ratio = { read_ratio, 0 };
const struct config_kind config_kind_text = {
	read_text, CONFIG_KIND_KEEPS | CONFIG_KIND_RAW
};
const struct config_kind config_kind_utf8 = {
	read_utf8, CONFIG_KIND_KEEPS | CONFIG_KIND_RAW
};
const struct config_kind config_kind_url = { read_url, CONFIG_KIND_KEEPS };
const struct config_kind config_kind_unsupported = { read_unsupported, 0 };

