/*-------------------------------------------------------------------------
 * store.c
 *	  The last-writer-wins registers in shared memory.
 *
 * Layout.  The store's part of shared memory (shmem.c) holds, in order:
 * the store's control block, the hash buckets, the repair digests, two
 * bitmaps of dirty digest leaves, and a DSA area created in place, from
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
 * register in it (key hash, HLC, deletion, value).  Writers update it in O(1) under
 * the partition lock; repair compares digests with peers without scanning.
 *
 * Changes.  A write sets flags on the register (UNFLUSHED for every write,
 * UNSENT for local writes when replication is on) and, for each flag, marks
 * it dirty for the worker that consumes that flag (persistence,
 * replication): the register's bucket in its leaf's 64-bit bucket mask,
 * then the leaf in a 64 Ki-bit bitmap, waking the replication worker's
 * latch when it set a leaf bit first.  A worker takes its bitmap, then the
 * bucket masks of the dirty leaves, and visits only those buckets: its cost
 * follows the number of changes, never the number of keys.  It clears the
 * flags of what it takes; should it fail to deliver (a flush that does not
 * commit), it gives back the whole leaves it took with
 * mantis_store_give_back_leaf().
 * Memory does not grow with the rate of writes: a key written a thousand
 * times between two worker passes is sent once.
 *
 * Locking: partition locks only, shared to read and exclusive to write.
 * A process holds one at a time, except a batch (a committed transaction's
 * writes, a multi-key read), which takes the locks of all its partitions in
 * ascending order, so that no two processes can wait for each other.
 * Under a partition lock we may take the DSA's own locks (allocating, and freeing a batch's unneeded chunks) and
 * atomics (the clock, counters, digests), and nothing else: no palloc,
 * no callback, nothing that can raise an ERROR.  Every check that can fail happens before a register is changed, and the
 * change itself is plain stores, so an ERROR never leaves a half-written
 * register.  Iterators copy registers out under the lock into room sized
 * beforehand (CopyBuf) and call their callback after releasing it.
 *
 * IDENTIFICATION	src/store.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "keyhash.h"
#include "locks.h"
#include "store.h"
#include "wakeup.h"

/* A register: header, then key bytes, then value bytes, in one DSA chunk. */
typedef uint32 StoreRef;

#define InvalidStoreRef		((StoreRef) 0)	/* offset 0 is the DSA's header */
#define REF_SHIFT			3	/* DSA chunks are 8-byte aligned */

typedef struct StoreRegister
{
	StoreRef	next;			/* next register in the bucket */
	uint32		hash;			/* low 32 bits of mantis_hash() of the key */
	uint32		capacity;		/* bytes of data[] allocated */
	uint32		key_len;
	uint32		value_len;		/* 0 for a deletion marker */
	uint16		flags;			/* MANTIS_REG_* */
	MantisHLC	hlc;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} StoreRegister;

#define REGISTER_HEADER_SIZE	offsetof(StoreRegister, data)

/* The store's control block in shared memory. */
typedef struct StoreControl
{
	LWLockPadded *locks;		/* MANTIS_PARTITIONS partition locks */
	int			dsa_tranche;
	uint64		bucket_mask;	/* nbuckets - 1 */
	Size		dsa_size;
	dsa_pointer sentinel;		/* a chunk whose address gives the base */
	pg_atomic_uint64 registers;
	pg_atomic_uint64 deleted;
	pg_atomic_uint64 bytes_used;

	/* set once the registers may be read, and once they may be written */
	pg_atomic_uint32 loaded;
	pg_atomic_uint32 writable;
	ConditionVariable loaded_cv;	/* broadcast when either is set */

	/* encoding of mantis.database once the worker connected, or -1 */
	volatile int encoding;
} StoreControl;

static StoreControl *store = NULL;
static StoreRef *buckets = NULL;
static pg_atomic_uint64 *digests = NULL;	/* MANTIS_LEAVES */
static pg_atomic_uint32 *dirty[MANTIS_CONSUMERS];	/* MANTIS_LEAVES / 32 each */
static pg_atomic_uint64 *dirty_buckets[MANTIS_CONSUMERS];	/* MANTIS_LEAVES each */
static void *dsa_place = NULL;

/* This process's attachment to the DSA area, made on first use, and the
 * address at which the area's one segment is mapped here. */
static dsa_area *store_area = NULL;
static char *store_base = NULL;

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

/* Point this process's statics at the parts of the shared chunk. */
static void
store_locate(char *base)
{
	store = (StoreControl *) base;
	base += MAXALIGN(sizeof(StoreControl));
	buckets = (StoreRef *) base;
	base += MAXALIGN(mul_size(bucket_count(), sizeof(StoreRef)));
	digests = (pg_atomic_uint64 *) base;
	base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)));
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		dirty[c] = (pg_atomic_uint32 *) base;
		base += MAXALIGN(mul_size(MANTIS_LEAVES / 32, sizeof(pg_atomic_uint32)));
		dirty_buckets[c] = (pg_atomic_uint64 *) base;
		base += MAXALIGN(mul_size(MANTIS_LEAVES, sizeof(pg_atomic_uint64)));
	}
	dsa_place = base;
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
	dsa_area   *area;

	store_locate(place);
	if (found)
		return;

	pg_atomic_init_u32(&store->loaded, 0);
	pg_atomic_init_u32(&store->writable, 0);
	store->encoding = -1;
	ConditionVariableInit(&store->loaded_cv);

	store->locks = GetNamedLWLockTranche(MANTIS_TRANCHE_PARTITIONS);
	store->bucket_mask = nbuckets - 1;
	store->dsa_size = store_dsa_size();
	pg_atomic_init_u64(&store->registers, 0);
	pg_atomic_init_u64(&store->deleted, 0);
	pg_atomic_init_u64(&store->bytes_used, 0);
	for (uint64 i = 0; i < nbuckets; i++)
		buckets[i] = InvalidStoreRef;
	for (int i = 0; i < MANTIS_LEAVES; i++)
		pg_atomic_init_u64(&digests[i], 0);
	for (int c = 0; c < MANTIS_CONSUMERS; c++)
	{
		for (int i = 0; i < MANTIS_LEAVES / 32; i++)
			pg_atomic_init_u32(&dirty[c][i], 0);
		for (int i = 0; i < MANTIS_LEAVES; i++)
			pg_atomic_init_u64(&dirty_buckets[c][i], 0);
	}

	store->dsa_tranche = LWLockNewTrancheId();
	area = dsa_create_in_place(dsa_place, store->dsa_size, store->dsa_tranche, NULL);
	dsa_set_size_limit(area, store->dsa_size);
	dsa_pin(area);
	store->sentinel = dsa_allocate(area, sizeof(uint64));
	/* the postmaster never allocates; backends attach on first use */
	dsa_detach(area);
}

/*
 * Attach this process to the DSA area, once.  The attachment lives as long
 * as the process and is released when it exits.
 */
static inline void
store_attach(void)
{
	MemoryContext oldcontext;

	if (likely(store_area != NULL))
		return;

	LWLockRegisterTranche(store->dsa_tranche, MANTIS_TRANCHE_STORE_AREA);
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	store_area = dsa_attach_in_place(dsa_place, NULL);
	dsa_pin_mapping(store_area);
	MemoryContextSwitchTo(oldcontext);
	on_shmem_exit(dsa_on_shmem_exit_release_in_place, PointerGetDatum(dsa_place));

	/*
	 * The size limit keeps every chunk in the area's first segment, so a
	 * chunk's address is the segment's address plus its offset.
	 */
	store_base = (char *) dsa_get_address(store_area, store->sentinel) - store->sentinel;
}

static inline LWLock *
partition_lock(uint64 hash)
{
	return &store->locks[hash & (MANTIS_PARTITIONS - 1)].lock;
}

static inline StoreRegister *
register_at(StoreRef ref)
{
	return (StoreRegister *) (store_base + ((Size) ref << REF_SHIFT));
}

static inline StoreRef
ref_of(dsa_pointer dp)
{
	Assert((dp & ((1 << REF_SHIFT) - 1)) == 0 && (dp >> (32 + REF_SHIFT)) == 0);
	return (StoreRef) (dp >> REF_SHIFT);
}

static inline dsa_pointer
dsa_pointer_of(StoreRef ref)
{
	return (dsa_pointer) ref << REF_SHIFT;
}

/*
 * Find a key's register in its bucket; the caller holds the partition lock.
 * On return *link points at the ref that links to it (or at the bucket's
 * tail link when the key is absent).
 */
static StoreRegister *
register_find(uint64 hash, const char *key, uint32 key_len, StoreRef **link)
{
	StoreRef   *prev = &buckets[hash & store->bucket_mask];
	StoreRef	ref = *prev;

	while (ref != InvalidStoreRef)
	{
		StoreRegister *reg = register_at(ref);

		if (reg->hash == (uint32) hash && reg->key_len == key_len &&
			memcmp(reg->data, key, key_len) == 0)
		{
			if (link)
				*link = prev;
			return reg;
		}
		prev = &reg->next;
		ref = reg->next;
	}
	if (link)
		*link = prev;
	return NULL;
}

static void
register_to_record(const StoreRegister *reg, MantisRecord *rec)
{
	rec->hlc = reg->hlc;
	rec->deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
	rec->key_len = reg->key_len;
	rec->key = reg->data;
	rec->value_len = reg->value_len;
	rec->value = reg->data + reg->key_len;
}

static void
register_view(const StoreRegister *reg, MantisRegisterView *view)
{
	view->hlc = reg->hlc;
	view->deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
	view->value = reg->data + reg->key_len;
	view->value_len = reg->value_len;
}

/*
 * The repair fingerprint of a register; see the file header.  It covers the
 * value too, so that two registers with one HLC and different values (one
 * node id on two servers, as a failover can make) do not look alike.
 */
static inline uint64
register_fingerprint(uint64 hash, const MantisHLC *hlc, bool deleted,
					 const char *value, uint32 value_len)
{
	uint64		value_hash = deleted ? 1 : mantis_hash(value, value_len) ^ 2;

	return mantis_mix64(hash ^ mantis_mix64(hlc->ts ^ mantis_mix64(hlc->node ^ value_hash)));
}

static inline uint64
held_fingerprint(uint64 hash, const StoreRegister *reg)
{
	return register_fingerprint(hash, &reg->hlc, (reg->flags & MANTIS_REG_DELETED) != 0,
								reg->data + reg->key_len, reg->value_len);
}

static inline int
leaf_of(uint64 hash)
{
	return (int) (hash & (MANTIS_LEAVES - 1));
}

/*
 * Add or remove a fingerprint from its leaf's digest.  Only writers holding
 * the leaf's partition lock exclusively change a digest, so a plain
 * read-modify-write suffices; readers elsewhere see the old or new value.
 */
static inline void
digest_toggle(uint64 hash, uint64 fingerprint)
{
	pg_atomic_uint64 *digest = &digests[leaf_of(hash)];

	pg_atomic_write_u64(digest, pg_atomic_read_u64(digest) ^ fingerprint);
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

	pg_atomic_fetch_or_u64(&dirty_buckets[consumer][leaf],
						   UINT64CONST(1) << bucket_bit(hash & store->bucket_mask));
	old = pg_atomic_fetch_or_u32(&dirty[consumer][leaf / 32], bit);

	if ((old & bit) == 0 && consumer == MANTIS_CONSUMER_REPLICATION)
		mantis_wake_worker(MANTIS_REPLICATION_WORKER);
}

/*
 * Bytes of data[] to allocate for "need" bytes of key and value: rounded up
 * so that an overwrite with a value a little longer still fits in place.
 */
static inline uint32
capacity_for(uint32 need)
{
	return (uint32) MAXALIGN(need);
}

/* Whether a register's chunk may be reused for "need" bytes. */
static inline bool
fits_in_place(const StoreRegister *reg, uint32 need)
{
	return need <= reg->capacity && reg->capacity - need <= Max(need, 64);
}

/* What one write does; filled in by the caller of store_put(). */
typedef struct StorePut
{
	const char *key;
	uint32		key_len;
	const char *value;
	uint32		value_len;
	bool		deleted;
	const MantisHLC *hlc;		/* NULL: a local write, take a new HLC */
	int			flags;			/* MANTIS_REG_UNSENT / UNFLUSHED to set */
} StorePut;

/*
 * What preparing a write found and reserved; the caller holds the key's
 * partition lock from put_prepare() through put_apply().
 */
typedef struct PutPlan
{
	uint64		hash;
	bool		existed;		/* a register for the key was held */
	bool		was_live;		/* ... and it held a value */
	dsa_pointer spare;			/* a chunk allocated beforehand, if any */
	dsa_pointer new_dp;			/* a new chunk, or invalid to write in place */
	dsa_pointer to_free;		/* the replaced chunk, freed after unlocking */
	Size		freed_size;
	bool		applied;		/* put_apply() ran (a batch may skip one) */
} PutPlan;

/* Bytes of key and value a write stores */
static inline uint32
put_need(const StorePut *put)
{
	return put->key_len + (put->deleted ? 0 : put->value_len);
}

/*
 * Give the plan its new chunk for "need" bytes: the spare allocated
 * beforehand, if any, else one allocated now.  False when the store
 * memory is exhausted.
 */
static bool
plan_take_chunk(PutPlan *plan, uint32 need)
{
	uint32		capacity = capacity_for(need);

	if (DsaPointerIsValid(plan->spare))
	{
		plan->new_dp = plan->spare;
		plan->spare = InvalidDsaPointer;
	}
	else
		plan->new_dp = dsa_allocate_extended(store_area, REGISTER_HEADER_SIZE + capacity,
											 DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(plan->new_dp))
		return false;
	pg_atomic_fetch_add_u64(&store->bytes_used, REGISTER_HEADER_SIZE + capacity);
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
static MantisPutResult
put_prepare(const StorePut *put, StoreRegister *reg, PutPlan *plan)
{
	uint32		need = put_need(put);

	plan->existed = reg != NULL;
	plan->was_live = reg != NULL && (reg->flags & MANTIS_REG_DELETED) == 0;
	plan->new_dp = InvalidDsaPointer;
	plan->to_free = InvalidDsaPointer;
	plan->freed_size = 0;
	if (reg != NULL && fits_in_place(reg, need))
		return MANTIS_PUT_APPLIED;

	if (reg == NULL &&
		pg_atomic_fetch_add_u64(&store->registers, 1) >= (uint64) mantis_max_keys)
	{
		pg_atomic_fetch_sub_u64(&store->registers, 1);
		return MANTIS_PUT_NO_KEYS;
	}
	if (!plan_take_chunk(plan, need))
	{
		if (reg == NULL)
			pg_atomic_fetch_sub_u64(&store->registers, 1);
		return MANTIS_PUT_NO_MEMORY;
	}
	return MANTIS_PUT_APPLIED;
}

/*
 * Give back what put_prepare() reserved, when the write will not happen;
 * the chunk becomes the plan's spare again, freed by put_finish().
 */
static void
put_unprepare(PutPlan *plan)
{
	if (!DsaPointerIsValid(plan->new_dp))
		return;
	pg_atomic_fetch_sub_u64(&store->bytes_used,
							REGISTER_HEADER_SIZE + register_at(ref_of(plan->new_dp))->capacity);
	Assert(!DsaPointerIsValid(plan->spare));
	plan->spare = plan->new_dp;
	plan->new_dp = InvalidDsaPointer;
	if (!plan->existed)
		pg_atomic_fetch_sub_u64(&store->registers, 1);
}

/*
 * Make the write visible: plain stores only, nothing can fail.  "reg" and
 * "link" are what register_find() returns for the key now.
 */
static void
put_apply(const StorePut *put, StoreRegister *reg, StoreRef *link,
		  const MantisHLC *hlc, PutPlan *plan)
{
	uint64		hash = plan->hash;
	uint32		value_len = put->deleted ? 0 : put->value_len;
	StoreRegister *target;

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
			pg_atomic_fetch_sub_u64(&store->deleted, 1);
		target->flags = reg->flags;
	}
	target->hlc = *hlc;
	target->value_len = value_len;
	if (value_len > 0)
		memcpy(target->data + put->key_len, put->value, value_len);
	target->flags = (target->flags & ~MANTIS_REG_DELETED) | put->flags |
		(put->deleted ? MANTIS_REG_DELETED : 0);
	if (put->deleted)
		pg_atomic_fetch_add_u64(&store->deleted, 1);
	digest_toggle(hash, register_fingerprint(hash, hlc, put->deleted,
											 put->value, value_len));
	if (target != reg)
		*link = ref_of(plan->new_dp);
}

/* Free what a plan did not use, once no partition lock is held. */
static void
put_release(PutPlan *plan)
{
	if (DsaPointerIsValid(plan->spare))
		dsa_free(store_area, plan->spare);
	plan->spare = InvalidDsaPointer;
}

/* After the partition lock is released: free the old chunk, tell the workers. */
static void
put_finish(const StorePut *put, PutPlan *plan)
{
	put_release(plan);
	if (DsaPointerIsValid(plan->to_free))
	{
		dsa_free(store_area, plan->to_free);
		pg_atomic_fetch_sub_u64(&store->bytes_used, plan->freed_size);
	}
	if (put->flags & MANTIS_REG_UNFLUSHED)
		leaf_mark_dirty(MANTIS_CONSUMER_PERSIST, plan->hash);
	if (put->flags & MANTIS_REG_UNSENT)
		leaf_mark_dirty(MANTIS_CONSUMER_REPLICATION, plan->hash);
}

/*
 * Store one register, unless the one held for its key is equal or newer.
 *
 * Local writes (put->hlc == NULL) take a new HLC under the partition lock,
 * so writes to one key are applied in HLC order; since every register held
 * was witnessed by the clock, a local write always wins.  Remote and
 * reloaded registers are compared with the total order of lww.c and move
 * the clock past themselves.
 */
static MantisPutResult
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
	LWLockAcquire(lock, LW_EXCLUSIVE);
	reg = register_find(hash, put->key, put->key_len, &link);

	if (put->hlc != NULL && reg != NULL)
	{
		MantisRegisterView incoming = {*put->hlc, put->deleted, put->value,
		put->deleted ? 0 : put->value_len};
		MantisRegisterView held;

		register_view(reg, &held);
		/* the unit-tested merge rule decides: the held one may win */
		if (mantis_lww_merge(&held, &incoming) == &held)
		{
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
		mantis_hlc_witness(hlc.ts);
	}
	else
		hlc = mantis_hlc_now();
	put_apply(put, reg, link, &hlc, &plan);
	LWLockRelease(lock);

	put_finish(put, &plan);
	if (hlc_out)
		*hlc_out = hlc;
	if (replaced_live)
		*replaced_live = plan.was_live;
	return MANTIS_PUT_APPLIED;
}

/* The partitions a set of keys lies in, as a bitmap. */
typedef struct PartitionSet
{
	uint64		words[MANTIS_PARTITIONS / 64];
} PartitionSet;

static void
partitions_lock(const PartitionSet *set, LWLockMode mode)
{
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
		if (set->words[p / 64] & (UINT64CONST(1) << (p % 64)))
			LWLockAcquire(&store->locks[p].lock, mode);
}

static void
partitions_unlock(const PartitionSet *set)
{
	for (int p = MANTIS_PARTITIONS - 1; p >= 0; p--)
		if (set->words[p / 64] & (UINT64CONST(1) << (p % 64)))
			LWLockRelease(&store->locks[p].lock);
}

static void
partitions_add(PartitionSet *set, uint64 hash)
{
	int			p = (int) (hash & (MANTIS_PARTITIONS - 1));

	set->words[p / 64] |= UINT64CONST(1) << (p % 64);
}

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
 * place.  Chunks are allocated before the partition locks are taken (so
 * they are held briefly); the ones of writes that turn out to fit in place
 * are given back under the locks before any write allocates, or a
 * transaction rewriting many large values could find the store full only
 * because of the chunks it holds itself.  Returns NULL, with *result
 * saying why, when the writes do not fit; nothing is reserved then.
 */
MantisBatch *
mantis_store_batch_prepare(const MantisBatchWrite *writes, int n,
						   MantisPutResult *result)
{
	int			flags = MANTIS_REG_UNFLUSHED |
		(mantis_replication_enabled() ? MANTIS_REG_UNSENT : 0);
	MantisBatch *b = palloc0(sizeof(MantisBatch));
	int			prepared;

	store_attach();
	b->n = n;
	b->puts = palloc(sizeof(StorePut) * n);
	b->plans = palloc(sizeof(PutPlan) * n);
	for (int i = 0; i < n; i++)
	{
		StorePut	put = {writes[i].key, writes[i].key_len, writes[i].value,
		writes[i].value_len, writes[i].deleted, NULL, flags};

		b->puts[i] = put;
		b->plans[i].hash = mantis_hash(put.key, put.key_len);
		b->plans[i].spare = dsa_allocate_extended(store_area,
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
			dsa_free(store_area, b->plans[i].spare);
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
	if (DsaPointerIsValid(plan->new_dp))
	{
		/* a new chunk is ready; only the key count may have to move */
		if (!plan->existed && reg != NULL)
			pg_atomic_fetch_sub_u64(&store->registers, 1);
		else if (plan->existed && reg == NULL)
			pg_atomic_fetch_add_u64(&store->registers, 1);
		plan->existed = reg != NULL;
		return true;
	}
	if (reg != NULL && fits_in_place(reg, put_need(put)))
		return true;

	/* the register it would overwrite in place was replaced meanwhile */
	if (!plan_take_chunk(plan, put_need(put)))
		return false;
	if (reg == NULL)
		pg_atomic_fetch_add_u64(&store->registers, 1);
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
	hlc = mantis_hlc_now();
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

/*
 * Raise the ERROR that goes with a failed put, if any.
 */
void
mantis_store_raise_put_failure(MantisPutResult result)
{
	if (result == MANTIS_PUT_NO_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store is full"),
				 errdetail("All %d registers allowed by \"mantis.max_keys\" are in use; deletion markers count too.",
						   mantis_max_keys),
				 errhint("Raise \"mantis.max_keys\" and restart the server.")));
	if (result == MANTIS_PUT_NO_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store memory is exhausted"),
				 errdetail("%llu of %zu bytes of store memory are in use.",
						   (unsigned long long) pg_atomic_read_u64(&store->bytes_used),
						   store->dsa_size),
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
 * Sleep until the worker sets "flag", for at most mantis.load_timeout;
 * then fail with "what" as the message.
 */
static void
wait_for_worker(pg_atomic_uint32 *flag, const char *what, const char *detail)
{
	TimestampTz start = GetCurrentTimestamp();

	ConditionVariablePrepareToSleep(&store->loaded_cv);
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
		ConditionVariableTimedSleep(&store->loaded_cv,
									mantis_load_timeout_ms - waited,
									PG_WAIT_EXTENSION);
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
	if (likely(pg_atomic_read_u32(&store->loaded) != 0))
		return;
	wait_for_worker(&store->loaded, "mantis is loading",
					"The worker is restoring the registers from mantis_stores after a restart.");
}

/*
 * Wait until the registers may be written: after a promotion, until the
 * worker has merged every row of mantis_stores, so that the clock is past
 * everything the old primary persisted.  (functions.c refuses writes on a
 * standby and in read-only transactions before calling this.)
 */
void
mantis_store_wait_writable(void)
{
	mantis_store_wait_loaded();
	if (likely(pg_atomic_read_u32(&store->writable) != 0))
		return;
	wait_for_worker(&store->writable, "mantis is taking over after a promotion",
					"The worker is merging mantis_stores before this server accepts writes.");
}

/*
 * A local write: a value, or a deletion marker when "deleted".  On success
 * *hlc is the clock of the write and *replaced_live tells whether a live
 * value was overwritten.  The caller reports failures.
 */
MantisPutResult
mantis_store_set(const char *key, uint32 key_len, const char *value,
				 uint32 value_len, bool deleted, MantisHLC *hlc,
				 bool *replaced_live)
{
	StorePut	put = {key, key_len, value, value_len, deleted, NULL,
		MANTIS_REG_UNFLUSHED | (mantis_replication_enabled() ? MANTIS_REG_UNSENT : 0)};

	return store_put(&put, hlc, replaced_live);
}

/*
 * Merge a register from a peer or from mantis_stores; "flags" says what the
 * worker still owes it (UNFLUSHED for a peer's register, nothing for one
 * loaded from the table).  Sizes must have been checked by the caller.
 */
MantisPutResult
mantis_store_merge(const MantisRecord *rec, int flags)
{
	StorePut	put = {rec->key, rec->key_len, rec->value, rec->value_len,
	rec->deleted, &rec->hlc, flags};

	return store_put(&put, NULL, NULL);
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

/* mantis_store_merge(), counting the outcome in *tally */
void
mantis_store_merge_tallied(const MantisRecord *rec, int flags, MantisMergeTally *tally)
{
	switch (mantis_store_merge(rec, flags))
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
	}
}

/* ---- copying registers out ---- */

/*
 * Registers copied out of the store under a partition lock, to be used
 * after releasing it.  Under the lock a copy only does memcpy into room
 * reserved beforehand; when the registers do not fit, the copy counts what
 * it needs, the lock is released, the buffer grown, and the copy done
 * again.  So nothing is allocated, and nothing can raise an ERROR, while a
 * partition lock is held, and no callback ever runs under one.
 */
typedef struct CopyBuf
{
	char	   *data;
	Size		size;
	Size		used;
	MantisRecord *recs;
	int			nrecs;
	int			maxrecs;
	Size		need_bytes;		/* what did not fit in this pass */
	int			need_recs;
} CopyBuf;

#define COPYBUF_INITIAL_BYTES	8192
#define COPYBUF_INITIAL_RECS	64

static void
copybuf_init(CopyBuf *b)
{
	b->size = COPYBUF_INITIAL_BYTES;
	b->data = palloc(b->size);
	b->maxrecs = COPYBUF_INITIAL_RECS;
	b->recs = palloc(sizeof(MantisRecord) * b->maxrecs);
	b->used = 0;
	b->nrecs = 0;
	b->need_bytes = 0;
	b->need_recs = 0;
}

static void
copybuf_free(CopyBuf *b)
{
	pfree(b->data);
	pfree(b->recs);
}

static inline void
copybuf_reset(CopyBuf *b)
{
	b->used = 0;
	b->nrecs = 0;
	b->need_bytes = 0;
	b->need_recs = 0;
}

static inline bool
copybuf_fits(const CopyBuf *b)
{
	return b->need_recs == 0;
}

/*
 * Copy one register; the caller holds its partition lock.  Plain stores
 * only: a register that does not fit is counted, not copied.
 */
static inline void
copybuf_put(CopyBuf *b, const StoreRegister *reg)
{
	Size		len = (Size) reg->key_len + reg->value_len;
	MantisRecord *rec;

	if (b->need_recs > 0 || b->nrecs == b->maxrecs || b->size - b->used < len)
	{
		b->need_recs++;
		b->need_bytes += len;
		return;
	}
	rec = &b->recs[b->nrecs++];
	register_to_record(reg, rec);
	memcpy(b->data + b->used, reg->data, len);
	rec->key = b->data + b->used;
	rec->value = rec->key + rec->key_len;
	b->used += len;
}

/* Make room for what the last pass could not copy; no lock held. */
static void
copybuf_grow(CopyBuf *b)
{
	Size		bytes = b->used + b->need_bytes;
	int			recs = b->nrecs + b->need_recs;

	if (bytes > b->size)
	{
		b->size = Max(bytes, b->size * 2);
		pfree(b->data);
		b->data = palloc(b->size);
	}
	if (recs > b->maxrecs)
	{
		b->maxrecs = Max(recs, b->maxrecs * 2);
		b->recs = repalloc(b->recs, sizeof(MantisRecord) * b->maxrecs);
	}
	copybuf_reset(b);
}

static void
copybuf_call(const CopyBuf *b, MantisRecordCallback callback, void *arg)
{
	for (int i = 0; i < b->nrecs; i++)
		callback(&b->recs[i], arg);
}

static inline LWLock *
leaf_lock(int leaf)
{
	return &store->locks[leaf & (MANTIS_PARTITIONS - 1)].lock;
}

/*
 * Look a key up.  When it holds a live value, return true and a palloc'd
 * chunk of "header" bytes (left for the caller) followed by the value's
 * *value_len bytes.  The chunk is sized before the shared lock is taken,
 * and allocated again, larger, if the value did not fit.
 */
bool
mantis_store_get(const char *key, uint32 key_len, Size header,
				 char **chunk, uint32 *value_len)
{
	uint64		hash = mantis_hash(key, key_len);
	LWLock	   *lock = partition_lock(hash);
	uint32		room = 256 - header;
	char	   *buf = palloc(header + room);

	store_attach();
	for (;;)
	{
		StoreRegister *reg;
		uint32		len = 0;
		bool		found = false;

		LWLockAcquire(lock, LW_SHARED);
		reg = register_find(hash, key, key_len, NULL);
		if (reg != NULL && (reg->flags & MANTIS_REG_DELETED) == 0)
		{
			found = true;
			len = reg->value_len;
			if (len <= room)
				memcpy(buf + header, reg->data + reg->key_len, len);
		}
		LWLockRelease(lock);

		if (!found)
		{
			pfree(buf);
			return false;
		}
		if (len <= room)
		{
			*chunk = buf;
			*value_len = len;
			return true;
		}
		pfree(buf);
		room = len;
		buf = palloc(header + room);
	}
}

/*
 * Look up n keys at once, as of one instant: the partition locks of every
 * key are held (shared, in ascending order) while all are copied, so a
 * batch applied by mantis_store_batch_apply() is seen whole or not at all.
 * found[i] tells whether keys[i] holds a live value; then values[i] is a
 * palloc'd record of it (key and value copied out).
 */
void
mantis_store_get_many(const char *const *keys, const uint32 *key_lens, int n,
					  bool *found, MantisRecord *values)
{
	uint64	   *hashes = palloc(sizeof(uint64) * n);
	int		   *slot = palloc(sizeof(int) * n);
	PartitionSet set;
	CopyBuf		b;

	store_attach();
	memset(&set, 0, sizeof(set));
	for (int i = 0; i < n; i++)
	{
		hashes[i] = mantis_hash(keys[i], key_lens[i]);
		partitions_add(&set, hashes[i]);
	}
	copybuf_init(&b);
	for (;;)
	{
		partitions_lock(&set, LW_SHARED);
		for (int i = 0; i < n; i++)
		{
			StoreRegister *reg = register_find(hashes[i], keys[i], key_lens[i], NULL);

			slot[i] = -1;
			if (reg != NULL && (reg->flags & MANTIS_REG_DELETED) == 0)
			{
				slot[i] = b.nrecs;
				copybuf_put(&b, reg);
			}
		}
		partitions_unlock(&set);
		if (copybuf_fits(&b))
			break;
		copybuf_grow(&b);
	}
	for (int i = 0; i < n; i++)
	{
		found[i] = slot[i] >= 0;
		if (found[i])
			values[i] = b.recs[slot[i]];
	}
	/* the records point into b.data, which the caller's context keeps */
	pfree(b.recs);
	pfree(hashes);
	pfree(slot);
}

/*
 * Whether the store holds, for this key, a register with an HLC equal to
 * or greater than "hlc" (a value or a deletion marker): then a register
 * with that HLC is beaten here, whatever it holds.
 */
bool
mantis_store_beats(const char *key, uint32 key_len, const MantisHLC *hlc)
{
	uint64		hash = mantis_hash(key, key_len);
	LWLock	   *lock = partition_lock(hash);
	StoreRegister *reg;
	bool		beats;

	store_attach();
	LWLockAcquire(lock, LW_SHARED);
	reg = register_find(hash, key, key_len, NULL);
	beats = reg != NULL && mantis_hlc_cmp(&reg->hlc, hlc) >= 0;
	LWLockRelease(lock);
	return beats;
}

/* Which registers a scan copies */
typedef struct ScanFilter
{
	bool		include_deleted;
	const char *prefix;			/* keys starting so; NULL for all */
	uint32		prefix_len;
} ScanFilter;

static inline bool
filter_takes(const ScanFilter *f, const StoreRegister *reg)
{
	if (!f->include_deleted && (reg->flags & MANTIS_REG_DELETED) != 0)
		return false;
	return f->prefix == NULL ||
		(reg->key_len >= f->prefix_len &&
		 memcmp(reg->data, f->prefix, f->prefix_len) == 0);
}

/* Copy the registers of one bucket that the filter takes; see CopyBuf. */
static void
bucket_copy(uint64 bucket, const ScanFilter *filter, CopyBuf *b)
{
	LWLock	   *lock = &store->locks[bucket & (MANTIS_PARTITIONS - 1)].lock;

	for (;;)
	{
		LWLockAcquire(lock, LW_SHARED);
		for (StoreRef ref = buckets[bucket]; ref != InvalidStoreRef;)
		{
			StoreRegister *reg = register_at(ref);

			ref = reg->next;
			if (filter_takes(filter, reg))
				copybuf_put(b, reg);
		}
		LWLockRelease(lock);
		if (copybuf_fits(b))
			return;
		copybuf_grow(b);
	}
}

static void
store_scan(const ScanFilter *filter, MantisRecordCallback callback, void *arg)
{
	CopyBuf		b;

	store_attach();
	copybuf_init(&b);
	for (uint64 bucket = 0; bucket <= store->bucket_mask; bucket++)
	{
		/* an unlocked peek: a bucket empty now has nothing to copy */
		if (((volatile StoreRef *) buckets)[bucket] == InvalidStoreRef)
			continue;
		copybuf_reset(&b);
		bucket_copy(bucket, filter, &b);
		copybuf_call(&b, callback, arg);
		CHECK_FOR_INTERRUPTS();
	}
	copybuf_free(&b);
}

/*
 * Call "callback" for every register (deletion markers too when asked), one
 * copied bucket at a time, with no lock held during the callback.  Writes
 * that run concurrently may or may not be seen, each register consistently.
 */
void
mantis_store_scan(bool include_deleted, MantisRecordCallback callback, void *arg)
{
	ScanFilter	filter = {include_deleted, NULL, 0};

	store_scan(&filter, callback, arg);
}

/*
 * The same for the registers whose keys start with "prefix".  The keys are
 * hashed, not ordered, so this visits every bucket too, but copies only
 * the registers that match.
 */
void
mantis_store_scan_prefix(const char *prefix, uint32 prefix_len, bool include_deleted,
						 MantisRecordCallback callback, void *arg)
{
	ScanFilter	filter = {include_deleted, prefix, prefix_len};

	store_scan(&filter, callback, arg);
}

/*
 * Counters for mantis_status.  Deletion markers are read first: both only
 * grow between two reads, and a marker is always counted among the
 * registers before it is counted as a marker, so registers >= deleted.
 */
void
mantis_store_stats(MantisStoreStats *stats)
{
	stats->deleted = pg_atomic_read_u64(&store->deleted);
	pg_read_barrier();
	stats->registers = pg_atomic_read_u64(&store->registers);
	stats->registers = Max(stats->registers, stats->deleted);
	stats->bytes_used = pg_atomic_read_u64(&store->bytes_used);
	stats->bytes_total = store->dsa_size;
}

bool
mantis_store_is_loaded(void)
{
	return pg_atomic_read_u32(&store->loaded) != 0;
}

bool
mantis_store_is_writable(void)
{
	return pg_atomic_read_u32(&store->writable) != 0;
}

/* The encoding of the text in the store, or -1 while not known yet */
int
mantis_store_encoding(void)
{
	return store->encoding;
}

/* Called by the worker once connected to mantis.database */
void
mantis_store_set_encoding(int encoding)
{
	store->encoding = encoding;
}

/*
 * Mark the registers readable and wake every backend waiting for that.
 */
void
mantis_store_set_loaded(void)
{
	pg_atomic_write_u32(&store->loaded, 1);
	ConditionVariableBroadcast(&store->loaded_cv);
}

/*
 * Mark the store writable: the worker has merged every row of
 * mantis_stores since this server left recovery (at start, or at a
 * promotion), so the clock is past everything persisted.
 */
void
mantis_store_set_writable(void)
{
	pg_atomic_write_u32(&store->writable, 1);
	ConditionVariableBroadcast(&store->loaded_cv);
}

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
	pg_atomic_uint32 *bits = dirty[consumer];

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
		out[i] = pg_atomic_read_u64(&digests[i]);
}

/*
 * Call "callback" for each register of a leaf, copied under the
 * partition's shared lock and passed after releasing it.  Returns how many
 * registers were passed.
 */
int
mantis_store_collect_leaf(int leaf, MantisRecordCallback callback, void *arg)
{
	LWLock	   *lock = leaf_lock(leaf);
	CopyBuf		b;
	int			n;

	Assert(leaf >= 0 && leaf < MANTIS_LEAVES);
	store_attach();
	copybuf_init(&b);
	for (;;)
	{
		LWLockAcquire(lock, LW_SHARED);
		for (uint64 bucket = leaf; bucket <= store->bucket_mask; bucket += MANTIS_LEAVES)
		{
			for (StoreRef ref = buckets[bucket]; ref != InvalidStoreRef;)
			{
				StoreRegister *reg = register_at(ref);

				ref = reg->next;
				copybuf_put(&b, reg);
			}
		}
		LWLockRelease(lock);
		if (copybuf_fits(&b))
			break;
		copybuf_grow(&b);
	}
	copybuf_call(&b, callback, arg);
	n = b.nrecs;
	copybuf_free(&b);
	return n;
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

	for (; mask != 0; mask &= mask - 1)
	{
		int			bit = pg_rightmost_one_pos64(mask);

		for (uint64 bucket = leaf + (uint64) bit * MANTIS_LEAVES;
			 bucket <= store->bucket_mask; bucket += MASK_BUCKETS_STEP)
		{
			for (StoreRef ref = buckets[bucket]; ref != InvalidStoreRef;)
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
	pg_atomic_uint64 *mask_word = &dirty_buckets[consumer][leaf];
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
	for (uint64 bucket = leaf; bucket <= store->bucket_mask; bucket += MANTIS_LEAVES)
	{
		for (StoreRef ref = buckets[bucket]; ref != InvalidStoreRef;)
		{
			StoreRegister *reg = register_at(ref);

			ref = reg->next;
			reg->flags |= flag;
		}
	}
	LWLockRelease(lock);
	pg_atomic_write_u64(&dirty_buckets[consumer][leaf], ~UINT64CONST(0));
	pg_atomic_fetch_or_u32(&dirty[consumer][leaf / 32], (uint32) 1 << (leaf % 32));
}
