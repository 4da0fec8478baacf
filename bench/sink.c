/*
 * A discard-only OTLP/HTTP receiver for the benchmarks: it accepts POSTs on
 * loopback, reads and throws away each body and answers 200 with an empty
 * ExportTraceServiceResponse (zero bytes is a valid one), so that what the
 * benchmarks measure is the traced program and not a decoder.
 *
 * One thread per connection, HTTP/1.1 keep-alive, Content-Length and
 * chunked bodies, "Expect: 100-continue".  GET /stats answers
 * "requests N\nbytes N\n" so the harness can tell that exports arrived.
 *
 *     sink PORT        (0: any free port; the port is printed on stdout)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR_MAX 16384
#define IO_BUF  65536

static uint64_t n_requests;
static uint64_t n_bytes;

struct conn {
	int fd;
	char buf[IO_BUF];
	size_t len;             /* bytes buffered */
	size_t off;             /* first unconsumed byte */
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into the buffer, compacting it first.  Returns the
 * number read, 0 at EOF, -1 on error. */
static ssize_t fill(struct conn *c)
{
	ssize_t r;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		return -1;
	do {
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	} while (r < 0 && errno == EINTR);
	if (r > 0)
		c->len += (size_t)r;
	return r;
}

/* Consumes and discards n body bytes. */
static int discard(struct conn *c, uint64_t n)
{
	while (n > 0) {
		size_t have = c->len - c->off;

		if (have == 0) {
			if (fill(c) <= 0)
				return -1;
			continue;
		}
		if (have > n)
			have = (size_t)n;
		c->off += have;
		n -= have;
		__atomic_add_fetch(&n_bytes, have, __ATOMIC_RELAXED);
	}
	return 0;
}

/* Reads one CRLF-terminated line (for chunk sizes) into (line, cap). */
static int read_line(struct conn *c, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (nl) {
			size_t n = (size_t)(nl - (c->buf + c->off));

			if (n >= cap)
				return -1;
			memcpy(line, c->buf + c->off, n);
			line[n] = '\0';
			c->off += n + 1;
			return 0;
		}
		if (fill(c) <= 0)
			return -1;
	}
}

static int discard_chunked(struct conn *c)
{
	char line[256];

	for (;;) {
		unsigned long long size;

		if (read_line(c, line, sizeof(line)) < 0)
			return -1;
		size = strtoull(line, NULL, 16);
		if (size == 0)
			break;
		if (discard(c, size + 2) < 0)   /* data and its CRLF */
			return -1;
	}
	/* Trailers up to the empty line. */
	for (;;) {
		if (read_line(c, line, sizeof(line)) < 0)
			return -1;
		if (line[0] == '\0' || strcmp(line, "\r") == 0)
			return 0;
	}
}

/* Value of header name in the header block [h, h + n), or NULL. */
static const char *header(const char *h, size_t n, const char *name,
			  size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = h, *end = h + n;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			while (*vlen > 0 && (v[*vlen - 1] == '\r' ||
					     v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static int serve_one(struct conn *c)
{
	static const char ok[] =
		"HTTP/1.1 200 OK\r\n"
		"Content-Type: application/x-protobuf\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char *end = NULL, stats[160];
	const char *v;
	size_t hlen, vlen;
	int n;

	for (;;) {
		end = memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4);
		if (end)
			break;
		if (c->len - c->off > HDR_MAX || fill(c) <= 0)
			return -1;
	}
	hlen = (size_t)(end - (c->buf + c->off)) + 4;
	if (strncmp(c->buf + c->off, "GET /stats", 10) == 0) {
		c->off += hlen;
		n = snprintf(stats, sizeof(stats),
			     "requests %llu\nbytes %llu\n",
			     (unsigned long long)__atomic_load_n(
				     &n_requests, __ATOMIC_RELAXED),
			     (unsigned long long)__atomic_load_n(
				     &n_bytes, __ATOMIC_RELAXED));
		char resp[320];
		int m = snprintf(resp, sizeof(resp),
				 "HTTP/1.1 200 OK\r\nContent-Type: text/plain"
				 "\r\nContent-Length: %d\r\n\r\n%s", n, stats);
		return write_all(c->fd, resp, (size_t)m);
	}
	v = header(c->buf + c->off, hlen, "Expect", &vlen);
	int expect = v && vlen == 12 && strncasecmp(v, "100-continue", 12) == 0;
	v = header(c->buf + c->off, hlen, "Transfer-Encoding", &vlen);
	int chunked = v && vlen >= 7 && strncasecmp(v, "chunked", 7) == 0;
	uint64_t clen = 0;
	v = header(c->buf + c->off, hlen, "Content-Length", &vlen);
	if (v)
		clen = strtoull(v, NULL, 10);
	c->off += hlen;
	if (expect && write_all(c->fd, cont, sizeof(cont) - 1) < 0)
		return -1;
	if (chunked ? discard_chunked(c) < 0 : discard(c, clen) < 0)
		return -1;
	__atomic_add_fetch(&n_requests, 1, __ATOMIC_RELAXED);
	return write_all(c->fd, ok, sizeof(ok) - 1);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	while (serve_one(c) == 0)
		;
	close(c->fd);
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	pthread_attr_t attr;
	int one = 1, lfd;

	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("sink: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen) < 0) {
		perror("sink: bind/listen");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		struct conn *c;
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE)
				continue;
			perror("sink: accept");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			close(fd);
			free(c);
		}
	}
}
