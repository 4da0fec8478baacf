/*
 * Span records -> OTLP.  Two encodings of one ExportTraceServiceRequest:
 * protobuf (for OTLP/HTTP) and OTLP/JSON (for the console and file
 * exporters and OTLP/HTTP JSON).  Runs on the exporter thread only.
 * Invalid UTF-8 in any string is repaired (U+FFFD) before it is encoded,
 * and string values are cut to cfg->attr_value_length_limit.  What the
 * server answers is read by otlp_response.h.
 */
#ifndef OTELSHIM_OTLP_H
#define OTELSHIM_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "pipeline/span.h"
#include "resource.h"

/* Renders a record's captured stack (SPAN_ATTR_STACK) as text into
 * (buf, cap); returns the length written.  NULL: stacks are left out. */
typedef size_t (*otlp_stack_fn)(const struct span *s, char *buf, size_t cap);

/* Where in the program a captured stack points: the code.* attributes. */
struct otlp_code_site {
	char function[256];             /* code.function.name, "" unknown */
	char file[512];                 /* code.file.path, "" unknown */
	int64_t line;                   /* code.line.number, 0 unknown */
};

/* Fills *site for a record whose captured stack is sent as an attribute
 * (SPAN_ATTR_STACK on the span); returns 1 if there is a site to name.
 * NULL: no code.* attributes. */
typedef int (*otlp_site_fn)(const struct span *s,
			    struct otlp_code_site *site);

#define OTLP_KEY_CACHE 128
#define OTLP_KEY_SLOT  32

struct otlp_encoder {
	const struct config *cfg;
	const struct resource *res;
	otlp_stack_fn render_stack;     /* may be NULL */
	otlp_site_fn code_site;         /* may be NULL */
	/* Memory kept from one call to the next, so a busy exporter does not
	 * hand pages back to the kernel and fault them in again for every
	 * batch; otlp_release() lets go of it.  Zero-initialise. */
	uint8_t *pb_buf;                /* the output, written from its end */
	size_t pb_cap;
	char *scratch;                  /* text being repaired */
	size_t scratch_cap;
	char *stack_text;               /* a stack being rendered */
	/* Attribute keys seen, by address, each with its KeyValue key
	 * field ready to copy (otlp.c). */
	const char *key_ptr[OTLP_KEY_CACHE];
	uint8_t key_field[OTLP_KEY_CACHE][OTLP_KEY_SLOT];
	/* Spans in a row whose attributes were none of the last few
	 * written, and spans to write before looking again (otlp.c). */
	unsigned copy_misses, copy_skip;
};

/*
 * Encodes n spans as one ExportTraceServiceRequest in protobuf.  On
 * success *out points to *len bytes the encoder owns, good until its next
 * call or otlp_release(); returns 0, or -ENOMEM.
 */
int otlp_encode_protobuf(struct otlp_encoder *enc, const struct span *spans,
			 size_t n, const uint8_t **out, size_t *len);

/*
 * The same request as OTLP/JSON (hex ids, integer enums, lowerCamelCase
 * keys, 64-bit integers as strings), one object, no trailing newline.
 * On success *out is a malloc()ed buffer of *len bytes that the caller
 * frees; returns 0, or -ENOMEM.
 */
int otlp_encode_json(struct otlp_encoder *enc, const struct span *spans,
		     size_t n, char **out, size_t *len);

/* Frees the memory the encoder keeps between calls (the last protobuf
 * output included); the encoder stays usable. */
void otlp_release(struct otlp_encoder *enc);

#endif
