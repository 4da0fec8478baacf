/*
 * The protobuf wire form of an ExportTraceServiceRequest tree, in one
 * pass.  protobuf-c's generic packer walks each message's descriptor and,
 * to write a nested message's length, first measures it, so every level
 * of the tree is measured again by each level above it: most of the
 * exporter's time went there.  Written back to front instead, a message's
 * fields are all in the buffer by the time its length prefix is due, and
 * nothing is measured twice.
 *
 * Fields are written in field-number order and the proto3 rules protobuf-c
 * follows hold here too: a scalar, string or bytes field at its default
 * is left out, a oneof member and a present sub-message are always
 * written.  The unit tests check that protobuf-c reads back exactly the
 * tree it was given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_pack.h"

/* The buffer fills from its end towards its start. */
struct writer {
	uint8_t *buf;
	size_t cap;
	size_t used;            /* bytes written, at buf + cap - used */
	int oom;
};

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* Replaces the buffer with one that has room for n more bytes. */
static __attribute__((noinline)) int grow(struct writer *w, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (w->oom)
		return 0;
	cap = w->cap ? w->cap * 2 : 4096;
	while (cap - w->used < n)
		cap *= 2;
	nb = malloc(cap);
	if (!nb) {
		w->oom = 1;
		return 0;
	}
	if (w->used)
		memcpy(nb + cap - w->used, w->buf + w->cap - w->used,
		       w->used);
	free(w->buf);
	w->buf = nb;
	w->cap = cap;
	return 1;
}

/* The n bytes in front of what is written, now counted as written; NULL
 * when out of memory (w->oom then says so, and the output is void). */
static inline uint8_t *reserve(struct writer *w, size_t n)
{
	if (__builtin_expect(w->cap - w->used < n, 0) && !grow(w, n))
		return NULL;
	w->used += n;
	return w->buf + w->cap - w->used;
}

static inline void put(struct writer *w, const void *p, size_t n)
{
	uint8_t *d;

	if (n && (d = reserve(w, n)))
		memcpy(d, p, n);
}

static inline void put_varint(struct writer *w, uint64_t v)
{
	uint8_t tmp[10], *d;
	size_t n = 0;

	if (v < 0x80) {         /* tags, small counts and lengths */
		if ((d = reserve(w, 1)))
			*d = (uint8_t)v;
		return;
	}
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	put(w, tmp, n);
}

static void put_tag(struct writer *w, unsigned field, unsigned wire)
{
	put_varint(w, (uint64_t)field << 3 | wire);
}

/* The n low bytes of v, least significant first (fixed32, fixed64). */
static void put_le(struct writer *w, uint64_t v, size_t n)
{
	uint8_t le[8];

	for (size_t i = 0; i < n; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	put(w, le, n);
}

/*
 * Since the writer goes backwards, each helper writes the value, then
 * what precedes it on the wire.  The *_field helpers always write (a
 * oneof member is sent even at its default); the field_* ones leave a
 * field at its default out, as proto3 does.
 */
static void varint_field(struct writer *w, unsigned field, uint64_t v)
{
	put_varint(w, v);
	put_tag(w, field, WIRE_VARINT);
}

static void fixed64_field(struct writer *w, unsigned field, uint64_t v)
{
	put_le(w, v, 8);
	put_tag(w, field, WIRE_I64);
}

static void field_varint(struct writer *w, unsigned field, uint64_t v)
{
	if (v)
		varint_field(w, field, v);
}

/* int32 and enums: negative values go out sign-extended to 64 bits. */
static void field_int32(struct writer *w, unsigned field, int32_t v)
{
	field_varint(w, field, (uint64_t)(int64_t)v);
}

static void field_fixed64(struct writer *w, unsigned field, uint64_t v)
{
	if (v)
		fixed64_field(w, field, v);
}

static void field_fixed32(struct writer *w, unsigned field, uint32_t v)
{
	if (!v)
		return;
	put_le(w, v, 4);
	put_tag(w, field, WIRE_I32);
}

/* The tag and length of a length-delimited field when both fit a byte
 * (fields 1-15, up to 127 bytes: nearly every one we write), in one
 * reservation with the n bytes after them; NULL otherwise, or when out of
 * memory (w->oom says which). */
static inline uint8_t *short_len(struct writer *w, unsigned field, size_t n)
{
	uint8_t *d;

	if (n >= 0x80 || field >= 16 || !(d = reserve(w, n + 2)))
		return NULL;
	d[0] = (uint8_t)(field << 3 | WIRE_LEN);
	d[1] = (uint8_t)n;
	return d + 2;
}

/* A length-delimited field, written even when empty. */
static void field_len(struct writer *w, unsigned field, const void *p,
		      size_t n)
{
	uint8_t *d = short_len(w, field, n);

	if (d) {
		memcpy(d, p, n);
		return;
	}
	if (w->oom)
		return;
	put(w, p, n);
	put_varint(w, n);
	put_tag(w, field, WIRE_LEN);
}

static void field_string(struct writer *w, unsigned field, const char *s)
{
	if (s && *s)
		field_len(w, field, s, strlen(s));
}

static void field_bytes(struct writer *w, unsigned field,
			const ProtobufCBinaryData *b)
{
	if (b->len)
		field_len(w, field, b->data, b->len);
}

/* Closes a sub-message whose fields were written since `mark`. */
static void end_message(struct writer *w, unsigned field, size_t mark)
{
	size_t n = w->used - mark;
	uint8_t *d;

	if (n < 0x80 && field < 16) {
		if ((d = reserve(w, 2))) {
			d[0] = (uint8_t)(field << 3 | WIRE_LEN);
			d[1] = (uint8_t)n;
		}
		return;
	}
	put_varint(w, n);
	put_tag(w, field, WIRE_LEN);
}

static void kvs(struct writer *w, unsigned field, pb_kv *const *list,
		size_t n);

static void any(struct writer *w, unsigned field, const pb_any *m)
{
	size_t mark = w->used, i;
	uint64_t bits;

	switch (m->value_case) {
	case ANY_CASE(STRING_VALUE):
		field_len(w, 1, m->string_value,
			  m->string_value ? strlen(m->string_value) : 0);
		break;
	case ANY_CASE(BOOL_VALUE):
		varint_field(w, 2, m->bool_value != 0);
		break;
	case ANY_CASE(INT_VALUE):
		varint_field(w, 3, (uint64_t)m->int_value);
		break;
	case ANY_CASE(DOUBLE_VALUE):
		memcpy(&bits, &m->double_value, 8);
		fixed64_field(w, 4, bits);
		break;
	case ANY_CASE(ARRAY_VALUE):
		if (m->array_value) {
			size_t sub = w->used;

			for (i = m->array_value->n_values; i-- > 0;)
				any(w, 1, m->array_value->values[i]);
			end_message(w, 5, sub);
		}
		break;
	case ANY_CASE(KVLIST_VALUE):
		if (m->kvlist_value) {
			size_t sub = w->used;

			kvs(w, 1, m->kvlist_value->values,
			    m->kvlist_value->n_values);
			end_message(w, 6, sub);
		}
		break;
	case ANY_CASE(BYTES_VALUE):
		field_len(w, 7, m->bytes_value.data, m->bytes_value.len);
		break;
	case ANY_CASE(STRING_VALUE_STRINDEX):
		varint_field(w, 8,
			     (uint64_t)(int64_t)m->string_value_strindex);
		break;
	default:
		break;
	}
	end_message(w, field, mark);
}

static void kv(struct writer *w, unsigned field, const pb_kv *m)
{
	size_t mark = w->used;

	field_int32(w, 3, m->key_strindex);
	if (m->value)
		any(w, 2, m->value);
	field_string(w, 1, m->key);
	end_message(w, field, mark);
}

static void kvs(struct writer *w, unsigned field, pb_kv *const *list,
		size_t n)
{
	while (n-- > 0)
		kv(w, field, list[n]);
}

/* attributes (at field) and dropped_attributes_count (field + 1): every
 * message that has the one has the other right after it. */
#define ATTRS(w, field, m)                                              \
	do {                                                            \
		field_varint(w, (field) + 1, (m)->dropped_attributes_count); \
		kvs(w, field, (m)->attributes, (m)->n_attributes);      \
	} while (0)

static void event(struct writer *w, unsigned field, const pb_event *m)
{
	size_t mark = w->used;

	ATTRS(w, 3, m);
	field_string(w, 2, m->name);
	field_fixed64(w, 1, m->time_unix_nano);
	end_message(w, field, mark);
}

static void link(struct writer *w, unsigned field, const pb_link *m)
{
	size_t mark = w->used;

	field_fixed32(w, 6, m->flags);
	ATTRS(w, 4, m);
	field_string(w, 3, m->trace_state);
	field_bytes(w, 2, &m->span_id);
	field_bytes(w, 1, &m->trace_id);
	end_message(w, field, mark);
}

static void status(struct writer *w, unsigned field, const pb_status *m)
{
	size_t mark = w->used;

	field_int32(w, 3, (int32_t)m->code);
	field_string(w, 2, m->message);
	end_message(w, field, mark);
}

static void span(struct writer *w, unsigned field, const pb_span *m)
{
	size_t mark = w->used, i;

	field_fixed32(w, 16, m->flags);
	if (m->status)
		status(w, 15, m->status);
	field_varint(w, 14, m->dropped_links_count);
	for (i = m->n_links; i-- > 0;)
		link(w, 13, m->links[i]);
	field_varint(w, 12, m->dropped_events_count);
	for (i = m->n_events; i-- > 0;)
		event(w, 11, m->events[i]);
	ATTRS(w, 9, m);
	field_fixed64(w, 8, m->end_time_unix_nano);
	field_fixed64(w, 7, m->start_time_unix_nano);
	field_int32(w, 6, (int32_t)m->kind);
	field_string(w, 5, m->name);
	field_bytes(w, 4, &m->parent_span_id);
	field_string(w, 3, m->trace_state);
	field_bytes(w, 2, &m->span_id);
	field_bytes(w, 1, &m->trace_id);
	end_message(w, field, mark);
}

static void scope(struct writer *w, unsigned field, const pb_scope *m)
{
	size_t mark = w->used;

	ATTRS(w, 3, m);
	field_string(w, 2, m->version);
	field_string(w, 1, m->name);
	end_message(w, field, mark);
}

static void resource(struct writer *w, unsigned field, const pb_resource *m)
{
	size_t mark = w->used;

	ATTRS(w, 1, m);
	end_message(w, field, mark);
}

/*
 * ScopeSpans and ResourceSpans have one shape: the message they are about
 * (field 1), what it holds (2, repeated) and schema_url (3).  Each is
 * written by a function of that shape, made here.
 */
#define SPANS_LIST(name, type, about, child, children)                  \
	static void name(struct writer *w, unsigned field, const type *m) \
	{                                                               \
		size_t mark = w->used, i;                               \
									\
		field_string(w, 3, m->schema_url);                      \
		for (i = m->n_##children; i-- > 0;)                     \
			child(w, 2, m->children[i]);                    \
		if (m->about)                                           \
			about(w, 1, m->about);                          \
		end_message(w, field, mark);                            \
	}

SPANS_LIST(scope_spans, pb_scope_spans, scope, span, spans)
SPANS_LIST(resource_spans, pb_resource_spans, resource, scope_spans,
	   scope_spans)

int otlp_pack_request(const pb_request *req, uint8_t **buf, size_t *cap,
		      const uint8_t **out, size_t *len)
{
	struct writer w = { .buf = *buf, .cap = *buf ? *cap : 0 };
	size_t i;

	for (i = req->n_resource_spans; i-- > 0;)
		resource_spans(&w, 1, req->resource_spans[i]);
	if (!w.buf)     /* an empty request still gets a buffer */
		grow(&w, 1);
	*buf = w.buf;
	*cap = w.cap;
	if (w.oom) {
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*out = w.buf + w.cap - w.used;
	*len = w.used;
	return 0;
}
