/*
 * HTTP inside TLS: the plaintext side of a TLS connection fed to the same
 * per-connection logic as a plain socket (httpconn.h), on the application
 * thread that calls the TLS library.  The hooks (tls.c) call the real
 * library; this module only needs one real write at a time (struct
 * tls_io), so it can be tested with a writer that refuses or takes part
 * of what it is given.
 *
 * What the program must never see: a TLS write call takes one buffer, so
 * a request that gets trace headers goes out in up to three real writes
 * (request line, our header, the rest).  The program is told only about
 * its own bytes, and a real write cut short by WANT_READ/WANT_WRITE is the
 * last real call on the TLS object, so the library's error for it
 * (SSL_get_error) is what the program reads; the program's retry, with the
 * same buffer and length as the TLS library requires, becomes exactly the
 * real call that failed (our header lives in the connection state, the
 * program's bytes are addressed from the buffer it passes again).
 */
#ifndef OTELSHIM_TLSCONN_H
#define OTELSHIM_TLSCONN_H

#include <stddef.h>

#include "fdtab.h"

/*
 * write performs one real write of buf[0..len) (len > 0) on the TLS
 * object: returns the bytes taken (> 0), or the library's failure value
 * (<= 0) with errno as the library left it and *retry set when the
 * library asks for the same call again later (WANT_READ, WANT_WRITE...).
 */
struct tls_io {
	long (*write)(void *arg, const void *buf, size_t len, int *retry);
	void *arg;
};

/* Per TLS object: a program write cut short by a retryable failure after
 * some of its bytes went out (non-partial mode), and for GnuTLS the record
 * it keeps from a real write that failed so.  All zero: none. */
struct tls_wstate {
	size_t len;             /* length of the program's write */
	size_t done;            /* of its bytes already taken */
	size_t kept_ours;       /* header bytes at the kept record's start */
	int kept;               /* GnuTLS keeps a record of ours */
};

/* What a TLS library's write promises the program. */
enum tls_wmode {
	/* OpenSSL's default: len, or a failure the program retries with the
	 * same buffer and length (after which it resumes where the bytes of
	 * that write stopped). */
	TLS_W_WHOLE,
	/* OpenSSL with SSL_MODE_ENABLE_PARTIAL_WRITE: also 1..len. */
	TLS_W_PARTIAL,
	/* GnuTLS: 1..len.  A failure after some of the program's bytes went
	 * out is reported as those bytes: the program's next write then
	 * starts with exactly the real call that failed, which GnuTLS
	 * answers from the record it kept whatever it is given.  Our header
	 * goes out in one real write with program bytes after it, so that
	 * record always holds some of the program's bytes: a retry without
	 * a buffer (NULL, 0) is answered with them (tls_wstate.kept). */
	TLS_W_RECORD,
};

/*
 * The program writes buf[0..len) (len > 0) on the TLS connection whose
 * transport is e, under mode's promises.  Returns what the program must
 * see: its bytes taken, or the failure value of the last real call with
 * its errno.
 */
long tls_write(struct fd_entry *e, struct tls_wstate *ws, const void *buf,
	       size_t len, enum tls_wmode mode, const struct tls_io *io,
	       int propagate);

/* How a real TLS read ended, for tls_after_read. */
enum tls_read_end {
	TLS_READ_DATA,          /* ret bytes of plaintext */
	TLS_READ_EOF,           /* the peer closed the TLS stream */
	TLS_READ_AGAIN,         /* WANT_READ/WANT_WRITE: nothing happened */
	TLS_READ_ERROR,         /* the connection failed */
};

/* The program read n bytes of plaintext into buf (TLS_READ_DATA), or the
 * read ended as end says. */
void tls_after_read(struct fd_entry *e, const void *buf, size_t n,
		    enum tls_read_end end, int propagate);

#endif
