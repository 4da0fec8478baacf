/*
 * Unit tests for the OTLP encoder's protobuf: span records are encoded,
 * the protobuf is decoded again with the generated protobuf-c code and
 * every field is checked, and protobuf-c packing what it decoded must
 * give back the very same bytes (otlp.c writes what protobuf-c would).
 * Also the UTF-8 repair the encoder relies on.  The JSON form is
 * test_otlp_json.c's.
 * links: exporter/otlp.c exporter/legacy.c exporter/otlp_json.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/semconv.h"
#include "common/text.h"
#include "common/utf8.h"
#include "exporter/otlp.h"
#include "exporter/otlp_pb.h"
#include "otlp_fixture.h"
#include "unit.h"

#define REQ_DESC \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor
#define ANY(c) ANY_CASE(c)

/* ------------------------------------------------------------ helpers */

/* protobuf-c's own packing of tree is exactly (buf, len). */
static void assert_packs_as(const pb_request *tree, const uint8_t *buf,
			    size_t len)
{
	size_t size = protobuf_c_message_get_packed_size(&tree->base);
	uint8_t *theirs = malloc(size + 1);

	ck_assert_ptr_nonnull(theirs);
	ck_assert_uint_eq(protobuf_c_message_pack(&tree->base, theirs), size);
	ck_assert_uint_eq(len, size);
	ck_assert_int_eq(memcmp(buf, theirs, len), 0);
	free(theirs);
}

/* Encodes and decodes with the generated code; the caller frees. */
static pb_request *roundtrip(struct otlp_encoder *enc,
			     const struct span *spans, size_t n)
{
	const uint8_t *buf = NULL;
	size_t len = 0;
	pb_request *req;

	ck_assert_int_eq(otlp_encode_protobuf(enc, spans, n, &buf, &len), 0);
	ck_assert_ptr_nonnull(buf);
	req = (pb_request *)protobuf_c_message_unpack(&REQ_DESC, NULL, len,
						      buf);
	ck_assert_ptr_nonnull(req);
	assert_packs_as(req, buf, len);
	otlp_release(enc);
	return req;
}

static void req_free(pb_request *req)
{
	protobuf_c_message_free_unpacked(&req->base, NULL);
}

static pb_span *only_span(pb_request *req)
{
	ck_assert_uint_eq(req->n_resource_spans, 1);
	ck_assert_uint_eq(req->resource_spans[0]->n_scope_spans, 1);
	ck_assert_uint_eq(req->resource_spans[0]->scope_spans[0]->n_spans, 1);
	return req->resource_spans[0]->scope_spans[0]->spans[0];
}

static const pb_any *find(pb_kv **kvs, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(kvs[i]->key, key) == 0)
			return kvs[i]->value;
	}
	return NULL;
}

static const char *str_attr(pb_kv **kvs, size_t n, const char *key)
{
	const pb_any *v = find(kvs, n, key);

	ck_assert_msg(v != NULL, "attribute %s missing", key);
	ck_assert_int_eq(v->value_case, ANY(STRING_VALUE));
	return v->string_value;
}

/* ------------------------------------------------------------ protobuf */

START_TEST(test_full_span)
{
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res,
				     .render_stack = render_stack };
	struct span s;
	struct span_event *ev;
	pb_request *req;
	pb_span *p;
	const pb_any *v;
	Opentelemetry__Proto__Common__V1__InstrumentationScope *scope;
	Opentelemetry__Proto__Resource__V1__Resource *r;
	uint8_t want_parent[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };

	span_init(&s);
	memcpy(s.parent_span_id, want_parent, 8);
	s.parent_is_remote = 1;
	s.kind = SPAN_KIND_CLIENT;
	s.status = SPAN_STATUS_ERROR;
	s.status_message = pool_str(&s, "connection refused");
	s.trace_state = pool_str(&s, "vendor=abc,other=1");
	s.dropped_attrs = 2;
	s.stack_depth = 3;
	attr_str(&s, ATTR_HTTP_REQUEST_METHOD, "GET");
	attr_int(&s, ATTR_HTTP_RESPONSE_STATUS_CODE, -503);
	attr_double(&s, "ratio", 0.25);
	attr_bool(&s, "flag", 1);
	attr_stack(&s, ATTR_CODE_STACKTRACE);
	ev = &s.events[s.nevents++];
	ev->time_ns = 1700000000000000500ull;
	ev->name = "exception";
	ev->nattrs = 2;
	ev->attrs[0] = (struct span_attr){ .key = ATTR_EXCEPTION_TYPE,
		.type = SPAN_ATTR_STRING, .v.s = pool_str(&s, "ECONNREFUSED") };
	ev->attrs[1] = (struct span_attr){ .key = "errno",
		.type = SPAN_ATTR_INT, .v.i = 111 };
	ev = &s.events[s.nevents++];
	ev->time_ns = 1700000000000000600ull;
	ev->name = "retry";

	req = roundtrip(&enc, &s, 1);
	p = only_span(req);

	r = req->resource_spans[0]->resource;
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_attributes, 3);
	ck_assert_str_eq(str_attr(r->attributes, 3, ATTR_SERVICE_NAME), "svc");
	v = find(r->attributes, 3, ATTR_PROCESS_PID);
	ck_assert_int_eq(v->value_case, ANY(INT_VALUE));
	ck_assert_int_eq(v->int_value, 4242);
	v = find(r->attributes, 3, ATTR_PROCESS_COMMAND_ARGS);
	ck_assert_int_eq(v->value_case, ANY(ARRAY_VALUE));
	ck_assert_uint_eq(v->array_value->n_values, 2);
	ck_assert_str_eq(v->array_value->values[0]->string_value, "prog");
	ck_assert_str_eq(v->array_value->values[1]->string_value, "--flag");

	scope = req->resource_spans[0]->scope_spans[0]->scope;
	ck_assert_str_eq(scope->name, "otelshim");
	ck_assert_str_eq(scope->version, OTELSHIM_VERSION);

	ck_assert_uint_eq(p->trace_id.len, 16);
	ck_assert_mem_eq(p->trace_id.data, s.trace_id, 16);
	ck_assert_uint_eq(p->span_id.len, 8);
	ck_assert_mem_eq(p->span_id.data, s.span_id, 8);
	ck_assert_uint_eq(p->parent_span_id.len, 8);
	ck_assert_mem_eq(p->parent_span_id.data, want_parent, 8);
	ck_assert_str_eq(p->trace_state, "vendor=abc,other=1");
	ck_assert_uint_eq(p->flags, 0x301);
	ck_assert_str_eq(p->name, "GET");
	ck_assert_int_eq(p->kind, 3);
	ck_assert_uint_eq(p->start_time_unix_nano, 1700000000000000000ull);
	ck_assert_uint_eq(p->end_time_unix_nano, 1700000000123456789ull);

	ck_assert_uint_eq(p->n_attributes, 5);
	ck_assert_uint_eq(p->dropped_attributes_count, 2);
	ck_assert_str_eq(p->attributes[0]->key, ATTR_HTTP_REQUEST_METHOD);
	ck_assert_str_eq(p->attributes[0]->value->string_value, "GET");
	v = p->attributes[1]->value;
	ck_assert_int_eq(v->value_case, ANY(INT_VALUE));
	ck_assert_int_eq(v->int_value, -503);
	v = p->attributes[2]->value;
	ck_assert_int_eq(v->value_case, ANY(DOUBLE_VALUE));
	ck_assert_double_eq(v->double_value, 0.25);
	v = p->attributes[3]->value;
	ck_assert_int_eq(v->value_case, ANY(BOOL_VALUE));
	ck_assert_int_eq(v->bool_value, 1);
	ck_assert_str_eq(str_attr(p->attributes, 5, ATTR_CODE_STACKTRACE),
			 "frame0 depth=3\nframe1");

	ck_assert_uint_eq(p->n_events, 2);
	ck_assert_uint_eq(p->events[0]->time_unix_nano,
			  1700000000000000500ull);
	ck_assert_str_eq(p->events[0]->name, "exception");
	ck_assert_uint_eq(p->events[0]->n_attributes, 2);
	ck_assert_str_eq(str_attr(p->events[0]->attributes, 2,
				ATTR_EXCEPTION_TYPE), "ECONNREFUSED");
	ck_assert_int_eq(p->events[0]->attributes[1]->value->int_value, 111);
	ck_assert_str_eq(p->events[1]->name, "retry");
	ck_assert_uint_eq(p->events[1]->n_attributes, 0);
	ck_assert_uint_eq(p->n_links, 0);

	ck_assert_ptr_nonnull(p->status);
	ck_assert_int_eq(p->status->code, 2);
	ck_assert_str_eq(p->status->message, "connection refused");
	req_free(req);
}
END_TEST

START_TEST(test_root_span_and_status)
{
	struct otlp_encoder enc = { .cfg = &cfg };
	struct span s[3];
	pb_request *req;
	pb_span **ps;

	span_init(&s[0]);
	span_init(&s[1]);
	s[1].status = SPAN_STATUS_OK;
	/* A message with OK is not sent: only ERROR carries one. */
	s[1].status_message = pool_str(&s[1], "fine");
	s[1].trace_flags = 0;
	span_init(&s[2]);
	s[2].kind = 0;          /* unspecified is never sent */
	memset(s[2].parent_span_id, 0xee, 8);

	req = roundtrip(&enc, s, 3);
	ck_assert_uint_eq(req->n_resource_spans, 1);
	ck_assert_ptr_null(req->resource_spans[0]->resource);
	ck_assert_uint_eq(req->resource_spans[0]->scope_spans[0]->n_spans, 3);
	ps = req->resource_spans[0]->scope_spans[0]->spans;

	ck_assert_uint_eq(ps[0]->parent_span_id.len, 0);
	ck_assert_uint_eq(ps[0]->flags, 0x101);
	ck_assert_ptr_null(ps[0]->status);
	ck_assert_str_eq(ps[0]->trace_state, "");
	ck_assert_int_eq(ps[0]->kind, 2);

	ck_assert_uint_eq(ps[1]->flags, 0x100);
	ck_assert_ptr_nonnull(ps[1]->status);
	ck_assert_int_eq(ps[1]->status->code, 1);
	ck_assert_str_eq(ps[1]->status->message, "");

	ck_assert_int_eq(ps[2]->kind, 1);
	ck_assert_uint_eq(ps[2]->parent_span_id.len, 8);
	ck_assert_uint_eq(ps[2]->flags, 0x101);
	req_free(req);
}
END_TEST

START_TEST(test_invalid_ids_and_empty)
{
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res };
	struct span s[3];
	const uint8_t *buf = NULL;
	size_t len = 99;
	pb_request *req;
	char *json;

	/* No spans: an empty request, zero bytes. */
	ck_assert_int_eq(otlp_encode_protobuf(&enc, NULL, 0, &buf, &len), 0);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(len, 0);
	otlp_release(&enc);
	json = json_of(&enc, NULL, 0);
	ck_assert_str_eq(json, "{}");
	free(json);

	/* All-zero ids would make Tempo reject the whole push. */
	span_init(&s[0]);
	memset(s[0].trace_id, 0, 16);
	span_init(&s[1]);
	memset(s[1].span_id, 0, 8);
	span_init(&s[2]);
	s[2].name = pool_str(&s[2], "kept");
	req = roundtrip(&enc, s, 2);
	ck_assert_uint_eq(req->n_resource_spans, 0);
	req_free(req);
	req = roundtrip(&enc, s, 3);
	ck_assert_str_eq(only_span(req)->name, "kept");
	req_free(req);
}
END_TEST

START_TEST(test_value_length_limit)
{
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res,
				     .render_stack = render_stack };
	struct span s;
	pb_request *req;
	pb_span *p;
	const char *name = "n\xc3\xa4me-not-truncated";

	cfg.attr_value_length_limit = 5;
	span_init(&s);
	s.name = pool_str(&s, name);
	s.stack_depth = 1;
	/* "héllo wörld": 5 characters are 6 bytes. */
	attr_str(&s, "a", "h\xc3\xa9llo w\xc3\xb6rld");
	attr_str(&s, "short", "abc");
	attr_str(&s, "cjk", "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac"
		 "\xa6\xe4\xb8\xb2\xe5\x8f\xa5");
	attr_stack(&s, "stack");
	attr_int(&s, "i", 1234567);
	s.events[0].name = "e";
	s.events[0].nattrs = 1;
	s.events[0].attrs[0] = (struct span_attr){ .key = "msg",
		.type = SPAN_ATTR_STRING, .v.s = pool_str(&s, "0123456789") };
	s.nevents = 1;

	req = roundtrip(&enc, &s, 1);
	p = only_span(req);
	ck_assert_str_eq(p->name, name);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes, "a"),
			 "h\xc3\xa9llo");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes, "short"),
			 "abc");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes, "cjk"),
			 "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac\xa6"
			 "\xe4\xb8\xb2");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes, "stack"),
			 "frame");
	ck_assert_int_eq(find(p->attributes, p->n_attributes, "i")->int_value,
			 1234567);
	ck_assert_str_eq(str_attr(p->events[0]->attributes, 1, "msg"), "01234");
	/* Resource attributes are exempt from limits. */
	ck_assert_str_eq(find(req->resource_spans[0]->resource->attributes, 3,
			      ATTR_PROCESS_COMMAND_ARGS)->array_value->values[1]
			 ->string_value, "--flag");
	req_free(req);
}
END_TEST

START_TEST(test_count_limit)
{
	struct otlp_encoder enc = { .cfg = &cfg, .render_stack = render_empty };
	struct span s;
	pb_request *req;
	pb_span *p;

	cfg.span_attr_count_limit = 3;
	span_init(&s);
	s.dropped_attrs = 2;
	s.stack_depth = 2;
	attr_str(&s, "a", "1");
	/* An unrenderable stack is left out, not counted as dropped. */
	attr_stack(&s, "stack");
	attr_int(&s, "b", 2);
	attr_bool(&s, "c", 0);
	attr_double(&s, "d", 4.0);
	attr_str(&s, "e", "5");

	req = roundtrip(&enc, &s, 1);
	p = only_span(req);
	ck_assert_uint_eq(p->n_attributes, 3);
	ck_assert_str_eq(p->attributes[0]->key, "a");
	ck_assert_str_eq(p->attributes[1]->key, "b");
	ck_assert_str_eq(p->attributes[2]->key, "c");
	ck_assert_int_eq(p->attributes[2]->value->value_case,
			 ANY(BOOL_VALUE));
	ck_assert_int_eq(p->attributes[2]->value->bool_value, 0);
	ck_assert_uint_eq(p->dropped_attributes_count, 4);
	req_free(req);

	/* No renderer at all: the stack attribute is skipped as well. */
	cfg.span_attr_count_limit = 128;
	enc.render_stack = NULL;
	req = roundtrip(&enc, &s, 1);
	p = only_span(req);
	ck_assert_uint_eq(p->n_attributes, 5);
	ck_assert_ptr_null(find(p->attributes, 5, "stack"));
	ck_assert_uint_eq(p->dropped_attributes_count, 2);
	req_free(req);
}
END_TEST

static const pb_any *attr_of(const pb_span *p, const char *key)
{
	return find(p->attributes, p->n_attributes, key);
}

/* OTEL_SEMCONV_STABILITY_OPT_IN: the legacy names come beside the stable
 * ones, with their values; peer names by side; nothing unasked. */
START_TEST(test_legacy_names)
{
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res };
	struct span srv, cli, db;
	pb_request *req;
	pb_span *p;

	span_init(&srv);
	srv.kind = SPAN_KIND_SERVER;
	attr_str(&srv, ATTR_HTTP_REQUEST_METHOD, "GET");
	attr_int(&srv, ATTR_HTTP_RESPONSE_STATUS_CODE, 404);
	attr_str(&srv, ATTR_URL_PATH, "/items");
	attr_str(&srv, ATTR_URL_QUERY, "q=1&sig=REDACTED");
	attr_str(&srv, ATTR_SERVER_ADDRESS, "api.example");
	attr_int(&srv, ATTR_SERVER_PORT, 8080);
	attr_str(&srv, ATTR_CLIENT_ADDRESS, "10.0.0.9");
	span_init(&cli);
	cli.kind = SPAN_KIND_CLIENT;
	attr_str(&cli, ATTR_HTTP_REQUEST_METHOD, "POST");
	attr_str(&cli, ATTR_URL_FULL, "http://b.example:81/x");
	attr_str(&cli, ATTR_SERVER_ADDRESS, "b.example");
	attr_str(&cli, ATTR_NETWORK_PEER_ADDRESS, "10.1.1.1");
	span_init(&db);
	db.kind = SPAN_KIND_CLIENT;
	attr_str(&db, ATTR_DB_SYSTEM_NAME, "postgresql");
	attr_str(&db, ATTR_DB_QUERY_TEXT, "SELECT * FROM t WHERE id = $1");
	attr_str(&db, ATTR_DB_NAMESPACE, "shop");
	attr_str(&db, ATTR_SERVER_ADDRESS, "db.example");

	/* Unset: stable names only. */
	req = roundtrip(&enc, &srv, 1);
	p = only_span(req);
	ck_assert_uint_eq(p->n_attributes, 7);
	ck_assert_ptr_null(attr_of(p, "http.method"));
	req_free(req);

	cfg.semconv_dup = CONFIG_SEMCONV_HTTP_DUP;
	req = roundtrip(&enc, &srv, 1);
	p = only_span(req);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "http.method"), "GET");
	ck_assert_int_eq(attr_of(p, "http.status_code")->int_value, 404);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "http.target"), "/items?q=1&sig=REDACTED");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "net.host.name"), "api.example");
	ck_assert_int_eq(attr_of(p, "net.host.port")->int_value, 8080);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "http.client_ip"), "10.0.0.9");
	ck_assert_ptr_null(attr_of(p, "net.peer.name"));
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  ATTR_URL_PATH), "/items");
	ck_assert_uint_eq(p->n_attributes, 13);
	req_free(req);

	req = roundtrip(&enc, &cli, 1);
	p = only_span(req);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "http.url"), "http://b.example:81/x");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "net.peer.name"), "b.example");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "net.sock.peer.addr"), "10.1.1.1");
	ck_assert_ptr_null(attr_of(p, "http.target"));
	req_free(req);

	/* http/dup alone leaves database spans alone, and the other way. */
	req = roundtrip(&enc, &db, 1);
	p = only_span(req);
	ck_assert_uint_eq(p->n_attributes, 4);
	req_free(req);
	cfg.semconv_dup = CONFIG_SEMCONV_DATABASE_DUP;
	req = roundtrip(&enc, &db, 1);
	p = only_span(req);
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "db.system"), "postgresql");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "db.statement"),
			 "SELECT * FROM t WHERE id = $1");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "db.name"), "shop");
	ck_assert_str_eq(str_attr(p->attributes, p->n_attributes,
				  "net.peer.name"), "db.example");
	ck_assert_uint_eq(p->n_attributes, 8);
	req_free(req);
	req = roundtrip(&enc, &cli, 1);
	ck_assert_uint_eq(only_span(req)->n_attributes, 4);
	req_free(req);

	/* The legacy names count towards the attribute limit. */
	cfg.semconv_dup = CONFIG_SEMCONV_DATABASE_DUP;
	cfg.span_attr_count_limit = 6;
	req = roundtrip(&enc, &db, 1);
	p = only_span(req);
	ck_assert_uint_eq(p->n_attributes, 6);
	ck_assert_uint_eq(p->dropped_attributes_count, 2);
	req_free(req);
}
END_TEST

START_TEST(test_invalid_utf8)
{
	struct otlp_encoder enc = { .cfg = &cfg };
	struct span s;
	pb_request *req;
	pb_span *p;
	char *json;

	span_init(&s);
	s.name = pool_str(&s, "G\xff" "ET");
	attr_str(&s, "bad", "a\xc3" "b\xe2\x82");
	s.attrs[s.nattrs++] = (struct span_attr){ .key = "nul",
		.type = SPAN_ATTR_STRING, .v.s = pool_add(&s, "x\0y", 3) };
	s.status = SPAN_STATUS_ERROR;
	s.status_message = pool_str(&s, "\xed\xa0\x80!");   /* surrogate */
	s.trace_state = pool_str(&s, "k=\x80");

	req = roundtrip(&enc, &s, 1);
	p = only_span(req);
	ck_assert_str_eq(p->name, "G\xef\xbf\xbd" "ET");
	ck_assert_str_eq(str_attr(p->attributes, 2, "bad"),
			 "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	ck_assert_str_eq(str_attr(p->attributes, 2, "nul"), "x\xef\xbf\xbdy");
	ck_assert_str_eq(p->status->message,
			 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
	ck_assert_str_eq(p->trace_state, "k=\xef\xbf\xbd");
	req_free(req);

	json = json_of(&enc, &s, 1);
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"G\xef\xbf\xbd" "ET\""));
	free(json);
}
END_TEST

START_TEST(test_damaged_pool_refs)
{
	struct otlp_encoder enc = { .cfg = &cfg };
	struct span s;
	pb_request *req;
	pb_span *p;

	/* References outside the pool are clamped, never followed. */
	span_init(&s);
	s.name = (struct span_str){ SPAN_STRPOOL - 2, 100 };
	memcpy(s.pool + SPAN_STRPOOL - 2, "ab", 2);
	s.trace_state = (struct span_str){ 60000, 60000 };
	s.nattrs = 200;
	s.nevents = 9;
	req = roundtrip(&enc, &s, 1);
	p = only_span(req);
	ck_assert_str_eq(p->name, "ab");
	ck_assert_str_eq(p->trace_state, "");
	req_free(req);
}
END_TEST

/* Span s encoded alone is the span `in` that a batch holds, byte for
 * byte. */
static void assert_alone_as(struct otlp_encoder *enc, const struct span *s,
			    const pb_span *in)
{
	pb_request *req = roundtrip(enc, s, 1);
	const pb_span *alone = only_span(req);
	size_t size = protobuf_c_message_get_packed_size(&alone->base);
	uint8_t *a = malloc(size + 1), *b = malloc(size + 1);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(protobuf_c_message_get_packed_size(&in->base), size);
	protobuf_c_message_pack(&alone->base, a);
	protobuf_c_message_pack(&in->base, b);
	ck_assert_int_eq(memcmp(a, b, size), 0);
	free(a);
	free(b);
	req_free(req);
}

/* Each span of a batch comes out of it as it comes out alone; returns
 * the batch, which the caller frees. */
static pb_request *assert_each_alone(struct otlp_encoder *enc,
				     const struct span *s, size_t n)
{
	pb_request *req = roundtrip(enc, s, n);
	pb_scope_spans *ss = req->resource_spans[0]->scope_spans[0];
	size_t i, j;

	for (i = 0, j = 0; i < n; i++) {
		if (bytes_all_zero(s[i].trace_id, sizeof(s[i].trace_id)))
			continue;       /* not sent */
		ck_assert_uint_lt(j, ss->n_spans);
		assert_alone_as(enc, &s[i], ss->spans[j++]);
	}
	ck_assert_uint_eq(j, ss->n_spans);
	return req;
}

/*
 * Runs of one statement: each span of the batch is followed by one with
 * the same attributes (another run) and preceded by one that differs from
 * it in one way that the encoder's copy of the attributes a span shares
 * with the span written before it must see; written back to front, each
 * span is held against the one after it.  Then a string past the used
 * pool, which is never copied; then spans that never repeat, past the run
 * of misses after which the encoder looks less often, and spans that do;
 * then spans of a few connections taking turns.
 */
START_TEST(test_repeated_attrs)
{
	enum { VARIANTS = 8, N = 2 * VARIANTS + 2, RUN = 40 };
	struct otlp_encoder enc = { .cfg = &cfg };
	static struct span v[VARIANTS], s[N], d[2], r[RUN];
	const char *key2 = "n2";
	pb_request *req;
	pb_span **out;
	size_t i;

	span_init(&v[0]);
	attr_str(&v[0], ATTR_DB_SYSTEM_NAME, "sqlite");
	attr_str(&v[0], ATTR_DB_QUERY_TEXT, "SELECT ? FROM t");
	attr_int(&v[0], "n", 5);
	attr_bool(&v[0], "b", 1);
	attr_double(&v[0], "d", 0.5);
	for (i = 1; i < VARIANTS; i++)
		v[i] = v[i - 1];
	for (i = 1; i < VARIANTS; i++)          /* a value */
		v[i].attrs[2].v.i = 6;
	for (i = 2; i < VARIANTS; i++)          /* a string's byte */
		v[i].pool[v[i].attrs[1].v.s.off + 7] = '!';
	for (i = 3; i < VARIANTS; i++)          /* a key */
		v[i].attrs[2].key = key2;
	for (i = 4; i < VARIANTS; i++)          /* true all the same */
		v[i].attrs[3].v.b = 2;
	for (i = 5; i < VARIANTS; i++)
		v[i].dropped_attrs = 3;
	for (i = 6; i < VARIANTS; i++)          /* a double */
		v[i].attrs[4].v.d = 0.25;
	for (i = 7; i < VARIANTS; i++)          /* a string's place */
		v[i].attrs[1].v.s.len = 6;
	for (i = 0; i < N - 2; i++) {
		s[i] = v[i / 2];
		s[i].span_id[0] = (uint8_t)(0x20 + i);
		s[i].start_ns += i;
	}
	s[N - 2] = s[N - 3];
	memset(s[N - 2].trace_id, 0, sizeof(s[N - 2].trace_id)); /* not sent */
	s[N - 1] = s[N - 3];
	s[N - 1].stack_depth = 1;               /* the general way */

	req = assert_each_alone(&enc, s, N);
	out = req->resource_spans[0]->scope_spans[0]->spans;
	ck_assert_int_eq(find(out[1]->attributes, 5, "n")->int_value, 5);
	ck_assert_int_eq(find(out[2]->attributes, 5, "n")->int_value, 6);
	ck_assert_str_eq(str_attr(out[3]->attributes, 5, ATTR_DB_QUERY_TEXT),
			 "SELECT ? FROM t");
	ck_assert_str_eq(str_attr(out[4]->attributes, 5, ATTR_DB_QUERY_TEXT),
			 "SELECT ! FROM t");
	ck_assert_ptr_nonnull(find(out[6]->attributes, 5, "n2"));
	ck_assert_uint_eq(out[9]->dropped_attributes_count, 0);
	ck_assert_uint_eq(out[10]->dropped_attributes_count, 3);
	ck_assert_str_eq(str_attr(out[14]->attributes, 5, ATTR_DB_QUERY_TEXT),
			 "SELECT");
	req_free(req);

	/* A string past the used pool (a damaged record): its bytes are the
	 * record's own, not those of the span after it. */
	for (i = 0; i < 2; i++) {
		d[i] = v[0];
		d[i].attrs[1].v.s = (struct span_str){ d[i].pool_used, 3 };
		memcpy(d[i].pool + d[i].pool_used, i ? "xyz" : "abc", 3);
	}
	req = assert_each_alone(&enc, d, 2);
	out = req->resource_spans[0]->scope_spans[0]->spans;
	ck_assert_str_eq(str_attr(out[0]->attributes, 5, ATTR_DB_QUERY_TEXT),
			 "abc");
	req_free(req);

	/* Every span another client port, then the same span over and
	 * over, twice each way round. */
	for (i = 0; i < RUN; i++) {
		r[i] = v[0];
		r[i].span_id[0] = (uint8_t)i;
		if (i % 20 < 10)
			r[i].attrs[2].v.i = (int64_t)i;
	}
	req_free(assert_each_alone(&enc, r, RUN));

	/* The requests of a few keep-alive connections taking turns: three
	 * client ports, then five (more than the encoder holds), then two
	 * of them again. */
	for (i = 0; i < RUN; i++) {
		r[i] = v[0];
		r[i].span_id[0] = (uint8_t)i;
		r[i].attrs[2].v.i = 40000 + (int64_t)(i < 15 ? i % 3 :
						      i < 30 ? i % 5 : i % 2);
	}
	req = assert_each_alone(&enc, r, RUN);
	out = req->resource_spans[0]->scope_spans[0]->spans;
	for (i = 0; i < RUN; i++)
		ck_assert_int_eq(find(out[i]->attributes, 5, "n")->int_value,
				 r[i].attrs[2].v.i);
	req_free(req);
}
END_TEST

/* Text of n bytes: ASCII, or with a two-byte character (é) at its
 * front, or with a NUL (repaired) at its end. */
enum text_kind { TEXT_ASCII, TEXT_UTF8, TEXT_NUL };

static void make_text(char *buf, size_t n, enum text_kind kind)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 26);
	if (kind == TEXT_UTF8 && n >= 2)
		memcpy(buf, "\xc3\xa9", 2);
	if (kind == TEXT_NUL && n >= 1)
		buf[n - 1] = '\0';
	buf[n] = '\0';
}

/*
 * Strings and keys of every length around the encoder's short forms (a
 * KeyValue under 128 bytes; 16 bytes copied at a time; keys of up to 29
 * bytes kept ready): each decodes to what was recorded (repaired where it
 * must be) and protobuf-c packs it into the same bytes.
 */
START_TEST(test_text_lengths)
{
	static const char *const keys[] = {
		"", "k", "a.key.of.twenty.nine.bytes.ok",
		"a.key.of.thirty.bytes.too.long",
		"a.key.far.longer.than.any.semantic.convention",
	};
	static const size_t lens[] = { 0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32,
				       33, 60, 90, 100, 127, 128, 200 };
	struct otlp_encoder enc = { .cfg = &cfg };
	char text[256], want[256];
	struct span s;
	pb_request *req;
	pb_span *p;

	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (int kind = TEXT_ASCII; kind <= TEXT_NUL; kind++) {
			size_t n = lens[l];

			make_text(text, n, kind);
			memcpy(want, text, n + 1);
			if (kind == TEXT_NUL && n >= 1)
				strcpy(want + n - 1, "\xef\xbf\xbd");
			span_init(&s);
			s.name = pool_add(&s, text, n);
			for (size_t k = 0; k < 5; k++) {
				struct span_attr *a = &s.attrs[s.nattrs++];

				a->key = keys[k];
				a->type = SPAN_ATTR_STRING;
				a->v.s = pool_add(&s, text, n);
			}
			attr_int(&s, keys[2], INT64_MIN);
			attr_bool(&s, keys[3], 1);
			attr_double(&s, keys[4], -0.5);

			req = roundtrip(&enc, &s, 1);
			p = only_span(req);
			ck_assert_str_eq(p->name, want);
			ck_assert_uint_eq(p->n_attributes, 8);
			for (size_t k = 0; k < 5; k++) {
				ck_assert_str_eq(p->attributes[k]->key,
						 keys[k]);
				ck_assert_str_eq(p->attributes[k]->value->
						 string_value, want);
			}
			ck_assert_int_eq(p->attributes[5]->value->int_value,
					 INT64_MIN);
			ck_assert_int_eq(p->attributes[6]->value->bool_value,
					 1);
			ck_assert_double_eq(p->attributes[7]->value->
					    double_value, -0.5);
			req_free(req);
		}
	}
}
END_TEST

/*
 * The wire format against the field numbers of the OTLP reference, read
 * back by protoc's schema-less decoder, so a wrong number or wire type in
 * our .proto files cannot hide behind generated code built from them.
 * fixed64/fixed32 fields print as hex, varints as decimal.
 */
START_TEST(test_wire_format)
{
	static const char *const args[] = { "a", "b" };
	static const char want[] =
		"1 {\n"
		"  1 {\n"
		"    1 {\n      1: \"service.name\"\n      2 {\n"
		"        1: \"svc\"\n      }\n    }\n"
		"    1 {\n      1: \"process.command_args\"\n      2 {\n"
		"        5 {\n          1 {\n            1: \"a\"\n"
		"          }\n          1 {\n            1: \"b\"\n"
		"          }\n        }\n      }\n    }\n"
		"  }\n"
		"  2 {\n"
		"    1 {\n      1: \"otelshim\"\n      2: \"" OTELSHIM_VERSION
		"\"\n    }\n"
		"    2 {\n"
		"      1: \"\\001\\001\\001\\001\\001\\001\\001\\001"
		"\\001\\001\\001\\001\\001\\001\\001\\001\"\n"
		"      2: \"\\002\\002\\002\\002\\002\\002\\002\\002\"\n"
		"      3: \"ts=1\"\n"
		"      4: \"\\003\\003\\003\\003\\003\\003\\003\\003\"\n"
		"      5: \"GET\"\n"
		"      6: 2\n"
		"      7: 0x000000000000000a\n"
		"      8: 0x0000000000000014\n"
		"      9 {\n        1: \"k\"\n        2 {\n          1: \"v\"\n"
		"        }\n      }\n"
		"      9 {\n        1: \"n\"\n        2 {\n          3: 7\n"
		"        }\n      }\n"
		"      9 {\n        1: \"d\"\n        2 {\n"
		"          4: 0x3ff8000000000000\n        }\n      }\n"
		"      9 {\n        1: \"t\"\n        2 {\n          2: 1\n"
		"        }\n      }\n"
		"      10: 1\n"
		"      11 {\n        1: 0x000000000000000f\n"
		"        2: \"ev\"\n      }\n"
		"      15 {\n        2: \"boom\"\n        3: 2\n      }\n"
		"      16: 0x00000301\n"
		"    }\n"
		"  }\n"
		"}\n";
	struct otlp_encoder enc = { .cfg = &cfg, .res = &res };
	struct span s;
	char path[] = "/tmp/test_otlp_XXXXXX", cmd[128], got[4096];
	const uint8_t *buf;
	size_t len, n;
	FILE *f;
	int fd;

	if (system("protoc-c --version >/dev/null 2>&1") != 0)
		return;
	res.attrs[1] = (struct resource_attr){ .key = ATTR_PROCESS_COMMAND_ARGS,
		.type = RESOURCE_STRING_ARRAY, .arr = args, .narr = 2 };
	res.nattrs = 2;
	memset(&s, 0, sizeof(s));
	memset(s.trace_id, 1, 16);
	memset(s.span_id, 2, 8);
	memset(s.parent_span_id, 3, 8);
	s.trace_flags = 1;
	s.parent_is_remote = 1;
	s.kind = SPAN_KIND_SERVER;
	s.status = SPAN_STATUS_ERROR;
	s.start_ns = 10;
	s.end_ns = 20;
	s.name = pool_str(&s, "GET");
	s.status_message = pool_str(&s, "boom");
	s.trace_state = pool_str(&s, "ts=1");
	attr_str(&s, "k", "v");
	attr_int(&s, "n", 7);
	attr_double(&s, "d", 1.5);
	attr_bool(&s, "t", 1);
	s.dropped_attrs = 1;
	s.events[0].time_ns = 15;
	s.events[0].name = "ev";
	s.nevents = 1;

	ck_assert_int_eq(otlp_encode_protobuf(&enc, &s, 1, &buf, &len), 0);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	otlp_release(&enc);
	snprintf(cmd, sizeof(cmd), "protoc-c --decode_raw < %s", path);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	unlink(path);
	ck_assert_str_eq(got, want);
}
END_TEST

/* ------------------------------------------------------------ UTF-8 */

static void check_repair(const char *in, size_t len, size_t max,
			 const char *want)
{
	char out[128];
	size_t n = utf8_repair(in, len, max, out, sizeof(out));

	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(utf8_clean(out, n), 1);
}

#define FFFD "\xef\xbf\xbd"

START_TEST(test_utf8_repair)
{
	check_repair("plain", 5, 0, "plain");
	check_repair("", 0, 0, "");
	/* Maximal subparts (Unicode 3.9, table 3-8). */
	check_repair("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
		     13, 0, "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
	check_repair("\xc0\xaf", 2, 0, FFFD FFFD);          /* overlong */
	check_repair("\xe0\x80\xaf", 3, 0, FFFD FFFD FFFD);
	check_repair("\xed\xa0\x80", 3, 0, FFFD FFFD FFFD); /* surrogate */
	check_repair("\xf4\x90\x80\x80", 4, 0, FFFD FFFD FFFD FFFD);
	check_repair("\xf5\xff", 2, 0, FFFD FFFD);
	check_repair("\xf0\x9f\x98", 3, 0, FFFD);           /* cut short */
	check_repair("\xf0\x9f\x98\x80", 4, 0, "\xf0\x9f\x98\x80");
	check_repair("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7, 0,
		     "\xef\xbf\xbf\xf4\x8f\xbf\xbf");
	check_repair("a\0b", 3, 0, "a" FFFD "b");
	/* Character limit. */
	check_repair("\xf0\x9f\x98\x80xyz", 7, 2, "\xf0\x9f\x98\x80x");
	check_repair("ab\xffzz", 5, 3, "ab" FFFD);
	check_repair("abc", 3, 3, "abc");
}
END_TEST

START_TEST(test_utf8_capacity)
{
	char out[6];
	size_t n;

	/* Whole characters only; the return value is the full length. */
	n = utf8_repair("ab\xc3\xa9\xc3\xa9", 6, 0, out, sizeof(out));
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(out, "ab\xc3\xa9");
	n = utf8_repair("\xff\xff", 2, 0, out, 4);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(out, FFFD);
	ck_assert_uint_eq(utf8_repair("\xff", 1, 0, NULL, 0), 3);
	n = utf8_repair("abc", 3, 0, out, 1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(utf8_clean("ok\xc3\xa9", 4), 1);
	ck_assert_int_eq(utf8_clean("o\0k", 3), 0);
	ck_assert_int_eq(utf8_clean("\xc3", 1), 0);
}
END_TEST

/* The copy lands exactly at [end - n, end) and says whether the bytes
 * were ASCII without NUL, whatever n; it may scribble up to 15 bytes in
 * front, never after. */
START_TEST(test_utf8_copy_ascii_before)
{
	char src[16 + 80];
	uint8_t dst[16 + 80 + 8];

	for (size_t n = 0; n <= 80; n++) {
		for (size_t bad = 0; bad <= n + 1; bad++) {
			char *s = src + 16;
			uint8_t *end = dst + 16 + n;
			int ret;

			memset(src, 0x80, sizeof(src));  /* around: not ASCII */
			memset(dst, 0x55, sizeof(dst));
			for (size_t i = 0; i < n; i++)
				s[i] = (char)('A' + i % 26);
			/* bad == n + 1: all ASCII; else a NUL or a high
			 * byte at bad (or none when n == bad). */
			if (bad < n)
				s[bad] = bad % 2 ? '\0' : (char)0xc3;
			ret = utf8_copy_ascii_before(end, s, n);
			ck_assert_int_eq(ret, bad >= n);
			ck_assert_mem_eq(end - n, s, n);
			for (size_t i = 0; i < 8; i++)
				ck_assert_uint_eq(end[i], 0x55);
		}
	}
}
END_TEST

static Suite *otlp_suite(void)
{
	Suite *s = suite_create("otlp");
	TCase *tc = tcase_create("protobuf");
	TCase *tu = tcase_create("utf8");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_full_span);
	tcase_add_test(tc, test_root_span_and_status);
	tcase_add_test(tc, test_invalid_ids_and_empty);
	tcase_add_test(tc, test_value_length_limit);
	tcase_add_test(tc, test_count_limit);
	tcase_add_test(tc, test_legacy_names);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_damaged_pool_refs);
	tcase_add_test(tc, test_repeated_attrs);
	tcase_add_test(tc, test_text_lengths);
	tcase_add_test(tc, test_wire_format);
	suite_add_tcase(s, tc);

	tcase_add_test(tu, test_utf8_repair);
	tcase_add_test(tu, test_utf8_capacity);
	tcase_add_test(tu, test_utf8_copy_ascii_before);
	suite_add_tcase(s, tu);
	return s;
}

int main(void)
{
	return unit_run(otlp_suite());
}
