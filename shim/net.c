/*
 * libc socket and descriptor hooks.  Each hook is a thin libc-named
 * trampoline: it calls the real function, keeps its result and errno, and
 * lets the descriptor table decide whether anything happened that tracing
 * cares about.  A descriptor that is not a stream socket costs one table
 * lookup and a branch.
 *
 * What is traced here: outbound connections that fail, immediately or —
 * for non-blocking sockets — later, as seen through getsockopt(SO_ERROR),
 * a second connect() or the first I/O.  Successful connections get no span
 * of their own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "context.h"
#include "fdtab.h"
#include "preload.h"
#include "record.h"

static enum fd_kind kind_of(int domain, int type)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (type != SOCK_STREAM)
		return FD_OTHER;
	if (domain == AF_INET || domain == AF_INET6)
		return FD_TCP;
	if (domain == AF_UNIX)
		return FD_UNIX;
	return FD_OTHER;
}

/* Classifies a descriptor we did not see created (inherited, or made
 * before the library was ready).  Only on the connect path. */
static enum fd_kind probe_kind(int fd, const struct sockaddr *addr)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (!addr || real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return FD_OTHER;
	return kind_of(addr->sa_family, type);
}

/* Writes the numeric address and port of e->peer. */
static void peer_text(const struct fd_entry *e, char *host, size_t cap,
		      int *port)
{
	const struct sockaddr *sa = (const struct sockaddr *)&e->peer;

	host[0] = 0;
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)cap);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)cap);
		*port = ntohs(in6->sin6_port);
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = e->peer_len > off ? e->peer_len - off : 0;

		if (n > 0 && un->sun_path[0] == 0) {
			/* Abstract socket: shown with a leading '@'. */
			snprintf(host, cap, "@%.*s", (int)(n - 1),
				 un->sun_path + 1);
		} else {
			snprintf(host, cap, "%.*s", (int)strnlen(un->sun_path,
				 n < sizeof(un->sun_path) ? n :
				 sizeof(un->sun_path)), un->sun_path);
		}
	}
}

/* The failed-connect span: CLIENT "connect", status ERROR, error.type the
 * errno name. */
static void connect_failed(struct fd_entry *e, int err)
{
	struct span *s = ctx_start(SPAN_KIND_CLIENT, NULL);
	const char *name = strerrorname_np(err);
	const char *desc = strerrordesc_np(err);
	char host[128];
	int port;

	e->state = FD_IDLE;
	if (!s)
		return;
	s->start_ns = e->connect_start_ns ? e->connect_start_ns : s->start_ns;
	rec_name(s, "connect", 7);
	peer_text(e, host, sizeof(host), &port);
	if (host[0]) {
		rec_attr_cstr(s, "server.address", host);
		rec_attr_cstr(s, "network.peer.address", host);
	}
	if (e->kind == FD_TCP) {
		rec_attr_int(s, "server.port", port);
		rec_attr_int(s, "network.peer.port", port);
		rec_attr_cstr(s, "network.transport", "tcp");
		rec_attr_cstr(s, "network.type",
			      e->peer.ss_family == AF_INET6 ? "ipv6" : "ipv4");
	} else {
		rec_attr_cstr(s, "network.transport", "unix");
	}
	rec_attr_cstr(s, "error.type", name ? name : "_OTHER");
	rec_status(s, SPAN_STATUS_ERROR, desc, desc ? strlen(desc) : 0);
	ctx_end(s);
}

/* After an I/O call on a socket whose non-blocking connect is pending:
 * success means connected; a hard error means the connect failed. */
static void io_outcome(struct fd_entry *e, ssize_t ret, int err)
{
	if (ret >= 0) {
		e->state = FD_IDLE;
		return;
	}
	switch (err) {
	case EAGAIN:
	case EINTR:
	case ENOTCONN:
	case EINPROGRESS:
		return;
	case ECONNREFUSED:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTDOWN:
	case ENETDOWN:
		connect_failed(e, err);
		return;
	default:
		e->state = FD_IDLE;
	}
}

/* The entry of a stream socket with a pending connect, else NULL: the
 * whole cost of the I/O hooks for every other descriptor. */
static inline struct fd_entry *pending(int fd)
{
	struct fd_entry *e;

	if (!preload_enter())
		return NULL;
	e = fdtab_get(fd);
	return e && e->state == FD_CONNECTING ? e : NULL;
}

HOOK_API int socket(int domain, int type, int protocol)
{
	int fd;
	struct fd_entry *e;

	if (!preload_enter())
		return real_socket(domain, type, protocol);
	fd = real_socket(domain, type, protocol);
	e = fdtab_get(fd);
	if (e) {
		fdtab_forget(fd);
		e->kind = (uint8_t)kind_of(domain, type);
	}
	return fd;
}

HOOK_API int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fd_entry *e;
	uint64_t start;
	int ret, err;

	if (!preload_enter() || !(e = fdtab_get(fd)) || e->kind == FD_OWN ||
	    e->kind == FD_OTHER)
		return real_connect(fd, addr, len);
	if (e->kind == FD_UNKNOWN)
		e->kind = (uint8_t)probe_kind(fd, addr);
	if (e->kind != FD_TCP && e->kind != FD_UNIX)
		return real_connect(fd, addr, len);
	start = ctx_now_ns();
	ret = real_connect(fd, addr, len);
	err = errno;
	if (e->state == FD_CONNECTING) {
		/* A repeated connect() reports on the pending one. */
		if (ret == 0 || err == EISCONN)
			e->state = FD_IDLE;
		else if (err != EALREADY && err != EINPROGRESS &&
			 err != EINTR)
			connect_failed(e, err);
		goto out;
	}
	if (ret == 0 || !addr)
		goto out;
	if (len > sizeof(e->peer))
		len = sizeof(e->peer);
	memcpy(&e->peer, addr, len);
	e->peer_len = (uint16_t)len;
	e->connect_start_ns = start;
	if (err == EINPROGRESS || err == EINTR ||
	    (err == EAGAIN && e->kind == FD_UNIX))
		e->state = FD_CONNECTING;
	else if (err != EISCONN && err != EALREADY && err != EBADF &&
		 err != EFAULT && err != ENOTSOCK && err != EINVAL &&
		 err != EAFNOSUPPORT)
		connect_failed(e, err);
out:
	errno = err;
	return ret;
}

HOOK_API int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct fd_entry *e = pending(fd);
	int ret, err;

	if (!e || level != SOL_SOCKET || name != SO_ERROR)
		return real_getsockopt(fd, level, name, val, len);
	ret = real_getsockopt(fd, level, name, val, len);
	err = errno;
	if (ret == 0 && val && len && *len >= sizeof(int) && *(int *)val)
		connect_failed(e, *(int *)val);
	errno = err;
	return ret;
}

HOOK_API int close(int fd)
{
	if (preload_enter())
		fdtab_forget(fd);
	return real_close(fd);
}

/* The I/O hooks: only a pending connect makes them look at the result. */
#define IO_HOOK(ret_t, name, params, args)                  \
	HOOK_API ret_t name params                          \
	{                                                   \
		struct fd_entry *e = pending(fd);           \
		ret_t ret = real_##name args;               \
		int err = errno;                            \
		if (e) {                                    \
			io_outcome(e, (ssize_t)ret, err);   \
			errno = err;                        \
		}                                           \
		return ret;                                 \
	}

IO_HOOK(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
IO_HOOK(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
IO_HOOK(ssize_t, recv, (int fd, void *buf, size_t n, int flags),
	(fd, buf, n, flags))
IO_HOOK(ssize_t, send, (int fd, const void *buf, size_t n, int flags),
	(fd, buf, n, flags))
IO_HOOK(ssize_t, recvfrom, (int fd, void *buf, size_t n, int flags,
			    struct sockaddr *addr, socklen_t *alen),
	(fd, buf, n, flags, addr, alen))
IO_HOOK(ssize_t, sendto, (int fd, const void *buf, size_t n, int flags,
			  const struct sockaddr *addr, socklen_t alen),
	(fd, buf, n, flags, addr, alen))
IO_HOOK(ssize_t, readv, (int fd, const struct iovec *iov, int n),
	(fd, iov, n))
IO_HOOK(ssize_t, writev, (int fd, const struct iovec *iov, int n),
	(fd, iov, n))
IO_HOOK(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags),
	(fd, msg, flags))
IO_HOOK(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags),
	(fd, msg, flags))
