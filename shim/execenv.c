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
	const char *marks[2] = { add->mark, add->spooled };
	size_t n = 0, extra;
	int i;

	if (!envp)
		return envp;
	for (i = 0; i < 2; i++) {
		if (marks[i] && has_mark(envp, marks[i]))
			marks[i] = NULL;
	}
	if (!add->traceparent && !marks[0] && !marks[1])
		return envp;
	extra = 1 + !!marks[0] + !!marks[1] +
		(add->traceparent ? 1 + !!add->tracestate : 0);
	for (char *const *e = envp; *e; e++) {
		if (add->traceparent && is_context(*e))
			continue;
		if ((marks[0] && same_name(*e, marks[0])) ||
		    (marks[1] && same_name(*e, marks[1])))
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
	for (i = 0; i < 2; i++) {
		if (marks[i])
			out[n++] = (char *)marks[i];
	}
	out[n] = NULL;
	return out;
}
