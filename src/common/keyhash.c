/*-------------------------------------------------------------------------
 * common/keyhash.c
 *	  The 64-bit key hash every node computes alike.
 *
 * The key hash must be the same on every node whatever its CPU, because
 * peers compare digests of hash buckets during repair; it reads bytes
 * explicitly in little-endian order and never depends on alignment.  Pure
 * C, linked alone by test/unit and test/fuzz.
 *
 * IDENTIFICATION	src/common/keyhash.c
 *-------------------------------------------------------------------------
 */
#include "common/keyhash.h"

/*
 * 64-bit hash of a byte string, in the manner of xxHash64 (multiply-rotate
 * rounds over 8-byte little-endian words, then a final avalanche).  Used for
 * hash-table placement, repair digests and node ids, so it is part of the
 * wire contract: changing it needs a protocol version bump.
 */
#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)
#define P4 UINT64_C(0x85EBCA77C2B2AE63)
#define P5 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
load_le64(const unsigned char *p)
{
	return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 |
		(uint64_t) p[3] << 24 | (uint64_t) p[4] << 32 |
		(uint64_t) p[5] << 40 | (uint64_t) p[6] << 48 | (uint64_t) p[7] << 56;
}

uint64_t
mantis_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t
mantis_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t	h = P5 + (uint64_t) len;

	while (len >= 8)
	{
		uint64_t	k = load_le64(p);

		k *= P2;
		k = rotl64(k, 31);
		k *= P1;
		h ^= k;
		h = rotl64(h, 27) * P1 + P4;
		p += 8;
		len -= 8;
	}
	while (len > 0)
	{
		h ^= (uint64_t) (*p) * P5;
		h = rotl64(h, 11) * P1;
		p++;
		len--;
	}
	return mantis_mix64(h);
}
