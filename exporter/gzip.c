/*
 * gzip through zlib (see gzip.h): one deflate call with a gzip wrapper,
 * at the fastest level.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include "gzip.h"

size_t gzip_bound(size_t len)
{
	/* zlib's deflateBound for the default memLevel/windowBits, plus
	 * the 18 bytes of gzip header and trailer, plus slack. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 18 + 64;
}

ssize_t gzip_encode(const void *in, size_t len, void *buf, size_t cap)
{
	z_stream zs;
	ssize_t ret;
	int rc;

	if (len > UINT_MAX || cap > UINT_MAX)
		return -EFBIG;
	memset(&zs, 0, sizeof(zs));
	/* Level 1: the exporter shares the CPU with the application, and
	 * span data compresses well even at the fastest level.  windowBits
	 * 15 + 16 asks zlib for a gzip wrapper. */
	rc = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
			  Z_DEFAULT_STRATEGY);
	if (rc != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	rc = deflate(&zs, Z_FINISH);
	if (rc == Z_STREAM_END)
		ret = (ssize_t)zs.total_out;
	else if (rc == Z_OK || rc == Z_BUF_ERROR)
		ret = -ENOSPC;
	else
		ret = -ENOMEM;
	deflateEnd(&zs);
	return ret;
}
