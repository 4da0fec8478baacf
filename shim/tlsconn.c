/*
 * HTTP inside TLS (see tlsconn.h), on the application thread calling the
 * TLS library: a program's TLS write laid out through httpconn.c with one
 * real TLS write per piece, and its TLS reads fed to the same recogniser
 * as a socket's.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "httpconn.h"
#include "httpinject.h"
#include "tlsconn.h"

/* Our header and the program's bytes after it in one GnuTLS record: at
 * most this much. */
#define TW_JOIN_MAX (HI_HDR_MAX + 256)

/* The hc_writer behind a TLS write: what the last real call said. */
struct tw {
	const struct tls_io *io;
	int record;             /* TLS_W_RECORD */
	const char *prog;       /* the program's bytes of this hc_write */
	size_t prog_len;
	long last;              /* its result */
	int err;                /* errno after it, when it failed */
	int retry;              /* it failed asking for the same call again */
	int short_write;        /* it took fewer bytes than it was given */
	size_t ours;            /* header bytes it began with */
	size_t lead;            /* httpconn.c: header bytes the next put's
				   iovec begins with */
};

static int outside(const struct tw *t, const struct iovec *v)
{
	const char *p = v->iov_base;

	return p < t->prog || p >= t->prog + t->prog_len;
}

/*
 * The first non-empty piece, or for GnuTLS our header joined with the
 * program's bytes after it (into join).  A record GnuTLS keeps after
 * GNUTLS_E_AGAIN then always holds some of the program's bytes, which a
 * retry without a buffer reports (gnutls.c).  *ours: header bytes at its
 * start.
 */
static struct iovec piece(struct tw *t, const struct iovec *iov, int n,
			  char *join, size_t *ours)
{
	struct iovec v;
	size_t k;
	int i = 0;

	while (i < n - 1 && iov[i].iov_len == 0)
		i++;
	v = iov[i];
	*ours = 0;
	if (!t->record || !outside(t, &v))
		return v;
	/* Only our header counts: a parent-id rewritten in place, also in
	 * our memory, stands for the program's bytes. */
	if (t->lead == 0 || t->lead != v.iov_len || v.iov_len > TW_JOIN_MAX)
		return v;
	*ours = v.iov_len;
	v.iov_base = join;
	v.iov_len = 0;
	for (; i < n && v.iov_len < TW_JOIN_MAX; i++) {
		k = iov[i].iov_len;
		if (k > TW_JOIN_MAX - v.iov_len)
			k = TW_JOIN_MAX - v.iov_len;
		memcpy(join + v.iov_len, iov[i].iov_base, k);
		v.iov_len += k;
	}
	return v;
}

/* One real TLS write of the first piece: a TLS write takes one buffer,
 * and httpconn.c treats a write that takes fewer bytes than laid out
 * like a stream socket doing the same. */
static ssize_t tw_put(void *arg, const struct iovec *iov, int n)
{
	struct tw *t = arg;
	char join[TW_JOIN_MAX];
	struct iovec v = piece(t, iov, n, join, &t->ours);
	long r;

	t->lead = 0;    /* a put without a layout begins with the program's */
	t->retry = 0;
	r = t->io->write(t->io->arg, v.iov_base, v.iov_len, &t->retry);
	t->last = r;
	if (r > 0) {
		if ((size_t)r < v.iov_len)
			t->short_write = 1;
		return r;
	}
	t->err = errno;
	/* httpconn.c fails the request's span only on a hard error. */
	if (t->retry)
		errno = EAGAIN;
	else if (!t->err || t->err == EAGAIN || t->err == EINTR)
		errno = EPROTO;
	return -1;
}

long tls_write(struct fd_entry *e, struct tls_wstate *ws, const void *buf,
	       size_t len, enum tls_wmode mode, const struct tls_io *io,
	       int propagate)
{
	int partial = mode != TLS_W_WHOLE;

	struct tw t = { .io = io, .record = mode == TLS_W_RECORD };
	struct hc_writer hw = { tw_put, &t, NULL, &t.lead };
	struct iovec v;
	size_t done = 0;
	ssize_t r;

	/* The retry of a write cut short after part of it went out: its
	 * first bytes are not sent twice, and the first real call is the
	 * one that failed. */
	if (ws->len == len && ws->done < len)
		done = ws->done;
	ws->len = 0;
	ws->done = 0;
	ws->kept = 0;
	while (done < len) {
		v.iov_base = (char *)buf + done;
		v.iov_len = len - done;
		t.prog = v.iov_base;
		t.prog_len = v.iov_len;
		r = hc_write(e, &v, 1, &hw, propagate);
		if (r < 0)
			break;
		done += (size_t)r;
		/* A real partial write ends the program's call, as it would
		 * have without us. */
		if (partial && t.short_write && done > 0)
			return (long)done;
	}
	if (mode == TLS_W_RECORD && done < len && t.retry) {
		/* GnuTLS keeps the record of the call that failed. */
		ws->kept = 1;
		ws->kept_ours = t.ours;
	}
	if (done == len || (mode == TLS_W_RECORD && done > 0))
		return (long)done;
	/* A failure after some of the program's bytes went out is reported
	 * as the failure in OpenSSL's modes: a positive count would leave the
	 * failed call pending while the program may move on to other bytes,
	 * which OpenSSL forbids.  Its retry resumes where the bytes
	 * stopped. */
	if (t.retry && done > 0) {
		ws->len = len;
		ws->done = done;
	}
	errno = t.err;
	return t.last;
}

void tls_after_read(struct fd_entry *e, const void *buf, size_t n,
		    enum tls_read_end end, int propagate)
{
	struct iovec v = { (void *)buf, n };

	switch (end) {
	case TLS_READ_DATA:
		hc_after_read(e, &v, 1, (ssize_t)n, 0, propagate);
		break;
	case TLS_READ_EOF:
		hc_after_read(e, &v, 1, 0, 0, propagate);
		break;
	case TLS_READ_AGAIN:
		hc_after_read(e, &v, 1, -1, EAGAIN, propagate);
		break;
	case TLS_READ_ERROR:
		hc_after_read(e, &v, 1, -1, EPROTO, propagate);
		break;
	}
}
