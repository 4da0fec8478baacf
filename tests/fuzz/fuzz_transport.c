/*
 * Fuzz target for what the transport reads from the network: Retry-After
 * values (httpdate.c), OTLP responses as JSON and as protobuf, and error
 * bodies as protobuf, JSON or text (otlp_response.c); gRPC's response
 * message, grpc-message and grpc-status-details-bin (grpc.c).  A backend is not
 * trusted: none of these may crash, overrun or leave an unterminated
 * message.
 * links: exporter/httpdate.c exporter/otlp_response.c exporter/grpc.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "exporter/grpc.h"
#include "exporter/httpdate.h"
#include "exporter/otlp_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const otlp_response_fn decoders[] = {
		otlp_response_json, otlp_response_protobuf,
	};
	char msg[64];
	uint64_t delay = 0;
	int64_t rejected = 0;
	size_t n;

	if (httpdate_retry_after((const char *)data, size, 1700000000,
				 &delay) == 0)
		assert(delay <= HTTPDATE_MAX_DELAY_S * 1000000000ULL);
	for (n = 0; n < sizeof(decoders) / sizeof(decoders[0]); n++) {
		memset(msg, 'x', sizeof(msg));
		if (decoders[n](data, size, &rejected, msg, sizeof(msg)) == 0)
			assert(memchr(msg, 0, sizeof(msg)) != NULL);
	}
	{
		const uint8_t *m;
		size_t mlen;

		if (grpc_message(data, size, &m, &mlen) == 0)
			assert(m + mlen == data + size);
		if (grpc_retry_delay((const char *)data, size, &delay) == 0)
			assert(delay <= 86400ULL * 366 * 1000000000ULL);
		memset(msg, 'x', sizeof(msg));
		n = grpc_message_text((const char *)data, size, msg,
				      sizeof(msg));
		assert(n < sizeof(msg) && msg[n] == 0);
	}
	for (int json = 0; json <= 1; json++) {
		memset(msg, 'x', sizeof(msg));
		n = otlp_response_error(data, size, json, msg, sizeof(msg));
		assert(n < sizeof(msg));
		assert(msg[n] == 0);
	}
	return 0;
}
