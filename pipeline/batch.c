/*
 * The batch loop (see batch.h).  Application threads only push to the ring
 * and, once per full batch, wake the exporter thread with a futex: no lock
 * is ever shared with them.  The exporter thread blocks every signal, marks
 * itself as ours so the hooks ignore its calls, and loads the exporter
 * module (libcurl, protobuf-c) only now, so that a process that records no
 * span never pays for them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/beside.h"
#include "common/loader.h"
#include "batch.h"
#include "pace.h"
#include "ring.h"
#include "status.h"

static struct batch_host host STARTUP_DATA;
static const struct exporter_ops *ops;  /* the module stays loaded */
/* This image spooled spans before an exec: every later exec (execvp
 * tries one path after another) tells the new image to deliver. */
static _Atomic int exec_spooled STARTUP_DATA;
/* Set the first time this image, or the one it was forked from, starts an
 * exporter; its exit flush is registered then.  With the start-up data:
 * every exit reads it (batch_shutdown), and so a process that never
 * started one does not touch the exporter's state page, which would
 * cost it a fault. */
static _Atomic int ever_started STARTUP_DATA;

/*
 * What belongs to this process's exporter: the ring, the thread's words,
 * the counters, the module's handle.  It lives in a page of its own that
 * fork() hands the child zeroed (MADV_WIPEONFORK): zero is "no ring, no
 * thread, nothing counted", so a child starts clean without our fork
 * handler touching a byte of it, and the parent, whose page fork() then
 * leaves writable, takes no copy-on-write fault when it next records a
 * span or releases load_lock.  On a paravirtual guest each such fault
 * costs about 10 us.  (A kernel without the advice, before 4.14, copies
 * the page: batch_after_fork_child then clears it.)
 */
struct batch_state {
	struct ring *_Atomic ring;
	_Atomic int started;             /* the thread was created */
	_Atomic uint32_t wake_word;      /* bumped to wake the thread */
	_Atomic uint32_t done_word;      /* 1 once the thread has stopped */
	_Atomic int stop_requested;
	_Atomic uint32_t flush_req;      /* bumped by a crashing thread */
	_Atomic uint32_t flush_done;     /* the last request served */
	_Atomic uint64_t stop_deadline;  /* CLOCK_MONOTONIC ns, 0 = none */
	_Atomic uint64_t flush_deadline; /* of the crash flush asked for */
	_Atomic uint32_t spool_req;      /* bumped by a thread about to exec */
	_Atomic uint32_t spool_done;     /* the last request served */
	/* Raised at exit and before an exec: the export under way makes no
	 * further attempt (exporter_host.abort_word). */
	_Atomic uint32_t abort_word;
	_Atomic size_t pending_n;        /* `pending`, for other threads */
	/* The image before an exec left spans in the spool: 1 asked, 0
	 * done. */
	_Atomic int deliver_req;
	/*
	 * Spans recorded are counted where they go (the ring's pushed and
	 * dropped counts, and these two), not on their way in: a span costs
	 * its thread no write to a line that every thread reads.
	 */
	_Atomic uint64_t dropped_early;  /* no record free: never queued */
	_Atomic uint64_t after_shutdown; /* ended after batch_shutdown */
	_Atomic int shut_down;
	_Atomic int start_failed;        /* the ring could not be created */
	struct pace pace;                /* the thread's scheduling policy */
	struct exporter_counters counters;
	void *exporter;
	/*
	 * Spans at the front of the batch buffer that the exporter could
	 * not send for a passing reason (EXPORTER_RETRY_LATER): offered
	 * again before any new ones, so an outage the ring can hold loses
	 * nothing.  Exporter thread only (pending_n mirrors it for the exec
	 * hook).
	 */
	size_t pending;
	/* The status file (exporter thread only): what it says, when it
	 * was written, and whether counts have moved since. */
	struct status_report last_report;
	uint64_t last_loss_ns;
	uint64_t status_written_ns;
	enum status_health status_health_written;
	int status_stale;
	/* The queue-full warning (warn_dropped()): the spans dropped as it
	 * last counted them, and when.  Atomic: the exit path may warn
	 * while an exporter thread that outlived its exit budget does. */
	_Atomic uint64_t drops_warned;
	_Atomic uint64_t drops_warned_ns;
	/*
	 * Held by the exporter thread while it loads and creates the
	 * exporter, and by a forking thread around fork(): a child forked
	 * in the middle of a dlopen() inherits the dynamic loader half-way
	 * through and cannot load anything (glibc may even abort it).
	 * Loading happens once per process, so fork() waits a few
	 * milliseconds at most, once.  All zeroes is glibc's unlocked
	 * default mutex, which is what a child finds here.
	 */
	pthread_mutex_t load_lock;
};

/* Until batch_init has mapped the page, or when it could not: the same
 * state where fork() copies it (batch_after_fork_child clears it). */
static struct batch_state fallback_state;
static struct batch_state *bs = &fallback_state;
/* fork() wipes *bs (MADV_WIPEONFORK took). */
static int bs_wiped STARTUP_DATA;
/* Records of the exporter's buffer whose pages pop() made resident. */
static size_t buffer_ready;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleeps while *w == val, at most timeout_ns (0 = no limit). */
static void futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ULL),
		.tv_nsec = (long)(timeout_ns % 1000000000ULL),
	};

	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val,
		timeout_ns ? &ts : NULL, NULL, 0);
}

/* Asks the export under way to stop trying (exit, exec, a
 * ring about to spill). */
static void raise_abort(void)
{
	atomic_store(&bs->abort_word, 1);
	futex_wake(&bs->abort_word);
}

static void wake_exporter(void)
{
	atomic_fetch_add_explicit(&bs->wake_word, 1, memory_order_release);
	futex_wake(&bs->wake_word);
}

_Static_assert(sizeof(struct batch_state) <= BATCH_STATE_BYTES,
	       "the state fits what the host offers");

STARTUP_CODE void batch_init(const struct batch_host *h)
{
	void *page = h->wiped;

	host = *h;
	if (bs != &fallback_state)
		return;
	if (page) {
		bs_wiped = 1;
	} else {
		page = mmap(NULL, sizeof(*bs), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED)
			return;
		bs_wiped = madvise(page, sizeof(*bs), MADV_WIPEONFORK) == 0;
	}
	/* The page is fresh zeroes: load_lock is glibc's default mutex as it
	 * is (see the field).  Writing it here would give every process its
	 * own copy of the page at start, one fault, traced or not. */
	bs = page;
}

static void host_log(enum config_log_level lvl, const char *msg);
static void at_exit_flush(void);
static uint64_t exit_budget_ns(const struct config *cfg);

static void host_log(enum config_log_level lvl, const char *msg)
{
	if (host.log)
		host.log(lvl, msg);
}

/*
 * Loads otelshim-exporter.so from the directory this library was loaded
 * from.  Returns its ops, or NULL (logged once) when it cannot be loaded
 * or was built against other headers (exporter_abi_mismatch): calling
 * into a module whose structs differ from ours would corrupt both.
 */
static const struct exporter_ops *load_module(void)
{
	const struct exporter_ops *(*entry)(void);
	const struct exporter_ops *mod;
	const char *what;
	uint32_t theirs, ours;
	char line[200];
	void *h = dlopen_beside(EXPORTER_MODULE_NAME, NULL);

	if (!h) {
		host_log(CONFIG_LOG_ERROR, dlerror());
		/* Asked again, the loader frees the message now instead of
		 * at this thread's exit, which a process may not wait for
		 * (a leak checker at exit would report it). */
		dlerror();
		return NULL;
	}
	entry = (const struct exporter_ops *(*)(void))dlsym(h, EXPORTER_ENTRY);
	mod = entry ? entry() : NULL;
	if (!mod) {
		host_log(CONFIG_LOG_ERROR, "exporter module has no "
			 EXPORTER_ENTRY "; spans are dropped");
		return NULL;
	}
	what = exporter_abi_mismatch(&mod->abi, &theirs, &ours);
	if (what) {
		snprintf(line, sizeof(line), "exporter module does not match "
			 "this library (%s: %u there, %u here); spans are "
			 "dropped", what, theirs, ours);
		host_log(CONFIG_LOG_ERROR, line);
		return NULL;
	}
	return mod;
}

static void set_pending(size_t n)
{
	bs->pending = n;
	atomic_store_explicit(&bs->pending_n, n, memory_order_relaxed);
}

/* How a drain treats what it cannot send. */
enum drain_mode {
	DRAIN_NORMAL,   /* what the backend defers stays pending */
	DRAIN_FINAL,    /* exit, fatal signal: one attempt, then the spool */
	/* Before an exec: to the spool; what it cannot take stays pending
	 * (the exec may fail and the program go on). */
	DRAIN_SPOOL,
};

/*
 * Exports buf[0..n) with the module's flags.  Returns the result; the
 * spans stay pending (pending != 0 afterwards) when they were deferred
 * and `last_chance` is 0.  At the last chance, spans neither sent, nor
 * spooled, nor counted by the module are counted lost here.
 */
static enum exporter_result export_batch(struct span *buf, size_t n,
					 uint64_t deadline, unsigned flags,
					 int last_chance)
{
	enum exporter_result res = EXPORTER_FAILED;

	if (bs->exporter)
		res = ops->export_spans(bs->exporter, buf, n, deadline, flags);
	if (res == EXPORTER_RETRY_LATER && !last_chance) {
		set_pending(n);
		return res;
	}
	if (res == EXPORTER_RETRY_LATER || (res == EXPORTER_FAILED &&
					    !bs->exporter))
		__atomic_fetch_add(&bs->counters.spans_failed, n,
				   __ATOMIC_RELAXED);
	set_pending(0);
	return res;
}

/*
 * The exporter thread's copy of up to n records, mapped apart and left out
 * of a forked child, as the ring is (ring.c): the child starts a thread
 * and a buffer of its own, so fork() need not copy this one's page tables.
 */
static struct span *batch_buffer(size_t n)
{
	size_t len = n * sizeof(struct span);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (mem == MAP_FAILED)
		return NULL;
	madvise(mem, len, MADV_DONTFORK);
	buffer_ready = 0;
	return mem;
}

/*
 * Pops up to max records into buf.  The buffer's pages that this pop may
 * fill for the first time are made resident beforehand, in one call that
 * costs less than a page fault each (the first full batch would take a
 * few hundred while the queue fills behind it); pages no pop reaches stay
 * unmapped.  The ring's pages ahead of the producers likewise, after.
 */
static size_t pop(struct ring *r, struct span *buf, size_t max)
{
	size_t want = ring_count(r) < max ? ring_count(r) : max;
	size_t n;

	if (want > buffer_ready) {
		char *from = (char *)(buf + buffer_ready);
		char *to = (char *)(buf + want);

		from = (char *)((uintptr_t)from & ~(uintptr_t)4095);
		if (madvise(from, (size_t)(to - from),
			    MADV_POPULATE_WRITE) != 0)
			want = max;     /* not supported: faults it is */
		buffer_ready = want;
	}
	n = ring_pop(r, buf, max);
	ring_populate_ahead(r);
	return n;
}

/*
 * Exports the pending spans, then batches from the ring while it holds
 * at least `min` spans.  DRAIN_NORMAL stops early when the backend asks
 * to wait or at the deadline, DRAIN_SPOOL when the spool takes nothing.
 * DRAIN_FINAL makes one network attempt at most per batch and none once
 * one failed or the deadline passed: the rest goes to the spool, so it
 * always empties the ring.
 */
static void drain(struct ring *r, struct span *buf, size_t batch_max,
		  size_t min, uint64_t deadline, enum drain_mode mode)
{
	const struct config *cfg = host.cfg;
	unsigned flags = mode == DRAIN_FINAL ? EXPORTER_FINAL :
			 mode == DRAIN_SPOOL ? EXPORTER_TO_SPOOL : 0;

	for (;;) {
		enum exporter_result res;
		uint64_t dl = deadline;
		size_t n = bs->pending;

		if (!n) {
			if (ring_count(r) < min || ring_count(r) == 0)
				break;
			n = pop(r, buf, batch_max);
			if (n == 0)
				break;
		}
		if (!dl)
			dl = cfg->bsp_export_timeout_ms ?
			     mono_ns() + cfg->bsp_export_timeout_ms *
			     1000000ULL : UINT64_MAX;
		if (flags == EXPORTER_FINAL && mono_ns() >= dl)
			flags = EXPORTER_TO_SPOOL;
		res = export_batch(buf, n, dl, flags, mode == DRAIN_FINAL);
		if (bs->pending)
			break;
		if (res == EXPORTER_SPOOLED && flags == EXPORTER_FINAL)
			flags = EXPORTER_TO_SPOOL;      /* one attempt only */
		if (mode == DRAIN_NORMAL && deadline && mono_ns() >= deadline)
			break;
	}
}

/*
 * The backend is down (a batch pending) and the ring is filling: rather
 * than let it drop spans, the pending batch and the oldest queued ones
 * go to the spool until the ring is half empty.  Returns 0, or -1 when
 * the spool took nothing (off, refused): then spans wait as before.
 */
static int spill(struct ring *r, struct span *buf, size_t batch_max)
{
	size_t low = host.cfg->bsp_max_queue_size / 2;

	export_batch(buf, bs->pending, 0, EXPORTER_TO_SPOOL, 0);
	if (bs->pending)
		return -1;
	while (ring_count(r) > low) {
		size_t n = pop(r, buf, batch_max);

		if (n == 0)
			break;
		export_batch(buf, n, 0, EXPORTER_TO_SPOOL, 0);
		if (bs->pending)
			break;
	}
	return 0;
}

/* Where a ring with a batch pending spills to the spool: three quarters
 * full, leaving a quarter for the spans that arrive meanwhile. */
static size_t spill_mark_of(const struct config *cfg)
{
	return cfg->bsp_max_queue_size - cfg->bsp_max_queue_size / 4;
}

/* Spans that reached the ring's door: pushed, dropped by a full ring, or
 * turned away after shutdown. */
static uint64_t submitted(struct ring *q)
{
	return (q ? ring_pushed(q) + ring_dropped(q) : 0) +
	       atomic_load_explicit(&bs->after_shutdown, memory_order_relaxed);
}

/* Spans counted "dropped (queue full)": turned away by a full ring, or
 * finding no record free (never queued). */
static uint64_t dropped_queue_full(struct ring *q)
{
	return atomic_load(&bs->dropped_early) + (q ? ring_dropped(q) : 0);
}

static void fill_report(struct status_report *r)
{
	struct ring *q = atomic_load(&bs->ring);

	memset(r, 0, sizeof(*r));
	r->pid = getpid();
	r->recorded = submitted(q) + atomic_load(&bs->dropped_early);
	r->dropped_queue = dropped_queue_full(q);
	r->queued = q ? ring_count(q) : 0;
	/* Written by the module through the host's counters. */
#define COUNTER(field) __atomic_load_n(&bs->counters.field, __ATOMIC_RELAXED)
	r->exported = COUNTER(spans_exported);
	r->dropped_export = COUNTER(spans_failed);
	r->rejected = COUNTER(spans_rejected);
	r->batches_retried = COUNTER(batches_retried);
	r->breaker_state = COUNTER(breaker_state);
	r->breaker_opens = COUNTER(breaker_opens);
	r->spooled = COUNTER(spans_spooled);
	r->spool_evicted = COUNTER(spool_evicted);
	r->spool_delivered = COUNTER(spool_delivered);
#undef COUNTER
}

/*
 * While spans flow the status file is rewritten at most this often: each
 * rewrite is an open, a write and a rename, which a busy disk can hold in
 * the kernel for tens of milliseconds while the ring fills behind the
 * exporter thread.  A change of health is written at once.
 */
#define STATUS_INTERVAL_NS 1000000000ULL

/* Rewrites this process's status file (OTELSHIM_STATUS_DIR) now, or marks
 * it stale for status_due_ns() when it was written less than
 * STATUS_INTERVAL_NS ago and its health has not changed. */
static void report_status(int now_or_later)
{
	struct status_report now;
	enum status_health health;
	struct timespec ts;
	uint64_t mono;
	char json[768];
	size_t len;

	if (!host.cfg->status_dir)
		return;
	fill_report(&now);
	mono = mono_ns();
	if (status_lost_since(&now, &bs->last_report))
		bs->last_loss_ns = mono;
	health = status_health(&now, bs->last_loss_ns &&
			       mono - bs->last_loss_ns < STATUS_DEGRADED_NS);
	if (now_or_later && bs->status_written_ns &&
	    mono - bs->status_written_ns < STATUS_INTERVAL_NS &&
	    health == bs->status_health_written) {
		bs->status_stale = 1;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	len = status_format_json(&now, health, (uint64_t)ts.tv_sec * 1000 +
				 (uint64_t)ts.tv_nsec / 1000000, json,
				 sizeof(json));
	status_write_file(host.cfg->status_dir, now.pid, json, len);
	bs->last_report = now;
	bs->status_written_ns = mono;
	bs->status_health_written = health;
	bs->status_stale = 0;
}

/* When a stale status file is due for its rewrite; UINT64_MAX if none. */
static uint64_t status_due_ns(void)
{
	return bs->status_stale ? bs->status_written_ns + STATUS_INTERVAL_NS :
				  UINT64_MAX;
}

/* While spans keep being dropped, the warning repeats at most this
 * often; the rest are counted in the next one (or the one at exit). */
#define DROP_WARN_INTERVAL_NS 60000000000ULL

/*
 * Warns (OTEL_LOG_LEVEL=warn and up) that a full queue turned spans away
 * since the last warning: at once the first time, then at most once per
 * DROP_WARN_INTERVAL_NS while it goes on, and at exit (at_exit) for any
 * not warned of yet.  Only the exporter thread and the exit path call it,
 * never a thread recording a span.
 */
static void warn_dropped(int at_exit)
{
	uint64_t dropped, warned, last, now;
	char line[256];

	if (host.cfg->log_level < CONFIG_LOG_WARN)
		return;
	dropped = dropped_queue_full(atomic_load(&bs->ring));
	warned = atomic_load(&bs->drops_warned);
	last = atomic_load(&bs->drops_warned_ns);
	if (dropped == warned)
		return;
	now = mono_ns();
	if (!at_exit && last && now - last < DROP_WARN_INTERVAL_NS)
		return;
	snprintf(line, sizeof(line), "%llu %sspans dropped: the queue was "
		 "full (OTEL_BSP_MAX_QUEUE_SIZE=%u; a larger one holds longer "
		 "bursts and outages)", (unsigned long long)(dropped - warned),
		 warned ? "more " : "",
		 (unsigned)host.cfg->bsp_max_queue_size);
	host_log(CONFIG_LOG_WARN, line);
	atomic_store(&bs->drops_warned, dropped);
	atomic_store(&bs->drops_warned_ns, now);
}

static void *exporter_main(void *arg)
{
	const struct config *cfg = host.cfg;
	uint64_t delay = (uint64_t)cfg->bsp_schedule_delay_ms * 1000000ULL;
	size_t batch_max = cfg->bsp_max_export_batch_size;
	struct ring *r = arg;
	struct span *buf;
	uint64_t next, spill_after = 0;
	size_t spill_mark = spill_mark_of(cfg);
	int stacks_started = 0;

	if (host.enter_own_thread)
		host.enter_own_thread();
	/* Named for whoever looks at the program's threads (top -H, ps -L,
	 * perf sched): the only one that is ours. */
	prctl(PR_SET_NAME, "otelshim-export");
	pace_start(&bs->pace);
	buf = batch_buffer(batch_max);
	pthread_mutex_lock(&bs->load_lock);
	if (!ops)
		ops = load_module();
	if (ops && buf) {
		struct exporter_host eh = {
			.cfg = host.cfg,
			.counters = &bs->counters,
			.log = host_log,
			.argv = host.argv,
			.own_fd = host.own_fd,
			.abort_word = &bs->abort_word,
			.loader_enter = loader_enter,
			.loader_leave = loader_leave,
		};

		bs->exporter = ops->create(&eh);
	}
	pthread_mutex_unlock(&bs->load_lock);
	if (!buf)
		goto out;
	memset(&bs->last_report, 0, sizeof(bs->last_report));
	bs->last_loss_ns = 0;
	report_status(0);
	if (atomic_load(&bs->deliver_req)) {
		/* Bounded like an exit: the program may be as short. */
		if (bs->exporter)
			ops->export_spans(bs->exporter, NULL, 0, mono_ns() +
					  exit_budget_ns(cfg),
					  EXPORTER_DELIVER);
		atomic_store(&bs->deliver_req, 0);
	}
	next = mono_ns() + delay;
	for (;;) {
		uint32_t seen = atomic_load_explicit(&bs->wake_word,
						     memory_order_acquire);
		size_t queued = ring_count(r);
		uint64_t now, wake_at;

		uint32_t want = atomic_load(&bs->flush_req);

		pace_settle(&bs->pace, queued, cfg->bsp_max_queue_size,
			    mono_ns());
		warn_dropped(0);

		/* A ring that reached the spill mark cut the last export's
		 * retries; the next one may retry again (at exit the word
		 * stays up). */
		if (!atomic_load(&bs->stop_requested))
			atomic_store(&bs->abort_word, 0);
		if (want != atomic_load(&bs->flush_done)) {
			/* A thread is dying of a signal: send everything
			 * now, nothing stays pending. */
			drain(r, buf, batch_max, 1,
			      atomic_load(&bs->flush_deadline), DRAIN_FINAL);
			atomic_store(&bs->flush_done, want);
			futex_wake(&bs->flush_done);
			continue;
		}
		if (atomic_load(&bs->stop_requested)) {
			drain(r, buf, batch_max, 1,
			      atomic_load(&bs->stop_deadline), DRAIN_FINAL);
			break;
		}
		want = atomic_load(&bs->spool_req);
		if (want != atomic_load(&bs->spool_done)) {
			/* A thread is about to exec: the new image delivers
			 * what we queued, from the spool. */
			drain(r, buf, batch_max, 1, 0, DRAIN_SPOOL);
			atomic_store(&bs->spool_done, want);
			futex_wake(&bs->spool_done);
			continue;
		}
		if (bs->pending && queued >= spill_mark && queued > 0 &&
		    mono_ns() >= spill_after) {
			if (spill(r, buf, batch_max) != 0)
				spill_after = mono_ns() + 1000000000ULL;
			report_status(1);
			continue;
		}
		if (queued >= batch_max && !bs->pending) {
			drain(r, buf, batch_max, batch_max, 0, DRAIN_NORMAL);
			report_status(1);
			continue;
		}
		now = mono_ns();
		if ((queued > 0 || bs->pending) &&
		    ((delay == 0 && !bs->pending) || now >= next)) {
			drain(r, buf, batch_max, 1, 0, DRAIN_NORMAL);
			report_status(1);
			/* Drained, or the backend failed and the next try is
			 * a second away: hold no descriptor until then. */
			if ((bs->pending || ring_count(r) == 0) &&
			    bs->exporter && ops->idle)
				ops->idle(bs->exporter);
			/* Spans kept through an outage are offered again
			 * once per schedule delay (at least a second). */
			next = mono_ns() + (bs->pending &&
					    delay < 1000000000ULL ?
					    1000000000ULL : delay);
			continue;
		}
		if (now >= next && !bs->pending) {
			report_status(1);
			next = now + delay;
		}
		if (now >= status_due_ns())
			report_status(0);
		/*
		 * Nothing to send and little queued: the unwinder and the
		 * crash handlers, once.  Not at the start: a program whose
		 * spans pour in from the first fills the queue in a few
		 * milliseconds and gets its first batches out first, and a
		 * program that ends at once never loads them.
		 */
		if (!stacks_started && queued < batch_max / 4) {
			stacks_started = 1;
			if (host.start_stacks)
				host.start_stacks();
			continue;
		}
		/* And the producers' next pages. */
		ring_populate_ahead(r);
		/* With no schedule delay and nothing pending, producers
		 * wake us for every span that finds the ring empty, so no
		 * timeout is needed but the status file's. */
		wake_at = next > now ? next : UINT64_MAX;
		if (status_due_ns() < wake_at)
			wake_at = status_due_ns();
		futex_wait(&bs->wake_word, seen,
			   wake_at == UINT64_MAX ? 0 : wake_at - now);
	}
out:
	pace_stop(&bs->pace);
	if (host.cfg->status_dir)
		status_remove_file(host.cfg->status_dir, getpid());
	if (buf)
		munmap(buf, batch_max * sizeof(*buf));
	atomic_store(&bs->done_word, 1);
	futex_wake(&bs->done_word);
	return NULL;
}

/* Creates the ring and the thread, once per process.  Every signal is
 * blocked while the thread is created so it starts with them blocked. */
static struct ring *start_exporter(void)
{
	static __thread int starting;  /* this thread is creating the ring */
	int expect = 0;
	struct ring *r;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;

	if (!atomic_compare_exchange_strong(&bs->started, &expect, 1)) {
		/* Another thread is creating the ring (an mmap: microseconds);
		 * wait for it rather than lose this span.  A signal handler
		 * interrupting the creating thread itself must not wait. */
		while (!starting && !atomic_load(&bs->start_failed) &&
		       !(r = atomic_load_explicit(&bs->ring,
						  memory_order_acquire)))
			sched_yield();
		return atomic_load_explicit(&bs->ring, memory_order_acquire);
	}
	starting = 1;
	r = ring_create(host.cfg->bsp_max_queue_size);
	starting = 0;
	if (!r) {
		atomic_store(&bs->start_failed, 1);
		return NULL;
	}
	atomic_store(&bs->done_word, 0);
	atomic_store_explicit(&bs->ring, r, memory_order_release);
	/*
	 * The final flush runs from atexit, registered now: after the
	 * program's own libraries (libcurl, OpenSSL) registered their exit
	 * cleanups, so it runs before them, while the exporter can still use
	 * them.  The destructor is the fallback for exits that skip atexit
	 * handlers registered from shared objects.
	 */
	if (!atomic_load_explicit(&ever_started, memory_order_relaxed)) {
		atomic_store_explicit(&ever_started, 1, memory_order_relaxed);
		atexit(at_exit_flush);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, exporter_main, r) != 0)
		atomic_store(&bs->done_word, 1);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void batch_warm(void)
{
	if (!atomic_load_explicit(&bs->ring, memory_order_acquire))
		start_exporter();
}

void batch_note_dropped(void)
{
	atomic_fetch_add_explicit(&bs->dropped_early, 1, memory_order_relaxed);
}

void batch_submit(const struct span *s)
{
	struct ring *r = atomic_load_explicit(&bs->ring, memory_order_acquire);
	size_t wake_every = host.cfg->bsp_schedule_delay_ms ?
			    host.cfg->bsp_max_export_batch_size : 1;
	size_t queued;

	if (!r)
		r = start_exporter();
	if (!r) {
		/* Counted with the spans that found no record: recorded and
		 * dropped at once. */
		atomic_fetch_add_explicit(&bs->dropped_early, 1,
					  memory_order_relaxed);
		return;
	}
	if (atomic_load_explicit(&bs->shut_down, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&bs->after_shutdown, 1,
					  memory_order_relaxed);
		return;
	}
	queued = ring_push(r, s);
	/* Half full (or full: 0): the exporter is late. */
	if (queued >= host.cfg->bsp_max_queue_size / 2 || queued == 0)
		pace_hurry(&bs->pace);
	/* Wake the exporter once per full batch (or, with a zero schedule
	 * delay, whenever the ring was empty), and at the spill mark, where
	 * it spools rather than let the ring drop spans during an outage:
	 * one futex call, rarely.  The division (tens of cycles) is only
	 * done with a batch queued: a ring the exporter keeps emptying
	 * holds less. */
	if (queued && queued == spill_mark_of(host.cfg)) {
		/* An export retrying against a down backend stops waiting
		 * (exporter_host.abort_word), so the thread can spill. */
		raise_abort();
		wake_exporter();
	} else if (queued >= wake_every && queued % wake_every == 0) {
		wake_exporter();
	}
}

int batch_flush_from_signal(uint64_t timeout_ns)
{
	uint64_t deadline;
	uint32_t want;

	if (!atomic_load(&bs->started) || atomic_load(&bs->done_word))
		return -ESRCH;
	deadline = mono_ns() + timeout_ns;
	/* The network gets 4/5 of the time, the spool the rest. */
	atomic_store(&bs->flush_deadline, deadline - timeout_ns / 5);
	want = atomic_fetch_add(&bs->flush_req, 1) + 1;
	wake_exporter();
	for (;;) {
		uint32_t done = atomic_load(&bs->flush_done);
		uint64_t now;

		if ((int32_t)(done - want) >= 0)
			return 0;
		now = mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		futex_wait(&bs->flush_done, done, deadline - now);
	}
}

static void at_exit_flush(void)
{
	batch_shutdown();
}

/*
 * What exit and exec may wait: OTELSHIM_EXIT_TIMEOUT, never more than
 * OTEL_BSP_EXPORT_TIMEOUT (0 there: no limit of its own).
 */
static uint64_t exit_budget_ns(const struct config *cfg)
{
	uint32_t ms = cfg->exit_timeout_ms;

	if (cfg->bsp_export_timeout_ms && cfg->bsp_export_timeout_ms < ms)
		ms = cfg->bsp_export_timeout_ms;
	return (uint64_t)ms * 1000000ULL;
}

/* Time kept from the budget for writing what is left to the spool. */
#define SPOOL_RESERVE_NS 100000000ULL

/* Waits until *w != val, at most until deadline (CLOCK_MONOTONIC). */
static void wait_changed(_Atomic uint32_t *w, uint32_t val,
			 uint64_t deadline)
{
	while (atomic_load(w) == val) {
		uint64_t now = mono_ns();

		if (now >= deadline)
			break;
		futex_wait(w, val, deadline - now);
	}
}

/*
 * The exporter thread did not finish within the exit budget (a send or a
 * stack being symbolised took longer): whatever it had not sent, spooled
 * or counted dies with the process.  Says how many, so that no span is
 * lost without a word.
 */
static void warn_unsent_at_exit(uint64_t budget_ns)
{
	struct status_report r;
	uint64_t accounted;
	char line[200];

	fill_report(&r);
	accounted = r.exported + r.rejected + r.dropped_queue +
		    r.dropped_export + r.spooled;
	if (r.recorded <= accounted)
		return;
	snprintf(line, sizeof(line), "exporter still busy at exit after "
		 "%llu ms: %llu spans neither sent nor spooled",
		 (unsigned long long)(budget_ns / 1000000),
		 (unsigned long long)(r.recorded - accounted));
	host_log(CONFIG_LOG_WARN, line);
}

STARTUP_CODE void batch_shutdown(void)
{
	const struct config *cfg = host.cfg;
	uint64_t budget, reserve, start;
	int expect = 0;

	if (!cfg || !atomic_load_explicit(&ever_started, memory_order_relaxed) ||
	    !atomic_load(&bs->started))
		return;
	if (!atomic_compare_exchange_strong(&bs->shut_down, &expect, 1))
		return;
	/*
	 * One attempt within the budget less a reserve (a fifth of it, at
	 * most SPOOL_RESERVE_NS) in which the rest goes to the spool, which
	 * takes microseconds to a few milliseconds.
	 */
	budget = exit_budget_ns(cfg);
	reserve = budget / 5 < SPOOL_RESERVE_NS ? budget / 5 :
		  SPOOL_RESERVE_NS;
	start = mono_ns();
	atomic_store(&bs->stop_deadline, start + budget - reserve + 1);
	atomic_store(&bs->stop_requested, 1);
	raise_abort();
	wake_exporter();
	/* OTELSHIM_EXIT_TIMEOUT=0: no network, only the spool's moment. */
	wait_changed(&bs->done_word, 0, start + (budget ? budget :
					     SPOOL_RESERVE_NS));
	if (!atomic_load(&bs->done_word))
		warn_unsent_at_exit(budget);
	warn_dropped(1);
	if (cfg->log_level >= CONFIG_LOG_INFO) {
		struct status_report r;
		char line[400];

		fill_report(&r);
		status_format_summary(&r, line, sizeof(line));
		host_log(CONFIG_LOG_INFO, line);
	}
}

int batch_before_exec(void)
{
	const struct config *cfg = host.cfg;
	struct ring *r = atomic_load_explicit(&bs->ring, memory_order_acquire);
	uint64_t spooled, deadline;
	uint32_t want;

	if (!cfg || !r || !atomic_load(&bs->started) ||
	    atomic_load(&bs->done_word) || atomic_load(&bs->shut_down))
		return atomic_load(&exec_spooled);
	if (ring_count(r) == 0 &&
	    !atomic_load_explicit(&bs->pending_n, memory_order_relaxed))
		return atomic_load(&bs->deliver_req) ||
		       atomic_load(&exec_spooled);
	spooled = __atomic_load_n(&bs->counters.spans_spooled,
				  __ATOMIC_RELAXED);
	want = atomic_fetch_add(&bs->spool_req, 1) + 1;
	raise_abort();
	wake_exporter();
	deadline = mono_ns() + exit_budget_ns(cfg);
	for (;;) {
		uint32_t done = atomic_load(&bs->spool_done);

		if ((int32_t)(done - want) >= 0 || mono_ns() >= deadline)
			break;
		wait_changed(&bs->spool_done, done, deadline);
	}
	/* The exec may fail: exports go on as before. */
	atomic_store(&bs->abort_word, 0);
	if (__atomic_load_n(&bs->counters.spans_spooled, __ATOMIC_RELAXED) !=
	    spooled)
		atomic_store(&exec_spooled, 1);
	return atomic_load(&bs->deliver_req) || atomic_load(&exec_spooled);
}

void batch_deliver_spool(void)
{
	if (!host.cfg || atomic_load(&bs->started))
		return;
	atomic_store(&bs->deliver_req, 1);
	start_exporter();
}

void batch_before_fork(void)
{
	pthread_mutex_lock(&bs->load_lock);
}

void batch_after_fork_parent(void)
{
	pthread_mutex_unlock(&bs->load_lock);
}

/* Cold: beside the library's other fork handlers (shim/preload.c). */
__attribute__((cold)) void batch_after_fork_child(void)
{
	/* fork() handed the child *bs zeroed: nothing to do, and nothing
	 * touched (each page a child writes costs it a fault). */
	if (bs_wiped)
		return;
	/*
	 * The page was copied instead.  The child is single-threaded here:
	 * plain resets are safe.  The parent's exporter handle is forgotten,
	 * never cleaned up: that could close a connection the parent still
	 * uses; its ring is not even mapped here (ring.c).
	 */
	memset(bs, 0, sizeof(*bs));
	pthread_mutex_init(&bs->load_lock, NULL);
}

void batch_get_stats(struct batch_stats *st)
{
	struct ring *r = atomic_load(&bs->ring);

	memset(st, 0, sizeof(*st));
	st->recorded = submitted(r);
	if (r) {
		st->dropped_queue = ring_dropped(r);
		st->queued = ring_count(r);
	}
	st->thread_running = atomic_load(&bs->started) &&
			     !atomic_load(&bs->done_word);
	/* The module writes these meanwhile (relaxed atomics). */
#define COUNTER(f) (st->exp.f = __atomic_load_n(&bs->counters.f, \
						__ATOMIC_RELAXED))
	COUNTER(batches_sent);
	COUNTER(batches_failed);
	COUNTER(batches_retried);
	COUNTER(spans_exported);
	COUNTER(spans_failed);
	COUNTER(spans_rejected);
	COUNTER(breaker_state);
	COUNTER(breaker_opens);
	COUNTER(spans_spooled);
	COUNTER(spool_evicted);
	COUNTER(spool_delivered);
#undef COUNTER
}
