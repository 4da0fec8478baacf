/*
 * The descriptors otelshim's own threads hold: the backend connection,
 * libcurl's wake-up socket pair, libunwind's validation pipe, the console
 * file.  Two promises keep them out of the program's way:
 *
 *  - The hooks never trace them and the program cannot close them by
 *    accident (a close loop over every number): they are marked FD_OWN.
 *
 *  - They do not bring EMFILE any sooner.  RLIMIT_NOFILE bounds descriptor
 *    *numbers*, not how many are open, so a descriptor numbered at or above
 *    the soft limit costs the program none of the numbers it may use.  The
 *    kernel only hands out such numbers below the soft limit, so the limit
 *    is raised for the length of one fcntl(F_DUPFD) and put back.  Where
 *    the soft limit already equals the hard one there is no number above
 *    it, and the descriptor stays where it is (the README says so); past
 *    the descriptor table's 65536 entries it stays too: a program with
 *    that much room is not counting a few descriptors.
 *
 * The pipe and socket-pair hooks exist for the descriptors libraries
 * create on our threads; on the program's threads they only call through.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdtab.h"
#include "ownfd.h"
#include "preload.h"

/* Room above the soft limit for our descriptors: a handful are ever open
 * at once (a connection, a socket pair, a pipe, a file). */
#define PARK_ROOM 16

/*
 * Raises the soft limit just enough for a descriptor above the program's
 * numbers, and puts back whatever the limit was.  prlimit() reports the
 * value it replaced, so a program thread that changes the limit meanwhile
 * keeps its change: if the limit is no longer ours when we restore it,
 * theirs goes back in.
 */
static int park(int fd)
{
	struct rlimit was, raised, seen;
	int high;

	if (prlimit(0, RLIMIT_NOFILE, NULL, &was) != 0 ||
	    was.rlim_cur == RLIM_INFINITY || was.rlim_cur >= was.rlim_max ||
	    was.rlim_cur + PARK_ROOM > FDTAB_MAX || (rlim_t)fd >= was.rlim_cur)
		return fd;
	raised = was;
	raised.rlim_cur = was.rlim_cur + PARK_ROOM;
	if (raised.rlim_cur > was.rlim_max)
		raised.rlim_cur = was.rlim_max;
	if (prlimit(0, RLIMIT_NOFILE, &raised, &was) != 0)
		return fd;
	/* CLOEXEC whatever the creator asked for: a program that execs
	 * must never hand one of ours to its child. */
	high = fcntl(fd, F_DUPFD_CLOEXEC, (int)was.rlim_cur);
	if (prlimit(0, RLIMIT_NOFILE, &was, &seen) == 0 &&
	    (seen.rlim_cur != raised.rlim_cur ||
	     seen.rlim_max != raised.rlim_max))
		prlimit(0, RLIMIT_NOFILE, &seen, NULL);
	if (high < 0 || high >= FDTAB_MAX) {
		if (high >= 0)
			real_close(high);
		return fd;
	}
	real_close(fd);
	return high;
}

int ownfd_adopt(int fd)
{
	if (fd < 0)
		return fd;
	KEEP_ERRNO(fd = park(fd); fdtab_own(fd, 1));
	return fd;
}

void ownfd_release(int fd)
{
	struct fd_entry *e = fdtab_get(fd);

	if (e && e->kind == FD_OWN)
		fdtab_forget(fd);
}

int ownfd_host(int fd, int owned)
{
	if (owned)
		return ownfd_adopt(fd);
	ownfd_release(fd);
	return fd;
}

static void adopt_pair(int fds[2])
{
	fds[0] = ownfd_adopt(fds[0]);
	fds[1] = ownfd_adopt(fds[1]);
}

HOOK_API int pipe(int fds[2])
{
	int ret;

	preload_enter();
	ret = real_pipe(fds);
	if (ret == 0 && preload_guard)
		adopt_pair(fds);
	return ret;
}

HOOK_API int pipe2(int fds[2], int flags)
{
	int ret;

	preload_enter();
	ret = real_pipe2(fds, flags);
	if (ret == 0 && preload_guard)
		adopt_pair(fds);
	return ret;
}

HOOK_API int socketpair(int domain, int type, int protocol, int fds[2])
{
	int ret;

	preload_enter();
	ret = real_socketpair(domain, type, protocol, fds);
	if (ret == 0 && preload_guard)
		adopt_pair(fds);
	return ret;
}
