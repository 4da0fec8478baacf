/*
 * Our own uses of the dynamic loader — dlopen(), dl_iterate_phdr(), and
 * unwinding through libunwind, which calls dl_iterate_phdr() — are kept
 * out of the way of fork().  glibc resets its main loader lock in a forked
 * child, but not the one dl_iterate_phdr() holds while it iterates (and
 * dlopen() takes for a moment): a child forked while one of our threads was
 * in there inherits that lock taken, and its first dlopen() (the exporter
 * module, libunwind), and with it the child's exit, waits forever.
 *
 * Each binary links its own copy of this code; libotelshim.so installs the
 * guard (shim/forkguard.h), the exporter module is handed the same guard by
 * its host (exporter_host.loader_enter).  With no guard installed (unit
 * tests) both calls do nothing.
 */
#ifndef OTELSHIM_LOADER_H
#define OTELSHIM_LOADER_H

/*
 * On a variable that every process start or exit touches: it goes to
 * .data, into the page the dynamic loader writes anyway while it loads us
 * (the real_* pointers, the start of .bss it clears), instead of a .bss
 * page of its own between the multi-megabyte tables.  Each page a start
 * touches is a page fault, about 10 us on a paravirtual guest, and
 * preloaded we start with every process.  All of .data has to stay
 * within that one page: `make startup-layout` checks.
 */
#define STARTUP_DATA __attribute__((section(".data.startup")))

/*
 * On a function that every process start or exit runs: it goes to
 * .text.startup, which the linker puts at the start of .text with the
 * constructor, so that a start faults in one 64 KiB window of our code
 * (the kernel maps code around a fault window by window) instead of one
 * for each file it calls into.  The configuration's files are there
 * whole (STARTUP_OBJS in the Makefile).  `make startup-layout` checks
 * that the start path stays in one window.
 */
#define STARTUP_CODE __attribute__((section(".text.startup")))

/*
 * pthread_atfork() for this library: what glibc's static pthread_atfork
 * stub does, without the stub, which the linker would put at the end of
 * our code, a window of its own for every start.
 */
int loader_atfork(void (*prepare)(void), void (*parent)(void),
		  void (*child)(void));

/* enter(wait) returns 1 when the loader may be used until leave(), 0 when
 * a fork is under way and wait was 0 (a signal handler must not block). */
void loader_set_guard(int (*enter)(int wait), void (*leave)(void));

/* Around every use of the loader by our code; 1 = go ahead (see above). */
int loader_enter(int wait);
void loader_leave(void);

#endif
