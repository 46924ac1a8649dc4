/*-------------------------------------------------------------------------
 * unit.h
 *	  What every unit test program shares: CHECK, its counters, and a
 *	  deterministic random number generator (each program seeds its own,
 *	  so a failure reproduces).
 *
 * A program includes this once, checks with CHECK(cond, fmt, ...), and
 * ends with "return unit_report("test_x");", which prints one line
 * "test_x: N checks, N failures" and gives the exit status.
 *
 * IDENTIFICATION	test/unit/unit.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_UNIT_H
#define MANTIS_UNIT_H

#include <stdint.h>
#include <stdio.h>

static int	failures = 0;
static int	checks = 0;

#define CHECK(cond, ...) \
	do { \
		checks++; \
		if (!(cond)) { \
			failures++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

/* xorshift64*, from the seed the program sets */
static uint64_t rng_state;

static inline uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static inline int
unit_report(const char *program)
{
	printf("%s: %d checks, %d failures\n", program, checks, failures);
	return failures == 0 ? 0 : 1;
}

#endif							/* MANTIS_UNIT_H */
