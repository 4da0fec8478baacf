/*
 * exec and posix_spawn hooks: a program started while one of our spans is
 * active on this thread continues that trace, through TRACEPARENT and
 * TRACESTATE in its environment (the OpenTelemetry environment carrier).
 * Without an active span the context passes through untouched, so a
 * child inherits whatever TRACEPARENT this process was given.  A process
 * that warned about its configuration also marks its children's
 * environment, so that the rest of the tree does not repeat the warning
 * (config.h).  system() and popen() start their shell through these
 * environments too (shell.c).  Before an exec replaces this image, what
 * the exporter thread has queued goes to the spool, for the new image to
 * deliver (batch_before_exec).
 *
 * These hooks may run in a vfork() child, which shares our memory: they
 * build the new environment on the stack and never allocate or lock.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/batch.h"
#include "context.h"
#include "exec.h"
#include "execenv.h"
#include "preload.h"

extern char **environ;

int exec_env_adds(void)
{
	int traced = preload_enter();
	const struct config *cfg = preload_config();

	return (traced && cfg->propagate_tracecontext) || cfg->warned_env[0];
}

/* The context a child of the active span continues, in buf: 0, or -1
 * when there is none to give. */
static int context_entries(struct exec_env *buf, struct execenv_add *add)
{
	const struct span *s;

	if (!preload_enter() || !preload_config()->propagate_tracecontext)
		return -1;
	s = ctx_active();
	if (!s)
		return -1;
	memcpy(buf->traceparent, "TRACEPARENT=", 12);
	if (ctx_traceparent(s, buf->traceparent + 12,
			    sizeof(buf->traceparent) - 12) == 0)
		return -1;
	add->traceparent = buf->traceparent;
	if (s->trace_state.len && s->trace_state.len < 513) {
		memcpy(buf->tracestate, "TRACESTATE=", 11);
		memcpy(buf->tracestate + 11, span_str_ptr(s, s->trace_state),
		       s->trace_state.len);
		buf->tracestate[11 + s->trace_state.len] = 0;
		add->tracestate = buf->tracestate;
	}
	return 0;
}

/* exec_env, and the spooled mark when spooled. */
static char *const *exec_env_marked(char *const *envp, struct exec_env *buf,
				    int spooled)
{
	struct execenv_add add = { NULL, NULL, NULL, NULL };
	const struct config *cfg;

	context_entries(buf, &add);
	/* Read after context_entries(), which initialises the library. */
	cfg = preload_config();
	if (cfg->warned_env[0])
		add.mark = cfg->warned_env;
	if (spooled)
		add.spooled = BATCH_SPOOLED_VAR "=1";
	return execenv_build(envp, &add, buf->entries, EXEC_ENV_MAX + 4);
}

char *const *exec_env(char *const *envp, struct exec_env *buf)
{
	return exec_env_marked(envp, buf, 0);
}

/*
 * The new image (preloaded through the inherited LD_PRELOAD) delivers
 * what this one queued: it goes to the spool first, and the new image is
 * told to look there (BATCH_SPOOLED_VAR).  Not in a vfork() child, whose
 * memory and exporter thread are the parent's, nor on our own threads.
 */
static int before_exec(void)
{
	int spooled = 0;

	if (preload_enter() && !preload_in_shared_child())
		KEEP_ERRNO(spooled = batch_before_exec());
	return spooled;
}

#define WITH_CONTEXT(envp)                                              \
	struct exec_env env_buf_;                                       \
	char *const *env_ = exec_env((envp), &env_buf_)

/* An exec that replaces this image: the queue to the spool, then the
 * new image's environment. */
#define EXEC_WITH_CONTEXT(envp)                                         \
	struct exec_env env_buf_;                                       \
	int spooled_ = before_exec();                                   \
	char *const *env_ = exec_env_marked((envp), &env_buf_, spooled_)

HOOK_API int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WITH_CONTEXT(envp);
	return real_execve(path, argv, env_);
}

HOOK_API int execv(const char *path, char *const argv[])
{
	EXEC_WITH_CONTEXT(environ);
	if (env_ == environ)
		return real_execv(path, argv);
	return real_execve(path, argv, env_);
}

HOOK_API int execvp(const char *file, char *const argv[])
{
	EXEC_WITH_CONTEXT(environ);
	if (env_ == environ)
		return real_execvp(file, argv);
	return real_execvpe(file, argv, env_);
}

HOOK_API int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WITH_CONTEXT(envp);
	return real_execvpe(file, argv, env_);
}

HOOK_API int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WITH_CONTEXT(envp);
	return real_fexecve(fd, argv, env_);
}

/* posix_spawn does not replace this image: nothing to spool.
 * posix_spawn and posix_spawnp differ only in how they find the
 * program. */
static int spawn(__typeof__(real_posix_spawn) real, pid_t *pid,
		 const char *prog, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[],
		 char *const envp[])
{
	WITH_CONTEXT(envp);
	return real(pid, prog, fa, attr, argv, env_);
}

HOOK_API int posix_spawn(pid_t *pid, const char *path,
			 const posix_spawn_file_actions_t *fa,
			 const posix_spawnattr_t *attr, char *const argv[],
			 char *const envp[])
{
	return spawn(real_posix_spawn, pid, path, fa, attr, argv, envp);
}

HOOK_API int posix_spawnp(pid_t *pid, const char *file,
			  const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[],
			  char *const envp[])
{
	return spawn(real_posix_spawnp, pid, file, fa, attr, argv, envp);
}

/*
 * execl, execle and execlp: glibc collects the argument list into an
 * array on the stack and calls its internal execve or execvpe, which no
 * hook of ours sees.  These collect it the same way (no allocation: they
 * may run in a vfork() child, or a signal handler) and go through the
 * hooks above.
 */

/* How many arguments arg and those after it up to the NULL are, or -1
 * past INT_MAX (glibc's E2BIG). */
static ptrdiff_t va_count(va_list ap)
{
	ptrdiff_t argc;

	for (argc = 1; va_arg(ap, const char *); argc++) {
		if (argc == INT_MAX)
			return -1;
	}
	return argc;
}

/* Declares argv[] holding arg and the variadic arguments that follow it
 * up to their NULL, leaving ap just past the NULL (execle's envp). */
#define ARGV_FROM(arg, ap)                                              \
	ptrdiff_t argc_;                                                \
									\
	va_start(ap, arg);                                              \
	argc_ = va_count(ap);                                           \
	va_end(ap);                                                     \
	if (argc_ < 0) {                                                \
		errno = E2BIG;                                          \
		return -1;                                              \
	}                                                               \
	char *argv[argc_ + 1];                                          \
									\
	va_start(ap, arg);                                              \
	argv[0] = (char *)(arg);                                        \
	for (ptrdiff_t i_ = 1; i_ <= argc_; i_++)                       \
		argv[i_] = va_arg(ap, char *)

HOOK_API int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM(arg, ap);

	va_end(ap);
	return execve(path, argv, environ);
}

HOOK_API int execle(const char *path, const char *arg, ...)
{
	char *const *envp;
	va_list ap;
	ARGV_FROM(arg, ap);

	envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

HOOK_API int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	ARGV_FROM(arg, ap);

	va_end(ap);
	return execvp(file, argv);
}
