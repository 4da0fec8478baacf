/*
 * The environment of a program our hooks start (see execenv.h): a copy of
 * the caller's envp pointers with our entries replacing theirs.  Runs on
 * application threads and in vfork() children: pointers only, into the
 * caller's array.
 */
#include <string.h>

#include "execenv.h"

/* Whether entry is "<name>=..." for the name that `with` starts with. */
static int same_name(const char *entry, const char *with)
{
	size_t n = strcspn(with, "=");

	return !strncmp(entry, with, n) && entry[n] == '=';
}

static int is_context(const char *entry)
{
	return same_name(entry, "TRACEPARENT=") ||
	       same_name(entry, "TRACESTATE=");
}

/* envp's first entry of mark's name already says what mark says. */
static int has_mark(char *const *envp, const char *mark)
{
	for (char *const *e = envp; *e; e++) {
		if (same_name(*e, mark))
			return !strcmp(*e, mark);
	}
	return 0;
}

char *const *execenv_build(char *const *envp, const struct execenv_add *add,
			   char **out, size_t cap)
{
	const char *mark = add->mark;
	size_t n = 0, extra;

	if (!envp)
		return envp;
	if (mark && has_mark(envp, mark))
		mark = NULL;
	if (!add->traceparent && !mark)
		return envp;
	extra = 1 + !!mark + (add->traceparent ? 1 + !!add->tracestate : 0);
	for (char *const *e = envp; *e; e++) {
		if (add->traceparent && is_context(*e))
			continue;
		if (mark && same_name(*e, mark))
			continue;
		if (n + extra >= cap)
			return envp;
		out[n++] = *e;
	}
	if (n + extra > cap)
		return envp;
	if (add->traceparent) {
		out[n++] = (char *)add->traceparent;
		if (add->tracestate)
			out[n++] = (char *)add->tracestate;
	}
	if (mark)
		out[n++] = (char *)mark;
	out[n] = NULL;
	return out;
}
