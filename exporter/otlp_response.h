/*
 * Everything otelshim reads back from an OTLP/HTTP server: the
 * ExportTraceServiceResponse of an accepted export (partial success, as
 * protobuf or as OTLP/JSON) and the message in the body of a refused one
 * (google.rpc.Status as protobuf or JSON, else whatever text came).  A
 * server is not trusted: every reader is bounded, never fails open and
 * hands back text fit for one log line.  Exporter thread only.
 */
#ifndef OTELSHIM_OTLP_RESPONSE_H
#define OTELSHIM_OTLP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads an ExportTraceServiceResponse body: *rejected gets
 * partial_success.rejected_spans and (msg, cap) its error_message, cut to
 * fit (cap may be 0).  A response without partial success is a full
 * success: 0 rejected, empty message.  Returns 0, or -EINVAL if the body
 * is not a response.
 */
typedef int (*otlp_response_fn)(const uint8_t *body, size_t len,
				int64_t *rejected, char *msg, size_t cap);

/* otlp_response_fn for protobuf: whole UTF-8 characters only, control
 * characters as spaces. */
int otlp_response_protobuf(const uint8_t *body, size_t len,
			   int64_t *rejected, char *msg, size_t cap);

/* otlp_response_fn for OTLP/JSON, best effort: partialSuccess (or
 * partial_success) with rejectedSpans as a number or a string, and
 * errorMessage; \u escapes outside ASCII become '?'. */
int otlp_response_json(const uint8_t *body, size_t len, int64_t *rejected,
		       char *msg, size_t cap);

/*
 * The message of an error body, copied into (msg, cap) as printable text:
 * google.rpc.Status field 2 for protobuf, "message" for JSON (json = 1),
 * else the body's printable prefix.  Returns the length written.
 */
size_t otlp_response_error(const uint8_t *body, size_t len, int json,
			   char *msg, size_t cap);

/*
 * Copies len bytes into (out, cap) as one printable ASCII log line: line
 * breaks and tabs as spaces, other bytes outside ASCII's printable range
 * as '?', trailing spaces dropped, NUL-terminated.  s and out may be the
 * same buffer.  Returns the length written.
 */
size_t otlp_response_printable(const uint8_t *s, size_t len, char *out,
			       size_t cap);

#endif
