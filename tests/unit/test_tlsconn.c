/*
 * Unit tests for shim/tlsconn.c: a TLS write that gets trace headers goes
 * out as several real writes, yet the program sees exactly a TLS
 * library's results.  The fake library below keeps OpenSSL's rules: after
 * a retryable failure the next write must repeat the failed call's buffer
 * and length (else the test fails, as SSL_R_BAD_WRITE_RETRY would), a
 * write in the default mode returns its whole length or fails (having
 * maybe taken part of it internally), and with partial writes enabled it
 * may return less; GnuTLS's writes may return less too.  Failures and sizes follow a seeded schedule.
 * batch_submit is replaced by a recorder of ended spans.
 * links: shim/tlsconn.c shim/httpconn.c shim/http.c shim/http_head.c shim/httpinject.c shim/httpspan.c shim/peer.c shim/context.c shim/reqtab.c pipeline/record.c pipeline/slab.c shim/propagate.c shim/stack.c shim/log.c
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "shim/httpconn.h"
#include "shim/tlsconn.h"
#include "span_recorder.h"
#include "unit.h"

/* The fake TLS library: one object, what reached the peer in wire. */
struct lib {
	char wire[1 << 16];
	size_t len;
	enum tls_wmode mode;
	int partial;            /* may return less than asked */
	uint32_t seed;
	int fail_pct;
	const void *pend_buf;   /* the call that failed, to be repeated */
	char pend_copy[4096];   /* GnuTLS: the record it keeps */
	size_t pend_len;
	size_t pend_took;       /* of its bytes already taken inside */
	int last_failed;        /* what SSL_get_error would report */
	int calls;
};

static uint32_t rnd(struct lib *l)
{
	l->seed = l->seed * 1103515245u + 12345u;
	return l->seed >> 8;
}

static void take(struct lib *l, const char *p, size_t k)
{
	ck_assert_uint_le(l->len + k, sizeof(l->wire));
	memcpy(l->wire + l->len, p, k);
	l->len += k;
}

static long lib_write(void *arg, const void *buf, size_t len, int *retry)
{
	struct lib *l = arg;
	size_t took = 0, k;

	l->calls++;
	ck_assert_uint_gt(len, 0);
	if (l->pend_buf && l->mode == TLS_W_RECORD) {
		/* GnuTLS sends the record it kept and says so, whatever it
		 * is given: the same bytes must come first (our header with
		 * the program's bytes after it is laid out afresh). */
		ck_assert_uint_ge(len, l->pend_len);
		ck_assert_int_eq(memcmp(buf, l->pend_copy, l->pend_len), 0);
		len = l->pend_len;
		took = l->pend_took;
		l->pend_buf = NULL;
		if ((int)(rnd(l) % 100) >= l->fail_pct) {
			l->last_failed = 0;
			take(l, (const char *)buf + took, len - took);
			return (long)len;
		}
	} else if (l->pend_buf) {
		/* OpenSSL's retry rule. */
		ck_assert_ptr_eq(buf, l->pend_buf);
		ck_assert_uint_eq(len, l->pend_len);
		took = l->pend_took;
		l->pend_buf = NULL;
	}
	if ((int)(rnd(l) % 100) < l->fail_pct) {
		/* Blocked, maybe after taking some bytes internally (a
		 * default-mode write of several records). */
		if (!l->partial && len - took > 1) {
			k = rnd(l) % (len - took);
			take(l, (const char *)buf + took, k);
			took += k;
		}
		l->pend_buf = buf;
		l->pend_len = len;
		if (l->mode == TLS_W_RECORD) {
			ck_assert_uint_le(len, sizeof(l->pend_copy));
			memcpy(l->pend_copy, buf, len);
		}
		l->pend_took = took;
		l->last_failed = 1;
		*retry = 1;
		errno = EAGAIN;
		return -1;
	}
	l->last_failed = 0;
	k = len - took;
	if (l->partial && took == 0 && k > 1)
		k = 1 + rnd(l) % k;
	take(l, (const char *)buf + took, k);
	return (long)(took + k);
}

static const char REQ[] =
	"POST /upload?id=7 HTTP/1.1\r\nHost: example.test:8443\r\n"
	"Content-Length: 20\r\n\r\n0123456789abcdefghij";

/* Bytes of the traceparent line the tests' requests get. */
#define TP_LINE (13 + 55 + 2)

/* GnuTLS keeps a record after a failed write: it must hold some of the
 * program's bytes, and the header bytes in it must be known, for a retry
 * without a buffer to be answered (gnutls.c).  Ours are the traceparent
 * lines of the wire as it will be (what went out, then the kept record):
 * the tests' requests carry none of their own. */
static void check_kept(const struct tls_wstate *ws, const struct lib *l)
{
	static const char name[] = "\r\ntraceparent: ";
	size_t lo = l->len, hi = l->len + l->pend_len, ours = 0;
	char all[sizeof(l->wire) + sizeof(l->pend_copy)];
	size_t n = 0;

	ck_assert_int_eq(ws->kept, l->pend_buf != NULL);
	if (!ws->kept)
		return;
	memcpy(all, l->wire, l->len);
	memcpy(all + l->len, l->pend_copy, l->pend_len);
	n = hi;
	for (size_t i = 0; i + sizeof(name) - 1 <= n; i++) {
		size_t a, z;

		if (memcmp(all + i, name, sizeof(name) - 1) != 0)
			continue;
		a = i + 2;
		z = a + TP_LINE;
		if (z > lo && a < hi)
			ours += (z < hi ? z : hi) - (a > lo ? a : lo);
	}
	ck_assert_uint_eq(ws->kept_ours, ours);
	ck_assert_uint_gt(l->pend_len, ours);
}

/* The program writes buf[0..len) in pieces of at most piece bytes (0:
 * at once) through tls_write, as it would through SSL_write: the same
 * call again after a failure, on from what a success returned.  Checks
 * every result against the library's rules. */
static void program_write(struct fd_entry *e, struct tls_wstate *ws,
			  struct lib *l, const char *buf, size_t len,
			  size_t piece)
{
	struct tls_io io = { lib_write, l };
	size_t done = 0;
	int spins = 0;

	while (done < len) {
		size_t want = len - done;
		long r;

		if (piece && want > piece)
			want = piece;
		errno = 0;
		r = tls_write(e, ws, buf + done, want, l->mode, &io, 1);
		if (l->mode == TLS_W_RECORD)
			check_kept(ws, l);
		if (r <= 0) {
			ck_assert_int_eq(r, -1);
			ck_assert_int_eq(errno, EAGAIN);
			/* The failure the program reads is the last call's. */
			ck_assert(l->last_failed);
			ck_assert_int_lt(++spins, 100000);
			continue;
		}
		if (!l->partial)
			ck_assert_int_eq(r, (long)want);
		ck_assert_uint_le((size_t)r, want);
		done += (size_t)r;
	}
	ck_assert(!l->pend_buf);
}

static const char *attr_str(const struct span *s, const char *key,
			    char *buf, size_t cap)
{
	for (int i = 0; i < s->nattrs; i++) {
		const struct span_attr *a = &s->attrs[i];

		if (strcmp(a->key, key) != 0)
			continue;
		if (a->type == SPAN_ATTR_INT)
			snprintf(buf, cap, "%lld", (long long)a->v.i);
		else
			snprintf(buf, cap, "%.*s", (int)a->v.s.len,
				 span_str_ptr(s, a->v.s));
		return buf;
	}
	return "(none)";
}

static struct fd_entry client_entry(void)
{
	struct fd_entry e;
	struct sockaddr_in *a = (struct sockaddr_in *)&e.peer;

	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	e.tls = 1;
	a->sin_family = AF_INET;
	a->sin_port = htons(8443);
	a->sin_addr.s_addr = htonl(0x7f000001);
	e.peer_len = sizeof(*a);
	return e;
}

/* The wire must be REQ with one traceparent line after the request
 * line, or before the empty line when the head came in pieces. */
static void check_wire(const struct lib *l, int at_end)
{
	const char *line_end = at_end ? strstr(REQ, "\r\n\r\n") + 2 :
					strstr(REQ, "\r\n") + 2;
	size_t head = (size_t)(line_end - REQ), hdr;
	const char *tp = l->wire + head;

	ck_assert_uint_gt(l->len, sizeof(REQ) - 1);
	ck_assert_int_eq(memcmp(l->wire, REQ, head), 0);
	ck_assert_int_eq(strncmp(tp, "traceparent: 00-", 16), 0);
	hdr = l->len - (sizeof(REQ) - 1);
	ck_assert_int_eq(memcmp(tp + hdr - 2, "\r\n", 2), 0);
	ck_assert_int_eq(memcmp(tp + hdr, line_end, sizeof(REQ) - 1 - head),
			 0);
}

static void one_request(enum tls_wmode mode, int fail_pct, uint32_t seed,
			size_t piece)
{
	static struct lib l;
	struct fd_entry e = client_entry();
	struct tls_wstate ws = { 0 };
	const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[128];

	memset(&l, 0, sizeof(l));
	l.mode = mode;
	l.partial = mode != TLS_W_WHOLE;
	l.fail_pct = fail_pct;
	l.seed = seed;
	nsubmitted = 0;
	program_write(&e, &ws, &l, REQ, sizeof(REQ) - 1, piece);
	check_wire(&l, piece && piece < (size_t)(strstr(REQ, "\r\n\r\n") +
						 4 - REQ));
	tls_after_read(&e, resp, sizeof(resp) - 1, TLS_READ_DATA, 1);
	ck_assert_int_eq(nsubmitted, 1);
	ck_assert_int_eq(submitted[0].kind, SPAN_KIND_CLIENT);
	ck_assert_str_eq(attr_str(&submitted[0], "url.full", buf,
				  sizeof(buf)),
			 "https://example.test:8443/upload?id=7");
	tls_after_read(&e, resp, 0, TLS_READ_EOF, 1);
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
}

START_TEST(default_mode_retries)
{
	for (uint32_t seed = 1; seed <= 300; seed++)
		one_request(TLS_W_WHOLE, 50, seed, 0);
}
END_TEST

START_TEST(partial_mode_retries)
{
	for (uint32_t seed = 1; seed <= 300; seed++)
		one_request(TLS_W_PARTIAL, 40, seed, 0);
}
END_TEST

/* GnuTLS: progress is reported even when a later piece blocked, and the
 * next write starts with the very call that failed. */
START_TEST(record_mode_retries)
{
	for (uint32_t seed = 1; seed <= 300; seed++)
		one_request(TLS_W_RECORD, 40, seed, 0);
}
END_TEST

START_TEST(never_blocked)
{
	one_request(TLS_W_WHOLE, 0, 1, 0);
	one_request(TLS_W_PARTIAL, 0, 1, 0);
	one_request(TLS_W_RECORD, 0, 1, 0);
}
END_TEST

START_TEST(written_in_pieces)
{
	/* The head cut after its request line, in 5-byte pieces, one
	 * byte at a time: the header goes before the empty line. */
	static const size_t pieces[] = { 64, 5, 1 };

	for (uint32_t seed = 1; seed <= 100; seed++) {
		for (size_t i = 0; i < 3; i++) {
			one_request(TLS_W_WHOLE, 30, seed, pieces[i]);
			one_request(TLS_W_PARTIAL, 30, seed, pieces[i]);
			one_request(TLS_W_RECORD, 30, seed, pieces[i]);
		}
	}
}
END_TEST

START_TEST(not_http_untouched)
{
	static struct lib l;
	struct fd_entry e = client_entry();
	struct tls_wstate ws = { 0 };
	const char bin[] = "\x16\x03\x01 binary protocol\r\n\r\n";

	memset(&l, 0, sizeof(l));
	l.fail_pct = 30;
	l.seed = 7;
	program_write(&e, &ws, &l, bin, sizeof(bin) - 1, 0);
	ck_assert_uint_eq(l.len, sizeof(bin) - 1);
	ck_assert_int_eq(memcmp(l.wire, bin, l.len), 0);
	ck_assert_int_eq(e.proto, FD_PROTO_NONE);
	ck_assert_int_eq(nsubmitted, 0);
	ck_assert_uint_eq(hc_in_use(), 0);
}
END_TEST

START_TEST(server_span_https)
{
	struct fd_entry e = client_entry();
	struct tls_wstate ws = { 0 };
	static struct lib l;
	const char req[] = "GET /x HTTP/1.1\r\nHost: svc\r\ntraceparent: "
			   "00-0af7651916cd43dd8448eb211c80319c-"
			   "b7ad6b7169203331-01\r\n\r\n";
	const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	char buf[64];
	uint8_t want_parent[8] = { 0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33,
				   0x31 };

	e.accepted = 1;
	memset(&l, 0, sizeof(l));
	tls_after_read(&e, req, 5, TLS_READ_DATA, 1);
	tls_after_read(&e, NULL, 0, TLS_READ_AGAIN, 1);
	tls_after_read(&e, req + 5, sizeof(req) - 6, TLS_READ_DATA, 1);
	program_write(&e, &ws, &l, resp, sizeof(resp) - 1, 0);
	ck_assert_uint_eq(l.len, sizeof(resp) - 1);
	ck_assert_int_eq(nsubmitted, 1);
	ck_assert_int_eq(submitted[0].kind, SPAN_KIND_SERVER);
	ck_assert_int_eq(memcmp(submitted[0].parent_span_id, want_parent, 8),
			 0);
	ck_assert_str_eq(attr_str(&submitted[0], "url.scheme", buf,
				  sizeof(buf)), "https");
	ck_assert_str_eq(attr_str(&submitted[0], "server.port", buf,
				  sizeof(buf)), "443");
	hc_close(&e);
}
END_TEST

/* Two requests in one TLS write, the library failing and retrying at
 * random: each gets its own span and one traceparent line, its own. */
static void two_requests(enum tls_wmode mode, int fail_pct, uint32_t seed)
{
	static struct lib l;
	static char two[2 * sizeof(REQ)];
	struct fd_entry e = client_entry();
	struct tls_wstate ws = { 0 };
	const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n"
			    "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
	const size_t rlen = sizeof(REQ) - 1;
	char tp[2][56], buf[64];
	const char *w, *at;

	memset(&l, 0, sizeof(l));
	l.mode = mode;
	l.partial = mode != TLS_W_WHOLE;
	l.fail_pct = fail_pct;
	l.seed = seed;
	memcpy(two, REQ, rlen);
	memcpy(two + rlen, REQ, rlen);
	nsubmitted = 0;
	program_write(&e, &ws, &l, two, 2 * rlen, 0);
	tls_after_read(&e, resp, sizeof(resp) - 1, TLS_READ_DATA, 1);
	ck_assert_int_eq(nsubmitted, 2);
	ck_assert_str_eq(attr_str(&submitted[0], "http.response.status_code",
				  buf, sizeof(buf)), "204");
	ck_assert_str_eq(attr_str(&submitted[1], "http.response.status_code",
				  buf, sizeof(buf)), "202");
	ctx_traceparent(&submitted[0], tp[0], sizeof(tp[0]));
	ctx_traceparent(&submitted[1], tp[1], sizeof(tp[1]));
	ck_assert_str_ne(tp[0], tp[1]);
	/* Each copy of REQ with its own line after the request line. */
	ck_assert_uint_eq(l.len, 2 * (rlen + 13 + 55 + 2));
	w = l.wire;
	for (int i = 0; i < 2; i++) {
		at = strstr(REQ, "\r\n") + 2;
		ck_assert_int_eq(memcmp(w, REQ, (size_t)(at - REQ)), 0);
		w += at - REQ;
		ck_assert_int_eq(memcmp(w, "traceparent: ", 13), 0);
		ck_assert_int_eq(memcmp(w + 13, tp[i], 55), 0);
		w += 13 + 55 + 2;
		ck_assert_int_eq(memcmp(w, at, rlen - (size_t)(at - REQ)), 0);
		w += rlen - (size_t)(at - REQ);
	}
	tls_after_read(&e, resp, 0, TLS_READ_EOF, 1);
	hc_close(&e);
	ck_assert_uint_eq(hc_in_use(), 0);
}

START_TEST(pipelined_in_one_write)
{
	for (uint32_t seed = 1; seed <= 100; seed++) {
		two_requests(TLS_W_WHOLE, 40, seed);
		two_requests(TLS_W_PARTIAL, 40, seed);
		two_requests(TLS_W_RECORD, 40, seed);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tlsconn");
	TCase *tc = tcase_create("tlsconn");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, default_mode_retries);
	tcase_add_test(tc, partial_mode_retries);
	tcase_add_test(tc, record_mode_retries);
	tcase_add_test(tc, never_blocked);
	tcase_add_test(tc, written_in_pieces);
	tcase_add_test(tc, pipelined_in_one_write);
	tcase_add_test(tc, not_http_untouched);
	tcase_add_test(tc, server_span_https);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(suite());
}
