/*-------------------------------------------------------------------------
 * store/dead_rows.c
 *	  Records of dead registers and leaves' collapsed bounds (store/dead.c,
 *	  R7 of common/rules.h) as mantis_stores takes and gives them
 *	  (persist/dead_rows.c): the copy a compaction writes, the bounds
 *	  changed since the last flush, which a flush writes, and their merge
 *	  when rows load.
 *
 * Changed bounds.  A collapse, or a record folded into its leaf's bound,
 * marks the leaf in store_mem.dead_changed (dead_bound_changed()); the
 * persistence worker takes the marks (mantis_store_dead_take_changed())
 * and writes each such leaf's whole bound in its next flush, giving the
 * marks back if the flush fails.  A bound collected is not written (a
 * bound of 0 is no bound the rows can carry): the rows keep the older one
 * until the next compaction, and a load merges it at or below the refusal
 * horizon, for the first sweep to collect again.
 *
 * Locking as in store/dead.c: a partition's table and its leaves' bounds
 * under the partition's lock.
 *
 * IDENTIFICATION	src/store/dead_rows.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"

#include "mantis.h"
#include "common/records.h"
#include "store/changes.h"
#include "store/dead.h"
#include "store/internal.h"

/*
 * Whether the store holds nothing: no register, no record, no bound (each
 * partition's least HLC of a record or bound is "none"; the sweep resets
 * it).  Such a store, as one not yet writable, takes the rows it loads as
 * its history (mantis_store_dead_trust_rows(), persist/load.c).
 */
bool
mantis_store_holds_nothing(void)
{
	store_attach();
	if (pg_atomic_read_u64(&store_mem.control->registers) != 0)
		return false;
	if (!dead_enabled())
		return true;
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
	{
		if (pg_atomic_read_u64(&store_mem.dead_least[p]) != PG_UINT64_MAX)
			return false;
	}
	return true;
}

/* ---- changed bounds ---- */

/* Add the leaves whose bound changed to *taken, and clear their marks */
void
mantis_store_dead_take_changed(MantisLeafSet *taken)
{
	if (!dead_enabled())
		return;
	store_attach();
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		if (pg_atomic_read_u32(&store_mem.dead_changed[w]) != 0)
			taken->words[w] |= pg_atomic_exchange_u32(&store_mem.dead_changed[w], 0);
	}
}

/* Mark again the leaves of *taken (a flush that failed) */
void
mantis_store_dead_give_back_changed(const MantisLeafSet *taken)
{
	if (!dead_enabled())
		return;
	store_attach();
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		if (taken->words[w] != 0)
			pg_atomic_fetch_or_u32(&store_mem.dead_changed[w], taken->words[w]);
	}
}

/* Whether a leaf's bound changed since the marks were last taken */
bool
mantis_store_dead_has_changed(void)
{
	if (!dead_enabled())
		return false;
	store_attach();
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		if (pg_atomic_read_u32(&store_mem.dead_changed[w]) != 0)
			return true;
	}
	return false;
}

/* A leaf's bound, copied under its partition's lock; false if none */
bool
mantis_store_dead_bound(int leaf, MantisLeafBound *out)
{
	LWLock	   *lock;

	if (!dead_enabled())
		return false;
	store_attach();
	lock = leaf_lock(leaf);
	LWLockAcquire(lock, LW_SHARED);
	*out = store_mem.leaf_bounds[leaf];
	LWLockRelease(lock);
	return out->bound_ts != 0;
}

/* ---- records and bounds for compactions and loads ---- */

/* Records a partition's table holds at most: 0 when records are off */
uint32
mantis_store_dead_capacity(void)
{
	if (!dead_enabled())
		return 0;
	return ((MantisRecordTable *) store_mem.dead_tables)->capacity;
}

/*
 * Copy a partition's records (room for mantis_store_dead_capacity()) and
 * the bounds of its leaves that have one (room for MANTIS_LEAVES /
 * MANTIS_PARTITIONS) under its lock held shared: plain stores only.
 * Returns the records copied; *nbounds is the bounds.
 */
uint32
mantis_store_dead_copy(int partition, MantisRecordView *recs, int *leaves,
					   MantisLeafBound *bounds, int *nbounds)
{
	LWLock	   *lock = &store_mem.control->locks[partition].lock;
	const MantisRecordTable *t;
	uint32		n = 0;

	*nbounds = 0;
	if (!dead_enabled())
		return 0;
	store_attach();
	LWLockAcquire(lock, LW_SHARED);
	t = (const MantisRecordTable *) (store_mem.dead_tables + partition * store_mem.dead_stride);
	for (uint32 slot = 1; slot <= t->capacity; slot++)
	{
		const MantisRecordView *rec = mantis_records_at(t, slot);

		if (rec != NULL)
			recs[n++] = *rec;
	}
	for (int leaf = partition; leaf < MANTIS_LEAVES; leaf += MANTIS_PARTITIONS)
	{
		if (store_mem.leaf_bounds[leaf].bound_ts == 0)
			continue;
		leaves[*nbounds] = leaf;
		bounds[(*nbounds)++] = store_mem.leaf_bounds[leaf];
	}
	LWLockRelease(lock);
	return n;
}

/* Whether an HLC (ts, node) is at or after another */
static inline bool
hlc_at_or_after(uint64 ts, uint64 node, uint64 than_ts, uint64 than_node)
{
	return ts > than_ts || (ts == than_ts && node >= than_node);
}

/* Whether an HLC (ts, node) is after another */
static inline bool
hlc_after(uint64 ts, uint64 node, uint64 than_ts, uint64 than_node)
{
	return ts > than_ts || (ts == than_ts && node > than_node);
}

/*
 * Hold a record of a row, nothing of its hash held (the caller holds its
 * partition's lock).  One at or below its leaf's bound was kept beside the
 * bound when its row was written (one that collapsed since was taken as
 * collapsed already, persist/dead_rows.c): it is held so again, a record
 * refusing and sent as a tombstone as before, while its partition has
 * room; else it joins the bound (dead_insert()), which refuses all it
 * would, and the load must take its further copies as in the bound (a
 * second join would take its fingerprint out of the bound again: JOINED).
 */
static MantisDeadLoad
hold_loaded(const MantisRecordView *rec)
{
	MantisRecordTable *t = dead_table_of(rec->hash);
	uint64		joined = 0;

	if (rec->ts <= store_mem.leaf_bounds[leaf_of(rec->hash)].bound_ts &&
		mantis_records_count(t) < t->capacity)
	{
		if (!mantis_records_put(t, rec))
			return MANTIS_DEAD_STALE;	/* ts 0, which no HLC is */
		pg_atomic_fetch_add_u64(&store_mem.control->records, 1);
		dead_least_lower(rec->hash, rec->ts);
		return MANTIS_DEAD_HELD;
	}
	if (!dead_insert(rec, 0, MANTIS_RULES_NO_HOLE, &joined))
		return MANTIS_DEAD_NO_ROOM;
	return joined > 0 ? MANTIS_DEAD_JOINED : MANTIS_DEAD_HELD;
}

/*
 * Merge a record of a row (persist/dead_rows.c): what a register or record
 * of its hash would do, by LWW.  A register or record of the hash at or
 * after it beats it (STALE); an older one is replaced by it, its
 * fingerprint leaving the digest and the record's joining.  One at or
 * below its leaf's bound with nothing of its hash held: in rows the load
 * trusts, a record kept beside the bound (hold_loaded()), its fingerprint
 * joining the digest; else, one of a row restored or added by hand, taken
 * as in the bound already (STALE).  NO_ROOM when the budget is full (or
 * records are off): a load collapses nothing (it knows no member's clock
 * yet, R3), and the row holds the record back, as a register with no room.
 */
MantisDeadLoad
mantis_store_dead_load(const MantisRecordView *rec)
{
	LWLock	   *lock;
	StoreRegister *reg;
	StoreRef   *link;
	MantisRecordView old;
	MantisDeadLoad result = MANTIS_DEAD_HELD;

	/* a death that enters without its key (store/changes.c) */
	mantis_changes_keyless(rec->ts);

	if (!dead_enabled())
		return MANTIS_DEAD_NO_ROOM;
	store_attach();
	lock = partition_lock(rec->hash);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = dead_register_of_hash(rec->hash, &link);
	if (reg != NULL)
	{
		if (hlc_at_or_after(reg->hlc.ts, reg->hlc.node, rec->ts, rec->node))
			result = MANTIS_DEAD_STALE;
		else if ((result = hold_loaded(rec)) == MANTIS_DEAD_HELD ||
				 result == MANTIS_DEAD_JOINED)
		{
			register_remove(link, reg, true);
			digest_toggle(rec->hash, rec->fingerprint);
		}
	}
	else if (dead_find(rec->hash, &old))
	{
		if (hlc_at_or_after(old.ts, old.node, rec->ts, rec->node))
			result = MANTIS_DEAD_STALE;
		else
		{
			(void) dead_insert(rec, 0, MANTIS_RULES_NO_HOLE, NULL);	/* replaces it */
			digest_toggle(rec->hash, old.fingerprint ^ rec->fingerprint);
		}
	}
	else if (!dead_rows_trusted_now() &&
			 rec->ts <= store_mem.leaf_bounds[leaf_of(rec->hash)].bound_ts)
		result = MANTIS_DEAD_STALE;
	else if ((result = hold_loaded(rec)) == MANTIS_DEAD_HELD ||
			 result == MANTIS_DEAD_JOINED)
		digest_toggle(rec->hash, rec->fingerprint);
	LWLockRelease(lock);
	return result;
}

/*
 * Merge a leaf's bound of a row, the rows' bounds taken first, oldest row
 * first (persist/load.c).  A bound is not a set of registers to merge by
 * XOR: the same bound loaded twice would be none, its fingerprint out of
 * the leaf's digest again.  A flush writes a leaf's whole bound each time
 * it changes (persist/dead_rows.c), and one leaf's bound is in several
 * rows (a compaction's and later flushes', a row held back beside later
 * ones, a standby following its primary, a row restored by hand).  So a
 * bound above the one held, or of its HLC and a death as late (a record
 * folded into it since), replaces the one held, its fingerprint in the
 * leaf's digest in place of the held one's; one below is covered, and the
 * same bound again changes nothing.  The bound held never goes down, nor
 * the latest death.  False when records are off: the row holds the bound
 * back.
 */
bool
mantis_store_dead_load_bound(int leaf, const MantisLeafBound *b)
{
	LWLock	   *lock;
	MantisLeafBound *held;

	/* a death that enters without its key (store/changes.c) */
	mantis_changes_keyless(b->bound_ts);

	if (!dead_enabled())
		return false;
	store_attach();
	lock = leaf_lock(leaf);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	held = &store_mem.leaf_bounds[leaf];
	if (held->bound_ts == 0 && b->bound_ts != 0)
		pg_atomic_fetch_add_u64(&store_mem.control->bounds, 1);
	if (b->bound_ts > held->bound_ts ||
		(b->bound_ts == held->bound_ts && b->death_ms >= held->death_ms))
	{
		digest_toggle((uint64) leaf, held->fingerprint ^ b->fingerprint);
		held->fingerprint = b->fingerprint;
		held->bound_ts = b->bound_ts;
	}
	held->death_ms = Max(held->death_ms, b->death_ms);
	dead_least_lower((uint64) leaf, held->bound_ts);
	LWLockRelease(lock);
	return true;
}

/*
 * At a load, a dead register or record of a row that lies at or below its
 * leaf's bound and in a row older than the newest that changed the bound
 * (persist/dead_rows.c) collapsed into it after that row was written: it is
 * not held again (its fingerprint is in the bound's), and what is held of
 * its hash that is no newer (a register or record of an older row) goes,
 * as it went when it died.  False, nothing done, when what is held of the
 * hash is newer.
 */
bool
mantis_store_dead_fold(uint64 hash, uint64 ts, uint64 node)
{
	LWLock	   *lock;
	StoreRegister *reg;
	StoreRef   *link;
	MantisRecordView old;
	bool		folded = true;

	/* a death that enters without its key (store/changes.c) */
	mantis_changes_keyless(ts);

	if (!dead_enabled())
		return false;
	store_attach();
	lock = partition_lock(hash);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = dead_register_of_hash(hash, &link);
	if (reg != NULL)
	{
		if (hlc_after(reg->hlc.ts, reg->hlc.node, ts, node))
			folded = false;
		else
			register_remove(link, reg, true);
	}
	else if (dead_find(hash, &old))
	{
		if (hlc_after(old.ts, old.node, ts, node))
			folded = false;
		else
		{
			(void) mantis_records_remove(dead_table_of(hash), hash, NULL);
			digest_toggle(hash, old.fingerprint);
			pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
		}
	}
	LWLockRelease(lock);
	return folded;
}
