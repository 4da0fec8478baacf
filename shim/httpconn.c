/*
 * HTTP on one connection (see httpconn.h), on the application thread that
 * reads or writes it.  A connection takes a role from its first bytes:
 * read first, it is the server side of HTTP (requests in, responses out);
 * written first, the client side.  Requests are matched to responses in
 * order through a small queue of spans, which also covers pipelining.
 * Connection states come from a slab (pipeline/slab.h): no lock, no
 * malloc.  What a span records is httpspan.c's business; the trace headers
 * added to a request are httpinject.c's, sent here with the program's
 * bytes in one real call.
 *
 * Parents: each server request is registered in reqtab.c while in
 * flight (until its response is complete), and every read tells reqtab
 * which request the thread now works for: the server request whose bytes
 * it read, the parent of the client request whose answer it read, or
 * nobody.  A client request takes as parent the request that opened its
 * connection (its first request only), else the one the thread serves,
 * unless the thread came to serve it by reading an answer (where pools
 * start queued requests).  A new request head never inherits the previous
 * request's span.  README "How parentage is decided" has the whole rule.
 *
 * A client's bytes are fed to the request stream before they are written,
 * so that every request in a write (pipelining) is found where it starts
 * and gets its span and header, and a head written in pieces gets its
 * header before its empty line; no byte is ever held back.  Bytes the
 * kernel did not take were fed already: the program writes them again,
 * and they are not fed twice (hc_conn.ahead).  With propagation, a write
 * holding several requests goes out as one real write per request, each
 * with its own edit.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "pipeline/slab.h"
#include "context.h"
#include "http.h"
#include "httpconn.h"
#include "httpinject.h"
#include "httpspan.h"
#include "propagate.h"
#include "reqtab.h"

#define HC_QUEUE    16

enum { ROLE_NONE = 0, ROLE_SERVER, ROLE_CLIENT };

struct hc_conn {
	struct http_stream in;          /* what the program reads */
	struct http_stream out;         /* what the program writes */
	struct span *q[HC_QUEUE];       /* requests waiting for a response,
					   oldest first; NULL: untraced */
	uint64_t qref[HC_QUEUE];        /* server: the request's ref in
					   reqtab; client: its parent's */
	uint8_t qhead;
	uint8_t qlen;
	uint8_t role;
	uint8_t out_started;            /* client: current request has its
					   queue entry */
	uint8_t answered_early;         /* server: the current request was
					   answered before its head was
					   complete; its head makes no span */
	uint16_t status;                /* final status of the oldest entry */
	uint64_t in_start_ns;           /* first byte of the request read */
	uint64_t write_ns;              /* server: when the current write
					   began, the end of a response it
					   completes (the peer may have all of
					   it before the call returns) */
	struct span *out_span;          /* client: request being written */
	uint8_t head_inject;            /* client: out_span's head came in
					   pieces; its header goes before the
					   empty line unless it has one */
	size_t ahead;                   /* client: bytes the request stream
					   was fed that the kernel has not
					   taken yet: the first ones of the
					   program's next write */
	struct hi_edit ed;              /* client: trace headers on the way */
	uint8_t peer_known;             /* peer below is made */
	struct hs_peer peer;            /* the peer's address as text, made
					   for the first span: a connected
					   socket keeps its peer */
};

SLAB_DEFINE(hc_pool, struct hc_conn, HC_POOL_SIZE);

unsigned hc_in_use(void)
{
	return (unsigned)slab_in_use(&hc_pool);
}

static struct hc_conn *conn_of(const struct fd_entry *e)
{
	if (e->proto != FD_PROTO_HTTP || !e->conn)
		return NULL;
	return slab_at(&hc_pool, e->conn - 1u);
}

/* The state of e, claimed on its first bytes; NULL if e is not traced. */
static struct hc_conn *conn_get(struct fd_entry *e)
{
	struct hc_conn *c;

	if (e->proto == FD_PROTO_HTTP)
		return conn_of(e);
	if (e->proto != FD_PROTO_UNKNOWN)
		return NULL;
	c = slab_claim(&hc_pool, 0);
	if (!c) {
		e->proto = FD_PROTO_NONE;
		return NULL;
	}
	/* The streams' buffers need no clearing: http_stream_init. */
	memset(&c->q, 0, sizeof(*c) - offsetof(struct hc_conn, q));
	e->conn = (uint16_t)(slab_index(&hc_pool, c) + 1);
	e->proto = FD_PROTO_HTTP;
	return c;
}

/* Gives the state of e back; e stays untraced. */
static void conn_put(struct fd_entry *e)
{
	slab_release(&hc_pool, e->conn - 1u);
	e->conn = 0;
	e->proto = FD_PROTO_NONE;
}

/* ------------------------------------------------------------ requests */

static void q_push(struct hc_conn *c, struct span *s, uint64_t ref)
{
	if (c->qlen >= HC_QUEUE) {
		/* Deeper pipelining than we follow: not traced. */
		if (c->role == ROLE_SERVER)
			reqtab_remove(ref);
		if (s)
			ctx_discard(s);
		return;
	}
	c->q[(c->qhead + c->qlen) % HC_QUEUE] = s;
	c->qref[(c->qhead + c->qlen) % HC_QUEUE] = ref;
	c->qlen++;
}

/* The oldest request, out of the queue; a server request is no longer in
 * flight from here on (before its span ends: reqtab.h). */
static struct span *q_pop(struct hc_conn *c)
{
	struct span *s;

	if (!c->qlen)
		return NULL;
	s = c->q[c->qhead];
	if (c->role == ROLE_SERVER)
		reqtab_remove(c->qref[c->qhead]);
	c->qhead = (uint8_t)((c->qhead + 1) % HC_QUEUE);
	c->qlen--;
	return s;
}

/* The ref of the oldest (head) or newest (tail) request waiting. */
static uint64_t q_ref(const struct hc_conn *c, int tail)
{
	if (!c->qlen)
		return 0;
	return c->qref[(c->qhead + (tail ? c->qlen - 1u : 0u)) % HC_QUEUE];
}

/* Ends every span still waiting, as failed with err. */
static void q_fail_all(struct hc_conn *c, const char *err)
{
	while (c->qlen) {
		struct span *s = q_pop(c);

		if (s == c->out_span)
			c->out_span = NULL;
		hs_end(s, c->status, err);
		c->status = 0;
	}
}

static const struct hs_peer *peer_of(const struct fd_entry *e,
				     struct hc_conn *c)
{
	if (!c->peer_known) {
		hs_peer(e, &c->peer);
		c->peer_known = 1;
	}
	return &c->peer;
}

/* The SERVER span of a request whose head h was read, queued for its
 * response; NULL when not traced. */
static struct span *server_span(struct fd_entry *e, struct hc_conn *c,
				const struct http_head *h, int propagate,
				uint64_t *ref)
{
	struct ctx_remote remote;
	char ts[PROPAGATE_TRACESTATE_MAX + 1];
	struct span *s;
	int has_remote = 0;

	*ref = 0;
	if (propagate)
		has_remote = hs_remote(h, &remote, ts, sizeof(ts));
	/* A new request is never the child of what this thread handled
	 * before (an event loop moves on between requests). */
	ctx_serve(NULL, 0);
	/* The span starts with its request's first byte read. */
	s = ctx_start_at(SPAN_KIND_SERVER, has_remote ? &remote : NULL,
			 c->in_start_ns);
	if (s)
		*ref = reqtab_add(s->trace_id, s->span_id, s->trace_flags);
	q_push(c, s, *ref);
	if (s)
		hs_server(s, h, e, peer_of(e, c));
	c->in_start_ns = 0;
	return s;
}

static void server_head(struct fd_entry *e, struct hc_conn *c,
			const struct http_head *h, int propagate)
{
	struct span *s;
	uint64_t ref;

	if (c->answered_early) {
		/* Its span was made and ended with the answer (early_server);
		 * the rest of its head was read after that, as a server does
		 * before closing. */
		c->answered_early = 0;
		c->in_start_ns = 0;
		return;
	}
	http_push_request(&c->out, h);
	s = server_span(e, c, h, propagate, &ref);
	/* Work this thread does until it waits for events again or the
	 * response is written (queries, outgoing requests) belongs to this
	 * request; so does work it hands to other threads (reqtab.h). */
	if (s)
		ctx_serve(s, ref);
}

static void client_head(struct fd_entry *e, struct hc_conn *c,
			const struct http_head *h)
{
	http_push_request(&c->in, h);
	if (c->out_span)
		hs_client(c->out_span, h, e, peer_of(e, c));
}

/* ------------------------------------------------------------ streams */

/* Releases c when nothing more can happen on it; e stays untraced. */
static void maybe_release(struct fd_entry *e, struct hc_conn *c)
{
	if (!http_stream_done(&c->in) || !http_stream_done(&c->out) ||
	    c->qlen || hi_unfinished(&c->ed))
		return;
	conn_put(e);
}

/*
 * A server answers a request whose head it has not read whole (nginx's
 * 400 for a header too large, which it sends before draining the rest) or
 * that was malformed (control bytes in the target): the request's span
 * starts now, from what is known of its head, and ends with the answer.
 */
static void early_server(struct fd_entry *e, struct hc_conn *c,
			 int propagate)
{
	struct http_head h;
	uint64_t ref;

	if (!http_unfinished_request(&c->in, &h))
		return;
	server_span(e, c, &h, propagate, &ref);
	c->answered_early = !http_stream_done(&c->in);
}

/* A response head or end on the stream that carries responses. */
static void response_event(struct fd_entry *e, struct hc_conn *c,
			   const struct http_event *ev, int propagate)
{
	if ((ev->type & HTTP_EV_HEAD) && c->role == ROLE_SERVER &&
	    c->qlen == 0 && ev->head.status >= 200)
		early_server(e, c, propagate);
	if ((ev->type & HTTP_EV_HEAD) && ev->head.status < 200) {
		if (ev->head.status != 101)
			return;  /* interim: the final one is still to come */
		/* Switching protocols: the request ends here. */
		http_stop(&c->in);
		http_stop(&c->out);
		hs_end(q_pop(c), 101, NULL);
		c->status = 0;
		return;
	}
	if (ev->type & HTTP_EV_HEAD)
		c->status = ev->head.status;
	if (ev->type & HTTP_EV_END) {
		struct span *s = q_pop(c);

		if (s && c->role == ROLE_SERVER && c->write_ns &&
		    c->write_ns >= s->start_ns)
			s->end_ns = c->write_ns;
		hs_end(s, c->status, NULL);
		c->status = 0;
	}
	if (ev->type & (HTTP_EV_ERROR | HTTP_EV_NOT_HTTP))
		q_fail_all(c, "_OTHER");
}

/* A request head or end on the stream that carries requests. */
static void request_event(struct fd_entry *e, struct hc_conn *c,
			  const struct http_event *ev, int propagate)
{
	if (ev->type & HTTP_EV_HEAD) {
		if (c->role == ROLE_SERVER)
			server_head(e, c, &ev->head, propagate);
		else
			client_head(e, c, &ev->head);
	}
	if (ev->type & HTTP_EV_END) {
		c->out_started = 0;
		c->out_span = NULL;
	}
	if (ev->type & HTTP_EV_NOT_HTTP && c->role == ROLE_CLIENT &&
	    c->out_span) {
		/* The bytes written were not a request after all. */
		struct span *s = c->out_span;

		if (c->qlen && c->q[(c->qhead + c->qlen - 1) % HC_QUEUE] == s)
			c->qlen--;
		c->out_span = NULL;
		ctx_discard(s);
	}
}

/* A server read a request that is malformed but began as one (a method
 * and a space): the response it may still write is followed, so that the
 * rejection gets its span. */
static int rejected_request(const struct hc_conn *c, int in)
{
	struct http_head h;

	return in && c->role == ROLE_SERVER &&
	       http_unfinished_request(&c->in, &h);
}

static void feed(struct fd_entry *e, struct hc_conn *c, int in,
		 const char *p, size_t len, int propagate)
{
	struct http_stream *st = in ? &c->in : &c->out;
	int requests = (c->role == ROLE_SERVER) == in;
	struct http_event ev;
	size_t k;

	while (len > 0 && !http_stream_done(st)) {
		if (in && c->role == ROLE_SERVER && !c->in_start_ns &&
		    http_stream_idle(st))
			c->in_start_ns = ctx_now_ns();
		k = http_feed(st, p, len, &ev);
		p += k;
		len -= k;
		if (requests)
			request_event(e, c, &ev, propagate);
		else
			response_event(e, c, &ev, propagate);
		if ((ev.type & HTTP_EV_NOT_HTTP) && !rejected_request(c, in)) {
			/* One direction is not HTTP: neither is the other. */
			http_stop(&c->in);
			http_stop(&c->out);
		}
		if (k == 0 && ev.type == 0)
			break;
	}
}

static void feed_iov(struct fd_entry *e, struct hc_conn *c, int in,
		     const struct iovec *iov, int n, size_t total,
		     int propagate)
{
	for (int i = 0; i < n && total > 0; i++) {
		size_t k = iov[i].iov_len < total ? iov[i].iov_len : total;

		feed(e, c, in, iov[i].iov_base, k, propagate);
		total -= k;
	}
	maybe_release(e, c);
}

/* Gives the connection its role from the direction of its first bytes. */
static void set_role(struct hc_conn *c, int role)
{
	c->role = (uint8_t)role;
	http_stream_init(&c->in, role == ROLE_SERVER ? HTTP_DIR_REQUEST :
			 HTTP_DIR_RESPONSE);
	http_stream_init(&c->out, role == ROLE_SERVER ? HTTP_DIR_RESPONSE :
			 HTTP_DIR_REQUEST);
}

static const char *errno_type(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "_OTHER";
}

static int transient(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
	       err == ENOBUFS || err == ENOMEM;
}

/*
 * A read on c, whatever it returned, tells which callback runs: the one for
 * the request the connection names, a server's newest (its body; a new
 * head takes over in server_head), the parent of the client request
 * answered, or nobody (an end of stream, a connection between requests).
 */
static void serve_reader(const struct hc_conn *c)
{
	if (c->role == ROLE_SERVER)
		ctx_serve_ref(q_ref(c, 1), REQTAB_READ);
	else
		ctx_serve_ref(q_ref(c, 0), REQTAB_ANSWER);
}

void hc_after_read(struct fd_entry *e, const struct iovec *iov, int n,
		   ssize_t ret, int err, int propagate)
{
	struct hc_conn *c;
	struct http_event ev;

	if (ret > 0) {
		c = conn_get(e);
		if (!c)
			return;
		if (c->role == ROLE_NONE)
			set_role(c, ROLE_SERVER);
		serve_reader(c);
		feed_iov(e, c, 1, iov, n, (size_t)ret, propagate);
		return;
	}
	c = conn_of(e);
	if (!c || c->role == ROLE_NONE)
		return;
	serve_reader(c);
	if (ret == 0) {
		/* The peer is done sending. */
		if (c->role == ROLE_CLIENT) {
			http_eof(&c->in, &ev);
			response_event(e, c, &ev, 0);
			q_fail_all(c, "response_incomplete");
		} else {
			http_eof(&c->in, &ev);
		}
	} else if (!transient(err) && c->role == ROLE_CLIENT) {
		q_fail_all(c, errno_type(err));
		http_stop(&c->in);
		http_stop(&c->out);
	}
	maybe_release(e, c);
}

/* ------------------------------------------------------------ writes */

/*
 * The context of a traceparent the program writes itself (an application
 * with an OpenTelemetry SDK, a proxy forwarding a trace it did not start
 * here): 1 and *r when the head in v carries exactly one valid one of a
 * trace other than the one this thread is in.  Our client span then joins
 * that trace as the child of the program's span.
 */
static int program_context(const struct hi_view *v, const struct hi_point *pt,
			   struct ctx_remote *r, char *ts, size_t cap)
{
	struct str tp, st = { NULL, 0 };
	uint8_t local[16];

	if (!pt->has_traceparent ||
	    hi_find_header(v->p, v->len, "traceparent", &tp) != 1)
		return 0;
	if (pt->has_tracestate &&
	    hi_find_header(v->p, v->len, "tracestate", &st) != 1)
		st.p = NULL;
	if (!hs_remote_from(tp, st, r, ts, cap))
		return 0;
	return !ctx_local_trace(local) ||
	       memcmp(local, r->trace_id, 16) != 0;
}

/* Program bytes [from, *end) of iov[0..n) as at most max iovecs in out:
 * returns how many; *end is cut to where the last one ends. */
static int iov_range(const struct iovec *iov, int n, size_t from,
		     size_t *end, struct iovec *out, int max)
{
	size_t pos = 0;
	int k = 0;

	for (int i = 0; i < n && pos < *end; i++) {
		size_t base = pos, a = pos, z = pos + iov[i].iov_len;

		pos = z;
		if (z <= from || z == a)
			continue;
		if (k == max) {
			*end = a;
			break;
		}
		if (a < from)
			a = from;
		if (z > *end)
			z = *end;
		out[k].iov_base = (char *)iov[i].iov_base + (a - base);
		out[k].iov_len = z - a;
		k++;
	}
	return k;
}

/* The byte at pos of iov[0..n) (pos inside it). */
static unsigned char iov_byte(const struct iovec *iov, int n, size_t pos)
{
	for (int i = 0; i < n; i++) {
		if (pos < iov[i].iov_len)
			return ((const unsigned char *)iov[i].iov_base)[pos];
		pos -= iov[i].iov_len;
	}
	return 0;
}

/* A request starts at byte from of the program's iov[0..n) (total
 * bytes), base bytes of which have gone out in this call: its client span,
 * and what to add to it. */
static void client_request_start(struct fd_entry *e, struct hc_conn *c,
				 const struct iovec *iov, int n, size_t from,
				 size_t base, size_t total, int propagate)
{
	char tp[PROPAGATE_TRACEPARENT_LEN + 1];
	char ts[PROPAGATE_TRACESTATE_MAX + 1];
	struct iovec sub[HI_IOV_MAX];
	struct ctx_remote remote;
	struct hi_view v;
	struct hi_point pt;
	struct req_ids ids;
	enum reqtab_how how;
	struct span *s;
	size_t end = total;
	int r, joined, whole;

	hi_view(&v, sub, iov_range(iov, n, from, &end, sub, HI_IOV_MAX));
	r = hi_find_point(v.p, v.len, &pt);
	if (r == -1)
		return;  /* not a request: the stream will say so */
	/* The first request on a connection opened while serving a request
	 * is that request's, whichever callback writes it. */
	if (e->owner && reqtab_get(e->owner, &ids) == 0)
		ctx_serve_ref(e->owner, REQTAB_CONNECT);
	else if (reqtab_serving(&how) && how == REQTAB_ANSWER)
		ctx_serve_ref(0, REQTAB_NONE);  /* maybe a pool's queue */
	e->owner = 0;
	/* The head is here up to its end or its traceparent: the header
	 * and a program's own context are decided from these bytes. */
	whole = r == 0 && (pt.head_complete || pt.has_traceparent);
	joined = whole && propagate &&
		 program_context(&v, &pt, &remote, ts, sizeof(ts));
	s = ctx_start(SPAN_KIND_CLIENT, joined ? &remote : NULL);
	c->out_started = 1;
	c->out_span = s;
	c->head_inject = 0;
	q_push(c, s, reqtab_serving(NULL));
	if (!s || !propagate)
		return;
	if (!whole) {
		/* In pieces: the header goes before the empty line. */
		c->head_inject = 1;
		return;
	}
	if (joined && !ctx_rewrite_traceparent())
		return;  /* the program's header goes as it wrote it */
	ctx_traceparent(s, tp, sizeof(tp));
	hi_plan(&c->ed, from - base, &v, &pt, s, tp);
}

/*
 * The head of a request written in pieces: when the bytes fed so far end
 * at or in its empty line (next is the stream position after them, in
 * bytes of the call), the header is planned just before that line, unless
 * the program wrote a traceparent of its own.
 */
static void head_piece(struct hc_conn *c, const struct iovec *iov, int n,
		       size_t fed_from, size_t next, size_t base,
		       const struct http_event *ev)
{
	char tp[PROPAGATE_TRACEPARENT_LEN + 1];
	unsigned seen = http_head_seen(&c->out);
	size_t at;

	if (ev->type & HTTP_EV_HEAD) {
		/* The LF of the empty line was the last byte fed; a CR
		 * before it fed earlier would have been seen then. */
		at = next - 1;
		if (next >= fed_from + 2 && iov_byte(iov, n, next - 2) == '\r')
			at = next - 2;
	} else if (seen & HTTP_SEEN_ENDING) {
		at = next - 1;
	} else {
		if (ev->type & (HTTP_EV_NOT_HTTP | HTTP_EV_ERROR))
			c->head_inject = 0;
		return;
	}
	c->head_inject = 0;
	if (!c->out_span || (seen & HTTP_SEEN_TRACEPARENT))
		return;
	ctx_traceparent(c->out_span, tp, sizeof(tp));
	hi_plan_header(&c->ed, at - base, c->out_span, tp,
		       (seen & HTTP_SEEN_TRACESTATE) != 0);
}

/*
 * Feeds the request stream the program's bytes of this call that it has
 * not seen, from base + c->ahead (base: bytes of the call that went out
 * already) up to total, starting the span of each request met and
 * planning its header.  With propagation, stops at the start of a request
 * after bytes of an earlier one still to go out: it is planned once they
 * have.
 */
static void client_scan(struct fd_entry *e, struct hc_conn *c,
			const struct iovec *iov, int n, size_t base,
			size_t total, int propagate)
{
	struct http_stream *st = &c->out;
	struct http_event ev;
	size_t at = base + c->ahead, pos = 0, k, len;
	const char *p;
	int i = 0;

	while (i < n && pos + iov[i].iov_len <= at) {
		pos += iov[i].iov_len;
		i++;
	}
	while (at < total && i < n && !http_stream_done(st)) {
		p = (const char *)iov[i].iov_base + (at - pos);
		len = pos + iov[i].iov_len - at;
		if (len > total - at)
			len = total - at;
		if (http_stream_idle(st)) {
			if (*p == '\r' || *p == '\n') {
				/* Empty lines between messages: fed alone, so
				 * that the request after them is seen to
				 * start. */
				for (k = 1; k < len && (p[k] == '\r' ||
							p[k] == '\n'); k++)
					;
				len = k;
			} else if ((propagate && at > base) ||
				   hi_pending(&c->ed)) {
				/* One request per real write: the layout
				 * of a write depends on its bytes only, so
				 * a TLS write retried after a failure is laid
				 * out as the one that failed. */
				break;
			} else {
				client_request_start(e, c, iov, n, at, base,
						     total, propagate);
			}
		}
		k = http_feed(st, p, len, &ev);
		if (c->head_inject)
			head_piece(c, iov, n, at, at + k, base, &ev);
		request_event(e, c, &ev, propagate);
		if (ev.type & HTTP_EV_NOT_HTTP) {
			http_stop(&c->in);
			http_stop(&c->out);
		}
		at += k;
		c->ahead = at - base;
		if (at == pos + iov[i].iov_len) {
			pos += iov[i].iov_len;
			i++;
		}
	}
}

/*
 * One real write of program bytes [from, *end) of iov[0..n) with the
 * pending edit applied, *end cut to fit HI_IOV_MAX pieces (total: the
 * call's bytes); returns the program bytes taken or -1.  Bytes of ours
 * that the kernel takes on their own are followed by another try with
 * the program's.
 */
static ssize_t write_edited(struct hc_conn *c, const struct iovec *iov,
			    int n, size_t from, size_t *end, size_t total,
			    const struct hc_writer *w)
{
	struct iovec sub[HI_IOV_MAX];
	struct hi_write out;
	ssize_t r;
	int k, again;

	k = iov_range(iov, n, from, end, sub, HI_IOV_MAX);
	do {
		hi_layout(&c->ed, sub, k, *end - from, &out);
		if (w->lead_ours)
			*w->lead_ours = out.lead;
		if (*end < total && w->put_more)
			r = w->put_more(w->arg, out.v, out.n);
		else
			r = w->put(w->arg, out.v, out.n);
		if (r < 0)
			return r;
		/* Only our header went out: the program's bytes come next
		 * (a full non-blocking socket answers EAGAIN then). */
		r = hi_took(&c->ed, &out, (size_t)r, &again);
	} while (again);
	return r;
}

/* A hard error writing on a client connection: its requests failed. */
static void client_failed(struct fd_entry *e, struct hc_conn *c, int err)
{
	if (transient(err) || err == EFAULT || err == EINVAL)
		return;
	q_fail_all(c, errno_type(err));
	c->out_started = 0;
	c->ahead = 0;
	http_stop(&c->in);
	http_stop(&c->out);
	hi_drop(&c->ed);
	maybe_release(e, c);
}

/*
 * The program writes iov[0..n) (total bytes) on client connection c: in
 * one real write per request found on the way.  A real write
 * that takes less than it was given ends the call, as it would have
 * without us; so does a failure after some bytes went out (the program
 * meets it again on its next write).
 */
static ssize_t client_write(struct fd_entry *e, struct hc_conn *c,
			    const struct iovec *iov, int n, size_t total,
			    const struct hc_writer *w, int propagate)
{
	size_t done = 0, end;
	ssize_t r;
	int err;

	for (;;) {
		client_scan(e, c, iov, n, done, total, propagate);
		end = http_stream_done(&c->out) ? total : done + c->ahead;
		/* The scan stops after bytes of this call; never an empty
		 * write. */
		if (end > total || end <= done)
			end = total;
		if (!hi_pending(&c->ed) && done == 0 && end == total)
			r = w->put(w->arg, iov, n);
		else
			r = write_edited(c, iov, n, done, &end, total, w);
		if (r < 0) {
			if (done > 0)
				break;
			err = errno;
			client_failed(e, c, err);
			errno = err;
			return r;
		}
		done += (size_t)r;
		c->ahead = c->ahead > (size_t)r ? c->ahead - (size_t)r : 0;
		if (done >= total || done < end || r == 0)
			break;
	}
	maybe_release(e, c);
	return (ssize_t)done;
}

ssize_t hc_write(struct fd_entry *e, const struct iovec *iov, int n,
		 const struct hc_writer *w, int propagate)
{
	struct hc_conn *c;
	size_t total = 0;
	ssize_t r;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total == 0 || !(c = conn_get(e)))
		return w->put(w->arg, iov, n);
	if (c->role == ROLE_NONE)
		set_role(c, ROLE_CLIENT);
	if (c->role == ROLE_CLIENT) {
		/* The thread works for the parent of a client request it
		 * goes on writing.  (Writing a response says nothing of
		 * what runs next.) */
		if (c->out_started || c->ahead)
			ctx_serve_ref(q_ref(c, 1), REQTAB_ANSWER);
		return client_write(e, c, iov, n, total, w, propagate);
	}
	c->write_ns = ctx_now_ns();
	r = w->put(w->arg, iov, n);
	if (r > 0)
		feed_iov(e, c, 0, iov, n, (size_t)r, propagate);
	return r;
}

int hc_before_sendfile(struct fd_entry *e, const struct hc_writer *w)
{
	struct hc_conn *c = conn_of(e);
	struct iovec v;
	ssize_t r;

	if (!c)
		return 0;
	c->write_ns = ctx_now_ns();
	c->ahead = 0;  /* what the program did not write again is gone */
	hi_file_next(&c->ed);
	while (hi_rest(&c->ed, &v)) {
		r = w->put(w->arg, &v, 1);
		if (r < 0)
			return -1;
		hi_sent(&c->ed, (size_t)r);
	}
	return 0;
}

void hc_after_sendfile(struct fd_entry *e, ssize_t ret, int err)
{
	struct hc_conn *c = ret > 0 ? conn_get(e) : conn_of(e);
	struct http_event ev;
	uint64_t left, k;

	if (!c)
		return;
	if (ret < 0) {
		if (!transient(err) && c->role == ROLE_CLIENT)
			q_fail_all(c, errno_type(err));
		return;
	}
	if (c->role == ROLE_NONE) {
		/* A connection that starts with file bytes: not ours. */
		http_stream_init(&c->in, HTTP_DIR_REQUEST);
		http_stream_init(&c->out, HTTP_DIR_REQUEST);
		http_stop(&c->in);
		http_stop(&c->out);
		maybe_release(e, c);
		return;
	}
	left = (uint64_t)ret;
	while (left > 0 && !http_stream_done(&c->out)) {
		k = http_skip(&c->out, left, &ev);
		if (k == 0) {
			http_stop(&c->out);
			q_fail_all(c, NULL);
			break;
		}
		left -= k;
		if (c->role == ROLE_SERVER)
			response_event(e, c, &ev, 0);
		else
			request_event(e, c, &ev, 1);
	}
	maybe_release(e, c);
}

void hc_shutdown(struct fd_entry *e, int how)
{
	struct hc_conn *c = conn_of(e);
	struct http_event ev;

	if (!c || c->role != ROLE_SERVER)
		return;
	c->write_ns = 0;
	if (how == SHUT_WR || how == SHUT_RDWR) {
		/* A response delimited by the close ends here. */
		http_eof(&c->out, &ev);
		response_event(e, c, &ev, 0);
		maybe_release(e, c);
	}
}

void hc_close(struct fd_entry *e)
{
	struct hc_conn *c = conn_of(e);
	struct http_event ev;

	if (!c)
		return;
	c->write_ns = 0;
	if (c->role == ROLE_SERVER) {
		http_eof(&c->out, &ev);
		response_event(e, c, &ev, 0);
	} else if (c->role == ROLE_CLIENT) {
		http_eof(&c->in, &ev);
		response_event(e, c, &ev, 0);
	}
	q_fail_all(c, "response_incomplete");
	conn_put(e);
}
