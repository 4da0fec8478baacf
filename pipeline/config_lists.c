/*
 * The kinds of settings that are comma-separated lists: key=value lists
 * with percent-encoded values (OTEL_RESOURCE_ATTRIBUTES, the OTLP
 * headers) and lists of names (exporters, propagators).  Part of
 * config_load, so it runs in the library constructor: no stdio, strings
 * kept in the loader's arena.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/text.h"
#include "common/utf8.h"
#include "config_row.h"

/*
 * Percent-decodes s into a NUL-terminated arena string at *res: 0,
 * -EINVAL for a malformed escape or one that decodes to NUL (it would cut
 * the string), -ENOMEM when the arena has no room.
 */
static int decode(struct config_loader *ld, struct str s, const char **res)
{
	char *out = config_alloc(ld, s.n + 1);
	size_t i, o = 0;

	if (out == NULL)
		return -ENOMEM;
	for (i = 0; i < s.n; i++) {
		int hi, lo;

		if (s.p[i] != '%') {
			out[o++] = s.p[i];
			continue;
		}
		if (s.n - i < 3)
			return -EINVAL;
		hi = hex_value(s.p[i + 1]);
		lo = hex_value(s.p[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	/* Give back what decoding saved. */
	ld->used -= s.n - o;
	*res = out;
	return 0;
}

/* A key=value list being walked: members count from 1, empty ones are
 * skipped. */
struct kv_walk {
	struct str rest;
	int done;
	uint32_t pos;
};

enum kv_step {
	KV_END,
	KV_PAIR,        /* *key, *val: both trimmed, the key not empty */
	KV_BAD,         /* *why: what is wrong with member pos */
};

static enum kv_step kv_next(struct kv_walk *w, struct str *key,
			    struct str *val, const char **why)
{
	struct str mem;
	const char *eq;

	do {
		if (!str_next_member(&w->rest, &mem, &w->done))
			return KV_END;
		w->pos++;
		mem = str_trim(mem);
	} while (mem.n == 0);
	eq = memchr(mem.p, '=', mem.n);
	if (eq == NULL) {
		*why = "has no '='";
		return KV_BAD;
	}
	*key = str_trim((struct str){ mem.p, (size_t)(eq - mem.p) });
	*val = str_trim((struct str){ eq + 1,
				      mem.n - (size_t)(eq - mem.p) - 1 });
	if (key->n == 0) {
		*why = "has an empty key";
		return KV_BAD;
	}
	return KV_PAIR;
}

/* The count of a list row's entries. */
static size_t *count_of(struct config_loader *ld, const struct config_row *row)
{
	return (size_t *)((char *)ld->cfg + row->count_at);
}

/* "<name> has more than <most> <what>; ignoring the rest" */
static void warn_too_many(struct config_loader *ld, const char *name,
			  uint32_t most, const char *what)
{
	struct config_msg m = { .n = 0 };

	config_msg_str(&m, "has more than ");
	config_msg_u32(&m, most);
	config_msg_str(&m, what);
	config_msg_str(&m, "; ignoring the rest");
	config_warn_text(ld, name, m.buf);
}

/*
 * OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", keys and values percent-decoded
 * and then UTF-8.  Any error drops the whole variable (the specification
 * says so): one warning, no attributes.  A repeated key keeps its last
 * value.
 */
static int read_attrs(struct config_loader *ld, const struct config_row *row,
		      struct config_value v)
{
	struct config_kv *kv = config_field(ld, row);
	struct kv_walk w = { v.s, 0, 0 };
	size_t mark = ld->used, n = 0, i;
	const char *why = NULL;
	struct str ks, vs;
	enum kv_step step;
	int too_many = 0;

	for (;;) {
		const char *k = NULL, *val = NULL;
		int err;

		step = kv_next(&w, &ks, &vs, &why);
		if (step != KV_PAIR)
			break;
		err = decode(ld, ks, &k);
		if (err == 0)
			err = decode(ld, vs, &val);
		if (err == -ENOMEM)
			return err;
		if (err != 0) {
			why = "has an invalid percent-encoding";
			break;
		}
		if (!utf8_clean(k, strlen(k)) || !utf8_clean(val, strlen(val))) {
			why = "is not valid UTF-8";
			break;
		}
		for (i = 0; i < n && strcmp(kv[i].key, k) != 0; i++)
			;
		if (i == n && n == row->max) {
			too_many = 1;
			continue;
		}
		kv[i].key = k;
		kv[i].value = val;
		n += i == n;
	}
	if (why != NULL) {
		ld->used = mark;
		config_warn_member(ld, v.name, w.pos, why,
				   "ignoring the whole variable");
		return -EINVAL;
	}
	*count_of(ld, row) = n;
	if (too_many)
		warn_too_many(ld, v.name, row->max, " attributes");
	return 0;
}

/* RFC 9110 tchar: what a header field name is made of. */
static int is_token(struct str s)
{
	size_t i;

	for (i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (!ascii_is_alpha(c) && !ascii_is_digit(c) &&
		    (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL))
			return 0;
	}
	return 1;
}

static int header_value_ok(const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * OTEL_EXPORTER_OTLP[_TRACES]_HEADERS: "k=v,k2=v2" with values
 * percent-decoded.  A bad member is skipped with a warning that names its
 * position only: header values (and a member without '=') are credentials.
 */
static int read_headers(struct config_loader *ld,
			const struct config_row *row, struct config_value v)
{
	struct config_kv *kv = config_field(ld, row);
	size_t *n = count_of(ld, row);
	struct kv_walk w = { v.s, 0, 0 };
	const char *why = NULL;
	struct str key, val;
	enum kv_step step;

	for (;;) {
		const char *k, *dv = NULL;
		size_t mark;
		int err;

		step = kv_next(&w, &key, &val, &why);
		if (step == KV_END)
			break;
		if (step == KV_PAIR && !is_token(key)) {
			step = KV_BAD;
			why = "has a key that is not a valid header name";
		}
		if (step == KV_BAD) {
			config_warn_member(ld, v.name, w.pos, why, "skipped");
			continue;
		}
		if (*n == row->max) {
			warn_too_many(ld, v.name, row->max, " headers");
			return 0;
		}
		mark = ld->used;
		k = config_keep(ld, key);
		if (k == NULL)
			return -ENOMEM;
		err = decode(ld, val, &dv);
		if (err == -ENOMEM)
			return err;
		why = err ? "has an invalid percent-encoding"
			  : !header_value_ok(dv)
			  ? "has control characters in its value" : NULL;
		if (why != NULL) {
			ld->used = mark;
			config_warn_member(ld, v.name, w.pos, why, "skipped");
			continue;
		}
		kv[*n].key = k;
		kv[*n].value = dv;
		(*n)++;
	}
	return 0;
}

/* Adds ", \"<mem>\"" (the first time " \"<mem>\"") to a list of names. */
static void msg_name(struct config_msg *m, int *count, struct str mem)
{
	config_msg_str(m, (*count)++ ? ", " : " ");
	config_msg_quoted(m, mem);
}

/*
 * OTEL_TRACES_EXPORTER: a list, of which we can honour one entry.  The
 * first one we support wins; everything else is named in one warning.
 */
static int read_exporters(struct config_loader *ld,
			  const struct config_row *row, struct config_value v)
{
	struct config_msg m = { .n = 0 };
	struct str rest = v.s, mem;
	int done = 0, found = 0, ignored = 0;

	config_msg_str(&m, v.name);
	config_msg_str(&m, ": ignoring");
	while (str_next_member(&rest, &mem, &done)) {
		const struct config_word *w;

		mem = str_trim(mem);
		if (mem.n == 0)
			continue;
		w = config_word(row->words, mem);
		if (w != NULL && w->value != CONFIG_UNSUPPORTED && !found) {
			*(int *)config_field(ld, row) = w->value;
			found = 1;
			continue;
		}
		msg_name(&m, &ignored, mem);
		config_msg_str(&m, w == NULL || w->value == CONFIG_UNSUPPORTED
				   ? " (not supported)"
				   : " (only one exporter is used)");
	}
	if (ignored && !found) {
		config_msg_str(&m, "; using ");
		config_msg_str(&m, row->def);
	}
	if (ignored)
		config_emit(ld, &m);
	return found ? 0 : -EINVAL;
}

/*
 * OTEL_PROPAGATORS: the field is whether one of the names turns the
 * propagator on.  Names we know are accepted without a word, "none" too
 * unless other names come with it; every other name is reported in one
 * warning.
 */
static int read_propagators(struct config_loader *ld,
			    const struct config_row *row,
			    struct config_value v)
{
	struct config_msg m = { .n = 0 };
	struct str rest = v.s, mem;
	int done = 0, on = 0, none = 0, others = 0, bad = 0;

	config_msg_str(&m, v.name);
	config_msg_str(&m, ":");
	while (str_next_member(&rest, &mem, &done)) {
		const struct config_word *w;

		mem = str_trim(mem);
		if (mem.n == 0)
			continue;
		if (str_is(mem, "none")) {
			none = 1;
			continue;
		}
		others++;
		w = config_word(row->words, mem);
		if (w != NULL && w->value != CONFIG_UNSUPPORTED)
			on |= w->value;
		else
			msg_name(&m, &bad, mem);
	}
	*(int *)config_field(ld, row) = on;
	if (bad) {
		config_msg_str(&m, bad > 1 ? " are" : " is");
		config_msg_str(&m, " not supported; ignored");
		config_emit(ld, &m);
	}
	if (none && others) {
		m.n = 0;
		config_msg_str(&m, v.name);
		config_msg_str(&m, ": \"none\" is combined with other "
			       "propagators; ignoring \"none\"");
		config_emit(ld, &m);
	}
	return 0;
}

/*
 * OTEL_SEMCONV_STABILITY_OPT_IN: the field is the OR of the values of the
 * words listed.  The variable is shared by every instrumentation of the
 * process, each reading the categories it knows (messaging/dup, gen_ai_...),
 * so a word we do not know is someone else's, not a mistake: no warning.
 */
static int read_word_set(struct config_loader *ld,
			 const struct config_row *row, struct config_value v)
{
	struct str rest = v.s, mem;
	int done = 0, set = 0;

	while (str_next_member(&rest, &mem, &done)) {
		const struct config_word *w = config_word(row->words,
							  str_trim(mem));

		if (w != NULL && w->value != CONFIG_UNSUPPORTED)
			set |= w->value;
	}
	*(int *)config_field(ld, row) = set;
	return 0;
}

const struct config_kind config_kind_attrs = {
	read_attrs, CONFIG_KIND_KEEPS
};
const struct config_kind config_kind_headers = {
	read_headers, CONFIG_KIND_KEEPS
};
const struct config_kind config_kind_exporters = { read_exporters, 0 };
const struct config_kind config_kind_propagators = { read_propagators, 0 };
const struct config_kind config_kind_word_set = { read_word_set, 0 };
