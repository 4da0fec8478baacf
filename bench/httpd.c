/*
 * The C server of the HTTP throughput benchmark: a keep-alive HTTP/1.1
 * hello-world, one thread per connection, plain read() and write() on
 * blocking sockets, so every request it answers is one server span when
 * the shim is preloaded.  Requests are assumed to have no body (wrk sends
 * GETs).
 *
 *     httpd PORT [CONNECTIONS]
 *
 * PORT 0 takes any free port; the port is printed on stdout.  With
 * CONNECTIONS the server accepts that many connections and exits (exit(),
 * so the shim's exit flush runs) once the last of them has closed: a run
 * of a fixed size for the instruction counts under callgrind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 13\r\n"
	"\r\n"
	"Hello, world!";

static long conn_limit;                 /* 0: serve forever */
static atomic_long conns_closed;

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		ssize_t r;

		if (end) {
			size_t used = (size_t)(end - buf) + 4;

			if (write(fd, response, sizeof(response) - 1) !=
			    (ssize_t)(sizeof(response) - 1))
				break;
			memmove(buf, buf + used, len - used);
			len -= used;
			continue;
		}
		if (len == sizeof(buf))
			break;
		r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (conn_limit && atomic_fetch_add(&conns_closed, 1) + 1 == conn_limit)
		exit(0);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	pthread_attr_t attr;
	long accepted = 0;
	int one = 1, lfd;

	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0));
	conn_limit = argc > 2 ? atol(argv[2]) : 0;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("httpd: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen) < 0) {
		perror("httpd: bind/listen");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!conn_limit || accepted < conn_limit) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("httpd: accept");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, &attr, conn_main,
				   (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		accepted++;
	}
	/* The last connection's thread exits the process. */
	for (;;)
		pause();
}
