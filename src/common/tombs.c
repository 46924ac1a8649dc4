/*-------------------------------------------------------------------------
 * common/tombs.c
 *	  The TOMBS frame of protocol 5: the encoder beside the decoder (which
 *	  common/frame.c's mantis_frame_decode() calls for a frame of version 5
 *	  and type TOMBS), and the readers of its records and bounds.
 *
 * Pure C: no server headers, no allocation.  The decoder trusts nothing,
 * as common/frame.c's: the counts must account for every byte that
 * remains, each record's hash and each bound's leaf must lie in the
 * frame's group, and no HLC, bound or death may be 0 where the rules read
 * one, or past the last of 9999.
 *
 * Tested by test/unit/test_frame.c (round trip, every cut, each check) and
 * fuzzed by test/fuzz/fuzz_frame.c.
 *
 * IDENTIFICATION	src/common/tombs.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/tombs.h"

_Static_assert(MANTIS_FRAME_TOMBS_HEAD_SIZE == MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 4 + 2,
			   "tombs head: header, round, group, record count, bound count");
_Static_assert(MANTIS_TOMB_RECORD_SIZE == 5 * 8,
			   "tomb record: hash, HLC time, HLC node, fingerprint, death");
_Static_assert(MANTIS_TOMB_BOUND_SIZE == 2 + 3 * 8,
			   "tomb bound: leaf, bound, fingerprint, latest death");

_Static_assert(MANTIS_FRAME_VERSION_TOMBS == MANTIS_RULES_RECORDS_PROTOCOL,
			   "the first protocol of R7 is the first with TOMBS");

#define TOMBS_COUNT_AT		(MANTIS_FRAME_HEADER_SIZE + 4 + 2)

size_t
mantis_frame_put_tombs_head(unsigned char *p, const MantisFrameHeader *h,
							uint32_t round, uint16_t group)
{
	(void) mantis_frame_put_header(p, MANTIS_FRAME_TOMBS, h);
	mantis_put_u32(p + MANTIS_FRAME_HEADER_SIZE, round);
	mantis_put_u16(p + MANTIS_FRAME_HEADER_SIZE + 4, group);
	mantis_frame_tombs_set_counts(p, 0, 0);
	return MANTIS_FRAME_TOMBS_HEAD_SIZE;
}

unsigned char *
mantis_tomb_put_record(unsigned char *p, const MantisRecordView *r)
{
	mantis_put_u64(p, r->hash);
	mantis_put_u64(p + 8, r->ts);
	mantis_put_u64(p + 16, r->node);
	mantis_put_u64(p + 24, r->fingerprint);
	mantis_put_u64(p + 32, r->death_ms);
	return p + MANTIS_TOMB_RECORD_SIZE;
}

unsigned char *
mantis_tomb_put_bound(unsigned char *p, const MantisTombBound *b)
{
	mantis_put_u16(p, b->leaf);
	mantis_put_u64(p + 2, b->bound.bound_ts);
	mantis_put_u64(p + 10, b->bound.fingerprint);
	mantis_put_u64(p + 18, b->bound.death_ms);
	return p + MANTIS_TOMB_BOUND_SIZE;
}

void
mantis_frame_tombs_set_counts(unsigned char *frame, uint32_t records, uint16_t bounds)
{
	mantis_put_u32(frame + TOMBS_COUNT_AT, records);
	mantis_put_u16(frame + TOMBS_COUNT_AT + 4, bounds);
}

/* reading: the caller's frame was decoded, so every entry is whole */

static void
get_record(const unsigned char *p, MantisRecordView *out)
{
	out->hash = mantis_get_u64(p);
	out->ts = mantis_get_u64(p + 8);
	out->node = mantis_get_u64(p + 16);
	out->fingerprint = mantis_get_u64(p + 24);
	out->death_ms = mantis_get_u64(p + 32);
}

static void
get_bound(const unsigned char *p, MantisTombBound *out)
{
	out->leaf = mantis_get_u16(p);
	out->bound.bound_ts = mantis_get_u64(p + 2);
	out->bound.fingerprint = mantis_get_u64(p + 10);
	out->bound.death_ms = mantis_get_u64(p + 18);
}

void
mantis_frame_tomb(const MantisFrame *f, uint32_t i, MantisRecordView *out)
{
	get_record(f->tombs + (size_t) i * MANTIS_TOMB_RECORD_SIZE, out);
}

void
mantis_frame_tomb_bound(const MantisFrame *f, uint16_t i, MantisTombBound *out)
{
	get_bound(f->tombs + (size_t) f->count * MANTIS_TOMB_RECORD_SIZE +
			  (size_t) i * MANTIS_TOMB_BOUND_SIZE, out);
}

/* whether an HLC time, a bound, is one the rules may read */
static inline int
hlc_valid(uint64_t ts)
{
	return ts != 0 && mantis_hlc_ms(ts) <= MANTIS_HLC_MAX_MS;
}

/*
 * The body of a TOMBS frame (the header decoded: p is past it).  Sets
 * round, group, count (records), nbounds and tombs.
 */
const char *
mantis_frame_decode_tombs(const unsigned char *p, const unsigned char *end, MantisFrame *f)
{
	size_t		rest = (size_t) (end - p);
	const unsigned char *q;

	if (rest < MANTIS_FRAME_TOMBS_HEAD_SIZE - MANTIS_FRAME_HEADER_SIZE)
		return "tombs header truncated";
	f->round = mantis_get_u32(p);
	f->group = mantis_get_u16(p + 4);
	f->count = mantis_get_u32(p + 6);
	f->nbounds = mantis_get_u16(p + 10);
	if (f->group >= MANTIS_DIGEST_GROUPS)
		return "invalid group";
	p += MANTIS_FRAME_TOMBS_HEAD_SIZE - MANTIS_FRAME_HEADER_SIZE;
	rest = (size_t) (end - p);
	/* no product of an untrusted count before it is bounded */
	if (f->count > rest / MANTIS_TOMB_RECORD_SIZE)
		return "tombstone count larger than the frame";
	if (rest != (size_t) f->count * MANTIS_TOMB_RECORD_SIZE +
		(size_t) f->nbounds * MANTIS_TOMB_BOUND_SIZE)
		return "tombstone counts do not match the frame";
	if (f->nbounds > MANTIS_DIGEST_GROUP_LEAVES)
		return "more bounds than the group has leaves";
	q = p;
	for (uint32_t i = 0; i < f->count; i++, q += MANTIS_TOMB_RECORD_SIZE)
	{
		MantisRecordView r;

		get_record(q, &r);
		if (mantis_tomb_leaf(r.hash) / MANTIS_DIGEST_GROUP_LEAVES != f->group)
			return "tombstone outside its group";
		if (!hlc_valid(r.ts))
			return "tombstone clock 0 or beyond year 9999";
		if (r.death_ms > MANTIS_HLC_MAX_MS)
			return "tombstone death beyond year 9999";
	}
	for (uint16_t i = 0; i < f->nbounds; i++, q += MANTIS_TOMB_BOUND_SIZE)
	{
		MantisTombBound b;

		get_bound(q, &b);
		if (b.leaf / MANTIS_DIGEST_GROUP_LEAVES != f->group)
			return "bound outside its group";
		if (!hlc_valid(b.bound.bound_ts))
			return "bound 0 or beyond year 9999";
		if (b.bound.death_ms > MANTIS_HLC_MAX_MS)
			return "bound death beyond year 9999";
	}
	f->tombs = p;
	f->end = end;
	return NULL;
}
