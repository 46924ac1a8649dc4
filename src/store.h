/*-------------------------------------------------------------------------
 * store.h
 *	  The registers in shared memory (store.c, store_batch.c, store_read.c,
 *	  store_changes.c, store_state.c): writes, reads, the changes the
 *	  workers consume, and the repair digests.
 *
 * IDENTIFICATION	src/store.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_STORE_H
#define MANTIS_STORE_H

#include "mantis.h"
#include "lww.h"

/* Register flags */
#define MANTIS_REG_DELETED		0x0001	/* a deletion marker (tombstone) */
#define MANTIS_REG_UNSENT		0x0002	/* not yet handed to the peers */
#define MANTIS_REG_UNFLUSHED	0x0004	/* not yet written to mantis_stores */

typedef enum MantisPutResult
{
	MANTIS_PUT_APPLIED,			/* the register is now the one stored */
	MANTIS_PUT_STALE,			/* an equal or newer register was kept */
	MANTIS_PUT_NO_KEYS,			/* mantis.max_keys registers are held */
	MANTIS_PUT_NO_MEMORY		/* mantis.store_memory is exhausted */
} MantisPutResult;

/* Counters for mantis_status and the tests; see store.c. */
typedef struct MantisStoreStats
{
	uint64		registers;		/* registers held, deletion markers included */
	uint64		deleted;		/* deletion markers held */
	uint64		bytes_used;		/* store memory taken by registers */
	uint64		bytes_total;	/* mantis.store_memory */
} MantisStoreStats;

typedef void (*MantisRecordCallback) (const MantisRecord *rec, void *arg);

/* The workers that consume changes, each with its own dirty bitmap */
typedef enum MantisConsumer
{
	MANTIS_CONSUMER_PERSIST = 0,	/* persist_worker.c: flushes UNFLUSHED registers */
	MANTIS_CONSUMER_REPLICATION = 1 /* replication_worker.c: sends UNSENT ones */
} MantisConsumer;

#define MANTIS_CONSUMERS 2

extern Size mantis_store_shmem_size(void);
extern void mantis_store_shmem_request(void);
extern void mantis_store_shmem_init(void *place, bool found);
extern void mantis_store_wait_loaded(void);
extern void mantis_store_wait_writable(void);
extern void mantis_store_check_sizes(uint32 key_len, uint32 value_len);
extern MantisPutResult mantis_store_set(const char *key, uint32 key_len,
										const char *value, uint32 value_len,
										bool deleted, MantisHLC *hlc,
										bool *replaced_live);
/* One write of a committed transaction (see txn.c) */
typedef struct MantisBatchWrite
{
	const char *key;
	uint32		key_len;
	const char *value;
	uint32		value_len;
	bool		deleted;
} MantisBatchWrite;

typedef struct MantisBatch MantisBatch;

extern MantisBatch *mantis_store_batch_prepare(const MantisBatchWrite *writes, int n,
											   MantisPutResult *result);
extern void mantis_store_batch_apply(MantisBatch *batch, MantisHLC *hlc);
extern void mantis_store_batch_cancel(MantisBatch *batch);
extern void mantis_store_get_many(const char *const *keys, const uint32 *key_lens,
								  int n, bool *found, MantisRecord *values);
extern MantisPutResult mantis_store_merge(const MantisRecord *rec, int flags);

/* What merging a stream of registers (a frame, a row) came to */
typedef struct MantisMergeTally
{
	uint64		applied;		/* won, and stored */
	uint64		stale;			/* an equal or newer register was kept */
	uint64		no_room;		/* the full store could not take it */
} MantisMergeTally;

extern bool mantis_store_admits(const MantisRecord *rec);
extern void mantis_store_merge_tallied(const MantisRecord *rec, int flags,
									   MantisMergeTally *tally);
extern bool mantis_store_get(const char *key, uint32 key_len, Size header,
							 char **chunk, uint32 *value_len);
extern bool mantis_store_beats(const char *key, uint32 key_len,
							   const MantisHLC *hlc);
extern void mantis_store_scan(bool include_deleted,
							  MantisRecordCallback callback, void *arg);
extern void mantis_store_scan_prefix(const char *prefix, uint32 prefix_len,
									 bool include_deleted,
									 MantisRecordCallback callback, void *arg);
extern void mantis_store_stats(MantisStoreStats *stats);
extern void mantis_store_set_loaded(void);
extern void mantis_store_set_writable(void);
extern bool mantis_store_is_loaded(void);
extern bool mantis_store_is_writable(void);
extern int	mantis_store_encoding(void);
extern void mantis_store_set_encoding(int encoding);
/* A set of digest leaves: MANTIS_LEAVES bits */
typedef struct MantisLeafSet
{
	uint32		words[MANTIS_LEAVES / 32];
} MantisLeafSet;

extern bool mantis_leafset_is_empty(const MantisLeafSet *set);
extern void mantis_store_take_dirty(MantisConsumer consumer, MantisLeafSet *pending);
extern bool mantis_store_has_dirty(MantisConsumer consumer);
extern void mantis_store_write_barrier(void);
extern void mantis_store_take_leaves(MantisConsumer consumer, MantisLeafSet *pending,
									 MantisLeafSet *taken,
									 MantisRecordCallback copy, void *arg);
extern void mantis_store_leaf_digests(uint64 *out);
extern int	mantis_store_collect_leaf(int leaf, MantisRecordCallback copy, void *arg);
extern int	mantis_store_take_changes(MantisConsumer consumer, int leaf,
									  MantisRecordCallback copy, void *arg);
extern void mantis_store_give_back_leaf(MantisConsumer consumer, int leaf);
extern void mantis_store_raise_put_failure(MantisPutResult result);

#endif							/* MANTIS_STORE_H */
