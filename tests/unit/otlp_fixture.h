/*
 * Span records for the encoder's tests (test_otlp.c, test_otlp_json.c):
 * a minimal valid span, attributes of every type with their strings in
 * the record's pool, a stack renderer, the configuration and resource
 * every case starts from (setup, a checked fixture), and the JSON of a
 * batch.
 */
#ifndef OTELSHIM_OTLP_FIXTURE_H
#define OTELSHIM_OTLP_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/semconv.h"
#include "exporter/otlp.h"

static inline struct span_str pool_add(struct span *s, const char *v, size_t n)
{
	struct span_str r = { s->pool_used, (uint16_t)n };

	ck_assert_uint_le(s->pool_used + n, SPAN_STRPOOL);
	memcpy(s->pool + s->pool_used, v, n);
	s->pool_used += n;
	return r;
}

static inline struct span_str pool_str(struct span *s, const char *v)
{
	return pool_add(s, v, strlen(v));
}

static inline void attr_str(struct span *s, const char *key, const char *v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_STRING;
	a->v.s = pool_str(s, v);
}

static inline void attr_int(struct span *s, const char *key, int64_t v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_INT;
	a->v.i = v;
}

static inline void attr_double(struct span *s, const char *key, double v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_DOUBLE;
	a->v.d = v;
}

static inline void attr_bool(struct span *s, const char *key, int v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_BOOL;
	a->v.b = v;
}

static inline void attr_stack(struct span *s, const char *key)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_STACK;
}

/* A minimal valid span: ids 0x01.., 0x11..; name "GET". */
static inline void span_init(struct span *s)
{
	memset(s, 0, sizeof(*s));
	memset(s->trace_id, 0x01, sizeof(s->trace_id));
	s->trace_id[15] = 0xab;
	memset(s->span_id, 0x11, sizeof(s->span_id));
	s->trace_flags = SPAN_FLAG_SAMPLED;
	s->kind = SPAN_KIND_SERVER;
	s->start_ns = 1700000000000000000ull;
	s->end_ns = 1700000000123456789ull;
	s->name = pool_str(s, "GET");
}

/* otlp_stack_fn: two frames, the first naming the depth. */
static inline size_t render_stack(const struct span *s, char *buf,
				  size_t cap)
{
	int n = snprintf(buf, cap, "frame0 depth=%u\nframe1",
			 (unsigned)s->stack_depth);

	return n < 0 ? 0 : (size_t)n;
}

/* otlp_stack_fn that renders nothing. */
static inline size_t render_empty(const struct span *s, char *buf,
				  size_t cap)
{
	return 0;
}

static struct config cfg;
static struct resource res;

/* Fixture: no limits but the attribute count; a resource of a string, an
 * integer and a string array. */
static inline void setup(void)
{
	static const char *const args[] = { "prog", "--flag" };

	memset(&cfg, 0, sizeof(cfg));
	cfg.span_attr_count_limit = 128;
	memset(&res, 0, sizeof(res));
	res.attrs[0] = (struct resource_attr){
		.key = ATTR_SERVICE_NAME, .type = RESOURCE_STRING, .s = "svc" };
	res.attrs[1] = (struct resource_attr){
		.key = ATTR_PROCESS_PID, .type = RESOURCE_INT, .i = 4242 };
	res.attrs[2] = (struct resource_attr){
		.key = ATTR_PROCESS_COMMAND_ARGS, .type = RESOURCE_STRING_ARRAY,
		.arr = args, .narr = 2 };
	res.nattrs = 3;
}

/* The spans as OTLP/JSON, checked to be one C string; the caller frees. */
static inline char *json_of(struct otlp_encoder *enc,
			    const struct span *sp, size_t n)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(otlp_encode_json(enc, sp, n, &out, &len), 0);
	otlp_release(enc);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

#endif
