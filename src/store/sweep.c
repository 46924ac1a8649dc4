/*-------------------------------------------------------------------------
 * store/sweep.c
 *	  The local sweep: collecting expired registers and deletion markers
 *	  once every server that could hold an older copy of their key has
 *	  seen them; and adoption, which gives up what a peer collected.
 *
 * A dead register (a deletion marker, or a value whose expiry has passed)
 * stays in the store after it dies: it protects its key against older
 * copies still on their way from peers or in mantis_stores.  The sweep
 * removes it once the caller's horizon says that is safe: its HLC is at or
 * before stable_ts (every member has everything up to there), or its death
 * is at or before lifetime_ts (older than any copy may live); and in both
 * cases only below hole_ts (no register refused here lies under it): the
 * rules R3 and R5 of common/rules.h, decided by mantis_rules_sweep().  It
 * never removes a register that the
 * persistence or replication worker still owes to its table or to its
 * peers (flagged UNFLUSHED or UNSENT): the marker must reach them first,
 * or an older copy there would come back.  (UNFLUSHED is cleared only by
 * a flush, so while persistence is not running at all, waiting for
 * CREATE EXTENSION or for a database that does not exist, nothing is
 * collected: rows that could come back with the extension, a restored
 * dump, may hold older values of those keys.)
 *
 * Finding the work without scanning the store: each digest leaf keeps the
 * time it is next due (StoreLeaf's due, store/internal.h), the earliest
 * expiry of its live registers that have one, and the least HLC of the
 * dead registers it holds (its dead): deletion markers, and the
 * expired registers a visit kept.  PG_UINT64_MAX for none.  Every write
 * lowers them in O(1) under the partition lock (leaf_due_lower(),
 * leaf_dead_lower(), store/internal.h); the sweep visits only the leaves
 * where an expiry has passed or whose least dead HLC a bound of this sweep
 * reaches (is_due()), and recomputes both exactly; it finds them through a
 * summary of each MANTIS_SWEEP_GROUP leaves (store_mem.group_due,
 * group_dead: at most their least), so a sweep with little due reads
 * little more than the summaries.  A dead register
 * waiting for the horizon costs nothing until the horizon passes it: the
 * sweep's work is what is due, not what is held.  A write that replaces
 * an expiring register with one that never expires leaves the leaf due
 * early; the visit that finds nothing to do puts it right.
 *
 * Compaction (R7 of common/rules.h, store/dead.c).  A dead register the
 * sweep keeps, owed nothing, dead at or before the caller's compaction
 * bound (MantisSweepHorizon.compact_ms, store/collect.c), becomes a record
 * of its key's hash, HLC, fingerprint and death, off mantis.max_keys: it
 * leaves its bucket but not the digest (the record keeps its
 * fingerprint).  With no room under mantis.max_dead_records it stays in
 * full, and the partition is not tried again in this sweep.  The rows of
 * mantis_stores hold it in full until a compaction writes its record
 * (persist/dead_rows.c).
 *
 * Collecting a register unlinks it from its bucket, takes its fingerprint
 * out of its leaf's digest (so peers' repair sees the difference until they
 * collect it too, and refuses their copies: StorePut.refuse_collected), and
 * gives back its slot under mantis.max_keys and its memory.  It is done
 * under the partition lock held exclusively, with plain stores, atomics
 * and dsa_free(), which store/store.c's locking rules allow under it.
 *
 * Adoption (the rule R6 of common/rules.h, replication/repair.c) drops
 * live registers a peer collected the deaths of: our rows still hold them,
 * and dropped from memory at once, they would come back with a crash
 * restart before a compaction rewrote the rows, and be read again (for
 * ever, while a member stays down: no round adopts them again).  So an
 * adoption is durable before it is visible.  mantis_store_adopt_leaf()
 * only flags a register ADOPTED: every reader, digest, count and repair
 * still sees it, and a write or merge that replaces it clears the flag.
 * A compaction's scan (mantis_store_scan_compaction()) leaves them out of
 * its snapshot and flags them COVERED under the same hold of their lock;
 * once its transaction has committed, the persistence worker raises the
 * refusal horizon (its rows carry the raise) and mantis_store_drop_covered()
 * drops them (persist/flush.c).  A compaction that fails leaves them
 * flagged, and the next one covers them again.  Why not hide them at once
 * and drop them later: hidden before the rows forget them, they would come
 * back into view with a crash restart.  So readers keep seeing a value
 * until its absence is durable, and never see it again after.
 *
 * IDENTIFICATION	src/store/sweep.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "common/keyhash.h"
#include "common/rules.h"
#include "store/changes.h"
#include "store/dead.h"
#include "store/internal.h"
#include "store/store.h"

/* What the workers still owe a register: while flagged, it is kept. */
#define OWED_FLAGS	(MANTIS_REG_UNFLUSHED | MANTIS_REG_UNSENT)

/*
 * Whether a register of this key is held back in mantis_stores (not
 * loaded: over this server's limits, or no room): its dead register here
 * must outlive it, or the held-back value would come back when it merges.
 */
static bool
key_held_back(const MantisSweepHorizon *h, const StoreRegister *reg)
{
	return h->held_nkeys > 0 &&
		sweep_hash_held_back(h, mantis_hash(reg->data, reg->key_len));
}

/*
 * The expired registers the sweep holds, per leaf and in all, as of its
 * last visit of each leaf: in the sweeping process's memory (the
 * persistence worker's), for mantis_status's expired_keys.  A write that
 * replaces an expired register, or a compaction's drop of one, sets its
 * leaf's least dead HLC to 0 (store/write.c, mantis_store_drop_covered()),
 * so the next sweep visits the leaf and counts again.  A new process
 * counts every leaf that holds anything dead once ("counted_all").
 */
static uint16 *leaf_expired = NULL;
static uint64 expired_total = 0;
static bool counted_all = false;

/*
 * The partitions whose share of mantis.max_dead_records this sweep found
 * full: it compacts no more there (is_due() visits no leaf for it), so that
 * a full budget costs a sweep one failed insert per partition, not a visit
 * of every dead register past the grace.
 */
static bool compact_full[MANTIS_PARTITIONS];

/*
 * Compact a dead register kept into a record (R7 of common/rules.h,
 * store/dead.c), if the rule lets it and the partition's budget has room:
 * it leaves the registers (and max_keys), its fingerprint staying in the
 * leaf's digest as the record's.  A full budget collapses the partition's
 * oldest record below h->collapse_ts (store/collect.c), counted in
 * *collapsed.  True if it went; *link then links the next register.
 */
static bool
compact_register(StoreRef *link, StoreRegister *reg, const MantisDeadRegister *dead,
				 const MantisSweepHorizon *h, const MantisSweepBounds *bounds,
				 uint64 *collapsed)
{
	MantisRecordView rec;
	int			partition;

	if (h->compact_ms == 0 || !mantis_rules_compact(dead, h->compact_ms, h->compact_protocol))
		return false;
	rec.hash = mantis_hash(reg->data, reg->key_len);
	partition = (int) (rec.hash & (MANTIS_PARTITIONS - 1));
	if (compact_full[partition])
		return false;
	rec.ts = reg->hlc.ts;
	rec.node = reg->hlc.node;
	rec.fingerprint = held_fingerprint(rec.hash, reg);
	rec.death_ms = dead->death_ms;
	if (!dead_insert(&rec, h->collapse_ts, bounds->hole_ts, collapsed))
	{
		compact_full[partition] = true;
		return false;
	}
	register_remove(link, reg, false);
	return true;
}

/*
 * Sweep one leaf: collect what the horizon allows, count what stays, and
 * set the leaf's due time and least dead HLC from what is left.
 */
static void
sweep_leaf(int leaf, const MantisSweepHorizon *h, const MantisSweepBounds *bounds,
		   MantisSweepStats *out)
{
	LWLock	   *lock = leaf_lock(leaf);
	uint64		due = PG_UINT64_MAX;
	uint64		dead_ts = PG_UINT64_MAX;
	uint32		expired = 0;
	MantisSweepStats here = {0};	/* what this leaf collects */

	LWLockAcquire(lock, LW_EXCLUSIVE);
	for (uint64 bucket = leaf; bucket <= store_mem.control->bucket_mask; bucket += MANTIS_LEAVES)
	{
		StoreRef   *link = &store_mem.buckets[bucket];

		while (*link != InvalidStoreRef)
		{
			StoreRegister *reg = register_at(*link);
			bool		deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
			MantisDeadRegister dead;
			MantisSweepVerdict verdict;

			if (!deleted && register_expires(reg) == 0)
			{
				link = &reg->next;
				continue;
			}
			if (!deleted && register_expires(reg) > h->now_ms)
			{
				due = Min(due, register_expires(reg));
				link = &reg->next;
				continue;
			}

			/*
			 * An expiry before the write's own HLC (a long transaction, a
			 * clock behind the HLC, or a peer's register) dies at its HLC:
			 * the refusal horizon, raised by what the lifetime collects,
			 * must stay a lifetime behind the clock, or we would refuse
			 * (and peers adopt away) registers written since.
			 */
			dead.hlc_ts = reg->hlc.ts;
			dead.death_ms = mantis_hlc_ms(reg->hlc.ts);
			if (!deleted)
				dead.death_ms = Max(dead.death_ms, register_expires(reg));
			dead.owed = (reg->flags & OWED_FLAGS) != 0 || key_held_back(h, reg);
			if (!deleted && (reg->flags & MANTIS_REG_EXPIRY_LOGGED) == 0)
			{
				/* a feed reads the expiry as a deletion (store/changes.c) */
				mantis_changes_note(reg->data, reg->key_len, &reg->hlc,
									register_expires(reg), MANTIS_CHANGE_EXPIRED);
				reg->flags |= MANTIS_REG_EXPIRY_LOGGED;
			}
			verdict = mantis_rules_sweep(&dead, bounds);
			if (verdict != MANTIS_SWEEP_KEEP)
			{
				if (deleted)
					out->collected_deletions++;
				else
					out->collected_expired++;
				if (verdict == MANTIS_SWEEP_BY_LIFETIME)
				{
					out->lifetime_collected++;
					here.lifetime_max_ts = Max(here.lifetime_max_ts, reg->hlc.ts);
				}
				else
					here.stable_max_ts = Max(here.stable_max_ts, reg->hlc.ts);
				register_remove(link, reg, true);	/* *link is the next one now */
				continue;
			}
			if (compact_register(link, reg, &dead, h, bounds, &out->collapsed))
			{
				out->compacted++;
				continue;
			}
			if (deleted)
				out->deleted_held++;
			else
			{
				out->expired_held++;
				expired++;
			}
			dead_ts = Min(dead_ts, reg->hlc.ts);
			link = &reg->next;
		}
	}
	pg_atomic_write_u64(&store_leaf(leaf)->due, due);
	pg_atomic_write_u64(&store_leaf(leaf)->dead, dead_ts);
	sweep_raise_refusal(h, &here);
	LWLockRelease(lock);
	out->lifetime_max_ts = Max(out->lifetime_max_ts, here.lifetime_max_ts);
	out->stable_max_ts = Max(out->stable_max_ts, here.stable_max_ts);
	expired = Min(expired, PG_UINT16_MAX);
	expired_total += expired;
	expired_total -= Min(expired_total, leaf_expired[leaf]);
	leaf_expired[leaf] = (uint16) expired;
}

/*
 * Whether a leaf, or a group of them, may hold something to do, from its
 * next due time and least dead HLC (read without a lock: a value a moment
 * old only moves the visit to the next sweep).  A live register's expiry
 * has passed; or the least HLC of its dead registers is one that a bound
 * of this sweep can collect: below the least hole, and at or below the
 * horizon, or of a millisecond the lifetime has passed (a register's death
 * is never before its HLC's millisecond).  What is kept for other reasons
 * (owed to a worker, its key held back) is visited again at every sweep
 * while a bound covers it: until the flush that clears it, or the row that
 * merges.
 */
static bool
is_due(uint64 due_ms, uint64 dead_ts, const MantisSweepHorizon *h, const MantisSweepBounds *b,
	   int leaf)
{
	if (due_ms <= h->now_ms)
		return true;
	if (dead_ts == PG_UINT64_MAX)
		return false;
	if (!counted_all)
		return true;
	/* a dead register past the compaction bound (R7), its budget not full */
	if (h->compact_ms != 0 && mantis_hlc_ms(dead_ts) <= h->compact_ms &&
		(leaf < 0 || !compact_full[leaf & (MANTIS_PARTITIONS - 1)]))
		return true;
	if (dead_ts >= b->hole_ts)
		return false;
	return dead_ts <= b->horizon_ts ||
		(b->lifetime_ms != 0 && mantis_hlc_ms(dead_ts) <= b->lifetime_ms);
}

/*
 * Sweep the leaves of one group that are due, and set the group's summary
 * again.  It is reset before its leaves are read, and lowered to their
 * least after: a write that lowers a leaf lowers the group after it, with
 * a full barrier between its store to the leaf and its read of the group
 * (leaf_due_lower()), and the reset is a full barrier before our read of
 * the leaf; so either the write's read of the group sees the reset (and
 * lowers it again), or our read of the leaf sees the leaf lowered.  Either
 * way the summary is never above a leaf's value.
 */
static void
sweep_group(int group, const MantisSweepHorizon *h, const MantisSweepBounds *b,
			MantisSweepStats *out)
{
	uint64		due = PG_UINT64_MAX;
	uint64		dead = PG_UINT64_MAX;

	(void) pg_atomic_exchange_u64(&store_mem.group_due[group], PG_UINT64_MAX);
	(void) pg_atomic_exchange_u64(&store_mem.group_dead[group], PG_UINT64_MAX);
	for (int leaf = group * MANTIS_SWEEP_GROUP; leaf < (group + 1) * MANTIS_SWEEP_GROUP; leaf++)
	{
		StoreLeaf  *l = store_leaf(leaf);

		if (is_due(pg_atomic_read_u64(&l->due), pg_atomic_read_u64(&l->dead), h, b, leaf))
		{
			sweep_leaf(leaf, h, b, out);
			out->leaves_visited++;
		}
		due = Min(due, pg_atomic_read_u64(&l->due));
		dead = Min(dead, pg_atomic_read_u64(&l->dead));
	}
	atomic_lower(&store_mem.group_due[group], due);
	atomic_lower(&store_mem.group_dead[group], dead);
}

/*
 * Collect the records of dead registers and the collapsed bounds (R7,
 * store/dead.c) of each partition whose least HLC a bound of this sweep
 * reaches (as is_due() for a leaf's dead registers), and note the least
 * left for the next sweep.
 */
static void
sweep_dead(const MantisSweepHorizon *h, const MantisSweepBounds *b, MantisSweepStats *out)
{
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
	{
		uint64		least = dead_partition_least(p);

		if (least == PG_UINT64_MAX)
			continue;
		if (least < b->hole_ts &&
			(least <= b->horizon_ts ||
			 (b->lifetime_ms != 0 && mantis_hlc_ms(least) <= b->lifetime_ms)))
			dead_sweep_partition(p, b, h, out);
		out->least_dead_ts = Min(out->least_dead_ts, dead_partition_least(p));
	}
}

/*
 * Sweep the store: visit every leaf that is_due(), in the groups whose
 * summary is_due(), collecting the dead registers the horizon allows; *out
 * says what was found, and when the next sweep has something to do
 * (next_due_ms, least_dead_ts).  The counters of mantis_status are
 * updated: expired registers held as of this sweep, and the collected ones
 * since startup.  Called by the persistence worker (store/collect.c says
 * when); one partition lock is held at a time, for one leaf.  The cost: a
 * read of two atomics per group of MANTIS_SWEEP_GROUP leaves, of two per
 * leaf in a group with something due, and the registers of the leaves
 * that have something due.
 */
void
mantis_store_sweep(const MantisSweepHorizon *h, MantisSweepStats *out)
{
	MantisSweepBounds bounds;

	bounds.horizon_ts = h->stable_ts;
	bounds.lifetime_ms = h->lifetime_ts != 0 ? mantis_hlc_ms(h->lifetime_ts) : 0;
	bounds.hole_ts = h->hole_ts;
	memset(out, 0, sizeof(*out));
	memset(compact_full, 0, sizeof(compact_full));
	out->next_due_ms = PG_UINT64_MAX;
	out->least_dead_ts = PG_UINT64_MAX;
	store_attach();
	if (leaf_expired == NULL)
		leaf_expired = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(uint16) * MANTIS_LEAVES);
	for (int group = 0; group < MANTIS_SWEEP_GROUPS; group++)
	{
		if (is_due(pg_atomic_read_u64(&store_mem.group_due[group]),
				   pg_atomic_read_u64(&store_mem.group_dead[group]), h, &bounds, -1))
			sweep_group(group, h, &bounds, out);
		out->next_due_ms = Min(out->next_due_ms,
							   pg_atomic_read_u64(&store_mem.group_due[group]));
		out->least_dead_ts = Min(out->least_dead_ts,
								 pg_atomic_read_u64(&store_mem.group_dead[group]));
	}
	sweep_dead(h, &bounds, out);
	dead_check_collapses(h->now_ms);
	counted_all = true;
	/* every leaf with an expiry due by now_ms was visited: all are logged */
	mantis_changes_expiries_logged(h->now_ms);
	out->expired_held = expired_total;
	pg_atomic_write_u64(&store_mem.control->expired_held, expired_total);
	pg_atomic_fetch_add_u64(&store_mem.control->collected_deletions, out->collected_deletions);
	pg_atomic_fetch_add_u64(&store_mem.control->collected_expired, out->collected_expired);
}

/*
 * Adopt away the live registers of a leaf that a peer's repair answer did
 * not hold (not flagged SEEN) and that lie at or below the peer's refusal
 * horizon: the peer collected their keys' deaths, or would refuse them
 * (replication/repair.c; the rule R6 of common/rules.h, decided by
 * mantis_rules_adopt()).  Dead ones stay, for our own sweep.  Clears SEEN
 * on the rest.
 *
 * An adoption is durable before it is visible: the registers are only
 * flagged ADOPTED here, and every reader still sees them, until a
 * compaction has rewritten mantis_stores without them (see the file
 * header).  Returns how many registers the rule adopts, flagged now or
 * before, that a compaction covering below cover_hole_ts
 * (mantis_collect_cover_hole()) would make durable: the caller asks for
 * one if any, and not otherwise - it would cover nothing, and a round
 * adopts them again after the hole has closed.  *flagged is how many
 * registers were flagged now.
 */
int
mantis_store_adopt_leaf(int leaf, uint64 upto_ts, uint64 cover_hole_ts, int *flagged)
{
	LWLock	   *lock = leaf_lock(leaf);
	int			coverable = 0;
	uint64		now_ms = mantis_clock_wall_ms();

	*flagged = 0;
	store_attach();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	for (uint64 bucket = leaf; bucket <= store_mem.control->bucket_mask; bucket += MANTIS_LEAVES)
	{
		for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
		{
			StoreRegister *reg = register_at(ref);
			bool		seen = (reg->flags & MANTIS_REG_SEEN) != 0;

			ref = reg->next;
			reg->flags &= ~MANTIS_REG_SEEN;
			if (!mantis_rules_adopt(seen, (reg->flags & OWED_FLAGS) != 0,
									register_is_dead(reg, now_ms), reg->hlc.ts, upto_ts))
				continue;
			if (mantis_rules_adoption_covered(false, reg->hlc.ts, cover_hole_ts))
				coverable++;
			if (reg->flags & MANTIS_REG_ADOPTED)
				continue;
			reg->flags |= MANTIS_REG_ADOPTED;
			pg_atomic_fetch_add_u64(&store_mem.control->adopting, 1);
			(*flagged)++;
		}
	}
	LWLockRelease(lock);
	return coverable;
}

/*
 * Copy every register of one bucket for a compaction (see
 * mantis_store_scan_compaction()).  With "adopting", under the lock held
 * exclusively: the registers adopted away that the compaction may make
 * durable are flagged COVERED instead of copied, in the same hold of the
 * lock, so that what the snapshot leaves out is exactly what it covers (a
 * retry, the buffer grown, covers them again; a register replaced between
 * the passes has lost both flags).  Without, shared, copying every one.
 */
static void
bucket_copy_compaction(uint64 bucket, bool adopting, MantisAdoptCover *cover,
					   uint64 now_ms, CopyBuf *b)
{
	LWLock	   *lock = &store_mem.control->locks[bucket & (MANTIS_PARTITIONS - 1)].lock;
	int			leaf = (int) (bucket & (MANTIS_LEAVES - 1));

	for (;;)
	{
		int			covered = 0;
		uint64		max_ts = 0;

		LWLockAcquire(lock, adopting ? LW_EXCLUSIVE : LW_SHARED);
		for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
		{
			StoreRegister *reg = register_at(ref);

			ref = reg->next;
			if (adopting)
			{
				reg->flags &= ~MANTIS_REG_COVERED;
				if ((reg->flags & MANTIS_REG_ADOPTED) &&
					mantis_rules_adoption_covered(register_is_dead(reg, now_ms), reg->hlc.ts,
												  cover->hole_ts))
				{
					reg->flags |= MANTIS_REG_COVERED;
					covered++;
					max_ts = Max(max_ts, reg->hlc.ts);
					continue;
				}
			}
			copybuf_put(b, reg);
		}
		LWLockRelease(lock);
		if (copybuf_fits(b))
		{
			if (covered > 0)
			{
				cover->leaves.words[leaf / 32] |= (uint32) 1 << (leaf % 32);
				cover->max_ts = Max(cover->max_ts, max_ts);
				cover->covered += covered;
			}
			return;
		}
		copybuf_grow(b);
	}
}

/*
 * The scan of a compaction (persist/flush.c): every register, dead ones
 * too, as mantis_store_scan(true, ...) passes them, one copied bucket at a
 * time with no lock held during the callback, but those adopted away that
 * mantis_rules_adoption_covered() lets the compaction make durable, which
 * it leaves out and flags COVERED: *cover says which leaves hold them, how
 * many, and the greatest HLC among them.  Once the compaction has
 * committed, mantis_store_drop_covered() drops them.  While registers are
 * adopted away the buckets are locked exclusively, to set the flag;
 * otherwise shared, as any scan, and a register adopted meanwhile is
 * copied, for the next compaction to cover.
 */
void
mantis_store_scan_compaction(MantisRecordCallback callback, void *arg,
							 MantisAdoptCover *cover)
{
	bool		adopting = mantis_store_adopting() > 0;
	uint64		now_ms = mantis_clock_wall_ms();
	CopyBuf		b;

	memset(&cover->leaves, 0, sizeof(cover->leaves));
	cover->max_ts = 0;
	cover->covered = 0;
	store_attach();
	copybuf_init(&b);
	for (uint64 bucket = 0; bucket <= store_mem.control->bucket_mask; bucket++)
	{
		/* an unlocked peek: a bucket empty now has nothing to copy */
		if (((volatile StoreRef *) store_mem.buckets)[bucket] == InvalidStoreRef)
			continue;
		copybuf_reset(&b);
		bucket_copy_compaction(bucket, adopting, cover, now_ms, &b);
		copybuf_call(&b, callback, arg);
		CHECK_FOR_INTERRUPTS();
	}
	copybuf_free(&b);
}

/*
 * Once the compaction that covered them has committed (persist/flush.c):
 * drop the registers flagged ADOPTED and COVERED in the given leaves.  Only
 * the compaction's scan sets COVERED, on an ADOPTED register it left out of
 * its snapshot, and a write that replaces a register clears both, so each
 * of them is still the register the committed rows no longer hold.  Only
 * those at or below upto_ts, the refusal horizon raised for them.  Returns
 * how many were dropped.
 */
int
mantis_store_drop_covered(const MantisLeafSet *leaves, uint64 upto_ts)
{
	const uint16 both = MANTIS_REG_ADOPTED | MANTIS_REG_COVERED;
	int			dropped = 0;

	store_attach();
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		for (uint32 bits = leaves->words[w]; bits != 0; bits &= bits - 1)
		{
			int			leaf = w * 32 + pg_rightmost_one_pos32(bits);
			LWLock	   *lock = leaf_lock(leaf);

			LWLockAcquire(lock, LW_EXCLUSIVE);
			for (uint64 bucket = leaf; bucket <= store_mem.control->bucket_mask; bucket += MANTIS_LEAVES)
			{
				StoreRef   *link = &store_mem.buckets[bucket];

				while (*link != InvalidStoreRef)
				{
					StoreRegister *reg = register_at(*link);

					if ((reg->flags & both) != both || reg->hlc.ts > upto_ts)
					{
						link = &reg->next;
						continue;
					}
					mantis_changes_note(reg->data, reg->key_len, &reg->hlc, 0,
										MANTIS_CHANGE_GONE);
					register_remove(link, reg, true);	/* *link is the next one now */
					dropped++;
				}
			}
			/* one may have expired since, and be counted by the sweep */
			leaf_dead_lower(leaf, 0);
			LWLockRelease(lock);
		}
	}
	return dropped;
}

/* How many registers are adopted away, waiting for a compaction */
uint64
mantis_store_adopting(void)
{
	return pg_atomic_read_u64(&store_mem.control->adopting);
}
