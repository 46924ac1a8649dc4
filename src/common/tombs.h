/*-------------------------------------------------------------------------
 * common/tombs.h
 *	  The TOMBS frame of protocol 5 (common/tombs.c): the hash tombstones
 *	  of a repair answer or push, R7 of common/rules.h.  Its layout is in
 *	  common/frame.h, with the other frames.
 *
 * Pure C, as common/frame.h: no server headers, no allocation.
 *
 * IDENTIFICATION	src/common/tombs.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_TOMBS_H
#define MANTIS_TOMBS_H

#include "common/frame.h"
#include "common/rules.h"

/* A leaf's collapsed bound in a TOMBS frame */
typedef struct MantisTombBound
{
	uint16_t	leaf;			/* of MANTIS_DIGEST_GROUPS * _GROUP_LEAVES */
	MantisLeafBound bound;
} MantisTombBound;

/* the leaf of a record's hash: its low 16 bits (MANTIS_LEAVES, mantis.h) */
static inline int
mantis_tomb_leaf(uint64_t hash)
{
	return (int) (hash & (MANTIS_DIGEST_GROUPS * MANTIS_DIGEST_GROUP_LEAVES - 1));
}

/*
 * A TOMBS frame is built in place, as UPDATES: its head with both counts
 * 0 (MANTIS_FRAME_TOMBS_HEAD_SIZE bytes), then its records, then its
 * bounds, each MANTIS_TOMB_RECORD_SIZE or MANTIS_TOMB_BOUND_SIZE bytes,
 * then the counts set in the finished frame.  The header's version should
 * be 5 (the decoder refuses TOMBS of another).
 */
extern size_t mantis_frame_put_tombs_head(unsigned char *p, const MantisFrameHeader *h,
										  uint32_t round, uint16_t group);
extern unsigned char *mantis_tomb_put_record(unsigned char *p, const MantisRecordView *r);
extern unsigned char *mantis_tomb_put_bound(unsigned char *p, const MantisTombBound *b);
extern void mantis_frame_tombs_set_counts(unsigned char *frame, uint32_t records,
										  uint16_t bounds);

/* record i (< f->count), bound i (< f->nbounds) of a decoded TOMBS frame */
extern void mantis_frame_tomb(const MantisFrame *f, uint32_t i, MantisRecordView *out);
extern void mantis_frame_tomb_bound(const MantisFrame *f, uint16_t i, MantisTombBound *out);

#endif							/* MANTIS_TOMBS_H */
