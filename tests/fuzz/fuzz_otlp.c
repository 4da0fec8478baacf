/*
 * Fuzz target for the OTLP encoder: span records filled from the input —
 * ids, flags, kinds and statuses of any value, attribute and event counts
 * past their arrays, pooled strings whose offsets and lengths point
 * anywhere, invalid UTF-8 — are encoded as protobuf and as JSON.  The
 * protobuf must decode with protobuf-c, and protobuf-c must pack what it
 * decoded into the very same bytes; every string in it must be valid
 * UTF-8.  A span may be made like the one before it (other ids, a few
 * values or pool bytes changed), as runs of one statement are, and each
 * span must come out of the batch as it comes out alone: the encoder
 * copies the attributes a span shares with the one it wrote before.
 * links: exporter/otlp.c exporter/legacy.c exporter/otlp_json.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "exporter/otlp.h"
#include "exporter/otlp_pb.h"

#define REQ_DESC \
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor

#define MAX_SPANS 3

/* Keys and event names are the library's own constants, well-formed text;
 * what the program's traffic fills is the pool.  Among them keys of the
 * lengths around what the encoder's key cache keeps ready (29 bytes)
 * and a NULL one. */
static const char *const keys[] = {
	"http.request.method", "url.path", "db.query.text", "", "k",
	"server.port", "error.type", "code.stacktrace", "url.query",
	"db.system.name", "server.address",
	"a.key.of.twenty.nine.bytes.ok", "a.key.of.thirty.bytes.too.long",
	"a.key.far.longer.than.any.that.the.semantic.conventions.name",
	NULL,
};

/* Reads the input front to back; past its end, zeros. */
struct input {
	const uint8_t *p;
	size_t left;
};

static void take(struct input *in, void *out, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

static uint8_t byte(struct input *in)
{
	uint8_t b;

	take(in, &b, 1);
	return b;
}

static void fill_attr(struct input *in, struct span_attr *a)
{
	a->key = keys[byte(in) % (sizeof(keys) / sizeof(keys[0]))];
	a->type = byte(in) % 7;         /* one past the last type too */
	take(in, &a->v, sizeof(a->v));
}

static void fill_span(struct input *in, struct span *s)
{
	memset(s, 0, sizeof(*s));
	/* Everything before the attributes is plain data: ids, flags,
	 * counts, times and pool references, all of any value. */
	take(in, s, offsetof(struct span, attrs));
	for (int i = 0; i < SPAN_MAX_ATTRS && i < s->nattrs; i++)
		fill_attr(in, &s->attrs[i]);
	for (int e = 0; e < SPAN_MAX_EVENTS && e < s->nevents; e++) {
		struct span_event *ev = &s->events[e];

		take(in, &ev->time_ns, sizeof(ev->time_ns));
		ev->name = keys[byte(in) % (sizeof(keys) / sizeof(keys[0]))];
		ev->nattrs = byte(in);
		for (int i = 0; i < SPAN_MAX_EVENT_ATTRS && i < ev->nattrs; i++)
			fill_attr(in, &ev->attrs[i]);
	}
	take(in, s->pool, byte(in) * 8u % (SPAN_STRPOOL + 1));
}

/* A span like prev, as the next run of a statement is: other ids and
 * times, and a few of its attribute values or pool bytes changed. */
static void fill_like(struct input *in, struct span *s,
		      const struct span *prev)
{
	*s = *prev;
	take(in, s->span_id, sizeof(s->span_id));
	take(in, &s->start_ns, sizeof(s->start_ns));
	for (int k = byte(in) % 4; k > 0; k--) {
		if (byte(in) & 1) {
			struct span_attr *a = &s->attrs[byte(in) % SPAN_MAX_ATTRS];

			take(in, &a->v, sizeof(a->v));
		} else {
			size_t at = ((size_t)byte(in) << 8 | byte(in)) %
				    SPAN_STRPOOL;

			s->pool[at] = (char)byte(in);
		}
	}
}

/* The spans of a request, in order. */
static pb_span **spans_of(pb_request *req, size_t *n)
{
	pb_scope_spans *ss;

	*n = 0;
	if (req->n_resource_spans == 0)
		return NULL;
	ss = req->resource_spans[0]->scope_spans[0];
	*n = ss->n_spans;
	return ss->spans;
}

/* Span s, encoded alone, is the Span `in` the batch holds; 0 when s is not
 * sent at all. */
static int check_alone(struct otlp_encoder *enc, const struct span *s,
		       const pb_span *in)
{
	const uint8_t *pb;
	uint8_t *a, *b;
	size_t len, n, size;
	pb_request *req;
	pb_span **sp;

	assert(otlp_encode_protobuf(enc, s, 1, &pb, &len) == 0);
	req = (pb_request *)protobuf_c_message_unpack(&REQ_DESC, NULL, len, pb);
	assert(req);
	sp = spans_of(req, &n);
	if (n == 1) {
		assert(in);
		size = protobuf_c_message_get_packed_size(&sp[0]->base);
		assert(protobuf_c_message_get_packed_size(&in->base) == size);
		a = malloc(size + 1);
		b = malloc(size + 1);
		protobuf_c_message_pack(&sp[0]->base, a);
		protobuf_c_message_pack(&in->base, b);
		assert(memcmp(a, b, size) == 0);
		free(a);
		free(b);
	}
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return n == 1;
}

static void check_strings(pb_kv **kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert(utf8_clean(kvs[i]->key, strlen(kvs[i]->key)));
		if (kvs[i]->value->value_case == ANY_CASE(STRING_VALUE))
			assert(utf8_clean(kvs[i]->value->string_value,
					  strlen(kvs[i]->value->string_value)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct span spans[MAX_SPANS];
	struct input in = { data, size };
	struct config cfg;
	struct otlp_encoder enc = { .cfg = &cfg };
	const uint8_t *pb;
	uint8_t *repacked;
	pb_request *req;
	size_t len, n, i, j;
	char *json;

	memset(&cfg, 0, sizeof(cfg));
	cfg.attr_value_length_limit = byte(&in) % 64;
	cfg.span_attr_count_limit = byte(&in) % 32;
	cfg.semconv_dup = byte(&in) % 4;        /* CONFIG_SEMCONV_* */
	n = byte(&in) % (MAX_SPANS + 1);
	for (i = 0; i < n; i++) {
		if (i > 0 && byte(&in) % 2)
			fill_like(&in, &spans[i], &spans[i - 1]);
		else
			fill_span(&in, &spans[i]);
	}

	assert(otlp_encode_protobuf(&enc, spans, n, &pb, &len) == 0);
	req = (pb_request *)protobuf_c_message_unpack(&REQ_DESC, NULL, len, pb);
	assert(req);
	repacked = malloc(len + 1);
	assert(protobuf_c_message_pack(&req->base, repacked) == len);
	assert(memcmp(repacked, pb, len) == 0);
	free(repacked);
	for (i = 0; i < req->n_resource_spans; i++) {
		pb_scope_spans *ss = req->resource_spans[i]->scope_spans[0];

		for (j = 0; j < ss->n_spans; j++) {
			pb_span *sp = ss->spans[j];

			assert(utf8_clean(sp->name, strlen(sp->name)));
			assert(utf8_clean(sp->trace_state,
					  strlen(sp->trace_state)));
			check_strings(sp->attributes, sp->n_attributes);
			for (size_t e = 0; e < sp->n_events; e++)
				check_strings(sp->events[e]->attributes,
					      sp->events[e]->n_attributes);
		}
	}
	{
		size_t nsent;
		pb_span **sent = spans_of(req, &nsent);

		for (i = 0, j = 0; i < n; i++)
			j += check_alone(&enc, &spans[i],
					 j < nsent ? sent[j] : NULL);
		assert(j == nsent);
	}
	protobuf_c_message_free_unpacked(&req->base, NULL);

	assert(otlp_encode_json(&enc, spans, n, &json, &len) == 0);
	assert(strlen(json) == len);
	free(json);
	otlp_release(&enc);
	return 0;
}
