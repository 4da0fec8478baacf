/*
 * exec and posix_spawn hooks: a program started while one of our spans is
 * active on this thread continues that trace, through TRACEPARENT and
 * TRACESTATE in its environment (the OpenTelemetry environment carrier).
 * Without an active span the environment passes through untouched, so a
 * child inherits whatever TRACEPARENT this process was given.
 *
 * These hooks may run in a vfork() child, which shares our memory: they
 * build the new environment on the stack and never allocate or lock.
 */
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "preload.h"

extern char **environ;

/* Environments larger than this are passed through unchanged. */
#define ENV_MAX 4096

struct env_copy {
	char traceparent[12 + 56];      /* "TRACEPARENT=" + value */
	char tracestate[11 + 513];      /* "TRACESTATE=" + value */
};

static int is_var(const char *entry, const char *name, size_t n)
{
	return !strncmp(entry, name, n) && entry[n] == '=';
}

/*
 * Fills out[] (room for ENV_MAX + 3 pointers) with envp minus any
 * TRACEPARENT/TRACESTATE plus ours.  Returns out, or envp itself when there
 * is no active span or the environment is too large.
 */
static char *const *with_context(char *const *envp, char **out,
				 struct env_copy *buf)
{
	const struct span *s;
	size_t n = 0;

	if (!preload_enter() || !preload_config()->propagate_tracecontext)
		return envp;
	s = ctx_active();
	if (!s || !envp)
		return envp;
	memcpy(buf->traceparent, "TRACEPARENT=", 12);
	if (ctx_traceparent(s, buf->traceparent + 12,
			    sizeof(buf->traceparent) - 12) == 0)
		return envp;
	for (char *const *e = envp; *e; e++) {
		if (is_var(*e, "TRACEPARENT", 11) ||
		    is_var(*e, "TRACESTATE", 10))
			continue;
		if (n == ENV_MAX)
			return envp;
		out[n++] = *e;
	}
	out[n++] = buf->traceparent;
	if (s->trace_state.len && s->trace_state.len < 513) {
		memcpy(buf->tracestate, "TRACESTATE=", 11);
		memcpy(buf->tracestate + 11, span_str_ptr(s, s->trace_state),
		       s->trace_state.len);
		buf->tracestate[11 + s->trace_state.len] = 0;
		out[n++] = buf->tracestate;
	}
	out[n] = NULL;
	return out;
}

#define WITH_CONTEXT(envp)                                              \
	char *env_out_[ENV_MAX + 3];                                    \
	struct env_copy env_buf_;                                       \
	char *const *env_ = with_context((envp), env_out_, &env_buf_)

HOOK_API int execve(const char *path, char *const argv[], char *const envp[])
{
	WITH_CONTEXT(envp);
	return real_execve(path, argv, env_);
}

HOOK_API int execv(const char *path, char *const argv[])
{
	WITH_CONTEXT(environ);
	if (env_ == environ)
		return real_execv(path, argv);
	return real_execve(path, argv, env_);
}

HOOK_API int execvp(const char *file, char *const argv[])
{
	WITH_CONTEXT(environ);
	if (env_ == environ)
		return real_execvp(file, argv);
	return real_execvpe(file, argv, env_);
}

HOOK_API int execvpe(const char *file, char *const argv[], char *const envp[])
{
	WITH_CONTEXT(envp);
	return real_execvpe(file, argv, env_);
}

/* posix_spawn and posix_spawnp differ only in how they find the
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
