/*
 * TLS hook floor: the time one SSL_write or SSL_read takes on a TLS stream
 * that is not HTTP, so that running it with and without the shim
 * preloaded gives the cost the OpenSSL hooks add to such a stream (the
 * stream is recognised as not HTTP by its first bytes, then passes
 * through).  A TLS 1.2 connection over TCP loopback, anonymous cipher (no
 * certificate to make), 16-byte records written by one end and read by
 * the other, after a warm-up, in five slices of n/5 pairs each; prints
 * the nanoseconds per call of the fastest slice:
 *
 *     tls_ns 2412.50           (per call: a write and a read count as two)
 *
 *     tlsfloor [N]             (default 200000)
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what)
{
	fprintf(stderr, "tlsfloor: %s\n", what);
	exit(1);
}

static double time_pairs(SSL *c, SSL *s, long n)
{
	char buf[16] = { 0 };
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int r;

		if (SSL_write(c, buf, sizeof(buf)) != (int)sizeof(buf))
			fail("write");
		/* Loopback delivers at once; a read may still meet a
		 * record that carries no data (a TLS 1.2 ticket, say). */
		while ((r = SSL_read(s, buf, sizeof(buf))) <= 0)
			if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				fail("read");
		if (r != (int)sizeof(buf))
			fail("short read");
	}
	return (now_ns() - t0) / (double)(2 * n);
}

/* Client and server handshakes on one thread: each side goes on until
 * it would block on the other. */
static void handshake(SSL *c, SSL *s)
{
	int dc = 0, ds = 0;

	while (!dc || !ds) {
		int r;

		if (!dc) {
			r = SSL_connect(c);
			dc = r == 1;
			if (r != 1 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				fail("connect");
		}
		if (!ds) {
			r = SSL_accept(s);
			ds = r == 1;
			if (r != 1 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				fail("accept");
		}
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int l, cfd, sfd;
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
	double best = 1e30;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		fail("listen");
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(cfd, (struct sockaddr *)&a, sizeof(a));
	sfd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	if (sfd < 0)
		fail("accept4");
	/* Small records: no Nagle wait for the previous one's ACK. */
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));

	cctx = SSL_CTX_new(TLS_client_method());
	sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
	if (!SSL_CTX_set_cipher_list(cctx, "aNULL:@SECLEVEL=0") ||
	    !SSL_CTX_set_cipher_list(sctx, "aNULL:@SECLEVEL=0"))
		fail("cipher list");
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	SSL_set_fd(c, cfd);
	SSL_set_fd(s, sfd);
	handshake(c, s);

	time_pairs(c, s, n / 10);
	for (int i = 0; i < 5; i++) {
		double t = time_pairs(c, s, n / 5);

		best = t < best ? t : best;
	}
	printf("tls_ns %.2f\n", best);
	return 0;
}
