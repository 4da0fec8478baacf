/*
 * What every hook needs from the library core: the real functions (libc's
 * generated from hooks.def, libpq's and sqlite3's from pq.def and
 * sqlite.def), whether tracing is on, and the per-thread guard that keeps
 * our own threads and our own calls out of the hooks.
 */
#ifndef OTELSHIM_PRELOAD_H
#define OTELSHIM_PRELOAD_H

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#include "common/loader.h"
#include "pipeline/config.h"

#define HOOK(ret, name, params, args) extern ret (*real_##name) params;
#include "hooks.def"
#undef HOOK

/* Marks an interposed function: exported (the version script names it too),
 * everything else in the library stays hidden. */
#define HOOK_API __attribute__((visibility("default")))

#define PRELOAD_TLS __attribute__((tls_model("initial-exec"))) __thread

/* Runs stmt with errno kept: what a hook does after the real call must
 * never change the errno the program sees. */
#define KEEP_ERRNO(stmt) do { int e_ = errno; stmt; errno = e_; } while (0)

/* Non-zero on threads that belong to otelshim (the exporter thread). */
extern PRELOAD_TLS int preload_guard;

/* 1 once the library is initialised and tracing is on; never changes after
 * that except in an inert process, where it stays 0. */
extern int preload_tracing;

/* PRELOAD_INIT_DONE once the library is initialised (preload_enter()). */
enum { PRELOAD_INIT_NONE, PRELOAD_INIT_RUNNING, PRELOAD_INIT_DONE };
extern _Atomic int preload_init_state;

/* preload_enter() for a library not initialised yet. */
int preload_enter_first(void);

/*
 * Makes sure the real functions are resolved and the library initialised
 * (a hook can run before our constructor, from another library's), then
 * says whether this call should be traced: 1 if tracing is on and this is
 * not one of our own threads.  Inline, and after the first call no more
 * than a load and two tests: every hook that may start a span asks.
 */
static inline int preload_enter(void)
{
	if (__builtin_expect(atomic_load_explicit(&preload_init_state,
						  memory_order_acquire) !=
			     PRELOAD_INIT_DONE, 0))
		return preload_enter_first();
	return preload_tracing && !preload_guard;
}

const struct config *preload_config(void);

/*
 * 1 in a child that shares our memory without being a fork() of ours: a
 * vfork() or posix_spawn() child between its start and its exec.  Hooks
 * that would change shared state (the descriptor table, connection state)
 * must pass straight through there: the state is the parent's.  Costs a
 * getpid system call, so only for calls that are system calls of their
 * own and rare (close, dup2).
 */
int preload_in_shared_child(void);

/*
 * The next definition of a library function we interpose (libpq, sqlite3):
 * dlsym(RTLD_NEXT).  NULL while the library is not loaded; callers must not
 * cache a NULL, since the program may dlopen() the library later.  Caching
 * a found pointer is fine: libraries we hook are never unloaded under us
 * while the program still calls into them.
 */
void *preload_next(const char *name);

/* preload_next, then the loaded objects whose file name starts with
 * lib_prefix ("libpq"), for libraries loaded with local scope. */
void *preload_next_in(const char *name, const char *lib_prefix);

/*
 * The libraries hooked besides libc each have a table like hooks.def
 * (pq.def, sqlite.def) with two kinds of rows:
 *
 *   HOOK(return type, name, (parameters), (argument names))
 *       a function we interpose; the version script exports exactly the
 *       HOOK rows of every table, hooks.def's included;
 *   CALL(return type, name, (parameters), (argument names))
 *       a function of the library we only call.
 *
 * Their functions are optional: LIB_NEXT turns a row into next_<name>(),
 * the library's definition, found through preload_next_in() on first use
 * and kept once found, or NULL while the library is not loaded (looked up
 * again on the next call: the program may dlopen() it later).  One file
 * of the module defines the slots with LIB_SLOT.
 */
void *preload_lib_resolve(void *_Atomic *slot, const char *name,
			  const char *lib_prefix);

static inline void *preload_lib_fn(void *_Atomic *slot, const char *name,
				   const char *lib_prefix)
{
	void *p = atomic_load_explicit(slot, memory_order_relaxed);

	if (__builtin_expect(!p, 0))
		p = preload_lib_resolve(slot, name, lib_prefix);
	return p;
}

#define LIB_NEXT(lib_prefix, ret, name, params)                          \
	extern void *_Atomic lib_slot_##name;                            \
	static inline ret (*next_##name(void)) params                    \
	{                                                                \
		return (ret (*) params)preload_lib_fn(&lib_slot_##name,  \
						      #name, lib_prefix); \
	}

#define LIB_SLOT(name) void *_Atomic lib_slot_##name;

/* A row of a library's table in the one file that holds its hooks: the
 * next_<name>() and slot, and for a HOOK row the hook's declaration, so
 * that a hook whose definition drifts from its row does not compile. */
#define LIB_CALL_ROW(lib_prefix, ret, name, params)                      \
	LIB_NEXT(lib_prefix, ret, name, params)                           \
	LIB_SLOT(name)
#define LIB_HOOK_ROW(lib_prefix, ret, name, params)                      \
	LIB_CALL_ROW(lib_prefix, ret, name, params)                       \
	HOOK_API ret name params;

/* The process's argv, as the dynamic loader gave it to constructors. */
char *const *preload_argv(void);

#endif
