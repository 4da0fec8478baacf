/*
 * HTTP/1.1 keep-alive over TLS with the keys changed between requests,
 * for test_tls.py: renegotiation in TLS 1.2 and key updates in TLS 1.3,
 * started by the client or by the server.
 *
 *   tls_rekey server PORT CERT KEY
 *	Serves connections one after another, forever.  Every request is
 *	answered with one line saying what arrived: its path, how many
 *	traceparent headers, the length of its head without those headers
 *	(and tracestate), the length of its body and a hash of both.  After
 *	each answer, unless the request said "Connection: close", a request
 *	whose path starts with /server-reneg makes the server renegotiate
 *	(a HelloRequest, unless the last one's renegotiation is still under
 *	way) and /server-keyupdate makes it update its keys, asking the
 *	client to update its own.  It allows client-initiated
 *	renegotiation, and answers a renegotiating ClientHello 100 ms late.
 *
 *   tls_rekey client PORT
 *	One connection per mode: reneg (TLS 1.2, SSL_renegotiate between
 *	requests, finished once by SSL_do_handshake and once inside the next
 *	SSL_write), server-reneg (TLS 1.2), keyupdate (TLS 1.3,
 *	SSL_key_update asking for the server's too, sent once by
 *	SSL_do_handshake and once by the next SSL_write), server-keyupdate
 *	(TLS 1.3).  Three requests on each: a GET, a POST whose head and
 *	40000-byte body are one SSL_write, and a POST with head and body
 *	written apart.  The socket is non-blocking and every call is retried
 *	on WANT_READ/WANT_WRITE with the same arguments, as OpenSSL requires
 *	(the SSL_write that renegotiates has to wait for the server's
 *	answer: it fails with WANT_READ at least once).
 *	Exits 2 when a write returns other than its length, an answer says
 *	other bytes arrived than were sent, or the keys did not change as
 *	asked (counted with the message callback).  Prints each answer line
 *	on stdout.
 */
#define _GNU_SOURCE             /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY 40000

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tls_rekey: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ERR_print_errors_fp(stderr);
	exit(2);
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 16777619u;
	return h;
}

#define FNV_START 2166136261u

/* ------------------------------------------------------------- server */

/* Buffered plaintext reader for the server (blocking socket). */
struct rd {
	SSL *ssl;
	char buf[1 << 16];
	size_t have;
};

/* Reads until the buffer holds a whole head; its length, 0 at the end. */
static size_t read_head(struct rd *r)
{
	char *end;
	int n;

	for (;;) {
		end = memmem(r->buf, r->have, "\r\n\r\n", 4);
		if (end)
			return (size_t)(end - r->buf) + 4;
		if (r->have == sizeof(r->buf))
			return 0;
		n = SSL_read(r->ssl, r->buf + r->have,
			     (int)(sizeof(r->buf) - r->have));
		if (n <= 0)
			return 0;
		r->have += (size_t)n;
	}
}

static void consume(struct rd *r, size_t n)
{
	memmove(r->buf, r->buf + n, r->have - n);
	r->have -= n;
}

static int header_is(const char *line, const char *name)
{
	size_t n = strlen(name);

	return !strncasecmp(line, name, n) && line[n] == ':';
}

/* ClientHellos read on the connection being served. */
static int hellos_read;

/* A renegotiating ClientHello is answered late, so that the client's
 * non-blocking call that sent it has to wait for the answer. */
static void on_server_message(int write_p, int version, int content_type,
			      const void *buf, size_t len, SSL *ssl,
			      void *arg)
{
	const unsigned char *m = buf;

	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    m[0] == SSL3_MT_CLIENT_HELLO && ++hellos_read > 1)
		usleep(100000);
}

/* Answers the requests of one connection. */
static void serve(SSL *ssl)
{
	struct rd *r = calloc(1, sizeof(*r));
	char path[256], line[512], *p, *eol;
	size_t head, kept, body, got;
	int tps, n, close_it;
	uint32_t h;

	r->ssl = ssl;
	while ((head = read_head(r)) != 0) {
		tps = 0;
		kept = 0;
		body = 0;
		close_it = 0;
		h = FNV_START;
		if (sscanf(r->buf, "%*s %255s", path) != 1)
			break;
		for (p = r->buf; p < r->buf + head; p = eol + 2) {
			eol = memmem(p, (size_t)(r->buf + head - p), "\r\n", 2);
			if (header_is(p, "traceparent")) {
				tps++;
				continue;
			}
			if (header_is(p, "tracestate"))
				continue;
			if (header_is(p, "content-length"))
				body = strtoul(p + 15, NULL, 10);
			if (header_is(p, "connection") && strstr(p, "close") &&
			    strstr(p, "close") < eol)
				close_it = 1;
			h = fnv(h, p, (size_t)(eol + 2 - p));
			kept += (size_t)(eol + 2 - p);
		}
		consume(r, head);
		for (got = 0; got < body;) {
			if (r->have == 0) {
				n = SSL_read(ssl, r->buf, sizeof(r->buf));
				if (n <= 0)
					goto out;
				r->have = (size_t)n;
			}
			n = (int)(body - got < r->have ? body - got : r->have);
			h = fnv(h, r->buf, (size_t)n);
			consume(r, (size_t)n);
			got += (size_t)n;
		}
		n = snprintf(line + 200, 300, "%s tp=%d head=%zu body=%zu "
			     "hash=%08x\n", path, tps, kept, body, h);
		head = (size_t)sprintf(line, "HTTP/1.1 200 OK\r\n"
				       "Content-Length: %d\r\n\r\n", n);
		memmove(line + head, line + 200, (size_t)n + 1);
		if (SSL_write(ssl, line, (int)head + n) != (int)head + n)
			break;
		if (close_it)
			break;
		if (!strncmp(path, "/server-reneg", 13)) {
			/* The client takes up a HelloRequest only when it
			 * reads, and ignores one while it renegotiates. */
			if (SSL_renegotiate_pending(ssl))
				continue;
			if (SSL_renegotiate(ssl) != 1 ||
			    SSL_do_handshake(ssl) != 1)
				break;
		} else if (!strncmp(path, "/server-keyupdate", 17)) {
			if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
			    SSL_do_handshake(ssl) != 1)
				break;
		}
	}
out:
	free(r);
}

static int server(int port, const char *cert, const char *key)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int ls, fd, one = 1;
	SSL_CTX *ctx;
	SSL *ssl;

	ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("certificate");
	SSL_CTX_set_msg_callback(ctx, on_server_message);
#ifdef SSL_OP_ALLOW_CLIENT_RENEGOTIATION
	SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
#endif
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 8))
		die("listen");
	for (;;) {
		fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		hellos_read = 0;
		if (SSL_accept(ssl) == 1) {
			serve(ssl);
			SSL_shutdown(ssl);
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
	}
	return 0;
}

/* ------------------------------------------------------------- client */

/* Handshake messages seen on the client's connection. */
static int hellos_sent, hello_requests, updates_sent, updates_received;
/* SSL_write calls that asked to be retried. */
static int write_retries;

static void on_message(int write_p, int version, int content_type,
		       const void *buf, size_t len, SSL *ssl, void *arg)
{
	const unsigned char *m = buf;

	if (content_type != SSL3_RT_HANDSHAKE || len == 0)
		return;
	if (write_p && m[0] == SSL3_MT_CLIENT_HELLO)
		hellos_sent++;
	if (!write_p && m[0] == SSL3_MT_HELLO_REQUEST)
		hello_requests++;
	if (m[0] == SSL3_MT_KEY_UPDATE)
		*(write_p ? &updates_sent : &updates_received) += 1;
}

/* Waits for what OpenSSL asked for after r; dies on any other failure. */
static void wait_or_die(SSL *ssl, int r, const char *what)
{
	int err = SSL_get_error(ssl, r);
	struct pollfd p = { SSL_get_fd(ssl), 0, 0 };

	if (err == SSL_ERROR_WANT_READ)
		p.events = POLLIN;
	else if (err == SSL_ERROR_WANT_WRITE)
		p.events = POLLOUT;
	else
		die("%s failed (%d, error %d)", what, r, err);
	if (poll(&p, 1, 30000) != 1)
		die("%s: poll timed out", what);
}

static void handshake(SSL *ssl)
{
	int r;

	while ((r = SSL_do_handshake(ssl)) != 1)
		wait_or_die(ssl, r, "SSL_do_handshake");
}

/* One SSL_write of all of buf, retried with the same arguments. */
static void write_all(SSL *ssl, const char *buf, size_t len)
{
	int r;

	while ((r = SSL_write(ssl, buf, (int)len)) <= 0) {
		wait_or_die(ssl, r, "SSL_write");
		write_retries++;
	}
	if ((size_t)r != len)
		die("SSL_write returned %d of %zu", r, len);
}

/* Reads one answer; checks it against what was sent; prints its line. */
static void read_answer(SSL *ssl, const char *path, size_t head,
			size_t body, uint32_t h)
{
	char buf[1024], want[300];
	size_t have = 0, len;
	char *end, *line;
	int r;

	for (;;) {
		end = memmem(buf, have, "\r\n\r\n", 4);
		if (end && have >= (size_t)(end + 4 - buf) +
		    strtoul(strstr(buf, "Content-Length:") + 15, NULL, 10))
			break;
		if (have == sizeof(buf) - 1)
			die("answer too long");
		r = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
		if (r > 0)
			have += (size_t)r;
		else
			wait_or_die(ssl, r, "SSL_read");
		buf[have] = 0;
	}
	line = end + 4;
	fputs(line, stdout);
	len = (size_t)snprintf(want, sizeof(want), "head=%zu body=%zu "
			       "hash=%08x\n", head, body, h);
	if (strncmp(line, path, strlen(path)) ||
	    strlen(line) < len || strcmp(line + strlen(line) - len, want))
		die("sent %s %s, the server got %s", path, want, line);
}

/* Changes the keys between requests, as mode says; now: finish at once
 * (else inside the next SSL_write). */
static void rekey(SSL *ssl, const char *mode, int now)
{
	if (!strcmp(mode, "reneg")) {
		if (SSL_renegotiate(ssl) != 1)
			die("SSL_renegotiate");
	} else if (!strcmp(mode, "keyupdate")) {
		if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1)
			die("SSL_key_update");
	} else {
		return;
	}
	if (now)
		handshake(ssl);
}

static void one_connection(SSL_CTX *ctx, int port, const char *mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int tls13 = strstr(mode, "keyupdate") != NULL;
	char *buf = malloc(BODY + 512), path[64];
	size_t head, i;
	uint32_t h;
	int fd;
	SSL *ssl;

	hellos_sent = hello_requests = updates_sent = updates_received = 0;
	write_retries = 0;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ssl = SSL_new(ctx);
	SSL_set_min_proto_version(ssl, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_set_max_proto_version(ssl, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_set_fd(ssl, fd);
	SSL_set_connect_state(ssl);
	handshake(ssl);

	/* A GET. */
	snprintf(path, sizeof(path), "/%s/get", mode);
	head = (size_t)sprintf(buf, "GET %s HTTP/1.1\r\nHost: tls.test\r\n\r\n",
			       path);
	h = fnv(FNV_START, buf, head);
	write_all(ssl, buf, head);
	read_answer(ssl, path, head, 0, h);

	/* A POST, head and body in one write. */
	rekey(ssl, mode, 1);
	snprintf(path, sizeof(path), "/%s/post?one=write", mode);
	head = (size_t)sprintf(buf, "POST %s HTTP/1.1\r\nHost: tls.test\r\n"
			       "Content-Length: %d\r\n\r\n", path, BODY);
	for (i = 0; i < BODY; i++)
		buf[head + i] = (char)('a' + (i * 7 + i / 251) % 26);
	h = fnv(FNV_START, buf, head + BODY);
	write_all(ssl, buf, head + BODY);
	read_answer(ssl, path, head, BODY, h);

	/* A POST, head and body apart, the last on the connection. */
	rekey(ssl, mode, 0);
	snprintf(path, sizeof(path), "/%s/post?two=writes", mode);
	head = (size_t)sprintf(buf, "POST %s HTTP/1.1\r\nHost: tls.test\r\n"
			       "Content-Length: %d\r\nConnection: close\r\n\r\n",
			       path, BODY);
	for (i = 0; i < BODY; i++)
		buf[head + i] = (char)('A' + (i * 11 + i / 97) % 26);
	h = fnv(FNV_START, buf, head + BODY);
	write_all(ssl, buf, head);
	write_all(ssl, buf + head, BODY);
	read_answer(ssl, path, head, BODY, h);

	fprintf(stderr, "%s: hellos_sent=%d hello_requests=%d "
		"updates_sent=%d updates_received=%d write_retries=%d\n", mode,
		hellos_sent, hello_requests, updates_sent, updates_received,
		write_retries);
	if (!strcmp(mode, "reneg") && (hellos_sent != 3 || !write_retries))
		die("%s: %d ClientHellos, not 3, %d write retries", mode,
		    hellos_sent, write_retries);
	if (!strcmp(mode, "server-reneg") &&
	    (hello_requests < 1 || hellos_sent != hello_requests + 1))
		die("%s: %d HelloRequests, %d ClientHellos", mode,
		    hello_requests, hellos_sent);
	if (!strcmp(mode, "keyupdate") &&
	    (updates_sent < 2 || updates_received < 2))
		die("%s: %d key updates sent, %d received", mode,
		    updates_sent, updates_received);
	if (!strcmp(mode, "server-keyupdate") && updates_received < 2)
		die("%s: %d key updates received", mode, updates_received);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	free(buf);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {
		"reneg", "server-reneg", "keyupdate", "server-keyupdate",
	};
	SSL_CTX *ctx;

	if (argc == 5 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), argv[3], argv[4]);
	if (argc != 3 || strcmp(argv[1], "client"))
		die("usage: tls_rekey server PORT CERT KEY | client PORT");
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_msg_callback(ctx, on_message);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		one_connection(ctx, atoi(argv[2]), modes[i]);
	SSL_CTX_free(ctx);
	return 0;
}
