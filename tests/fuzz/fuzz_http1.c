/*
 * Fuzz target for the built-in HTTP/1.1 client's response parser
 * (http1_parse): a backend is not trusted.  The input is fed as the
 * network would, in slices whose sizes come from its first byte, then the
 * peer closes; the parser must never read or write outside the buffer,
 * and a complete response's body must lie inside what was received.
 * links: exporter/http1.c
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_parser p;
	struct http1_response r;
	size_t have = 0, off = 1, step;
	uint8_t *buf;
	int rc = 0;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 64) + 1;
	buf = malloc(size + 1);
	http1_parser_init(&p);
	memset(&r, 0, sizeof(r));
	while (rc == 0) {
		size_t n = size - off < step ? size - off : step;

		memcpy(buf + have, data + off, n);
		have += n;
		off += n;
		rc = http1_parse(&p, buf, &have, off == size && n == 0, &r);
		assert(have <= size);
	}
	if (rc == 1) {
		assert(r.body >= buf && r.body + r.len <= buf + have);
		assert(r.status >= 200 && r.status <= 999);
		assert(memchr(r.content_type, 0, sizeof(r.content_type)));
		assert(memchr(r.retry_after, 0, sizeof(r.retry_after)));
	}
	free(buf);
	return 0;
}
