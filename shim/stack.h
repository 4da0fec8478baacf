/*
 * Call-site stacks: the return addresses of the calling thread, taken with
 * libunwind when a slow client span ends, so that its record says which
 * code of the program issued the call.  Only raw addresses are captured
 * here, on the application thread; the exporter thread symbolises them.
 * libunwind is dlopen()ed on the exporter thread, never linked: until it
 * is there (or when it is missing) spans simply carry no stack.
 */
#ifndef OTELSHIM_STACK_H
#define OTELSHIM_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "pipeline/span.h"

/*
 * Reads the threshold from cfg, loads libunwind, warms it up and publishes
 * it.  Call once on the exporter thread when it starts (it may take the
 * dynamic loader's lock and allocate).  Idempotent; cfg must outlive the
 * process.
 */
void stack_start(const struct config *cfg);

/*
 * For the span sources, right before ctx_end(s): sets s->end_ns to now if
 * it is not set, and if the span lasted at least the threshold, captures
 * the calling thread's stack into s->stack (the shim's own frames removed,
 * innermost first) and adds the attribute code.stacktrace.  Under the
 * threshold it costs a clock read and a compare.  Async-signal-safe as far
 * as libunwind's local unwinder is.
 */
void stack_capture_if_slow(struct span *s);

/*
 * Captures the calling thread's stack into (pcs, cap), without the shim's
 * frames.  Returns how many addresses were stored: 0 while libunwind is
 * not loaded, or in the moment another thread forks (the unwinder walks
 * the loader's list of objects, which fork() must find unused; waiting
 * for the fork is no choice in a signal handler).
 */
size_t stack_capture(uintptr_t *pcs, size_t cap);

/* 1 when addr lies inside libotelshim.so (known once stack_start ran). */
int stack_is_own(uintptr_t addr);

#endif
