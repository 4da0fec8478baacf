/*
 * One POST over a fresh connection (post.h).
 */
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/sysio.h"
#include "post.h"

int post_connect(const struct endpoint *e, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	struct timeval tv = { .tv_sec = POST_TIMEOUT_S };
	int fd = -1;

	if (getaddrinfo(e->host, e->port, &hints, &ai) != 0) {
		*why = "does not resolve";
		return -1;
	}
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		*why = "accepts no connection";
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int post_send(int fd, const struct endpoint *e, const char *ctype,
	      const char *headers, const void *body, size_t len)
{
	char head[8192], resp[64] = "";
	int status = 0;
	int n = snprintf(head, sizeof(head),
			 "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: "
			 "%s\r\nContent-Length: %zu\r\n%sConnection: close"
			 "\r\n\r\n", e->target, e->host, e->port, ctype, len,
			 headers);

	if (n > 0 && (size_t)n < sizeof(head) &&
	    sys_write_all(fd, head, (size_t)n) == 0 &&
	    sys_write_all(fd, body, len) == 0 &&
	    read(fd, resp, sizeof(resp) - 1) > 0)
		sscanf(resp, "HTTP/%*s %d", &status);
	close(fd);
	return status;
}
