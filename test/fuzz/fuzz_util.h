/*-------------------------------------------------------------------------
 * fuzz_util.h
 *	  Helpers shared by the libFuzzer harnesses: an invariant check that
 *	  aborts (so libFuzzer saves the input and prints a stack), reading every
 *	  byte of a span (so ASan sees any read outside the input), and "is this
 *	  span inside the input buffer".
 *
 * IDENTIFICATION	test/fuzz/fuzz_util.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_FUZZ_UTIL_H
#define MANTIS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* a broken invariant: say which, then die so that libFuzzer keeps the input */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
					__FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* the sum of all bytes read goes here, so the reads cannot be optimised out */
static volatile unsigned fuzz_sink;

static inline void
fuzz_touch(const void *p, size_t len)
{
	const unsigned char *b = p;
	unsigned	sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	fuzz_sink += sum;
}

/*
 * Whether [p, p + len) lies within [buf, buf + size).  Compared as integers:
 * relational operators on pointers to different objects are undefined.
 */
static inline int
fuzz_inside(const void *buf, size_t size, const void *p, size_t len)
{
	uintptr_t	lo = (uintptr_t) buf;
	uintptr_t	q = (uintptr_t) p;

	if (p == NULL || q < lo || q - lo > size)
		return 0;
	return len <= size - (q - lo);
}

#endif							/* MANTIS_FUZZ_UTIL_H */
