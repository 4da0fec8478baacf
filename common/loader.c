/*
 * The loader guard's indirection (see loader.h).
 */
#include <stddef.h>

#include "loader.h"

static int (*guard_enter)(int wait) STARTUP_DATA;
static void (*guard_leave)(void) STARTUP_DATA;

/* glibc's: registers fork handlers on behalf of the object whose
 * __dso_handle is passed (they go when it is unloaded). */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void),
			     void (*child)(void), void *dso_handle);
extern void *__dso_handle;

STARTUP_CODE void loader_set_guard(int (*enter)(int wait),
				   void (*leave)(void))
{
	guard_enter = enter;
	guard_leave = leave;
}

STARTUP_CODE int loader_atfork(void (*prepare)(void), void (*parent)(void),
			       void (*child)(void))
{
	return __register_atfork(prepare, parent, child, &__dso_handle);
}

int loader_enter(int wait)
{
	return guard_enter ? guard_enter(wait) : 1;
}

void loader_leave(void)
{
	if (guard_leave)
		guard_leave();
}
