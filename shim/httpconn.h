/*
 * HTTP on one connection: the per-descriptor logic behind the socket hooks.
 * It follows both directions of a stream socket with http.c, turns requests
 * read into SERVER spans and requests written into CLIENT spans, and adds
 * traceparent/tracestate to requests written, keeping every byte count the
 * program sees exact.  The hooks in net.c call the real functions; this
 * module only needs a way to write (struct hc_writer), so it can be tested
 * with a writer that takes a few bytes at a time.
 */
#ifndef OTELSHIM_HTTPCONN_H
#define OTELSHIM_HTTPCONN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fdtab.h"

/* Connection states that can be in use at once; more connections are not
 * traced.  The pool is mapped lazily: untouched slots cost no memory. */
#define HC_POOL_SIZE 4096

/*
 * put performs one write of iov[0..n) (the real writev, send, sendmsg...
 * of the hooked call, never the hook itself): returns bytes taken or -1
 * with errno set, exactly as the real call.  put_more, when set, does the
 * same for a real write that another one of the same program call follows
 * at once (a write holding several requests): the socket may hold its
 * bytes back for the next (MSG_MORE), as it would have sent them together
 * without us.
 */
struct hc_writer {
	ssize_t (*put)(void *arg, const struct iovec *iov, int n);
	void *arg;
	ssize_t (*put_more)(void *arg, const struct iovec *iov, int n);
	/* When not NULL, set before each put: how many bytes at the start of
	 * its iovec are our header (0: the program's bytes come first). */
	size_t *lead_ours;
};

/*
 * The program read ret bytes (or got -1 with err) into iov[0..n) from the
 * socket of e.  Feeds them to the connection, starting and ending spans.
 * A read returning 0 is the end of the peer's direction.  propagate: an
 * incoming traceparent/tracestate becomes the parent of a server span.
 */
void hc_after_read(struct fd_entry *e, const struct iovec *iov, int n,
		   ssize_t ret, int err, int propagate);

/*
 * Writes iov[0..n) for the program through w and returns what the program
 * must see: the count of its own bytes taken, or -1 with errno.  With
 * propagate set, every request the bytes start gets trace headers: after
 * its request line when this write holds its head, else before the empty
 * line ending the head; bytes of ours are never counted.  A write holding
 * several requests goes out in one real write per request, and a real
 * write cut short ends the call with the bytes taken so far.  A header
 * left half sent is finished by the next write before any of the
 * program's bytes.  While an edit is pending, at most HI_IOV_MAX iovecs go
 * out per real write: a longer writev is sent in part, which stream
 * sockets allow anyway.
 */
ssize_t hc_write(struct fd_entry *e, const struct iovec *iov, int n,
		 const struct hc_writer *w, int propagate);

/*
 * Before sendfile(2) on e: sends what is left of a half-sent trace header
 * through w.  Returns 0 when the program's bytes may follow, or -1 with
 * errno (EAGAIN on a full non-blocking socket) to return to the program.
 */
int hc_before_sendfile(struct fd_entry *e, const struct hc_writer *w);

/* sendfile(2) on e sent ret bytes (or -1 with err) that we never saw. */
void hc_after_sendfile(struct fd_entry *e, ssize_t ret, int err);

/* shutdown(2) with how (SHUT_RD, SHUT_WR, SHUT_RDWR) succeeded. */
void hc_shutdown(struct fd_entry *e, int how);

/*
 * The descriptor is going away (close, dup2 over it): a response delimited
 * by the close ends, spans still waiting end as incomplete, and the
 * connection state is released.  e itself is left to the caller.
 */
void hc_close(struct fd_entry *e);

/* Connection states in use, for tests. */
unsigned hc_in_use(void);

#endif
