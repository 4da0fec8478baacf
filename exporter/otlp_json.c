/*
 * OTLP/JSON from the message tree (see otlp_json.h), following the proto3
 * JSON mapping as OTLP specifies it: fields in the order of the upstream
 * .proto, defaults left out, trace and span ids as hex rather than base64.
 * The output grows in one buffer; a failed allocation is remembered and
 * reported once at the end, so the writers need no error paths.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "otlp_json.h"

#define ANY(c) ANY_CASE(c)

/* A growing output buffer; a failed allocation sticks in oom. */
struct jbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void jput(struct jbuf *j, const char *s, size_t n)
{
	if (j->oom)
		return;
	if (j->cap - j->len <= n) {
		size_t cap = j->cap ? j->cap : 4096;
		char *p;

		while (cap - j->len <= n)
			cap *= 2;
		p = realloc(j->p, cap);
		if (!p) {
			j->oom = 1;
			return;
		}
		j->p = p;
		j->cap = cap;
	}
	memcpy(j->p + j->len, s, n);
	j->len += n;
	j->p[j->len] = '\0';
}

static void jlit(struct jbuf *j, const char *s)
{
	jput(j, s, strlen(s));
}

/* A short formatted token: a number, or a number in quotes. */
__attribute__((format(printf, 2, 3)))
static void jfmt(struct jbuf *j, const char *fmt, ...)
{
	char tok[48];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tok, sizeof(tok), fmt, ap);
	va_end(ap);
	if (n > 0)
		jput(j, tok, (size_t)n < sizeof(tok) ? (size_t)n :
			     sizeof(tok) - 1);
}

/* A JSON string; the input is already well-formed UTF-8 (the tree builder
 * repaired it), so only quotes, backslashes and control characters need
 * escapes. */
static void jstr(struct jbuf *j, const char *s)
{
	const char *run = s;

	jput(j, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = NULL;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jput(j, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			jfmt(j, "\\u%04x", c);
			continue;
		}
		jlit(j, e);
	}
	jput(j, run, (size_t)(s - run));
	jput(j, "\"", 1);
}

/* "name": with the separating comma when it is not the first member. */
static void jkey(struct jbuf *j, int *first, const char *name)
{
	if (!*first)
		jput(j, ",", 1);
	*first = 0;
	jstr(j, name);
	jput(j, ":", 1);
}

static void jhex(struct jbuf *j, const ProtobufCBinaryData *d)
{
	char chunk[64];
	size_t i, n;

	jput(j, "\"", 1);
	for (i = 0; i < d->len; i += n) {
		n = d->len - i < sizeof(chunk) / 2 ? d->len - i :
						     sizeof(chunk) / 2;
		hex_encode(chunk, d->data + i, n);
		jput(j, chunk, 2 * n);
	}
	jput(j, "\"", 1);
}

static void jbase64(struct jbuf *j, const ProtobufCBinaryData *d)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	size_t i;
	char q[4];

	jput(j, "\"", 1);
	for (i = 0; i < d->len; i += 3) {
		uint32_t v = (uint32_t)d->data[i] << 16;
		size_t left = d->len - i;

		if (left > 1)
			v |= (uint32_t)d->data[i + 1] << 8;
		if (left > 2)
			v |= d->data[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = left > 1 ? tab[(v >> 6) & 63] : '=';
		q[3] = left > 2 ? tab[v & 63] : '=';
		jput(j, q, 4);
	}
	jput(j, "\"", 1);
}

/* Shortest of %.15g/%.17g that reads back as the same double; the
 * non-finite values are the strings proto3 JSON defines for them. */
static void jdouble(struct jbuf *j, double d)
{
	char num[40];

	if (isnan(d)) {
		jlit(j, "\"NaN\"");
		return;
	}
	if (isinf(d)) {
		jlit(j, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	snprintf(num, sizeof(num), "%.15g", d);
	if (strtod(num, NULL) != d)
		snprintf(num, sizeof(num), "%.17g", d);
	jlit(j, num);
}

/* 64-bit integers are strings in OTLP/JSON (proto3 JSON mapping). */
#define JU64STR(j, v) jfmt(j, "\"%" PRIu64 "\"", (uint64_t)(v))
#define JI64STR(j, v) jfmt(j, "\"%" PRId64 "\"", (int64_t)(v))
#define JU32(j, v)    jfmt(j, "%" PRIu32, (uint32_t)(v))

/* A member written only when `set`, as the proto3 JSON mapping leaves
 * default values out; `write` writes its value. */
#define JFIELD(j, first, name, set, write) do {                        \
		if (set) {                                              \
			jkey(j, first, name);                           \
			write;                                          \
		}                                                       \
	} while (0)

/* A JSON array of n items, each written by fn(j, item). */
#define JARRAY(j, items, n, fn) do {                                    \
		size_t i_;                                              \
									\
		jput(j, "[", 1);                                        \
		for (i_ = 0; i_ < (n); i_++) {                          \
			if (i_)                                         \
				jput(j, ",", 1);                        \
			fn(j, (items)[i_]);                             \
		}                                                       \
		jput(j, "]", 1);                                        \
	} while (0)

static void json_kvs(struct jbuf *j, pb_kv *const *kvs, size_t n);

static void json_any(struct jbuf *j, const pb_any *v)
{
	jput(j, "{", 1);
	switch (v->value_case) {
	case ANY(STRING_VALUE):
		jlit(j, "\"stringValue\":");
		jstr(j, v->string_value);
		break;
	case ANY(BOOL_VALUE):
		jlit(j, v->bool_value ? "\"boolValue\":true" :
			"\"boolValue\":false");
		break;
	case ANY(INT_VALUE):
		jlit(j, "\"intValue\":");
		JI64STR(j, v->int_value);
		break;
	case ANY(DOUBLE_VALUE):
		jlit(j, "\"doubleValue\":");
		jdouble(j, v->double_value);
		break;
	case ANY(ARRAY_VALUE):
		jlit(j, "\"arrayValue\":{");
		if (v->array_value && v->array_value->n_values) {
			jlit(j, "\"values\":");
			JARRAY(j, v->array_value->values,
			       v->array_value->n_values, json_any);
		}
		jput(j, "}", 1);
		break;
	case ANY(KVLIST_VALUE):
		jlit(j, "\"kvlistValue\":{");
		if (v->kvlist_value && v->kvlist_value->n_values) {
			jlit(j, "\"values\":");
			json_kvs(j, v->kvlist_value->values,
				 v->kvlist_value->n_values);
		}
		jput(j, "}", 1);
		break;
	case ANY(BYTES_VALUE):
		jlit(j, "\"bytesValue\":");
		jbase64(j, &v->bytes_value);
		break;
	default:
		break;
	}
	jput(j, "}", 1);
}

static void json_kv(struct jbuf *j, const pb_kv *kv)
{
	jlit(j, "{\"key\":");
	jstr(j, kv->key);
	if (kv->value) {
		jlit(j, ",\"value\":");
		json_any(j, kv->value);
	}
	jput(j, "}", 1);
}

static void json_kvs(struct jbuf *j, pb_kv *const *kvs, size_t n)
{
	JARRAY(j, kvs, n, json_kv);
}

/* attributes and dropped_attributes_count, side by side in every message
 * that has attributes. */
#define JSON_ATTRS(j, first, m) do {                                    \
		JFIELD(j, first, "attributes", (m)->n_attributes,       \
		       json_kvs(j, (m)->attributes, (m)->n_attributes)); \
		JFIELD(j, first, "droppedAttributesCount",              \
		       (m)->dropped_attributes_count,                   \
		       JU32(j, (m)->dropped_attributes_count));         \
	} while (0)

static void json_event(struct jbuf *j, const pb_event *e)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "timeUnixNano", e->time_unix_nano,
	       JU64STR(j, e->time_unix_nano));
	JFIELD(j, &first, "name", e->name[0], jstr(j, e->name));
	JSON_ATTRS(j, &first, e);
	jput(j, "}", 1);
}

static void json_status(struct jbuf *j, const pb_status *st)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "message", st->message[0], jstr(j, st->message));
	JFIELD(j, &first, "code", st->code, JU32(j, st->code));
	jput(j, "}", 1);
}

/* Fields in the order of the upstream .proto. */
static void json_span(struct jbuf *j, const pb_span *s)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "traceId", 1, jhex(j, &s->trace_id));
	JFIELD(j, &first, "spanId", 1, jhex(j, &s->span_id));
	JFIELD(j, &first, "traceState", s->trace_state[0],
	       jstr(j, s->trace_state));
	JFIELD(j, &first, "parentSpanId", s->parent_span_id.len,
	       jhex(j, &s->parent_span_id));
	JFIELD(j, &first, "flags", s->flags, JU32(j, s->flags));
	JFIELD(j, &first, "name", 1, jstr(j, s->name));
	JFIELD(j, &first, "kind", s->kind, JU32(j, s->kind));
	JFIELD(j, &first, "startTimeUnixNano", 1,
	       JU64STR(j, s->start_time_unix_nano));
	JFIELD(j, &first, "endTimeUnixNano", 1,
	       JU64STR(j, s->end_time_unix_nano));
	JSON_ATTRS(j, &first, s);
	JFIELD(j, &first, "events", s->n_events,
	       JARRAY(j, s->events, s->n_events, json_event));
	JFIELD(j, &first, "status", s->status, json_status(j, s->status));
	jput(j, "}", 1);
}

static void json_scope(struct jbuf *j, const pb_scope *sc)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "name", sc->name[0], jstr(j, sc->name));
	JFIELD(j, &first, "version", sc->version[0], jstr(j, sc->version));
	JSON_ATTRS(j, &first, sc);
	jput(j, "}", 1);
}

static void json_scope_spans(struct jbuf *j, const pb_scope_spans *ss)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "scope", ss->scope, json_scope(j, ss->scope));
	JFIELD(j, &first, "spans", ss->n_spans,
	       JARRAY(j, ss->spans, ss->n_spans, json_span));
	jput(j, "}", 1);
}

static void json_resource(struct jbuf *j, const pb_resource *r)
{
	int first = 1;

	jput(j, "{", 1);
	JSON_ATTRS(j, &first, r);
	jput(j, "}", 1);
}

static void json_resource_spans(struct jbuf *j, const pb_resource_spans *rs)
{
	int first = 1;

	jput(j, "{", 1);
	JFIELD(j, &first, "resource", rs->resource,
	       json_resource(j, rs->resource));
	JFIELD(j, &first, "scopeSpans", rs->n_scope_spans,
	       JARRAY(j, rs->scope_spans, rs->n_scope_spans,
		      json_scope_spans));
	jput(j, "}", 1);
}

int otlp_json_request(const pb_request *req, char **out, size_t *len)
{
	struct jbuf j = { 0 };
	int first = 1;

	jput(&j, "{", 1);
	JFIELD(&j, &first, "resourceSpans", req->n_resource_spans,
	       JARRAY(&j, req->resource_spans, req->n_resource_spans,
		      json_resource_spans));
	jput(&j, "}", 1);
	if (j.oom) {
		free(j.p);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*out = j.p;
	*len = j.len;
	return 0;
}
