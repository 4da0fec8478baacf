/*
 * The environment our hooks give a program they start (exec.c): the
 * caller's, plus TRACEPARENT/TRACESTATE of the span active on this thread
 * and the mark of configuration warnings this process tree already gave.
 * Built on the caller's stack, safe in a vfork() child.
 */
#ifndef OTELSHIM_EXEC_H
#define OTELSHIM_EXEC_H

/* Environments larger than this are passed through unchanged. */
#define EXEC_ENV_MAX 4096

/* Where a child's environment is put together: the caller's stack. */
struct exec_env {
	char traceparent[12 + 56];      /* "TRACEPARENT=" + value */
	char tracestate[11 + 513];      /* "TRACESTATE=" + value */
	char *entries[EXEC_ENV_MAX + 4];
};

/*
 * envp with our entries (execenv.h), built in *buf; or envp itself when
 * we have nothing to add (no active span or propagation off, and no
 * warning to mark) or it does not fit.
 */
char *const *exec_env(char *const *envp, struct exec_env *buf);

/*
 * 1 when this process may ever give its children anything: tracing with
 * the tracecontext propagator on, or a warning to mark.  Fixed once the
 * library is initialised.
 */
int exec_env_adds(void);

#endif
