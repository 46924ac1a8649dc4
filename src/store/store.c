/*-------------------------------------------------------------------------
 * store/store.c
 *	  The last-writer-wins registers in shared memory: their layout, the
 *	  index that finds a key's register, and the write of one register.
 *
 * The store's other files: store/batch.c (a committed transaction's
 * writes, applied at once), store/merge.c (registers from peers and rows),
 * store/read.c (reads and iterators), store/changes.c (the changes and
 * digests the workers consume), store/state.c (whether the registers may
 * be read and written yet) and store/sweep.c (collecting dead registers).
 * What they share is in store/internal.h; everyone else calls store/store.h.
 *
 * Layout.  The store's part of shared memory (shmem.c) holds, in order:
 * the store's control block, the hash buckets, the repair digests, the
 * time each leaf is next due for the sweep (store/sweep.c), two bitmaps
 * of dirty digest leaves, and a DSA area created in place, from
 * which every register (header, key and value in one chunk) is allocated.
 * The DSA's size limit is the size of that place, so the store never maps
 * dynamic segments: its memory is fixed at startup by mantis.store_memory.
 *
 * Index.  A chained hash table: nbuckets (a power of two, at least
 * MANTIS_LEAVES and at least mantis.max_keys) heads of singly linked
 * lists of registers.  Links are 32-bit "refs", a chunk's DSA offset
 * divided by 8 (so mantis.store_memory is capped at 32GB): a compact bucket
 * array stays in the CPU caches, which at a million keys is what keeps a
 * lookup to about one cache miss.  A key's 64-bit hash picks its partition
 * lock (low 7 bits), digest leaf (low 16 bits) and bucket (low
 * log2(nbuckets) bits),
 * so each bucket and each leaf lies wholly inside one partition, and the
 * registers of a leaf are found in nbuckets / MANTIS_LEAVES buckets.
 *
 * Digests.  Each leaf keeps the XOR of a 64-bit fingerprint of every
 * register in it (key hash, HLC, deletion, value, expiry).  Writers update
 * it in O(1) under the partition lock; repair compares digests with peers
 * without scanning.  A fingerprint is a function of the register's bytes,
 * never of the time: a register that expires changes no digest (the sweep
 * that collects it does, as a deletion would).
 *
 * Expiry.  A register may carry an absolute expiry (expires_ms, common/lww.h);
 * from then on every read treats it as absent, like a deletion marker,
 * and it stays, protecting its key against older copies, until the sweep
 * (store/sweep.c) collects it.  Every write lowers its leaf's due time
 * (store_mem.leaf_due) to the register's expiry, or to 0 for a deletion
 * marker, so the sweep visits only the leaves that have something to do.
 *
 * Changes.  A write sets flags on the register (UNFLUSHED, and UNSENT for
 * local writes when replication is on) and marks the register's bucket and
 * leaf dirty for the worker that consumes each flag (leaf_mark_dirty()),
 * before it releases the partition lock: so once a process has passed
 * every partition lock, every write that had its HLC by then has marked
 * its leaf, which makes the replication worker's clock reading a
 * watermark (mantis_store_write_barrier(), replication/live.c).  store/changes.c says
 * how the workers take the changes.
 *
 * Locking: partition locks only, shared to read and exclusive to write.
 * A process holds one at a time, except a batch (a committed transaction's
 * writes, store/batch.c; a multi-key read, store/read.c), which takes the
 * locks of all its partitions in ascending order, so that no two processes
 * can wait for each other.  Under a partition lock we may take the DSA's
 * own locks (allocating, and freeing a batch's unneeded chunks) and atomics
 * (the clock, counters, digests, dirty bitmaps), and nothing else: no
 * palloc, no callback, nothing that can raise an ERROR.  Every check that
 * can fail happens before a register is changed, and the change itself is
 * plain stores, so an ERROR never leaves a half-written register.
 * Iterators (store/read.c, store/changes.c) copy registers out under the
 * lock into room sized beforehand (CopyBuf, store/internal.h) and call
 * their callback after releasing it.  locks.h lists every lock of mantis.
 *
 * IDENTIFICATION	src/store/store.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/keyhash.h"
#include "locks.h"
#include "store/store.h"
#include "store/internal.h"
#include "wakeup.h"

/* Where the store's shared memory lies in this process: see internal.h */
StoreMemory store_mem;

static uint64
bucket_count(void)
{
	uint64		n = MANTIS_LEAVES;

	while (n < (uint64) mantis_max_keys)
		n <<= 1;
	return n;
}

static Size
store_dsa_size(void)
{
	Size		size = (Size) mantis_store_memory_kb * 1024;

	return Max(size, dsa_minimum_size() + 64 * 1024);
}

Size
mantis_store_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(StoreControl));

	size = add_size(size, MAXALIGN(mul_size(bucket_count(), sizeof(StoreRef))));
	size = add_size(size, MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64))));
	size = add_size(size, MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64))));
	size = add_size(size, mul_size(MANTIS_CONSUMERS,
								   MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)))));
	size = add_size(size, mul_size(MANTIS_CONSUMERS,
								   MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)))));
	size = add_size(size, store_dsa_size());
	return size;
}

void
mantis_store_shmem_request(void)
{
	RequestNamedLWLockTranche(MANTIS_TRANCHE_PARTITIONS, MANTIS_PARTITIONS);
}

/* Point store_mem at the parts of the shared chunk; see StoreMemory. */
static void
store_locate(char *base)
{
	store_mem.control = (StoreControl *) base;
	base += MAXALIGN(sizeof(StoreControl));
	store_mem.buckets = (StoreRef *) base;
	base += MAXALIGN(mul_size(bucket_count(), sizeof(StoreRef)));
	store_mem.digests = (pg_atomic_uint64 *) base;
	base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)));
	store_mem.leaf_due = (pg_atomic_uint64 *) base;
	base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)));
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		store_mem.dirty[c] = (pg_atomic_uint32 *) base;
		base += MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)));
		store_mem.dirty_buckets[c] = (pg_atomic_uint64 *) base;
		base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)));
	}
	store_mem.dsa_place = base;
}

/*
 * Make (postmaster, also after every crash restart, when shared memory
 * comes back empty) or find (EXEC_BACKEND children) the store; see
 * shmem.c.  A new store is not readable until mantis_store_set_loaded().
 */
void
mantis_store_shmem_init(void *place, bool found)
{
	uint64		nbuckets = bucket_count();
	StoreControl *ctl;
	dsa_area   *area;

	store_locate(place);
	ctl = store_mem.control;
	if (found)
	{
		/* EXEC_BACKEND: the tranche id is the postmaster's; name it here too */
		LWLockRegisterTranche(ctl->dsa_tranche, MANTIS_TRANCHE_STORE_AREA);
		return;
	}

	pg_atomic_init_u32(&ctl->loaded, 0);
	pg_atomic_init_u32(&ctl->writable, 0);
	ctl->encoding = -1;
	ConditionVariableInit(&ctl->loaded_cv);

	ctl->locks = GetNamedLWLockTranche(MANTIS_TRANCHE_PARTITIONS);
	ctl->bucket_mask = nbuckets - 1;
	ctl->dsa_size = store_dsa_size();
	pg_atomic_init_u64(&ctl->registers, 0);
	pg_atomic_init_u64(&ctl->deleted, 0);
	pg_atomic_init_u64(&ctl->bytes_used, 0);
	pg_atomic_init_u64(&ctl->expired_held, 0);
	pg_atomic_init_u64(&ctl->collected_deletions, 0);
	pg_atomic_init_u64(&ctl->collected_expired, 0);
	for (uint64 i = 0; i < nbuckets; i++)
		store_mem.buckets[i] = InvalidStoreRef;
	for (int i = 0; i < MANTIS_LEAVES; i++)
	{
		pg_atomic_init_u64(&store_mem.digests[i], 0);
		pg_atomic_init_u64(&store_mem.leaf_due[i], PG_UINT64_MAX);	/* nothing due */
	}
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		for (int i = 0; i < MANTIS_LEAVES / 32; i++)
			pg_atomic_init_u32(&store_mem.dirty[c][i], 0);
		for (int i = 0; i < MANTIS_LEAVES; i++)
			pg_atomic_init_u64(&store_mem.dirty_buckets[c][i], 0);
	}

	ctl->dsa_tranche = LWLockNewTrancheId();

	/*
	 * Named in every process, not only in those that attach: the process
	 * that reads pg_stat_activity names the waits of the others with its
	 * own table of tranche names (children inherit the postmaster's).
	 */
	LWLockRegisterTranche(ctl->dsa_tranche, MANTIS_TRANCHE_STORE_AREA);
	area = dsa_create_in_place(store_mem.dsa_place, ctl->dsa_size,
							   ctl->dsa_tranche, NULL);
	dsa_set_size_limit(area, ctl->dsa_size);
	dsa_pin(area);
	ctl->sentinel = dsa_allocate(area, sizeof(uint64));
	/* the postmaster never allocates; backends attach on first use */
	dsa_detach(area);
}

/*
 * Attach this process to the DSA area, once (store_attach() calls this on
 * first use).  The attachment lives as long as the process and is released
 * when it exits.
 */
void
store_attach_area(void)
{
	MemoryContext oldcontext;

	/* it allocates, and can fail: never under a partition lock */
	Assert(!partition_lock_held_any());
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	store_mem.area = dsa_attach_in_place(store_mem.dsa_place, NULL);
	dsa_pin_mapping(store_mem.area);
	MemoryContextSwitchTo(oldcontext);
	on_shmem_exit(dsa_on_shmem_exit_release_in_place, PointerGetDatum(store_mem.dsa_place));

	/*
	 * The size limit keeps every chunk in the area's first segment, so a
	 * chunk's address is the segment's address plus its offset.
	 */
	store_mem.base = (char *) dsa_get_address(store_mem.area, store_mem.control->sentinel) -
		store_mem.control->sentinel;
}

static void
register_view(const StoreRegister *reg, MantisRegisterView *view)
{
	view->hlc = reg->hlc;
	view->deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
	view->value = reg->data + reg->key_len;
	view->value_len = reg->value_len;
	view->expires_ms = register_expires(reg);
}

/*
 * Mark a leaf dirty for one consumer.  The replication worker is woken if
 * we are the first to mark anything since it last looked; the persistence
 * worker is not woken at all: it looks at its bitmap every flush interval,
 * and waking it on every write would cost more than the flush.  The latch
 * pointer is read without a lock: a stale one only wakes a process for
 * nothing.
 */
static inline int
bucket_bit(uint64 bucket)
{
	return (int) ((bucket / MANTIS_LEAVES) % 64);
}

static void
leaf_mark_dirty(MantisConsumer consumer, uint64 hash)
{
	int			leaf = leaf_of(hash);
	uint32		bit = (uint32) 1 << (leaf % 32);
	uint32		old;

	/* before the lock goes: the replication worker's watermark relies on it */
	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	pg_atomic_fetch_or_u64(&store_mem.dirty_buckets[consumer][leaf],
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
 * caller made one, else one allocated now), and a slot under
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

	if (reg != NULL)
	{
		digest_toggle(hash, held_fingerprint(hash, reg));
		if (reg->flags & MANTIS_REG_DELETED)
			pg_atomic_fetch_sub_u64(&store_mem.control->deleted, 1);
		target->flags = reg->flags;
	}
	target->hlc = *hlc;
	target->value_len = value_len;
	/* mantis_store_expire() rewrites a register with its own value */
	if (value_len > 0 && put->value != target->data + put->key_len)
		memcpy(target->data + put->key_len, put->value, value_len);
	if (expires_ms != 0)
		memcpy(target->data + put->key_len + value_len, &expires_ms, sizeof(expires_ms));
	target->flags = (target->flags & ~(MANTIS_REG_DELETED | MANTIS_REG_EXPIRING)) | put->flags |
		(put->deleted ? MANTIS_REG_DELETED : 0) | (expires_ms != 0 ? MANTIS_REG_EXPIRING : 0);
	if (put->deleted)
		pg_atomic_fetch_add_u64(&store_mem.control->deleted, 1);
	digest_toggle(hash, register_fingerprint(hash, hlc, put->deleted,
											 put->value, value_len, expires_ms));
	if (put->deleted)
		leaf_due_lower(leaf_of(hash), 0);
	else if (expires_ms != 0)
		leaf_due_lower(leaf_of(hash), expires_ms);
	if (target != reg)
		*link = ref_of(plan->new_dp);

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
 * Local writes (put->hlc == NULL) take a new HLC under the partition lock,
 * so writes to one key are applied in HLC order; since every register held
 * was witnessed by the clock, a local write always wins.  Remote and
 * reloaded registers are compared with the total order of common/lww.c and move
 * the clock past themselves.
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

	store_attach();
	plan.hash = hash;
	plan.spare = InvalidDsaPointer;
	Assert(!partition_lock_held_any());	/* one at a time */
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = register_find(hash, put->key, put->key_len, &link);

	if (put->hlc != NULL && reg == NULL && put->refuse_upto_ts != 0 &&
		put->hlc->ts <= put->refuse_upto_ts)
	{
		/* its key's deletion or expiry was collected here: a stale copy */
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

/*
 * Raise the ERROR that goes with a failed put, if any.
 */
void
mantis_store_raise_put_failure(MantisPutResult result)
{
	Assert(!partition_lock_held_any());
	if (result == MANTIS_PUT_NO_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store is full"),
				 errdetail("All %d registers allowed by \"mantis.max_keys\" are in use; deletion markers and expired registers count until they are collected.",
						   mantis_max_keys),
				 errhint("Raise \"mantis.max_keys\" and restart the server.  While a peer is away, dead registers wait up to \"mantis.tombstone_lifetime\" to be collected.")));
	if (result == MANTIS_PUT_NO_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store memory is exhausted"),
				 errdetail("%llu of %zu bytes of store memory are in use.",
						   (unsigned long long) pg_atomic_read_u64(&store_mem.control->bytes_used),
						   store_mem.control->dsa_size),
				 errhint("Raise \"mantis.store_memory\" and restart the server, or store smaller values.")));
}

/*
 * Reject a key or value the store will not hold, before anything changes.
 */
void
mantis_store_check_sizes(uint32 key_len, uint32 value_len)
{
	if (key_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis key must not be empty")));
	if (key_len > (uint32) mantis_max_key_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("mantis key is too long"),
				 errdetail("The key is %u bytes; the limit is %d bytes.",
						   key_len, mantis_max_key_size),
				 errhint("Raise \"mantis.max_key_size\" and restart the server.")));
	if (value_len > (uint32) mantis_max_value_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("mantis value is too large"),
				 errdetail("The value is %u bytes; the limit is %d bytes.",
						   value_len, mantis_max_value_size),
				 errhint("Raise \"mantis.max_value_size\" and restart the server.")));
}

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
		local_write_flags(), deleted ? 0 : expires_ms, 0};

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
	put.refuse_upto_ts = 0;
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

/*
 * Counters for mantis_status.  Deletion markers are read first: both only
 * grow between two reads, and a marker is always counted among the
 * registers before it is counted as a marker, so registers >= deleted.
 */
void
mantis_store_stats(MantisStoreStats *stats)
{
	StoreControl *ctl = store_mem.control;

	stats->deleted = pg_atomic_read_u64(&ctl->deleted);
	pg_read_barrier();
	stats->registers = pg_atomic_read_u64(&ctl->registers);
	stats->registers = Max(stats->registers, stats->deleted);
	stats->bytes_used = pg_atomic_read_u64(&ctl->bytes_used);
	stats->bytes_total = ctl->dsa_size;
	stats->expired_held = pg_atomic_read_u64(&ctl->expired_held);
	stats->collected_deletions = pg_atomic_read_u64(&ctl->collected_deletions);
	stats->collected_expired = pg_atomic_read_u64(&ctl->collected_expired);
}
