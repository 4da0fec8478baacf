/*
 * Span records -> one OTLP ExportTraceServiceRequest.  The protobuf is
 * written straight from the records by a back-to-front writer (pbwrite.h):
 * no message tree, no copy of any string but the ones that need repair.
 * What is short and clean, nearly everything (an attribute under 128
 * bytes, a span's ids, name and times), goes out at a pointer, room made
 * once for a whole run of fields: no check per field, its UTF-8 check
 * riding on the copy, an attribute's key a ready-made field copied whole;
 * the rest, field by field.
 * The OTLP/JSON form is that protobuf decoded by protobuf-c and written by
 * otlp_json.c, so the two encodings can never disagree about limits,
 * UTF-8 repair or which fields are set.  Runs on the exporter thread only.
 *
 * Fields go out in field-number order and as protobuf-c would write them
 * (the unit tests and the fuzzer check that protobuf-c packs what it
 * decodes from us into the very same bytes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/semconv.h"
#include "common/text.h"
#include "common/utf8.h"
#include "legacy.h"
#include "otlp.h"
#include "otlp_json.h"
#include "otlp_pb.h"
#include "pbwrite.h"

#ifndef OTELSHIM_VERSION
#define OTELSHIM_VERSION "0.0.0"
#endif

#define SCOPE_NAME "otelshim"
#define STACK_TEXT_MAX 8192     /* rendered stack, before the length limit */

/* OTLP's numbers for what we write (docs/otel-reference.md §1). */
#define SPAN_FLAG_HAS_IS_REMOTE 0x100
#define SPAN_FLAG_IS_REMOTE     0x200

/* ------------------------------------------------------------- text */

/* Room for n bytes of repaired text, kept by the encoder. */
static char *scratch(struct otlp_encoder *enc, size_t n)
{
	char *p;

	if (n <= enc->scratch_cap)
		return enc->scratch;
	p = realloc(enc->scratch, n);
	if (!p)
		return NULL;
	enc->scratch = p;
	enc->scratch_cap = n;
	return p;
}

/*
 * Writes (s, len) as well-formed UTF-8 of at most max_chars characters
 * (0 = no limit); returns the bytes written.  Text that needs no repair
 * and no cut, nearly all of it, is copied once, into the output.
 */
static size_t put_text(struct otlp_encoder *enc, struct writer *w,
		       const char *s, size_t len, size_t max_chars)
{
	size_t need;
	char *tmp;

	if (len == 0)
		return 0;
	if (!max_chars && utf8_clean(s, len)) {
		put(w, s, len);
		return len;
	}
	need = utf8_repair(s, len, max_chars, NULL, 0);
	tmp = scratch(enc, need + 1);
	if (!tmp) {
		w->oom = 1;
		return 0;
	}
	utf8_repair(s, len, max_chars, tmp, need + 1);
	put(w, tmp, need);
	return need;
}

/* A string field, left out when empty (proto3), or, with `always`, a
 * oneof member written even then. */
static void text_field(struct otlp_encoder *enc, struct writer *w,
		       unsigned field, const char *s, size_t len,
		       size_t max_chars, int always)
{
	size_t n = put_text(enc, w, s, len, max_chars);

	if (n == 0 && !always)
		return;
	put_varint(w, n);
	put_tag(w, field, WIRE_LEN);
}

/* A pooled string of a record, clamped to the pool so that a damaged
 * record can never make us read outside it. */
static const char *pooled(const struct span *s, struct span_str r,
			  size_t *len)
{
	size_t off = r.off, n = r.len;

	if (off > SPAN_STRPOOL)
		off = SPAN_STRPOOL;
	if (n > SPAN_STRPOOL - off)
		n = SPAN_STRPOOL - off;
	*len = n;
	return s->pool + off;
}

/* ------------------------------------------------------- attributes */

/* Where an attribute's value comes from. */
enum value_src {
	VAL_RECORD,     /* a record's attribute (string, int, double, bool) */
	VAL_TEXT,       /* text the encoder made: a stack, a code site */
	VAL_INT,        /* a code site's line */
	VAL_LEGACY,     /* another attribute's, under its legacy name */
};

struct attr_out {
	const char *key;
	uint8_t src;                    /* enum value_src */
	const struct span_attr *at;     /* VAL_RECORD */
	const char *text;               /* VAL_TEXT */
	size_t len;
	int64_t i;                      /* VAL_INT */
	size_t from, query;             /* VAL_LEGACY (legacy.h) */
};

/* Every attribute a span sends: its own, the code site and the legacy
 * names, in order, and how many the count limit dropped. */
#define ATTRS_OUT_MAX (2 * (SPAN_MAX_ATTRS + 3))

struct attrs_out {
	struct attr_out a[ATTRS_OUT_MAX];
	size_t n;
	uint32_t dropped;
	size_t max;
};

static struct attr_out *add_attr(struct attrs_out *o, const char *key)
{
	if (o->n >= o->max || o->n >= ATTRS_OUT_MAX) {
		o->dropped++;
		return NULL;
	}
	o->a[o->n].key = key ? key : "";
	return &o->a[o->n++];
}

/* One record attribute, unless it cannot be sent (an unknown type, a stack
 * that cannot be rendered): those are left out without being counted. */
static void plan_record_attr(struct otlp_encoder *enc, const struct span *s,
			     const struct span_attr *at, struct attrs_out *o)
{
	struct attr_out *a;
	size_t n;

	switch (at->type) {
	case SPAN_ATTR_STRING:
	case SPAN_ATTR_INT:
	case SPAN_ATTR_DOUBLE:
	case SPAN_ATTR_BOOL:
		if ((a = add_attr(o, at->key))) {
			a->src = VAL_RECORD;
			a->at = at;
		}
		return;
	case SPAN_ATTR_STACK:
		if (!enc->render_stack || s->stack_depth == 0)
			return;
		if (!enc->stack_text &&
		    !(enc->stack_text = malloc(STACK_TEXT_MAX)))
			return;
		n = enc->render_stack(s, enc->stack_text, STACK_TEXT_MAX);
		if (n >= STACK_TEXT_MAX)
			n = STACK_TEXT_MAX - 1;
		if (n == 0)
			return;
		if ((a = add_attr(o, at->key))) {
			a->src = VAL_TEXT;
			a->text = enc->stack_text;
			a->len = n;
		}
		return;
	default:
		return;
	}
}

static void plan_text(struct attrs_out *o, const char *key, const char *text)
{
	struct attr_out *a;

	if (text[0] && (a = add_attr(o, key))) {
		a->src = VAL_TEXT;
		a->text = text;
		a->len = strlen(text);
	}
}

/* A span that sends its captured stack also names the frame the stack
 * is attributed to (enc->code_site): code.function.name, code.file.path
 * and code.line.number, each only when known. */
static void plan_code_site(struct otlp_encoder *enc, const struct span *s,
			   struct otlp_code_site *site, struct attrs_out *o)
{
	struct attr_out *a;
	int has_stack = 0;

	if (!enc->code_site || s->stack_depth == 0)
		return;
	for (size_t i = 0; i < span_nattrs(s); i++)
		if (s->attrs[i].type == SPAN_ATTR_STACK)
			has_stack = 1;
	memset(site, 0, sizeof(*site));
	if (!has_stack || !enc->code_site(s, site))
		return;
	site->function[sizeof(site->function) - 1] = '\0';
	site->file[sizeof(site->file) - 1] = '\0';
	plan_text(o, ATTR_CODE_FUNCTION_NAME, site->function);
	plan_text(o, ATTR_CODE_FILE_PATH, site->file);
	if (site->line > 0 && (a = add_attr(o, ATTR_CODE_LINE_NUMBER))) {
		a->src = VAL_INT;
		a->i = site->line;
	}
}

static int is_text(const struct attr_out *a)
{
	return a->src == VAL_TEXT ||
	       (a->src == VAL_RECORD && a->at->type == SPAN_ATTR_STRING);
}

/* The legacy names of the span's attributes beside the stable ones, when
 * OTEL_SEMCONV_STABILITY_OPT_IN asks for them (legacy.h). */
static void plan_legacy(struct otlp_encoder *enc, int kind,
			struct attrs_out *o)
{
	int dup = enc->cfg ? enc->cfg->semconv_dup : 0;
	const char *keys[SPAN_MAX_ATTRS + 3];
	struct legacy_attr la[SPAN_MAX_ATTRS + 3];
	size_t n = o->n, k, i;

	if (!dup || n == 0)
		return;
	if (n > SPAN_MAX_ATTRS + 3)
		n = SPAN_MAX_ATTRS + 3;
	for (i = 0; i < n; i++)
		keys[i] = o->a[i].key;
	k = legacy_attrs(kind, dup, keys, n, la, n);
	for (i = 0; i < k; i++) {
		struct attr_out *a = add_attr(o, la[i].key);

		if (!a)
			continue;
		a->src = VAL_LEGACY;
		a->from = la[i].from;
		/* http.target: the path, "?" and the query, both text. */
		a->query = la[i].query != LEGACY_NONE &&
			   is_text(&o->a[la[i].from]) &&
			   is_text(&o->a[la[i].query]) ? la[i].query :
			   LEGACY_NONE;
	}
}

static size_t value_limit(const struct otlp_encoder *enc)
{
	return enc->cfg ? enc->cfg->attr_value_length_limit : 0;
}

/* The text of a text attribute (is_text), cut to the length limit. */
static size_t put_attr_text(struct otlp_encoder *enc, struct writer *w,
			    const struct span *s, const struct attr_out *a)
{
	const char *p = a->text;
	size_t len = a->len;

	if (a->src == VAL_RECORD)
		p = pooled(s, a->at->v.s, &len);
	return put_text(enc, w, p, len, value_limit(enc));
}

/* The AnyValue of a (field 2 of its KeyValue). */
static void put_value(struct otlp_encoder *enc, struct writer *w,
		      const struct span *s, const struct attrs_out *o,
		      const struct attr_out *a)
{
	size_t mark = w->used, n;
	uint64_t bits;

	if (a->src == VAL_LEGACY) {
		if (a->query == LEGACY_NONE) {
			put_value(enc, w, s, o, &o->a[a->from]);
			return;
		}
		n = put_attr_text(enc, w, s, &o->a[a->query]);
		put(w, "?", 1);
		n += 1 + put_attr_text(enc, w, s, &o->a[a->from]);
		put_varint(w, n);
		put_tag(w, 1, WIRE_LEN);
	} else if (is_text(a)) {
		n = put_attr_text(enc, w, s, a);
		put_varint(w, n);
		put_tag(w, 1, WIRE_LEN);
	} else if (a->src == VAL_INT) {
		varint_field(w, 3, (uint64_t)a->i);
	} else if (a->at->type == SPAN_ATTR_INT) {
		varint_field(w, 3, (uint64_t)a->at->v.i);
	} else if (a->at->type == SPAN_ATTR_DOUBLE) {
		memcpy(&bits, &a->at->v.d, sizeof(bits));
		fixed64_field(w, 4, bits);
	} else {
		varint_field(w, 2, a->at->v.b != 0);
	}
	end_message(w, 2, mark);
}

/*
 * Attribute keys are the library's constants, the same few dozen pointers
 * span after span: a small table, by address, keeps each one's KeyValue
 * key field (tag 1, length, the key) made up at the end of an
 * OTLP_KEY_SLOT-byte slot whose first byte is the field's size (0 for an
 * empty key, none of the slot), so that writing it is one fixed-size copy.
 * A key too long for a slot is marked KEY_LONG, and measured when used.
 */
#define KEY_LONG 0xff
#define KEY_SLOT_MAX (OTLP_KEY_SLOT - 3)        /* the longest key kept */

static __attribute__((noinline)) void key_fill(struct otlp_encoder *enc,
					       size_t h, const char *key)
{
	uint8_t *slot = enc->key_field[h];
	size_t n = key ? strlen(key) : 0;

	enc->key_ptr[h] = key;
	if (n > KEY_SLOT_MAX) {
		slot[0] = KEY_LONG;
	} else if (n == 0) {
		slot[0] = 0;
	} else {
		slot[0] = (uint8_t)(2 + n);
		slot[OTLP_KEY_SLOT - n - 2] = 1 << 3 | WIRE_LEN;
		slot[OTLP_KEY_SLOT - n - 1] = (uint8_t)n;
		memcpy(slot + OTLP_KEY_SLOT - n, key, n);
	}
}

static inline const uint8_t *key_slot(struct otlp_encoder *enc,
				      const char *key)
{
	size_t h = ((uintptr_t)key >> 3) % OTLP_KEY_CACHE;

	if (__builtin_expect(enc->key_ptr[h] != key, 0))
		key_fill(enc, h, key);
	return enc->key_field[h];
}

static size_t key_len(struct otlp_encoder *enc, const char *key)
{
	const uint8_t *slot = key_slot(enc, key);

	if (slot[0] == KEY_LONG)
		return strlen(key);
	return slot[0] ? slot[0] - 2u : 0;
}

/* One KeyValue (at field), the general way: its value, then its key. */
static void put_kv(struct otlp_encoder *enc, struct writer *w,
		   const struct span *s, const struct attrs_out *o,
		   const struct attr_out *a, unsigned field)
{
	size_t mark = w->used;

	put_value(enc, w, s, o, a);
	if (a->key[0])
		field_len(w, 1, a->key, key_len(enc, a->key));
	end_message(w, field, mark);
}

/* The attributes (at field) and their dropped count (field + 1), written
 * back to front. */
static void put_attrs(struct otlp_encoder *enc, struct writer *w,
		      const struct span *s, const struct attrs_out *o,
		      unsigned field)
{
	field_varint(w, field + 1, o->dropped);
	for (size_t i = o->n; i-- > 0;)
		put_kv(enc, w, s, o, &o->a[i], field);
}

/*
 * A record's pooled string copied to end at end, and 1 if it needs no
 * repair: ASCII without NUL checked by the copy itself, anything else by
 * utf8_clean().  What utf8_copy_ascii_before() reads in front of the
 * string is the record's own.
 */
_Static_assert(offsetof(struct span, pool) >= 16, "pool first in a span");

static inline __attribute__((always_inline)) int
copy_clean_before(uint8_t *end, const char *s, size_t n)
{
	return utf8_copy_ascii_before(end, s, n) || utf8_clean(s, n);
}

/*
 * A record's pooled string as a length-delimited field (written even when
 * empty), back to front to end at p, when it is at most max bytes (under
 * 128) and clean: where the field starts, or NULL, nothing written but
 * scribbles in front of p.  A string past the pool (a damaged record)
 * does not qualify: the general way clamps it (pooled()).
 */
static inline __attribute__((always_inline)) uint8_t *
short_text_before(uint8_t *p, unsigned field, const struct span *s,
		  struct span_str r, size_t max)
{
	size_t len = r.len;

	if (len > max || r.off + len > SPAN_STRPOOL ||
	    !copy_clean_before(p, s->pool + r.off, len))
		return NULL;
	p -= len + 2;
	p[0] = (uint8_t)(field << 3 | WIRE_LEN);
	p[1] = (uint8_t)len;
	return p;
}

/* A KeyValue kv_before() writes takes at most this many bytes, its tag
 * and length included; its copies scribble up to OTLP_KEY_SLOT bytes in
 * front of it. */
#define KV_SHORT_MAX (2 + 0x7f)

/*
 * A record attribute's KeyValue (at field) that takes less than 128 bytes
 * and whose text needs neither repair nor a cut, nearly every one, written
 * back to front to end at p, each part as soon as its size is known, with
 * no check of room (the caller made it).  Returns where the KeyValue
 * starts; p itself for a type that is not sent (left out without being
 * counted, as plan_record_attr() does); NULL when the attribute does not
 * qualify, nothing written but scribbles in front of p.  The copies
 * scribble in front of what they write: whatever goes there next
 * overwrites it.
 */
static uint8_t *kv_before(struct otlp_encoder *enc, uint8_t *p,
			  const struct span *s, const struct span_attr *at,
			  unsigned field, size_t max_text)
{
	uint8_t *end = p;
	const uint8_t *key;
	size_t vlen, kf, kv;
	uint64_t v;

	if (at->type == SPAN_ATTR_STRING) {     /* most of them */
		vlen = at->v.s.len;
		if (!(p = short_text_before(p, 1, s, at->v.s, max_text)))
			return NULL;
		p -= 2;
		p[0] = 2 << 3 | WIRE_LEN;
		p[1] = (uint8_t)(vlen + 2);
	} else if (at->type == SPAN_ATTR_INT) {
		v = (uint64_t)at->v.i;
		p -= varint_len(v);
		varint_at(p, v);
		p -= 3;
		p[0] = 2 << 3 | WIRE_LEN;
		p[1] = (uint8_t)(end - p - 2);
		p[2] = 3 << 3 | WIRE_VARINT;
	} else if (at->type == SPAN_ATTR_DOUBLE) {
		memcpy(&v, &at->v.d, sizeof(v));
		p -= 11;
		p[0] = 2 << 3 | WIRE_LEN;
		p[1] = 9;
		p[2] = 4 << 3 | WIRE_I64;
		le_at(p + 3, v, 8);
	} else if (at->type == SPAN_ATTR_BOOL) {
		p -= 4;
		p[0] = 2 << 3 | WIRE_LEN;
		p[1] = 2;
		p[2] = 2 << 3 | WIRE_VARINT;
		p[3] = at->v.b != 0;
	} else {
		return p;
	}
	key = key_slot(enc, at->key);
	kf = key[0];
	kv = kf + (size_t)(end - p);            /* KEY_LONG: too long too */
	if (kv >= 0x80)
		return NULL;
	memcpy(p - OTLP_KEY_SLOT, key, OTLP_KEY_SLOT);
	p -= kf + 2;
	p[0] = (uint8_t)(field << 3 | WIRE_LEN);
	p[1] = (uint8_t)kv;
	return p;
}

/* One record attribute the general way (put_kv()). */
static void put_record_kv(struct otlp_encoder *enc, struct writer *w,
			  const struct span *s, const struct span_attr *at,
			  unsigned field)
{
	struct attr_out a;

	a.key = at->key ? at->key : "";
	a.src = VAL_RECORD;
	a.at = at;
	put_kv(enc, w, s, NULL, &a, field);
}

/*
 * A record's own attributes (at field) and their dropped count, when they
 * are all that is sent and in their order: no count limit reached, no
 * legacy names, no stack and so no code site (fast_attrs()).  Types we
 * cannot send are left out without being counted, as plan_record_attr()
 * does.  Room for all of them the short way is made once; one that does
 * not qualify goes the general way, and room is made again for the rest.
 */
static void put_record_attrs(struct otlp_encoder *enc, struct writer *w,
			     const struct span *s, const struct span_attr *at,
			     size_t n, uint32_t dropped, unsigned field)
{
	/* Text is short when under 128 bytes and, when there is a limit,
	 * no more bytes than it allows characters. */
	size_t limit = value_limit(enc);
	size_t max_text = limit && limit < 0x7f ? limit : 0x7f;
	uint8_t *p, *q;

	field_varint(w, field + 1, dropped);
	while (n > 0) {
		p = room(w, n * KV_SHORT_MAX + OTLP_KEY_SLOT);
		if (!p)
			return;
		for (; n > 0; n--) {
			q = kv_before(enc, p, s, &at[n - 1], field,
				      max_text);
			if (!q)
				break;
			p = q;
		}
		set_front(w, p);
		if (n > 0)      /* a type that is sent, not short or clean */
			put_record_kv(enc, w, s, &at[--n], field);
	}
}

/* Whether n record attributes of s go out as put_record_attrs() writes
 * them, under a count limit of max. */
static int fast_attrs(const struct otlp_encoder *enc, const struct span *s,
		      size_t n, size_t max)
{
	return s->stack_depth == 0 && n <= max &&
	       !(enc->cfg && enc->cfg->semconv_dup);
}

/*
 * The last few spans whose attributes went out by put_record_attrs()
 * (field 9), with different attributes, the latest first, and where
 * their bytes lie in the buffer, counted from its end as writer.used
 * counts: a span with the same attributes as one of them gets a copy.
 * Consecutive runs of one statement have the same attributes, and so do
 * the requests of one keep-alive connection, which a server's other
 * connections interleave with; copying them costs half of writing them.
 */
#define ATTRS_RECENT 4

struct attrs_written {
	const struct span *s;           /* NULL: none */
	size_t from, to;
};

struct attrs_recent {
	struct attrs_written at[ATTRS_RECENT];
};

/* The bits of a value that decide its bytes on the wire, and then some:
 * a string's place in the pool; all of any other value (a bool's unused
 * bytes too, which can only make two equal values look different). */
static inline uint64_t value_bits(const struct span_attr *a)
{
	uint32_t str;
	uint64_t v;

	if (a->type == SPAN_ATTR_STRING) {
		memcpy(&str, &a->v.s, sizeof(str));
		return str;
	}
	memcpy(&v, &a->v, sizeof(v));
	return v;
}

_Static_assert(sizeof(struct span_str) == 4, "a pool place is 32 bits");

/*
 * Whether put_record_attrs() writes the same bytes for s's attributes as
 * for t's, both going out that way: the same keys, types and values, and
 * the same pool bytes under every string, which must all lie within the
 * pool's used bytes.  A false "no" only costs the writing.
 */
static int same_attrs(const struct span *s, const struct span *t)
{
	size_t n = span_nattrs(s), used = span_pool_used(s), end = 0;

	if (n != span_nattrs(t) || s->dropped_attrs != t->dropped_attrs ||
	    s->pool_used != t->pool_used)
		return 0;
	/* Back to front: a value that differs from one span to the next (a
	 * client's port, the rows a statement returned) tends to come late,
	 * and a span that differs is better told early. */
	for (size_t i = n; i-- > 0;) {
		const struct span_attr *a = &s->attrs[i], *b = &t->attrs[i];

		if (a->key != b->key || a->type != b->type ||
		    value_bits(a) != value_bits(b))
			return 0;
		if (a->type == SPAN_ATTR_STRING &&
		    (size_t)a->v.s.off + a->v.s.len > end)
			end = (size_t)a->v.s.off + a->v.s.len;
	}
	return end <= used && memcmp(s->pool, t->pool, used) == 0;
}

/*
 * Misses in a row (spans whose attributes were none of the recent ones)
 * after which the next LOOK_SKIP spans are not looked up: spans that
 * always differ (each request from another client's port) pay a share of
 * the look, not all of it.  A copy ends the run.
 */
#define COPY_MISS_RUN 4
#define LOOK_SKIP 15

/* Makes s, written at [from, to), the latest of the recent, the oldest
 * giving way; at (one of them, or NULL) is where s's attributes were
 * found and gives way instead. */
static void remember(struct attrs_recent *r, struct attrs_written *at,
		     const struct span *s, size_t from, size_t to)
{
	struct attrs_written *gone = at ? at : &r->at[ATTRS_RECENT - 1];

	/* Nothing moves when s is like the latest: runs of one statement,
	 * one connection's requests in a row. */
	for (; gone > r->at; gone--)
		gone[0] = gone[-1];
	r->at[0] = (struct attrs_written){ s, from, to };
}

/* The recent span that has s's attributes, or NULL. */
static struct attrs_written *recent_same(struct attrs_recent *r,
					 const struct span *s)
{
	for (size_t i = 0; i < ATTRS_RECENT && r->at[i].s; i++)
		if (same_attrs(s, r->at[i].s))
			return &r->at[i];
	return NULL;
}

/* The span's own attributes (field 9) as put_record_attrs() writes them,
 * copied when a recent span written this way has the same. */
static void put_own_attrs(struct otlp_encoder *enc, struct writer *w,
			  const struct span *s, size_t n,
			  struct attrs_recent *recent)
{
	struct attrs_written *same;
	size_t from = w->used, len;
	uint8_t *p;

	if (enc->copy_skip > 0) {
		put_record_attrs(enc, w, s, s->attrs, n, s->dropped_attrs, 9);
		/* The span after this one looks again, this one among the
		 * recent. */
		if (--enc->copy_skip == 0)
			remember(recent, NULL, s, from, w->used);
		return;
	}
	same = recent_same(recent, s);
	if (same) {
		enc->copy_misses = 0;
		len = same->to - same->from;
		if ((p = reserve(w, len)))
			memcpy(p, w->buf + w->cap - same->to, len);
	} else {
		if (recent->at[0].s && ++enc->copy_misses == COPY_MISS_RUN) {
			enc->copy_misses--;     /* the next miss skips again */
			enc->copy_skip = LOOK_SKIP;
		}
		put_record_attrs(enc, w, s, s->attrs, n, s->dropped_attrs, 9);
	}
	remember(recent, same, s, from, w->used);
}

/* ------------------------------------------------------------- spans */

/* Spans whose trace or span id is all zero are left out: a receiver such
 * as Tempo rejects the entire push for one of them. */
static int sendable(const struct span *s)
{
	return !bytes_all_zero(s->trace_id, sizeof(s->trace_id)) &&
	       !bytes_all_zero(s->span_id, sizeof(s->span_id));
}

static void put_event(struct otlp_encoder *enc, struct writer *w,
		      const struct span *s, const struct span_event *ev)
{
	size_t n = span_event_nattrs(ev);
	size_t mark = w->used;
	struct attrs_out o;     /* not zeroed: 2.5 KB, filled as used */

	/* No limit, no legacy names on events: only a stack makes more. */
	if (s->stack_depth == 0) {
		put_record_attrs(enc, w, s, ev->attrs, n, 0, 3);
	} else {
		o.n = 0;
		o.dropped = 0;
		o.max = SIZE_MAX;
		for (size_t i = 0; i < n; i++)
			plan_record_attr(enc, s, &ev->attrs[i], &o);
		put_attrs(enc, w, s, &o, 3);
	}
	field_string(w, 2, ev->name);   /* a literal */
	field_fixed64(w, 1, ev->time_ns);
	end_message(w, 11, mark);
}

static void put_status(struct otlp_encoder *enc, struct writer *w,
		       const struct span *s)
{
	size_t mark = w->used, len;
	const char *msg;

	if (s->status != SPAN_STATUS_OK && s->status != SPAN_STATUS_ERROR)
		return;
	field_int32(w, 3, s->status);
	if (s->status == SPAN_STATUS_ERROR) {
		msg = pooled(s, s->status_message, &len);
		text_field(enc, w, 2, msg, len, 0, 0);
	}
	end_message(w, 15, mark);
}

/* The flags (field 16 of a Span, two bytes of tag): we always know
 * whether the parent is remote, so 0x100 is set and the field sent. */
static void put_span_flags(struct writer *w, const struct span *s)
{
	uint8_t *p = room(w, 6);

	if (!p)
		return;
	p -= 6;
	p[0] = (16 << 3 | WIRE_I32) | 0x80;
	p[1] = (16 << 3 | WIRE_I32) >> 7;
	le_at(p + 2, (s->trace_flags & 0xffu) | SPAN_FLAG_HAS_IS_REMOTE |
		     (s->parent_is_remote ? SPAN_FLAG_IS_REMOTE : 0), 4);
	set_front(w, p);
}

/* The most span_head_before() writes, and a tag with any length. */
#define SPAN_HEAD_MAX (2 + 16 + 2 + 0x7f + 2 + 8 + 2 + 0x7f + 2 + 9 + 9)
#define TAG_LEN_MAX (1 + 10)

/*
 * Fields 1-8 of a Span (ids, trace state, parent, name, kind, times),
 * back to front to end at p, with no check of room (the caller made
 * SPAN_HEAD_MAX and OTLP_KEY_SLOT for scribbles) when the name and the
 * trace state are short and clean, as nearly always: where they start,
 * or NULL.
 */
static uint8_t *span_head_before(uint8_t *p, const struct span *s, int kind)
{
	if (s->end_ns) {
		p -= 9;
		p[0] = 8 << 3 | WIRE_I64;
		le_at(p + 1, s->end_ns, 8);
	}
	if (s->start_ns) {
		p -= 9;
		p[0] = 7 << 3 | WIRE_I64;
		le_at(p + 1, s->start_ns, 8);
	}
	p -= 2;
	p[0] = 6 << 3 | WIRE_VARINT;
	p[1] = (uint8_t)kind;           /* 1-5 (put_span) */
	if (s->name.len &&
	    !(p = short_text_before(p, 5, s, s->name, 0x7f)))
		return NULL;
	if (!bytes_all_zero(s->parent_span_id, sizeof(s->parent_span_id))) {
		p -= 2 + sizeof(s->parent_span_id);
		p[0] = 4 << 3 | WIRE_LEN;
		p[1] = sizeof(s->parent_span_id);
		memcpy(p + 2, s->parent_span_id, sizeof(s->parent_span_id));
	}
	if (s->trace_state.len &&
	    !(p = short_text_before(p, 3, s, s->trace_state, 0x7f)))
		return NULL;
	p -= 2 + sizeof(s->span_id);
	p[0] = 2 << 3 | WIRE_LEN;
	p[1] = sizeof(s->span_id);
	memcpy(p + 2, s->span_id, sizeof(s->span_id));
	p -= 2 + sizeof(s->trace_id);
	p[0] = 1 << 3 | WIRE_LEN;
	p[1] = sizeof(s->trace_id);
	memcpy(p + 2, s->trace_id, sizeof(s->trace_id));
	return p;
}

/* Fields 1-8 of a Span, field by field: the same bytes as
 * span_head_before(), whatever the name and trace state. */
static void put_span_head(struct otlp_encoder *enc, struct writer *w,
			  const struct span *s, int kind)
{
	size_t name_len, ts_len;
	const char *name = pooled(s, s->name, &name_len);
	const char *ts = pooled(s, s->trace_state, &ts_len);

	field_fixed64(w, 8, s->end_ns);
	field_fixed64(w, 7, s->start_ns);
	field_int32(w, 6, kind);
	text_field(enc, w, 5, name, name_len, 0, 0);
	if (!bytes_all_zero(s->parent_span_id, sizeof(s->parent_span_id)))
		field_len(w, 4, s->parent_span_id, sizeof(s->parent_span_id));
	text_field(enc, w, 3, ts, ts_len, 0, 0);
	field_len(w, 2, s->span_id, sizeof(s->span_id));
	field_len(w, 1, s->trace_id, sizeof(s->trace_id));
}

/* The span's head, then its own tag and length (field 2 of ScopeSpans):
 * the span is closed, its fields being those written since mark.  One
 * room for both, nearly always. */
static void put_span_head_and_close(struct otlp_encoder *enc,
				    struct writer *w, const struct span *s,
				    int kind, size_t mark)
{
	uint8_t *p = room(w, SPAN_HEAD_MAX + TAG_LEN_MAX + OTLP_KEY_SLOT), *q;
	size_t n;

	if (!p)
		return;
	if ((q = span_head_before(p, s, kind))) {
		set_front(w, q);
	} else {
		put_span_head(enc, w, s, kind);
		if (!(q = room(w, TAG_LEN_MAX)))
			return;
	}
	n = w->used - mark;
	q -= 1 + varint_len(n);
	q[0] = 2 << 3 | WIRE_LEN;
	varint_at(q + 1, n);
	set_front(w, q);
}

/* One Span (field 2 of ScopeSpans); recent as for put_own_attrs(). */
static void put_span(struct otlp_encoder *enc, struct writer *w,
		     const struct span *s, struct attrs_recent *recent)
{
	const struct config *cfg = enc->cfg;
	size_t nattrs = span_nattrs(s), nevents = span_nevents(s);
	size_t max = cfg ? cfg->span_attr_count_limit : SIZE_MAX;
	int kind = s->kind >= SPAN_KIND_INTERNAL &&
		   s->kind <= SPAN_KIND_CONSUMER ? s->kind :
		   SPAN_KIND_INTERNAL;
	int fast = fast_attrs(enc, s, nattrs, max);
	struct otlp_code_site site;
	struct attrs_out o;     /* not zeroed: 2.5 KB, filled as used */
	size_t mark = w->used;

	/* Unless the record's attributes go out as they are (fast), they are
	 * planned first, front to back, to know which go and how many the
	 * count limit drops; then everything back to front. */
	if (!fast) {
		o.n = 0;
		o.dropped = s->dropped_attrs;
		o.max = max;
		for (size_t i = 0; i < nattrs; i++)
			plan_record_attr(enc, s, &s->attrs[i], &o);
		plan_code_site(enc, s, &site, &o);
		plan_legacy(enc, kind, &o);
	}

	put_span_flags(w, s);
	put_status(enc, w, s);
	for (size_t i = nevents; i-- > 0;)
		put_event(enc, w, s, &s->events[i]);
	if (fast)
		put_own_attrs(enc, w, s, nattrs, recent);
	else
		put_attrs(enc, w, s, &o, 9);
	put_span_head_and_close(enc, w, s, kind, mark);
}

/* ---------------------------------------------------------- request */

/* A resource string: its key or value as it was configured, repaired. */
static void resource_text(struct otlp_encoder *enc, struct writer *w,
			  unsigned field, const char *str, int always)
{
	str = str ? str : "";
	text_field(enc, w, field, str, strlen(str), 0, always);
}

/* The Resource (field 1 of ResourceSpans).  Its attributes are exempt from
 * the attribute limits. */
static void put_resource(struct otlp_encoder *enc, struct writer *w,
			 const struct resource *res)
{
	size_t n = res->nattrs < RESOURCE_MAX_ATTRS ? res->nattrs :
		   RESOURCE_MAX_ATTRS;
	size_t mark = w->used;

	for (size_t i = n; i-- > 0;) {
		const struct resource_attr *ra = &res->attrs[i];
		size_t kv = w->used, any = w->used, arr;

		if (ra->type == RESOURCE_STRING) {
			resource_text(enc, w, 1, ra->s, 1);
		} else if (ra->type == RESOURCE_INT) {
			varint_field(w, 3, (uint64_t)ra->i);
		} else if (ra->type == RESOURCE_STRING_ARRAY) {
			arr = w->used;
			for (size_t k = ra->narr; k-- > 0;) {
				size_t elem = w->used;

				resource_text(enc, w, 1, ra->arr[k], 1);
				end_message(w, 1, elem);
			}
			end_message(w, 5, arr);
		} else {
			continue;
		}
		end_message(w, 2, any);
		resource_text(enc, w, 1, ra->key, 0);
		end_message(w, 1, kv);
	}
	end_message(w, 1, mark);
}

/* The whole request, back to front: one ResourceSpans with one
 * ScopeSpans, or nothing at all when no span can be sent, as OTLP asks. */
static void put_request(struct otlp_encoder *enc, struct writer *w,
			const struct span *spans, size_t n)
{
	size_t rs = w->used, ss = rs, scope, sent = 0;
	struct attrs_recent recent = { 0 };

	for (size_t i = n; i-- > 0;) {
		if (!sendable(&spans[i]))
			continue;
		if (sent++ == 0)
			ss = w->used;
		put_span(enc, w, &spans[i], &recent);
	}
	if (sent == 0)
		return;
	scope = w->used;
	field_string(w, 2, OTELSHIM_VERSION);
	field_string(w, 1, SCOPE_NAME);
	end_message(w, 1, scope);
	end_message(w, 2, ss);
	if (enc->res)
		put_resource(enc, w, enc->res);
	end_message(w, 1, rs);
}

/*
 * Room per span in the first request's buffer.  Grown from one page by
 * doublings, it would fill (and fault in) every smaller buffer on the way
 * before throwing it away; the buffer fills from its end, so the room a
 * batch leaves unused is never touched and costs no memory.
 */
#define FIRST_ROOM_PER_SPAN 1024

int otlp_encode_protobuf(struct otlp_encoder *enc, const struct span *spans,
			 size_t n, const uint8_t **out, size_t *len)
{
	struct writer w = { .buf = enc->pb_buf,
			    .cap = enc->pb_buf ? enc->pb_cap : 0 };

	*out = NULL;
	*len = 0;
	if (!w.buf && n)
		grow(&w, n * FIRST_ROOM_PER_SPAN);
	put_request(enc, &w, spans, n);
	if (!w.buf)     /* an empty request still gets a buffer */
		grow(&w, 1);
	enc->pb_buf = w.buf;
	enc->pb_cap = w.cap;
	if (w.oom)
		return -ENOMEM;
	*out = w.buf + w.cap - w.used;
	*len = w.used;
	return 0;
}

int otlp_encode_json(struct otlp_encoder *enc, const struct span *spans,
		     size_t n, char **out, size_t *len)
{
	const uint8_t *pb;
	size_t pb_len;
	pb_request *req;
	int ret;

	*out = NULL;
	*len = 0;
	ret = otlp_encode_protobuf(enc, spans, n, &pb, &pb_len);
	if (ret != 0)
		return ret;
	req = (pb_request *)protobuf_c_message_unpack(
		&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
		NULL, pb_len, pb);
	if (!req)
		return -ENOMEM;
	ret = otlp_json_request(req, out, len);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return ret;
}

void otlp_release(struct otlp_encoder *enc)
{
	free(enc->pb_buf);
	enc->pb_buf = NULL;
	enc->pb_cap = 0;
	free(enc->scratch);
	enc->scratch = NULL;
	enc->scratch_cap = 0;
	free(enc->stack_text);
	enc->stack_text = NULL;
}
