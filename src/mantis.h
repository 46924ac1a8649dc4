/*-------------------------------------------------------------------------
 * mantis.h
 *	  Types, limits and interfaces shared by the files of the mantis
 *	  extension.
 *
 * The SQL functions (functions.c, monitor.c, persist_sql.c) call store.c,
 * hlc.c and txn.c (a transaction's buffered writes, applied through
 * store.c at COMMIT); the workers call store.c and the persistence and
 * transport layers.  Only store.c takes the store's locks.
 *
 * IDENTIFICATION	src/mantis.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_H
#define MANTIS_H

#include <signal.h>

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "keyhash.h"
#include "lww.h"

/* Number of partition locks over the registers; a power of two. */
#define MANTIS_PARTITIONS		128

/*
 * Number of repair digest leaves; a power of two, at least MANTIS_PARTITIONS.
 * A key's leaf is the low bits of its hash, so a leaf lies inside one
 * partition and its registers sit in a known, small set of hash buckets.
 */
#define MANTIS_LEAVES			65536

/* Longest node name, and the nodes whose names we remember for display. */
#define MANTIS_NODE_NAME_MAX	63
#define MANTIS_MAX_NODES		64

/* Peers: configured endpoints, and nodes known to the replication worker */
#define MANTIS_MAX_PEERS		32
#define MANTIS_MAX_LINKS		64
#define MANTIS_ENDPOINT_MAX		256

/* Hard ceilings for the size GUCs. */
#define MANTIS_KEY_SIZE_CEILING		(64 * 1024)
#define MANTIS_VALUE_SIZE_CEILING	(64 * 1024 * 1024)
#define MANTIS_STORE_MEMORY_CEILING_KB	(32 * 1024 * 1024)	/* 32GB: see store.c */

/* ---- guc.c ---- */
extern char *mantis_node_name;
extern int	mantis_max_keys;
extern int	mantis_store_memory_kb;
extern int	mantis_max_key_size;
extern int	mantis_max_value_size;
extern char *mantis_database;
extern int	mantis_flush_interval_ms;
extern int	mantis_compact_rows;
extern int	mantis_load_timeout_ms;
extern bool mantis_transactional;
extern char *mantis_listen;
extern char *mantis_peer_endpoints;	/* mantis.peers */
extern int	mantis_sync_interval_ms;
extern int	mantis_max_clock_offset_ms;
extern int	mantis_peer_timeout_ms;
extern int	mantis_debug_clock_offset_ms;
extern bool mantis_debug_fail_flush;
extern char *mantis_curve_secret_key_file;
extern char *mantis_curve_peers_file;

extern void mantis_define_gucs(void);
extern bool mantis_node_name_is_valid(const char *name);
extern bool mantis_replication_enabled(void);
extern bool mantis_endpoint_is_valid(const char *endpoint, bool for_bind);
extern int	mantis_parse_peers(const char *list,
							   char (*endpoints)[MANTIS_ENDPOINT_MAX],
							   const char **error);

/* ---- mantis.c ---- */
extern void mantis_check_loaded(void);
extern void mantis_register_worker(const char *function, const char *name);

/* ---- nodes.c: node ids and the names they stand for ---- */
typedef struct MantisNodeEntry
{
	uint64		id;
	char		name[MANTIS_NODE_NAME_MAX + 1];
} MantisNodeEntry;

typedef struct MantisNodeDirectory
{
	slock_t		mutex;
	int			count;
	MantisNodeEntry nodes[MANTIS_MAX_NODES];
} MantisNodeDirectory;

extern uint64 mantis_node_id_of(const char *name);
extern void mantis_nodes_init(MantisNodeDirectory *dir);
extern void mantis_nodes_remember(uint64 id, const char *name);
extern void mantis_nodes_name(uint64 id, char *buf, size_t bufsize);
extern int	mantis_nodes_copy(MantisNodeEntry *out);

/* ---- hlc.c: this server's hybrid logical clock ---- */
extern uint64 mantis_wall_ms(void);
extern MantisHLC mantis_hlc_now(void);
extern void mantis_hlc_witness(uint64 ts);
extern uint64 mantis_hlc_peek(void);
extern text *mantis_hlc_text(const MantisHLC *hlc);

/* ---- store.c: the registers in shared memory ---- */

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

/* What the worker is doing about mantis_stores (MantisWorkerState.persist) */
typedef enum MantisPersistState
{
	MANTIS_PERSIST_STOPPED,		/* no worker is running */
	MANTIS_PERSIST_STARTING,	/* connecting, or loading mantis_stores */
	MANTIS_PERSIST_NO_EXTENSION,	/* waiting for CREATE EXTENSION mantis */
	MANTIS_PERSIST_READY,		/* loaded; flushing */
	MANTIS_PERSIST_STANDBY		/* loaded; following the primary's rows */
} MantisPersistState;

#define MANTIS_ERROR_TEXT_SIZE	256

/*
 * The worker's state as others see it, and mantis_flush() requests; all
 * under MantisShared.mutex.
 */
typedef struct MantisWorkerState
{
	int			pid;
	int			connect_attempts;	/* since the last successful one */
	MantisPersistState persist;
	TimestampTz last_flush_at;	/* 0 if none yet */
	uint64		last_flush_registers;
	uint64		flush_failures;
	int64		stored_rows;	/* this node's rows in mantis_stores; -1 unknown */
	uint64		held_back;		/* registers in mantis_stores not loaded */
	char		last_flush_error[MANTIS_ERROR_TEXT_SIZE];

	uint64		flush_requested;	/* mantis_flush() calls so far */
	uint64		flush_served;	/* requests answered by a flush */
	bool		flush_ok;		/* how the flush that answered them went */
	uint64		flush_result;	/* registers it wrote */
	ConditionVariable flush_cv;
} MantisWorkerState;

/* The workers that consume changes, each with its own dirty bitmap */
typedef enum MantisConsumer
{
	MANTIS_CONSUMER_PERSIST = 0,	/* worker.c: flushes UNFLUSHED registers */
	MANTIS_CONSUMER_REPLICATION = 1 /* replicator.c: sends UNSENT ones */
} MantisConsumer;

#define MANTIS_CONSUMERS 2

/* The part of shared memory every mantis process uses. */
typedef struct MantisShared
{
	/* identity of this server, fixed at startup */
	uint64		node_id;
	char		node_name[MANTIS_NODE_NAME_MAX + 1];

	/* greatest HLC issued or witnessed here (hlc.c) */
	pg_atomic_uint64 clock;

	/* set once the registers may be read, and once they may be written */
	pg_atomic_uint32 loaded;
	pg_atomic_uint32 writable;
	ConditionVariable loaded_cv;	/* broadcast when either is set */

	/* encoding of mantis.database once the worker connected, or -1 */
	int			encoding;

	/* each consumer's latch, or NULL while it does not run; under mutex */
	slock_t		mutex;
	Latch	   *latches[MANTIS_CONSUMERS];
	MantisWorkerState worker;

	MantisNodeDirectory nodes;
} MantisShared;

extern MantisShared *mantis_shared;

extern Size mantis_store_shmem_size(void);
extern void mantis_store_shmem_request(void);
extern bool mantis_store_shmem_init(void);
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
extern void mantis_store_take_dirty(MantisConsumer consumer, uint32 *words);
extern void mantis_store_leaf_digests(uint64 *out);
extern int	mantis_store_collect_leaf(int leaf, MantisRecordCallback copy, void *arg);
extern int	mantis_store_take_changes(MantisConsumer consumer, int leaf,
									  MantisRecordCallback copy, void *arg);
extern void mantis_store_give_back_leaf(MantisConsumer consumer, int leaf);
extern void mantis_store_report_put(MantisPutResult result);

/* ---- txn.c: writes buffered until COMMIT ---- */
typedef enum MantisTxnLookup
{
	MANTIS_TXN_NONE,			/* no pending write of the key */
	MANTIS_TXN_DELETED,			/* a pending deletion */
	MANTIS_TXN_VALUE			/* a pending value */
} MantisTxnLookup;

extern bool mantis_txn_buffers_writes(void);
extern void mantis_txn_write(const char *key, uint32 key_len,
							 const char *value, uint32 value_len);
extern MantisTxnLookup mantis_txn_lookup(const char *key, uint32 key_len,
										 const char **value, uint32 *value_len);
extern void mantis_txn_foreach(void (*callback) (const char *key, uint32 key_len,
												 const char *value, uint32 value_len,
												 void *arg),
							   void *arg);

/* ---- worker.c: the background worker ---- */
extern void mantis_worker_register(void);
extern void mantis_worker_shmem_init(void);
extern uint64 mantis_request_flush(void);
extern void mantis_worker_state(MantisWorkerState *out);

/* ---- persist.c: mantis_stores ---- */
typedef struct MantisFlushResult
{
	uint64		registers;		/* registers written */
	int			rows;			/* rows inserted */
	bool		compacted;		/* older rows of this node were replaced */
} MantisFlushResult;

extern volatile sig_atomic_t mantis_persist_in_work;
extern bool mantis_persist_follow(void);
extern bool mantis_persist_flush(uint32 *pending_leaves, bool compact,
								 MantisFlushResult *result);
extern void mantis_persist_abort(void);
extern void mantis_persist_counts(uint64 *held_back, int64 *own_rows);

/* ---- replication.c: peers, the protocol, and the mantis_peers view ---- */
typedef enum MantisLinkState
{
	MANTIS_LINK_CONNECTING,		/* configured, never heard from */
	MANTIS_LINK_CONNECTED,		/* answered within mantis.peer_timeout */
	MANTIS_LINK_DOWN,			/* silent for longer than that */
	MANTIS_LINK_REFUSED,		/* this server itself, its node id, or a
								 * node whose limits differ from ours */
	MANTIS_LINK_INBOUND			/* not configured here; it connects to us */
} MantisLinkState;

typedef struct MantisPeerCounters
{
	uint64		messages_in;
	uint64		bytes_in;
	uint64		messages_out;
	uint64		bytes_out;
	uint64		dropped;		/* messages we could not queue */
	uint64		applied;		/* registers that won and were stored */
	uint64		malformed;		/* messages or registers refused as malformed */
	uint64		skewed;			/* registers too far in the future */
	uint64		stale;			/* registers older than what we hold */
	uint64		no_room;		/* registers the full store could not take */
	uint64		refused;		/* connections refused at their handshake */
	uint64		mismatched;		/* messages from a peer refused at its
								 * greeting: its limits differ from ours */
	uint64		held;			/* registers not re-sent because the peer
								 * refused them before */
} MantisPeerCounters;

/* One row of mantis_peers, as the replication worker last published it */
typedef struct MantisPeerView
{
	char		endpoint[MANTIS_ENDPOINT_MAX];	/* "" for inbound-only */
	char		name[MANTIS_NODE_NAME_MAX + 1]; /* "" until known */
	uint64		node_id;
	MantisLinkState state;
	TimestampTz since;
	TimestampTz last_message;	/* 0: never */
	MantisPeerCounters counters;
	bool		offset_known;
	int64		clock_offset_ms;
	char		last_error[MANTIS_ERROR_TEXT_SIZE];
} MantisPeerView;

extern Size mantis_replication_shmem_size(void);
extern void mantis_replication_shmem_request(void);
extern void mantis_replication_shmem_init(void);
extern void mantis_replication_register_worker(void);
extern int	mantis_replication_snapshot(MantisPeerView **views,
										MantisPeerCounters *unattributed);

#endif							/* MANTIS_H */
