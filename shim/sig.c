/*
 * sigaction and signal hooks, for one purpose: when the crash handler
 * stands in for a fatal signal's default action and the program installs
 * its own action later, the program's action is recorded and chained
 * (crash.c) instead of replacing ours, and the program is shown its own
 * action whenever it asks.  Every other signal, and every call while the
 * crash handler is not installed, goes straight to the C library.
 *
 * glibc's signal() does not go through sigaction()'s dynamic symbol, so
 * both are hooked.
 */
#include <string.h>

#include "crash.h"
#include "preload.h"

HOOK_API int sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old)
{
	if (preload_enter() && crash_chain_action(sig, act, old))
		return 0;
	return real_sigaction(sig, act, old);
}

HOOK_API sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act, old;

	if (!preload_enter())
		return real_signal(sig, handler);
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	/* glibc's signal(): BSD semantics. */
	act.sa_flags = SA_RESTART;
	sigemptyset(&act.sa_mask);
	if (handler == SIG_ERR || !crash_chain_action(sig, &act, &old))
		return real_signal(sig, handler);
	return old.sa_handler;
}
