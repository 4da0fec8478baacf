/*
 * Span records -> one OTLP ExportTraceServiceRequest, as protobuf or as
 * OTLP/JSON.  Both encodings come from the same tree of protobuf-c message
 * structs, built per call in an arena that is emptied in one go, so the
 * two can never disagree about limits, UTF-8 repair or which fields are
 * set.  This file builds the tree; otlp_pack.c writes it as protobuf,
 * otlp_json.c as OTLP/JSON.  Runs on the exporter thread only.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/semconv.h"
#include "common/utf8.h"
#include "legacy.h"
#include "otlp.h"
#include "otlp_json.h"
#include "otlp_pack.h"

#ifndef OTELSHIM_VERSION
#define OTELSHIM_VERSION "0.0.0"
#endif

#define SCOPE_NAME "otelshim"
#define STACK_TEXT_MAX 8192     /* rendered stack, before the length limit */
#define ARENA_CHUNK (64 * 1024)

/* The generated name of the request message exceeds any line. */
#define REQUEST_INIT(m) \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(m)

#define ANY(c) ANY_CASE(c)
#define KIND(c) OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_##c
#define FLAG(c) OPENTELEMETRY__PROTO__TRACE__V1__SPAN_FLAGS__SPAN_FLAGS_##c

/* ------------------------------------------------------------ arena */

/*
 * Every temporary of one encode call comes from here and goes back in one
 * go: the message tree has hundreds of small nodes per batch, and a list
 * of 64 KiB chunks is both faster and leak-proof.  Chunks of the usual
 * size are kept by the encoder for the next call (see otlp_release).
 */
struct otlp_arena_chunk {
	struct otlp_arena_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct otlp_arena_chunk *head;
	struct otlp_arena_chunk *spare;         /* reused before malloc */
};

static struct otlp_arena_chunk *new_chunk(struct arena *a, size_t cap)
{
	struct otlp_arena_chunk *c;

	if (cap == ARENA_CHUNK && a->spare) {
		c = a->spare;
		a->spare = c->next;
	} else {
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
	}
	c->used = 0;
	return c;
}

/* Returns zeroed, max-aligned memory, or NULL when out of memory. */
static void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct otlp_arena_chunk *c = a->head;
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = new_chunk(a, cap);
		if (!c)
			return NULL;
		/* A dedicated chunk for a big block goes behind the current
		 * one, so the current chunk's free space is not wasted. */
		if (a->head && cap > ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static void free_chunks(struct otlp_arena_chunk *c)
{
	while (c) {
		struct otlp_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
}

/* Ends a call: chunks of the usual size go back to the encoder. */
static void arena_done(struct arena *a, struct otlp_encoder *enc)
{
	struct otlp_arena_chunk *c = a->head;

	while (c) {
		struct otlp_arena_chunk *next = c->next;

		if (c->cap == ARENA_CHUNK) {
			c->next = a->spare;
			a->spare = c;
		} else {
			free(c);
		}
		c = next;
	}
	a->head = NULL;
	enc->spare = a->spare;
	a->spare = NULL;
}

void otlp_release(struct otlp_encoder *enc)
{
	free_chunks(enc->spare);
	enc->spare = NULL;
	free(enc->pb_buf);
	enc->pb_buf = NULL;
	enc->pb_cap = 0;
}

/* ------------------------------------------------------------ build */

struct build {
	struct arena a;
	const struct otlp_encoder *enc;
	char *stack_buf;        /* STACK_TEXT_MAX bytes, on first use */
	int oom;
};

static void *balloc(struct build *b, size_t n)
{
	void *p = arena_alloc(&b->a, n);

	if (!p)
		b->oom = 1;
	return p;
}

/*
 * Copies (s, len) into the arena as a NUL-terminated, well-formed UTF-8
 * string of at most max_chars characters (0 = no limit).  Never NULL: on
 * allocation failure it sets b->oom and returns "".
 */
static char *text(struct build *b, const char *s, size_t len,
		  size_t max_chars)
{
	size_t need;
	char *out;

	if (len == 0)
		return (char *)"";
	if (!max_chars && utf8_clean(s, len)) {
		out = balloc(b, len + 1);
		if (!out)
			return (char *)"";
		memcpy(out, s, len);
		return out;
	}
	need = utf8_repair(s, len, max_chars, NULL, 0);
	out = balloc(b, need + 1);
	if (!out)
		return (char *)"";
	utf8_repair(s, len, max_chars, out, need + 1);
	return out;
}

static char *ctext(struct build *b, const char *s)
{
	if (!s)
		return (char *)"";
	return text(b, s, strlen(s), 0);
}

/* A pooled string of a record, clamped to the pool so that a damaged
 * record can never make us read outside it. */
static char *pooled(struct build *b, const struct span *s, struct span_str r,
		    size_t max_chars)
{
	size_t off = r.off, len = r.len;

	if (off > SPAN_STRPOOL)
		off = SPAN_STRPOOL;
	if (len > SPAN_STRPOOL - off)
		len = SPAN_STRPOOL - off;
	return text(b, s->pool + off, len, max_chars);
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i])
			return 0;
	}
	return 1;
}

/*
 * Turns one span attribute into *kv (value in *val).  Returns 1 if the
 * attribute is to be sent, 0 if it is left out (an unknown type, or a stack
 * that cannot be rendered).
 */
static int build_attr(struct build *b, const struct span *s,
		      const struct span_attr *at, pb_kv *kv, pb_any *val)
{
	size_t limit = b->enc->cfg ? b->enc->cfg->attr_value_length_limit : 0;
	size_t n;

	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(val);
	kv->value = val;
	switch (at->type) {
	case SPAN_ATTR_STRING:
		val->value_case = ANY(STRING_VALUE);
		val->string_value = pooled(b, s, at->v.s, limit);
		break;
	case SPAN_ATTR_INT:
		val->value_case = ANY(INT_VALUE);
		val->int_value = at->v.i;
		break;
	case SPAN_ATTR_DOUBLE:
		val->value_case = ANY(DOUBLE_VALUE);
		val->double_value = at->v.d;
		break;
	case SPAN_ATTR_BOOL:
		val->value_case = ANY(BOOL_VALUE);
		val->bool_value = at->v.b != 0;
		break;
	case SPAN_ATTR_STACK:
		if (!b->enc->render_stack || s->stack_depth == 0)
			return 0;
		if (!b->stack_buf)
			b->stack_buf = balloc(b, STACK_TEXT_MAX);
		if (!b->stack_buf)
			return 0;
		n = b->enc->render_stack(s, b->stack_buf, STACK_TEXT_MAX);
		if (n >= STACK_TEXT_MAX)
			n = STACK_TEXT_MAX - 1;
		if (n == 0)
			return 0;
		val->value_case = ANY(STRING_VALUE);
		val->string_value = text(b, b->stack_buf, n, limit);
		break;
	default:
		return 0;
	}
	/* Keys are the library's own constants (span.h): well-formed text
	 * that outlives the call, sent as they are, not copied. */
	kv->key = at->key ? (char *)at->key : (char *)"";
	return 1;
}

/*
 * Builds the attribute list of a span or event from n records.  At most
 * max are kept; the number of sendable attributes beyond that is added to
 * *dropped.  Returns the array (NULL when empty) and its length in *count.
 */
static pb_kv **build_attrs(struct build *b, const struct span *s,
			   const struct span_attr *attrs, size_t n,
			   size_t max, size_t *count, uint32_t *dropped)
{
	pb_kv **list, *kvs;
	pb_any *vals;
	size_t i, k = 0;

	*count = 0;
	if (n == 0)
		return NULL;
	list = balloc(b, n * sizeof(*list));
	kvs = balloc(b, n * sizeof(*kvs));
	vals = balloc(b, n * sizeof(*vals));
	if (!list || !kvs || !vals)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!build_attr(b, s, &attrs[i], &kvs[k], &vals[k]))
			continue;
		if (k >= max) {
			(*dropped)++;
			continue;
		}
		list[k] = &kvs[k];
		k++;
	}
	*count = k;
	return k ? list : NULL;
}

static pb_event *build_event(struct build *b, const struct span *s,
			     const struct span_event *ev)
{
	pb_event *e = balloc(b, sizeof(*e));
	size_t nattrs = ev->nattrs;

	if (!e)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(e);
	e->time_unix_nano = ev->time_ns;
	e->name = ev->name ? (char *)ev->name : (char *)"";  /* a literal */
	if (nattrs > SPAN_MAX_EVENT_ATTRS)
		nattrs = SPAN_MAX_EVENT_ATTRS;
	e->attributes = build_attrs(b, s, ev->attrs, nattrs, SIZE_MAX,
				    &e->n_attributes,
				    &e->dropped_attributes_count);
	return e;
}

/* Appends kvs[0, k) to the span's attributes, as far as max_attrs allows;
 * the rest are counted in *dropped. */
static void append_attrs(struct build *b, pb_span *p, pb_kv *kvs, size_t k,
			 size_t max_attrs, uint32_t *dropped)
{
	size_t i, n = p->n_attributes;
	pb_kv **list = balloc(b, (n + k) * sizeof(*list));

	if (!list)
		return;
	for (i = 0; i < n; i++)
		list[i] = p->attributes[i];
	for (i = 0; i < k; i++) {
		if (n >= max_attrs) {
			(*dropped)++;
			continue;
		}
		list[n++] = &kvs[i];
	}
	p->attributes = list;
	p->n_attributes = n;
}

static pb_kv *new_kvs(struct build *b, size_t k)
{
	pb_kv *kvs = balloc(b, k * sizeof(*kvs));
	pb_any *vals = balloc(b, k * sizeof(*vals));
	size_t i;

	if (!kvs || !vals)
		return NULL;
	for (i = 0; i < k; i++) {
		opentelemetry__proto__common__v1__key_value__init(&kvs[i]);
		opentelemetry__proto__common__v1__any_value__init(&vals[i]);
		kvs[i].value = &vals[i];
	}
	return kvs;
}

/* kv = key and the string s, cut to limit characters. */
static void set_text(struct build *b, pb_kv *kv, const char *key,
		     const char *s, size_t limit)
{
	kv->key = (char *)key;
	kv->value->value_case = ANY(STRING_VALUE);
	kv->value->string_value = text(b, s, strlen(s), limit);
}

/* A span that sends its captured stack also names the frame the stack
 * is attributed to (enc->code_site): code.function.name, code.file.path
 * and code.line.number, each only when known. */
static void add_code_site(struct build *b, const struct span *s, pb_span *p,
			  size_t max_attrs, uint32_t *dropped)
{
	size_t limit = b->enc->cfg ? b->enc->cfg->attr_value_length_limit : 0;
	struct otlp_code_site site;
	pb_kv *kvs;
	size_t i, k = 0;
	int has_stack = 0;

	if (!b->enc->code_site || s->stack_depth == 0)
		return;
	for (i = 0; i < s->nattrs && i < SPAN_MAX_ATTRS; i++)
		if (s->attrs[i].type == SPAN_ATTR_STACK)
			has_stack = 1;
	memset(&site, 0, sizeof(site));
	if (!has_stack || !b->enc->code_site(s, &site))
		return;
	site.function[sizeof(site.function) - 1] = '\0';
	site.file[sizeof(site.file) - 1] = '\0';
	kvs = new_kvs(b, 3);
	if (!kvs)
		return;
	if (site.function[0])
		set_text(b, &kvs[k++], ATTR_CODE_FUNCTION_NAME, site.function,
			 limit);
	if (site.file[0])
		set_text(b, &kvs[k++], ATTR_CODE_FILE_PATH, site.file, limit);
	if (site.line > 0) {
		kvs[k].key = (char *)ATTR_CODE_LINE_NUMBER;
		kvs[k].value->value_case = ANY(INT_VALUE);
		kvs[k].value->int_value = site.line;
		k++;
	}
	append_attrs(b, p, kvs, k, max_attrs, dropped);
}

/* http.target: url.path, and "?" and url.query when there is one. */
static void path_and_query(struct build *b, pb_any *out, const pb_any *path,
			   const pb_any *query)
{
	size_t np = strlen(path->string_value);
	size_t nq = strlen(query->string_value);
	char *t = balloc(b, np + 1 + nq + 1);

	if (!t)
		return;
	memcpy(t, path->string_value, np);
	t[np] = '?';
	memcpy(t + np + 1, query->string_value, nq + 1);
	out->value_case = ANY(STRING_VALUE);
	out->string_value = t;
}

/* The legacy names of the span's attributes beside the stable ones, when
 * OTEL_SEMCONV_STABILITY_OPT_IN asks for them (legacy.h).  They share the
 * stable attribute's value. */
static void add_legacy(struct build *b, pb_span *p, size_t max_attrs,
		       uint32_t *dropped)
{
	int dup = b->enc->cfg ? b->enc->cfg->semconv_dup : 0;
	const char *keys[SPAN_MAX_ATTRS + 3];
	struct legacy_attr la[SPAN_MAX_ATTRS + 3];
	size_t n = p->n_attributes, k, i;
	pb_kv *kvs;

	if (!dup || n == 0)
		return;
	if (n > SPAN_MAX_ATTRS + 3)
		n = SPAN_MAX_ATTRS + 3;
	for (i = 0; i < n; i++)
		keys[i] = p->attributes[i]->key;
	k = legacy_attrs((int)p->kind, dup, keys, n, la, n);
	if (k == 0)
		return;
	kvs = new_kvs(b, k);
	if (!kvs)
		return;
	for (i = 0; i < k; i++) {
		const pb_any *v = p->attributes[la[i].from]->value;

		kvs[i].key = (char *)la[i].key;
		if (la[i].query != LEGACY_NONE &&
		    v->value_case == ANY(STRING_VALUE) &&
		    p->attributes[la[i].query]->value->value_case ==
		    ANY(STRING_VALUE))
			path_and_query(b, kvs[i].value, v,
				       p->attributes[la[i].query]->value);
		else
			kvs[i].value = (pb_any *)v;
	}
	append_attrs(b, p, kvs, k, max_attrs, dropped);
}

static pb_span *build_span(struct build *b, const struct span *s)
{
	const struct config *cfg = b->enc->cfg;
	size_t max_attrs = cfg ? cfg->span_attr_count_limit : SIZE_MAX;
	size_t nattrs = s->nattrs, nevents = s->nevents, i;
	pb_span *p = balloc(b, sizeof(*p));
	uint32_t dropped = s->dropped_attrs;

	if (!p)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(p);
	/* The ids point into the caller's records, which outlive the call. */
	p->trace_id.data = (uint8_t *)s->trace_id;
	p->trace_id.len = sizeof(s->trace_id);
	p->span_id.data = (uint8_t *)s->span_id;
	p->span_id.len = sizeof(s->span_id);
	if (!all_zero(s->parent_span_id, sizeof(s->parent_span_id))) {
		p->parent_span_id.data = (uint8_t *)s->parent_span_id;
		p->parent_span_id.len = sizeof(s->parent_span_id);
	}
	p->trace_state = pooled(b, s, s->trace_state, 0);
	/* We always know whether the parent is remote, so 0x100 is set. */
	p->flags = (s->trace_flags & FLAG(TRACE_FLAGS_MASK)) |
		   FLAG(CONTEXT_HAS_IS_REMOTE_MASK) |
		   (s->parent_is_remote ? FLAG(CONTEXT_IS_REMOTE_MASK) : 0);
	p->name = pooled(b, s, s->name, 0);
	if (s->kind >= SPAN_KIND_INTERNAL && s->kind <= SPAN_KIND_CONSUMER)
		p->kind = s->kind;
	else
		p->kind = KIND(INTERNAL);
	p->start_time_unix_nano = s->start_ns;
	p->end_time_unix_nano = s->end_ns;

	if (nattrs > SPAN_MAX_ATTRS)
		nattrs = SPAN_MAX_ATTRS;
	p->attributes = build_attrs(b, s, s->attrs, nattrs, max_attrs,
				    &p->n_attributes, &dropped);
	add_code_site(b, s, p, max_attrs, &dropped);
	add_legacy(b, p, max_attrs, &dropped);
	p->dropped_attributes_count = dropped;

	if (nevents > SPAN_MAX_EVENTS)
		nevents = SPAN_MAX_EVENTS;
	if (nevents) {
		p->events = balloc(b, nevents * sizeof(*p->events));
		if (!p->events)
			return NULL;
		for (i = 0; i < nevents; i++) {
			p->events[i] = build_event(b, s, &s->events[i]);
			if (!p->events[i])
				return NULL;
		}
		p->n_events = nevents;
	}

	if (s->status == SPAN_STATUS_OK || s->status == SPAN_STATUS_ERROR) {
		p->status = balloc(b, sizeof(*p->status));
		if (!p->status)
			return NULL;
		opentelemetry__proto__trace__v1__status__init(p->status);
		p->status->code = s->status;
		if (s->status == SPAN_STATUS_ERROR)
			p->status->message = pooled(b, s, s->status_message, 0);
	}
	return p;
}

static pb_array *build_string_array(struct build *b,
				    const char *const *strs, size_t n)
{
	pb_array *arr = balloc(b, sizeof(*arr));
	pb_any *elems = balloc(b, (n + 1) * sizeof(*elems));
	pb_any **ptrs = balloc(b, (n + 1) * sizeof(*ptrs));
	size_t i;

	if (!arr || !elems || !ptrs)
		return NULL;
	opentelemetry__proto__common__v1__array_value__init(arr);
	for (i = 0; i < n; i++) {
		opentelemetry__proto__common__v1__any_value__init(&elems[i]);
		elems[i].value_case = ANY(STRING_VALUE);
		elems[i].string_value = ctext(b, strs[i]);
		ptrs[i] = &elems[i];
	}
	arr->values = n ? ptrs : NULL;
	arr->n_values = n;
	return arr;
}

static pb_resource *build_resource(struct build *b,
				   const struct resource *res)
{
	pb_resource *r = balloc(b, sizeof(*r));
	size_t n = res->nattrs, i, k = 0;
	pb_kv *kvs;
	pb_any *vals;

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	if (n > RESOURCE_MAX_ATTRS)
		n = RESOURCE_MAX_ATTRS;
	if (n == 0)
		return r;
	r->attributes = balloc(b, n * sizeof(*r->attributes));
	kvs = balloc(b, n * sizeof(*kvs));
	vals = balloc(b, n * sizeof(*vals));
	if (!r->attributes || !kvs || !vals)
		return NULL;
	/* Resource attributes are exempt from the attribute limits. */
	for (i = 0; i < n; i++) {
		const struct resource_attr *ra = &res->attrs[i];
		pb_kv *kv = &kvs[k];
		pb_any *v = &vals[k];

		opentelemetry__proto__common__v1__key_value__init(kv);
		opentelemetry__proto__common__v1__any_value__init(v);
		kv->key = ctext(b, ra->key);
		kv->value = v;
		if (ra->type == RESOURCE_STRING) {
			v->value_case = ANY(STRING_VALUE);
			v->string_value = ctext(b, ra->s);
		} else if (ra->type == RESOURCE_INT) {
			v->value_case = ANY(INT_VALUE);
			v->int_value = ra->i;
		} else if (ra->type == RESOURCE_STRING_ARRAY) {
			v->value_case = ANY(ARRAY_VALUE);
			v->array_value = build_string_array(b, ra->arr,
							    ra->narr);
			if (!v->array_value)
				return NULL;
		} else {
			continue;
		}
		r->attributes[k++] = kv;
	}
	r->n_attributes = k;
	return r;
}

/*
 * Builds the whole request in b's arena.  Spans whose trace or span id is
 * all zero are left out: a receiver such as Tempo rejects the entire push
 * for one of them.  A request without any valid span has no ResourceSpans
 * at all, as OTLP asks.  Returns NULL when out of memory.
 */
static pb_request *build_request(struct build *b, const struct span *spans,
				 size_t n)
{
	pb_request *req = balloc(b, sizeof(*req));
	pb_resource_spans *rs, **rsl;
	pb_scope_spans *ss, **ssl;
	pb_scope *scope;
	size_t i, k = 0;

	if (!req)
		return NULL;
	REQUEST_INIT(req);
	if (n == 0)
		return req;
	rs = balloc(b, sizeof(*rs));
	rsl = balloc(b, sizeof(*rsl));
	ss = balloc(b, sizeof(*ss));
	ssl = balloc(b, sizeof(*ssl));
	scope = balloc(b, sizeof(*scope));
	if (!rs || !rsl || !ss || !ssl || !scope)
		return NULL;
	opentelemetry__proto__trace__v1__resource_spans__init(rs);
	opentelemetry__proto__trace__v1__scope_spans__init(ss);
	opentelemetry__proto__common__v1__instrumentation_scope__init(scope);
	ss->spans = balloc(b, n * sizeof(*ss->spans));
	if (!ss->spans)
		return NULL;
	scope->name = (char *)SCOPE_NAME;
	scope->version = (char *)OTELSHIM_VERSION;
	ss->scope = scope;

	for (i = 0; i < n; i++) {
		const struct span *s = &spans[i];

		if (all_zero(s->trace_id, sizeof(s->trace_id)) ||
		    all_zero(s->span_id, sizeof(s->span_id)))
			continue;
		ss->spans[k] = build_span(b, s);
		if (!ss->spans[k])
			return NULL;
		k++;
	}
	if (k == 0)
		return req;
	ss->n_spans = k;
	if (b->enc->res) {
		rs->resource = build_resource(b, b->enc->res);
		if (!rs->resource)
			return NULL;
	}
	ssl[0] = ss;
	rs->scope_spans = ssl;
	rs->n_scope_spans = 1;
	rsl[0] = rs;
	req->resource_spans = rsl;
	req->n_resource_spans = 1;
	return req;
}

/* The two writers of a built tree: protobuf into the encoder's buffer,
 * JSON into a new one; out is their output pointer's address. */
typedef int (*write_fn)(const pb_request *req, struct otlp_encoder *enc,
			void *out, size_t *len);

static int write_protobuf(const pb_request *req, struct otlp_encoder *enc,
			  void *out, size_t *len)
{
	return otlp_pack_request(req, &enc->pb_buf, &enc->pb_cap, out, len);
}

static int write_json(const pb_request *req, struct otlp_encoder *enc,
		      void *out, size_t *len)
{
	(void)enc;
	return otlp_json_request(req, out, len);
}

/* One call: the tree of n spans, written, and the arena emptied. */
static int encode(struct otlp_encoder *enc, const struct span *spans,
		  size_t n, write_fn write, void *out, size_t *len)
{
	struct build b = { .enc = enc, .a.spare = enc->spare };
	pb_request *req = build_request(&b, spans, n);
	int ret = -ENOMEM;

	if (req && !b.oom)
		ret = write(req, enc, out, len);
	arena_done(&b.a, enc);
	return ret;
}

int otlp_encode_protobuf(struct otlp_encoder *enc, const struct span *spans,
			 size_t n, const uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return encode(enc, spans, n, write_protobuf, out, len);
}

int otlp_encode_json(struct otlp_encoder *enc, const struct span *spans,
		     size_t n, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return encode(enc, spans, n, write_json, out, len);
}
