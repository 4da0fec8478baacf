/*
 * The fatal-signal handler (see crash.h).  Everything it does is
 * async-signal-safe: the record writers, the lock-free ring, atomics,
 * clock_gettime, futex waits inside the batch hook, sigaction and raise.
 * It never starts the exporter thread (that would take locks the crashing
 * thread may hold), which is why it is only installed once that thread
 * runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "common/semconv.h"
#include "pipeline/batch.h"
#include "pipeline/record.h"
#include "context.h"
#include "crash.h"
#include "preload.h"
#include "stack.h"

#define NFATAL 5
static const int fatal[NFATAL] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* Frames of the handler itself and the kernel's signal trampoline that
 * sit on top of the interrupted frame. */
#define CRASH_EXTRA_FRAMES 16

static uint64_t flush_ns = (uint64_t)CRASH_FLUSH_MS * 1000000ULL;
static _Atomic int crashing;
static int installed;

/*
 * For each fatal signal our handler stands in for: whether it is
 * installed, and the action the program believes is installed.  When the
 * program sets its own action later (sigaction or signal, hooked in
 * sig.c), ours stays in place and records it here instead; the handler
 * reports, then hands the signal to that action.  So the program sees
 * exactly its own handlers, and we still see the crash.
 */
static _Atomic int standing_in[NFATAL];
static struct sigaction program_action[NFATAL];

static int fatal_index(int sig)
{
	for (int i = 0; i < NFATAL; i++)
		if (fatal[i] == sig)
			return i;
	return -1;
}

int crash_chain_action(int sig, const struct sigaction *act,
		       struct sigaction *old)
{
	int i = fatal_index(sig);

	if (i < 0 || !atomic_load(&standing_in[i]))
		return 0;
	if (old)
		*old = program_action[i];
	if (act)
		program_action[i] = *act;
	return 1;
}

size_t crash_signal_name(int sig, char *buf, size_t cap)
{
	const char *abbr = sigabbrev_np(sig);
	char tmp[16];
	size_t n = 0, len;

	if (cap == 0)
		return 0;
	memcpy(tmp, "SIG", 3);
	n = 3;
	if (abbr && strlen(abbr) < sizeof(tmp) - 3) {
		memcpy(tmp + 3, abbr, strlen(abbr));
		n += strlen(abbr);
	} else {
		char dig[12];
		unsigned v = (unsigned)sig;
		size_t d = 0;

		do {
			dig[d++] = (char)('0' + v % 10);
			v /= 10;
		} while (v && d < sizeof(dig));
		while (d)
			tmp[n++] = dig[--d];
	}
	len = n < cap - 1 ? n : cap - 1;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return len;
}

int crash_flush(uint64_t timeout_ns)
{
	return batch_flush_from_signal(timeout_ns);
}

/* The address of the instruction that was interrupted, or 0. */
static uintptr_t interrupted_pc(const void *uctx)
{
	const ucontext_t *uc = uctx;

	if (!uc)
		return 0;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__i386__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_EIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
	return 0;
#endif
}

/* Appends "0x<hex>" to buf at *n (bounded by cap). */
static void put_hex(char *buf, size_t cap, size_t *n, uintptr_t v)
{
	char dig[2 * sizeof(v)];
	size_t d = 0;

	do {
		dig[d++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	if (*n + 2 + d >= cap)
		return;
	buf[(*n)++] = '0';
	buf[(*n)++] = 'x';
	while (d)
		buf[(*n)++] = dig[--d];
}

static void put_str(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t len = strlen(s);

	if (*n + len >= cap)
		len = cap - 1 - *n;
	memcpy(buf + *n, s, len);
	*n += len;
}

/*
 * The stack of the interrupted code: captured from inside the handler,
 * then cut so that it starts at the instruction that faulted (the
 * handler's frames and the signal trampoline are not the program's).
 */
static void crash_stack(struct span *s, const void *uctx)
{
	uintptr_t raw[SPAN_STACK_MAX + CRASH_EXTRA_FRAMES];
	uintptr_t pc = interrupted_pc(uctx);
	size_t n = stack_capture(raw, sizeof(raw) / sizeof(raw[0]));
	size_t from = 0, i;

	for (i = 0; pc && i < n; i++) {
		if (raw[i] == pc) {
			from = i;
			break;
		}
	}
	s->stack_depth = 0;
	for (i = from; i < n && s->stack_depth < SPAN_STACK_MAX; i++)
		s->stack[s->stack_depth++] = raw[i];
}

/* Ends the crashing thread's active span as failed by the signal. */
static void record_crash(int sig, const siginfo_t *si, const void *uctx)
{
	struct span *s = ctx_active();
	struct batch_stats st;
	struct span_event *ev;
	const char *desc = sigdescr_np(sig);
	char name[16], msg[96];
	size_t nlen, mlen = 0;
	uint64_t now;

	if (!s)
		return;
	/* ctx_end would start the exporter thread if it is not running: not
	 * from a signal handler.  Without it nothing could be sent anyway. */
	batch_get_stats(&st);
	if (!st.thread_running)
		return;
	now = ctx_now_ns();
	nlen = crash_signal_name(sig, name, sizeof(name));
	put_str(msg, sizeof(msg), &mlen, desc ? desc : name);
	if (si && (sig == SIGSEGV || sig == SIGBUS) && si->si_code > 0) {
		put_str(msg, sizeof(msg), &mlen, " at address ");
		put_hex(msg, sizeof(msg), &mlen, (uintptr_t)si->si_addr);
	}
	msg[mlen] = '\0';

	crash_stack(s, uctx);
	/* The exception matters more than whatever event came last. */
	if (s->nevents == SPAN_MAX_EVENTS)
		s->nevents--;
	ev = rec_event(s, "exception", now);
	rec_event_attr_str(s, ev, ATTR_EXCEPTION_TYPE, name, nlen);
	rec_event_attr_str(s, ev, ATTR_EXCEPTION_MESSAGE, msg, mlen);
	if (ev && s->stack_depth && ev->nattrs < SPAN_MAX_EVENT_ATTRS) {
		struct span_attr *a = &ev->attrs[ev->nattrs++];

		a->key = ATTR_EXCEPTION_STACKTRACE;
		a->type = SPAN_ATTR_STACK;
	}
	rec_attr_str(s, ATTR_ERROR_TYPE, name, nlen);
	rec_status(s, SPAN_STATUS_ERROR, msg, mlen);
	s->end_ns = now;
	ctx_end(s);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ULL),
		.tv_nsec = (long)(ns % 1000000000ULL),
	};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Gives the signal its default action back and raises it again.  The
 * signal stays blocked until the handler returns, so it is delivered the
 * moment the interrupted code would resume: the process dies of it with
 * a core dump, exactly as it would have without us.
 */
static void die_by(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	real_sigaction(sig, &dfl, NULL);
	raise(sig);
}

/*
 * Installed only over a default action, so what follows our work is that
 * default action.  A program that installed its own handler after us and
 * calls the previous one (ours) from it gets the same: we are standing in
 * for SIG_DFL.  Only the first crashing thread reports; another one that
 * crashes meanwhile waits for it rather than killing the process early.
 */
/*
 * The program installed its own action after us: report (its handler may
 * recover, so the latch is released again), then run that action as the
 * kernel would have.  SIG_IGN ignores a signal sent by kill/raise; a fault
 * cannot be ignored, so the kernel's rule applies: the default action.
 */
static void hand_over(int i, int sig, siginfo_t *si, void *uctx)
{
	struct sigaction pa = program_action[i];
	sigset_t old;

	if (pa.sa_handler == SIG_IGN && si && si->si_code <= 0)
		return;
	if (atomic_exchange(&crashing, 1) == 0) {
		record_crash(sig, si, uctx);
		crash_flush(flush_ns);
	}
	atomic_store(&crashing, 0);
	if (pa.sa_handler == SIG_DFL || pa.sa_handler == SIG_IGN) {
		die_by(sig);
		return;
	}
	if (pa.sa_flags & SA_RESETHAND) {
		memset(&program_action[i], 0, sizeof(program_action[i]));
		program_action[i].sa_handler = SIG_DFL;
	}
	/* Its mask instead of ours (which blocks everything). */
	if (!(pa.sa_flags & SA_NODEFER))
		sigaddset(&pa.sa_mask, sig);
	pthread_sigmask(SIG_SETMASK, &pa.sa_mask, &old);
	if (pa.sa_flags & SA_SIGINFO)
		pa.sa_sigaction(sig, si, uctx);
	else
		pa.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	int i = fatal_index(sig);
	struct sigaction pa = i >= 0 ? program_action[i] : (struct sigaction){0};

	if (i >= 0 && ((pa.sa_flags & SA_SIGINFO) ||
		       pa.sa_handler != SIG_DFL)) {
		hand_over(i, sig, si, uctx);
		errno = saved;
		return;
	}
	if (atomic_exchange(&crashing, 1) == 0) {
		record_crash(sig, si, uctx);
		crash_flush(flush_ns);
	} else {
		sleep_ns(flush_ns + 500000000ULL);
	}
	die_by(sig);
	errno = saved;
}

void crash_install(const struct config *cfg)
{
	struct sigaction ours, cur, old;

	if (installed || !cfg->crash_handler)
		return;
	installed = 1;
	if (cfg->bsp_export_timeout_ms &&
	    cfg->bsp_export_timeout_ms < CRASH_FLUSH_MS)
		flush_ns = (uint64_t)cfg->bsp_export_timeout_ms * 1000000ULL;
	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = crash_handler;
	/* SA_ONSTACK: on the program's alternate stack if it has one (a
	 * stack overflow can then be reported too); we never set one. */
	ours.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigfillset(&ours.sa_mask);
	for (int i = 0; i < NFATAL; i++) {
		if (real_sigaction(fatal[i], NULL, &cur) != 0 ||
		    (cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)
			continue;
		program_action[i] = cur;
		atomic_store(&standing_in[i], 1);
		if (real_sigaction(fatal[i], &ours, &old) != 0) {
			atomic_store(&standing_in[i], 0);
			continue;
		}
		/* The program installed a handler in between: put it back. */
		if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
			atomic_store(&standing_in[i], 0);
			real_sigaction(fatal[i], &old, NULL);
		}
	}
}
