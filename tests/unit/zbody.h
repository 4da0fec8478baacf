/*
 * Request bodies for the tests of gzip and of the transport: a sample
 * body, and gunzip to check what was compressed or sent.
 */
#ifndef OTELSHIM_ZBODY_H
#define OTELSHIM_ZBODY_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* Inflates the whole gzip member (in, len) into (out, cap); returns the
 * length it had. */
static inline size_t gunzip(const uint8_t *in, size_t len, uint8_t *out,
			    size_t cap)
{
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	rc = inflate(&zs, Z_FINISH);
	ck_assert_int_eq(rc, Z_STREAM_END);
	ck_assert_uint_eq(zs.avail_in, 0);
	inflateEnd(&zs);
	return zs.total_out;
}

/* A malloc()ed body of len bytes that compresses about as span data
 * does. */
static inline uint8_t *sample_body(size_t len)
{
	uint8_t *b = malloc(len);
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((i % 61) < 40 ? 'a' + i % 26 : (i * 7) >> 3);
	return b;
}

#endif
