/*
 * A non-blocking OpenSSL client for test_tls.py: one POST over a socket
 * with a tiny send buffer, written with SSL_write and retried on
 * SSL_ERROR_WANT_WRITE/WANT_READ with the same buffer and length, as
 * OpenSSL requires.  It checks every result against what OpenSSL
 * promises: in the default mode a write returns its whole length or
 * fails, with SSL_MODE_ENABLE_PARTIAL_WRITE it returns 1..len; any other
 * failure (SSL_R_BAD_WRITE_RETRY among them) exits 2.  The first time a
 * write blocks it creates GOFILE, which tells the server to start
 * reading, so the retries happen on every run whatever the machine's
 * speed.  Mode moving sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER and makes
 * every retry from a fresh copy of the bytes at another address.  Prints
 * the response body on stdout, counts on stderr.
 *
 *   tls_nonblock PORT partial|full|moving 1.2|1.3 BODY_BYTES GOFILE
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "tls_nonblock: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* Waits until the socket is ready for what OpenSSL asked for. */
static void wait_for(int fd, int err)
{
	struct pollfd p = { fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			    0 };

	if (poll(&p, 1, 30000) != 1)
		die("poll timed out");
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd, sndbuf = 4096, partial, moving, ver, r, err, blocked = 0;
	int writes = 0, copies = 0;
	size_t body, len, off = 0, hlen;
	char *buf, *copy[2], *from, resp[4096];
	const char *gofile;
	SSL_CTX *ctx;
	SSL *ssl;

	if (argc != 6)
		die("usage: tls_nonblock PORT partial|full 1.2|1.3 BYTES GOFILE");
	partial = !strcmp(argv[2], "partial");
	moving = !strcmp(argv[2], "moving");
	ver = !strcmp(argv[3], "1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
	body = strtoul(argv[4], NULL, 10);
	gofile = argv[5];

	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, ver);
	SSL_CTX_set_max_proto_version(ctx, ver);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (partial)
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (moving)
		SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_fd(ssl, fd);
	while ((r = SSL_connect(ssl)) != 1) {
		err = SSL_get_error(ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
			die("handshake");
		wait_for(fd, err);
	}

	/* Head and body in one buffer: the first write starts the request,
	 * so the trace header goes in the middle of it. */
	buf = malloc(body + 256);
	hlen = (size_t)sprintf(buf, "POST /upload HTTP/1.1\r\nHost: tls.test\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			       body);
	for (size_t i = 0; i < body; i++)
		buf[hlen + i] = (char)('a' + (i * 7 + i / 251) % 26);
	len = hlen + body;
	copy[0] = malloc(len);
	copy[1] = malloc(len);
	from = buf;
	while (off < len) {
		r = SSL_write(ssl, from + off, (int)(len - off));
		if (r > 0) {
			writes++;
			if (!partial && (size_t)r != len - off)
				die("default mode returned a short count");
			if ((size_t)r > len - off)
				die("more than asked");
			off += (size_t)r;
			continue;
		}
		err = SSL_get_error(ssl, r);
		if (r != -1 ||
		    (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ))
			die("write failed");
		if (!blocked++)
			close(open(gofile, O_CREAT | O_WRONLY, 0644));
		wait_for(fd, err);
		if (moving) {
			/* The same bytes, elsewhere, for the retry. */
			char *to = copy[copies++ % 2];

			memcpy(to + off, from + off, len - off);
			from = to;
		}
	}
	if (!blocked)
		close(open(gofile, O_CREAT | O_WRONLY, 0644));
	for (;;) {
		r = SSL_read(ssl, resp, sizeof(resp));
		if (r > 0) {
			fwrite(resp, 1, (size_t)r, stdout);
			continue;
		}
		err = SSL_get_error(ssl, r);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			wait_for(fd, err);
			continue;
		}
		if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ||
		    err == SSL_ERROR_SSL)
			break;  /* closed, with or without close_notify */
		die("read failed");
	}
	fprintf(stderr, "writes=%d blocked=%d\n", writes, blocked);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	free(buf);
	free(copy[0]);
	free(copy[1]);
	return 0;
}
