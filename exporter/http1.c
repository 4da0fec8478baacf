/*
 * The plain-HTTP client (see http1.h).  One request at a time on one
 * non-blocking socket, every wait a poll() bounded by the deadline.  Names
 * are resolved with getaddrinfo_a() so that an unreachable DNS server
 * costs the deadline and no more; a lookup still running when the deadline
 * passes is kept and picked up by the next call instead of being started
 * again.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/iov.h"
#include "common/text.h"
#include "http1.h"

#define HEAD_MAX (16u << 10)
/* The head (at most HEAD_MAX and one read past it), the kept body and room
 * for one more read. */
#define BUF_MAX  (HTTP1_BODY_MAX + 2 * HEAD_MAX + 8192)

/* A name lookup in flight (getaddrinfo_a); outlives a deadline. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256];
	char port[8];
};

static struct lookup *pending;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void http1_init(struct http1_client *c, const struct endpoint *u,
		int (*own_fd)(int fd, int owned))
{
	memset(c, 0, sizeof(*c));
	c->url = *u;
	c->fd = -1;
	c->own_fd = own_fd;
}

/* Waits until fd is ready for events; 0, or -ETIMEDOUT at the deadline. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = mono_ns();
		int ms, n;

		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (int)((deadline - now + 999999) / 1000000);
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* The addresses of the URL's host, by the deadline.  0 or -errno. */
static int resolve(const struct endpoint *u, uint64_t deadline,
		   struct addrinfo **out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST };
	struct gaicb *list[1];
	int rc;

	if (getaddrinfo(u->host, u->port, &hints, out) == 0)
		return 0;
	if (pending && (strcmp(pending->host, u->host) ||
			strcmp(pending->port, u->port)) &&
	    gai_error(&pending->cb) != EAI_INPROGRESS) {
		if (pending->cb.ar_result)
			freeaddrinfo(pending->cb.ar_result);
		free(pending);
		pending = NULL;
	}
	if (!pending) {
		pending = calloc(1, sizeof(*pending));
		if (!pending)
			return -ENOMEM;
		snprintf(pending->host, sizeof(pending->host), "%s", u->host);
		snprintf(pending->port, sizeof(pending->port), "%s", u->port);
		pending->hints.ai_socktype = SOCK_STREAM;
		pending->cb.ar_name = pending->host;
		pending->cb.ar_service = pending->port;
		pending->cb.ar_request = &pending->hints;
		list[0] = &pending->cb;
		if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
			free(pending);
			pending = NULL;
			return -EHOSTUNREACH;
		}
	}
	list[0] = &pending->cb;
	while ((rc = gai_error(&pending->cb)) == EAI_INPROGRESS) {
		uint64_t now = mono_ns(), left;
		struct timespec ts;

		if (now >= deadline)
			return -ETIMEDOUT;      /* the lookup goes on */
		left = deadline - now;
		ts.tv_sec = (time_t)(left / 1000000000ULL);
		ts.tv_nsec = (long)(left % 1000000000ULL);
		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	*out = rc == 0 ? pending->cb.ar_result : NULL;
	free(pending);          /* the result now belongs to the caller */
	pending = NULL;
	return rc == 0 ? 0 : -EHOSTUNREACH;
}

static void drop_fd(struct http1_client *c, int fd)
{
	if (c->own_fd)
		c->own_fd(fd, 0);
	close(fd);
}

void http1_disconnect(struct http1_client *c)
{
	if (c->fd >= 0)
		drop_fd(c, c->fd);
	c->fd = -1;
}

void http1_free(struct http1_client *c)
{
	http1_disconnect(c);
	free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}

/* Connects to one address by the deadline: the descriptor or -errno. */
static int connect_one(struct http1_client *c, const struct addrinfo *ai,
		       uint64_t deadline)
{
	int fd, err = 0, one = 1;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	if (c->own_fd)
		fd = c->own_fd(fd, 1);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline)
					   : -errno;
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				       &len) == 0)
			err = -err;
	}
	if (err) {
		drop_fd(c, fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int connect_url(struct http1_client *c, uint64_t deadline)
{
	struct addrinfo *ai, *a;
	int rc = resolve(&c->url, deadline, &ai);

	if (rc)
		return rc;
	rc = -ECONNREFUSED;
	for (a = ai; a; a = a->ai_next) {
		rc = connect_one(c, a, deadline);
		if (rc >= 0) {
			c->fd = rc;
			rc = 0;
			break;
		}
		if (rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	return rc;
}

static int send_all(int fd, struct iovec *iov, int n, uint64_t deadline)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		int rc;

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -errno;
		if (w < 0) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc)
				return rc;
			continue;
		}
		iov_advance(&iov, &n, (size_t)w);
	}
	return 0;
}

/* The head's value of header name (lowercase), trimmed; empty if none. */
static struct str header(struct str head, const char *name)
{
	const char *p = head.p, *end = head.p + head.n;
	size_t nlen = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		struct str line = { p, (size_t)((eol ? eol : end) - p) };

		p = eol ? eol + 1 : end;
		if (line.n > nlen && line.p[nlen] == ':' &&
		    str_eq_nocase((struct str){ line.p, nlen },
				  (struct str){ name, nlen }))
			return str_trim((struct str){ line.p + nlen + 1,
						      line.n - nlen - 1 -
						      (line.p[line.n - 1] ==
						       '\r') });
	}
	return (struct str){ "", 0 };
}

/*
 * Walks a chunked body in b[0..n): 1 when it is complete (then, with
 * decode, the data is moved to the front and *len set), 0 when more bytes
 * are needed, -1 when it is malformed.
 */
static int chunked(uint8_t *b, size_t n, int decode, size_t *len)
{
	size_t i = 0, out = 0;

	for (;;) {
		size_t size = 0, digits = 0;
		const uint8_t *eol;

		while (i < n && hex_value((char)b[i]) >= 0 && digits < 16) {
			size = size * 16 + (size_t)hex_value((char)b[i++]);
			digits++;
		}
		eol = memchr(b + i, '\n', n - i);   /* extensions skipped */
		if (!eol)
			return digits > 0 || i == n ? 0 : -1;
		if (digits == 0)
			return -1;
		i = (size_t)(eol - b) + 1;
		if (size == 0)
			break;
		/* Compared without adding to size: sixteen hex digits can
		 * make it SIZE_MAX. */
		if (n - i < 2 || size > n - i - 2)
			return 0;
		if (decode)
			memmove(b + out, b + i, size);
		out += size;
		i += size + 2;          /* the data and its CRLF */
	}
	/* Trailer fields, then an empty line. */
	for (;;) {
		const uint8_t *eol = memchr(b + i, '\n', n - i);

		if (!eol)
			return 0;
		if (eol == b + i || (eol == b + i + 1 && b[i] == '\r'))
			break;
		i = (size_t)(eol - b) + 1;
	}
	*len = out;
	return 1;
}

static int grow(struct http1_client *c, size_t need)
{
	size_t cap = c->cap ? c->cap : 16384;
	uint8_t *b;

	if (need <= c->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > BUF_MAX)
		cap = BUF_MAX;
	if (need > cap)
		return -EMSGSIZE;
	b = realloc(c->buf, cap);
	if (!b)
		return -ENOMEM;
	c->buf = b;
	c->cap = cap;
	return 0;
}

/* Where the head's fields say the body ends. */
static int parse_head(struct http1_parser *p, const uint8_t *buf,
		      struct http1_response *r)
{
	struct str head = { (const char *)buf, p->head_len - 2 }, v;
	const uint8_t *eol = memchr(buf, '\n', p->head_len);
	size_t n = (size_t)(eol - buf);    /* the head ends in "\r\n\r\n" */
	char line[32];
	int minor;

	/* The status line alone, NUL-terminated for sscanf. */
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, buf, n);
	line[n] = '\0';
	if (sscanf(line, "HTTP/1.%d %ld", &minor, &r->status) != 2 ||
	    r->status < 100 || r->status > 999)
		return -EPROTO;
	p->content_length = -1;
	v = header(head, "content-length");
	if (v.n) {
		char *e;

		p->content_length = strtol(v.p, &e, 10);
		if (p->content_length < 0 || e == v.p)
			return -EPROTO;
	}
	v = header(head, "transfer-encoding");
	p->is_chunked = v.n >= 7 &&
		str_eq_nocase((struct str){ v.p + v.n - 7, 7 },
			      STR_LIT("chunked"));
	v = header(head, "connection");
	p->keep = minor >= 1 ? !str_is(v, "close") : str_is(v, "keep-alive");
	if (r->status == 204 || r->status == 304)
		p->content_length = 0;
	return 0;
}

/* The head's text fields, into r. */
static void head_fields(const struct http1_parser *p, const uint8_t *buf,
			struct http1_response *r)
{
	struct str head = { (const char *)buf, p->head_len - 2 }, v;

	v = header(head, "content-type");
	snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)v.n,
		 v.p);
	v = header(head, "retry-after");
	snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)v.n,
		 v.p);
}

void http1_parser_init(struct http1_parser *p)
{
	memset(p, 0, sizeof(*p));
}

int http1_parse(struct http1_parser *p, uint8_t *buf, size_t *have, int eof,
		struct http1_response *r)
{
	size_t body_len;
	int rc;

	while (!p->head_len) {
		uint8_t *end = memmem(buf, *have, "\r\n\r\n", 4);

		if (!end)
			return *have > HEAD_MAX || (eof && *have) ? -EPROTO :
			       eof ? -ECONNRESET : 0;
		p->head_len = (size_t)(end - buf) + 4;
		rc = parse_head(p, buf, r);
		if (rc)
			return rc;
		if (r->status < 200) {  /* 100 Continue and the like */
			memmove(buf, buf + p->head_len, *have - p->head_len);
			*have -= p->head_len;
			p->head_len = 0;
		}
	}
	body_len = *have - p->head_len;
	if (p->is_chunked) {
		if (body_len > HTTP1_BODY_MAX)
			return -EMSGSIZE;
		rc = chunked(buf + p->head_len, body_len, 0, &body_len);
		if (rc < 0)
			return -EPROTO;
		if (rc == 0)
			return eof ? -EPROTO : 0;
		chunked(buf + p->head_len, *have - p->head_len, 1, &body_len);
	} else {
		/* Past HTTP1_BODY_MAX the bytes are read and dropped: the
		 * status still counts, the body is only kept in part. */
		if (body_len > HTTP1_BODY_MAX) {
			p->dropped += body_len - HTTP1_BODY_MAX;
			body_len = HTTP1_BODY_MAX;
			*have = p->head_len + body_len;
		}
		if (p->content_length >= 0) {
			if (body_len + p->dropped < (size_t)p->content_length)
				return eof ? -EPROTO : 0;
			if (!p->dropped)
				body_len = (size_t)p->content_length;
		} else if (!eof) {
			return 0;
		} else {
			p->keep = 0;    /* the body ends with the connection */
		}
	}
	r->body = buf + p->head_len;
	r->len = body_len;
	r->truncated = p->dropped > 0;
	head_fields(p, buf, r);
	return 1;
}

/*
 * Reads one response.  Returns 0 (r filled; *keep 0 when the server
 * closes), -ECONNRESET when the connection was closed before a single
 * byte came, or another -errno.
 */
static int read_response(struct http1_client *c, uint64_t deadline,
			 struct http1_response *r, int *keep)
{
	struct http1_parser p;
	size_t have = 0;
	int rc;

	http1_parser_init(&p);
	for (;;) {
		ssize_t got;

		rc = grow(c, have + 4096);
		if (rc)
			return rc;
		got = recv(c->fd, c->buf + have, c->cap - have, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN) {
			rc = wait_fd(c->fd, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		if (got < 0)
			return have ? -errno : -ECONNRESET;
		have += (size_t)got;
		rc = http1_parse(&p, c->buf, &have, got == 0, r);
		if (rc < 0)
			return rc;
		if (rc == 1)
			break;
	}
	*keep = p.keep;
	return 0;
}

int http1_post(struct http1_client *c, const char *headers,
	       const void *body, size_t len, uint64_t deadline_ns,
	       struct http1_response *r)
{
	char head[sizeof(c->url.target) + sizeof(c->url.host) + 64];
	int attempt, rc = 0, keep = 1;

	memset(r, 0, sizeof(*r));
	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
		 "Content-Length: %zu\r\n",
		 c->url.target, strchr(c->url.host, ':') ? "[" : "",
		 c->url.host, strchr(c->url.host, ':') ? "]" : "",
		 c->url.port, len);
	/* A kept-alive connection the server has closed fails at once: try
	 * a fresh one, once. */
	for (attempt = 0; attempt < 2; attempt++) {
		int reused = c->fd >= 0;
		struct iovec iov[4] = {
			{ head, strlen(head) },
			{ (void *)headers, strlen(headers) },
			{ "\r\n", 2 },
			{ (void *)body, len },
		};

		if (!reused && (rc = connect_url(c, deadline_ns)) != 0)
			return rc;
		rc = send_all(c->fd, iov, 4, deadline_ns);
		if (!rc)
			rc = read_response(c, deadline_ns, r, &keep);
		if (!rc) {
			if (!keep)
				http1_disconnect(c);
			return 0;
		}
		http1_disconnect(c);
		if (!reused || (rc != -ECONNRESET && rc != -EPIPE))
			break;
	}
	return rc;
}
