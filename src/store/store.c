/*-------------------------------------------------------------------------
 * store/store.c
 *	  The last-writer-wins registers in shared memory: their layout, the
 *	  index that finds a key's register, this process's attachment,
 *	  whether the registers may be read and written yet and the encoding
 *	  of their text, the limits on keys and values, and the counters.
 *
 * The store's other files: store/write.c (every write: one register, a
 * committed transaction's, a peer's or a row's), store/read.c (reads,
 * iterators, and the changes and digests the workers take) and
 * store/sweep.c (collecting dead registers).  What they share is in
 * store/internal.h; everyone else calls store/store.h.
 *
 * Layout.  The store's part of shared memory (shmem.c) holds, in order:
 * the store's control block, the hash buckets, the repair digests, the
 * time each leaf is next due for the sweep (store/sweep.c), two bitmaps
 * of dirty digest leaves, the records of dead registers and their leaves'
 * bounds when mantis.max_dead_records is set (store/dead.c), and a DSA
 * area created in place, from
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
 * Expiry.  A register may carry an absolute expiry (expires_ms, common/hlc.h);
 * from then on every read treats it as absent, like a deletion marker,
 * and it stays, protecting its key against older copies, until the sweep
 * (store/sweep.c) collects it.  Every write lowers its leaf's due time
 * (its StoreLeaf's due) to the register's expiry, and a deletion marker
 * its least dead HLC (its dead) to the marker's, so the sweep
 * visits only the leaves that have something to do.
 *
 * State.  A new store (at start, and after every crash restart) is not
 * readable until the persistence worker has loaded mantis_stores
 * (mantis_store_set_loaded()): answering from a half-loaded store would
 * tell a caller that a key it set is absent.  It is not writable until the
 * worker has merged every row of mantis_stores since this server left
 * recovery (at start, or at a promotion: mantis_store_set_writable()), so
 * that the clock is past everything persisted.  Backends wait for either
 * on the store's condition variable, for at most mantis.load_timeout.
 *
 * Changes.  A write sets flags on the register (UNFLUSHED, and UNSENT for
 * local writes when replication is on) and marks the register's bucket and
 * leaf dirty for the worker that consumes each flag, before it releases
 * the partition lock (store/write.c); store/read.c says how the workers
 * take the changes.
 *
 * Locking: partition locks only, shared to read and exclusive to write.
 * A process holds one at a time, except a batch (a committed transaction's
 * writes, store/write.c; a multi-key read, store/read.c), which takes the
 * locks of all its partitions in ascending order, so that no two processes
 * can wait for each other.  Under a partition lock we may take the DSA's
 * own locks (allocating, and freeing a batch's unneeded chunks) and atomics
 * (the clock, counters, digests, dirty bitmaps), and nothing else: no
 * palloc, no callback, nothing that can raise an ERROR.  Every check that
 * can fail happens before a register is changed, and the change itself is
 * plain stores, so an ERROR never leaves a half-written register.
 * Iterators and the workers' takes (store/read.c) copy registers out
 * under the lock into room sized beforehand (CopyBuf, store/internal.h)
 * and call their callback after releasing it.  locks.h lists every lock
 * of mantis.
 *
 * IDENTIFICATION	src/store/store.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "locks.h"
#include "wait_events.h"
#include "common/keyhash.h"
#include "common/records.h"
#include "store/dead.h"
#include "store/internal.h"
#include "store/store.h"

/* Where the store's shared memory lies in this process: see internal.h */
StoreMemory store_mem;

/* ---- the records of dead registers (store/dead.c) ---- */

/* Records a partition's table has room for */
static uint32
per_partition(void)
{
	uint64		per = ((uint64) mantis_max_dead_records + MANTIS_PARTITIONS - 1) /
		MANTIS_PARTITIONS;

	return (uint32) per;
}

/* The bytes of shared memory the records take (0: none kept) */
static Size
dead_shmem_size(void)
{
	if (mantis_max_dead_records <= 0)
		return 0;
	return add_size(add_size(mul_size(MANTIS_PARTITIONS,
									  MAXALIGN(mantis_records_size(per_partition()))),
							 MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(MantisLeafBound)))),
					add_size(MAXALIGN(mul_size(MANTIS_PARTITIONS, sizeof(pg_atomic_uint64))),
							 MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)))));
}

/* Point store_mem at the records from base; the address after them */
static char *
dead_locate(char *base)
{
	if (mantis_max_dead_records <= 0)
	{
		store_mem.dead_tables = NULL;
		store_mem.leaf_bounds = NULL;
		store_mem.dead_least = NULL;
		store_mem.dead_changed = NULL;
		return base;
	}
	store_mem.dead_stride = MAXALIGN(mantis_records_size(per_partition()));
	store_mem.dead_tables = base;
	base += mul_size(MANTIS_PARTITIONS, store_mem.dead_stride);
	store_mem.leaf_bounds = (MantisLeafBound *) base;
	base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(MantisLeafBound)));
	store_mem.dead_least = (pg_atomic_uint64 *) base;
	base += MAXALIGN(mul_size(MANTIS_PARTITIONS, sizeof(pg_atomic_uint64)));
	store_mem.dead_changed = (pg_atomic_uint32 *) base;
	return base + MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)));
}

/* Empty tables and bounds (a new store: at start, and after a crash restart) */
static void
dead_init(void)
{
	pg_atomic_init_u64(&store_mem.control->records, 0);
	pg_atomic_init_u64(&store_mem.control->collapsed, 0);
	pg_atomic_init_u64(&store_mem.control->bounds, 0);
	pg_atomic_init_u64(&store_mem.control->records_collected, 0);
	pg_atomic_init_u64(&store_mem.control->collapsed_seen, 0);
	pg_atomic_init_u64(&store_mem.control->collapsed_seen_ms, 0);
	if (!dead_enabled())
		return;
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
		(void) mantis_records_init(store_mem.dead_tables + p * store_mem.dead_stride,
								   per_partition());
	memset(store_mem.leaf_bounds, 0, MANTIS_LEAVES * sizeof(MantisLeafBound));
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
		pg_atomic_init_u64(&store_mem.dead_least[p], PG_UINT64_MAX);
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
		pg_atomic_init_u32(&store_mem.dead_changed[w], 0);
}

/* ---- layout, and this process's attachment ---- */

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
	/* the leaves' words, and room to start them on a cache line */
	size = add_size(size, add_size(PG_CACHE_LINE_SIZE, mul_size(MANTIS_LEAVES, sizeof(StoreLeaf))));
	size = add_size(size, MAXALIGN(mul_size(2 * MANTIS_SWEEP_GROUPS, sizeof(pg_atomic_uint64))));
	size = add_size(size, mul_size(MANTIS_CONSUMERS,
								   MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)))));
	size = add_size(size, dead_shmem_size());
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
	base = (char *) CACHELINEALIGN(base);
	store_mem.leaves = (StoreLeaf *) base;
	base += mul_size(MANTIS_LEAVES, sizeof(StoreLeaf));
	store_mem.group_due = (pg_atomic_uint64 *) base;
	store_mem.group_dead = store_mem.group_due + MANTIS_SWEEP_GROUPS;
	base += MAXALIGN(mul_size(2 * MANTIS_SWEEP_GROUPS, sizeof(pg_atomic_uint64)));
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		store_mem.dirty[c] = (pg_atomic_uint32 *) base;
		base += MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)));
	}
	base = dead_locate(base);
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
	pg_atomic_init_u64(&ctl->refusal_horizon, 0);
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
	pg_atomic_init_u64(&ctl->adopting, 0);
	dead_init();
	for (uint64 i = 0; i < nbuckets; i++)
		store_mem.buckets[i] = InvalidStoreRef;
	for (int i = 0; i < MANTIS_LEAVES; i++)
	{
		StoreLeaf  *l = store_leaf(i);

		pg_atomic_init_u64(&store_mem.digests[i], 0);
		pg_atomic_init_u64(&l->due, PG_UINT64_MAX);	/* nothing due */
		pg_atomic_init_u64(&l->dead, PG_UINT64_MAX);	/* nothing dead */
		for (int c = 0; c < MANTIS_CONSUMERS; c++)
			pg_atomic_init_u64(&l->dirty_buckets[c], 0);
	}
	for (int i = 0; i < MANTIS_SWEEP_GROUPS; i++)
	{
		pg_atomic_init_u64(&store_mem.group_due[i], PG_UINT64_MAX);
		pg_atomic_init_u64(&store_mem.group_dead[i], PG_UINT64_MAX);
	}
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		for (int i = 0; i < MANTIS_LEAVES / 32; i++)
			pg_atomic_init_u32(&store_mem.dirty[c][i], 0);
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

/* ---- whether the registers may be read and written yet ---- */

/*
 * Sleep until the worker sets "flag", for at most mantis.load_timeout;
 * then fail with "what" as the message.
 */
static void
wait_for_worker(pg_atomic_uint32 *flag, const char *what, const char *detail)
{
	TimestampTz start = GetCurrentTimestamp();

	Assert(!partition_lock_held_any());	/* nobody sleeps holding one */
	ConditionVariablePrepareToSleep(&store_mem.control->loaded_cv);
	while (pg_atomic_read_u32(flag) == 0)
	{
		long		waited = (long) ((GetCurrentTimestamp() - start) / 1000);

		if (waited >= mantis_load_timeout_ms)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s", what),
					 errdetail("%s", detail),
					 errhint("Retry in a moment. If this persists, check that the mantis worker is running and that database \"%s\" (\"mantis.database\") exists.",
							 mantis_database)));
		}
		ConditionVariableTimedSleep(&store_mem.control->loaded_cv,
									mantis_load_timeout_ms - waited,
									mantis_wait_event(MANTIS_WAIT_LOAD));
	}
	ConditionVariableCancelSleep();
}

/*
 * Wait until the registers may be read: at once in steady state; after a
 * start or crash restart, until the worker has loaded mantis_stores, for at
 * most mantis.load_timeout.  Answering from a half-loaded store would tell
 * a caller that a key it set is absent.
 */
void
mantis_store_wait_loaded(void)
{
	if (likely(pg_atomic_read_u32(&store_mem.control->loaded) != 0))
		return;
	wait_for_worker(&store_mem.control->loaded, "mantis is loading",
					"The worker is restoring the registers from mantis_stores after a restart.");
}

/*
 * Wait until the registers may be written: after a promotion, until the
 * worker has merged every row of mantis_stores, so that the clock is past
 * everything the old primary persisted.  (api/functions.c refuses writes on a
 * standby and in read-only transactions before calling this.)
 */
void
mantis_store_wait_writable(void)
{
	mantis_store_wait_loaded();
	if (likely(pg_atomic_read_u32(&store_mem.control->writable) != 0))
		return;
	wait_for_worker(&store_mem.control->writable, "mantis is taking over after a promotion",
					"The worker is merging mantis_stores before this server accepts writes.");
}

bool
mantis_store_is_loaded(void)
{
	return pg_atomic_read_u32(&store_mem.control->loaded) != 0;
}

bool
mantis_store_is_writable(void)
{
	return pg_atomic_read_u32(&store_mem.control->writable) != 0;
}

/*
 * The refusal horizon (R4 of common/rules.h): a register from a peer at or
 * below it, for a key held nothing of, is a copy of something collected or
 * adopted here.  store/collect.c says when it moves; it lives here because
 * merges read it under the partition lock that a sweep raises it under.
 */
uint64
mantis_store_refusal_horizon(void)
{
	return pg_atomic_read_u64(&store_mem.control->refusal_horizon);
}

void
mantis_store_raise_refusal_horizon(uint64 ts)
{
	uint64		old = pg_atomic_read_u64(&store_mem.control->refusal_horizon);

	while (old < ts &&
		   !pg_atomic_compare_exchange_u64(&store_mem.control->refusal_horizon, &old, ts))
		;
}

/* Lower it below below_ts (rows gone: store/collect.c) */
void
mantis_store_lower_refusal_horizon(uint64 below_ts)
{
	uint64		old = pg_atomic_read_u64(&store_mem.control->refusal_horizon);

	Assert(below_ts > 0);
	if (below_ts == 0)
		return;

	while (old >= below_ts &&
		   !pg_atomic_compare_exchange_u64(&store_mem.control->refusal_horizon, &old,
										   below_ts - 1))
		;
}

/* The encoding of the text in the store, or -1 while not known yet */
int
mantis_store_encoding(void)
{
	return store_mem.control->encoding;
}

/* Called by the worker once connected to mantis.database */
void
mantis_store_set_encoding(int encoding)
{
	store_mem.control->encoding = encoding;
}

/*
 * Mark the registers readable and wake every backend waiting for that.
 */
void
mantis_store_set_loaded(void)
{
	pg_atomic_write_u32(&store_mem.control->loaded, 1);
	ConditionVariableBroadcast(&store_mem.control->loaded_cv);
}

/*
 * Mark the store writable: the worker has merged every row of
 * mantis_stores since this server left recovery (at start, or at a
 * promotion), so the clock is past everything persisted.
 */
void
mantis_store_set_writable(void)
{
	pg_atomic_write_u32(&store_mem.control->writable, 1);
	ConditionVariableBroadcast(&store_mem.control->loaded_cv);
}

/* ---- removing a register (store/sweep.c, store/dead.c) ---- */

/*
 * Remove a register from the store: *link is the ref that links to it.
 * Its fingerprint leaves its leaf's digest, unless "digest" is false (a
 * register compacted into a record, which keeps it: store/dead.c).  The
 * caller holds its partition lock exclusively.
 */
void
register_remove(StoreRef *link, StoreRegister *reg, bool digest)
{
	StoreRef	ref = *link;
	uint64		hash = mantis_hash(reg->data, reg->key_len);
	Size		size = REGISTER_HEADER_SIZE + reg->capacity;

	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	Assert(register_at(ref) == reg);
	*link = reg->next;
	if (digest)
		digest_toggle(hash, held_fingerprint(hash, reg));
	/* deletion markers first: a reader of the two sees registers >= deleted */
	if (reg->flags & MANTIS_REG_DELETED)
		pg_atomic_fetch_sub_u64(&store_mem.control->deleted, 1);
	if (reg->flags & MANTIS_REG_ADOPTED)
		pg_atomic_fetch_sub_u64(&store_mem.control->adopting, 1);
	pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
	dsa_free(store_mem.area, dsa_pointer_of(ref));
	pg_atomic_fetch_sub_u64(&store_mem.control->bytes_used, size);
}

/* ---- limits and counters ---- */

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
	/* records of dead registers (R7): 0 when none are kept */
	stats->dead_records = pg_atomic_read_u64(&ctl->records);
	stats->dead_records_max = dead_enabled() ?
		(uint64) per_partition() * MANTIS_PARTITIONS : 0;
	stats->collapsed_records = pg_atomic_read_u64(&ctl->collapsed);
	stats->leaves_with_bound = pg_atomic_read_u64(&ctl->bounds);
	stats->collected_records = pg_atomic_read_u64(&ctl->records_collected);
}
