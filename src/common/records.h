/*-------------------------------------------------------------------------
 * common/records.h
 *	  A fixed-size table of records (R7 of common/rules.h): dead registers
 *	  compacted to their key's hash, HLC, fingerprint and death, found by
 *	  hash, and kept in the order they came in so that the oldest is at
 *	  hand when the budget is full and one must collapse into its leaf's
 *	  bound.
 *
 * Pure C over memory the caller gives (store/dead.c places one table per
 * partition in shared memory, and guards it with the partition's lock):
 * no allocation, no server header, O(1) find, put, remove and oldest.
 * Links are 32-bit slot numbers (1-based, 0 for none), so a table holds
 * up to 2^32 - 2 records; a slot is 56 bytes, plus 4 bytes of bucket per
 * two slots.  Buckets are picked by the hash's high bits: the low bits of
 * every hash in one partition's table are the same (they pick the
 * partition and the leaf).
 *
 * Tested by test/unit/test_records.c against a plain model.
 *
 * IDENTIFICATION	src/common/records.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_RECORDS_H
#define MANTIS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rules.h"

typedef struct MantisRecordSlot
{
	MantisRecordView rec;		/* rec.ts == 0: a free slot */
	uint32_t	next;			/* in its bucket, or in the free list */
	uint32_t	older;			/* the order records came in */
	uint32_t	newer;
	uint32_t	pad;
} MantisRecordSlot;

typedef struct MantisRecordTable
{
	uint32_t	capacity;		/* slots */
	uint32_t	bucket_mask;	/* buckets - 1, a power of two less one */
	uint32_t	count;
	uint32_t	free;			/* first free slot, 0: full */
	uint32_t	oldest;			/* 0: empty */
	uint32_t	newest;
	/* then uint32_t buckets[bucket_mask + 1], MantisRecordSlot slots[capacity] */
} MantisRecordTable;

extern size_t mantis_records_size(uint32_t capacity);
extern MantisRecordTable *mantis_records_init(void *place, uint32_t capacity);
extern const MantisRecordView *mantis_records_find(const MantisRecordTable *t, uint64_t hash);
extern bool mantis_records_put(MantisRecordTable *t, const MantisRecordView *rec);
extern bool mantis_records_remove(MantisRecordTable *t, uint64_t hash, MantisRecordView *out);
extern const MantisRecordView *mantis_records_oldest(const MantisRecordTable *t);
extern const MantisRecordView *mantis_records_at(const MantisRecordTable *t, uint32_t slot);

static inline uint32_t
mantis_records_count(const MantisRecordTable *t)
{
	return t->count;
}

#endif							/* MANTIS_RECORDS_H */
