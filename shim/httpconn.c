/*
 * HTTP on one connection (see httpconn.h).  A connection takes a role from
 * its first bytes: read first, it is the server side of HTTP (requests in,
 * responses out); written first, the client side.  Requests are matched to
 * responses in order through a small queue of spans, which also covers
 * pipelining.  Connection states come from a slab (pipeline/slab.h), like
 * span records: no lock, no malloc.
 *
 * Trace headers are added to a request by splitting the program's iovecs
 * around them and writing everything with one real call.  Byte counts are
 * kept exact by remembering, per connection, where our bytes sit relative
 * to the program's: the program is told only about its own bytes, and
 * header bytes the kernel did not take are sent first by the next write.
 * A proxy forwarding its caller's traceparent (same trace as our client
 * span) gets the parent-id in that header rewritten in place to our span,
 * same length, so the next hop becomes our child.
 *
 * Parents: a server span is made active on the thread that read its
 * request head, until its response is complete, so queries and outgoing
 * requests of a thread-per-request server are its children.  An event
 * loop interleaving requests gets a best-effort association: the request
 * head read last on the thread is the parent of what the thread does next,
 * and a new request head never inherits the previous request's span.
 * Requests written in pieces too small to hold the request line get no
 * header (the span is still recorded), rather than being buffered.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/semconv.h"
#include "pipeline/record.h"
#include "pipeline/slab.h"
#include "context.h"
#include "http.h"
#include "httpconn.h"
#include "peer.h"
#include "propagate.h"
#include "stack.h"

#define HC_QUEUE    16
#define HC_HDR_MAX  (13 + PROPAGATE_TRACEPARENT_LEN + 2 + \
		     12 + PROPAGATE_TRACESTATE_MAX + 2)
/* Bytes of a writev gathered to find the request line. */
#define HC_VIEW_MAX 1024
/* Offset and length of the parent-id inside a version-00 traceparent. */
#define TP_ID_OFF   36
#define TP_ID_LEN   16

enum { ROLE_NONE = 0, ROLE_SERVER, ROLE_CLIENT };

struct hc_conn {
	struct http_stream in;          /* what the program reads */
	struct http_stream out;         /* what the program writes */
	struct span *q[HC_QUEUE];       /* requests waiting for a response,
					   oldest first; NULL: untraced */
	uint8_t qhead;
	uint8_t qlen;
	uint8_t role;
	uint8_t out_started;            /* client: current request has its
					   queue entry */
	uint16_t status;                /* final status of the oldest entry */
	uint16_t inj_len;               /* header bytes in inj, 0: none */
	uint16_t inj_off;               /* of them already sent */
	uint8_t inj_started;            /* some header byte was sent */
	uint8_t rp_off;                 /* parent-id bytes already sent */
	uint8_t rp_active;
	uint64_t inj_at;                /* program bytes before the header */
	uint64_t rp_at;                 /* program bytes before the parent-id */
	uint64_t in_start_ns;           /* first byte of the request read */
	uint64_t write_ns;              /* server: when the current write
					   began, the end of a response it
					   completes (the peer may have all of
					   it before the call returns) */
	struct span *out_span;          /* client: request being written */
	char rp[TP_ID_LEN];
	char inj[HC_HDR_MAX];
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
	c = slab_claim(&hc_pool);
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

/* ------------------------------------------------------------ spans */

static const char *status_text(unsigned code, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u", code);
	return buf;
}

/* The numeric address of e's IP peer into host ("" if none); its port. */
static int peer_of(const struct fd_entry *e, char *host, size_t cap)
{
	if (e->peer_len == 0) {
		host[0] = 0;
		return -1;
	}
	return peer_ip(&e->peer, host, cap);
}

/* Ends s with the response status (0: none) or a transport error. */
static void end_span(struct span *s, unsigned status, const char *err)
{
	char code[8];
	int client;

	if (!s)
		return;
	client = s->kind == SPAN_KIND_CLIENT;
	if (status)
		rec_attr_int(s, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
	if (err) {
		rec_attr_cstr(s, ATTR_ERROR_TYPE, err);
		rec_status(s, SPAN_STATUS_ERROR, err, strlen(err));
	} else if (status >= 500 || (client && status >= 400) ||
		   (status && status < 100)) {
		rec_attr_cstr(s, ATTR_ERROR_TYPE,
			      status_text(status, code, sizeof(code)));
		rec_status(s, SPAN_STATUS_ERROR, NULL, 0);
	}
	if (client)
		stack_capture_if_slow(s);
	ctx_end(s);
}

static void q_push(struct hc_conn *c, struct span *s)
{
	if (c->qlen >= HC_QUEUE) {
		/* Deeper pipelining than we follow: not traced. */
		if (s)
			ctx_discard(s);
		return;
	}
	c->q[(c->qhead + c->qlen) % HC_QUEUE] = s;
	c->qlen++;
}

static struct span *q_pop(struct hc_conn *c)
{
	struct span *s;

	if (!c->qlen)
		return NULL;
	s = c->q[c->qhead];
	c->qhead = (uint8_t)((c->qhead + 1) % HC_QUEUE);
	c->qlen--;
	return s;
}

/* Ends every span still waiting, as failed with err. */
static void q_fail_all(struct hc_conn *c, const char *err)
{
	while (c->qlen) {
		struct span *s = q_pop(c);

		if (s == c->out_span)
			c->out_span = NULL;
		end_span(s, c->status, err);
		c->status = 0;
	}
}

static void attr_method(struct span *s, const struct http_head *h)
{
	const char *m = h->method.p;
	size_t n = h->method.len;

	if (m && http_method_known(m, n)) {
		rec_name(s, m, n);
		rec_attr_str(s, ATTR_HTTP_REQUEST_METHOD, m, n);
	} else {
		rec_name(s, "HTTP", 4);
		rec_attr_cstr(s, ATTR_HTTP_REQUEST_METHOD, "_OTHER");
		if (m)
			rec_attr_str(s, ATTR_HTTP_REQUEST_METHOD_ORIGINAL, m, n);
	}
	rec_attr_cstr(s, ATTR_NETWORK_PROTOCOL_VERSION,
		      h->version_minor ? "1.1" : "1.0");
}

/* The incoming context of a request head, if valid. */
static int remote_of(const struct http_head *h, struct ctx_remote *r,
		     char *ts, size_t cap)
{
	struct propagate_ctx pc;
	int n;

	if (!h->traceparent.p || propagate_parse_traceparent(
		    h->traceparent.p, h->traceparent.len, &pc) != 0)
		return 0;
	memset(r, 0, sizeof(*r));
	memcpy(r->trace_id, pc.trace_id, 16);
	memcpy(r->span_id, pc.span_id, 8);
	r->flags = pc.flags;
	if (h->tracestate.p) {
		n = propagate_check_tracestate(h->tracestate.p,
					       h->tracestate.len, ts, cap);
		if (n > 0) {
			r->trace_state = ts;
			r->trace_state_len = (size_t)n;
		}
	}
	return 1;
}

static void server_head(struct fd_entry *e, struct hc_conn *c,
			const struct http_head *h, int propagate)
{
	struct ctx_remote remote;
	char ts[PROPAGATE_TRACESTATE_MAX + 1], buf[512], peer[PEER_TEXT_MAX];
	struct http_str path, query, name, addr;
	const struct http_str *host;
	struct span *s;
	int has_remote = 0, port, peer_port;

	if (propagate)
		has_remote = remote_of(h, &remote, ts, sizeof(ts));
	/* A new request is never the child of what this thread handled
	 * before (an event loop moves on between requests). */
	ctx_set_active(NULL);
	s = ctx_start(SPAN_KIND_SERVER, has_remote ? &remote : NULL);
	http_push_request(&c->out, h);
	q_push(c, s);
	if (!s)
		goto out;
	if (c->in_start_ns && c->in_start_ns < s->start_ns)
		s->start_ns = c->in_start_ns;
	attr_method(s, h);
	http_split_target(h->target.p ? h->target.p : "", h->target.len,
			  &path, &query);
	rec_attr_str(s, ATTR_URL_PATH, path.p, path.len);
	if (query.p) {
		size_t n = http_redact_query(query.p, query.len, buf,
					     sizeof(buf));

		rec_attr_str(s, ATTR_URL_QUERY, buf, n);
	}
	rec_attr_cstr(s, ATTR_URL_SCHEME, "http");
	host = h->x_forwarded_host.p ? &h->x_forwarded_host : &h->host;
	if (host->p && http_split_host(host->p, host->len, &name,
				       &port) == 0) {
		rec_attr_str(s, ATTR_SERVER_ADDRESS, name.p, name.len);
		rec_attr_int(s, ATTR_SERVER_PORT, port >= 0 ? port : 80);
	}
	peer_port = peer_of(e, peer, sizeof(peer));
	if (http_client_address(h, &addr) == 0)
		rec_attr_str(s, ATTR_CLIENT_ADDRESS, addr.p, addr.len);
	else if (peer[0])
		rec_attr_cstr(s, ATTR_CLIENT_ADDRESS, peer);
	if (peer[0]) {
		rec_attr_cstr(s, ATTR_NETWORK_PEER_ADDRESS, peer);
		rec_attr_int(s, ATTR_NETWORK_PEER_PORT, peer_port);
	}
	if (h->user_agent.p)
		rec_attr_str(s, ATTR_USER_AGENT_ORIGINAL, h->user_agent.p,
			     h->user_agent.len);
	/* Work this thread does until the response is written (queries,
	 * outgoing requests) belongs to this request. */
	ctx_set_active(s);
out:
	c->in_start_ns = 0;
}

static void client_head(struct fd_entry *e, struct hc_conn *c,
			const struct http_head *h)
{
	struct span *s = c->out_span;
	char url[1024], peer[PEER_TEXT_MAX];
	struct http_str name;
	int port = -1, peer_port;
	size_t n;

	http_push_request(&c->in, h);
	if (!s)
		return;
	attr_method(s, h);
	peer_port = peer_of(e, peer, sizeof(peer));
	if (h->host.p && http_split_host(h->host.p, h->host.len, &name,
					 &port) == 0) {
		rec_attr_str(s, ATTR_SERVER_ADDRESS, name.p, name.len);
	} else if (peer[0]) {
		rec_attr_cstr(s, ATTR_SERVER_ADDRESS, peer);
		port = peer_port;
	}
	if (port < 0)
		port = 80;
	rec_attr_int(s, ATTR_SERVER_PORT, port);
	n = http_url_full("http", h->host.p ? h->host.p : peer,
			  h->host.p ? h->host.len : strlen(peer),
			  h->target.p ? h->target.p : "", h->target.len,
			  url, sizeof(url));
	rec_attr_str(s, ATTR_URL_FULL, url, n);
	if (peer[0]) {
		rec_attr_cstr(s, ATTR_NETWORK_PEER_ADDRESS, peer);
		rec_attr_int(s, ATTR_NETWORK_PEER_PORT, peer_port);
	}
}

/* ------------------------------------------------------------ streams */

/* Releases c when nothing more can happen on it; e stays untraced. */
static void maybe_release(struct fd_entry *e, struct hc_conn *c)
{
	if (!http_stream_done(&c->in) || !http_stream_done(&c->out) ||
	    c->qlen || (c->inj_len && c->inj_started) || c->rp_active)
		return;
	conn_put(e);
}

/* A response head or end on the stream that carries responses. */
static void response_event(struct hc_conn *c, const struct http_event *ev)
{
	if ((ev->type & HTTP_EV_HEAD) && ev->head.status < 200) {
		if (ev->head.status != 101)
			return;  /* interim: the final one is still to come */
		/* Switching protocols: the request ends here. */
		http_stop(&c->in);
		http_stop(&c->out);
		end_span(q_pop(c), 101, NULL);
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
		end_span(s, c->status, NULL);
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
			response_event(c, &ev);
		if (ev.type & HTTP_EV_NOT_HTTP) {
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
		feed_iov(e, c, 1, iov, n, (size_t)ret, propagate);
		return;
	}
	c = conn_of(e);
	if (!c || c->role == ROLE_NONE)
		return;
	if (ret == 0) {
		/* The peer is done sending. */
		if (c->role == ROLE_CLIENT) {
			http_eof(&c->in, &ev);
			response_event(c, &ev);
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

struct iov_builder {
	struct iovec v[HC_IOV_MAX + 3];
	int n;
};

static void put(struct iov_builder *b, const void *p, size_t len)
{
	if (len == 0 || b->n >= (int)(sizeof(b->v) / sizeof(b->v[0])))
		return;
	b->v[b->n].iov_base = (void *)p;
	b->v[b->n].iov_len = len;
	b->n++;
}

/* Appends program bytes [from, to) of iov[0..n). */
static void put_prog(struct iov_builder *b, const struct iovec *iov, int n,
		     size_t from, size_t to)
{
	size_t pos = 0;

	for (int i = 0; i < n && pos < to; i++) {
		size_t base = pos, a = pos, z = pos + iov[i].iov_len;

		pos = z;
		if (z <= from)
			continue;
		if (a < from)
			a = from;
		if (z > to)
			z = to;
		put(b, (const char *)iov[i].iov_base + (a - base), z - a);
	}
}

/* The first bytes of iov[0..n) as one piece: iov[0] itself when it holds
 * enough, else copied into buf. */
static const char *view(const struct iovec *iov, int n, char *buf,
			size_t cap, size_t *len)
{
	size_t got = 0;

	if (n == 1 || iov[0].iov_len >= cap) {
		*len = iov[0].iov_len;
		return iov[0].iov_base;
	}
	for (int i = 0; i < n && got < cap; i++) {
		size_t k = iov[i].iov_len;

		if (k > cap - got)
			k = cap - got;
		memcpy(buf + got, iov[i].iov_base, k);
		got += k;
	}
	*len = got;
	return buf;
}

/* A request starts with this write: its client span, and what to add. */
static void client_request_start(struct hc_conn *c, const struct iovec *iov,
				 int n, int propagate)
{
	char vbuf[HC_VIEW_MAX], tp[PROPAGATE_TRACEPARENT_LEN + 1];
	struct http_inject ip;
	struct propagate_ctx pc;
	struct http_str val;
	struct span *s;
	const char *v;
	size_t vlen, k;
	int r;

	v = view(iov, n, vbuf, sizeof(vbuf), &vlen);
	r = http_inject_point(v, vlen, &ip);
	if (r == -1)
		return;  /* not a request: the stream will say so */
	s = ctx_start(SPAN_KIND_CLIENT, NULL);
	c->out_started = 1;
	c->out_span = s;
	q_push(c, s);
	if (!s || !propagate || r != 0)
		return;  /* request line cut: no injection for this one */
	ctx_traceparent(s, tp, sizeof(tp));
	if (ip.has_traceparent) {
		/* A proxy forwarding its caller's header: same trace, so
		 * make the next hop our child by rewriting the parent-id. */
		if (http_header_find(v, vlen, "traceparent", &val) != 1 ||
		    val.len != PROPAGATE_TRACEPARENT_LEN ||
		    memcmp(val.p, "00-", 3) != 0 ||
		    propagate_parse_traceparent(val.p, val.len, &pc) != 0 ||
		    memcmp(pc.trace_id, s->trace_id, 16) != 0)
			return;
		memcpy(c->rp, tp + TP_ID_OFF, TP_ID_LEN);
		c->rp_at = (uint64_t)(val.p - v) + TP_ID_OFF;
		c->rp_off = 0;
		c->rp_active = 1;
		return;
	}
	/* Without the whole head we cannot know a traceparent does not
	 * follow; programs that write heads in pieces rarely add one. */
	k = 0;
	memcpy(c->inj + k, "traceparent: ", 13);
	k += 13;
	memcpy(c->inj + k, tp, PROPAGATE_TRACEPARENT_LEN);
	k += PROPAGATE_TRACEPARENT_LEN;
	memcpy(c->inj + k, "\r\n", 2);
	k += 2;
	if (s->trace_state.len && !ip.has_tracestate &&
	    s->trace_state.len <= PROPAGATE_TRACESTATE_MAX) {
		memcpy(c->inj + k, "tracestate: ", 12);
		k += 12;
		memcpy(c->inj + k, span_str_ptr(s, s->trace_state),
		       s->trace_state.len);
		k += s->trace_state.len;
		memcpy(c->inj + k, "\r\n", 2);
		k += 2;
	}
	c->inj_len = (uint16_t)k;
	c->inj_off = 0;
	c->inj_started = 0;
	c->inj_at = ip.offset;
}

/*
 * One real write of the program's iov[0..n) (total bytes) with our pending
 * edits applied (a header insertion or a same-length rewrite); returns the
 * program bytes taken or -1.  *again is set when only header bytes went
 * out: the program's bytes still have to be tried.
 */
static ssize_t write_edited(struct hc_conn *c, const struct iovec *iov,
			    int n, size_t total, const struct hc_writer *w,
			    int *again)
{
	struct iov_builder b = { .n = 0 };
	size_t hdr = 0, at, rest;
	ssize_t r;

	*again = 0;
	if (c->inj_len) {
		at = c->inj_at < total ? (size_t)c->inj_at : total;
		hdr = c->inj_len - c->inj_off;
		if (at < total || c->inj_at == 0) {
			put_prog(&b, iov, n, 0, at);
			put(&b, c->inj + c->inj_off, hdr);
			put_prog(&b, iov, n, at, total);
		} else {
			hdr = 0;
			put_prog(&b, iov, n, 0, total);
		}
	} else if (c->rp_active) {
		at = c->rp_at < total ? (size_t)c->rp_at : total;
		rest = TP_ID_LEN - c->rp_off;
		if (rest > total - at)
			rest = total - at;
		put_prog(&b, iov, n, 0, at);
		put(&b, c->rp + c->rp_off, rest);
		put_prog(&b, iov, n, at + rest, total);
	} else {
		put_prog(&b, iov, n, 0, total);
	}
	r = w->put(w->arg, b.v, b.n);
	if (r < 0)
		return r;
	if (c->inj_len && hdr) {
		/* Wire order: prefix, header, rest. */
		at = (size_t)c->inj_at;
		if ((size_t)r <= at) {
			c->inj_at -= (size_t)r;
			return r;
		}
		c->inj_started = 1;
		if ((size_t)r - at < hdr) {
			c->inj_off += (uint16_t)((size_t)r - at);
			c->inj_at = 0;
			*again = at == 0;
			return (ssize_t)at;
		}
		c->inj_len = 0;
		c->inj_started = 0;
		*again = (size_t)r == at + hdr && at == 0;
		return r - (ssize_t)hdr;
	}
	if (c->inj_len) {
		c->inj_at -= (size_t)r;
	} else if (c->rp_active) {
		if ((uint64_t)r <= c->rp_at) {
			c->rp_at -= (uint64_t)r;
		} else {
			rest = (size_t)r - (size_t)c->rp_at;
			if (rest >= (size_t)(TP_ID_LEN - c->rp_off))
				c->rp_active = 0;
			else
				c->rp_off += (uint8_t)rest;
			c->rp_at = 0;
		}
	}
	return r;
}

ssize_t hc_write(struct fd_entry *e, const struct iovec *iov, int n,
		 const struct hc_writer *w, int propagate)
{
	struct hc_conn *c;
	size_t total = 0;
	ssize_t r;
	int err, again;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total == 0 || !(c = conn_get(e)))
		return w->put(w->arg, iov, n);
	if (c->role == ROLE_NONE)
		set_role(c, ROLE_CLIENT);
	if (c->role == ROLE_SERVER)
		c->write_ns = ctx_now_ns();
	if (c->role == ROLE_CLIENT && !c->out_started && !c->inj_len &&
	    !c->rp_active && http_stream_idle(&c->out))
		client_request_start(c, iov, n, propagate);
	if (!c->inj_len && !c->rp_active) {
		r = w->put(w->arg, iov, n);
	} else {
		if (n > HC_IOV_MAX) {
			n = HC_IOV_MAX;
			total = 0;
			for (int i = 0; i < n; i++)
				total += iov[i].iov_len;
		}
		/* Only our header went out: the program's bytes come next
		 * (a full non-blocking socket answers EAGAIN then). */
		do
			r = write_edited(c, iov, n, total, w, &again);
		while (again);
	}
	if (r < 0) {
		err = errno;
		if (!transient(err) && err != EFAULT && err != EINVAL &&
		    c->role == ROLE_CLIENT) {
			q_fail_all(c, errno_type(err));
			c->out_started = 0;
			http_stop(&c->in);
			http_stop(&c->out);
			c->inj_len = 0;
			c->rp_active = 0;
			maybe_release(e, c);
		}
		errno = err;
		return r;
	}
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
	c->rp_active = 0;  /* a file never holds the header we look for */
	if (!c->inj_len)
		return 0;
	if (!c->inj_started) {
		/* Request line from a file: give up adding to it. */
		c->inj_len = 0;
		return 0;
	}
	while (c->inj_off < c->inj_len) {
		v.iov_base = c->inj + c->inj_off;
		v.iov_len = c->inj_len - c->inj_off;
		r = w->put(w->arg, &v, 1);
		if (r < 0)
			return -1;
		c->inj_off += (uint16_t)r;
	}
	c->inj_len = 0;
	c->inj_started = 0;
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
			response_event(c, &ev);
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
		response_event(c, &ev);
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
		response_event(c, &ev);
	} else if (c->role == ROLE_CLIENT) {
		http_eof(&c->in, &ev);
		response_event(c, &ev);
	}
	q_fail_all(c, "response_incomplete");
	conn_put(e);
}
