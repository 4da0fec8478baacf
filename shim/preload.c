/*
 * The library's life: resolving the real functions (libc's listed in
 * hooks.def, libpq's and sqlite3's on first use), reading the
 * configuration once, and the process events that matter to tracing —
 * fork (a child drops inherited spans and gets fresh ids) and exit (flush
 * within OTEL_BSP_EXPORT_TIMEOUT).  A secure-execution
 * (setuid) process or OTEL_SDK_DISABLED leaves the library inert: every
 * hook then just calls the real function.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/loader.h"
#include "common/redact.h"
#include "pipeline/batch.h"
#include "context.h"
#include "crash.h"
#include "forkguard.h"
#include "log.h"
#include "ownfd.h"
#include "preload.h"
#include "stack.h"

/*
 * Each real_* starts out at a stub that looks the real function up with
 * dlsym(RTLD_NEXT) on its first call, stores it and calls it: a lookup
 * costs about half a microsecond, and a short process (ls, a shell
 * pipeline's tools) calls few of the hooks, so resolving every one at
 * start-up was a measurable part of what preloading us costs such a
 * process (BENCHMARKS.md, process start).  The exporter thread
 * resolves the rest once the process has shown it lives long enough to
 * trace something (resolve_all).  A name the C library lacks fails its
 * call with ENOSYS.
 */
#define HOOK(ret, name, params, args)                                   \
	static ret first_##name params;                                 \
	ret (*real_##name) params = first_##name;                       \
	static ret first_##name params                                  \
	{                                                               \
		ret (*f) params = (ret (*) params)preload_next(#name);  \
									\
		if (!f) {                                               \
			errno = ENOSYS;                                 \
			return (ret)-1;                                 \
		}                                                       \
		__atomic_store_n(&real_##name, f, __ATOMIC_RELAXED);    \
		return f args;                                          \
	}
#include "hooks.def"
#undef HOOK

PRELOAD_TLS int preload_guard;
int preload_tracing STARTUP_DATA;

static struct config config STARTUP_DATA;
static char *const *saved_argv STARTUP_DATA;
extern char **environ;

_Atomic int preload_init_state STARTUP_DATA = PRELOAD_INIT_NONE;

/* Resolves every hook not called yet, so none has to look itself up later
 * (from a signal handler, say). */
static void resolve_all(void)
{
#define HOOK(ret, name, params, args)                                   \
	if (__atomic_load_n(&real_##name, __ATOMIC_RELAXED) ==          \
	    first_##name) {                                             \
		ret (*f) params = (ret (*) params)preload_next(#name);  \
									\
		if (f)                                                  \
			__atomic_store_n(&real_##name, f,               \
					 __ATOMIC_RELAXED);             \
	}
#include "hooks.def"
#undef HOOK
}

static void enter_own_thread(void)
{
	preload_guard = 1;
	resolve_all();
}

/* Off the application threads: load the unwinder, then take over the
 * fatal signals the program left at their default. */
static void start_stacks(void)
{
	stack_start(&config);
	crash_install(&config);
}

/* This process's pid, kept current across fork(): a vfork() child (or a
 * raw clone) runs without our fork handlers and so sees another one.
 * Given a value so that it sits in .data with ctx's fork generation: a
 * forked child then writes one page of ours, not two, and each page it
 * writes costs it a fault. */
static pid_t own_pid = -1;

int preload_in_shared_child(void)
{
	return (pid_t)syscall(SYS_getpid) != own_pid;
}

/*
 * Cold: kept with the other fork handlers (.text.unlikely), so that a
 * child that execs or exits at once faults in one page of our code, not
 * one per handler.  getpid() is right in a forked child (glibc resets any
 * cache it keeps) and sits beside fork() in libc, a page the child has
 * mapped already.
 */
__attribute__((cold)) static void child_after_fork(void)
{
	own_pid = getpid();
	ctx_after_fork_child();
	batch_after_fork_child();
}

static void at_unload(void)
{
	batch_shutdown();
}

_Static_assert(BATCH_STATE_BYTES <= FORKGUARD_SPARE_BYTES,
	       "the exporter's state fits beside the fork guard's lock");

static void init(void)
{
	struct batch_host host;
	void *wiped;

	if (getauxval(AT_SECURE))
		return;  /* setuid and friends: never touch them */
	/* config_load itself honours OTEL_LOG_LEVEL for its warnings. */
	config_load(&config, environ, log_warn_line);
	log_set_level(config.log_level, config.log_level_explicit);
	if (config.sdk_disabled || config.exporter == CONFIG_EXPORTER_NONE)
		return;
	ctx_init(&config, environ);
	redact_set_url_keys(config.url_sensitive_keys);
	/* Before any thread or fork handler of ours (forkguard.h); its page
	 * has room for the exporter's state. */
	wiped = forkguard_install();
	host = (struct batch_host){
		.cfg = &config,
		.argv = saved_argv,
		.enter_own_thread = enter_own_thread,
		.start_stacks = start_stacks,
		.own_fd = ownfd_host,
		.log = log_line,
		.wiped = wiped,
	};
	batch_init(&host);
	own_pid = (pid_t)syscall(SYS_getpid);
	loader_atfork(batch_before_fork, batch_after_fork_parent,
		      child_after_fork);
	preload_tracing = 1;
	/* The image before an exec left spans in the spool: deliver them
	 * (even if this one records nothing), and do not have every later
	 * child of ours do it again. */
	if (getenv(BATCH_SPOOLED_VAR)) {
		unsetenv(BATCH_SPOOLED_VAR);
		batch_deliver_spool();
	}
}

STARTUP_CODE int preload_enter_first(void)
{
	int expect = PRELOAD_INIT_NONE;

	if (atomic_load_explicit(&preload_init_state, memory_order_acquire) !=
	    PRELOAD_INIT_DONE) {
		if (!atomic_compare_exchange_strong(&preload_init_state,
						    &expect,
						    PRELOAD_INIT_RUNNING))
			/* Being initialised (maybe by this very thread,
			 * deeper in the stack): don't trace. */
			return 0;
		init();
		atomic_store_explicit(&preload_init_state, PRELOAD_INIT_DONE,
				      memory_order_release);
	}
	return preload_tracing && !preload_guard;
}

void *preload_next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Paths of loaded objects whose file name starts with a prefix. */
struct candidates {
	const char *prefix;
	char path[8][512];
	int n;
};

static int collect(struct dl_phdr_info *info, size_t size, void *data)
{
	struct candidates *c = data;
	const char *name = info->dlpi_name;
	const char *base;

	(void)size;
	if (!name || !*name || c->n == 8 || strlen(name) >= 512)
		return 0;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (!strncmp(base, c->prefix, strlen(c->prefix)))
		memcpy(c->path[c->n++], name, strlen(name) + 1);
	return 0;
}

void *preload_next_in(const char *name, const char *lib_prefix)
{
	struct candidates c = { .prefix = lib_prefix, .n = 0 };
	void *p = dlsym(RTLD_NEXT, name);
	Dl_info self, di;

	if (p || !dladdr((void *)preload_next_in, &self))
		return p;
	/* A library dlopen()ed with local scope (python's _sqlite3 or
	 * psycopg2 bring libsqlite3 and libpq that way) is invisible to
	 * RTLD_NEXT, yet the module's calls bind to our global hooks.  Ask
	 * each such object through a handle of its own.  Slow, but only
	 * until found. */
	loader_enter(1);
	dl_iterate_phdr(collect, &c);
	for (int i = 0; i < c.n && !p; i++) {
		void *h = dlopen(c.path[i], RTLD_LAZY | RTLD_NOLOAD);

		if (!h)
			continue;
		p = dlsym(h, name);
		if (p && dladdr(p, &di) && di.dli_fbase == self.dli_fbase)
			p = NULL;  /* ourselves: never call that */
		/* Still loaded afterwards: it was before our dlopen. */
		dlclose(h);
	}
	loader_leave();
	return p;
}

/* The slow path of preload_lib_fn(): a miss is not stored. */
__attribute__((noinline)) void *preload_lib_resolve(void *_Atomic *slot,
						    const char *name,
						    const char *lib_prefix)
{
	void *p = preload_next_in(name, lib_prefix);

	if (p)
		atomic_store_explicit(slot, p, memory_order_relaxed);
	return p;
}

const struct config *preload_config(void)
{
	return &config;
}

char *const *preload_argv(void)
{
	return saved_argv;
}

/* glibc passes argc, argv and envp to ELF constructors. */
__attribute__((constructor)) static void preload_ctor(int argc, char **argv,
						      char **envp)
{
	(void)argc;
	(void)envp;
	saved_argv = argv;
	preload_enter();
}

/*
 * At exit or unload: the library's DT_FINI (-fini in the Makefile) rather
 * than a destructor, which would leave DT_FINI to crti's empty _fini,
 * placed after all our code: a 64 KiB window of code faulted in by every
 * exit for nothing.  Here it sits with the start path (STARTUP_CODE).
 */
void preload_fini(void);
STARTUP_CODE void preload_fini(void)
{
	at_unload();
}
