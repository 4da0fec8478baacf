/*
 * The environment our hooks give a child: the caller's entries in their
 * order, TRACEPARENT and TRACESTATE replaced together, the warning mark
 * replaced or left as it is, nothing changed when there is nothing to add,
 * and an environment too large for the array passed through untouched.
 * links: shim/execenv.c
 */
#include <stdio.h>

#include "shim/execenv.h"
#include "unit.h"

#define TP "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define TS "TRACESTATE=k=v"
#define MARK "OTELSHIM_WARNED=0123456789abcdef"

static char *out[16];

/* The built environment as one string, entries separated by '|'. */
static const char *joined(char *const *env)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (; *env; env++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      n ? "|" : "", *env);
	return buf;
}

START_TEST(nothing_to_add_is_the_same_array)
{
	char *envp[] = { "A=1", "TRACEPARENT=x", NULL };
	struct execenv_add none = { NULL, NULL, NULL, NULL };
	struct execenv_add same = { NULL, NULL, "M=1" };
	char *marked[] = { "A=1", "M=1", "M=2", NULL };

	ck_assert_ptr_eq(execenv_build(envp, &none, out, NELEM(out)), envp);
	ck_assert_ptr_eq(execenv_build(marked, &same, out, NELEM(out)),
			 marked);
	ck_assert_ptr_null(execenv_build(NULL, &same, out, NELEM(out)));
}
END_TEST

START_TEST(context_replaces_both_variables)
{
	char *envp[] = { "TRACESTATE=old=1", "A=1", "TRACEPARENT=old",
			 "TRACEPARENTX=keep", "B=2", "TRACEPARENT=again",
			 NULL };
	struct execenv_add with_state = { TP, TS, NULL };
	struct execenv_add no_state = { TP, NULL, NULL };

	ck_assert_str_eq(joined(execenv_build(envp, &with_state, out,
					      NELEM(out))),
			 "A=1|TRACEPARENTX=keep|B=2|" TP "|" TS);
	/* A state never outlives the parent it came with. */
	ck_assert_str_eq(joined(execenv_build(envp, &no_state, out,
					      NELEM(out))),
			 "A=1|TRACEPARENTX=keep|B=2|" TP);
}
END_TEST

START_TEST(mark_replaces_another_mark_only)
{
	char *envp[] = { "OTELSHIM_WARNED=ffff", "TRACEPARENT=keep",
			 "OTELSHIM_WARNEDX=1", NULL };
	char *empty[] = { NULL };
	struct execenv_add mark = { NULL, NULL, MARK };
	struct execenv_add both = { TP, NULL, MARK };

	ck_assert_str_eq(joined(execenv_build(envp, &mark, out, NELEM(out))),
			 "TRACEPARENT=keep|OTELSHIM_WARNEDX=1|" MARK);
	ck_assert_str_eq(joined(execenv_build(envp, &both, out, NELEM(out))),
			 "OTELSHIM_WARNEDX=1|" TP "|" MARK);
	ck_assert_str_eq(joined(execenv_build(empty, &mark, out, NELEM(out))),
			 MARK);
}
END_TEST

/* The spooled mark goes with or without the warning mark, replaces an
 * older one of its name, and is not added twice. */
START_TEST(spooled_mark)
{
	char *envp[] = { "A=1", "OTELSHIM_SPOOLED=0", NULL };
	char *has[] = { "OTELSHIM_SPOOLED=1", NULL };
	struct execenv_add sp = { NULL, NULL, NULL, "OTELSHIM_SPOOLED=1" };
	struct execenv_add all = { TP, NULL, MARK, "OTELSHIM_SPOOLED=1" };

	ck_assert_str_eq(joined(execenv_build(envp, &sp, out, NELEM(out))),
			 "A=1|OTELSHIM_SPOOLED=1");
	ck_assert_str_eq(joined(execenv_build(envp, &all, out, NELEM(out))),
			 "A=1|" TP "|" MARK "|OTELSHIM_SPOOLED=1");
	ck_assert_ptr_eq(execenv_build(has, &sp, out, NELEM(out)), has);
	/* Three entries and a NULL do not fit in three pointers. */
	ck_assert_ptr_eq(execenv_build(envp, &sp, out, 2), envp);
}
END_TEST

START_TEST(too_large_passes_through)
{
	char *envp[] = { "A=1", "B=2", "C=3", NULL };
	struct execenv_add all = { TP, TS, MARK };

	/* Three entries, three of ours and the NULL: seven pointers. */
	ck_assert_ptr_eq(execenv_build(envp, &all, out, 6), envp);
	ck_assert_ptr_eq(execenv_build(envp, &all, out, 7), out);
	ck_assert_ptr_null(out[6]);
	ck_assert_ptr_eq(execenv_build(envp, &all, out, 3), envp);
}
END_TEST

UNIT_MAIN("execenv", nothing_to_add_is_the_same_array,
	  context_replaces_both_variables, mark_replaces_another_mark_only,
	  spooled_mark, too_large_passes_through)
