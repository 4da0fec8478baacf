/*
 * Fuzz target for what the transport reads from the network: Retry-After
 * values, OTLP/JSON responses and error bodies (protobuf, JSON or text).
 * A backend is not trusted: none of these may crash, overrun or leave an
 * unterminated message.
 * links: exporter/transport.c
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "exporter/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[64];
	uint64_t delay = 0;
	int64_t rejected = 0;
	size_t n;

	if (transport_parse_retry_after((const char *)data, size,
					1700000000, &delay) == 0)
		assert(delay <= 86400ULL * 1000000000ULL);
	memset(msg, 'x', sizeof(msg));
	if (transport_decode_json_response(data, size, &rejected, msg,
					   sizeof(msg)) == 0)
		assert(memchr(msg, 0, sizeof(msg)) != NULL);
	for (int json = 0; json <= 1; json++) {
		memset(msg, 'x', sizeof(msg));
		n = transport_error_message(data, size, json, msg,
					    sizeof(msg));
		assert(n < sizeof(msg));
		assert(msg[n] == 0);
	}
	return 0;
}
