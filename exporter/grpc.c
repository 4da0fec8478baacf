/*
 * OTLP/gRPC framing and status (grpc.h).
 */
#include <string.h>

#include "common/text.h"
#include "grpc.h"
#include "otlp_response.h"
#include "pbwire.h"

#define RETRY_INFO_TYPE "type.googleapis.com/google.rpc.RetryInfo"
#define DETAILS_MAX 1024        /* decoded grpc-status-details-bin kept */

void grpc_prefix(uint8_t out[GRPC_PREFIX], int compressed, size_t len)
{
	out[0] = compressed ? 1 : 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int grpc_message(const uint8_t *body, size_t len, const uint8_t **msg,
		 size_t *n)
{
	size_t m;

	if (len < GRPC_PREFIX || body[0] != 0)
		return -1;
	m = (size_t)body[1] << 24 | (size_t)body[2] << 16 |
	    (size_t)body[3] << 8 | body[4];
	if (m != len - GRPC_PREFIX)
		return -1;
	*msg = body + GRPC_PREFIX;
	*n = m;
	return 0;
}

int grpc_retryable(int code, int has_retry_info)
{
	switch (code) {
	case GRPC_CANCELLED:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_ABORTED:
	case GRPC_OUT_OF_RANGE:
	case GRPC_UNAVAILABLE:
	case GRPC_DATA_LOSS:
		return 1;
	case GRPC_RESOURCE_EXHAUSTED:
		return has_retry_info;
	default:
		return 0;
	}
}

const char *grpc_code_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
		return "UNKNOWN";
	return names[code];
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe base64, padding optional; bytes written, or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t i, k = 0;
	int bits = 0;

	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		int v = b64_value(s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (k >= cap)
				return -1;
			out[k++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)k;
}

/* google.protobuf.Duration in ns; -1 when malformed. */
static int duration_ns(const uint8_t *p, size_t len, uint64_t *ns)
{
	const uint8_t *end = p + len;
	struct pbwire_field f;
	uint64_t sec = 0, nanos = 0;
	int rc;

	while ((rc = pbwire_next(&p, end, &f)) > 0) {
		if (f.wire != 0)
			continue;
		if (f.number == 1)
			sec = f.value;
		else if (f.number == 2)
			nanos = f.value;
	}
	if (rc < 0 || sec > 86400 * 365 || nanos >= 1000000000)
		return -1;
	*ns = sec * 1000000000ull + nanos;
	return 0;
}

/* google.protobuf.Any holding a RetryInfo: its retry_delay. */
static int any_retry_delay(const uint8_t *p, size_t len, uint64_t *ns)
{
	const uint8_t *end = p + len, *value = NULL;
	struct pbwire_field f;
	size_t vlen = 0;
	int is_retry = 0, rc;

	while ((rc = pbwire_next(&p, end, &f)) > 0) {
		if (f.wire != 2)
			continue;
		if (f.number == 1)
			is_retry = f.value == sizeof(RETRY_INFO_TYPE) - 1 &&
				   memcmp(f.bytes, RETRY_INFO_TYPE,
					  (size_t)f.value) == 0;
		else if (f.number == 2) {
			value = f.bytes;
			vlen = (size_t)f.value;
		}
	}
	if (rc < 0 || !is_retry || !value)
		return -1;
	/* RetryInfo: field 1, retry_delay. */
	p = value;
	end = value + vlen;
	while ((rc = pbwire_next(&p, end, &f)) > 0)
		if (f.number == 1 && f.wire == 2)
			return duration_ns(f.bytes, (size_t)f.value, ns);
	return -1;
}

int grpc_retry_delay(const char *b64, size_t n, uint64_t *delay_ns)
{
	uint8_t buf[DETAILS_MAX];
	const uint8_t *p = buf, *end;
	struct pbwire_field f;
	long len = b64_decode(b64, n, buf, sizeof(buf));

	if (len < 0)
		return -1;
	end = buf + len;
	/* google.rpc.Status: field 3, the details. */
	while (pbwire_next(&p, end, &f) > 0)
		if (f.number == 3 && f.wire == 2 &&
		    any_retry_delay(f.bytes, (size_t)f.value, delay_ns) == 0)
			return 0;
	return -1;
}

size_t grpc_message_text(const char *s, size_t n, char *out, size_t cap)
{
	uint8_t buf[256];
	size_t i, k = 0;

	for (i = 0; i < n && k < sizeof(buf); i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = hex_value(s[i + 1])) >= 0 &&
		    (lo = hex_value(s[i + 2])) >= 0) {
			buf[k++] = (uint8_t)(hi << 4 | lo);
			i += 2;
		} else {
			buf[k++] = (uint8_t)s[i];
		}
	}
	return otlp_response_printable(buf, k, out, cap);
}
