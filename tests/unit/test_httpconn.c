/*
 * Unit tests for shim/httpconn.c: trace headers added to requests with
 * exact byte counts under every way a socket can take a write (a writer
 * that takes a few bytes per call, or none), server and client spans from
 * the bytes of a connection, and connections that are not HTTP.
 * batch_submit is replaced by a recorder of ended spans.
 * links: shim/httpconn.c shim/http.c shim/http_head.c shim/httpinject.c shim/httpspan.c shim/peer.c shim/context.c shim/reqtab.c pipeline/record.c pipeline/slab.c shim/propagate.c shim/stack.c shim/log.c
 */
#include <errno.h>
#include <stdio.h>

#include "shim/httpconn.h"
#include "span_recorder.h"
#include "unit.h"

/* A socket that takes steps[i] bytes on call i (0: EAGAIN, after the last
 * step: everything). */
struct fake {
	char wire[1 << 16];
	size_t len;
	const size_t *steps;
	size_t nsteps, call;
	int writes;
	int more;               /* writes told more would follow */
};

static ssize_t fake_write(void *arg, const struct iovec *iov, int n)
{
	struct fake *f = arg;
	size_t cap = (size_t)-1, got = 0;

	f->writes++;
	if (f->call < f->nsteps) {
		cap = f->steps[f->call++];
		if (cap == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
	for (int i = 0; i < n && got < cap; i++) {
		size_t k = iov[i].iov_len;

		if (k > cap - got)
			k = cap - got;
		ck_assert_uint_le(f->len + k, sizeof(f->wire));
		memcpy(f->wire + f->len, iov[i].iov_base, k);
		f->len += k;
		got += k;
	}
	return (ssize_t)got;
}

static ssize_t fake_write_more(void *arg, const struct iovec *iov, int n)
{
	((struct fake *)arg)->more++;
	return fake_write(arg, iov, n);
}

/* Writes all of buf as a program would: retry on EAGAIN, continue after
 * partial writes, in pieces of at most piece bytes (0: all at once),
 * split into two iovecs at split when split > 0.  Checks every count. */
static void program_write(struct fd_entry *e, struct fake *f,
			  const char *buf, size_t len, size_t piece,
			  size_t split, int propagate)
{
	struct hc_writer w = { .put = fake_write, .arg = f,
			       .put_more = fake_write_more };
	size_t done = 0;
	int spins = 0;

	while (done < len) {
		size_t want = len - done;
		struct iovec v[2];
		int n = 1;
		ssize_t r;

		if (piece && want > piece)
			want = piece;
		v[0].iov_base = (char *)buf + done;
		v[0].iov_len = want;
		if (split > done && split < done + want) {
			v[0].iov_len = split - done;
			v[1].iov_base = (char *)buf + split;
			v[1].iov_len = want - v[0].iov_len;
			n = 2;
		}
		errno = 0;
		r = hc_write(e, v, n, &w, propagate);
		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_lt(++spins, 100000);
			continue;
		}
		ck_assert_int_gt(r, 0);
		ck_assert_uint_le((size_t)r, want);
		done += (size_t)r;
	}
}

static void program_read(struct fd_entry *e, const char *buf, size_t len,
			 size_t piece)
{
	for (size_t done = 0; done < len;) {
		size_t k = len - done;
		struct iovec v;

		if (piece && k > piece)
			k = piece;
		v.iov_base = (char *)buf + done;
		v.iov_len = k;
		hc_after_read(e, &v, 1, (ssize_t)k, 0, 1);
		done += k;
	}
}

static const char *attr_str(const struct span *s, const char *key,
			    char *buf, size_t cap)
{
	for (int i = 0; i < s->nattrs; i++) {
		const struct span_attr *a = &s->attrs[i];

		if (strcmp(a->key, key) != 0)
			continue;
		if (a->type == SPAN_ATTR_INT) {
			snprintf(buf, cap, "%lld", (long long)a->v.i);
			return buf;
		}
		snprintf(buf, cap, "%.*s", (int)a->v.s.len,
			 span_str_ptr(s, a->v.s));
		return buf;
	}
	return NULL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static const char REQ[] =
	"POST /upload?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
	"Content-Length: 10\r\n\r\n0123456789";
static const char RESP[] =
	"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";

/* Bytes of REQ's head, its empty line included. */
static size_t req_head_len(void)
{
	return (size_t)(strstr(REQ, "\r\n\r\n") + 4 - REQ);
}

/* What the wire must carry: REQ with one traceparent of span s after the
 * request line (the head whole in the first write) or before the empty
 * line (the head in pieces). */
static size_t expected_wire(const struct span *s, int at_end, char *out,
			    size_t cap)
{
	const char *cut = at_end ? REQ + req_head_len() - 2 :
				   strstr(REQ, "\r\n") + 2;
	char tp[56];
	size_t k = (size_t)(cut - REQ);

	ctx_traceparent(s, tp, sizeof(tp));
	return (size_t)snprintf(out, cap, "%.*straceparent: %s\r\n%s", (int)k,
				REQ, tp, cut);
}

/* One request written with the socket taking steps[], the response read:
 * exactly the expected bytes on the wire and one CLIENT span. */
static void client_roundtrip(const size_t *steps, size_t nsteps,
			     size_t piece, size_t split)
{
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	char want[512], buf[64];
	size_t wlen;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	f->steps = steps;
	f->nsteps = nsteps;
	nsubmitted = 0;
	program_write(&e, f, REQ, sizeof(REQ) - 1, piece, split, 1);
	program_read(&e, RESP, sizeof(RESP) - 1, 0);
	ck_assert_int_eq(nsubmitted, 1);
	wlen = expected_wire(&submitted[0], piece && piece < req_head_len(),
			     want, sizeof(want));
	ck_assert_uint_eq(f->len, wlen);
	ck_assert_msg(memcmp(f->wire, want, wlen) == 0, "wire: %.*s",
		      (int)f->len, f->wire);
	ck_assert_int_eq(submitted[0].kind, SPAN_KIND_CLIENT);
	ck_assert_str_eq(attr_str(&submitted[0], "http.response.status_code",
				  buf, sizeof(buf)), "201");
	ck_assert_str_eq(attr_str(&submitted[0], "url.full", buf,
				  sizeof(buf)),
			 "http://example.com:8080/upload?x=1");
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
	free(f);
}

START_TEST(inject_whole_write)
{
	client_roundtrip(NULL, 0, 0, 0);
}
END_TEST

START_TEST(inject_every_first_cut)
{
	/* The socket takes k bytes, then nothing, then everything: the cut
	 * falls before, inside and after our header. */
	for (size_t k = 1; k < 200; k++) {
		size_t steps[2] = { k, 0 };

		client_roundtrip(steps, 2, 0, 0);
	}
}
END_TEST

START_TEST(inject_trickle)
{
	/* One byte per call, EAGAIN in between. */
	size_t steps[400];

	for (size_t i = 0; i < 400; i++)
		steps[i] = i % 2 ? 0 : 1;
	client_roundtrip(steps, 400, 0, 0);
}
END_TEST

START_TEST(inject_writev_pieces)
{
	/* The request line split across iovecs, written in pieces. */
	size_t steps[] = { 3, 0, 40, 5, 0, 7 };

	for (size_t split = 1; split < 30; split++)
		client_roundtrip(steps, 6, 0, split);
	client_roundtrip(steps, 6, 50, 10);
}
END_TEST

/* REQ written as REQ[0, split) then the rest, the socket taking steps[]:
 * the header goes after the request line when the first write holds the
 * whole head, else just before the empty line; every count exact. */
static void split_roundtrip(size_t split, const size_t *steps, size_t nsteps)
{
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	char want[512];
	size_t wlen;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	f->steps = steps;
	f->nsteps = nsteps;
	nsubmitted = 0;
	program_write(&e, f, REQ, split, 0, 0, 1);
	program_write(&e, f, REQ + split, sizeof(REQ) - 1 - split, 0, 0, 1);
	program_read(&e, RESP, sizeof(RESP) - 1, 0);
	ck_assert_int_eq(nsubmitted, 1);
	ck_assert_int_eq(submitted[0].status, SPAN_STATUS_UNSET);
	wlen = expected_wire(&submitted[0], split < req_head_len(), want,
			     sizeof(want));
	ck_assert_msg(f->len == wlen && memcmp(f->wire, want, wlen) == 0,
		      "split %zu: %.*s", split, (int)f->len, f->wire);
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
	free(f);
}

START_TEST(inject_head_split_anywhere)
{
	/* "POST " then the rest, inside the version, inside a header name,
	 * between CR and LF of the empty line...: every cut. */
	static const size_t trickle[] = { 1, 0, 2, 0, 1, 1, 0, 3, 0, 1 };
	static const size_t blocked[] = { 0, 0, 5, 0 };

	for (size_t split = 1; split < sizeof(REQ) - 1; split++) {
		split_roundtrip(split, NULL, 0);
		split_roundtrip(split, trickle, 10);
		split_roundtrip(split, blocked, 4);
	}
}
END_TEST

START_TEST(inject_head_byte_by_byte)
{
	/* The program writes one byte per call, a socket that sometimes
	 * takes nothing: the header still goes in, before the empty line. */
	static const size_t steps[] = { 1, 0, 1, 1, 0 };
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	char want[512];
	size_t wlen;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	f->steps = steps;
	f->nsteps = 5;
	program_write(&e, f, REQ, sizeof(REQ) - 1, 1, 0, 1);
	program_read(&e, RESP, sizeof(RESP) - 1, 1);
	ck_assert_int_eq(nsubmitted, 1);
	wlen = expected_wire(&submitted[0], 1, want, sizeof(want));
	ck_assert_uint_eq(f->len, wlen);
	ck_assert(memcmp(f->wire, want, wlen) == 0);
	hc_close(&e);
	free(f);
}
END_TEST

START_TEST(pieces_with_own_traceparent)
{
	/* A head in pieces that carries the program's traceparent: nothing
	 * is added, not one byte changed. */
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: h\r\ntraceparent: "
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		"\r\n\r\n";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	for (size_t piece = 1; piece < 40; piece++) {
		memset(&e, 0, sizeof(e));
		e.kind = FD_TCP;
		f->len = 0;
		program_write(&e, f, req, sizeof(req) - 1, piece, 0, 1);
		ck_assert_uint_eq(f->len, sizeof(req) - 1);
		ck_assert(memcmp(f->wire, req, f->len) == 0);
		hc_close(&e);
	}
	free(f);
}
END_TEST

START_TEST(not_http_after_get)
{
	/* Bytes that start like a request and are not one (a line protocol,
	 * HTTP/0.9): passed on as they are, in every cut. */
	static const char *const streams[] = {
		"GET key\r\nSET a b\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GETX\x01 / HTTP/1.1\r\n\r\n",
		"GET /\r\nHost: h\r\n\r\n",
	};
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		size_t len = strlen(streams[i]);

		for (size_t piece = 1; piece <= len; piece++) {
			memset(&e, 0, sizeof(e));
			e.kind = FD_TCP;
			f->len = 0;
			nsubmitted = 0;
			program_write(&e, f, streams[i], len, piece, 0, 1);
			ck_assert_uint_eq(f->len, len);
			ck_assert(memcmp(f->wire, streams[i], len) == 0);
			hc_close(&e);
			ck_assert_int_eq(nsubmitted, 0);
			ck_assert_uint_eq(hc_in_use(), 0);
		}
	}
	free(f);
}
END_TEST

START_TEST(no_inject_when_disabled)
{
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	program_write(&e, f, REQ, sizeof(REQ) - 1, 0, 0, 0);
	ck_assert_uint_eq(f->len, sizeof(REQ) - 1);
	ck_assert(memcmp(f->wire, REQ, f->len) == 0);
	hc_close(&e);
	/* Closed before the response: a failed span. */
	ck_assert_int_eq(nsubmitted, 1);
	ck_assert_int_eq(submitted[0].status, SPAN_STATUS_ERROR);
	free(f);
}
END_TEST

START_TEST(existing_traceparent_kept_or_rewritten)
{
	static const char other[] =
		"GET / HTTP/1.1\r\nHost: h\r\ntraceparent: "
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		"\r\n\r\n";
	struct ctx_remote rem;
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	struct span *server;
	char req[256], tp[56];
	size_t steps[] = { 60, 0, 3, 0, 1 };

	/* The program's own header of another trace (an SDK): our span
	 * joins that trace under the program's span; the header is left
	 * alone, nothing added ... */
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	nsubmitted = 0;
	program_write(&e, f, other, sizeof(other) - 1, 0, 0, 1);
	ck_assert_uint_eq(f->len, sizeof(other) - 1);
	ck_assert(memcmp(f->wire, other, f->len) == 0);
	hc_close(&e);
	ck_assert_int_eq(nsubmitted, 1);
	ctx_traceparent(&submitted[0], tp, sizeof(tp));
	ck_assert(memcmp(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36) == 0);
	ck_assert(memcmp(submitted[0].parent_span_id,
			 "\xb7\xad\x6b\x71\x69\x20\x33\x31", 8) == 0);
	ck_assert_int_eq(submitted[0].parent_is_remote, 1);
	/* ... unless OTELSHIM_REWRITE_TRACEPARENT: then its parent-id is
	 * our span's, in place. */
	cfg.rewrite_traceparent = 1;
	memset(f, 0, sizeof(*f));
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	nsubmitted = 0;
	program_write(&e, f, other, sizeof(other) - 1, 0, 0, 1);
	hc_close(&e);
	ck_assert_int_eq(nsubmitted, 1);
	ctx_traceparent(&submitted[0], tp, sizeof(tp));
	ck_assert(memcmp(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36) == 0);
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: h\r\ntraceparent: %s\r\n\r\n", tp);
	ck_assert_uint_eq(f->len, strlen(req));
	ck_assert(memcmp(f->wire, req, f->len) == 0);
	cfg.rewrite_traceparent = 0;
	memset(f, 0, sizeof(*f));

	/* A proxy forwarding its caller's header while handling a request
	 * of that trace: the parent-id becomes our client span's. */
	memset(&rem, 0, sizeof(rem));
	memcpy(rem.trace_id, "\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb"
	       "\x21\x1c\x80\x31\x9c", 16);
	memcpy(rem.span_id, "\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
	rem.flags = 1;
	server = ctx_start(SPAN_KIND_SERVER, &rem);
	ctx_set_active(server);
	memset(f, 0, sizeof(*f));
	f->steps = steps;
	f->nsteps = 5;
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	nsubmitted = 0;
	program_write(&e, f, other, sizeof(other) - 1, 0, 0, 1);
	hc_close(&e);
	ck_assert_int_eq(nsubmitted, 1);
	ctx_traceparent(&submitted[0], tp, sizeof(tp));
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.1\r\nHost: h\r\ntraceparent: %s\r\n\r\n", tp);
	ck_assert_uint_eq(f->len, strlen(req));
	ck_assert_msg(memcmp(f->wire, req, f->len) == 0, "%.*s",
		      (int)f->len, f->wire);
	ctx_end(server);
	free(f);
}
END_TEST

START_TEST(server_span_from_pieces)
{
	static const char req[] =
		"GET /a/b?token=1&sig=secret HTTP/1.1\r\n"
		"Host: svc.local:9000\r\nUser-Agent: ua/1\r\n"
		"X-Forwarded-For: 10.1.2.3, 10.0.0.1\r\n"
		"traceparent: "
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
		"\r\n";
	static const char resp[] =
		"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	char buf[128], tid[33], pid[17];
	const struct span *s;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	e.accepted = 1;
	for (int round = 0; round < 3; round++) {
		nsubmitted = 0;
		program_read(&e, req, sizeof(req) - 1, 1);
		ck_assert_ptr_nonnull(ctx_active());
		program_write(&e, f, resp, sizeof(resp) - 1, 7, 0, 1);
		ck_assert_ptr_null(ctx_active());
		ck_assert_int_eq(nsubmitted, 1);
		s = &submitted[0];
		ck_assert_int_eq(s->kind, SPAN_KIND_SERVER);
		hex(s->trace_id, 16, tid);
		hex(s->parent_span_id, 8, pid);
		ck_assert_str_eq(tid, "0af7651916cd43dd8448eb211c80319c");
		ck_assert_str_eq(pid, "b7ad6b7169203331");
		ck_assert_str_eq(attr_str(s, "url.path", buf, sizeof(buf)),
				 "/a/b");
		ck_assert_str_eq(attr_str(s, "url.query", buf, sizeof(buf)),
				 "token=1&sig=REDACTED");
		ck_assert_str_eq(attr_str(s, "server.address", buf,
					  sizeof(buf)), "svc.local");
		ck_assert_str_eq(attr_str(s, "server.port", buf, sizeof(buf)),
				 "9000");
		ck_assert_str_eq(attr_str(s, "client.address", buf,
					  sizeof(buf)), "10.1.2.3");
		ck_assert_str_eq(attr_str(s, "user_agent.original", buf,
					  sizeof(buf)), "ua/1");
		ck_assert_str_eq(attr_str(s, "error.type", buf, sizeof(buf)),
				 "503");
		ck_assert_int_eq(s->status, SPAN_STATUS_ERROR);
	}
	/* The server's bytes were never changed. */
	ck_assert_uint_eq(f->len, 3 * (sizeof(resp) - 1));
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
	free(f);
}
END_TEST

/* A server that answers before it has read a request's whole head (nginx
 * and a header too large), or rejects a malformed one: the request gets
 * its span, with the status, from what was read of it; the rest of its
 * head read afterwards makes no second span; bytes that never looked like
 * a request make none. */
START_TEST(server_answers_early)
{
	static const char head1[] = "GET /big?q=1 HTTP/1.1\r\nHost: h\r\n"
				    "X-Big: aaaa";
	static const char head2[] = "aaaaaaaa\r\n\r\n";
	static const char bad[] = "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char junk[] = "\x16\x03\x01 hello\r\n\r\n";
	static const char resp[] = "HTTP/1.1 400 Bad Request\r\n"
				   "Content-Length: 0\r\n\r\n";
	static const char ok_req[] = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
				 "\r\n";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	char buf[128];
	const struct span *s;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	e.accepted = 1;
	program_read(&e, head1, sizeof(head1) - 1, 1);
	program_write(&e, f, resp, sizeof(resp) - 1, 0, 0, 1);
	ck_assert_int_eq(nsubmitted, 1);
	s = &submitted[0];
	ck_assert_int_eq(s->kind, SPAN_KIND_SERVER);
	ck_assert_str_eq(attr_str(s, "url.path", buf, sizeof(buf)), "/big");
	ck_assert_str_eq(attr_str(s, "http.response.status_code", buf,
				  sizeof(buf)), "400");
	ck_assert_int_eq(s->status, SPAN_STATUS_UNSET);
	/* The server drains the rest: no second span; a next request on
	 * the connection is traced as usual. */
	program_read(&e, head2, sizeof(head2) - 1, 1);
	ck_assert_int_eq(nsubmitted, 1);
	program_read(&e, ok_req, sizeof(ok_req) - 1, 1);
	program_write(&e, f, ok, sizeof(ok) - 1, 0, 0, 1);
	ck_assert_int_eq(nsubmitted, 2);
	ck_assert_str_eq(attr_str(&submitted[1], "url.path", buf,
				  sizeof(buf)), "/next");
	hc_close(&e);

	nsubmitted = 0;
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	e.accepted = 1;
	program_read(&e, bad, sizeof(bad) - 1, 1);
	program_write(&e, f, resp, sizeof(resp) - 1, 0, 0, 1);
	ck_assert_int_eq(nsubmitted, 1);
	s = &submitted[0];
	ck_assert_str_eq(attr_str(s, "http.request.method", buf,
				  sizeof(buf)), "GET");
	ck_assert_ptr_null(attr_str(s, "url.path", buf, sizeof(buf)));
	ck_assert_str_eq(attr_str(s, "http.response.status_code", buf,
				  sizeof(buf)), "400");
	hc_close(&e);

	nsubmitted = 0;
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	e.accepted = 1;
	program_read(&e, junk, sizeof(junk) - 1, 1);
	program_write(&e, f, resp, sizeof(resp) - 1, 0, 0, 1);
	ck_assert_int_eq(nsubmitted, 0);
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
	free(f);
}
END_TEST

START_TEST(server_sendfile_body)
{
	static const char req[] = "GET /f HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char head[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	struct hc_writer w = { .put = fake_write, .arg = f };

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	program_read(&e, req, sizeof(req) - 1, 0);
	program_write(&e, f, head, sizeof(head) - 1, 0, 0, 1);
	ck_assert_int_eq(hc_before_sendfile(&e, &w), 0);
	hc_after_sendfile(&e, 60000, 0);
	ck_assert_int_eq(nsubmitted, 0);
	hc_after_sendfile(&e, 40000, 0);
	ck_assert_int_eq(nsubmitted, 1);
	hc_close(&e);
	free(f);
}
END_TEST

START_TEST(not_http_is_released)
{
	static const char bin[] = "\x00\x01\x02\x03 binary GET / HTTP/1.1";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	program_write(&e, f, bin, sizeof(bin) - 1, 0, 0, 1);
	ck_assert_int_eq(e.proto, FD_PROTO_NONE);
	ck_assert_uint_eq(e.conn, 0);
	ck_assert_uint_eq(hc_in_use(), 0);
	ck_assert(memcmp(f->wire, bin, sizeof(bin) - 1) == 0);
	ck_assert_int_eq(nsubmitted, 0);
	free(f);
}
END_TEST

START_TEST(pipelined_keepalive)
{
	static const char two[] =
		"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
		"HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
		"HTTP/1.1 404 No\r\nContent-Length: 9\r\n\r\n";
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	program_read(&e, two, sizeof(two) - 1, 0);
	program_write(&e, f, resp, sizeof(resp) - 1, 0, 0, 1);
	ck_assert_int_eq(nsubmitted, 2);
	ck_assert_int_eq(submitted[0].status, SPAN_STATUS_UNSET);
	ck_assert_int_eq(submitted[1].status, SPAN_STATUS_UNSET);
	hc_close(&e);
	free(f);
}
END_TEST

/* Three requests of different framings and the responses to them, in
 * order: each response's status tells which request it answers. */
static const char PIPE_REQ[] =
	"POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde"
	"GET /two HTTP/1.1\r\nHost: h\r\n\r\n"
	"PUT /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	"\r\n3\r\nxyz\r\n0\r\n\r\n";
static const char PIPE_RESP[] =
	"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
	"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\n!";
static const char *const PIPE_URL[] = { "http://h/one", "http://h/two",
					"http://h/three" };
static const char *const PIPE_STATUS[] = { "201", "404", "202" };

/* Start of request i (0..3) of PIPE_REQ; 3: its end. */
static size_t pipe_start(int i)
{
	const char *p = PIPE_REQ;
	static const char *const first[] = { "POST /one", "GET /two",
					     "PUT /three" };

	if (i == 3)
		return sizeof(PIPE_REQ) - 1;
	return (size_t)(strstr(p, first[i]) - p);
}

/*
 * The wire after nreq requests of PIPE_REQ: the program's bytes with one
 * traceparent line added to each head (nothing else), that of the client
 * span answered by the matching response; the spans ended in order.
 */
static void check_pipelined(const struct fake *f, int nreq)
{
	char buf[64], tp[56];
	const char *w = f->wire, *end = f->wire + f->len;
	size_t plen = pipe_start(nreq), prog = 0;

	ck_assert_int_eq(nsubmitted, nreq);
	for (int i = 0; i < nreq; i++) {
		const struct span *s = &submitted[i];
		const char *head_end, *line;
		size_t want = pipe_start(i + 1) - pipe_start(i);
		int found = 0;

		ck_assert_int_eq(s->kind, SPAN_KIND_CLIENT);
		ck_assert_str_eq(attr_str(s, "url.full", buf, sizeof(buf)),
				 PIPE_URL[i]);
		ck_assert_str_eq(attr_str(s, "http.response.status_code", buf,
					  sizeof(buf)), PIPE_STATUS[i]);
		ctx_traceparent(s, tp, sizeof(tp));
		head_end = memmem(w, (size_t)(end - w), "\r\n\r\n", 4);
		ck_assert_ptr_nonnull(head_end);
		/* Copy the request's bytes without our line, count it. */
		for (line = w; line < head_end + 2;) {
			const char *lf = memchr(line, '\n', (size_t)(end - line));

			if (strncmp(line, "traceparent: ", 13) == 0) {
				ck_assert_int_eq(strncmp(line + 13, tp, 55), 0);
				found++;
			} else {
				ck_assert(memcmp(line, PIPE_REQ + prog,
						 (size_t)(lf + 1 - line)) == 0);
				prog += (size_t)(lf + 1 - line);
				want -= (size_t)(lf + 1 - line);
			}
			line = lf + 1;
		}
		ck_assert_msg(found == 1, "request %d: %d traceparent", i,
			      found);
		ck_assert(memcmp(line, PIPE_REQ + prog, want) == 0);
		prog += want;
		w = line + want;
	}
	ck_assert_uint_eq(prog, plen);
	ck_assert_ptr_eq(w, end);
	/* Every request its own trace position: distinct span ids. */
	for (int i = 1; i < nreq; i++)
		ck_assert(memcmp(submitted[i].span_id, submitted[0].span_id,
				 8) != 0);
}

/* PIPE_REQ's first nreq requests written as writes cut at cut[] (the
 * positions where one write ends and the next begins), the socket taking
 * steps[]; the responses read in one piece. */
static void pipelined_roundtrip(int nreq, const size_t *cut, int ncut,
				const size_t *steps, size_t nsteps)
{
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));
	size_t len = pipe_start(nreq), from = 0;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	f->steps = steps;
	f->nsteps = nsteps;
	nsubmitted = 0;
	for (int i = 0; i <= ncut; i++) {
		size_t to = i < ncut ? cut[i] : len;

		if (to > from)
			program_write(&e, f, PIPE_REQ + from, to - from, 0, 0,
				      1);
		from = to;
	}
	program_read(&e, PIPE_RESP, sizeof(PIPE_RESP) - 1, 0);
	check_pipelined(f, nreq);
	if (!steps && !ncut) {
		/* One real write per request, held for the next but the
		 * last's. */
		ck_assert_int_eq(f->writes, nreq);
		ck_assert_int_eq(f->more, nreq - 1);
	}
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
	free(f);
}

START_TEST(pipelined_client_one_write)
{
	static const size_t trickle[] = { 1, 0, 7, 0, 0, 30, 2, 0, 50, 1 };

	/* Two, then three requests in one write; the socket taking all, a
	 * few bytes per call, or cutting at every byte of the first call. */
	for (int nreq = 2; nreq <= 3; nreq++) {
		pipelined_roundtrip(nreq, NULL, 0, NULL, 0);
		pipelined_roundtrip(nreq, NULL, 0, trickle, 10);
		for (size_t k = 1; k < pipe_start(nreq) + 3 * 70; k++) {
			size_t steps[2] = { k, 0 };

			pipelined_roundtrip(nreq, NULL, 0, steps, 2);
		}
	}
}
END_TEST

START_TEST(pipelined_client_with_partial_next)
{
	static const size_t trickle[] = { 3, 0, 1, 0, 20, 0, 1, 9 };

	/* A request and the start of the next in one write, its rest in a
	 * second, for every cut inside the second and third requests. */
	for (size_t cut = pipe_start(1) + 1; cut < pipe_start(3); cut++) {
		size_t cuts[1] = { cut };

		pipelined_roundtrip(3, cuts, 1, NULL, 0);
		pipelined_roundtrip(3, cuts, 1, trickle, 8);
	}
}
END_TEST

START_TEST(pipelined_client_writev)
{
	struct fd_entry e;
	struct fake *f = calloc(1, sizeof(*f));

	/* Three requests in one writev, cut into iovecs at every place. */
	for (size_t split = 1; split < pipe_start(3); split++) {
		memset(&e, 0, sizeof(e));
		e.kind = FD_TCP;
		memset(f, 0, sizeof(*f));
		nsubmitted = 0;
		program_write(&e, f, PIPE_REQ, pipe_start(3), 0, split, 1);
		program_read(&e, PIPE_RESP, sizeof(PIPE_RESP) - 1, 7);
		check_pipelined(f, 3);
		hc_close(&e);
	}
	free(f);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("httpconn");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, inject_whole_write);
	tcase_add_test(tc, inject_every_first_cut);
	tcase_add_test(tc, inject_trickle);
	tcase_add_test(tc, inject_writev_pieces);
	tcase_add_test(tc, inject_head_split_anywhere);
	tcase_add_test(tc, inject_head_byte_by_byte);
	tcase_add_test(tc, pieces_with_own_traceparent);
	tcase_add_test(tc, not_http_after_get);
	tcase_add_test(tc, no_inject_when_disabled);
	tcase_add_test(tc, existing_traceparent_kept_or_rewritten);
	tcase_add_test(tc, server_span_from_pieces);
	tcase_add_test(tc, server_answers_early);
	tcase_add_test(tc, server_sendfile_body);
	tcase_add_test(tc, not_http_is_released);
	tcase_add_test(tc, pipelined_keepalive);
	tcase_add_test(tc, pipelined_client_one_write);
	tcase_add_test(tc, pipelined_client_with_partial_next);
	tcase_add_test(tc, pipelined_client_writev);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(suite());
}
