/*
 * A non-blocking GnuTLS client for test_tls.py: one POST over a socket
 * with a tiny send buffer, written with gnutls_record_send and retried on
 * GNUTLS_E_AGAIN/GNUTLS_E_INTERRUPTED the two ways GnuTLS allows: with the
 * same arguments (mode same), or with no buffer at all (mode null), after
 * which the bytes of the failed call are overwritten in the program's
 * buffer and the write goes on from a copy elsewhere, so nothing can have
 * read them there.  Every result is checked against GnuTLS's promises
 * (1..len, or a retryable failure); anything else exits 2.  The first
 * time a write blocks it creates GOFILE, which tells the server to start
 * reading.  Prints the response body on stdout, counts on stderr.
 *
 *   gnutls_nonblock PORT same|null BODY_BYTES GOFILE
 */
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "gnutls_nonblock: %s: %s\n", what,
		err ? gnutls_strerror(err) : "");
	exit(2);
}

/* Waits until the socket is ready for what GnuTLS was doing. */
static void wait_for(gnutls_session_t s, int fd)
{
	struct pollfd p = { fd, gnutls_record_get_direction(s) ? POLLOUT
			    : POLLIN, 0 };

	if (poll(&p, 1, 30000) != 1)
		die("poll timed out", 0);
}

static int retryable(ssize_t r)
{
	return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd, sndbuf = 4096, null_retry, blocked = 0, writes = 0, r;
	size_t body, len, off = 0, hlen;
	char *buf[2], *cur, resp[4096];
	gnutls_certificate_credentials_t cred;
	const char *gofile;
	gnutls_session_t s;
	ssize_t w;

	if (argc != 5)
		die("usage: gnutls_nonblock PORT same|null BYTES GOFILE", 0);
	null_retry = !strcmp(argv[2], "null");
	body = strtoul(argv[3], NULL, 10);
	gofile = argv[4];

	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect", 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	gnutls_certificate_allocate_credentials(&cred);
	gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(s, fd);
	while ((r = gnutls_handshake(s)) < 0) {
		if (gnutls_error_is_fatal(r))
			die("handshake", r);
		wait_for(s, fd);
	}

	/* Head and body in one buffer, as one write asks. */
	buf[0] = malloc(body + 256);
	buf[1] = malloc(body + 256);
	hlen = (size_t)sprintf(buf[0], "POST /upload HTTP/1.1\r\n"
			       "Host: tls.test\r\nContent-Length: %zu\r\n"
			       "Connection: close\r\n\r\n", body);
	for (size_t i = 0; i < body; i++)
		buf[0][hlen + i] = (char)('a' + (i * 7 + i / 251) % 26);
	len = hlen + body;
	cur = buf[0];
	while (off < len) {
		w = gnutls_record_send(s, cur + off, len - off);
		while (retryable(w)) {
			if (!blocked++)
				close(open(gofile, O_CREAT | O_WRONLY, 0644));
			wait_for(s, fd);
			if (!null_retry) {
				w = gnutls_record_send(s, cur + off, len - off);
				continue;
			}
			/* The failed call's bytes are GnuTLS's now: ours
			 * go elsewhere, and the old ones are spoilt. */
			if (cur == buf[0] || cur == buf[1]) {
				char *to = cur == buf[0] ? buf[1] : buf[0];

				memcpy(to + off, cur + off, len - off);
				memset(cur + off, '#', len - off);
				cur = to;
			}
			w = gnutls_record_send(s, NULL, 0);
		}
		if (w <= 0)
			die("write failed", (int)w);
		if ((size_t)w > len - off)
			die("more than asked", 0);
		writes++;
		off += (size_t)w;
	}
	if (!blocked)
		close(open(gofile, O_CREAT | O_WRONLY, 0644));
	for (;;) {
		w = gnutls_record_recv(s, resp, sizeof(resp));
		if (w > 0) {
			fwrite(resp, 1, (size_t)w, stdout);
			continue;
		}
		if (retryable(w)) {
			wait_for(s, fd);
			continue;
		}
		break;  /* closed, with or without close_notify */
	}
	fprintf(stderr, "writes=%d blocked=%d\n", writes, blocked);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	close(fd);
	free(buf[0]);
	free(buf[1]);
	return 0;
}
