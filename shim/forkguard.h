/*
 * The fork side of the loader guard (common/loader.h): our uses of the
 * dynamic loader hold a shared lock, fork() takes it exclusively.
 */
#ifndef OTELSHIM_FORKGUARD_H
#define OTELSHIM_FORKGUARD_H

/*
 * Installs the guard for this binary's common code and registers its fork
 * handlers.  Call before registering any fork handler that waits for a
 * thread which may be using the loader (batch_before_fork waits for the
 * exporter thread to finish loading its module): prepare handlers run in
 * the reverse order of registration, so that one runs first and ours
 * only once the loading thread is through.
 */
void forkguard_install(void);

int forkguard_enter(int wait);
void forkguard_leave(void);

#endif
