/*
 * The median of a bench program's samples (bench/floor.c, bench/spawn.c).
 */
#ifndef OTELSHIM_BENCH_MEDIAN_H
#define OTELSHIM_BENCH_MEDIAN_H

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of the n > 0 values at v, which it sorts. */
static inline double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
