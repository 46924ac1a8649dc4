/*-------------------------------------------------------------------------
 * store/read.c
 *	  Everything that copies registers out of the store: reading one key,
 *	  many keys as of one instant, whether a key's register beats a clock,
 *	  the iterators over every register, a prefix, or one digest leaf; the
 *	  changes and the digests as the workers take them; and the buffer
 *	  (CopyBuf) they all copy registers into.
 *
 * Reads.  Writes that run concurrently with an iterator may or may not be
 * seen, each register consistently.
 *
 * Changes.  A write (store/write.c) sets flags on the register (UNFLUSHED
 * for every write, UNSENT for local writes when replication is on) and,
 * for each flag, marks it dirty for the worker that consumes that flag
 * (persistence, replication): the register's bucket in its leaf's 64-bit
 * bucket mask, then the leaf in a 64 Ki-bit bitmap, waking the replication
 * worker's latch when it set a leaf bit first.  A worker takes its bitmap,
 * then the bucket masks of the dirty leaves, and visits only those
 * buckets: its cost follows the number of changes, never the number of
 * keys.  It clears the flags of what it takes; should it fail to deliver
 * (a flush that does not commit), it gives back the whole leaves it took
 * with mantis_store_give_back_leaf().
 * Memory does not grow with the rate of writes: a key written a thousand
 * times between two worker passes is sent once.  Writers mark before they
 * release the partition lock, so passing every partition lock once
 * (mantis_store_write_barrier()) waits for every write that had its HLC.
 *
 * Locking: a reader takes partition locks shared; a worker taking or
 * giving back its changes takes the leaf's partition lock exclusively, as
 * it changes the registers' flags.  Under either, registers are only
 * copied into room sized beforehand (CopyBuf, store/internal.h); the
 * callback runs, or the function returns, only after the lock is
 * released: no callback ever runs, and nothing is allocated, under a
 * partition lock.
 *
 * IDENTIFICATION	src/store/read.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"

#include "mantis.h"
#include "common/keyhash.h"
#include "store/internal.h"
#include "store/store.h"

/* ---- copying registers out (CopyBuf, store/internal.h) ---- */

#define COPYBUF_INITIAL_BYTES	8192
#define COPYBUF_INITIAL_RECS	64

/* the copies a take of many leaves passes at once (grown for a larger leaf) */
#define TAKE_BATCH_BYTES		(256 * 1024)
#define TAKE_BATCH_RECS			4096

/* An empty buffer with room for "bytes" bytes and "recs" registers; no lock held. */
static void
copybuf_init_sized(CopyBuf *b, Size bytes, int recs)
{
	Assert(!partition_lock_held_any());
	b->size = bytes;
	b->data = palloc(b->size);
	b->maxrecs = recs;
	b->recs = palloc(sizeof(MantisRecord) * b->maxrecs);
	b->used = 0;
	b->nrecs = 0;
	b->need_bytes = 0;
	b->need_recs = 0;
}

/* An empty buffer with room for a few registers; no lock held. */
void
copybuf_init(CopyBuf *b)
{
	copybuf_init_sized(b, COPYBUF_INITIAL_BYTES, COPYBUF_INITIAL_RECS);
}

/* Free what copybuf_init() and copybuf_grow() allocated. */
void
copybuf_free(CopyBuf *b)
{
	pfree(b->data);
	pfree(b->recs);
}

/* Make room for what the last pass could not copy; no lock held. */
void
copybuf_grow(CopyBuf *b)
{
	Size		bytes = b->used + b->need_bytes;
	int			recs = b->nrecs + b->need_recs;

	Assert(!partition_lock_held_any());
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

/* Pass each register copied to "callback"; no lock held. */
void
copybuf_call(const CopyBuf *b, MantisRecordCallback callback, void *arg)
{
	Assert(!partition_lock_held_any());
	for (int i = 0; i < b->nrecs; i++)
		callback(&b->recs[i], arg);
}

/* ---- reading ---- */

/*
 * Look a key up.  When it holds a live value (neither a deletion marker
 * nor expired), return true and a palloc'd
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
	char	   *buf;

	key_prefetch(hash, false);
	buf = palloc(header + room);
	store_attach();
	for (;;)
	{
		StoreRegister *reg;
		uint32		len = 0;
		bool		found = false;

		LWLockAcquire(lock, LW_SHARED);
		reg = register_find(hash, key, key_len, NULL);
		if (reg != NULL && !register_is_dead_now(reg))
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
 * Whether a key holds a live value; if so *expires_ms is its expiry (0:
 * never).  mantis_ttl() asks.
 */
bool
mantis_store_get_expiry(const char *key, uint32 key_len, uint64 *expires_ms)
{
	uint64		hash = mantis_hash(key, key_len);
	LWLock	   *lock = partition_lock(hash);
	StoreRegister *reg;
	bool		live;

	store_attach();
	LWLockAcquire(lock, LW_SHARED);
	reg = register_find(hash, key, key_len, NULL);
	live = reg != NULL && !register_is_dead_now(reg);
	if (live)
		*expires_ms = register_expires(reg);
	LWLockRelease(lock);
	return live;
}

/*
 * Look up n keys at once, as of one instant: the partition locks of every
 * key are held (shared, in ascending order) while all are copied, so a
 * batch applied by mantis_store_batch_apply() is seen whole or not at all.
 * found[i] tells whether keys[i] holds a live value; then values[i] is a
 * palloc'd record of it (key and value copied out).
 */
static void get_many(const char *const *keys, const uint32 *key_lens, int n,
					 bool include_dead, bool *found, MantisRecord *values);

void
mantis_store_get_many(const char *const *keys, const uint32 *key_lens, int n,
					  bool *found, MantisRecord *values)
{
	get_many(keys, key_lens, n, false, found, values);
}

/*
 * The same, dead registers too: found[i] tells whether any register is
 * held for keys[i], a deletion marker or an expired value included (the
 * change feed, watch/feed.c, reads what became of a key).
 */
void
mantis_store_get_many_any(const char *const *keys, const uint32 *key_lens, int n,
						  bool *found, MantisRecord *values)
{
	get_many(keys, key_lens, n, true, found, values);
}

static void
get_many(const char *const *keys, const uint32 *key_lens, int n,
		 bool include_dead, bool *found, MantisRecord *values)
{
	uint64	   *hashes = palloc(sizeof(uint64) * n);
	int		   *slot = palloc(sizeof(int) * n);
	PartitionSet set;
	CopyBuf		b;
	uint64		now_ms = 0;		/* read at the first register with an expiry */

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
			if (reg == NULL)
				continue;
			if (!include_dead && (reg->flags & MANTIS_REG_DELETED) != 0)
				continue;
			if (!include_dead && register_expires(reg) != 0)
			{
				/* one instant for every key: read the clock once */
				if (now_ms == 0)
					now_ms = mantis_clock_wall_ms();
				if (register_expires(reg) <= now_ms)
					continue;
			}
			slot[i] = b.nrecs;
			copybuf_put(&b, reg);
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
 * The digest leaf of a register from a peer, and its repair fingerprint as
 * a store holding it would count it: when the XOR of the fingerprints of
 * the registers a peer sent of a leaf equals that peer's digest of the leaf,
 * it sent the whole leaf, but for a 64-bit coincidence
 * (replication/repair.c).
 */
uint64
mantis_store_record_fingerprint(const MantisRecord *rec, int *leaf)
{
	uint64		hash = mantis_hash(rec->key, rec->key_len);

	*leaf = leaf_of(hash);
	return register_fingerprint(hash, &rec->hlc, rec->deleted, rec->value,
								rec->deleted ? 0 : rec->value_len,
								rec->deleted ? 0 : rec->expires_ms);
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
	bool		include_deleted;	/* and expired registers */
	const char *prefix;			/* keys starting so; NULL for all */
	uint32		prefix_len;
	uint64		now_ms;			/* when the scan started */
} ScanFilter;

static inline bool
filter_takes(const ScanFilter *f, const StoreRegister *reg)
{
	if (!f->include_deleted && register_is_dead(reg, f->now_ms))
		return false;
	return f->prefix == NULL ||
		(reg->key_len >= f->prefix_len &&
		 memcmp(reg->data, f->prefix, f->prefix_len) == 0);
}

/* Copy the registers of one bucket that the filter takes; see CopyBuf. */
static void
bucket_copy(uint64 bucket, const ScanFilter *filter, CopyBuf *b)
{
	LWLock	   *lock = &store_mem.control->locks[bucket & (MANTIS_PARTITIONS - 1)].lock;

	for (;;)
	{
		LWLockAcquire(lock, LW_SHARED);
		for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
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
	for (uint64 bucket = 0; bucket <= store_mem.control->bucket_mask; bucket++)
	{
		/* an unlocked peek: a bucket empty now has nothing to copy */
		if (((volatile StoreRef *) store_mem.buckets)[bucket] == InvalidStoreRef)
			continue;
		copybuf_reset(&b);
		bucket_copy(bucket, filter, &b);
		copybuf_call(&b, callback, arg);
		CHECK_FOR_INTERRUPTS();
	}
	copybuf_free(&b);
}

/*
 * Call "callback" for every live register (dead ones too, deletion markers
 * and expired registers, when asked), one copied bucket at a time, with no
 * lock held during the callback.  Writes that run concurrently may or may
 * not be seen, each register consistently; a register is live if it is
 * not expired when the scan starts.
 */
void
mantis_store_scan(bool include_deleted, MantisRecordCallback callback, void *arg)
{
	ScanFilter	filter = {include_deleted, NULL, 0, include_deleted ? 0 : mantis_clock_wall_ms()};

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
	ScanFilter	filter = {include_deleted, prefix, prefix_len,
	include_deleted ? 0 : mantis_clock_wall_ms()};

	store_scan(&filter, callback, arg);
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
		for (uint64 bucket = leaf; bucket <= store_mem.control->bucket_mask; bucket += MANTIS_LEAVES)
		{
			for (StoreRef ref = store_mem.buckets[bucket]; ref != InvalidStoreRef;)
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

/* ---- the changes and the digests, as the workers take them ---- */

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
 * Take a consumer's changes in one dirty leaf into b, after what b holds:
 * the registers flagged for it in the buckets marked dirty for it lose
 * their flag once every one of them has been copied, so a failure (an
 * ERROR growing the copy) takes nothing of this leaf.  When the leaf does
 * not fit after what b holds, that is passed to "callback" first and b
 * emptied (grown, if the leaf alone does not fit): a failure there leaves
 * the earlier leaves taken and undelivered, which the caller's *taken
 * names (a consumer without one, replication, loses them until repair).
 * Returns how many registers were taken.
 */
static int
take_leaf(MantisConsumer consumer, int leaf, CopyBuf *b,
		  MantisRecordCallback callback, void *arg)
{
	LWLock	   *lock = leaf_lock(leaf);
	pg_atomic_uint64 *mask_word = &store_leaf(leaf)->dirty_buckets[consumer];
	int			flag = consumer_flag(consumer);

	if (pg_atomic_read_u64(mask_word) == 0)
		return 0;
	for (;;)
	{
		Size		used = b->used;
		int			nrecs = b->nrecs;
		uint64		mask;
		int			n;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		mask = pg_atomic_exchange_u64(mask_word, 0);
		(void) leaf_flagged(leaf, mask, flag, b, false);
		if (copybuf_fits(b))
		{
			n = leaf_flagged(leaf, mask, flag, NULL, true);
			LWLockRelease(lock);
			return n;
		}
		/* give the mask back for the next pass */
		pg_atomic_fetch_or_u64(mask_word, mask);
		LWLockRelease(lock);

		/* the leaf's part that fitted counts with what did not */
		b->need_bytes += b->used - used;
		b->need_recs += b->nrecs - nrecs;
		b->used = used;
		b->nrecs = nrecs;
		if (nrecs > 0)
		{
			Size		need_bytes = b->need_bytes;
			int			need_recs = b->need_recs;

			copybuf_call(b, callback, arg);
			copybuf_reset(b);
			if (need_bytes <= b->size && need_recs <= b->maxrecs)
				continue;
			b->need_bytes = need_bytes;
			b->need_recs = need_recs;
		}
		copybuf_grow(b);
	}
}

/*
 * Take a consumer's changes in one dirty leaf without copying them: the
 * registers flagged for it in the buckets marked dirty for it lose their
 * flag (a consumer with nothing to hand them to: replication without a
 * connected peer).  Returns how many registers were taken.
 */
static int
take_leaf_uncopied(MantisConsumer consumer, int leaf)
{
	pg_atomic_uint64 *mask_word = &store_leaf(leaf)->dirty_buckets[consumer];
	LWLock	   *lock = leaf_lock(leaf);
	int			n;

	if (pg_atomic_read_u64(mask_word) == 0)
		return 0;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	n = leaf_flagged(leaf, pg_atomic_exchange_u64(mask_word, 0),
					 consumer_flag(consumer), NULL, true);
	LWLockRelease(lock);
	return n;
}

/*
 * Looking ahead of a take.  The registers a take visits lie at random in
 * shared memory, so each costs a cache miss for its bucket and one for
 * itself, and both would be paid under the partition lock that writers of
 * the leaf wait for.  So, TAKE_AHEAD leaves ahead of the one it takes, a
 * take starts loading the dirty buckets of a leaf, and half as far ahead
 * the registers those link to.  Unlocked: a prefetch is a hint, never a
 * read the take relies on, and a stale link only loads a line for nothing
 * (a prefetch never faults).
 */
#define TAKE_AHEAD			32

/* Start loading a register's first 64 bytes: its header, and a small one whole */
static inline void
register_prefetch(StoreRef ref)
{
	const char *p = (const char *) register_at(ref);

	store_prefetch(p);
	store_prefetch(p + 63);
}

/* The first leaf of a set at or after "from"; -1 if none. */
static int
leafset_next(const MantisLeafSet *set, int from)
{
	int			w = from / 32;
	uint32		bits;

	if (from >= MANTIS_LEAVES)
		return -1;
	bits = set->words[w] & (~(uint32) 0 << (from % 32));
	while (bits == 0)
	{
		if (++w == MANTIS_LEAVES / 32)
			return -1;
		bits = set->words[w];
	}
	return w * 32 + pg_rightmost_one_pos32(bits);
}

/*
 * Start loading, unlocked, what take_leaf() will visit of a leaf: its
 * dirty buckets, or, with "registers", the first register of each.
 */
static void
leaf_prefetch(MantisConsumer consumer, int leaf, bool registers)
{
	uint64		mask = pg_atomic_read_u64(&store_leaf(leaf)->dirty_buckets[consumer]);

	for (; mask != 0; mask &= mask - 1)
	{
		int			bit = pg_rightmost_one_pos64(mask);

		for (uint64 bucket = leaf + (uint64) bit * MANTIS_LEAVES;
			 bucket <= store_mem.control->bucket_mask; bucket += MASK_BUCKETS_STEP)
		{
			StoreRef	ref;

			if (!registers)
			{
				store_prefetch(&store_mem.buckets[bucket]);
				continue;
			}
			ref = ((volatile StoreRef *) store_mem.buckets)[bucket];
			if (ref != InvalidStoreRef)
				register_prefetch(ref);
		}
	}
}

/* A cursor over a set of leaves, prefetching each as it passes */
typedef struct LeafAhead
{
	int			leaf;			/* the next to prefetch; -1: none left */
	bool		registers;		/* what leaf_prefetch() loads */
} LeafAhead;

static void
ahead_step(LeafAhead *a, MantisConsumer consumer, const MantisLeafSet *set)
{
	if (a->leaf < 0)
		return;
	leaf_prefetch(consumer, a->leaf, a->registers);
	a->leaf = leafset_next(set, a->leaf + 1);
}

/*
 * Take a consumer's changes in every leaf of *pending (see take_leaf()),
 * passing a copy of each register to "copy" (may be NULL), and empty
 * *pending.  The copies are passed in batches of many leaves, once no lock
 * is held.  Each leaf is added to *taken (if not NULL) before its changes
 * are taken, so that a consumer that fails part way, in a take or in
 * "copy", knows every leaf it must give back.
 */
void
mantis_store_take_leaves(MantisConsumer consumer, MantisLeafSet *pending,
						 MantisLeafSet *taken, MantisRecordCallback copy, void *arg)
{
	int			first = leafset_next(pending, 0);
	LeafAhead	buckets = {first, false};
	LeafAhead	registers = {first, true};
	CopyBuf		b;

	if (first < 0)
		return;
	store_attach();
	if (copy)
	{
		/* room for a register or two a leaf pending, up to a batch */
		int			leaves = (int) pg_popcount((const char *) pending->words,
											   sizeof(pending->words));

		copybuf_init_sized(&b, Min((Size) TAKE_BATCH_BYTES,
								   Max((Size) COPYBUF_INITIAL_BYTES, (Size) leaves * 128)),
						   Min(TAKE_BATCH_RECS, Max(COPYBUF_INITIAL_RECS, 2 * leaves)));
	}
	for (int i = 0; i < TAKE_AHEAD; i++)
	{
		ahead_step(&buckets, consumer, pending);
		if (i >= TAKE_AHEAD / 2)
			ahead_step(&registers, consumer, pending);
	}
	for (int leaf = first; leaf >= 0; leaf = leafset_next(pending, leaf + 1))
	{
		uint32		mask = (uint32) 1 << (leaf % 32);

		ahead_step(&buckets, consumer, pending);
		ahead_step(&registers, consumer, pending);
		if (taken)
			taken->words[leaf / 32] |= mask;
		if (copy)
			(void) take_leaf(consumer, leaf, &b, copy, arg);
		else
			(void) take_leaf_uncopied(consumer, leaf);
		pending->words[leaf / 32] &= ~mask;
	}
	if (copy)
	{
		copybuf_call(&b, copy, arg);
		copybuf_free(&b);
	}
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
	pg_atomic_write_u64(&store_leaf(leaf)->dirty_buckets[consumer], ~UINT64CONST(0));
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
