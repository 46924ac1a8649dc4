/*-------------------------------------------------------------------------
 * store/changes.c
 *	  The changes and the digests as the workers consume them: each
 *	  consumer's dirty leaves and buckets, taking the registers flagged for
 *	  it, giving back what it could not deliver, and copying the repair
 *	  digests.
 *
 * Changes.  A write (store/store.c) sets flags on the register (UNFLUSHED for
 * every write, UNSENT for local writes when replication is on) and, for
 * each flag, marks it dirty for the worker that consumes that flag
 * (persistence, replication): the register's bucket in its leaf's 64-bit
 * bucket mask, then the leaf in a 64 Ki-bit bitmap, waking the replication
 * worker's latch when it set a leaf bit first.  A worker takes its bitmap,
 * then the bucket masks of the dirty leaves, and visits only those
 * buckets: its cost follows the number of changes, never the number of
 * keys.  It clears the flags of what it takes; should it fail to deliver
 * (a flush that does not commit), it gives back the whole leaves it took
 * with mantis_store_give_back_leaf().
 * Memory does not grow with the rate of writes: a key written a thousand
 * times between two worker passes is sent once.
 *
 * Registers taken are copied out under the partition lock (CopyBuf,
 * store/internal.h) and passed to the consumer's callback after the lock
 * is released.
 *
 * IDENTIFICATION	src/store/changes.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "storage/lwlock.h"

#include "mantis.h"
#include "store/store.h"
#include "store/internal.h"

/* Whether a set of leaves holds none. */
bool
mantis_leafset_is_empty(const MantisLeafSet *set)
{
	for (int i = 0; i < MANTIS_LEAVES / 32; i++)
	{
		if (set->words[i] != 0)
			return false;
	}
	return true;
}

/*
 * Take a consumer's bitmap of dirty leaves, leaving it empty: the leaves
 * marked since the last call are added to *pending.
 */
void
mantis_store_take_dirty(MantisConsumer consumer, MantisLeafSet *pending)
{
	pg_atomic_uint32 *bits = store_mem.dirty[consumer];

	for (int i = 0; i < MANTIS_LEAVES / 32; i++)
	{
		if (pg_atomic_read_u32(&bits[i]) != 0)
			pending->words[i] |= pg_atomic_exchange_u32(&bits[i], 0);
	}
}

/*
 * Take a consumer's changes in every leaf of *pending (see
 * mantis_store_take_changes()), passing a copy of each register to "copy"
 * (may be NULL), and empty *pending.  Each leaf is added to *taken (if not
 * NULL) before its changes are taken, so that a consumer that fails part
 * way knows every leaf it must give back.
 */
void
mantis_store_take_leaves(MantisConsumer consumer, MantisLeafSet *pending,
						 MantisLeafSet *taken, MantisRecordCallback copy, void *arg)
{
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		while (pending->words[w] != 0)
		{
			int			bit = pg_rightmost_one_pos32(pending->words[w]);
			uint32		mask = (uint32) 1 << bit;

			if (taken)
				taken->words[w] |= mask;
			mantis_store_take_changes(consumer, w * 32 + bit, copy, arg);
			pending->words[w] &= ~mask;
		}
	}
}

/*
 * Copy every leaf's repair digest (MANTIS_LEAVES of them).  Each is read
 * atomically; together they are a fuzzy snapshot, which repair tolerates.
 */
void
mantis_store_leaf_digests(uint64 *out)
{
	for (int i = 0; i < MANTIS_LEAVES; i++)
		out[i] = pg_atomic_read_u64(&store_mem.digests[i]);
}

static inline int
consumer_flag(MantisConsumer consumer)
{
	return consumer == MANTIS_CONSUMER_PERSIST ? MANTIS_REG_UNFLUSHED : MANTIS_REG_UNSENT;
}

/* The first bucket of a leaf with a given bit of its dirty-bucket mask. */
#define MASK_BUCKETS_STEP	(64 * (uint64) MANTIS_LEAVES)

/*
 * Visit the registers flagged for a consumer in the buckets of a leaf that
 * "mask" marks; copy them into b when b is not NULL, and clear their flags
 * when "clear".  The caller holds the partition lock exclusively.
 */
static int
leaf_flagged(int leaf, uint64 mask, int flag, CopyBuf *b, bool clear)
{
	int			n = 0;

	Assert(LWLockHeldByMeInMode(leaf_lock(leaf), LW_EXCLUSIVE));
	for (; mask != 0; mask &= mask - 1)
	{
		int			bit = pg_rightmost_one_pos64(mask);

		for (uint64 bucket = leaf + (uint64) bit * MANTIS_LEAVES;
			 bucket <= store_mem.control->bucket_mask; bucket += MASK_BUCKETS_STEP)
		{
			for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
			{
				StoreRegister *reg = register_at(ref);

				ref = reg->next;
				if ((reg->flags & flag) == 0)
					continue;
				if (b)
					copybuf_put(b, reg);
				if (clear)
					reg->flags &= ~flag;
				n++;
			}
		}
	}
	return n;
}

/*
 * Take a consumer's changes in one dirty leaf: the registers flagged for it
 * in the buckets marked dirty for it lose their flag, and "callback" (may
 * be NULL) is called with a copy of each after the lock is released.
 * Flags are cleared only once every register taken has been copied, so a
 * failure (an ERROR growing the copy) takes nothing.  Returns how many
 * registers were taken.
 */
int
mantis_store_take_changes(MantisConsumer consumer, int leaf,
						  MantisRecordCallback callback, void *arg)
{
	LWLock	   *lock = leaf_lock(leaf);
	pg_atomic_uint64 *mask_word = &store_mem.dirty_buckets[consumer][leaf];
	int			flag = consumer_flag(consumer);
	CopyBuf		b;
	int			n;

	Assert(leaf >= 0 && leaf < MANTIS_LEAVES);
	if (pg_atomic_read_u64(mask_word) == 0)
		return 0;
	store_attach();
	if (callback == NULL)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		n = leaf_flagged(leaf, pg_atomic_exchange_u64(mask_word, 0), flag, NULL, true);
		LWLockRelease(lock);
		return n;
	}

	copybuf_init(&b);
	for (;;)
	{
		uint64		mask;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		mask = pg_atomic_exchange_u64(mask_word, 0);
		(void) leaf_flagged(leaf, mask, flag, &b, false);
		if (copybuf_fits(&b))
		{
			n = leaf_flagged(leaf, mask, flag, NULL, true);
			LWLockRelease(lock);
			break;
		}
		/* give the mask back for the next pass */
		pg_atomic_fetch_or_u64(mask_word, mask);
		LWLockRelease(lock);
		copybuf_grow(&b);
	}
	copybuf_call(&b, callback, arg);
	copybuf_free(&b);
	return n;
}

/*
 * Give a consumer back a whole leaf it took but could not deliver: every
 * register of the leaf is flagged for it again and every bucket marked
 * dirty.  Some of them were delivered before; delivering a register twice
 * is harmless, which keeps a failure's bookkeeping to one bit per leaf.
 */
void
mantis_store_give_back_leaf(MantisConsumer consumer, int leaf)
{
	LWLock	   *lock = leaf_lock(leaf);
	int			flag = consumer_flag(consumer);

	Assert(leaf >= 0 && leaf < MANTIS_LEAVES);
	store_attach();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	for (uint64 bucket = leaf; bucket <= store_mem.control->bucket_mask; bucket += MANTIS_LEAVES)
	{
		for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
		{
			StoreRegister *reg = register_at(ref);

			ref = reg->next;
			reg->flags |= flag;
		}
	}
	LWLockRelease(lock);
	pg_atomic_write_u64(&store_mem.dirty_buckets[consumer][leaf], ~UINT64CONST(0));
	pg_atomic_fetch_or_u32(&store_mem.dirty[consumer][leaf / 32], (uint32) 1 << (leaf % 32));
}

/* Whether a consumer has any leaf marked dirty (a read; nothing is taken) */
bool
mantis_store_has_dirty(MantisConsumer consumer)
{
	pg_atomic_uint32 *bits = store_mem.dirty[consumer];

	for (int i = 0; i < MANTIS_LEAVES / 32; i++)
	{
		if (pg_atomic_read_u32(&bits[i]) != 0)
			return true;
	}
	return false;
}

/*
 * Wait until every write that had taken its HLC when this was called has
 * marked its leaf dirty: writers mark leaves before releasing their
 * partition locks, so passing each partition lock once is enough.  The
 * replication worker calls this between reading the clock and taking its
 * dirty leaves, so that the reading is a watermark (replication/live.c).
 */
void
mantis_store_write_barrier(void)
{
	Assert(!partition_lock_held_any());
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
	{
		LWLock	   *lock = &store_mem.control->locks[p].lock;

		LWLockAcquire(lock, LW_SHARED);
		LWLockRelease(lock);
	}
}
