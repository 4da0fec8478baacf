/*
 * The library's own I/O: raw system calls, never the C library's wrappers.
 * libotelshim.so defines write, close and friends itself (the hooks), so a
 * plain write() from inside the library would run through its own hooks;
 * these go straight to the kernel, need nothing resolved first, and are
 * async-signal-safe.  Every file of ours that does I/O uses them.
 */
#ifndef OTELSHIM_SYSIO_H
#define OTELSHIM_SYSIO_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Writes all of buf, retrying after EINTR and short writes.  Returns 0 or
 * -errno (-EIO when the kernel accepted nothing). */
static inline int sys_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		long n = syscall(SYS_write, fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* open(2) relative to the working directory: a descriptor or -errno. */
static inline int sys_open(const char *path, int flags, mode_t mode)
{
	long fd = syscall(SYS_openat, AT_FDCWD, path, flags, mode);

	return fd < 0 ? -errno : (int)fd;
}

static inline void sys_close(int fd)
{
	syscall(SYS_close, fd);
}

#endif
