/*
 * Trace headers in the requests a program writes, for the client side of
 * httpconn.c: where the request line ends in the first bytes of a request,
 * and the edit that then rides along the program's writes: a traceparent
 * (and tracestate) header inserted after the request line, or the
 * parent-id of a forwarded traceparent of our own trace rewritten in
 * place, same length.  No I/O here: the caller lays out one write with
 * hi_layout(), performs it, and hands what the kernel took to hi_took(),
 * which keeps the edit's place and says what the program must be told.
 */
#ifndef OTELSHIM_HTTPINJECT_H
#define OTELSHIM_HTTPINJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/text.h"
#include "pipeline/span.h"
#include "propagate.h"

/* "traceparent: " value CRLF "tracestate: " value CRLF, at the most. */
#define HI_HDR_MAX  (13 + PROPAGATE_TRACEPARENT_LEN + 2 + \
		     12 + PROPAGATE_TRACESTATE_MAX + 2)
/* Bytes of a writev gathered to find the request line. */
#define HI_VIEW_MAX 1024
/* Program iovecs laid out per write with an edit: a longer writev is sent
 * in part, which stream sockets allow anyway. */
#define HI_IOV_MAX  64
/* Hex digits of the parent-id field of a traceparent. */
#define HI_PARENT_ID_LEN 16

/* Where to add trace headers to an outgoing request head. */
struct hi_point {
	size_t offset;          /* just after the request line's LF */
	int has_traceparent;    /* the head in buf already carries one */
	int has_tracestate;
	int head_complete;      /* the empty line ending the head is in buf */
};

/*
 * Finds the insertion point for traceparent/tracestate in the first bytes
 * the program writes for a request: 0 and *out filled, -1 if buf does not
 * start with an HTTP/1.x request line, -2 if the request line is not
 * complete in buf.  has_traceparent covers only the headers within buf:
 * check head_complete before trusting a 0.
 */
int hi_find_point(const char *buf, size_t len, struct hi_point *out);

/*
 * Finds a header in a raw header block (lines ending in LF or CRLF,
 * scanned until an empty line or len): returns how many lines carry that
 * name (case-insensitive) and sets *value to the first one's value without
 * surrounding whitespace.  The block may start with the start line.
 */
int hi_find_header(const char *block, size_t len, const char *name,
		   struct str *value);

/* The first bytes of a write as one piece: iov[0] itself when it holds
 * enough, else up to HI_VIEW_MAX bytes gathered into buf. */
struct hi_view {
	const char *p;
	size_t len;
	char buf[HI_VIEW_MAX];
};

/* Fills v from iov[0..n) (n >= 1). */
void hi_view(struct hi_view *v, const struct iovec *iov, int n);

/* The edit pending on one connection's outgoing bytes.  Plain memory,
 * all zero: no edit.  Fields are private. */
struct hi_edit {
	uint16_t inj_len;               /* header bytes in inj, 0: none */
	uint16_t inj_off;               /* of them already sent */
	uint8_t inj_started;            /* some header byte was sent */
	uint8_t rp_off;                 /* parent-id bytes already sent */
	uint8_t rp_active;
	uint64_t inj_at;                /* program bytes before the header */
	uint64_t rp_at;                 /* program bytes before the parent-id */
	char rp[HI_PARENT_ID_LEN];
	char inj[HI_HDR_MAX];
};

/*
 * A request of span s starts with the bytes in v, at program bytes after
 * the next one to go out, where hi_find_point() returned 0 and *pt; tp is
 * s's traceparent.  Plans the header to insert, or, when the head
 * forwards a traceparent of s's own trace, the in-place rewrite of its
 * parent-id to s; another trace's header is left alone.
 */
void hi_plan(struct hi_edit *ed, uint64_t at, const struct hi_view *v,
	     const struct hi_point *pt, const struct span *s, const char *tp);

/*
 * Plans the trace headers of span s (traceparent tp, and s's tracestate
 * unless the head has one) inserted at program bytes after the next one
 * to go out: for a head written in pieces, just before its empty line.
 */
void hi_plan_header(struct hi_edit *ed, uint64_t at, const struct span *s,
		    const char *tp, int has_tracestate);

/* 1 while an edit waits for the program's next write. */
int hi_pending(const struct hi_edit *ed);

/* 1 while the edit must be finished before the connection is forgotten:
 * a header partly sent, or a rewrite under way. */
int hi_unfinished(const struct hi_edit *ed);

/* Forgets the edit (the connection failed). */
void hi_drop(struct hi_edit *ed);

/* One write: the program's bytes with the edit applied. */
struct hi_write {
	struct iovec v[HI_IOV_MAX + 3];
	int n;
	size_t hdr;                     /* bytes of our header in v */
	size_t lead;                    /* of them, v[0] (0: v[0] is the
					   program's bytes) */
};

/* Lays out the program's iov[0..n) (total bytes, n <= HI_IOV_MAX) with
 * the pending edit applied. */
void hi_layout(const struct hi_edit *ed, const struct iovec *iov, int n,
	       size_t total, struct hi_write *w);

/*
 * The kernel took r bytes of w (laid out from ed): moves the edit on and
 * returns how many of the program's bytes went out.  *again is set when
 * only bytes of ours did: the program's bytes still have to be tried.
 */
ssize_t hi_took(struct hi_edit *ed, const struct hi_write *w, size_t r,
		int *again);

/* The next bytes come from a file (sendfile): a rewrite cannot happen
 * there and a header not yet begun is given up. */
void hi_file_next(struct hi_edit *ed);

/* 1 and *v the rest of a header partly sent, which must go out before
 * any other byte; 0 when there is none. */
int hi_rest(const struct hi_edit *ed, struct iovec *v);

/* k more bytes of the rest (hi_rest) went out on their own. */
void hi_sent(struct hi_edit *ed, size_t k);

#endif
