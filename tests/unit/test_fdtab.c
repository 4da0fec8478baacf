/*
 * The descriptor table's gate bits: set exactly while an entry is a stream
 * socket of ours, whatever wrote the kind; cleared by forgetting; words
 * shared by 64 descriptors that threads open and close at once (run under
 * TSan too); descriptors past the bits answered from their entries.
 * links: shim/fdtab.c
 */
#include <pthread.h>

#include "shim/fdtab.h"
#include "unit.h"

START_TEST(kind_sets_gate)
{
	static const enum fd_kind kinds[] = {
		FD_UNKNOWN, FD_OTHER, FD_OWN, FD_TCP, FD_UNIX,
	};

	for (size_t i = 0; i < NELEM(kinds); i++) {
		for (size_t j = 0; j < NELEM(kinds); j++) {
			struct fd_entry *e = fdtab_get(70);

			fdtab_set_kind(e, kinds[i]);
			fdtab_set_kind(e, kinds[j]);
			ck_assert_int_eq(e->kind, kinds[j]);
			ck_assert_int_eq(fdtab_is_stream(70), kinds[j] >= FD_TCP);
			/* Its neighbours in the word are untouched. */
			ck_assert_int_eq(fdtab_is_stream(69), 0);
			ck_assert_int_eq(fdtab_is_stream(71), 0);
		}
	}
	fdtab_forget(70);
	ck_assert_int_eq(fdtab_is_stream(70), 0);
	ck_assert_int_eq(fdtab_get(70)->kind, FD_UNKNOWN);
}
END_TEST

START_TEST(forget_and_own_clear_gate)
{
	fdtab_set_kind(fdtab_get(5), FD_TCP);
	fdtab_get(5)->proto = FD_PROTO_HTTP;
	fdtab_forget(5);
	ck_assert_int_eq(fdtab_is_stream(5), 0);
	ck_assert_int_eq(fdtab_get(5)->proto, FD_PROTO_UNKNOWN);

	fdtab_set_kind(fdtab_get(6), FD_UNIX);
	fdtab_own(6, 1);
	ck_assert_int_eq(fdtab_get(6)->kind, FD_OWN);
	ck_assert_int_eq(fdtab_is_stream(6), 0);
	fdtab_own(6, 0);
	ck_assert_int_eq(fdtab_get(6)->kind, FD_UNKNOWN);
}
END_TEST

START_TEST(past_the_bits_and_out_of_range)
{
	int high = FDTAB_GATE_FDS + 3;

	ck_assert_int_eq(fdtab_is_stream(high), 0);
	fdtab_set_kind(fdtab_get(high), FD_TCP);
	ck_assert_int_eq(fdtab_is_stream(high), 1);
	fdtab_forget(high);
	ck_assert_int_eq(fdtab_is_stream(high), 0);

	ck_assert_int_eq(fdtab_is_stream(-1), 0);
	ck_assert_int_eq(fdtab_is_stream(FDTAB_MAX), 0);
	ck_assert_ptr_null(fdtab_get(-1));
	ck_assert_ptr_null(fdtab_get(FDTAB_MAX));
}
END_TEST

/* Each thread owns every fourth descriptor of 128..383 (four words of
 * bits), and turns them into stream sockets and back. */
#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg)
{
	int first = 128 + (int)(uintptr_t)arg;
	int failed = 0;

	for (int r = 0; r < ROUNDS; r++) {
		int fd = first + THREADS * (r % 64);

		fdtab_set_kind(fdtab_get(fd), r % 3 ? FD_TCP : FD_UNIX);
		if (!fdtab_is_stream(fd))
			failed = 1;
		fdtab_forget(fd);
		if (fdtab_is_stream(fd))
			failed = 1;
	}
	return (void *)(uintptr_t)failed;
}

START_TEST(threads_share_words)
{
	pthread_t t[THREADS];
	void *failed;

	for (uintptr_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)i),
				 0);
	for (int i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &failed), 0);
		ck_assert_ptr_null(failed);
	}
	for (int fd = 128; fd < 384; fd++)
		ck_assert_int_eq(fdtab_is_stream(fd), 0);
}
END_TEST

UNIT_MAIN("fdtab", kind_sets_gate, forget_and_own_clear_gate,
	  past_the_bits_and_out_of_range, threads_share_words)
