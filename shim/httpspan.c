/*
 * HTTP span attributes (see httpspan.h).  Everything is copied into the
 * span record at once: the head's strings live in the connection's stream
 * buffer only until its next bytes.
 */
#include <stdio.h>
#include <string.h>

#include "common/semconv.h"
#include "pipeline/record.h"
#include "http_head.h"
#include "httpspan.h"
#include "propagate.h"
#include "stack.h"

static const char *status_text(unsigned code, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u", code);
	return buf;
}

void hs_peer(const struct fd_entry *e, struct hs_peer *p)
{
	p->host[0] = 0;
	p->port = -1;
	if (e->peer_len)
		p->port = peer_ip(&e->peer, p->host, sizeof(p->host));
	p->len = strlen(p->host);
}

void hs_end(struct span *s, unsigned status, const char *err)
{
	char code[12];
	int client;

	if (!s)
		return;
	if (!span_sampled(s)) {
		ctx_end(s);
		return;
	}
	client = s->kind == SPAN_KIND_CLIENT;
	if (status)
		rec_append_int(s, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
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

static void attr_method(struct span *s, const struct http_head *h)
{
	const char *m = h->method.p;
	size_t n = h->method.n;
	const struct span_attr *a;

	if (m && http_method_known(m, n)) {
		/* The name is the method (no route is known here): the
		 * attribute's bytes serve both. */
		a = rec_append_str(s, ATTR_HTTP_REQUEST_METHOD, m, n);
		if (a)
			s->name = a->v.s;
		else
			rec_name(s, m, n);
	} else {
		rec_name(s, "HTTP", 4);
		rec_append_str(s, ATTR_HTTP_REQUEST_METHOD, "_OTHER", 6);
		if (m)
			rec_append_str(s, ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
				       m, n);
	}
	rec_append_str(s, ATTR_NETWORK_PROTOCOL_VERSION,
		       h->version_minor ? "1.1" : "1.0", 3);
}

int hs_remote(const struct http_head *h, struct ctx_remote *r, char *ts,
	      size_t cap)
{
	return hs_remote_from(h->traceparent, h->tracestate, r, ts, cap);
}

int hs_remote_from(struct str traceparent, struct str tracestate,
		   struct ctx_remote *r, char *ts, size_t cap)
{
	struct propagate_ctx pc;
	int n;

	if (!traceparent.p || propagate_parse_traceparent(
		    traceparent.p, traceparent.n, &pc) != 0)
		return 0;
	memset(r, 0, sizeof(*r));
	memcpy(r->trace_id, pc.trace_id, 16);
	memcpy(r->span_id, pc.span_id, 8);
	r->flags = pc.flags;
	if (tracestate.p) {
		n = propagate_check_tracestate(tracestate.p, tracestate.n, ts,
					       cap);
		if (n > 0) {
			r->trace_state = ts;
			r->trace_state_len = (size_t)n;
		}
	}
	return 1;
}

/* The connection's scheme: https for the plaintext of TLS (tls.c). */
static struct str scheme_of(const struct fd_entry *e)
{
	return e && e->tls ? STR_LIT("https") : STR_LIT("http");
}

static int default_port(const struct fd_entry *e)
{
	return e && e->tls ? 443 : 80;
}

void hs_server(struct span *s, const struct http_head *h,
	       const struct fd_entry *e, const struct hs_peer *peer)
{
	char buf[512];
	struct str path, query, name, addr, scheme = scheme_of(e);
	const struct str *host;
	int port;

	if (!span_sampled(s))
		return;
	attr_method(s, h);
	/* A request rejected before its target was read has none. */
	http_split_target(h->target.p ? h->target.p : "", h->target.n,
			  &path, &query);
	if (h->target.p)
		rec_append_str(s, ATTR_URL_PATH, path.p, path.n);
	if (query.p) {
		size_t n = http_redact_query(query.p, query.n, buf,
					     sizeof(buf));

		rec_append_str(s, ATTR_URL_QUERY, buf, n);
	}
	rec_append_str(s, ATTR_URL_SCHEME, scheme.p, scheme.n);
	host = h->x_forwarded_host.p ? &h->x_forwarded_host : &h->host;
	if (host->p && http_split_host(host->p, host->n, &name, &port) == 0) {
		rec_append_str(s, ATTR_SERVER_ADDRESS, name.p, name.n);
		rec_append_int(s, ATTR_SERVER_PORT,
			       port >= 0 ? port : default_port(e));
	}
	if (http_client_address(h, &addr) == 0)
		rec_append_str(s, ATTR_CLIENT_ADDRESS, addr.p, addr.n);
	else if (peer->len)
		rec_append_str(s, ATTR_CLIENT_ADDRESS, peer->host, peer->len);
	if (peer->len) {
		rec_append_str(s, ATTR_NETWORK_PEER_ADDRESS, peer->host,
			       peer->len);
		rec_append_int(s, ATTR_NETWORK_PEER_PORT, peer->port);
	}
	if (h->user_agent.p)
		rec_append_str(s, ATTR_USER_AGENT_ORIGINAL,
			       h->user_agent.p, h->user_agent.n);
}

void hs_client(struct span *s, const struct http_head *h,
	       const struct fd_entry *e, const struct hs_peer *peer)
{
	char url[1024];
	struct str name;
	int port = -1;
	size_t n;

	if (!span_sampled(s))
		return;
	attr_method(s, h);
	if (h->host.p && http_split_host(h->host.p, h->host.n, &name,
					 &port) == 0) {
		rec_append_str(s, ATTR_SERVER_ADDRESS, name.p, name.n);
	} else if (peer->len) {
		rec_append_str(s, ATTR_SERVER_ADDRESS, peer->host, peer->len);
		port = peer->port;
	}
	if (port < 0)
		port = default_port(e);
	rec_append_int(s, ATTR_SERVER_PORT, port);
	n = http_url_full(scheme_of(e).p, h->host.p ? h->host.p : peer->host,
			  h->host.p ? h->host.n : peer->len,
			  h->target.p ? h->target.p : "", h->target.n,
			  url, sizeof(url));
	rec_append_str(s, ATTR_URL_FULL, url, n);
	if (peer->len) {
		rec_append_str(s, ATTR_NETWORK_PEER_ADDRESS, peer->host,
			       peer->len);
		rec_append_int(s, ATTR_NETWORK_PEER_PORT, peer->port);
	}
}
