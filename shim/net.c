/*
 * libc socket and descriptor hooks.  Each hook is a thin libc-named
 * trampoline: it calls the real function, keeps its result and errno, and
 * lets the descriptor table decide whether anything happened that tracing
 * cares about.  A descriptor that is not a stream socket, or whose bytes
 * turned out not to be HTTP, costs one table lookup and a branch.
 *
 * What is traced here: outbound connections that fail, immediately or —
 * for non-blocking sockets — later, as seen through getsockopt(SO_ERROR),
 * a second connect() or the first I/O; and HTTP/1.x on stream sockets,
 * whose bytes go to httpconn.c (server and client spans, trace headers).
 * Successful connections get no span of their own.
 *
 * Stream sockets are known from socket(), connect() and accept(); a
 * descriptor we never saw created (inherited across exec, socketpair())
 * is not traced, so that reading a regular file never costs a system call
 * of ours.  A descriptor made by dup() is not traced either: two numbers
 * on one connection would follow its bytes twice.
 */
#include <errno.h>
#include <string.h>

#include "common/semconv.h"
#include "pipeline/record.h"
#include "context.h"
#include "fdtab.h"
#include "httpconn.h"
#include "ownfd.h"
#include "peer.h"
#include "preload.h"
#include "reqtab.h"
#include "stack.h"
#include "tls.h"

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

/* The failed-connect span for a network peer: CLIENT "connect", status
 * ERROR, error.type the errno name. */
static void connect_failed(struct fd_entry *e, int err)
{
	const char *name = strerrorname_np(err);
	const char *desc = strerrordesc_np(err);
	char host[PEER_TEXT_MAX];
	struct span *s;
	int port;

	e->state = FD_IDLE;
	/* Connect-failure spans are for network peers: a local socket that
	 * is not there (dbus, userdb) is no outage of anything traced. */
	if (e->kind == FD_UNIX)
		return;
	s = ctx_start_leaf(SPAN_KIND_CLIENT);
	if (!s)
		return;
	s->start_ns = e->connect_start_ns ? e->connect_start_ns : s->start_ns;
	rec_name(s, "connect", 7);
	port = peer_ip(&e->peer, host, sizeof(host));
	if (port < 0)
		port = 0;
	if (host[0]) {
		rec_attr_cstr(s, ATTR_SERVER_ADDRESS, host);
		rec_attr_cstr(s, ATTR_NETWORK_PEER_ADDRESS, host);
	}
	rec_attr_int(s, ATTR_SERVER_PORT, port);
	rec_attr_int(s, ATTR_NETWORK_PEER_PORT, port);
	rec_attr_cstr(s, ATTR_NETWORK_TRANSPORT, "tcp");
	rec_attr_cstr(s, ATTR_NETWORK_TYPE,
		      e->peer.ss_family == AF_INET6 ? "ipv6" : "ipv4");
	rec_attr_cstr(s, ATTR_ERROR_TYPE, name ? name : "_OTHER");
	rec_status(s, SPAN_STATUS_ERROR, desc, desc ? strlen(desc) : 0);
	stack_capture_if_slow(s);
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

/* The entry of a stream socket with a pending connect, else NULL. */
static inline struct fd_entry *pending(int fd)
{
	struct fd_entry *e;

	if (!preload_enter())
		return NULL;
	e = fdtab_get(fd);
	return e && e->state == FD_CONNECTING ? e : NULL;
}

/* The entry of a stream socket whose I/O we look at (a pending connect,
 * or bytes that may be HTTP), else NULL. */
static inline struct fd_entry *watched(int fd)
{
	struct fd_entry *e;

	if (!fdtab_is_stream(fd))
		return NULL;
	e = &fdtab_entries[fd];
	if (__builtin_expect(tls_capturing, 0))
		tls_capture_note(e);
	/* Ciphertext: the plaintext is followed in the TLS hooks. */
	if ((e->proto == FD_PROTO_NONE || e->tls || tls_capturing) &&
	    e->state != FD_CONNECTING)
		return NULL;
	/* Only now the thread check: our own threads never get here with
	 * anything to trace, but must pass through when they do. */
	return preload_enter() ? e : NULL;
}

/*
 * 0 when fd is certainly not watched(): not a stream socket of ours (its
 * gate bit clear, as for every descriptor before the library is
 * initialised), or one whose bytes are not followed here (not HTTP, or
 * ciphertext) and that has no connect to settle, while no TLS library's
 * call is looking for its transport.  The I/O hooks below test only this
 * inline and otherwise jump straight to the real function, so that for
 * any descriptor but a stream socket a hook is a few instructions that
 * read the page of its real_* pointer and nothing else of ours.  On a
 * guest whose system calls leave the caches cold, what a hook touches
 * costs more than its instructions (the hook floor in BENCHMARKS.md).
 */
static inline int maybe_watched(int fd)
{
	const struct fd_entry *e;

	if (!fdtab_is_stream(fd))
		return 0;
	e = &fdtab_entries[fd];
	return !((e->proto == FD_PROTO_NONE || e->tls) &&
		 e->state != FD_CONNECTING && !tls_capturing);
}

/*
 * Defines the hook `name`, which calls real_##name unless maybe_watched()
 * says its descriptor fd_arg may be traced, and then the body that
 * follows the macro, as watched_##name: out of line, so that the hook
 * itself keeps no stack frame.
 */
#define IO_HOOK(ret, name, fd_arg, params, args)                           \
	static __attribute__((noinline)) ret watched_##name params;        \
	HOOK_API ret name params                                           \
	{                                                                  \
		if (__builtin_expect(!maybe_watched(fd_arg), 1))           \
			return real_##name args;                           \
		return watched_##name args;                                \
	}                                                                  \
	static __attribute__((noinline)) ret watched_##name params

/* Forgets fd, ending what its connection state still holds. */
static void forget(struct fd_entry *e, int fd)
{
	if (e->conn)
		hc_close(e);
	fdtab_forget(fd);
}

static int propagating(void)
{
	return preload_config()->propagate_tracecontext;
}

/* After a read-type call on a watched descriptor that returned ret (or -1
 * with err). */
static void after_read(struct fd_entry *e, const struct iovec *iov, int n,
		       ssize_t ret, int err, int flags)
{
	if (e->state == FD_CONNECTING)
		io_outcome(e, ret, err);
	if (e->proto != FD_PROTO_NONE && !e->tls &&
	    !(flags & (MSG_PEEK | MSG_ERRQUEUE)))
		hc_after_read(e, iov, n, ret, err, propagating());
}

/* How a write reaches the kernel: the program's own call where the bytes
 * pass unchanged, one writev/sendmsg when trace headers are added. */
enum { W_WRITE, W_SEND };

struct wr {
	int fd;
	int mode;
	int flags;
	const struct sockaddr *addr;
	socklen_t alen;
	const struct msghdr *msg;       /* sendmsg: name and control */
	int calls;
	int tcp;                        /* MSG_MORE applies */
};

static ssize_t wr_send(struct wr *w, const struct iovec *iov, int n,
		       int more)
{
	struct msghdr m;
	int flags = w->flags;
	ssize_t r;

	/* More of the same call follows at once: TCP sends the pieces
	 * together, as the program's one call would have (on a socket,
	 * write is send without flags). */
	if (more && w->tcp)
		flags |= MSG_MORE;
	if (w->mode == W_WRITE && flags == 0) {
		r = n == 1 ? real_write(w->fd, iov[0].iov_base, iov[0].iov_len)
			   : real_writev(w->fd, iov, n);
	} else if (n == 1 && !w->msg && !w->addr) {
		r = real_send(w->fd, iov[0].iov_base, iov[0].iov_len, flags);
	} else {
		memset(&m, 0, sizeof(m));
		m.msg_iov = (struct iovec *)iov;
		m.msg_iovlen = (size_t)n;
		m.msg_name = (void *)w->addr;
		m.msg_namelen = w->addr ? w->alen : 0;
		if (w->msg && w->calls == 0) {
			/* Ancillary data goes with the first call only. */
			m.msg_control = w->msg->msg_control;
			m.msg_controllen = w->msg->msg_controllen;
		}
		r = real_sendmsg(w->fd, &m, flags);
	}
	if (r >= 0)
		w->calls++;
	return r;
}

static ssize_t wr_put(void *arg, const struct iovec *iov, int n)
{
	return wr_send(arg, iov, n, 0);
}

static ssize_t wr_put_more(void *arg, const struct iovec *iov, int n)
{
	return wr_send(arg, iov, n, 1);
}

/* A write-type call on a watched descriptor. */
static ssize_t do_write(struct fd_entry *e, const struct iovec *iov, int n,
			struct wr *w)
{
	struct hc_writer hw = { wr_put, w, wr_put_more, NULL };
	ssize_t ret;

	w->tcp = e->kind == FD_TCP;
	if (e->proto == FD_PROTO_NONE || e->tls || (w->flags & MSG_OOB))
		ret = wr_put(w, iov, n);
	else
		ret = hc_write(e, iov, n, &hw, propagating());
	if (e->state == FD_CONNECTING)
		KEEP_ERRNO(io_outcome(e, ret, errno));
	return ret;
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
		forget(e, fd);
		fdtab_set_kind(e, kind_of(domain, type));
	}
	return fd;
}

/* After connect(2) on a stream socket returned ret (or -1 with err). */
static void connected(struct fd_entry *e, const struct sockaddr *addr,
		      socklen_t len, int ret, int err, uint64_t start)
{
	enum reqtab_how how;

	if (e->state == FD_CONNECTING) {
		/* A repeated connect() reports on the pending one. */
		if (ret == 0 || err == EISCONN)
			e->state = FD_IDLE;
		else if (err != EALREADY && err != EINPROGRESS &&
			 err != EINTR)
			connect_failed(e, err);
		return;
	}
	if (!addr)
		return;
	/* Opened in a callback that read its request: for that request.
	 * A callback reading an answer may open one for a request that
	 * waited in a pool (node's agent does): no owner then. */
	if (reqtab_serving(&how) && how == REQTAB_READ)
		e->owner = reqtab_serving(NULL);
	if (len > sizeof(e->peer))
		len = sizeof(e->peer);
	memcpy(&e->peer, addr, len);
	e->peer_len = (uint16_t)len;
	if (ret == 0)
		return;
	e->connect_start_ns = start;
	if (err == EINPROGRESS || err == EINTR ||
	    (err == EAGAIN && e->kind == FD_UNIX))
		e->state = FD_CONNECTING;
	else if (err != EISCONN && err != EALREADY && err != EBADF &&
		 err != EFAULT && err != ENOTSOCK && err != EINVAL &&
		 err != EAFNOSUPPORT)
		connect_failed(e, err);
}

HOOK_API int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fd_entry *e;
	uint64_t start;
	int ret;

	if (!preload_enter() || !(e = fdtab_get(fd)) || e->kind == FD_OWN ||
	    e->kind == FD_OTHER)
		return real_connect(fd, addr, len);
	if (e->kind == FD_UNKNOWN)
		fdtab_set_kind(e, probe_kind(fd, addr));
	if (!fd_kind_is_stream(e->kind))
		return real_connect(fd, addr, len);
	start = ctx_now_ns();
	ret = real_connect(fd, addr, len);
	KEEP_ERRNO(connected(e, addr, len, ret, errno, start));
	return ret;
}

HOOK_API int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct fd_entry *e = pending(fd);
	int ret;

	if (!e || level != SOL_SOCKET || name != SO_ERROR)
		return real_getsockopt(fd, level, name, val, len);
	ret = real_getsockopt(fd, level, name, val, len);
	if (ret == 0 && val && len && *len >= sizeof(int) && *(int *)val)
		KEEP_ERRNO(connect_failed(e, *(int *)val));
	return ret;
}

/*
 * The exporter's own sockets are not the program's to close: a program
 * that closes every descriptor (a daemon's close loop) would otherwise
 * free a number libcurl still writes to, and the program's next open()
 * would receive our HTTP.  Closing one "succeeds" without closing it.
 * On our own threads a close is the library letting go of its own.
 */
static __attribute__((noinline)) int close_known(int fd)
{
	struct fd_entry *e;

	if (__builtin_expect(preload_guard, 0)) {
		/* One of ours, closed by the library that made it. */
		ownfd_release(fd);
		return real_close(fd);
	}
	if (preload_enter() && (e = fdtab_get(fd)) != NULL &&
	    (e->kind || e->conn) && !preload_in_shared_child()) {
		if (e->kind == FD_OWN)
			return 0;
		KEEP_ERRNO(forget(e, fd));
	}
	return real_close(fd);
}

/* A descriptor the table holds nothing about (a file, a pipe) is closed
 * at once, whichever thread closes it; only the others are looked at. */
HOOK_API int close(int fd)
{
	const struct fd_entry *e = fdtab_get(fd);

	if (__builtin_expect(e && !e->kind && !e->conn, 1))
		return real_close(fd);
	return close_known(fd);
}

/*
 * close_range(2) (glibc 2.34+), used by close loops and by Python's
 * os.closerange: the same rule as close(), so the range is closed in
 * pieces around the exporter's sockets.  An older C library fails it with
 * ENOSYS (hooks.def).
 */
HOOK_API int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int from = first, end;
	int ret = 0;

	if (!preload_enter() || preload_in_shared_child())
		return real_close_range(first, last, flags);
	end = last < FDTAB_MAX - 1 ? last : FDTAB_MAX - 1;
	for (unsigned int fd = first; fd <= end && fd >= first; fd++) {
		struct fd_entry *e = fdtab_get((int)fd);

		if (!e || !(e->kind || e->conn))
			continue;
		if (e->kind == FD_OWN) {
			if (fd > from) {
				ret = real_close_range(from, fd - 1, flags);
				if (ret != 0)
					return ret;
			}
			from = fd + 1;
			continue;
		}
		/* CLOSE_RANGE_CLOEXEC only marks descriptors. */
		if (!(flags & 4 /* CLOSE_RANGE_CLOEXEC */))
			forget(e, (int)fd);
	}
	if (from > last || from < first)
		return 0;
	return real_close_range(from, last, flags);
}

IO_HOOK(int, shutdown, fd, (int fd, int how), (fd, how))
{
	struct fd_entry *e = watched(fd);
	int ret = real_shutdown(fd, how);

	if (e && ret == 0 && e->conn)
		KEEP_ERRNO(hc_shutdown(e, how));
	return ret;
}

/* A new descriptor from accept(): a stream socket of the listener's
 * family, and we are its server side. */
static void accepted(int lfd, int fd, const struct sockaddr_storage *ss,
		     socklen_t sl, struct sockaddr *addr, socklen_t *len)
{
	struct fd_entry *l = fdtab_get(lfd), *e = fdtab_get(fd);

	if (addr && len) {
		memcpy(addr, ss, *len < sl ? *len : sl);
		*len = sl;
	}
	if (!e)
		return;
	/* An accept callback serves no request yet. */
	ctx_serve_ref(0, REQTAB_NONE);
	forget(e, fd);
	if (l && (l->kind == FD_OTHER || l->kind == FD_OWN))
		return;
	if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)
		fdtab_set_kind(e, FD_TCP);
	else if (ss->ss_family == AF_UNIX)
		fdtab_set_kind(e, FD_UNIX);
	else
		return;
	e->accepted = 1;
	if (sl > sizeof(e->peer))
		sl = sizeof(e->peer);
	memcpy(&e->peer, ss, sl);
	e->peer_len = (uint16_t)sl;
}

HOOK_API int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int nfd;

	if (!preload_enter())
		return real_accept(fd, addr, len);
	/* Our own buffer: the peer is needed even when the program passes
	 * none, and asking later would cost a system call. */
	nfd = real_accept(fd, (struct sockaddr *)&ss, &sl);
	if (nfd >= 0)
		KEEP_ERRNO(accepted(fd, nfd, &ss, sl, addr, len));
	return nfd;
}

HOOK_API int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int nfd;

	if (!preload_enter())
		return real_accept4(fd, addr, len, flags);
	nfd = real_accept4(fd, (struct sockaddr *)&ss, &sl, flags);
	if (nfd >= 0)
		KEEP_ERRNO(accepted(fd, nfd, &ss, sl, addr, len));
	return nfd;
}

/* fd2 now names what fd names: it keeps the kind, never the connection
 * state (see the top of the file). */
static void duplicated(int fd, int fd2)
{
	struct fd_entry *e = fdtab_get(fd), *e2 = fdtab_get(fd2);

	if (!e2 || fd == fd2)
		return;
	forget(e2, fd2);
	if (!e || e->kind == FD_UNKNOWN)
		return;
	fdtab_set_kind(e2, e->kind == FD_OWN ? FD_OTHER : e->kind);
	e2->proto = FD_PROTO_NONE;
}

HOOK_API int dup(int fd)
{
	int ret = real_dup(fd);

	if (ret >= 0 && preload_enter())
		KEEP_ERRNO(duplicated(fd, ret));
	return ret;
}

HOOK_API int dup2(int fd, int fd2)
{
	int ret = real_dup2(fd, fd2);

	if (ret >= 0 && preload_enter() && !preload_in_shared_child())
		KEEP_ERRNO(duplicated(fd, ret));
	return ret;
}

HOOK_API int dup3(int fd, int fd2, int flags)
{
	int ret = real_dup3(fd, fd2, flags);

	if (ret >= 0 && preload_enter() && !preload_in_shared_child())
		KEEP_ERRNO(duplicated(fd, ret));
	return ret;
}

/* After sendfile(2) on a watched descriptor returned ret (or -1 with
 * err). */
static void after_sendfile(struct fd_entry *e, ssize_t ret, int err)
{
	if (e->state == FD_CONNECTING)
		io_outcome(e, ret, err);
	if (e->proto != FD_PROTO_NONE && !e->tls)
		hc_after_sendfile(e, ret, err);
}

/* sendfile: the body bytes come from a file, we only count them. */
#define SENDFILE_HOOK(name, off_t_)                                         \
	IO_HOOK(ssize_t, name, out, (int out, int in, off_t_ *off, size_t n), \
		(out, in, off, n))                                          \
	{                                                                   \
		struct fd_entry *e = watched(out);                          \
		struct wr w = { .fd = out, .mode = W_WRITE };               \
		struct hc_writer hw = { wr_put, &w, NULL, NULL };           \
		ssize_t ret;                                                \
									    \
		if (!e)                                                     \
			return real_##name(out, in, off, n);                \
		if (e->proto != FD_PROTO_NONE && !e->tls &&                 \
		    hc_before_sendfile(e, &hw) < 0)                         \
			return -1;                                          \
		ret = real_##name(out, in, off, n);                         \
		KEEP_ERRNO(after_sendfile(e, ret, errno));                  \
		return ret;                                                 \
	}

SENDFILE_HOOK(sendfile, off_t)
SENDFILE_HOOK(sendfile64, off64_t)

/* The read hooks: the bytes read, seen after the real call. */
#define READ_HOOK(name, params, args, buf, flags)                   \
	IO_HOOK(ssize_t, name, fd, params, args)                    \
	{                                                           \
		struct fd_entry *e = watched(fd);                   \
		ssize_t ret = real_##name args;                     \
		struct iovec v;                                     \
									    \
		if (e) {                                            \
			v.iov_base = (buf);                         \
			v.iov_len = ret > 0 ? (size_t)ret : 0;      \
			KEEP_ERRNO(after_read(e, &v, 1, ret, errno, \
					      (flags)));            \
		}                                                   \
		return ret;                                         \
	}

READ_HOOK(read, (int fd, void *buf, size_t n), (fd, buf, n), buf, 0)
READ_HOOK(__read_chk, (int fd, void *buf, size_t n, size_t cap),
	  (fd, buf, n, cap), buf, 0)
READ_HOOK(recv, (int fd, void *buf, size_t n, int flags),
	  (fd, buf, n, flags), buf, flags)
READ_HOOK(__recv_chk, (int fd, void *buf, size_t n, size_t cap, int flags),
	  (fd, buf, n, cap, flags), buf, flags)
READ_HOOK(recvfrom, (int fd, void *buf, size_t n, int flags,
		     struct sockaddr *addr, socklen_t *alen),
	  (fd, buf, n, flags, addr, alen), buf, flags)
READ_HOOK(__recvfrom_chk, (int fd, void *buf, size_t n, size_t cap,
			   int flags, struct sockaddr *addr, socklen_t *alen),
	  (fd, buf, n, cap, flags, addr, alen), buf, flags)

IO_HOOK(ssize_t, readv, fd, (int fd, const struct iovec *iov, int n),
	(fd, iov, n))
{
	struct fd_entry *e = watched(fd);
	ssize_t ret = real_readv(fd, iov, n);

	if (e)
		KEEP_ERRNO(after_read(e, iov, n, ret, errno, 0));
	return ret;
}

IO_HOOK(ssize_t, recvmsg, fd, (int fd, struct msghdr *msg, int flags),
	(fd, msg, flags))
{
	struct fd_entry *e = watched(fd);
	ssize_t ret = real_recvmsg(fd, msg, flags);

	if (e && msg)
		KEEP_ERRNO(after_read(e, msg->msg_iov, (int)msg->msg_iovlen,
				      ret, errno, flags));
	return ret;
}

IO_HOOK(ssize_t, write, fd, (int fd, const void *buf, size_t n),
	(fd, buf, n))
{
	struct fd_entry *e = watched(fd);
	struct iovec v = { (void *)buf, n };
	struct wr w = { .fd = fd, .mode = W_WRITE };

	if (!e || !buf)
		return real_write(fd, buf, n);
	return do_write(e, &v, 1, &w);
}

IO_HOOK(ssize_t, writev, fd, (int fd, const struct iovec *iov, int n),
	(fd, iov, n))
{
	struct fd_entry *e = watched(fd);
	struct wr w = { .fd = fd, .mode = W_WRITE };

	if (!e || !iov || n <= 0 || n > 1024)
		return real_writev(fd, iov, n);
	return do_write(e, iov, n, &w);
}

IO_HOOK(ssize_t, send, fd, (int fd, const void *buf, size_t n, int flags),
	(fd, buf, n, flags))
{
	struct fd_entry *e = watched(fd);
	struct iovec v = { (void *)buf, n };
	struct wr w = { .fd = fd, .mode = W_SEND, .flags = flags };

	if (!e || !buf)
		return real_send(fd, buf, n, flags);
	return do_write(e, &v, 1, &w);
}

IO_HOOK(ssize_t, sendto, fd, (int fd, const void *buf, size_t n, int flags,
				const struct sockaddr *addr, socklen_t alen),
	(fd, buf, n, flags, addr, alen))
{
	struct fd_entry *e = watched(fd);
	struct iovec v = { (void *)buf, n };
	struct wr w = { .fd = fd, .mode = W_SEND, .flags = flags,
			.addr = addr, .alen = alen };

	if (!e || !buf)
		return real_sendto(fd, buf, n, flags, addr, alen);
	if (!addr) {
		w.addr = NULL;
		w.alen = 0;
	}
	return do_write(e, &v, 1, &w);
}

IO_HOOK(ssize_t, sendmsg, fd,
	(int fd, const struct msghdr *msg, int flags), (fd, msg, flags))
{
	struct fd_entry *e = watched(fd);
	struct wr w = { .fd = fd, .mode = W_SEND, .flags = flags, .msg = msg };

	if (!e || !msg || !msg->msg_iov || msg->msg_iovlen > 1024)
		return real_sendmsg(fd, msg, flags);
	w.addr = msg->msg_name;
	w.alen = msg->msg_namelen;
	return do_write(e, msg->msg_iov, (int)msg->msg_iovlen, &w);
}
