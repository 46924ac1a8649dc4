/*-------------------------------------------------------------------------
 * store/dead.h
 *	  Records of dead registers in shared memory (store/dead.c, R7 of
 *	  common/rules.h): for the files of the store alone, as internal.h.
 *
 * IDENTIFICATION	src/store/dead.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_STORE_DEAD_H
#define MANTIS_STORE_DEAD_H

#include "common/records.h"
#include "common/rules.h"
#include "store/internal.h"

/* under the key's partition lock (exclusive for the changes) */
extern MANTIS_PRIVATE bool dead_refuses(uint64 hash, const StorePut *put);
extern MANTIS_PRIVATE void dead_supersede(uint64 hash);
extern MANTIS_PRIVATE bool dead_insert(const MantisRecordView *rec, uint64 clock_ts,
									   uint64 hole_ts, uint64 *collapsed);
extern MANTIS_PRIVATE bool dead_find(uint64 hash, MantisRecordView *out);
extern MANTIS_PRIVATE void dead_leaf_bound(int leaf, MantisLeafBound *out);
extern MANTIS_PRIVATE StoreRegister *dead_register_of_hash(uint64 hash, StoreRef **link);

/* whether the persistence worker loads rows it trusts (mantis_store_dead_trust_rows()) */
extern MANTIS_PRIVATE bool dead_rows_trusted_now(void);

/* no lock: the sweep (store/sweep.c), each partition under its lock */
extern MANTIS_PRIVATE uint64 dead_count(void);
extern MANTIS_PRIVATE void dead_check_collapses(uint64 now_ms);
extern MANTIS_PRIVATE uint64 dead_partition_least(int partition);
extern MANTIS_PRIVATE void dead_sweep_partition(int partition, const MantisSweepBounds *b,
												const MantisSweepHorizon *h,
												MantisSweepStats *out);

/* Whether records are kept at all (mantis.max_dead_records > 0) */
static inline bool
dead_enabled(void)
{
	return store_mem.dead_tables != NULL;
}

/*
 * A leaf's bound changed: the next flush writes it (store/dead_rows.c).
 * Under the leaf's partition lock; the word is shared with other
 * partitions' leaves, hence the atomic.
 */
static inline void
dead_bound_changed(int leaf)
{
	pg_atomic_fetch_or_u32(&store_mem.dead_changed[leaf / 32], (uint32) 1 << (leaf % 32));
}

/* Note a record or bound at ts in a hash's partition; under its lock */
static inline void
dead_least_lower(uint64 hash, uint64 ts)
{
	pg_atomic_uint64 *least = &store_mem.dead_least[hash & (MANTIS_PARTITIONS - 1)];

	if (ts < pg_atomic_read_u64(least))
		pg_atomic_write_u64(least, ts);
}

/* The table of a hash's partition; the caller holds its lock */
static inline MantisRecordTable *
dead_table_of(uint64 hash)
{
	Assert(LWLockHeldByMe(partition_lock(hash)));
	return (MantisRecordTable *) (store_mem.dead_tables +
								  (hash & (MANTIS_PARTITIONS - 1)) * store_mem.dead_stride);
}

#endif							/* MANTIS_STORE_DEAD_H */
