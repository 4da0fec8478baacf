/*
 * The loader guard's indirection (see loader.h).
 */
#include <stddef.h>

#include "loader.h"

static int (*guard_enter)(int wait) STARTUP_DATA;
static void (*guard_leave)(void) STARTUP_DATA;

void loader_set_guard(int (*enter)(int wait), void (*leave)(void))
{
	guard_enter = enter;
	guard_leave = leave;
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
