/*
 * A server whose requests are served by a pthread worker pool: the main
 * thread accepts a connection and reads the request head, puts (fd, path)
 * on a queue guarded by a mutex and counted by a semaphore, and a worker
 * woken by sem_wait asks the backend for the same path with a plain
 * HTTP/1.0 request, then answers the client and closes.
 *
 *     pool PORT BACKEND_PORT WORKERS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QCAP 256

static struct job { int fd; char path[200]; } q[QCAP];
static int qhead, qlen, backend_port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t items;

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(backend_port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("pool: connect");
		exit(1);
	}
	return fd;
}

static void *worker(void *arg)
{
	char req[300], buf[4096], out[4400];
	struct job j;
	ssize_t n, got;

	(void)arg;
	for (;;) {
		while (sem_wait(&items) != 0)
			;
		pthread_mutex_lock(&mu);
		j = q[qhead];
		qhead = (qhead + 1) % QCAP;
		qlen--;
		pthread_mutex_unlock(&mu);
		int b = dial();
		n = snprintf(req, sizeof(req),
			     "GET %s HTTP/1.0\r\nHost: back\r\n\r\n", j.path);
		if (write(b, req, (size_t)n) != n)
			exit(1);
		got = 0;
		while ((n = read(b, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		close(b);
		buf[got] = 0;
		char *body = strstr(buf, "\r\n\r\n");
		body = body ? body + 4 : buf;
		n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			     strlen(body), body);
		if (write(j.fd, out, (size_t)n) != n)
			perror("pool: write");
		close(j.fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, ls, workers;
	pthread_t t;

	if (argc != 4)
		return 2;
	backend_port = atoi(argv[2]);
	workers = atoi(argv[3]);
	sem_init(&items, 0, 0);
	for (int i = 0; i < workers; i++)
		pthread_create(&t, NULL, worker, NULL);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 128)) {
		perror("pool: listen");
		return 1;
	}
	for (;;) {
		char head[2048];
		ssize_t got = 0, n;
		int c = accept(ls, NULL, NULL);

		if (c < 0)
			continue;
		while (got < (ssize_t)sizeof(head) - 1 &&
		       (n = read(c, head + got, sizeof(head) - 1 - got)) > 0) {
			got += n;
			head[got] = 0;
			if (strstr(head, "\r\n\r\n"))
				break;
		}
		head[got] = 0;
		char *sp = strchr(head, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : 0;
		if (!sp2 || sp2 - sp - 1 >= 200) {
			close(c);
			continue;
		}
		pthread_mutex_lock(&mu);
		q[(qhead + qlen) % QCAP].fd = c;
		memcpy(q[(qhead + qlen) % QCAP].path, sp + 1, sp2 - sp - 1);
		q[(qhead + qlen) % QCAP].path[sp2 - sp - 1] = 0;
		qlen++;
		pthread_mutex_unlock(&mu);
		sem_post(&items);
	}
}
