/*
 * Scatter lists after a short write: the one way to move past what the
 * kernel took.
 */
#ifndef OTELSHIM_IOV_H
#define OTELSHIM_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Drops the first done bytes from the n entries at *iov: whole entries
 * are skipped, a partly written one is trimmed. */
static inline void iov_advance(struct iovec **iov, int *n, size_t done)
{
	while (*n > 0 && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

#endif
