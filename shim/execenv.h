/*
 * The environment of a program our hooks start (exec, posix_spawn,
 * system, popen): the caller's, with our entries put in — the trace
 * context of the active span and the mark of configuration warnings
 * already given.  Pure: it only arranges pointers in the caller's array,
 * so it runs in a vfork() child (no allocation, no lock, nothing written
 * outside that array).
 */
#ifndef OTELSHIM_EXECENV_H
#define OTELSHIM_EXECENV_H

#include <stddef.h>

/* What the child gets from us, each a complete "NAME=value" entry. */
struct execenv_add {
	const char *traceparent;        /* NULL: the context stays as is */
	const char *tracestate;         /* with traceparent; NULL: none */
	const char *mark;               /* CONFIG_WARNED_VAR "=...", or NULL */
	/* BATCH_SPOOLED_VAR "=1" when this image left spans in the spool
	 * for the next to deliver, or NULL. */
	const char *spooled;
};

/*
 * Fills out (room for cap pointers, its NULL included) with envp's
 * entries plus add's.  A traceparent replaces every TRACEPARENT and
 * TRACESTATE of envp (a context is one pair: a state never outlives its
 * parent), a mark (or spooled) every entry of its name.  Returns out, or envp itself
 * when there is nothing to change (no traceparent, and no mark or envp's
 * first entry of its name already is it), when envp is NULL, or when out is too
 * small: a child then starts as it would without us.
 */
char *const *execenv_build(char *const *envp, const struct execenv_add *add,
			   char **out, size_t cap);

#endif
