/*-------------------------------------------------------------------------
 * common/lww.c
 *	  The total order of registers that last-writer-wins merging uses.
 *
 * Pure functions only (see common/lww.h): no server headers, no allocation, no
 * global state, so that test/unit and test/fuzz can link this file alone.
 *
 * IDENTIFICATION	src/common/lww.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/lww.h"

/*
 * The total order of registers: by HLC, then (only two writes with the same
 * HLC, which honest nodes never make, get this far) a deletion before a
 * value, then by expiry (the earlier first, "never" last), then by value
 * length and bytes.  Distinct registers never compare
 * equal, so the merge below picks the same winner on every node whatever
 * the order in which they arrive.
 */
int
mantis_register_cmp(const MantisRegisterView *a, const MantisRegisterView *b)
{
	int			c = mantis_hlc_cmp(&a->hlc, &b->hlc);

	if (c != 0)
		return c;
	if (a->deleted != b->deleted)
		return a->deleted ? -1 : 1;
	if (a->expires_ms != b->expires_ms)
	{
		/* 0, "never", counts as after every time */
		if (a->expires_ms == 0 || b->expires_ms == 0)
			return a->expires_ms == 0 ? 1 : -1;
		return a->expires_ms < b->expires_ms ? -1 : 1;
	}
	if (a->value_len != b->value_len)
		return a->value_len < b->value_len ? -1 : 1;
	if (a->value_len == 0)
		return 0;
	c = memcmp(a->value, b->value, a->value_len);
	return (c > 0) - (c < 0);
}

/*
 * Last-writer-wins: of two registers for one key, the greater one.  It
 * returns one of its arguments, never a blend, so merging is commutative,
 * associative and idempotent (test/unit/test_lww.c checks all three).
 */
const MantisRegisterView *
mantis_lww_merge(const MantisRegisterView *a, const MantisRegisterView *b)
{
	return mantis_register_cmp(a, b) >= 0 ? a : b;
}
