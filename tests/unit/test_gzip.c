/*
 * gzip of request bodies: what gzip_encode writes inflates back to the
 * input, for empty, small, large and incompressible bodies, within
 * gzip_bound; a buffer too small is an error, not a short member.
 * links: exporter/gzip.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/gzip.h"
#include "unit.h"
#include "zbody.h"

START_TEST(gzip_round_trip)
{
	static const size_t sizes[] = { 0, 1, 100, 65536, 1000003 };
	size_t k;

	for (k = 0; k < NELEM(sizes); k++) {
		size_t len = sizes[k], cap = gzip_bound(len);
		uint8_t *in = sample_body(len + 1);
		uint8_t *z = malloc(cap), *out = malloc(len + 16);
		ssize_t n = gzip_encode(in, len, z, cap);

		ck_assert_int_gt(n, 10);
		ck_assert_int_eq(z[0], 0x1f);
		ck_assert_int_eq(z[1], 0x8b);
		ck_assert_uint_eq(gunzip(z, (size_t)n, out, len + 16), len);
		ck_assert_int_eq(memcmp(in, out, len), 0);
		free(in);
		free(z);
		free(out);
	}
	{
		uint8_t *in = sample_body(4096), z[16];

		ck_assert_int_eq(gzip_encode(in, 4096, z, sizeof(z)),
				 -ENOSPC);
		free(in);
	}
	/* Incompressible input still fits the bound. */
	{
		size_t len = 200000, i;
		uint8_t *in = malloc(len), *z, *out = malloc(len);
		uint64_t x = 99;
		ssize_t n;

		for (i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			in[i] = (uint8_t)(x >> 56);
		}
		z = malloc(gzip_bound(len));
		n = gzip_encode(in, len, z, gzip_bound(len));
		ck_assert_int_gt(n, (ssize_t)len);
		ck_assert_uint_eq(gunzip(z, (size_t)n, out, len), len);
		ck_assert_int_eq(memcmp(in, out, len), 0);
		free(in);
		free(z);
		free(out);
	}
}
END_TEST

UNIT_MAIN("gzip", gzip_round_trip)
