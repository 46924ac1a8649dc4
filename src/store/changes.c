/*-------------------------------------------------------------------------
 * store/changes.c
 *	  The change log: every register this server applies, in the order it
 *	  applies them, with its key, in a ring of mantis.watch_memory bytes.
 *
 * Why a log and not the store alone: the store keeps the newest register
 * of each key, and of a dead one in time only a record without its key
 * (R7 of common/rules.h).  A change feed must say "this key was deleted"
 * after that, and must find what changed since a cursor without visiting
 * every key.  The log gives both: its entries are numbered in the order
 * of application (a "seq", from 1 in each run of the server), so the
 * changes after a seq are a contiguous run of entries, and each entry
 * keeps its key.  watch/feed.c reads the current register of each key it
 * names, so an entry holds no value.
 *
 * Who appends: store/write.c's put_apply() (every local write, committed
 * transaction, peer's register and row merged once the store is loaded),
 * the sweep (an expiry found, store/sweep.c) and what drops a register
 * otherwise (an adoption made durable, a hash tombstone that replaces a
 * register).  Always under the key's partition lock, so that an entry
 * follows its register's change and comes before anything a reader of the
 * register could see after it (mantis_store_write_barrier()).
 *
 * Locking: one spinlock, taken under a partition lock (locks.h allows it:
 * a spinlock is innermost), guards the ring's positions; an append copies
 * its entry (a header and a key of at most mantis.max_key_size bytes)
 * under it, evicting the oldest entries for room.  Readers never block
 * writers: they read the positions under the spinlock, copy entries
 * without it, and then check that the oldest entry still held is not past
 * what they copied; if it is, the copy may be torn and they give up (the
 * caller falls back to a scan of the store, watch/feed.c), or, reading
 * the whole log for a scan, keep the entries still held
 * (mantis_changes_copy_held()).
 *
 * The keyless bound.  A reader that cannot use the log (another run's
 * cursor, or one older than the log's oldest entry) scans the store for
 * registers newer than the cursor's HLC; it cannot see a deletion whose
 * register lost its key (compacted into a record, collected, adopted away)
 * unless an entry keeps it.  keyless_ts is the greatest HLC of such a
 * change no entry keeps: raised when an entry of a deletion, expiry or
 * drop is evicted, when a hash tombstone comes for a key held nothing of,
 * and by the load, to the newest dead register, record or bound the rows
 * held (they entered with no entry).  A scan answers a cursor at or above
 * it exactly.  A register dropped (adopted away) dies when it is dropped,
 * however old its HLC: its entry's change_ts is the clock then, so that a
 * scan from a cursor taken after its write, and before the drop, names it.
 *
 * Waiters: a session in mantis_wait() publishes its prefix and seq in the
 * slot of its PGPROC; the watch worker reads each new entry once and sets
 * the latches of the waiters it concerns (mantis_changes_wake_waiters()),
 * so that a write costs its writer one atomic read while nobody waits, and
 * while someone does, a look at the waits' prefix heads (HEAD_BYTES) and
 * one SetLatch of the watch worker only if its key may concern one.
 *
 * NOTIFY (watch/notify.c): while mantis.notify_channel is set the watch
 * worker reads every entry, waiters or not.  It says so by a bit of the
 * same word that counts the waiters ("wake"), so that a writer still
 * reads one word to learn whether to wake it, and publishes the seq
 * through which it notified ("notified"): a watch worker that restarts,
 * after an ERROR or a SIGTERM, goes on from there.
 *
 * Held waiters: a session in mantis_wait_for() (api/tokens.c) sleeps on
 * held_cv until what we hold of a peer's writes passes its token.  The
 * replication worker broadcasts it after publishing what it holds, and
 * only while someone waits (held_waiters): otherwise a publication costs
 * it one more atomic read.  A waiter counts itself (a full barrier) before
 * it reads what is held, and the worker reads the count after a barrier
 * that follows its publication, so one of the two sees the other: no
 * wake-up is lost.
 *
 * IDENTIFICATION	src/store/changes.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "guc.h"
#include "wakeup.h"
#include "wait_events.h"
#include "store/changes.h"

/* An entry in the ring: this header, then its key, MAXALIGN'd */
typedef struct ChangeHeader
{
	uint64		seq;
	uint64		change_ts;
	MantisHLC	hlc;
	uint32		key_len;
	uint8		kind;
} ChangeHeader;

#define ENTRY_SIZE(key_len)	MAXALIGN(sizeof(ChangeHeader) + (key_len))
#define ENTRY_MIN			ENTRY_SIZE(1)

/* One session's wait (mantis_wait()), in the slot of its PGPROC */
typedef struct WaiterSlot
{
	pg_atomic_uint32 used;
	slock_t		mutex;			/* guards the fields below */
	uint32		prefix_len;
	uint64		after_seq;		/* the waiter has read the log through this */
	char		prefix[MANTIS_WAIT_PREFIX_MAX];
} WaiterSlot;

/*
 * A writer wakes the watch worker for waiters only if its key may concern
 * one: a wait counts in heads[] under the hash of its prefix's first
 * HEAD_BYTES bytes (or in short_waits, shorter), a key looks there under
 * the hash of its own first bytes.  So that a busy server's writes to keys
 * nobody waits for cost one or two atomic reads, not a wake-up each.
 */
#define HEAD_BYTES		4
#define HEAD_SLOTS		1024

typedef struct ChangeLog
{
	slock_t		mutex;			/* guards the positions below */
	uint64		head_pos;		/* where the next entry goes (bytes, ever
								 * increasing; modulo size in data[]) */
	uint64		tail_pos;		/* where the oldest entry held is */
	uint64		newest;			/* seq of the last entry (0: none) */
	uint64		oldest;			/* seq of the oldest entry held */
	pg_atomic_uint64 keyless_ts;
	pg_atomic_uint64 expiries_ms;	/* the sweep logged every expiry through
									 * this wall ms (mantis_store_sweep()) */
	pg_atomic_uint64 peers_held;	/* replication worker: we hold every
									 * peer's writes through this HLC ts */
	pg_atomic_uint32 members_agree; /* every peer reports our member set */
	slock_t		peers_mutex;	/* guards peers[] */
	int			npeers;
	MantisPeerHeld peers[MANTIS_MAX_PEERS];
	pg_atomic_uint64 waits_gen;	/* a wait added or taken back */
	pg_atomic_uint32 short_waits;	/* waits whose prefix is under
									 * HEAD_BYTES long: any key may concern them */
	pg_atomic_uint32 heads[HEAD_SLOTS];	/* waits by their prefix's head */
	pg_atomic_uint32 wake;		/* the waiters (WAKE_WAITERS bits), and
								 * WAKE_NOTIFY: the watch worker follows
								 * the log for NOTIFY */
	pg_atomic_uint64 notified;	/* ... through this seq */
	bool		peers_known;	/* published once, every peer identified */
	pg_atomic_uint32 held_waiters;	/* sessions in mantis_wait_for() */
	ConditionVariable held_cv;	/* broadcast when peers[] is published */
	uint64		run;
	uint64		size;			/* bytes of data[] */
	uint64		nslots;			/* positions kept, by seq modulo */
	uint32		nwaiters;		/* slots: one per backend */
	/* then uint64 pos[nslots], WaiterSlot waiters[nwaiters], char data[size] */
} ChangeLog;

#define WAKE_NOTIFY		((uint32) 1 << 31)
#define WAKE_WAITERS	(WAKE_NOTIFY - 1)

static ChangeLog *log_ctl = NULL;
static uint64 *log_pos = NULL;
static WaiterSlot *log_waiters = NULL;
static char *log_data = NULL;

/*
 * The ring's bytes: mantis.watch_memory, but room for four entries of the
 * longest key at least, so that every change makes its entry.
 */
static uint64
log_size(void)
{
	return Max((uint64) mantis_watch_memory_kb * 1024,
			   4 * (uint64) ENTRY_SIZE(mantis_max_key_size));
}

static uint64
slot_count(void)
{
	return log_size() / ENTRY_MIN + 1;
}

Size
mantis_changes_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(ChangeLog));

	size = add_size(size, MAXALIGN(mul_size(slot_count(), sizeof(uint64))));
	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(WaiterSlot))));
	return add_size(size, log_size());
}

void
mantis_changes_shmem_init(void *place, bool found)
{
	char	   *p = place;

	log_ctl = (ChangeLog *) p;
	p += MAXALIGN(sizeof(ChangeLog));
	log_pos = (uint64 *) p;
	p += MAXALIGN(mul_size(slot_count(), sizeof(uint64)));
	log_waiters = (WaiterSlot *) p;
	p += MAXALIGN(mul_size(MaxBackends, sizeof(WaiterSlot)));
	log_data = p;
	if (found)
		return;
	SpinLockInit(&log_ctl->mutex);
	log_ctl->head_pos = 0;
	log_ctl->tail_pos = 0;
	log_ctl->newest = 0;
	log_ctl->oldest = 1;
	pg_atomic_init_u64(&log_ctl->keyless_ts, 0);
	pg_atomic_init_u64(&log_ctl->expiries_ms, 0);
	pg_atomic_init_u64(&log_ctl->peers_held, 0);
	pg_atomic_init_u32(&log_ctl->members_agree, 0);
	SpinLockInit(&log_ctl->peers_mutex);
	log_ctl->npeers = 0;
	/*
	 * As if a watch worker had followed the log from the start: the first
	 * resumes at seq 0 if its channel is set, and clears the bit if not.
	 */
	pg_atomic_init_u32(&log_ctl->wake, WAKE_NOTIFY);
	pg_atomic_init_u64(&log_ctl->waits_gen, 0);
	pg_atomic_init_u32(&log_ctl->short_waits, 0);
	for (int i = 0; i < HEAD_SLOTS; i++)
		pg_atomic_init_u32(&log_ctl->heads[i], 0);
	pg_atomic_init_u64(&log_ctl->notified, 0);
	log_ctl->peers_known = false;
	pg_atomic_init_u32(&log_ctl->held_waiters, 0);
	ConditionVariableInit(&log_ctl->held_cv);
	if (!pg_strong_random(&log_ctl->run, sizeof(log_ctl->run)))
		log_ctl->run = (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp();
	log_ctl->size = log_size();
	log_ctl->nslots = slot_count();
	log_ctl->nwaiters = (uint32) MaxBackends;
	for (uint32 i = 0; i < log_ctl->nwaiters; i++)
	{
		pg_atomic_init_u32(&log_waiters[i].used, 0);
		SpinLockInit(&log_waiters[i].mutex);
	}
}

static void
raise_to(pg_atomic_uint64 *a, uint64 v)
{
	uint64		old = pg_atomic_read_u64(a);

	while (old < v && !pg_atomic_compare_exchange_u64(a, &old, v))
		;
}

/* The ring's header at a position (modulo its size) */
static inline ChangeHeader *
header_at(uint64 pos)
{
	return (ChangeHeader *) (log_data + pos % log_ctl->size);
}

/* The heads[] slot of a key's or prefix's first HEAD_BYTES bytes */
static inline int
head_slot(const char *bytes)
{
	uint32		h = 0;

	for (int i = 0; i < HEAD_BYTES; i++)
		h = h * 31 + (unsigned char) bytes[i];
	return (int) (h % HEAD_SLOTS);
}

/* Whether a change of this key may concern a waiter (heads[] above) */
static inline bool
key_may_concern_waiters(const char *key, uint32 key_len)
{
	if (pg_atomic_read_u32(&log_ctl->short_waits) > 0)
		return true;
	return key_len >= HEAD_BYTES &&
		pg_atomic_read_u32(&log_ctl->heads[head_slot(key)]) > 0;
}

/*
 * Drop the oldest entry: under the mutex.  An entry that said a key died
 * leaves no trace of the key once gone: a scan can no longer answer for
 * it (keyless_ts).
 */
static void
evict_oldest(void)
{
	ChangeHeader *h = header_at(log_ctl->tail_pos);

	if (h->kind != MANTIS_CHANGE_WRITE)
		raise_to(&log_ctl->keyless_ts, h->change_ts);
	log_ctl->oldest++;
	log_ctl->tail_pos = log_ctl->oldest <= log_ctl->newest ?
		log_pos[log_ctl->oldest % log_ctl->nslots] : log_ctl->head_pos;
}

/*
 * Append an entry: the caller holds the key's partition lock.  Nothing
 * here can fail: the ring makes room by evicting.
 */
void
mantis_changes_note(const char *key, uint32 key_len, const MantisHLC *hlc,
					uint64 expires_ms, MantisChangeKind kind)
{
	uint32		wake;
	uint64		need = ENTRY_SIZE(key_len);
	uint64		change_ts = hlc->ts;
	ChangeHeader *h;
	uint64		pos;

	if (log_ctl == NULL)
		return;					/* not attached: the store is not either */
	Assert(need <= log_ctl->size / 4);
	if (kind == MANTIS_CHANGE_EXPIRED)
		change_ts = Max(change_ts, mantis_hlc_pack(expires_ms, 0));
	else if (kind == MANTIS_CHANGE_GONE)
		change_ts = Max(change_ts, mantis_clock_peek());	/* now, not its write */
	SpinLockAcquire(&log_ctl->mutex);
	pos = log_ctl->head_pos;
	/* an entry never wraps: skip the end of the ring if it does not fit */
	if (pos % log_ctl->size + need > log_ctl->size)
		pos += log_ctl->size - pos % log_ctl->size;
	while (log_ctl->oldest <= log_ctl->newest &&
		   pos + need - log_ctl->tail_pos > log_ctl->size)
		evict_oldest();
	if (log_ctl->oldest > log_ctl->newest)
		log_ctl->tail_pos = pos;
	h = header_at(pos);
	h->seq = log_ctl->newest + 1;
	h->change_ts = change_ts;
	h->hlc = *hlc;
	h->key_len = key_len;
	h->kind = (uint8) kind;
	memcpy((char *) h + sizeof(ChangeHeader), key, key_len);
	log_pos[h->seq % log_ctl->nslots] = pos;
	log_ctl->head_pos = pos + need;
	log_ctl->newest = h->seq;
	SpinLockRelease(&log_ctl->mutex);

	wake = pg_atomic_read_u32(&log_ctl->wake);
	if ((wake & WAKE_NOTIFY) != 0 ||
		((wake & WAKE_WAITERS) != 0 && key_may_concern_waiters(key, key_len)))
		mantis_wake_worker(MANTIS_WATCH_WORKER);
}

/* A change of a key we no longer know (a hash tombstone, the load) */
void
mantis_changes_keyless(uint64 ts)
{
	if (log_ctl != NULL)
		raise_to(&log_ctl->keyless_ts, ts);
}

/*
 * The sweep: every register whose expiry is at or before now_ms has its
 * EXPIRED entry.  An expiry comes into the log only then, so a cursor may
 * vouch for no expiry after this (watch/cursor.c).
 */
void
mantis_changes_expiries_logged(uint64 now_ms)
{
	if (log_ctl != NULL)
		raise_to(&log_ctl->expiries_ms, now_ms);
}

/* The greatest HLC ts a cursor may vouch for expiries through */
uint64
mantis_changes_expiries_held(void)
{
	return mantis_hlc_pack(pg_atomic_read_u64(&log_ctl->expiries_ms) + 1, 0) - 1;
}

void
mantis_changes_bounds(MantisChangeBounds *b)
{
	SpinLockAcquire(&log_ctl->mutex);
	b->oldest = log_ctl->oldest;
	b->newest = log_ctl->newest;
	SpinLockRelease(&log_ctl->mutex);
	b->run = log_ctl->run;
	b->keyless_ts = pg_atomic_read_u64(&log_ctl->keyless_ts);
}

/* The log's oldest and newest seqs */
static void
log_bounds(uint64 *oldest, uint64 *newest)
{
	SpinLockAcquire(&log_ctl->mutex);
	*oldest = log_ctl->oldest;
	*newest = log_ctl->newest;
	SpinLockRelease(&log_ctl->mutex);
}

/*
 * Copy entries after after_seq through upto_seq (both held when called)
 * into *out, without the lock: one overwritten meanwhile reads with a seq
 * not its own, or is torn - the caller checks the log's oldest seq after.
 * An entry that does not read as its own is skipped.
 */
static void
copy_range(uint64 after_seq, uint64 upto_seq, MantisChangeCopy *out)
{
	int			n = (int) (upto_seq - after_seq);
	Size		key_bytes = (Size) Max(n, 1) * 32;	/* grows as keys need */
	Size		used = 0;
	Size	   *key_at = palloc(sizeof(Size) * Max(n, 1));

	out->n = 0;
	out->entries = palloc(sizeof(MantisChange) * Max(n, 1));
	out->keys = palloc(key_bytes);
	for (uint64 seq = after_seq + 1; seq <= upto_seq; seq++)
	{
		ChangeHeader h;
		uint64		pos = log_pos[seq % log_ctl->nslots];
		MantisChange *c = &out->entries[out->n];

		memcpy(&h, header_at(pos), sizeof(h));
		pg_read_barrier();
		if (h.seq != seq || h.key_len > (uint32) mantis_max_key_size ||
			pos % log_ctl->size + ENTRY_SIZE(h.key_len) > log_ctl->size)
			continue;			/* overwritten: the caller's check says so */
		if (used + h.key_len > key_bytes)
		{
			key_bytes = Max(key_bytes * 2, used + h.key_len);
			out->keys = repalloc_huge(out->keys, key_bytes);
		}
		memcpy(out->keys + used, (char *) header_at(pos) + sizeof(ChangeHeader), h.key_len);
		c->seq = h.seq;
		c->change_ts = h.change_ts;
		c->hlc = h.hlc;
		c->kind = h.kind;
		c->key_len = h.key_len;
		key_at[out->n] = used;
		used += h.key_len;
		out->n++;
	}
	pg_read_barrier();
	/* the keys stay where the buffer ended */
	for (int i = 0; i < out->n; i++)
		out->entries[i].key = out->keys + key_at[i];
	pfree(key_at);
}

/*
 * Copy the entries after after_seq through upto_seq into *out (palloc'd).
 * False if the log no longer holds them all (then *out holds nothing):
 * the oldest was evicted before, or while, they were copied.
 */
bool
mantis_changes_copy(uint64 after_seq, uint64 upto_seq, MantisChangeCopy *out)
{
	uint64		oldest;
	uint64		newest;

	out->n = 0;
	out->entries = NULL;
	out->keys = NULL;
	log_bounds(&oldest, &newest);
	upto_seq = Min(upto_seq, newest);
	if (after_seq + 1 < oldest)
		return false;
	if (upto_seq <= after_seq)
		return true;
	copy_range(after_seq, upto_seq, out);
	log_bounds(&oldest, &newest);
	if (oldest > after_seq + 1 || out->n != (int) (upto_seq - after_seq))
	{
		out->n = 0;
		return false;
	}
	return true;
}

/*
 * Copy every entry the log holds into *out: as many as are still held
 * once copied (those evicted meanwhile are dropped, their deaths raised
 * the keyless bound, which the caller reads after this).
 */
void
mantis_changes_copy_held(MantisChangeCopy *out)
{
	uint64		oldest;
	uint64		newest;
	int			kept = 0;

	log_bounds(&oldest, &newest);
	copy_range(oldest - 1, newest, out);
	log_bounds(&oldest, &newest);
	for (int i = 0; i < out->n; i++)
	{
		if (out->entries[i].seq >= oldest)
			out->entries[kept++] = out->entries[i];
	}
	out->n = kept;
}

/* ---- what we hold of our peers' writes ---- */

/*
 * The replication worker: what it holds of each peer's writes (the
 * "in_held" of replication/horizon.c: every write of that peer through
 * held_ts, no hole below it).  The least of them is what a cursor may
 * say this server holds of all its peers; one not identified yet holds
 * nothing.  With no peer, every write is ours.
 */
void
mantis_changes_publish_peers_held(const MantisPeerHeld *peers, int n)
{
	uint64		least = PG_UINT64_MAX;
	bool		known = true;
	bool		agree = true;

	Assert(n <= MANTIS_MAX_PEERS);
	for (int i = 0; i < n; i++)
	{
		least = Min(least, peers[i].node == 0 ? 0 : peers[i].held_ts);
		known &= peers[i].node != 0;
		agree = agree && peers[i].node != 0 && peers[i].same_members;
	}
	SpinLockAcquire(&log_ctl->peers_mutex);
	memcpy(log_ctl->peers, peers, sizeof(MantisPeerHeld) * n);
	log_ctl->npeers = n;
	log_ctl->peers_known = known;
	SpinLockRelease(&log_ctl->peers_mutex);
	pg_atomic_write_u64(&log_ctl->peers_held, least);
	pg_atomic_write_u32(&log_ctl->members_agree, agree ? 1 : 0);

	/* a mantis_wait_for() that counted itself after this reads the above */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&log_ctl->held_waiters) > 0)
		ConditionVariableBroadcast(&log_ctl->held_cv);
}

/*
 * Whether every peer reported our member set when last published: else
 * (a hub, a leaf of one, a peer listed on one side only) registers of
 * servers we do not count may reach us under what we hold of our peers,
 * and a cursor's HLC vouches for nothing (watch/cursor.c).
 */
bool
mantis_changes_members_agree(void)
{
	return pg_atomic_read_u32(&log_ctl->members_agree) != 0;
}

/* What we hold of one peer's writes; false if it is not among our peers */
bool
mantis_changes_peer_held(uint64 node, uint64 *held_ts)
{
	return mantis_changes_peer_held_of(node, held_ts) == MANTIS_HELD_PEER;
}

/*
 * The same, telling apart a node that is not among our peers (yet) while
 * a peer has not said its name, or before the worker first published.
 */
MantisHeldOf
mantis_changes_peer_held_of(uint64 node, uint64 *held_ts)
{
	MantisHeldOf answer;

	SpinLockAcquire(&log_ctl->peers_mutex);
	answer = log_ctl->peers_known ? MANTIS_HELD_NOT_PEER : MANTIS_HELD_UNKNOWN;
	for (int i = 0; i < log_ctl->npeers; i++)
	{
		if (log_ctl->peers[i].node == node)
		{
			*held_ts = log_ctl->peers[i].held_ts;
			answer = MANTIS_HELD_PEER;
			break;
		}
	}
	SpinLockRelease(&log_ctl->peers_mutex);
	return answer;
}

/*
 * mantis_wait_for()'s sleep (api/tokens.c).  Begin counts the session as
 * a waiter and readies it for held_cv; each sleep returns once the worker
 * published what it holds again, or timeout_ms passed (true then), or on
 * a latch set for an interrupt (CHECK_FOR_INTERRUPTS() runs inside);
 * end, in a PG_FINALLY, undoes begin.  The caller looks again between.
 */
void
mantis_changes_held_wait_begin(void)
{
	ConditionVariablePrepareToSleep(&log_ctl->held_cv);
	pg_atomic_fetch_add_u32(&log_ctl->held_waiters, 1);	/* a full barrier */
}

bool
mantis_changes_held_sleep(long timeout_ms)
{
	return ConditionVariableTimedSleep(&log_ctl->held_cv, timeout_ms,
									   mantis_wait_event(MANTIS_WAIT_TOKEN));
}

void
mantis_changes_held_wait_end(void)
{
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&log_ctl->held_waiters, 1);
}

/*
 * Whether a peer reports the member set we count (R1, R2 of
 * common/rules.h).  Only then does its cursor's HLC speak for every
 * writer whose registers we hold: a leaf of a hub counts the hub alone,
 * and the hub's registers of the other leaves may lie under it.
 */
bool
mantis_changes_peer_same_members(uint64 node)
{
	bool		same = false;

	SpinLockAcquire(&log_ctl->peers_mutex);
	for (int i = 0; i < log_ctl->npeers; i++)
	{
		if (log_ctl->peers[i].node == node)
		{
			same = log_ctl->peers[i].same_members;
			break;
		}
	}
	SpinLockRelease(&log_ctl->peers_mutex);
	return same;
}

uint64
mantis_changes_peers_held(void)
{
	return pg_atomic_read_u64(&log_ctl->peers_held);
}

/* ---- waiters ---- */

/*
 * Publish this session's wait in the slot of its PGPROC: the watch worker
 * sets its latch once an entry after after_seq names a key under the
 * prefix (its first MANTIS_WAIT_PREFIX_MAX bytes: a longer one wakes it
 * for a few keys it then finds it does not want).  Returns the slot.
 */
int
mantis_changes_waiter_add(const char *prefix, uint32 prefix_len, uint64 after_seq)
{
	int			slot = mantis_my_proc_number();
	WaiterSlot *w;

	if (slot < 0 || slot >= (int) log_ctl->nwaiters)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mantis_wait() cannot wait in this process")));
	w = &log_waiters[slot];
	SpinLockAcquire(&w->mutex);
	w->prefix_len = Min(prefix_len, MANTIS_WAIT_PREFIX_MAX);
	memcpy(w->prefix, prefix, w->prefix_len);
	w->after_seq = after_seq;
	SpinLockRelease(&w->mutex);
	/* before the caller looks at the log once more: a writer sees one or the other */
	if (w->prefix_len < HEAD_BYTES)
		pg_atomic_fetch_add_u32(&log_ctl->short_waits, 1);
	else
		pg_atomic_fetch_add_u32(&log_ctl->heads[head_slot(w->prefix)], 1);
	pg_atomic_write_u32(&w->used, 1);
	pg_atomic_fetch_add_u64(&log_ctl->waits_gen, 1);
	pg_atomic_fetch_add_u32(&log_ctl->wake, 1);
	return slot;
}

/* Take the wait back */
void
mantis_changes_waiter_remove(int slot)
{
	WaiterSlot *w = &log_waiters[slot];

	if (pg_atomic_read_u32(&w->used) == 0)
		return;
	pg_atomic_write_u32(&w->used, 0);
	if (w->prefix_len < HEAD_BYTES)
		pg_atomic_fetch_sub_u32(&log_ctl->short_waits, 1);
	else
		pg_atomic_fetch_sub_u32(&log_ctl->heads[head_slot(w->prefix)], 1);
	pg_atomic_fetch_add_u64(&log_ctl->waits_gen, 1);
	pg_atomic_fetch_sub_u32(&log_ctl->wake, 1);
}

uint64
mantis_changes_waiters(void)
{
	return pg_atomic_read_u32(&log_ctl->wake) & WAKE_WAITERS;
}

/* A wait, as the watch worker keeps it between passes */
typedef struct WaiterRef
{
	uint32		slot;
	uint32		prefix_len;
	uint64		after;
	char		prefix[MANTIS_WAIT_PREFIX_MAX];
} WaiterRef;

static int
waiter_ref_cmp(const void *a, const void *b)
{
	const WaiterRef *x = a;
	const WaiterRef *y = b;
	int			c = memcmp(x->prefix, y->prefix, Min(x->prefix_len, y->prefix_len));

	if (c != 0)
		return c;
	return (int) x->prefix_len - (int) y->prefix_len;
}

/*
 * The watch worker's copy of the waits, sorted by prefix so that the
 * waits of one prefix lie together: made again only when a wait was added
 * or taken back since (waits_gen), so that a pass costs the entries times
 * the distinct prefixes, not the waiters (500 idle ones cost a pass each
 * as much as one).  In the worker's own memory.
 */
static WaiterRef *waits = NULL;
static int	nwaits = 0;
static uint64 waits_seen_gen = PG_UINT64_MAX;

static void
waits_refresh(void)
{
	uint64		gen = pg_atomic_read_u64(&log_ctl->waits_gen);

	if (gen == waits_seen_gen)
		return;
	if (waits == NULL)
		waits = MemoryContextAlloc(TopMemoryContext, sizeof(WaiterRef) * log_ctl->nwaiters);
	/* a wait that comes while this copies is seen, or makes the next pass copy again */
	waits_seen_gen = gen;
	nwaits = 0;
	for (uint32 slot = 0; slot < log_ctl->nwaiters; slot++)
	{
		WaiterSlot *w = &log_waiters[slot];
		WaiterRef  *r = &waits[nwaits];

		if (pg_atomic_read_u32(&w->used) == 0)
			continue;
		SpinLockAcquire(&w->mutex);
		r->slot = slot;
		r->prefix_len = w->prefix_len;
		r->after = w->after_seq;
		memcpy(r->prefix, w->prefix, w->prefix_len);
		SpinLockRelease(&w->mutex);
		nwaits++;
	}
	qsort(waits, nwaits, sizeof(WaiterRef), waiter_ref_cmp);
}

/* The last entry under the prefix, after "after"; 0 if none */
static uint64
last_match(const MantisChangeCopy *changes, const char *prefix, uint32 prefix_len,
		   uint64 after)
{
	for (int i = changes->n - 1; i >= 0; i--)
	{
		const MantisChange *c = &changes->entries[i];

		if (c->seq <= after)
			break;
		if (c->key_len >= prefix_len && memcmp(c->key, prefix, prefix_len) == 0)
			return c->seq;
	}
	return 0;
}

/*
 * The watch worker: set the latch of every waiter that one of these
 * entries concerns.  A waiter woken looks again for itself; one woken for
 * an entry it had seen (its wait began after it) finds nothing, and waits
 * again.
 */
void
mantis_changes_wake_waiters(const MantisChangeCopy *changes)
{
	if (mantis_changes_waiters() == 0)
		return;
	waits_refresh();
	for (int i = 0; i < nwaits;)
	{
		int			end = i + 1;
		uint64		least = waits[i].after;
		uint64		last;

		for (; end < nwaits && waiter_ref_cmp(&waits[i], &waits[end]) == 0; end++)
			least = Min(least, waits[end].after);
		last = last_match(changes, waits[i].prefix, waits[i].prefix_len, least);
		for (; i < end; i++)
		{
			if (last > waits[i].after)
				SetLatch(&ProcGlobal->allProcs[waits[i].slot].procLatch);
		}
	}
}

/* Set every waiter's latch: each looks at the log again itself */
void
mantis_changes_wake_all_waiters(void)
{
	for (uint32 slot = 0; slot < log_ctl->nwaiters; slot++)
	{
		if (pg_atomic_read_u32(&log_waiters[slot].used) != 0)
			SetLatch(&ProcGlobal->allProcs[slot].procLatch);
	}
}

/* ---- the watch worker's NOTIFY ---- */

/*
 * Whether a watch worker followed the log for NOTIFY, and if so through
 * which seq it notified (*seq).
 */
bool
mantis_changes_notify_following(uint64 *seq)
{
	*seq = pg_atomic_read_u64(&log_ctl->notified);
	return (pg_atomic_read_u32(&log_ctl->wake) & WAKE_NOTIFY) != 0;
}

/*
 * The watch worker follows the log for NOTIFY from seq (every write wakes
 * it), or no longer does (seq is ignored).
 */
void
mantis_changes_notify_follow(bool on, uint64 seq)
{
	if (on)
	{
		pg_atomic_write_u64(&log_ctl->notified, seq);
		pg_atomic_fetch_or_u32(&log_ctl->wake, WAKE_NOTIFY);
	}
	else
		pg_atomic_fetch_and_u32(&log_ctl->wake, ~WAKE_NOTIFY);
}

/* The watch worker notified every entry through seq */
void
mantis_changes_notified(uint64 seq)
{
	pg_atomic_write_u64(&log_ctl->notified, seq);
}
