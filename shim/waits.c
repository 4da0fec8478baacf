/*
 * Event waits: epoll_wait and its variants, and poll/ppoll/select/pselect
 * on more than one descriptor.  A thread that goes back to one serves no
 * request any more (reqtab.h): callbacks run after the wait are not the
 * previous request's.  A poll on a single descriptor is a blocking call
 * with a timeout (Python sockets with a timeout, libpq waiting for its
 * answer), not an event loop: it changes nothing.  Runs on application
 * threads; the hooks add two TLS stores and two loads to a system call.
 */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "context.h"
#include "preload.h"
#include "reqtab.h"

/* An event wait: forget the request served; the caller's call follows. */
static inline int wait_begin(int event_loop)
{
	if (!event_loop || !preload_enter())
		return 0;
	ctx_event_wait();
	return 1;
}

/* The wait returned: what runs next is a new job. */
static inline void wait_end(int began)
{
	if (began)
		reqtab_event_woke();
}

#define EVENT_WAIT(loop, call)                                          \
	do {                                                            \
		int b_ = wait_begin(loop);                              \
		__typeof__(call) r_ = call;                             \
									\
		KEEP_ERRNO(wait_end(b_));                               \
		return r_;                                              \
	} while (0)

HOOK_API int epoll_wait(int epfd, struct epoll_event *ev, int n, int ms)
{
	EVENT_WAIT(1, real_epoll_wait(epfd, ev, n, ms));
}

HOOK_API int epoll_pwait(int epfd, struct epoll_event *ev, int n, int ms,
			 const sigset_t *mask)
{
	EVENT_WAIT(1, real_epoll_pwait(epfd, ev, n, ms, mask));
}

HOOK_API int epoll_pwait2(int epfd, struct epoll_event *ev, int n,
			  const struct timespec *t, const sigset_t *mask)
{
	EVENT_WAIT(1, real_epoll_pwait2(epfd, ev, n, t, mask));
}

HOOK_API int poll(struct pollfd *fds, nfds_t n, int ms)
{
	EVENT_WAIT(n > 1, real_poll(fds, n, ms));
}

HOOK_API int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t cap)
{
	EVENT_WAIT(n > 1, real___poll_chk(fds, n, ms, cap));
}

HOOK_API int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		   const sigset_t *mask)
{
	EVENT_WAIT(n > 1, real_ppoll(fds, n, t, mask));
}

HOOK_API int __ppoll_chk(struct pollfd *fds, nfds_t n,
			 const struct timespec *t, const sigset_t *mask,
			 size_t cap)
{
	EVENT_WAIT(n > 1, real___ppoll_chk(fds, n, t, mask, cap));
}

/* select() names descriptors by bit: more than one bit set in all three
 * sets together is an event loop. */
static int several(int nfds, const fd_set *r, const fd_set *w,
		   const fd_set *x)
{
	int seen = 0;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
		    (x && FD_ISSET(fd, x)))
			if (++seen > 1)
				return 1;
	return 0;
}

HOOK_API int select(int nfds, fd_set *r, fd_set *w, fd_set *x,
		    struct timeval *t)
{
	EVENT_WAIT(several(nfds, r, w, x), real_select(nfds, r, w, x, t));
}

HOOK_API int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x,
		     const struct timespec *t, const sigset_t *mask)
{
	EVENT_WAIT(several(nfds, r, w, x),
		   real_pselect(nfds, r, w, x, t, mask));
}
