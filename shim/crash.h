/*
 * Fatal signals: when the program dies of SIGSEGV, SIGBUS, SIGFPE, SIGILL
 * or SIGABRT, the span active on the crashing thread ends with status
 * ERROR and an `exception` event (the signal and the stack where it
 * happened), the ring is flushed within a short bound, and the signal is
 * raised again with its default action, so the core dump and the exit
 * status stay what they would have been without the shim.
 */
#ifndef OTELSHIM_CRASH_H
#define OTELSHIM_CRASH_H

#include <signal.h>

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"

/* How long a crashing process waits for its spans to be sent. */
#define CRASH_FLUSH_MS 2000

/*
 * Installs the handler for each fatal signal the program has left at its
 * default action (a handler of the program's own, or SIG_IGN, is never
 * replaced).  Off with OTELSHIM_CRASH_HANDLER=false.  Called once on the
 * exporter thread when it starts: by then the program has normally set up
 * its own handlers, and before that there is nothing to flush.
 */
void crash_install(const struct config *cfg);

/*
 * Async-signal-safe: asks the exporter thread to send everything queued
 * and waits for it at most timeout_ns.  Returns 0 when it was sent, a
 * negative errno otherwise (-ESRCH: no exporter thread; -ENOSYS: the
 * library has no such flush).
 */
int crash_flush(uint64_t timeout_ns);

/*
 * Fills (buf, cap) with the signal's name ("SIGSEGV"); returns the length.
 * Async-signal-safe; an unknown number gives "SIG<n>".
 */
size_t crash_signal_name(int sig, char *buf, size_t cap);

/*
 * For the sigaction/signal hooks: when our handler stands in for sig,
 * records act as the program's action (and returns the previous one in
 * old) without touching the real one, and returns 1; else 0 and the
 * caller does the real call.
 */
int crash_chain_action(int sig, const struct sigaction *act,
		       struct sigaction *old);

#endif
