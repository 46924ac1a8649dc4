/*-------------------------------------------------------------------------
 * store/write.c
 *	  Every write to the registers: the write of one register (its plan,
 *	  prepared, applied, finished), a local write and a new expiry, a
 *	  committed transaction's writes applied at once, and registers from
 *	  peers and from mantis_stores, their admission and their merge.
 *
 * One register.  store_put() finds the key's register under its partition
 * lock, held exclusively.  For a register from a peer or a row, the
 * last-writer-wins rule (common/hlc.c) decides whether the one held wins.
 * Otherwise the write's plan (PutPlan, store/internal.h) reserves what it
 * needs (put_prepare(): a slot under mantis.max_keys for a new key, and a
 * chunk unless the register can be overwritten in place); the write takes
 * its HLC, and put_apply() makes it visible with plain stores: the
 * register, its leaf's digest and due time, and the changes below.  The
 * chunk it replaced is freed once the lock is released (put_finish()).
 *
 * Changes.  A write sets flags on the register (UNFLUSHED, and UNSENT for
 * local writes when replication is on) and marks the register's bucket and
 * leaf dirty for the worker that consumes each flag (leaf_mark_dirty()),
 * before it releases the partition lock: so once a process has passed
 * every partition lock, every write that had its HLC by then has marked
 * its leaf, which makes the replication worker's clock reading a watermark
 * (mantis_store_write_barrier(), replication/live.c).  store/read.c says
 * how the workers take the changes.
 *
 * Batches.  A committed transaction's writes (api/txn.c) are prepared at
 * PRE_COMMIT and applied at COMMIT all at once.  A batch reserves
 * everything its writes need before the transaction commits and applies
 * them afterwards with plain stores, under the locks of all its partitions
 * taken exclusively in ascending order; a reader of one key, or of many
 * through mantis_store_get_many() (store/read.c), sees all of a batch or
 * none of it.  Each write goes through the plan of one write.
 *
 * Merges.  A register from a peer or from mantis_stores goes through
 * store_put() with its own HLC: the one held for its key may win
 * (MANTIS_PUT_STALE), and the clock moves past the one that is stored.  A
 * stale copy of a key whose death was collected here, or compacted into a
 * record (store/dead.c), is refused; a register written where only a
 * record of its hash is held replaces the record.
 *
 * Locking: a write holds its key's partition lock exclusively from
 * put_prepare() through put_apply(); a batch holds the locks of all its
 * partitions (partitions_lock(), store/internal.h).  Under them a write
 * takes only the DSA area's lock (allocating a chunk, or freeing a
 * batch's unneeded one) and atomics (the clock, counters, digests, dirty
 * bitmaps), and may set the replication worker's latch: every check that
 * can fail comes before a register changes, and chunks are freed and
 * failures raised after the locks are released.
 *
 * IDENTIFICATION	src/store/write.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "wakeup.h"
#include "common/keyhash.h"
#include "common/rules.h"
#include "store/changes.h"
#include "store/dead.h"
#include "store/internal.h"
#include "store/store.h"

/* ---- the write of one register ---- */

/* A held register as the merge rule (common/hlc.h) sees it */
static void
register_view(const StoreRegister *reg, MantisRegisterView *view)
{
	view->hlc = reg->hlc;
	view->deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
	view->value = reg->data + reg->key_len;
	view->value_len = reg->value_len;
	view->expires_ms = register_expires(reg);
}

/* A bucket's bit in its leaf's dirty-bucket mask (see store/read.c) */
static inline int
bucket_bit(uint64 bucket)
{
	return (int) ((bucket / MANTIS_LEAVES) % 64);
}

/*
 * Mark a leaf dirty for one consumer.  The replication worker is woken if
 * we are the first to mark anything since it last looked; the persistence
 * worker is not woken at all: it looks at its bitmap every flush interval,
 * and waking it on every write would cost more than the flush.  The latch
 * pointer is read without a lock: a stale one only wakes a process for
 * nothing.
 */
static void
leaf_mark_dirty(MantisConsumer consumer, uint64 hash)
{
	int			leaf = leaf_of(hash);
	uint32		bit = (uint32) 1 << (leaf % 32);
	uint32		old;

	/* before the lock goes: the replication worker's watermark relies on it */
	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	pg_atomic_fetch_or_u64(&store_leaf(leaf)->dirty_buckets[consumer],
						   UINT64CONST(1) << bucket_bit(hash & store_mem.control->bucket_mask));
	old = pg_atomic_fetch_or_u32(&store_mem.dirty[consumer][leaf / 32], bit);

	if ((old & bit) == 0 && consumer == MANTIS_CONSUMER_REPLICATION)
		mantis_wake_worker(MANTIS_REPLICATION_WORKER);
}

/*
 * Give the plan its new chunk for "need" bytes: the spare allocated
 * beforehand, if any, else one allocated now.  False when the store
 * memory is exhausted.
 */
bool
plan_take_chunk(PutPlan *plan, uint32 need)
{
	uint32		capacity = capacity_for(need);

	Assert(!DsaPointerIsValid(plan->new_dp));
	if (DsaPointerIsValid(plan->spare))
	{
		plan->new_dp = plan->spare;
		plan->spare = InvalidDsaPointer;
	}
	else
		plan->new_dp = dsa_allocate_extended(store_mem.area, REGISTER_HEADER_SIZE + capacity,
											 DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(plan->new_dp))
		return false;
	pg_atomic_fetch_add_u64(&store_mem.control->bytes_used, REGISTER_HEADER_SIZE + capacity);
	register_at(ref_of(plan->new_dp))->capacity = capacity;
	return true;
}

/*
 * Reserve what a write needs: a new chunk unless the held register can be
 * overwritten in place (the spare chunk allocated beforehand, if the
 * caller made one, else one allocated now; with no memory left, a held
 * register the write shrinks is overwritten in place), and a slot under
 * mantis.max_keys for a new key.  Nothing visible changes;
 * put_unprepare() gives the reservation back.
 */
MantisPutResult
put_prepare(const StorePut *put, StoreRegister *reg, PutPlan *plan)
{
	uint32		need = put_need(put);

	Assert(LWLockHeldByMeInMode(partition_lock(plan->hash), LW_EXCLUSIVE));
	Assert(reg == NULL || reg->hash == (uint32) plan->hash);
	plan->existed = reg != NULL;
	plan->was_live = reg != NULL && !register_is_dead_now(reg);
	plan->new_dp = InvalidDsaPointer;
	plan->to_free = InvalidDsaPointer;
	plan->freed_size = 0;
	if (reg != NULL && fits_in_place(reg, need))
		return MANTIS_PUT_APPLIED;

	if (reg == NULL &&
		pg_atomic_fetch_add_u64(&store_mem.control->registers, 1) >= (uint64) mantis_max_keys)
	{
		pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
		return MANTIS_PUT_NO_KEYS;
	}
	if (!plan_take_chunk(plan, need))
	{
		if (reg == NULL)
			pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
		/*
		 * A full store still takes a write that shrinks a register it holds
		 * (a deletion, a shorter value), in place: else no key could be
		 * deleted to make room.  The chunk keeps its size until it goes.
		 */
		else if (need <= reg->capacity)
			return MANTIS_PUT_APPLIED;
		return MANTIS_PUT_NO_MEMORY;
	}
	return MANTIS_PUT_APPLIED;
}

/*
 * Give back what put_prepare() reserved, when the write will not happen;
 * the chunk becomes the plan's spare again, freed by put_finish().
 */
void
put_unprepare(PutPlan *plan)
{
	if (!DsaPointerIsValid(plan->new_dp))
		return;
	pg_atomic_fetch_sub_u64(&store_mem.control->bytes_used,
							REGISTER_HEADER_SIZE + register_at(ref_of(plan->new_dp))->capacity);
	Assert(!DsaPointerIsValid(plan->spare));
	plan->spare = plan->new_dp;
	plan->new_dp = InvalidDsaPointer;
	if (!plan->existed)
		pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
}

/*
 * Tell the change log (store/changes.c) once the store is loaded: the
 * registers the load merges are where a feed starts.  A dead one among
 * them enters the log with no entry: the scan that answers a cursor from
 * before the load must not rely on its key (the keyless bound).
 */
static void
log_change(const StorePut *put, const MantisHLC *hlc, uint64 expires_ms)
{
	if (likely(pg_atomic_read_u32(&store_mem.control->loaded) != 0))
		mantis_changes_note(put->key, put->key_len, hlc, expires_ms,
							put->deleted ? MANTIS_CHANGE_DELETE : MANTIS_CHANGE_WRITE);
	else if (put->deleted)
		mantis_changes_keyless(hlc->ts);
	else if (expires_ms != 0 && expires_ms <= mantis_clock_wall_ms())
		mantis_changes_keyless(Max(hlc->ts, mantis_hlc_pack(expires_ms, 0)));
}

/*
 * Make the write visible: plain stores only, nothing can fail.  "reg" and
 * "link" are what register_find() returns for the key now.
 */
void
put_apply(const StorePut *put, StoreRegister *reg, StoreRef *link,
		  const MantisHLC *hlc, PutPlan *plan)
{
	uint64		hash = plan->hash;
	uint32		value_len = put->deleted ? 0 : put->value_len;
	uint64		expires_ms = put->deleted ? 0 : put->expires_ms;
	StoreRegister *target;

	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	/* what register_find() returns for the key now */
	Assert(reg == NULL ? *link == InvalidStoreRef : register_at(*link) == reg);
	/* in place only over a held register */
	Assert(DsaPointerIsValid(plan->new_dp) || reg != NULL);
	if (DsaPointerIsValid(plan->new_dp))
	{
		target = register_at(ref_of(plan->new_dp));
		target->hash = (uint32) hash;
		target->key_len = put->key_len;
		memcpy(target->data, put->key, put->key_len);
		target->flags = 0;
		if (reg != NULL)
		{
			target->next = reg->next;
			plan->to_free = dsa_pointer_of(*link);
			plan->freed_size = REGISTER_HEADER_SIZE + reg->capacity;
		}
		else
			target->next = InvalidStoreRef;
	}
	else
		target = reg;

	if (reg == NULL)
		dead_supersede(hash);	/* a record of its hash goes (store/dead.c) */
	if (reg != NULL)
	{
		/*
		 * An expired register the sweep counted (expired_held) goes: have
		 * the next sweep visit its leaf and count again (store/sweep.c).
		 */
		if ((reg->flags & MANTIS_REG_EXPIRING) && !plan->was_live)
			leaf_dead_lower(leaf_of(hash), 0);
		digest_toggle(hash, held_fingerprint(hash, reg));
		if (reg->flags & MANTIS_REG_DELETED)
			pg_atomic_fetch_sub_u64(&store_mem.control->deleted, 1);
		/* a newer register is no longer the one adopted away (sweep.c) */
		if (reg->flags & MANTIS_REG_ADOPTED)
			pg_atomic_fetch_sub_u64(&store_mem.control->adopting, 1);
		target->flags = reg->flags & ~(MANTIS_REG_ADOPTED | MANTIS_REG_COVERED);
	}
	target->hlc = *hlc;
	target->value_len = value_len;
	/* mantis_store_expire() rewrites a register with its own value */
	if (value_len > 0 && put->value != target->data + put->key_len)
		memcpy(target->data + put->key_len, put->value, value_len);
	if (expires_ms != 0)
		memcpy(target->data + put->key_len + value_len, &expires_ms, sizeof(expires_ms));
	target->flags = (target->flags & ~(MANTIS_REG_DELETED | MANTIS_REG_EXPIRING |
									   MANTIS_REG_EXPIRY_LOGGED)) | put->flags |
		(put->deleted ? MANTIS_REG_DELETED : 0) | (expires_ms != 0 ? MANTIS_REG_EXPIRING : 0);
	if (put->deleted)
		pg_atomic_fetch_add_u64(&store_mem.control->deleted, 1);
	digest_toggle(hash, register_fingerprint(hash, hlc, put->deleted,
											 put->value, value_len, expires_ms));
	if (put->deleted)
		leaf_dead_lower(leaf_of(hash), hlc->ts);
	else if (expires_ms != 0)
		leaf_due_lower(leaf_of(hash), expires_ms);
	if (target != reg)
		*link = ref_of(plan->new_dp);
	log_change(put, hlc, expires_ms);

	/*
	 * Tell the workers before the lock goes: the replication worker's
	 * watermark relies on it (mantis_store_write_barrier()).
	 */
	if (put->flags & MANTIS_REG_UNFLUSHED)
		leaf_mark_dirty(MANTIS_CONSUMER_PERSIST, hash);
	if (put->flags & MANTIS_REG_UNSENT)
		leaf_mark_dirty(MANTIS_CONSUMER_REPLICATION, hash);
}

/* Free what a plan did not use, once no partition lock is held. */
void
put_release(PutPlan *plan)
{
	Assert(!partition_lock_held_any());
	if (DsaPointerIsValid(plan->spare))
		dsa_free(store_mem.area, plan->spare);
	plan->spare = InvalidDsaPointer;
}

/* After the partition lock is released: free the old chunk. */
void
put_finish(const StorePut *put, PutPlan *plan)
{
	put_release(plan);
	if (DsaPointerIsValid(plan->to_free))
	{
		dsa_free(store_mem.area, plan->to_free);
		pg_atomic_fetch_sub_u64(&store_mem.control->bytes_used, plan->freed_size);
	}
}

/*
 * Store one register, unless the one held for its key is equal or newer.
 *
 * Local writes (put->hlc == NULL) take a new HLC under the partition lock, so
 * writes to one key are applied in HLC order; since every register held was
 * witnessed by the clock, a local write always wins.  Remote and reloaded
 * registers are compared with the total order of common/hlc.c and move the
 * clock past themselves.
 */
MantisPutResult
store_put(const StorePut *put, MantisHLC *hlc_out, bool *replaced_live)
{
	uint64		hash = mantis_hash(put->key, put->key_len);
	LWLock	   *lock = partition_lock(hash);
	StoreRef   *link;
	StoreRegister *reg;
	MantisHLC	hlc;
	PutPlan		plan;
	MantisPutResult result;

	key_prefetch(hash, true);
	store_attach();
	plan.hash = hash;
	plan.spare = InvalidDsaPointer;
	Assert(!partition_lock_held_any());	/* one at a time */
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = register_find(hash, put->key, put->key_len, &link);

	if (put->hlc != NULL && put->refuse_collected &&
		mantis_rules_refuse(reg != NULL, put->hlc->ts, mantis_store_refusal_horizon()))
	{
		/* its key's deletion or expiry was collected here: a stale copy */
		LWLockRelease(lock);
		return MANTIS_PUT_COLLECTED;
	}
	if (reg == NULL && dead_refuses(hash, put))
	{
		/* ... or compacted into a record, or collapsed (store/dead.c) */
		LWLockRelease(lock);
		return MANTIS_PUT_COLLECTED;
	}
	if (put->hlc != NULL && reg != NULL)
	{
		MantisRegisterView incoming = {*put->hlc, put->deleted, put->value,
			put->deleted ? 0 : put->value_len, put->deleted ? 0 : put->expires_ms};
		MantisRegisterView held;

		register_view(reg, &held);
		/* the unit-tested merge rule decides: the held one may win */
		if (mantis_lww_merge(&held, &incoming) == &held)
		{
			/* the peer has this key too (replication/repair.c's adoption) */
			if (put->flags & MANTIS_REG_SEEN)
				reg->flags |= MANTIS_REG_SEEN;
			LWLockRelease(lock);
			return MANTIS_PUT_STALE;
		}
	}

	result = put_prepare(put, reg, &plan);
	if (result != MANTIS_PUT_APPLIED)
	{
		LWLockRelease(lock);
		return result;
	}
	if (put->hlc != NULL)
	{
		hlc = *put->hlc;
		mantis_clock_witness(hlc.ts);
	}
	else
		hlc = mantis_clock_now();
	put_apply(put, reg, link, &hlc, &plan);
	LWLockRelease(lock);

	put_finish(put, &plan);
	if (hlc_out)
		*hlc_out = hlc;
	if (replaced_live)
		*replaced_live = plan.was_live;
	return MANTIS_PUT_APPLIED;
}

/* ---- local writes ---- */

/* The flags of a local write: what the workers owe it */
static inline int
local_write_flags(void)
{
	return MANTIS_REG_UNFLUSHED | (mantis_replication_enabled() ? MANTIS_REG_UNSENT : 0);
}

/*
 * A local write: a value, or a deletion marker when "deleted"; a value
 * expires at expires_ms (0: never).  On success *hlc is the clock of the
 * write and *replaced_live tells whether a live value was overwritten.
 * The caller reports failures.
 */
MantisPutResult
mantis_store_set(const char *key, uint32 key_len, const char *value,
				 uint32 value_len, bool deleted, uint64 expires_ms,
				 MantisHLC *hlc, bool *replaced_live)
{
	StorePut	put = {key, key_len, value, value_len, deleted, NULL,
		local_write_flags(), deleted ? 0 : expires_ms, false};

	return store_put(&put, hlc, replaced_live);
}

/*
 * Give a key's live value a new expiry (0: never) as a local write, with a
 * new HLC: the value is read and written again under one exclusive hold of
 * the partition lock, so a write that comes in meanwhile is never
 * overwritten with the old value.  False, and nothing written, when the
 * key holds no live value.  The register is rewritten in place, or in a
 * new chunk when it had no expiry and no room for one (which can fail
 * with "mantis store memory is exhausted", changing nothing).
 */
bool
mantis_store_expire(const char *key, uint32 key_len, uint64 expires_ms, MantisHLC *hlc_out)
{
	uint64		hash = mantis_hash(key, key_len);
	LWLock	   *lock = partition_lock(hash);
	StoreRef   *link;
	StoreRegister *reg;
	MantisHLC	hlc;
	PutPlan		plan;
	StorePut	put;
	MantisPutResult result;

	store_attach();
	plan.hash = hash;
	plan.spare = InvalidDsaPointer;
	Assert(!partition_lock_held_any());	/* one at a time */
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = register_find(hash, key, key_len, &link);
	if (reg == NULL || register_is_dead_now(reg))
	{
		LWLockRelease(lock);
		return false;
	}
	put.key = key;
	put.key_len = key_len;
	put.value = reg->data + reg->key_len;
	put.value_len = reg->value_len;
	put.deleted = false;
	put.hlc = NULL;
	put.flags = local_write_flags();
	put.expires_ms = expires_ms;
	put.refuse_collected = false;
	/* in place, or in a new chunk when the expiry needs room it had not */
	result = put_prepare(&put, reg, &plan);
	if (result != MANTIS_PUT_APPLIED)
	{
		LWLockRelease(lock);
		put_release(&plan);
		mantis_store_raise_put_failure(result);
	}
	hlc = mantis_clock_now();
	put_apply(&put, reg, link, &hlc, &plan);
	LWLockRelease(lock);

	put_finish(&put, &plan);
	if (hlc_out)
		*hlc_out = hlc;
	return true;
}

/* ---- a committed transaction's writes ---- */

/*
 * A committing transaction's writes, at most one per key, prepared at
 * PRE_COMMIT and applied at COMMIT.  PostgreSQL can still fail a
 * transaction after its PRE_COMMIT callbacks (a serialization failure,
 * another extension's callback), and nothing may fail once it has written
 * its commit record; so everything that can fail happens in
 * mantis_store_batch_prepare(), and mantis_store_batch_apply() does plain
 * stores only.
 */
struct MantisBatch
{
	int			n;
	StorePut   *puts;
	PutPlan    *plans;
	PartitionSet set;
};

/*
 * Reserve room for every write: a slot under mantis.max_keys for each new
 * key and a chunk for each write that cannot overwrite its register in
 * place.  In a batch of several writes, chunks are allocated before the
 * partition locks are taken (so they are held briefly); the ones of writes
 * that turn out to fit in place are given back under the locks before any
 * write allocates, or a transaction rewriting many large values could find
 * the store full only because of the chunks it holds itself.  A batch of
 * one write (most transactions) holds one lock, as store_put() does, and
 * allocates under it only if it must: a chunk allocated and freed for
 * every overwrite costs two passes through the DSA area's lock, which every
 * backend shares.  Returns NULL, with *result saying why, when the writes
 * do not fit; nothing is reserved then.
 */
MantisBatch *
mantis_store_batch_prepare(const MantisBatchWrite *writes, int n,
						   MantisPutResult *result)
{
	int			flags = local_write_flags();
	MantisBatch *b = palloc0(sizeof(MantisBatch));
	int			prepared;

	store_attach();
	b->n = n;
	b->puts = palloc(sizeof(StorePut) * n);
	b->plans = palloc(sizeof(PutPlan) * n);
	for (int i = 0; i < n; i++)
	{
		StorePut	put = {writes[i].key, writes[i].key_len, writes[i].value,
			writes[i].value_len, writes[i].deleted, NULL, flags,
		writes[i].deleted ? 0 : writes[i].expires_ms, false};

		b->puts[i] = put;
		b->plans[i].hash = mantis_hash(put.key, put.key_len);
		key_prefetch(b->plans[i].hash, true);
		b->plans[i].spare = n == 1 ? InvalidDsaPointer :
			dsa_allocate_extended(store_mem.area,
								  REGISTER_HEADER_SIZE + capacity_for(put_need(&put)),
								  DSA_ALLOC_NO_OOM);
		partitions_add(&b->set, b->plans[i].hash);
	}

	*result = MANTIS_PUT_APPLIED;
	partitions_lock(&b->set, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		StoreRegister *reg;

		if (!DsaPointerIsValid(b->plans[i].spare))
			continue;
		reg = register_find(b->plans[i].hash, b->puts[i].key, b->puts[i].key_len, NULL);
		if (reg != NULL && fits_in_place(reg, put_need(&b->puts[i])))
		{
			dsa_free(store_mem.area, b->plans[i].spare);
			b->plans[i].spare = InvalidDsaPointer;
		}
	}
	for (prepared = 0; prepared < n; prepared++)
	{
		StoreRegister *reg = register_find(b->plans[prepared].hash, b->puts[prepared].key,
										   b->puts[prepared].key_len, NULL);

		*result = put_prepare(&b->puts[prepared], reg, &b->plans[prepared]);
		if (*result != MANTIS_PUT_APPLIED)
			break;
	}
	if (*result != MANTIS_PUT_APPLIED)
	{
		while (prepared-- > 0)
			put_unprepare(&b->plans[prepared]);
	}
	partitions_unlock(&b->set);
	if (*result != MANTIS_PUT_APPLIED)
	{
		for (int i = 0; i < n; i++)
			put_release(&b->plans[i]);
		return NULL;
	}
	return b;
}

/*
 * Reconcile a plan made at PRE_COMMIT with the register held now: another
 * write may have come in between.  Plain stores and atomics only; the
 * caller holds the partition lock.  Returns false when the write cannot be
 * made without an allocation that failed: then the other write, made
 * meanwhile, is kept, as if it had come after this transaction.
 */
static bool
plan_reconcile(const StorePut *put, StoreRegister *reg, PutPlan *plan)
{
	Assert(LWLockHeldByMeInMode(partition_lock(plan->hash), LW_EXCLUSIVE));
	if (DsaPointerIsValid(plan->new_dp))
	{
		/* a new chunk is ready; only the key count may have to move */
		if (!plan->existed && reg != NULL)
			pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
		else if (plan->existed && reg == NULL)
			pg_atomic_fetch_add_u64(&store_mem.control->registers, 1);
		plan->existed = reg != NULL;
		return true;
	}
	if (reg != NULL && fits_in_place(reg, put_need(put)))
		return true;

	/*
	 * The register it would overwrite in place was replaced meanwhile, or
	 * put_prepare() planned to shrink it in place, the store being full:
	 * in place still if the store is full and the write shrinks it.
	 */
	if (!plan_take_chunk(plan, put_need(put)))
	{
		if (reg == NULL || put_need(put) > reg->capacity)
			return false;
		plan->existed = true;
		return true;
	}
	if (reg == NULL)
		pg_atomic_fetch_add_u64(&store_mem.control->registers, 1);
	plan->existed = reg != NULL;
	return true;
}

/*
 * Make a prepared batch visible, under one HLC, all at once: the partition
 * locks of every key are taken exclusively, in ascending order (so two
 * batches, or a batch and a multi-key read, cannot deadlock), every write
 * is applied, and only then are they released, so a reader of one key, or
 * of many through mantis_store_get_many(), sees all of the batch or none
 * of it.  Called after the commit record is written: nothing here raises
 * an ERROR, allocates backend memory or waits for anything but the
 * partition locks.
 */
void
mantis_store_batch_apply(MantisBatch *b, MantisHLC *hlc_out)
{
	MantisHLC	hlc;

	partitions_lock(&b->set, LW_EXCLUSIVE);
	hlc = mantis_clock_now();
	for (int i = 0; i < b->n; i++)
	{
		StoreRef   *link;
		StoreRegister *reg = register_find(b->plans[i].hash, b->puts[i].key,
										   b->puts[i].key_len, &link);

		b->plans[i].applied = plan_reconcile(&b->puts[i], reg, &b->plans[i]);
		if (b->plans[i].applied)
			put_apply(&b->puts[i], reg, link, &hlc, &b->plans[i]);
	}
	partitions_unlock(&b->set);

	for (int i = 0; i < b->n; i++)
	{
		if (b->plans[i].applied)
			put_finish(&b->puts[i], &b->plans[i]);
		else
			put_release(&b->plans[i]);
	}
	if (hlc_out)
		*hlc_out = hlc;
}

/* Give back what a prepared batch reserved: its transaction aborted. */
void
mantis_store_batch_cancel(MantisBatch *b)
{
	for (int i = 0; i < b->n; i++)
	{
		put_unprepare(&b->plans[i]);
		put_release(&b->plans[i]);
	}
}

/* ---- registers from peers and rows ---- */

/* count one merge's outcome */
static void
tally_outcome(MantisMergeTally *tally, MantisPutResult result)
{
	switch (result)
	{
		case MANTIS_PUT_APPLIED:
			tally->applied++;
			break;
		case MANTIS_PUT_STALE:
			tally->stale++;
			break;
		case MANTIS_PUT_NO_KEYS:
		case MANTIS_PUT_NO_MEMORY:
			tally->no_room++;
			break;
		case MANTIS_PUT_COLLECTED:
			tally->collected++;
			break;
	}
}

/*
 * Merge a register from a peer or from mantis_stores, the one way in for
 * both; "flags" says what the worker still owes it (UNFLUSHED for a peer's
 * register, nothing for one loaded from the table).  Sizes must have been
 * checked by the caller (mantis_store_admits).  When no register is held
 * for its key and its hlc.ts is at most the refusal horizon, and
 * refuse_collected (a peer's; a row's refuses nothing), it is refused as
 * MANTIS_PUT_COLLECTED: a stale copy of a key whose deletion or
 * expiry this server has collected.  A register that is dead already (a
 * deletion, or expired) is stored like any other, to protect its key
 * against older copies.  The outcome is counted in *tally unless it is
 * NULL.
 */
MantisPutResult
mantis_store_merge(const MantisRecord *rec, int flags, bool refuse_collected,
				   MantisMergeTally *tally)
{
	StorePut	put = {rec->key, rec->key_len, rec->value, rec->value_len,
		rec->deleted, &rec->hlc, flags, rec->deleted ? 0 : rec->expires_ms,
	refuse_collected};
	MantisPutResult result = store_put(&put, NULL, NULL);

	if (tally != NULL)
		tally_outcome(tally, result);
	return result;
}

/*
 * Start loading what a merge of this key touches first (key_prefetch()),
 * for a caller that merges many registers in a row: the next one's cache
 * misses then overlap the work of this one.
 */
void
mantis_store_prefetch(const char *key, uint32 key_len)
{
	key_prefetch(mantis_hash(key, key_len), true);
}

/*
 * Whether a register from a peer or from mantis_stores may enter the
 * store: its key and value within this server's limits and valid text in
 * the database encoding.  (Its clock is the caller's to judge.)
 */
bool
mantis_store_admits(const MantisRecord *rec)
{
	if (rec->key_len > (uint32) mantis_max_key_size ||
		rec->value_len > (uint32) mantis_max_value_size)
		return false;
	if (!pg_verify_mbstr(GetDatabaseEncoding(), rec->key, (int) rec->key_len, true))
		return false;
	return rec->deleted ||
		pg_verify_mbstr(GetDatabaseEncoding(), rec->value, (int) rec->value_len, true);
}
