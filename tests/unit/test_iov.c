/*
 * Moving a scatter list past a short write.
 */
#include "common/iov.h"
#include "unit.h"

START_TEST(advance)
{
	char a[4], b[3], c[5];
	struct iovec iov[3] = { { a, 4 }, { b, 3 }, { c, 5 } };
	struct iovec *v = iov;
	int n = 3;

	iov_advance(&v, &n, 0);
	ck_assert_ptr_eq(v, iov);
	ck_assert_int_eq(n, 3);
	iov_advance(&v, &n, 2);                 /* inside the first */
	ck_assert_ptr_eq(v->iov_base, a + 2);
	ck_assert_uint_eq(v->iov_len, 2);
	iov_advance(&v, &n, 2);                 /* exactly its end */
	ck_assert_ptr_eq(v, iov + 1);
	ck_assert_int_eq(n, 2);
	iov_advance(&v, &n, 4);                 /* across a boundary */
	ck_assert_ptr_eq(v, iov + 2);
	ck_assert_ptr_eq(v->iov_base, c + 1);
	ck_assert_uint_eq(v->iov_len, 4);
	iov_advance(&v, &n, 4);                 /* all */
	ck_assert_int_eq(n, 0);
}
END_TEST

UNIT_MAIN("iov", advance)
