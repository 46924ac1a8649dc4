/*-------------------------------------------------------------------------
 * store/dead.c
 *	  Records of dead registers in shared memory (R7 of common/rules.h):
 *	  a dead register compacted to its key's hash, HLC, fingerprint and
 *	  death, held off mantis.max_keys under a budget of its own
 *	  (mantis.max_dead_records), and the bound of each leaf into which
 *	  the oldest records collapse when the budget is full.
 *
 * Layout (store/store.c lays it out, so that the store's core calls
 * nothing here).  One table per partition (common/records.h), each with
 * room for mantis.max_dead_records / MANTIS_PARTITIONS records (rounded
 * up: keys spread evenly over the partitions, as their hashes do), then
 * MANTIS_LEAVES collapsed bounds (MantisLeafBound); all inside the store's
 * part of shared memory, before its DSA area, and absent when the budget
 * is 0 (store_mem.dead_tables is NULL, and every function here does
 * nothing).  A record's fingerprint stays in its leaf's digest: compacting
 * a register into one changes no digest, nor does collapsing one into the
 * bound; removing one takes it out (dead_supersede()).
 *
 * What is built (src/store/DEAD.md): the table, the refusal of a peer's or
 * a row's register by a record or a bound (store/write.c's store_put()),
 * the drop of a record that a newer register of its hash replaces
 * (put_apply()), and insertion with collapse.  What is not: compaction by
 * the sweep, collection of records and bounds, their rows, hash tombstones
 * in repair (protocol 5) and monitoring; until then nothing inserts, and
 * the table stays empty.
 *
 * Locking: a partition's table, and the bounds of its leaves, are guarded
 * by the partition's lock (partition_lock()): shared to find, exclusive to
 * change.  Plain stores and atomics only under it, as everywhere in the
 * store: nothing here allocates or raises an ERROR.
 *
 * IDENTIFICATION	src/store/dead.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"

#include "mantis.h"
#include "common/records.h"
#include "store/dead.h"
#include "store/internal.h"

/* The table of a hash's partition; the caller holds its lock */
static MantisRecordTable *
table_of(uint64 hash)
{
	Assert(LWLockHeldByMe(partition_lock(hash)));
	return (MantisRecordTable *) (store_mem.dead_tables +
								  (hash & (MANTIS_PARTITIONS - 1)) * store_mem.dead_stride);
}

/*
 * Whether a register from a peer or a row (put->hlc set), for a key with
 * no register held, is refused by a record of its hash or by its leaf's
 * collapsed bound (mantis_rules_record_refuses()): an older copy, or the
 * same register, of something dead here.
 */
bool
dead_refuses(uint64 hash, const StorePut *put)
{
	uint32		value_len = put->deleted ? 0 : put->value_len;
	uint64		expires_ms = put->deleted ? 0 : put->expires_ms;
	const MantisRecordView *rec;
	uint64		fingerprint;

	if (!dead_enabled() || put->hlc == NULL)
		return false;
	rec = mantis_records_find(table_of(hash), hash);
	fingerprint = register_fingerprint(hash, put->hlc, put->deleted, put->value, value_len,
									   expires_ms);
	return mantis_rules_record_refuses(false, rec, store_mem.leaf_bounds[leaf_of(hash)].bound_ts,
									   put->hlc->ts, put->hlc->node, fingerprint);
}

/*
 * A register of the hash is written where none was held: it replaces the
 * record of its hash, if any (a local write is newer than every record,
 * whose HLC the clock witnessed; a peer's or a row's passed
 * dead_refuses()).  The record leaves the table and its leaf's digest, as
 * the dead register it stands for would.
 */
void
dead_supersede(uint64 hash)
{
	MantisRecordView gone;

	if (!dead_enabled())
		return;
	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	if (!mantis_records_remove(table_of(hash), hash, &gone))
		return;
	digest_toggle(hash, gone.fingerprint);
	pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
}

/*
 * Hold a record (a register compacted, or a hash tombstone taken), making
 * room when the partition's share of the budget is full by collapsing its
 * oldest record into that record's leaf's bound (mantis_rules_collapse():
 * below clock_ts, the least clock among ours and our members', and below
 * hole_ts, our least hole).  False, and nothing held, when there is no
 * room and the oldest may not collapse: the caller keeps the register in
 * full, or refuses the tombstone (no hole: R7).  The digest is the
 * caller's: a compacted register's fingerprint stays, a tombstone's joins.
 */
bool
dead_insert(const MantisRecordView *rec, uint64 clock_ts, uint64 hole_ts)
{
	MantisRecordTable *t;

	if (!dead_enabled())
		return false;
	Assert(LWLockHeldByMeInMode(partition_lock(rec->hash), LW_EXCLUSIVE));
	t = table_of(rec->hash);
	if (mantis_records_find(t, rec->hash) == NULL)
	{
		const MantisRecordView *oldest = mantis_records_oldest(t);

		if (mantis_records_count(t) >= t->capacity)
		{
			MantisRecordView victim;

			if (oldest == NULL)
				return false;	/* a budget of less than one record each */
			victim = *oldest;
			if (!mantis_rules_collapse(&store_mem.leaf_bounds[leaf_of(victim.hash)], &victim,
									   clock_ts, hole_ts))
				return false;
			(void) mantis_records_remove(t, victim.hash, NULL);
			pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
			pg_atomic_fetch_add_u64(&store_mem.control->collapsed, 1);
		}
		pg_atomic_fetch_add_u64(&store_mem.control->records, 1);
	}
	if (!mantis_records_put(t, rec))
	{
		/* only a record with ts 0, which no HLC is: nothing was held */
		pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
		return false;
	}
	return true;
}

/* The record of a hash, copied to *out; false if none */
bool
dead_find(uint64 hash, MantisRecordView *out)
{
	const MantisRecordView *rec;

	if (!dead_enabled())
		return false;
	rec = mantis_records_find(table_of(hash), hash);
	if (rec != NULL)
		*out = *rec;
	return rec != NULL;
}

/* A leaf's collapsed bound; the caller holds its partition's lock */
void
dead_leaf_bound(int leaf, MantisLeafBound *out)
{
	Assert(LWLockHeldByMe(leaf_lock(leaf)));
	if (!dead_enabled())
		memset(out, 0, sizeof(*out));
	else
		*out = store_mem.leaf_bounds[leaf];
}

/* Records held, for monitoring (no lock: a moment's count) */
uint64
dead_count(void)
{
	return pg_atomic_read_u64(&store_mem.control->records);
}
