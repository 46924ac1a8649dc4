/*-------------------------------------------------------------------------
 * locks.h
 *	  Every lock mantis takes, what it guards, and the order they are
 *	  taken in.
 *
 * LWLocks (tranche names as pg_stat_activity.wait_event shows them):
 *
 *	mantis_store_partition	MANTIS_PARTITIONS locks, one per partition of
 *		the registers (store/store.c): shared to read a register, exclusive to
 *		change one, its digest leaf or its flags, and likewise for the
 *		partition's records of dead registers and its leaves' collapsed
 *		bounds (store/dead.c).  A process holds one at a
 *		time, except a batch (a committed transaction's writes, a multi-key
 *		read), which takes the locks of all its partitions in ascending
 *		order and releases them together.
 *	mantis_store_area	the DSA area the registers are allocated from
 *		(store/store.c); taken inside dsa_allocate()/dsa_free(), also under a
 *		partition lock.
 *	mantis_peer_view	the published rows of mantis_peers (replication/peer_view.c):
 *		exclusive to publish, shared to copy; held for a memcpy.
 *
 * Spinlocks, each held for a few stores or one struct copy, with nothing
 * else taken and nothing that can raise an ERROR while held:
 *
 *	the node directory's (nodes.c), the persistence worker's status
 *	(persist/status.c), the latch table's (wakeup.c) and how collection
 *	goes (store/collect.c: a mode, a count and one bounded strlcpy); the
 *	change log's (store/changes.c), taken under a partition lock by every
 *	change applied, held for one entry's copy (a header and a key of at
 *	most mantis.max_key_size bytes) and the eviction of older entries,
 *	and its readers' for two reads; each waiter slot's (a prefix copy);
 *	what replication holds of each peer (a struct copy).
 *
 * A seqlock: the registers held back (store/held.c), written by the
 * persistence worker alone, read by any process without a lock (a read
 * that overlaps a write starts over, and gives up as "not held").  The
 * change log's entries are read without a lock too: a reader checks
 * after its copy that the oldest entry held is not past it (an evicted
 * entry may be torn), and drops or retries what was.
 *
 * Latches: mantis_wait() sleeps on its own; the watch worker sets it
 * (store/changes.c), as do cancel and statement_timeout.
 *
 * Condition variables: the store's loaded_cv (the registers became
 * readable or writable), the persistence worker's flush_cv (a mantis_flush()
 * request was served), the change log's held_cv (the replication worker
 * published what it holds of its peers' writes, store/changes.c; only
 * while a mantis_wait_for() waits).  Nobody sleeps on one holding a lock.
 *
 * Rules:
 *	- Partition locks are taken in ascending partition order; under them a
 *	  process takes only the DSA area's lock (allocating or freeing a
 *	  chunk) and spinlock-free atomics (the clock, counters, digests,
 *	  dirty bitmaps), and may set a latch (mantis_wake_worker()).  No
 *	  palloc, no callback, no ereport, no other LWLock: iterators copy the
 *	  registers out under the lock and call back after releasing it.
 *	- mantis_peer_view is never held with a partition lock, and the worker
 *	  that publishes holds nothing else.
 *	- The clock (clock.c) is atomics only and may be used under any lock.
 *	- A spinlock is innermost: nothing is taken while one is held.
 *
 * So no two mantis processes can wait for each other, and an ERROR (which
 * releases LWLocks in AbortTransaction or the worker's error path) never
 * leaves a register half written.
 *
 * IDENTIFICATION	src/locks.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LOCKS_H
#define MANTIS_LOCKS_H

#define MANTIS_TRANCHE_PARTITIONS	"mantis_store_partition"
#define MANTIS_TRANCHE_STORE_AREA	"mantis_store_area"
#define MANTIS_TRANCHE_PEER_VIEW	"mantis_peer_view"

#endif							/* MANTIS_LOCKS_H */
