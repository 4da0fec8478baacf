/*
 * The fork side of the loader guard (common/loader.h): our uses of the
 * dynamic loader hold a shared lock, fork() takes it exclusively.
 */
#ifndef OTELSHIM_FORKGUARD_H
#define OTELSHIM_FORKGUARD_H

/* What forkguard_install offers beside the lock in its page. */
#define FORKGUARD_SPARE_BYTES 2048

/*
 * Installs the guard for this binary's common code and registers its fork
 * handlers.  Call before registering any fork handler that waits for a
 * thread which may be using the loader (batch_before_fork waits for the
 * exporter thread to finish loading its module): prepare handlers run in
 * the reverse order of registration, so that one runs first and ours
 * only once the loading thread is through.
 *
 * Returns FORKGUARD_SPARE_BYTES of zeroes in the lock's page, which fork()
 * hands the child zeroed, for other state a child must find zeroed (the
 * exporter's): one mapping and one madvise() at start instead of one
 * each.  NULL when the kernel lacks MADV_WIPEONFORK (before 4.14).
 */
void *forkguard_install(void);

int forkguard_enter(int wait);
void forkguard_leave(void);

#endif
