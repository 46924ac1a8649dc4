/*-------------------------------------------------------------------------
 * store/store.h
 *	  The registers in shared memory (store/store.c, store/write.c,
 *	  store/read.c, store/sweep.c): writes, merges, reads, the changes the
 *	  workers consume, the repair digests, and the sweep that collects
 *	  expired registers and deletion markers.
 *
 * IDENTIFICATION	src/store/store.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_STORE_H
#define MANTIS_STORE_H

#include "port/atomics.h"

#include "mantis.h"
#include "common/hlc.h"
#include "common/rules.h"

/* Register flags */
#define MANTIS_REG_DELETED		0x0001	/* a deletion marker (tombstone) */
#define MANTIS_REG_UNSENT		0x0002	/* not yet handed to the peers */
#define MANTIS_REG_UNFLUSHED	0x0004	/* not yet written to mantis_stores */
#define MANTIS_REG_SEEN		0x0008	/* in a peer's repair answer (replication/repair.c) */
#define MANTIS_REG_EXPIRING	0x0010	/* an expiry follows the value (store/internal.h) */
#define MANTIS_REG_ADOPTED	0x0020	/* adopted away, not yet durably (store/sweep.c) */
#define MANTIS_REG_COVERED	0x0040	/* ... and left out of the compaction under way */
#define MANTIS_REG_EXPIRY_LOGGED 0x0080	/* its expiry is in the change log (store/changes.c) */

typedef enum MantisPutResult
{
	MANTIS_PUT_APPLIED,			/* the register is now the one stored */
	MANTIS_PUT_STALE,			/* an equal or newer register was kept */
	MANTIS_PUT_NO_KEYS,			/* mantis.max_keys registers are held */
	MANTIS_PUT_NO_MEMORY,		/* mantis.store_memory is exhausted */
	MANTIS_PUT_COLLECTED		/* a stale copy of a key whose deletion or
								 * expiry was collected here: refused */
} MantisPutResult;

/* Counters for mantis_status and the tests; see store/store.c. */
typedef struct MantisStoreStats
{
	uint64		registers;		/* registers held, deletion markers included */
	uint64		deleted;		/* deletion markers held */
	uint64		bytes_used;		/* store memory taken by registers */
	uint64		bytes_total;	/* mantis.store_memory */
	uint64		expired_held;	/* expired registers the last sweep kept */
	uint64		collected_deletions;	/* deletion markers swept, since startup */
	uint64		collected_expired;	/* expired registers swept, since startup */
	uint64		dead_records;	/* records of dead registers held (R7) */
	uint64		dead_records_max;	/* room for them: mantis.max_dead_records
									 * rounded up to the partitions' shares */
	uint64		collapsed_records;	/* into leaves' bounds, since startup */
	uint64		leaves_with_bound;	/* leaves holding a collapsed bound */
	uint64		collected_records;	/* records collected, since startup */
} MantisStoreStats;

typedef void (*MantisRecordCallback) (const MantisRecord *rec, void *arg);

/* The workers that consume changes, each with its own dirty bitmap */
typedef enum MantisConsumer
{
	MANTIS_CONSUMER_PERSIST = 0,	/* persist/worker.c: flushes UNFLUSHED registers */
	MANTIS_CONSUMER_REPLICATION = 1 /* replication/worker.c: sends UNSENT ones */
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
										bool deleted, uint64 expires_ms,
										MantisHLC *hlc, bool *replaced_live);
extern bool mantis_store_expire(const char *key, uint32 key_len, uint64 expires_ms,
								MantisHLC *hlc);
/* One write of a committed transaction (see api/txn.c) */
typedef struct MantisBatchWrite
{
	const char *key;
	uint32		key_len;
	const char *value;
	uint32		value_len;
	bool		deleted;
	uint64		expires_ms;		/* 0: never */
} MantisBatchWrite;

typedef struct MantisBatch MantisBatch;

extern MantisBatch *mantis_store_batch_prepare(const MantisBatchWrite *writes, int n,
											   MantisPutResult *result);
extern void mantis_store_batch_apply(MantisBatch *batch, MantisHLC *hlc);
extern void mantis_store_batch_cancel(MantisBatch *batch);
extern void mantis_store_get_many(const char *const *keys, const uint32 *key_lens,
								  int n, bool *found, MantisRecord *values);
extern void mantis_store_get_many_any(const char *const *keys, const uint32 *key_lens,
									  int n, bool *found, MantisRecord *values);

/* What merging a stream of registers (a frame, a row) came to */
typedef struct MantisMergeTally
{
	uint64		applied;		/* won, and stored */
	uint64		stale;			/* an equal or newer register was kept */
	uint64		no_room;		/* the full store could not take it */
	uint64		collected;		/* refused: its key's death was collected */
} MantisMergeTally;

extern uint64 mantis_store_refusal_horizon(void);
extern void mantis_store_raise_refusal_horizon(uint64 ts);
extern void mantis_store_lower_refusal_horizon(uint64 below_ts);
extern bool mantis_store_admits(const MantisRecord *rec);
extern void mantis_store_prefetch(const char *key, uint32 key_len);
extern MantisPutResult mantis_store_merge(const MantisRecord *rec, int flags,
										  bool refuse_collected, MantisMergeTally *tally);
extern bool mantis_store_get(const char *key, uint32 key_len, Size header,
							 char **chunk, uint32 *value_len);
extern bool mantis_store_get_expiry(const char *key, uint32 key_len, uint64 *expires_ms);
extern bool mantis_store_beats(const char *key, uint32 key_len,
							   const MantisHLC *hlc);
extern uint64 mantis_store_record_fingerprint(const MantisRecord *rec, int *leaf);
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
extern void mantis_store_give_back_leaf(MantisConsumer consumer, int leaf);
extern void mantis_store_raise_put_failure(MantisPutResult result);

/* ---- the sweep (store/sweep.c) ---- */

/* What one sweep may collect (the rule R3 of common/rules.h) */
typedef struct MantisSweepHorizon
{
	uint64		now_ms;			/* wall clock of this sweep */
	uint64		stable_ts;		/* HLC ts (not ms): a dead register whose
								 * hlc.ts <= stable_ts is collected */
	uint64		lifetime_ts;	/* HLC ts: a dead register whose death is at
								 * or before this is collected too (0: none);
								 * death = the HLC's ms for a deletion,
								 * expires_ms for an expired register;
								 * compared in ms: mantis_hlc_ms(lifetime_ts) */
	uint64		hole_ts;		/* both only if its hlc.ts is below this: the
								 * least register refused from a peer (room,
								 * limits, skew; MANTIS_RULES_NO_HOLE: none) */
	const uint64 *held_keys;	/* and never a key whose hash is among these
								 * (sorted): a register of it is held back
								 * in mantis_stores */
	int			held_nkeys;
	uint64		compact_ms;		/* a dead register kept, owed nothing, dead
								 * at or before this becomes a record (R7,
								 * store/dead.c); 0: none */
	int			compact_protocol;	/* for mantis_rules_compact() */
	uint64		collapse_ts;	/* a full budget collapses records only
								 * below this HLC (R7); 0: none */
	bool		raise_by_lifetime;	/* what each collects raises the refusal
									 * horizon (R4), before its partition's */
	bool		raise_by_horizon;	/* lock is released */
} MantisSweepHorizon;

/* One sweep's findings */
typedef struct MantisSweepStats
{
	uint64		expired_held;	/* expired registers kept (not yet
								 * collectible), in the whole store */
	uint64		deleted_held;	/* deletion markers seen and kept */
	uint64		collected_deletions;	/* removed this sweep */
	uint64		collected_expired;
	uint64		lifetime_collected; /* of those, collected only by lifetime_ts
									 * (not by stable_ts) */
	uint64		lifetime_max_ts;	/* greatest hlc.ts of a register collected
									 * by lifetime only */
	uint64		stable_max_ts;	/* ... of one collected by stable_ts */
	uint64		leaves_visited;
	uint64		compacted;		/* dead registers made records (R7) */
	uint64		collapsed;		/* records collapsed to make room for them */
	uint64		records_collected;	/* records collected (R7, also in the
									 * lifetime and stable fields) */
	uint64		bounds_collected;	/* leaves' collapsed bounds collected */
	uint64		next_due_ms;	/* the earliest expiry of a live register, as
								 * of the sweep (PG_UINT64_MAX: none) */
	uint64		least_dead_ts;	/* the least HLC of a dead register kept
								 * (PG_UINT64_MAX: none) */
} MantisSweepStats;

extern void mantis_store_sweep(const MantisSweepHorizon *h, MantisSweepStats *out);

/* Records of dead registers and collapsed bounds (R7, store/dead.c) */
typedef enum MantisDeadLoad
{
	MANTIS_DEAD_HELD = 0,		/* held as a record (or in its leaf's bound) */
	MANTIS_DEAD_STALE,			/* beaten by a register, record or bound held */
	MANTIS_DEAD_NO_ROOM,		/* no room (or records off): held back */
	MANTIS_DEAD_JOINED			/* below its leaf's bound, no room: joined it */
} MantisDeadLoad;

extern uint32 mantis_store_dead_capacity(void);
extern uint32 mantis_store_dead_copy(int partition, MantisRecordView *recs, int *leaves,
									 MantisLeafBound *bounds, int *nbounds);
extern MantisDeadLoad mantis_store_dead_load(const MantisRecordView *rec);
extern bool mantis_store_dead_load_bound(int leaf, const MantisLeafBound *b);
extern bool mantis_store_dead_fold(uint64 hash, uint64 ts, uint64 node);
extern void mantis_store_dead_trust_rows(bool trusted);
extern bool mantis_store_holds_nothing(void);
extern void mantis_store_dead_take_changed(MantisLeafSet *taken);
extern void mantis_store_dead_give_back_changed(const MantisLeafSet *taken);
extern bool mantis_store_dead_has_changed(void);
extern bool mantis_store_dead_bound(int leaf, MantisLeafBound *out);
extern int	mantis_store_adopt_leaf(int leaf, uint64 upto_ts, uint64 cover_hole_ts,
									int *flagged);

/* Hash tombstones of protocol 5 (R7, store/dead.c; replication/tombs.c) */
typedef struct MantisTombSink
{
	void		(*record) (const MantisRecordView *rec, void *arg);
	void		(*bound) (int leaf, const MantisLeafBound *b, void *arg);
	void	   *arg;
} MantisTombSink;

typedef enum MantisTombResult
{
	MANTIS_TOMB_TAKEN = 0,		/* held as a record now */
	MANTIS_TOMB_STALE,			/* newer or the same held, or the bound's */
	MANTIS_TOMB_COLLECTED,		/* at or below the refusal horizon */
	MANTIS_TOMB_NO_ROOM			/* no room for its record: no hole (R7) */
} MantisTombResult;

extern int	mantis_store_group_tombs(int group, const bool *wanted, MantisRecordView *buf,
									 const MantisTombSink *sink);
extern MantisTombResult mantis_store_tombstone(const MantisRecordView *t,
											   bool refuse_collected, uint64 collapse_ts,
											   uint64 hole_ts, int seen_flag);

/* What a compaction's snapshot left out: registers adopted away (sweep.c) */
typedef struct MantisAdoptCover
{
	uint64		hole_ts;		/* in: only registers below it are covered */
	MantisLeafSet leaves;		/* out: the leaves holding covered ones */
	uint64		max_ts;			/* out: the greatest HLC covered, 0: none */
	int			covered;		/* out: how many */
} MantisAdoptCover;

extern void mantis_store_scan_compaction(MantisRecordCallback callback, void *arg,
										 MantisAdoptCover *cover);
extern int	mantis_store_drop_covered(const MantisLeafSet *leaves, uint64 upto_ts);
extern uint64 mantis_store_adopting(void);

#endif							/* MANTIS_STORE_H */
