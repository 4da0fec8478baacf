/*
 * Descriptors that belong to otelshim's own threads: marked so the hooks
 * leave them alone, and numbered above the program's soft RLIMIT_NOFILE
 * where the hard limit leaves room (see ownfd.c).
 */
#ifndef OTELSHIM_OWNFD_H
#define OTELSHIM_OWNFD_H

/* Takes fd as ours: returns the descriptor to use from now on (fd itself,
 * or a duplicate above the soft limit, fd then being closed). */
int ownfd_adopt(int fd);

/* fd is about to be closed: forget that it was ours. */
void ownfd_release(int fd);

/* Both, as the exporter host's own_fd callback. */
int ownfd_host(int fd, int owned);

#endif
