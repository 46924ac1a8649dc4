/*-------------------------------------------------------------------------
 * store/internal.h
 *	  What the files of the store share, and no other file may include: a
 *	  register's layout, the control block, store_mem (where the parts of
 *	  the store's shared memory lie in this process), finding a key's
 *	  register, the plan of one write, the sets of partitions a batch
 *	  locks, and the buffer iterators copy registers into.
 *
 * The store is store/store.c (layout, index, whether the registers may be
 * read and written yet, limits and counters), store/write.c (every write:
 * one register, a committed transaction's, a peer's or a row's),
 * store/read.c (reads, iterators, and the changes and digests the workers
 * take), store/sweep.c (collecting dead registers) and store/dead.c (the
 * records of dead registers, R7).  Only they include this header; every
 * other file calls store/store.h.
 *
 * The files reach the store's shared memory through one struct,
 * store_mem (StoreMemory below), which says what each part is, when it is
 * set and who may write it.  What is shared here is MANTIS_PRIVATE
 * (mantis.h): reached as directly as a static, and not in mantis.so's
 * symbol table.  The helpers of the read and write paths (register_find(),
 * register_at(), partition_lock(), partitions_lock(), copybuf_put() ...)
 * are static inline here, so that splitting the store into files adds no
 * call to them.
 *
 * IDENTIFICATION	src/store/internal.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_STORE_INTERNAL_H
#define MANTIS_STORE_INTERNAL_H

#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"

#include "mantis.h"
#include "clock.h"
#include "common/keyhash.h"
#include "common/rules.h"
#include "store/store.h"

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
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* key, value, and with
												 * MANTIS_REG_EXPIRING the
												 * expiry (8 bytes, host
												 * order, unaligned) */
} StoreRegister;

#define REGISTER_HEADER_SIZE	offsetof(StoreRegister, data)

/* leaves per summary of the sweep's (store/sweep.c) */
#define MANTIS_SWEEP_GROUP		64
#define MANTIS_SWEEP_GROUPS		(MANTIS_LEAVES / MANTIS_SWEEP_GROUP)

/*
 * A register's expiry (0: never; see MantisRegisterView, common/hlc.h).  It
 * follows the value, and only in registers that have one, so that a
 * register without an expiry costs no more memory than before expiry
 * existed.
 */
static inline uint64
register_expires(const StoreRegister *reg)
{
	uint64		expires_ms;

	if (likely((reg->flags & MANTIS_REG_EXPIRING) == 0))
		return 0;
	memcpy(&expires_ms, reg->data + reg->key_len + reg->value_len, sizeof(expires_ms));
	return expires_ms;
}

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

	/* what the sweeps found (store/sweep.c), for mantis_status */
	pg_atomic_uint64 expired_held;	/* by the last sweep */
	pg_atomic_uint64 collected_deletions;	/* since startup */
	pg_atomic_uint64 collected_expired;	/* since startup */

	/* registers flagged MANTIS_REG_ADOPTED (store/sweep.c) */
	pg_atomic_uint64 adopting;

	/*
	 * The refusal horizon (R4 of common/rules.h): the greatest HLC collected
	 * or adopted.  Raised before the partition lock of what was collected
	 * is released, and read by merges under it (store_put()).
	 */
	pg_atomic_uint64 refusal_horizon;

	/* records of dead registers (store/dead.c), for mantis_status */
	pg_atomic_uint64 records;	/* held now */
	pg_atomic_uint64 collapsed;	/* into leaves' bounds, since startup */
	pg_atomic_uint64 bounds;	/* leaves holding a collapsed bound now */
	pg_atomic_uint64 records_collected; /* since startup */
	/* the check for a first collapse, to log it (dead_check_collapses()) */
	pg_atomic_uint64 collapsed_seen;	/* collapsed, as the check last saw it */
	pg_atomic_uint64 collapsed_seen_ms; /* when it last saw it rise; 0: never */
} StoreControl;

/*
 * What the store keeps of each leaf for its workers, in 32 bytes aligned to
 * 32, so that a write finds all of it in one cache line (and its repair
 * digest in another: store_mem.digests stays a dense array, which repair
 * reads whole).  Every word is written under the leaf's partition lock
 * held exclusively, but for the consumer giving a leaf back, which sets
 * its dirty-bucket mask after releasing it (store/read.c); all are read
 * atomically by anyone.
 *
 * due: when the leaf is next due for the sweep (store/sweep.c;
 *	 leaf_due_lower(), and the sweep sets it).
 * dead: the least HLC time of a dead register the leaf holds (a deletion
 *	 marker, or an expired register the sweep has seen and kept),
 *	 PG_UINT64_MAX for none: the sweep visits a leaf for them only once a
 *	 horizon has reached it (leaf_dead_lower()).
 * dirty_buckets: per consumer (MantisConsumer), a 64-bit mask of the
 *	 leaf's buckets holding registers flagged for it: set by writers,
 *	 taken (exchanged with 0) by the consumer (store/read.c).
 */
typedef struct StoreLeaf
{
	pg_atomic_uint64 due;
	pg_atomic_uint64 dead;
	pg_atomic_uint64 dirty_buckets[MANTIS_CONSUMERS];
} StoreLeaf;

#define STORE_LEAF_SIZE		32
StaticAssertDecl(sizeof(StoreLeaf) == STORE_LEAF_SIZE,
				 "a leaf's words fill the 32 bytes that keep them in one cache line");

/*
 * Where the store's shared memory lies in this process: the one piece of
 * state the store's files share, reached as store_mem.<field>.  The struct
 * lives in each process's own memory; the fields point into shared memory,
 * where the store's state itself is.
 *
 * Two kinds of field, set at two moments:
 *
 * - The parts of the store's chunk of shared memory (control through
 *   dsa_place): set by store_locate() in mantis_store_shmem_init(), in the
 *   postmaster at startup and again after every crash restart (when shared
 *   memory comes back empty and is laid out anew), and inherited by every
 *   child it forks; under EXEC_BACKEND, each child sets them again when it
 *   finds the chunk.  Never changed afterwards, so every process may read
 *   them at any time without a lock.
 *
 * - This process's attachment to the DSA area (area, base): NULL until the
 *   process's first store_attach() (store_attach_area()), then fixed until
 *   it exits.  The postmaster never attaches (it creates the area and
 *   detaches), so every child, also one forked after a crash restart,
 *   starts unattached and attaches to the area of its generation.
 *
 * Only store/store.c writes the fields; the other files of the store read
 * them.  What the fields point at is guarded as each says.
 */
typedef struct StoreMemory
{
	/*
	 * The control block: the partition locks, the bucket mask, the counters
	 * (atomics), loaded/writable and the encoding.
	 */
	StoreControl *control;

	/*
	 * The hash buckets, bucket_mask + 1 heads of register lists; a bucket
	 * and the registers linked from it are guarded by the partition lock
	 * of their keys (partition_lock()).
	 */
	StoreRef   *buckets;

	/*
	 * MANTIS_LEAVES repair digests; written under the leaf's partition lock
	 * held exclusively (digest_toggle()), read atomically by anyone.
	 */
	pg_atomic_uint64 *digests;

	/*
	 * MANTIS_LEAVES leaves' words for the sweep and the consumers
	 * (StoreLeaf), from a cache line's start.
	 */
	StoreLeaf  *leaves;

	/*
	 * MANTIS_LEAVES / MANTIS_SWEEP_GROUP summaries of the leaves' due and
	 * dead (StoreLeaf): at most the least of the group's leaves
	 * (store/sweep.c), so that the sweep reads a leaf's only when its group
	 * may have something due.
	 */
	pg_atomic_uint64 *group_due;
	pg_atomic_uint64 *group_dead;

	/*
	 * Per consumer (MantisConsumer): a bitmap of dirty leaves
	 * (MANTIS_LEAVES / 32 words), whose bit a writer sets after the leaf's
	 * dirty-bucket mask (StoreLeaf), as a consumer giving a leaf back does;
	 * taken (exchanged with 0) by the consumer.
	 */
	pg_atomic_uint32 *dirty[MANTIS_CONSUMERS];

	/*
	 * Records of dead registers (store/dead.c, R7): MANTIS_PARTITIONS
	 * tables of dead_stride bytes each (common/records.h), a partition's
	 * guarded by its lock, and MANTIS_LEAVES collapsed bounds, a leaf's
	 * guarded by its partition's lock.  NULL when mantis.max_dead_records
	 * is 0.
	 */
	char	   *dead_tables;
	Size		dead_stride;
	MantisLeafBound *leaf_bounds;

	/*
	 * MANTIS_PARTITIONS least HLCs of a record or bound each partition
	 * holds (PG_UINT64_MAX: none), for the sweep (store/dead.c); kept like
	 * a leaf's dead, under the partition's lock held exclusively.
	 */
	pg_atomic_uint64 *dead_least;

	/*
	 * MANTIS_LEAVES / 32 words: the leaves whose bound changed (a collapse,
	 * a record folded into it) since the persistence worker last took them
	 * (store/dead_rows.c): the next flush writes their bounds.
	 */
	pg_atomic_uint32 *dead_changed;

	/* Where the DSA area was created in place; store/store.c's own use */
	void	   *dsa_place;

	/*
	 * This process's attachment to the DSA area, and the address at which
	 * the area's one segment is mapped here (register_at()); see above.
	 */
	dsa_area   *area;
	char	   *base;
} StoreMemory;

extern MANTIS_PRIVATE StoreMemory store_mem;

extern MANTIS_PRIVATE void store_attach_area(void);

/*
 * Attach this process to the DSA area, once; every entry point that
 * touches a register calls this first.  See store_attach_area().
 */
static inline void
store_attach(void)
{
	if (likely(store_mem.area != NULL))
		return;
	store_attach_area();
}

/*
 * A key's 64-bit hash picks its partition (low 7 bits) and its leaf (low
 * 16 bits): a leaf lies wholly inside one partition, as a bucket does
 * (nbuckets is a power of two, at least MANTIS_LEAVES).
 */
StaticAssertDecl((MANTIS_PARTITIONS & (MANTIS_PARTITIONS - 1)) == 0 &&
				 MANTIS_PARTITIONS % 64 == 0,
				 "partitions: a power of two, in whole words of a PartitionSet");
StaticAssertDecl((MANTIS_LEAVES & (MANTIS_LEAVES - 1)) == 0 &&
				 MANTIS_LEAVES % MANTIS_PARTITIONS == 0 && MANTIS_LEAVES % 32 == 0,
				 "leaves: a power of two, each inside one partition");

static inline LWLock *
partition_lock(uint64 hash)
{
	return &store_mem.control->locks[hash & (MANTIS_PARTITIONS - 1)].lock;
}

static inline int
leaf_of(uint64 hash)
{
	return (int) (hash & (MANTIS_LEAVES - 1));
}

/* A leaf's own words (StoreLeaf) */
static inline StoreLeaf *
store_leaf(int leaf)
{
	return &store_mem.leaves[leaf];
}

/* Start loading a cache line: a hint, which never faults, whatever "p" */
static inline void
store_prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
	__builtin_prefetch(p);
#endif
}

/* The same for a line about to be written */
static inline void
store_prefetch_write(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
	__builtin_prefetch(p, 1);
#endif
}

/*
 * Start loading a key's bucket, and for a write its leaf's words and
 * digest, before its partition lock is taken: their cache misses then
 * overlap each other and the lock's acquisition instead of following it
 * one after the other.
 */
static inline void
key_prefetch(uint64 hash, bool for_write)
{
	store_prefetch(&store_mem.buckets[hash & store_mem.control->bucket_mask]);
	if (for_write)
	{
		store_prefetch_write(store_leaf(leaf_of(hash)));
		store_prefetch_write(&store_mem.digests[leaf_of(hash)]);
	}
}

/* The partition lock of a leaf: a leaf lies inside one partition. */
static inline LWLock *
leaf_lock(int leaf)
{
	return &store_mem.control->locks[leaf & (MANTIS_PARTITIONS - 1)].lock;
}

#ifdef USE_ASSERT_CHECKING
/*
 * Whether this process holds any partition lock; for Asserts of the rules
 * of locks.h (no palloc, no callback, no ERROR, no sleep under one; a
 * process that takes one while holding another is a batch, which takes
 * them in ascending order).
 */
static inline bool
partition_lock_held_any(void)
{
	return LWLockAnyHeldByMe(&store_mem.control->locks[0].lock, MANTIS_PARTITIONS,
							 sizeof(LWLockPadded));
}
#endif

static inline StoreRegister *
register_at(StoreRef ref)
{
	Assert(store_mem.base != NULL);	/* store_attach() ran */
	Assert(ref != InvalidStoreRef);
	return (StoreRegister *) (store_mem.base + ((Size) ref << REF_SHIFT));
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
static inline StoreRegister *
register_find(uint64 hash, const char *key, uint32 key_len, StoreRef **link)
{
	StoreRef   *prev = &store_mem.buckets[hash & store_mem.control->bucket_mask];
	StoreRef	ref = *prev;

	Assert(LWLockHeldByMe(partition_lock(hash)));
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

/* Whether a register reads as absent at now_ms (common/hlc.h). */
static inline bool
register_is_dead(const StoreRegister *reg, uint64 now_ms)
{
	return mantis_register_is_dead((reg->flags & MANTIS_REG_DELETED) != 0,
								   register_expires(reg), now_ms);
}

/*
 * Whether a register reads as absent now.  The clock is read only for a
 * register with an expiry, so a read of a key without one costs no more
 * than before expiry existed.
 */
static inline bool
register_is_dead_now(const StoreRegister *reg)
{
	if (reg->flags & MANTIS_REG_DELETED)
		return true;
	return register_expires(reg) != 0 && register_expires(reg) <= mantis_clock_wall_ms();
}

/*
 * Lower an atomic to v if it is higher, whoever else writes it: the sweep's
 * summaries of MANTIS_SWEEP_GROUP leaves each, which span partitions.
 */
static inline void
atomic_lower(pg_atomic_uint64 *a, uint64 v)
{
	uint64		old = pg_atomic_read_u64(a);

	while (v < old && !pg_atomic_compare_exchange_u64(a, &old, v))
		;
}

/*
 * Note that a leaf has something for the sweep to do at "due" (0: at
 * once); the caller holds the leaf's partition lock exclusively, so, as
 * with digests, a plain read-min-write suffices for the leaf.  Its group's
 * summary, shared with leaves of other partitions, is lowered after it
 * (store/sweep.c says why in that order).  pg_atomic_write_u64() and
 * pg_atomic_read_u64() are no barriers: without one between the leaf's
 * store and the group's read, the CPU may read the group before the store
 * is seen (x86 too reorders a load before an earlier store), take it for
 * low enough while the sweep resets it and reads the leaf unlowered, and
 * the group's summary ends above the leaf: the leaf is not visited again
 * until another write in its group lowers the summary.
 */
static inline void
leaf_due_lower(int leaf, uint64 due)
{
	StoreLeaf  *l = store_leaf(leaf);

	Assert(LWLockHeldByMeInMode(leaf_lock(leaf), LW_EXCLUSIVE));
	if (due < pg_atomic_read_u64(&l->due))
	{
		pg_atomic_write_u64(&l->due, due);
		pg_memory_barrier();	/* the leaf's store before the group's read */
		atomic_lower(&store_mem.group_due[leaf / MANTIS_SWEEP_GROUP], due);
	}
}

/* The same for the least HLC of a dead register the leaf holds */
static inline void
leaf_dead_lower(int leaf, uint64 ts)
{
	StoreLeaf  *l = store_leaf(leaf);

	Assert(LWLockHeldByMeInMode(leaf_lock(leaf), LW_EXCLUSIVE));
	if (ts < pg_atomic_read_u64(&l->dead))
	{
		pg_atomic_write_u64(&l->dead, ts);
		pg_memory_barrier();	/* as in leaf_due_lower() */
		atomic_lower(&store_mem.group_dead[leaf / MANTIS_SWEEP_GROUP], ts);
	}
}

/* ---- repair digests (store/write.c, store/sweep.c) ---- */

/*
 * The repair fingerprint of a register; see store/store.c (Digests).  It
 * covers the value too, so that two registers with one HLC and different
 * values (one node id on two servers, as a failover can make) do not look
 * alike, and the expiry, so that two that differ only by it do not either.
 * A register without an expiry has the fingerprint it had before expiry
 * existed.
 */
static inline uint64
register_fingerprint(uint64 hash, const MantisHLC *hlc, bool deleted,
					 const char *value, uint32 value_len, uint64 expires_ms)
{
	uint64		value_hash = deleted ? 1 : mantis_hash(value, value_len) ^ 2;

	if (!deleted && expires_ms != 0)
		value_hash = mantis_mix64(value_hash ^ mantis_mix64(expires_ms ^ 4));
	return mantis_mix64(hash ^ mantis_mix64(hlc->ts ^ mantis_mix64(hlc->node ^ value_hash)));
}

static inline uint64
held_fingerprint(uint64 hash, const StoreRegister *reg)
{
	return register_fingerprint(hash, &reg->hlc, (reg->flags & MANTIS_REG_DELETED) != 0,
								reg->data + reg->key_len, reg->value_len, register_expires(reg));
}

/*
 * Add or remove a fingerprint from its leaf's digest.  Only writers holding
 * the leaf's partition lock exclusively change a digest, so a plain
 * read-modify-write suffices; readers elsewhere see the old or new value.
 */
static inline void
digest_toggle(uint64 hash, uint64 fingerprint)
{
	pg_atomic_uint64 *digest = &store_mem.digests[leaf_of(hash)];

	Assert(LWLockHeldByMeInMode(partition_lock(hash), LW_EXCLUSIVE));
	pg_atomic_write_u64(digest, pg_atomic_read_u64(digest) ^ fingerprint);
}

static inline void
register_to_record(const StoreRegister *reg, MantisRecord *rec)
{
	rec->hlc = reg->hlc;
	rec->expires_ms = register_expires(reg);
	rec->deleted = (reg->flags & MANTIS_REG_DELETED) != 0;
	rec->key_len = reg->key_len;
	rec->key = reg->data;
	rec->value_len = reg->value_len;
	rec->value = reg->data + reg->key_len;
}

/* ---- the plan of one write (store/write.c) ---- */

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
	uint64		expires_ms;		/* 0: never (always 0 for a deletion) */

	/*
	 * For a register from a peer (hlc != NULL): refuse it, as
	 * MANTIS_PUT_COLLECTED, when no register is held for its key and its
	 * hlc.ts is at most the refusal horizon, read under the partition lock
	 * (sweep_raise_refusal() raises it before the lock of what it collected
	 * goes).  Rows refuse nothing.
	 */
	bool		refuse_collected;
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
	if (put->deleted)
		return put->key_len;
	return put->key_len + put->value_len + (put->expires_ms != 0 ? sizeof(uint64) : 0);
}

extern MANTIS_PRIVATE bool plan_take_chunk(PutPlan *plan, uint32 need);
extern MANTIS_PRIVATE MantisPutResult put_prepare(const StorePut *put, StoreRegister *reg,
												  PutPlan *plan);
extern MANTIS_PRIVATE void put_unprepare(PutPlan *plan);
extern MANTIS_PRIVATE void put_apply(const StorePut *put, StoreRegister *reg, StoreRef *link,
									 const MantisHLC *hlc, PutPlan *plan);
extern MANTIS_PRIVATE void put_release(PutPlan *plan);
extern MANTIS_PRIVATE void put_finish(const StorePut *put, PutPlan *plan);
extern MANTIS_PRIVATE MantisPutResult store_put(const StorePut *put, MantisHLC *hlc_out,
												bool *replaced_live);
/* store/store.c: unlink and free a register (its digest too, if "digest") */
extern MANTIS_PRIVATE void register_remove(StoreRef *link, StoreRegister *reg, bool digest);

/* ---- sets of partitions (a batch, store/write.c; a multi-key read) ---- */

/* The partitions a set of keys lies in, as a bitmap. */
typedef struct PartitionSet
{
	uint64		words[MANTIS_PARTITIONS / 64];
} PartitionSet;

static inline void
partitions_add(PartitionSet *set, uint64 hash)
{
	int			p = (int) (hash & (MANTIS_PARTITIONS - 1));

	set->words[p / 64] |= UINT64CONST(1) << (p % 64);
}

/*
 * Take the locks of every partition in the set, in ascending order, so
 * that two batches, or a batch and a multi-key read, cannot deadlock.
 */
static inline void
partitions_lock(const PartitionSet *set, LWLockMode mode)
{
	Assert(!partition_lock_held_any());
	for (int w = 0; w < MANTIS_PARTITIONS / 64; w++)
	{
		for (uint64 bits = set->words[w]; bits != 0; bits &= bits - 1)
			LWLockAcquire(&store_mem.control->locks[w * 64 + pg_rightmost_one_pos64(bits)].lock,
						  mode);
	}
}

/* Release what partitions_lock() took, the last taken first. */
static inline void
partitions_unlock(const PartitionSet *set)
{
	for (int w = MANTIS_PARTITIONS / 64 - 1; w >= 0; w--)
	{
		for (uint64 bits = set->words[w]; bits != 0;)
		{
			int			bit = pg_leftmost_one_pos64(bits);

			LWLockRelease(&store_mem.control->locks[w * 64 + bit].lock);
			bits &= ~(UINT64CONST(1) << bit);
		}
	}
}

/* ---- copying registers out (store/read.c) ---- */

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

	/* reg->hash holds the low 32 bits of the key's hash: enough for this */
	Assert(LWLockHeldByMe(partition_lock(reg->hash)));
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

/* Empty a buffer for the next pass or bucket */
static inline void
copybuf_reset(CopyBuf *b)
{
	b->used = 0;
	b->nrecs = 0;
	b->need_bytes = 0;
	b->need_recs = 0;
}

extern MANTIS_PRIVATE void copybuf_init(CopyBuf *b);
extern MANTIS_PRIVATE void copybuf_free(CopyBuf *b);
extern MANTIS_PRIVATE void copybuf_grow(CopyBuf *b);
extern MANTIS_PRIVATE void copybuf_call(const CopyBuf *b, MantisRecordCallback callback,
										void *arg);

/*
 * Raise the refusal horizon (R4) to what a partition's sweep collected,
 * before its lock is released (store/sweep.c, store/dead.c): a merge reads
 * the horizon under that lock (store_put()), and must not find the dead
 * register gone with the horizon not yet past it, or a peer's older copy
 * of its key would come back (TAP 050 caught a merge taking two in that
 * window).
 */
static inline void
sweep_raise_refusal(const MantisSweepHorizon *h, const MantisSweepStats *collected)
{
	if (h->raise_by_lifetime && collected->lifetime_max_ts != 0)
		mantis_store_raise_refusal_horizon(collected->lifetime_max_ts);
	if (h->raise_by_horizon && collected->stable_max_ts != 0)
		mantis_store_raise_refusal_horizon(collected->stable_max_ts);
}

/*
 * Whether a key's hash is among the keys held back in mantis_stores that a
 * sweep reads (sorted): its dead register, or record, must outlive the
 * held-back one (store/sweep.c, store/dead.c).
 */
static inline bool
sweep_hash_held_back(const MantisSweepHorizon *h, uint64 hash)
{
	int			lo = 0;
	int			hi = h->held_nkeys;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (h->held_keys[mid] == hash)
			return true;
		if (h->held_keys[mid] < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

#endif							/* MANTIS_STORE_INTERNAL_H */
