/*
 * A fixed-count HTTP client for the instruction counts: N GET requests, one
 * after another, on one keep-alive connection to 127.0.0.1:PORT, each
 * response read whole (headers, then Content-Length bytes of body) before
 * the next request goes out; then the connection is closed.  Never
 * preloaded: the server is what gets counted, and a fixed count (unlike
 * wrk's fixed duration) makes two runs comparable instruction for
 * instruction.
 *
 *     keepalive PORT N
 *
 * Exits 0 once all N responses arrived, 1 on any error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const char request[] =
	"GET / HTTP/1.1\r\n"
	"Host: 127.0.0.1\r\n"
	"\r\n";

static char buf[16384];
static size_t len;

static int fill(int fd)
{
	ssize_t r;

	if (len == sizeof(buf))
		return -1;
	do
		r = read(fd, buf + len, sizeof(buf) - len);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	len += (size_t)r;
	return 0;
}

/* Reads one response and drops it from the buffer. */
static int read_response(int fd)
{
	char *end, *cl;
	size_t head, body;

	while (!(end = memmem(buf, len, "\r\n\r\n", 4)))
		if (fill(fd) < 0)
			return -1;
	head = (size_t)(end - buf) + 4;
	*end = '\0';
	cl = strcasestr(buf, "\r\nContent-Length:");
	body = cl ? strtoul(cl + 17, NULL, 10) : 0;
	while (len < head + body)
		if (fill(fd) < 0)
			return -1;
	memmove(buf, buf + head + body, len - head - body);
	len -= head + body;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long n, i;
	int fd, one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: keepalive PORT N\n");
		return 2;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	n = atol(argv[2]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("keepalive: connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < n; i++) {
		if (write(fd, request, sizeof(request) - 1) !=
		    (ssize_t)(sizeof(request) - 1)) {
			perror("keepalive: write");
			return 1;
		}
		if (read_response(fd) < 0) {
			fprintf(stderr, "keepalive: response %ld of %ld "
				"missing\n", i + 1, n);
			return 1;
		}
	}
	close(fd);
	return 0;
}
