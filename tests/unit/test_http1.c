/*
 * The plain-HTTP client against a small server thread on loopback that
 * answers each connection as the test says: keep-alive reuse, chunked and
 * close-delimited bodies, Retry-After, a server that closes idle
 * connections, refused and silent servers, malformed responses.
 * links: exporter/http1.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exporter/http1.h"
#include "unit.h"

struct server {
	int lfd;
	int port;
	const char *reply;      /* written after each request */
	int close_after;        /* close the connection after a reply */
	int silent;             /* never answer */
	int accepted;
	char last[4096];        /* the last request, head and body */
	pthread_t tid;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Reads one request (head + Content-Length body); 0 at EOF. */
static int read_request(int fd, char *out, size_t cap)
{
	size_t n = 0;
	char *end;
	long body;

	for (;;) {
		ssize_t got = read(fd, out + n, cap - 1 - n);

		if (got <= 0)
			return 0;
		n += (size_t)got;
		out[n] = 0;
		end = strstr(out, "\r\n\r\n");
		if (!end)
			continue;
		body = strtol(strstr(out, "Content-Length: ") + 16, NULL, 10);
		if (n >= (size_t)(end + 4 - out) + (size_t)body)
			return 1;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0) {
		__atomic_add_fetch(&s->accepted, 1, __ATOMIC_SEQ_CST);
		while (read_request(fd, s->last, sizeof(s->last))) {
			if (s->silent) {
				sleep(2);
				break;
			}
			if (write(fd, s->reply, strlen(s->reply)) < 0)
				break;
			if (s->close_after)
				break;
		}
		close(fd);
	}
	return NULL;
}

static void start(struct server *s, const char *reply)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->reply = reply;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s->lfd, (void *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->lfd, 8), 0);
	getsockname(s->lfd, (void *)&a, &len);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->tid, NULL, serve, s);
}

static void client(struct http1_client *c, int port, const char *path)
{
	char url[128];
	struct endpoint u;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	ck_assert_int_eq(endpoint_split(url, &u), 0);
	http1_init(c, &u, NULL);
}

static int post(struct http1_client *c, const char *body,
		struct http1_response *r, uint64_t ms)
{
	return http1_post(c, "Content-Type: application/x-protobuf\r\n", body,
			  strlen(body), now_ns() + ms * 1000000ULL, r);
}

START_TEST(keep_alive_reused)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;

	start(&s, "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf"
		  "\r\nContent-Length: 2\r\n\r\nok");
	client(&c, s.port, "/v1/traces");
	ck_assert_int_eq(post(&c, "spans-1", &r, 2000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, 2);
	ck_assert(memcmp(r.body, "ok", 2) == 0);
	ck_assert_str_eq(r.content_type, "application/x-protobuf");
	ck_assert_ptr_nonnull(strstr(s.last, "POST /v1/traces HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(s.last, "\r\nHost: 127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(s.last, "\r\n\r\nspans-1"));
	ck_assert_int_eq(post(&c, "spans-2", &r, 2000), 0);
	ck_assert_ptr_nonnull(strstr(s.last, "\r\n\r\nspans-2"));
	ck_assert_int_eq(s.accepted, 1);
	http1_free(&c);
}
END_TEST

START_TEST(closed_keep_alive_replaced)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;

	start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	s.close_after = 1;      /* closes without saying so */
	client(&c, s.port, "/");
	ck_assert_int_eq(post(&c, "a", &r, 2000), 0);
	usleep(50000);
	ck_assert_int_eq(post(&c, "b", &r, 2000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(s.accepted, 2);
	http1_free(&c);
}
END_TEST

START_TEST(chunked_and_retry_after)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;

	start(&s, "HTTP/1.1 503 Service Unavailable\r\nRetry-After:  7 \r\n"
		  "Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n"
		  "4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n");
	client(&c, s.port, "/");
	ck_assert_int_eq(post(&c, "x", &r, 2000), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.retry_after, "7");
	ck_assert_uint_eq(r.len, 7);
	ck_assert(memcmp(r.body, "abcdefg", 7) == 0);
	ck_assert_int_ge(c.fd, 0);      /* still kept alive */
	http1_free(&c);
}
END_TEST

/* A chunk size of sixteen hex digits (SIZE_MAX) is a chunk still to
 * come, never a length added to past the end of what arrived (which made
 * the next byte look like the chunk's end and the response complete). */
START_TEST(chunk_size_max_is_never_complete)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;

	start(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "ffffffffffffffff\r\nX0\r\n\r\n");
	s.close_after = 1;
	client(&c, s.port, "/");
	ck_assert_int_eq(post(&c, "x", &r, 2000), -EPROTO);
	http1_free(&c);
}
END_TEST

START_TEST(close_delimited_and_connection_close)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;

	start(&s, "HTTP/1.0 400 Bad Request\r\n\r\nno spans here");
	s.close_after = 1;
	client(&c, s.port, "/");
	ck_assert_int_eq(post(&c, "x", &r, 2000), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_uint_eq(r.len, 13);
	ck_assert_int_eq(c.fd, -1);
	http1_free(&c);
}
END_TEST

START_TEST(refused_silent_and_malformed)
{
	struct server s;
	struct http1_client c;
	struct http1_response r;
	uint64_t t0;
	int port;

	start(&s, "SSH-2.0-OpenSSH\r\n\r\n");
	client(&c, s.port, "/");
	ck_assert_int_eq(post(&c, "x", &r, 2000), -EPROTO);
	http1_free(&c);

	start(&s, "");
	s.silent = 1;
	client(&c, s.port, "/");
	t0 = now_ns();
	ck_assert_int_eq(post(&c, "x", &r, 200), -ETIMEDOUT);
	ck_assert_uint_lt(now_ns() - t0, 1500000000ULL);
	http1_free(&c);

	port = s.port;
	shutdown(s.lfd, SHUT_RDWR);     /* wakes the accept, stops listening */
	pthread_join(s.tid, NULL);
	close(s.lfd);
	client(&c, port, "/");
	ck_assert_int_eq(post(&c, "x", &r, 2000), -ECONNREFUSED);
	http1_free(&c);
}
END_TEST

START_TEST(unresolvable_bounded)
{
	struct http1_client c;
	struct http1_response r;
	struct endpoint u;
	uint64_t t0 = now_ns();
	int rc;

	ck_assert_int_eq(endpoint_split("http://no-such-host.invalid:4318/",
					 &u), 0);
	http1_init(&c, &u, NULL);
	rc = post(&c, "x", &r, 300);
	ck_assert(rc == -EHOSTUNREACH || rc == -ETIMEDOUT);
	ck_assert_uint_lt(now_ns() - t0, 1500000000ULL);
	http1_free(&c);
}
END_TEST

UNIT_MAIN("http1", keep_alive_reused, closed_keep_alive_replaced,
	  chunked_and_retry_after, chunk_size_max_is_never_complete,
	  close_delimited_and_connection_close,
	  refused_silent_and_malformed, unresolvable_bounded)
