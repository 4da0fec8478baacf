/*
 * What OTLP/gRPC adds to an OTLP/HTTP exchange (the gRPC over HTTP/2
 * protocol): the five-byte message prefix, the trailers' grpc-status,
 * grpc-message and grpc-status-details-bin, and which statuses the OTLP
 * specification lets an exporter retry.  The HTTP/2 itself is libcurl's
 * (send_curl.c).  Pure functions; exporter thread.
 */
#ifndef OTELSHIM_GRPC_H
#define OTELSHIM_GRPC_H

#include <stddef.h>
#include <stdint.h>

#define GRPC_PREFIX 5

/* gRPC status codes the exporter tells apart. */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
};

/* Writes the prefix of a message of len bytes (compressed: its
 * grpc-encoding applies) to out. */
void grpc_prefix(uint8_t out[GRPC_PREFIX], int compressed, size_t len);

/* The one message of a unary response body: 0 with (*msg, *n), or -1
 * when the body is not one uncompressed message. */
int grpc_message(const uint8_t *body, size_t len, const uint8_t **msg,
		 size_t *n);

/* Whether an export that ended with code may be sent again (the OTLP
 * specification: RESOURCE_EXHAUSTED only when the server said when). */
int grpc_retryable(int code, int has_retry_info);

/* The name of a status code ("UNAVAILABLE"), or "UNKNOWN". */
const char *grpc_code_name(int code);

/*
 * grpc-status-details-bin (base64, padding optional) as a google.rpc.Status:
 * the delay of a google.rpc.RetryInfo among its details, in ns.  0 with
 * *delay_ns, or -1 when there is none.
 */
int grpc_retry_delay(const char *b64, size_t n, uint64_t *delay_ns);

/* grpc-message, percent-encoded on the wire, decoded into (out, cap) as
 * printable text; returns the length written. */
size_t grpc_message_text(const char *s, size_t n, char *out, size_t cap);

#endif
