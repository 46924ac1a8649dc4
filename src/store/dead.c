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
 * (put_apply()), insertion (a record at or below its leaf's bound joins
 * the bound at once) with collapse,
 * compaction by the sweep (store/sweep.c: on a server of protocol 5), hash
 * tombstones sent and taken (replication/tombs.c), and the copy and
 * merge of records and bounds for mantis_stores (store/dead_rows.c, for
 * persist/dead_rows.c),
 * collapse by the sweep below our members' least clock, and collection of
 * records and bounds (dead_sweep_partition()).  Monitoring: the counters of
 * StoreControl (records held, collapsed, leaves holding a bound, records
 * collected) that mantis_status shows, and a LOG line at the first
 * collapse of a run (dead_check_collapses()).
 *
 * Locking: a partition's table, and the bounds of its leaves, are guarded
 * by the partition's lock (partition_lock()): shared to find, exclusive to
 * change.  Plain stores and atomics only under it, as everywhere in the
 * store: nothing here allocates or raises an ERROR, and only
 * dead_check_collapses(), under no lock, logs.
 *
 * IDENTIFICATION	src/store/dead.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"

#include "mantis.h"
#include "clock.h"
#include "common/frame.h"
#include "common/records.h"
#include "common/snapshot.h"
#include "store/changes.h"
#include "store/dead.h"
#include "store/held.h"
#include "store/internal.h"

/* how long without a collapse before the next one is logged again */
#define COLLAPSE_LOG_QUIET_MS	(3600 * 1000)

/* a row's bound names its leaf (persist/dead_rows.c checks no more) */
StaticAssertDecl(MANTIS_SNAPSHOT_MAX_LEAVES == MANTIS_LEAVES,
				 "a bound's leaf in a row is one of the store's leaves");

/*
 * While the persistence worker loads rows into a store that holds only
 * what rows gave it (one that held nothing: a start, a crash restart; or
 * one not yet writable: a standby following its primary, a promoted
 * server merging the rows replayed last): the rows are the store's
 * history, and a register of theirs at or below its leaf's
 * bound is refused by no bound (dead_refuses()): it was held when the bound was
 * written, or it collapsed since, which the load sees by the rows' order
 * (mantis_store_dead_fold()).
 */
static bool dead_rows_trusted = false;

/* Set while the persistence worker loads rows it trusts (persist/load.c) */
void
mantis_store_dead_trust_rows(bool trusted)
{
	dead_rows_trusted = trusted;
}

/* Whether a load trusts the rows (mantis_store_dead_trust_rows()) */
bool
dead_rows_trusted_now(void)
{
	return dead_rows_trusted;
}

/*
 * Whether a record of the hash that our rows hold back for room (at load,
 * over mantis.max_dead_records: persist/dead_rows.c) is newer than a
 * peer's or a row's register of a key held nothing of: it refuses it as
 * it would loaded (only an older one: at an equal HLC the record would
 * compare fingerprints, which the held set does not keep; a copy of the
 * dead register itself serves nothing).  Without it a returning member's
 * old value of the deleted key was taken and served for as long as the
 * record stayed held back (TAP 058, 060).  Any budget, 0 included.
 */
static bool
dead_held_refuses(uint64 hash, const MantisHLC *hlc)
{
	MantisHLC	held;

	return mantis_held_dead(hash, &held) && mantis_hlc_cmp(&held, hlc) > 0;
}

/*
 * Whether a register from a peer or a row (put->hlc set), for a key with
 * no register held, is refused by a record of its hash (held, or held back
 * in our rows) or by its leaf's collapsed bound
 * (mantis_rules_record_refuses()): an older copy, or the same register,
 * of something dead here.
 */
bool
dead_refuses(uint64 hash, const StorePut *put)
{
	uint32		value_len = put->deleted ? 0 : put->value_len;
	uint64		expires_ms = put->deleted ? 0 : put->expires_ms;
	const MantisRecordView *rec;
	uint64		fingerprint;

	if (put->hlc == NULL)
		return false;
	if (dead_held_refuses(hash, put->hlc))
		return true;
	if (!dead_enabled())
		return false;
	rec = mantis_records_find(dead_table_of(hash), hash);
	fingerprint = register_fingerprint(hash, put->hlc, put->deleted, put->value, value_len,
									   expires_ms);
	return mantis_rules_record_refuses(false, rec,
									   dead_rows_trusted ? 0 : store_mem.leaf_bounds[leaf_of(hash)].bound_ts,
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
	if (!mantis_records_remove(dead_table_of(hash), hash, &gone))
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
 * *collapsed (if not NULL) counts a record collapsed.  Either marks the
 * leaf's bound changed: the next flush writes it (persist/dead_rows.c).
 * Until then the record is still in mantis_stores as a record or a dead
 * register, and a crash restart loads it so.
 */
bool
dead_insert(const MantisRecordView *rec, uint64 clock_ts, uint64 hole_ts, uint64 *collapsed)
{
	MantisRecordTable *t;
	MantisLeafBound *bound;

	if (!dead_enabled())
		return false;
	Assert(LWLockHeldByMeInMode(partition_lock(rec->hash), LW_EXCLUSIVE));
	t = dead_table_of(rec->hash);
	bound = &store_mem.leaf_bounds[leaf_of(rec->hash)];
	if (bound->bound_ts != 0 && rec->ts <= bound->bound_ts &&
		mantis_records_find(t, rec->hash) == NULL)
	{
		/*
		 * At or below its leaf's bound, which refuses all it would: it
		 * joins the bound at once.  (Records held may still lie below the
		 * bound: a collapse raises it to the record that came in first,
		 * not to the least, and those of its leaf that came in later stay
		 * records, in the digest as such, refusing as records do.)
		 */
		bound->fingerprint ^= rec->fingerprint;
		bound->death_ms = Max(bound->death_ms, rec->death_ms);
		dead_bound_changed(leaf_of(rec->hash));
		pg_atomic_fetch_add_u64(&store_mem.control->collapsed, 1);
		dead_least_lower(rec->hash, bound->bound_ts);
		if (collapsed)
			(*collapsed)++;
		return true;
	}
	if (mantis_records_find(t, rec->hash) == NULL)
	{
		const MantisRecordView *oldest = mantis_records_oldest(t);

		if (mantis_records_count(t) >= t->capacity)
		{
			MantisRecordView victim;
			MantisLeafBound *into;
			bool		had_bound;

			if (oldest == NULL)
				return false;	/* a budget of less than one record each */
			victim = *oldest;
			into = &store_mem.leaf_bounds[leaf_of(victim.hash)];
			had_bound = into->bound_ts != 0;
			if (!mantis_rules_collapse(into, &victim, clock_ts, hole_ts))
				return false;
			if (!had_bound)
				pg_atomic_fetch_add_u64(&store_mem.control->bounds, 1);
			(void) mantis_records_remove(t, victim.hash, NULL);
			dead_bound_changed(leaf_of(victim.hash));
			pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
			pg_atomic_fetch_add_u64(&store_mem.control->collapsed, 1);
			if (collapsed)
				(*collapsed)++;
			dead_least_lower(victim.hash, into->bound_ts);
		}
		pg_atomic_fetch_add_u64(&store_mem.control->records, 1);
	}
	if (!mantis_records_put(t, rec))
	{
		/* only a record with ts 0, which no HLC is: nothing was held */
		pg_atomic_fetch_sub_u64(&store_mem.control->records, 1);
		return false;
	}
	dead_least_lower(rec->hash, rec->ts);
	return true;
}

/* The record of a hash, copied to *out; false if none */
bool
dead_find(uint64 hash, MantisRecordView *out)
{
	const MantisRecordView *rec;

	if (!dead_enabled())
		return false;
	rec = mantis_records_find(dead_table_of(hash), hash);
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

/*
 * Log the first collapse of this server's run, and the first after an
 * hour without one: from then on R7's price of a full budget is paid (a
 * leaf's bound refuses old writes of keys held nothing of here).  Called
 * by the sweep (store/sweep.c) in the persistence worker alone, under no
 * lock (the one function here that may log); a collapse made by a
 * tombstone taken (the replication worker) is seen by the next sweep.
 */
void
dead_check_collapses(uint64 now_ms)
{
	StoreControl *ctl = store_mem.control;
	uint64		collapsed = pg_atomic_read_u64(&ctl->collapsed);
	uint64		seen_ms;

	if (!dead_enabled() || collapsed == pg_atomic_read_u64(&ctl->collapsed_seen))
		return;
	seen_ms = pg_atomic_read_u64(&ctl->collapsed_seen_ms);
	pg_atomic_write_u64(&ctl->collapsed_seen, collapsed);
	pg_atomic_write_u64(&ctl->collapsed_seen_ms, now_ms);
	if (seen_ms != 0 && now_ms < seen_ms + COLLAPSE_LOG_QUIET_MS)
		return;
	ereport(LOG,
			(errmsg("mantis collapsed records of dead registers into their leaves' bounds: the budget of records is full"),
			 errdetail("%llu records are held, room for %llu shared evenly by %d partitions (one whose share is full collapses); %llu collapsed since the server started. "
					   "A write older than the oldest record kept may now be refused, once this server holds nothing of its key: "
					   "one made while partitioned from this server, or unsent when its writer stopped.",
					   (unsigned long long) pg_atomic_read_u64(&ctl->records),
					   (unsigned long long) ((uint64) ((MantisRecordTable *) store_mem.dead_tables)->capacity *
											 MANTIS_PARTITIONS),
					   MANTIS_PARTITIONS, (unsigned long long) collapsed),
			 errhint("Raise \"mantis.max_dead_records\" (restart) if a peer is to be away longer than the budget lasts at this rate of deletions and expiries. "
					 "This is logged again after an hour without a collapse.")));
}

/* ---- collection (store/sweep.c) ---- */

/* The least HLC of a record or bound in a partition, PG_UINT64_MAX: none */
uint64
dead_partition_least(int partition)
{
	if (!dead_enabled())
		return PG_UINT64_MAX;
	return pg_atomic_read_u64(&store_mem.dead_least[partition]);
}

/* Note a collection for the refusal horizon's raise (store/collect.c) */
static void
note_collected(MantisSweepVerdict v, uint64 ts, MantisSweepStats *out)
{
	if (v == MANTIS_SWEEP_BY_LIFETIME)
	{
		out->lifetime_collected++;
		out->lifetime_max_ts = Max(out->lifetime_max_ts, ts);
	}
	else
		out->stable_max_ts = Max(out->stable_max_ts, ts);
}

/*
 * Collect a partition's records and bounds as its dead registers are
 * (R3 of common/rules.h): a record as the register it stands for (never
 * one whose key is held back in mantis_stores: the row would bring the
 * older register back, rows refusing nothing), a leaf's bound as one
 * register at the bound that died last (mantis_rules_bound_sweep()).  Each
 * leaves its leaf's digest, and the refusal horizon is raised past it
 * before the lock goes (sweep_raise_refusal()).  Sets the partition's least HLC again.  Under
 * the partition's lock, exclusive: a visit of its table's slots and its
 * leaves' bounds, plain stores only.
 */
void
dead_sweep_partition(int partition, const MantisSweepBounds *b, const MantisSweepHorizon *h,
					 MantisSweepStats *out)
{
	LWLock	   *lock = &store_mem.control->locks[partition].lock;
	MantisRecordTable *t;
	uint64		least = PG_UINT64_MAX;
	uint64		records = 0;
	uint64		bounds = 0;
	MantisSweepStats here = {0};	/* what this partition collects */

	if (!dead_enabled())
		return;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	t = (MantisRecordTable *) (store_mem.dead_tables + partition * store_mem.dead_stride);
	for (uint32 slot = 1; slot <= t->capacity; slot++)
	{
		const MantisRecordView *rec = mantis_records_at(t, slot);
		MantisDeadRegister dead;
		MantisSweepVerdict v;
		MantisRecordView gone;

		if (rec == NULL)
			continue;
		dead.hlc_ts = rec->ts;
		dead.death_ms = rec->death_ms;
		dead.owed = h->held_nkeys > 0 && sweep_hash_held_back(h, rec->hash);
		v = mantis_rules_sweep(&dead, b);
		if (v == MANTIS_SWEEP_KEEP)
		{
			least = Min(least, rec->ts);
			continue;
		}
		(void) mantis_records_remove(t, rec->hash, &gone);
		digest_toggle(gone.hash, gone.fingerprint);
		records++;
		note_collected(v, gone.ts, &here);
	}
	for (int leaf = partition; leaf < MANTIS_LEAVES; leaf += MANTIS_PARTITIONS)
	{
		MantisLeafBound *bound = &store_mem.leaf_bounds[leaf];
		MantisSweepVerdict v;

		if (bound->bound_ts == 0)
			continue;
		v = mantis_rules_bound_sweep(bound, b);
		if (v == MANTIS_SWEEP_KEEP)
		{
			least = Min(least, bound->bound_ts);
			continue;
		}
		digest_toggle((uint64) leaf, bound->fingerprint);
		bounds++;
		note_collected(v, bound->bound_ts, &here);
		memset(bound, 0, sizeof(*bound));
	}
	pg_atomic_write_u64(&store_mem.dead_least[partition], least);
	/* what mantis_status counts: held now, and collected since startup */
	pg_atomic_fetch_sub_u64(&store_mem.control->records, records);
	pg_atomic_fetch_add_u64(&store_mem.control->records_collected, records);
	pg_atomic_fetch_sub_u64(&store_mem.control->bounds, bounds);
	sweep_raise_refusal(h, &here);
	LWLockRelease(lock);
	out->lifetime_collected += here.lifetime_collected;
	out->lifetime_max_ts = Max(out->lifetime_max_ts, here.lifetime_max_ts);
	out->stable_max_ts = Max(out->stable_max_ts, here.stable_max_ts);
	out->records_collected += records;
	out->bounds_collected += bounds;
}

/*
 * The register held of a key's full hash, *link set to what links to it;
 * NULL if none.  A record knows its key by hash alone: two keys of one
 * hash are the price of R7 (common/rules.h).  Under the partition lock.
 */
StoreRegister *
dead_register_of_hash(uint64 hash, StoreRef **link)
{
	StoreRef   *prev = &store_mem.buckets[hash & store_mem.control->bucket_mask];

	while (*prev != InvalidStoreRef)
	{
		StoreRegister *reg = register_at(*prev);

		if (reg->hash == (uint32) hash && mantis_hash(reg->data, reg->key_len) == hash)
		{
			*link = prev;
			return reg;
		}
		prev = &reg->next;
	}
	return NULL;
}

/* ---- hash tombstones (protocol 5, replication/tombs.c) ---- */

/* a partition's table: for readers that take its lock themselves */
static inline const MantisRecordTable *
table_at(int partition)
{
	return (const MantisRecordTable *) (store_mem.dead_tables +
										partition * store_mem.dead_stride);
}

/*
 * The records and collapsed bounds of the leaves of a group that "wanted"
 * marks (MANTIS_DIGEST_GROUP_LEAVES flags, by leaf within the group), for
 * a repair answer or push: each partition's share copied under its lock
 * held shared into "buf" (room for mantis_store_dead_capacity() records),
 * and handed to the sink after the lock is released.  A group's leaves
 * lie in every partition (two each), so this visits the whole budget once.
 * Returns the records handed on.
 */
int
mantis_store_group_tombs(int group, const bool *wanted, MantisRecordView *buf,
						 const MantisTombSink *sink)
{
	int			total = 0;

	if (!dead_enabled())
		return 0;
	store_attach();
	for (int partition = 0; partition < MANTIS_PARTITIONS; partition++)
	{
		LWLock	   *lock = &store_mem.control->locks[partition].lock;
		const MantisRecordTable *t;
		MantisLeafBound bounds[2];
		int			leaves[2];
		int			nbounds = 0;
		uint32		n = 0;

		LWLockAcquire(lock, LW_SHARED);
		t = table_at(partition);
		for (uint32 slot = 1; slot <= t->capacity && mantis_records_count(t) > 0; slot++)
		{
			const MantisRecordView *rec = mantis_records_at(t, slot);
			int			leaf;

			if (rec == NULL)
				continue;
			leaf = leaf_of(rec->hash);
			if (leaf / MANTIS_DIGEST_GROUP_LEAVES == group &&
				wanted[leaf % MANTIS_DIGEST_GROUP_LEAVES])
				buf[n++] = *rec;
		}
		for (int half = 0; half < 2; half++)
		{
			int			leaf = group * MANTIS_DIGEST_GROUP_LEAVES + partition +
				half * MANTIS_PARTITIONS;

			if (wanted[leaf % MANTIS_DIGEST_GROUP_LEAVES] &&
				store_mem.leaf_bounds[leaf].bound_ts != 0)
			{
				leaves[nbounds] = leaf;
				bounds[nbounds++] = store_mem.leaf_bounds[leaf];
			}
		}
		LWLockRelease(lock);
		for (uint32 i = 0; i < n; i++)
			sink->record(&buf[i], sink->arg);
		for (int i = 0; i < nbounds; i++)
			sink->bound(leaves[i], &bounds[i], sink->arg);
		total += (int) n;
	}
	return total;
}

/*
 * A hash tombstone from a peer (R7, mantis_rules_tombstone()), through the
 * refusal horizon as a register is (read under the lock, store/write.c's
 * store_put(); refuse_collected false: nothing refused): kept as a record when
 * nothing of its hash is held, in place of an older register or record of
 * it, ignored when what is held is newer or the same HLC, or when its
 * leaf's bound covers it.  A register held that it does not replace gets
 * seen_flag (MANTIS_REG_SEEN: the peer holds something of it, R6).  A
 * record taken may collapse the oldest below collapse_ts and hole_ts to
 * make room; with none, NO_ROOM (no hole: R7).  Its fingerprint joins the
 * leaf's digest, what it replaces leaves it; and our clock moves past it,
 * as past a register merged (store/write.c), under the lock: a write of
 * its key that follows replaces the record only if newer (the frame's
 * header, beyond mantis.max_clock_offset, may have moved the clock not).
 */
MantisTombResult
mantis_store_tombstone(const MantisRecordView *t, bool refuse_collected, uint64 collapse_ts,
					   uint64 hole_ts, int seen_flag)
{
	LWLock	   *lock;
	StoreRegister *reg;
	StoreRef   *link;
	MantisRecordView old = {0};
	bool		record = false;
	MantisTombstoneAction act;
	MantisTombResult result = MANTIS_TOMB_TAKEN;

	if (!dead_enabled())
		return MANTIS_TOMB_NO_ROOM;
	store_attach();
	lock = partition_lock(t->hash);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = dead_register_of_hash(t->hash, &link);
	if (reg == NULL)
		record = dead_find(t->hash, &old);
	if (refuse_collected &&
		mantis_rules_refuse(reg != NULL, t->ts, mantis_store_refusal_horizon()))
	{
		/* its dead register was collected here: nothing to keep */
		LWLockRelease(lock);
		return MANTIS_TOMB_COLLECTED;
	}
	act = mantis_rules_tombstone(reg != NULL || record,
								 reg ? reg->hlc.ts : old.ts, reg ? reg->hlc.node : old.node,
								 store_mem.leaf_bounds[leaf_of(t->hash)].bound_ts, t);
	if (act == MANTIS_TOMB_IGNORE)
	{
		if (reg != NULL)
			reg->flags |= seen_flag;
		result = MANTIS_TOMB_STALE;
	}
	else if (!dead_insert(t, collapse_ts, hole_ts, NULL))
	{
		MantisHLC	held;
		MantisHLC	tomb = {t->ts, t->node};

		/*
		 * Nothing changed: a record replaces in place.  No room, unless our
		 * rows hold back its record, or a newer one, and nothing older is
		 * held here: that merges from them (store/held.c), as a register
		 * refused for room that our rows hold back is no hole; else every
		 * round would be tainted until room came, which the held-back
		 * records themselves may stop (TAP 060).
		 */
		if (reg == NULL && !record && mantis_held_dead(t->hash, &held) &&
			mantis_hlc_cmp(&held, &tomb) >= 0)
			result = MANTIS_TOMB_STALE;
		else
			result = MANTIS_TOMB_NO_ROOM;
	}
	else
	{
		if (reg != NULL)
		{
			MantisHLC	tomb = {t->ts, t->node};

			/* a feed reads it as the deletion it is (store/changes.c) */
			mantis_changes_note(reg->data, reg->key_len, &tomb, 0, MANTIS_CHANGE_DELETE);
			register_remove(link, reg, true);
		}
		else
		{
			/* the deletion of a key we do not know: no entry can name it */
			mantis_changes_keyless(t->ts);
			if (record)
				digest_toggle(t->hash, old.fingerprint);
		}
		digest_toggle(t->hash, t->fingerprint);
		/* a write of its key here must be newer (dead_supersede()) */
		mantis_clock_witness(t->ts);
	}
	LWLockRelease(lock);
	return result;
}
