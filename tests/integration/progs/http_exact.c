/*
 * A non-blocking HTTP/1.1 client with a tiny send buffer, for the
 * byte-exactness test: it pipelines POST requests written with write(),
 * writev() or sendmsg() in uneven pieces, checks every count the kernel
 * (or a preloaded library) returns, then prints the response bodies.
 * usage: http_exact PORT MODE(write|writev|sendmsg|all) NREQ BODYLEN [GATE]
 * GATE: a file created the first time a write finds the socket full
 * (EAGAIN), for a server that reads nothing until then: every write up to
 * that point ran into a full receiver, so partial writes happen whatever
 * the machine's speed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>

static unsigned long rng = 12345;
static long partial, eagain;
static const char *gate;

static size_t rnd(size_t n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (size_t)((rng >> 33) % n);
}

static void wait_out(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (poll(&p, 1, 60000) != 1) {
		fprintf(stderr, "poll timeout\n");
		exit(2);
	}
}

/* Sends iov[0..n) completely with mode, advancing over partial writes. */
static void send_all(int fd, const char *mode, struct iovec *iov, int n)
{
	while (n > 0) {
		size_t want = 0;
		ssize_t r;

		if (!strcmp(mode, "write")) {
			size_t k = 1 + rnd(iov[0].iov_len);

			want = k;
			r = write(fd, iov[0].iov_base, k);
		} else if (!strcmp(mode, "writev")) {
			for (int i = 0; i < n; i++)
				want += iov[i].iov_len;
			r = writev(fd, iov, n);
		} else {
			struct msghdr m;

			memset(&m, 0, sizeof(m));
			m.msg_iov = iov;
			m.msg_iovlen = (size_t)n;
			for (int i = 0; i < n; i++)
				want += iov[i].iov_len;
			r = sendmsg(fd, &m, MSG_NOSIGNAL);
		}
		if (r < 0) {
			if (errno != EAGAIN) {
				perror("write");
				exit(2);
			}
			if (eagain++ == 0 && gate) {
				int g = open(gate, O_WRONLY | O_CREAT, 0644);

				if (g < 0) {
					perror(gate);
					exit(2);
				}
				close(g);
			}
			wait_out(fd);
			continue;
		}
		if (r == 0 || (size_t)r > want) {
			fprintf(stderr, "bad count %zd of %zu\n", r, want);
			exit(3);
		}
		if ((size_t)r < want)
			partial++;
		while (r > 0) {
			size_t k = (size_t)r < iov[0].iov_len ? (size_t)r :
				   iov[0].iov_len;

			iov[0].iov_base = (char *)iov[0].iov_base + k;
			iov[0].iov_len -= k;
			r -= (ssize_t)k;
			if (iov[0].iov_len == 0) {
				iov++;
				n--;
			}
		}
		while (n > 0 && iov[0].iov_len == 0) {
			iov++;
			n--;
		}
	}
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "write", "writev", "sendmsg" };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int port, nreq, len, fd, buf = 2048;
	char head[256], *body, rbuf[65536];
	size_t rlen = 0;

	if (argc != 5 && argc != 6)
		return 1;
	gate = argc == 6 ? argv[5] : NULL;
	port = atoi(argv[1]);
	nreq = atoi(argv[3]);
	len = atoi(argv[4]);
	body = malloc((size_t)len);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    errno != EINPROGRESS) {
		perror("connect");
		return 2;
	}
	wait_out(fd);
	for (int i = 0; i < nreq; i++) {
		const char *mode = strcmp(argv[2], "all") ? argv[2] :
				   modes[i % 3];
		struct iovec iov[16];
		int n = 0, hl;
		size_t off = 0;

		for (int j = 0; j < len; j++)
			body[j] = (char)((j * 31 + i * 7) & 0xff);
		hl = snprintf(head, sizeof(head),
			      "POST /exact/%d HTTP/1.1\r\n"
			      "Host: 127.0.0.1:%d\r\n"
			      "Content-Length: %d\r\n\r\n", i, port, len);
		if (!strcmp(mode, "write")) {
			/* head and body as one buffer, written in pieces */
			char *all = malloc((size_t)(hl + len));

			memcpy(all, head, (size_t)hl);
			memcpy(all + hl, body, (size_t)len);
			iov[0].iov_base = all;
			iov[0].iov_len = (size_t)(hl + len);
			send_all(fd, mode, iov, 1);
			free(all);
			continue;
		}
		/* the request line split over two iovecs, the body over many */
		iov[n].iov_base = head;
		iov[n++].iov_len = 7;
		iov[n].iov_base = head + 7;
		iov[n++].iov_len = (size_t)hl - 7;
		while (off < (size_t)len && n < 15) {
			size_t k = n == 14 ? (size_t)len - off :
				   1 + rnd((size_t)len - off);

			iov[n].iov_base = body + off;
			iov[n++].iov_len = k;
			off += k;
		}
		send_all(fd, mode, iov, n);
	}
	/* read the responses: each ends with a '\n'-terminated body */
	fcntl(fd, F_SETFL, 0);
	for (int got = 0; got < nreq;) {
		ssize_t r = read(fd, rbuf + rlen, sizeof(rbuf) - 1 - rlen);

		if (r <= 0) {
			fprintf(stderr, "read: %zd\n", r);
			return 4;
		}
		rlen += (size_t)r;
		rbuf[rlen] = 0;
		got = 0;
		for (char *p = rbuf; (p = strstr(p, "\r\n\r\n")); p += 4)
			if (strchr(p + 4, '\n'))
				got++;
	}
	for (char *p = rbuf; (p = strstr(p, "\r\n\r\n")); ) {
		char *nl = strchr(p + 4, '\n');

		printf("%.*s\n", (int)(nl - p - 4), p + 4);
		p = nl;
	}
	fprintf(stderr, "partial=%ld eagain=%ld\n", partial, eagain);
	return 0;
}
