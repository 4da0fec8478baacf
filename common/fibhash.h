/*
 * Fibonacci hashing: a key times 2^64 divided by the golden ratio, of
 * which the top bits are kept.  Keys that differ only in their low bits,
 * such as addresses a few cache lines apart, land far apart.
 */
#ifndef OTELSHIM_FIBHASH_H
#define OTELSHIM_FIBHASH_H

#include <stdint.h>

/* The top `bits` bits (1 to 64) of key's Fibonacci hash. */
static inline uint64_t fib_hash(uint64_t key, unsigned bits)
{
	return key * 0x9e3779b97f4a7c15u >> (64 - bits);
}

#endif
