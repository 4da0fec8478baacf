/*
 * Call-site stacks (see stack.h).  The unwinder is libunwind's
 * unw_backtrace, found with dlopen() on the exporter thread and published
 * through one atomic pointer, so the preloaded library links libc only and
 * a process that never records a span never loads libunwind.
 */
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
/* For the types and symbol names of the warm-up step only: the library is
 * found with dlopen(), never linked. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/beside.h"
#include "common/loader.h"
#include "common/semconv.h"
#include "pipeline/record.h"
#include "context.h"
#include "log.h"
#include "stack.h"

#define UNWIND_LIB "libunwind.so.8"

/* Frames of our own (hook, span source, this file) that a capture may
 * start with before the program's frames begin. */
#define OWN_FRAMES_MAX 16

typedef int (*backtrace_fn)(void **buf, int size);
typedef int (*getcontext_fn)(unw_context_t *uc);
typedef int (*init_local_fn)(unw_cursor_t *c, unw_context_t *uc);
typedef int (*step_fn)(unw_cursor_t *c);

/* The exported name of a libunwind entry point that libunwind.h renames
 * with a macro (unw_step is _ULx86_64_step on x86-64). */
#define UNW_NAME(f) UNW_NAME_OF(f)
#define UNW_NAME_OF(f) #f

static _Atomic backtrace_fn unwind;
/* [own_lo, own_hi): libotelshim.so's mapped segments.  Written before
 * unwind is published, read after it is loaded (acquire). */
static uintptr_t own_lo, own_hi;
/* Threshold in ns; UINT64_MAX = never.  Set once, before unwind is
 * published: without libunwind there is nothing to capture anyway. */
static _Atomic uint64_t threshold_ns = UINT64_MAX;
static _Atomic int started;

/* dl_iterate_phdr callback: finds the object that holds our own code and
 * records the span of its PT_LOAD segments. */
static int find_own(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t probe = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;

	(void)size;
	for (size_t i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD)
			continue;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	if (probe < lo || probe >= hi)
		return 0;
	own_lo = lo;
	own_hi = hi;
	return 1;
}

/* Opens name from lib/ beside this library (a bundle made by make dist),
 * else wherever the dynamic loader finds it. */
static void *open_lib(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "lib/%s", name);
	return dlopen_beside(rel, name);
}

/*
 * Sets up libunwind's process-wide state (its view of this address space,
 * the loaded objects' unwind tables) with one step from this frame, so
 * that an application thread's first capture does not.  Not with
 * unw_backtrace(), which also builds that function's per-thread frame
 * cache (256 KiB and 64 page faults) for this thread, which never
 * captures: every capturing thread builds its own.
 */
static void warm_up(void *h)
{
	getcontext_fn get_context =
		(getcontext_fn)dlsym(h, UNW_NAME(unw_tdep_getcontext));
	init_local_fn init_local =
		(init_local_fn)dlsym(h, UNW_NAME(unw_init_local));
	step_fn step = (step_fn)dlsym(h, UNW_NAME(unw_step));
	unw_context_t uc;
	unw_cursor_t c;

	if (get_context && init_local && step && get_context(&uc) == 0 &&
	    init_local(&c, &uc) == 0)
		step(&c);
}

void stack_start(const struct config *cfg)
{
	backtrace_fn fn;
	void *h;

	if (atomic_exchange(&started, 1))
		return;
	if (cfg->stack_threshold_ms < 0)
		return;
	atomic_store_explicit(&threshold_ns,
			      (uint64_t)cfg->stack_threshold_ms * 1000000ULL,
			      memory_order_relaxed);
	loader_enter(1);
	dl_iterate_phdr(find_own, (void *)(uintptr_t)stack_start);
	loader_leave();
	h = open_lib(UNWIND_LIB);
	if (!h) {
		log_line(CONFIG_LOG_WARN, UNWIND_LIB " not found: spans carry "
			 "no call stacks");
		return;
	}
	fn = (backtrace_fn)dlsym(h, "unw_backtrace");
	if (!fn) {
		log_line(CONFIG_LOG_WARN, UNWIND_LIB " has no unw_backtrace: "
			 "spans carry no call stacks");
		return;
	}
	loader_enter(1);
	warm_up(h);
	loader_leave();
	atomic_store_explicit(&unwind, fn, memory_order_release);
}

int stack_is_own(uintptr_t addr)
{
	return addr >= own_lo && addr < own_hi;
}

size_t stack_capture(uintptr_t *pcs, size_t cap)
{
	backtrace_fn fn = atomic_load_explicit(&unwind, memory_order_acquire);
	void *raw[SPAN_STACK_MAX + OWN_FRAMES_MAX];
	size_t n = 0;
	int got, i = 0;

	if (!fn || cap == 0 || !loader_enter(0))
		return 0;
	got = fn(raw, (int)(sizeof(raw) / sizeof(raw[0])));
	loader_leave();
	/* Our frames sit on top; frames of ours further down (a hook that a
	 * callback re-entered) are dropped as well. */
	for (; i < got && n < cap; i++) {
		uintptr_t pc = (uintptr_t)raw[i];

		if (pc == 0 || stack_is_own(pc))
			continue;
		pcs[n++] = pc;
	}
	return n;
}

void stack_capture_if_slow(struct span *s)
{
	if (!s || ctx_stop_clock(s) < atomic_load_explicit(&threshold_ns,
						memory_order_relaxed))
		return;
	s->stack_depth = (uint8_t)stack_capture(s->stack, SPAN_STACK_MAX);
	if (s->stack_depth)
		rec_attr_stack(s, ATTR_CODE_STACKTRACE);
}
