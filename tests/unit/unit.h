/*
 * What every unit test program shares: running its suite (unit_run, the
 * whole of a test's main() after the cases are added) and inputs placed
 * right before an unmapped page (guard_setup, guarded), so that a parser
 * reading one byte past its input faults at once instead of passing.
 */
#ifndef OTELSHIM_UNIT_H
#define OTELSHIM_UNIT_H

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Runs the suite; the exit status for main(). */
static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A suite of one case holding the given tests, run: main() in one line. */
#define UNIT_MAIN(name, ...)                                              \
	int main(void)                                                    \
	{                                                                 \
		const TTest *tests_[] = { __VA_ARGS__ };                  \
		Suite *s_ = suite_create(name);                           \
		TCase *tc_ = tcase_create(name);                          \
		size_t i_;                                                \
                                                                          \
		for (i_ = 0; i_ < NELEM(tests_); i_++)                    \
			_tcase_add_test(tc_, tests_[i_], 0, 0, 0, 1);     \
		suite_add_tcase(s_, tc_);                                 \
		return unit_run(s_);                                      \
	}

static char *guard_end;
static size_t guard_span;

/* Maps 32 pages followed by an inaccessible one (a checked fixture). */
static inline void guard_setup(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 33 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	guard_span = 32 * pg;
	ck_assert_int_eq(mprotect(p + guard_span, pg, PROT_NONE), 0);
	guard_end = p + guard_span;
}

/* A copy of s[0..len) whose last byte is the last readable one. */
static inline const char *guarded(const char *s, size_t len)
{
	if (len > guard_span)
		ck_abort_msg("input too long");
	memmove(guard_end - len, s, len);
	return guard_end - len;
}

#endif
