/*-------------------------------------------------------------------------
 * api/txn.c
 *	  Transactional writes: mantis_set and mantis_delete buffered in the
 *	  backend and applied at COMMIT.
 *
 * With mantis.transactional on (the default), a write is validated at once
 * (sizes, encoding, standby, read-only transaction) and kept in this backend's
 * memory, with its expiry (an absolute time, computed when the write was made:
 * a TTL counts from mantis_set(), not from COMMIT); the session's own reads
 * see it, and stop seeing a value once its expiry has passed, as they would in
 * the store.  At PRE_COMMIT room is reserved in the store for every buffered
 * write (the last one per key); a failure there (the store is full) raises an
 * ERROR, which aborts the transaction.  At COMMIT, after the commit record,
 * the writes are applied under one HLC and all or none: other sessions see
 * none of them, then all.  A transaction that fails after PRE_COMMIT gives its
 * reservation back at ABORT, and shows nothing.  ROLLBACK discards the buffer;
 * ROLLBACK TO SAVEPOINT discards the writes made since the savepoint.
 *
 * The buffer is an array of writes in the order made, each tagged with the
 * subtransaction nesting level that made it, so a subtransaction's writes
 * are always a suffix: an aborted one truncates the array, a committed one
 * hands its writes to its parent.  Each write links to the previous write
 * of its key, and a hash table (built once there are more than a few
 * writes) maps a key to its latest write, so lookups cost O(1).  A key
 * written again at the same level overwrites its write in place, so memory
 * follows the keys written, not the number of writes; it is bounded by
 * mantis.max_keys and mantis.store_memory, which the transaction could not
 * exceed at COMMIT anyway.
 *
 * Everything lives in a memory context under TopTransactionContext, so
 * nothing outlives the transaction, whatever way it ends.
 *
 * The session's token (mantis_last_commit(), api/tokens.c): the HLC of its
 * last COMMIT that applied writes, or of its last write applied at once
 * (mantis_txn_note_applied()), in a static that outlives transactions.  A
 * rollback leaves it as it was.
 *
 * IDENTIFICATION	src/api/txn.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/keyhash.h"
#include "store/store.h"
#include "api/txn.h"

/* One buffered write */
typedef struct PendingWrite
{
	char	   *key;
	uint32		key_len;
	char	   *value;			/* NULL for a deletion */
	uint32		value_len;
	uint64		expires_ms;		/* 0: never (always 0 for a deletion) */
	int			level;			/* subtransaction nesting level that wrote it */
	int			prev;			/* previous write of this key, or -1 */
	bool		superseded;		/* a later write of this key exists */
} PendingWrite;

/* A key of the index: points at the key bytes of a write */
typedef struct PendingKey
{
	const char *data;
	uint32		len;
} PendingKey;

typedef struct PendingIndexEntry
{
	PendingKey	key;			/* must be first */
	int			latest;			/* index of the key's latest write */
} PendingIndexEntry;

/* Below this many writes a backwards scan is cheaper than a hash table. */
#define INDEX_THRESHOLD 16

static MemoryContext pending_cxt = NULL;
static PendingWrite *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static int	live_keys = 0;		/* writes not superseded: distinct keys */
static Size pending_bytes = 0;	/* key and value bytes held */
static HTAB *pending_index = NULL;
static MantisBatch *prepared_batch = NULL;	/* reserved at PRE_COMMIT */
static bool callbacks_registered = false;

/* the session's last write applied, by COMMIT or at once: its token */
static MantisHLC last_applied;
static bool last_applied_valid = false;

static uint32
pending_key_hash(const void *key, Size keysize)
{
	const PendingKey *k = (const PendingKey *) key;

	return (uint32) mantis_hash(k->data, k->len);
}

static int
pending_key_match(const void *a, const void *b, Size keysize)
{
	const PendingKey *x = (const PendingKey *) a;
	const PendingKey *y = (const PendingKey *) b;

	return x->len == y->len && memcmp(x->data, y->data, x->len) == 0 ? 0 : 1;
}

/* Forget the buffer; its memory goes with TopTransactionContext. */
static void
pending_forget(void)
{
	pending_cxt = NULL;
	pending = NULL;
	npending = 0;
	maxpending = 0;
	live_keys = 0;
	pending_bytes = 0;
	pending_index = NULL;
	prepared_batch = NULL;
}

static void
index_build(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingIndexEntry);
	ctl.hash = pending_key_hash;
	ctl.match = pending_key_match;
	ctl.hcxt = pending_cxt;
	pending_index = hash_create("mantis pending writes", 256, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (int i = 0; i < npending; i++)
	{
		PendingKey	k = {pending[i].key, pending[i].key_len};
		PendingIndexEntry *e = hash_search(pending_index, &k, HASH_ENTER, NULL);

		e->latest = i;
	}
}

/* The index of a key's latest write, or -1. */
static int
pending_find(const char *key, uint32 key_len)
{
	if (pending_index != NULL)
	{
		PendingKey	k = {key, key_len};
		PendingIndexEntry *e = hash_search(pending_index, &k, HASH_FIND, NULL);

		return e ? e->latest : -1;
	}
	for (int i = npending - 1; i >= 0; i--)
	{
		if (pending[i].key_len == key_len &&
			memcmp(pending[i].key, key, key_len) == 0)
			return i;
	}
	return -1;
}

static void
index_point(const char *key, uint32 key_len, int latest)
{
	PendingKey	k = {key, key_len};

	if (pending_index == NULL)
		return;
	if (latest < 0)
		hash_search(pending_index, &k, HASH_REMOVE, NULL);
	else
		((PendingIndexEntry *) hash_search(pending_index, &k, HASH_ENTER, NULL))->latest = latest;
}

/*
 * Refuse a transaction that buffers more than the store could take at
 * COMMIT: the memory of the buffer is bounded by the store's own limits.
 */
static void
check_room(Size more_bytes, int more_keys)
{
	if (live_keys + more_keys > mantis_max_keys)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("too many mantis writes in one transaction"),
				 errdetail("The transaction writes more than the %d keys \"mantis.max_keys\" allows.",
						   mantis_max_keys),
				 errhint("Commit in smaller transactions, or raise \"mantis.max_keys\".")));
	if (pending_bytes + more_bytes > (Size) mantis_store_memory_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("too many mantis writes in one transaction"),
				 errdetail("The transaction writes more bytes than \"mantis.store_memory\" holds."),
				 errhint("Commit in smaller transactions, or raise \"mantis.store_memory\".")));
}

static char *
copy_bytes(const char *data, uint32 len)
{
	char	   *copy = MemoryContextAlloc(pending_cxt, Max(len, 1));

	memcpy(copy, data, len);
	return copy;
}

/*
 * Reserve room in the store for the buffer, the latest write of each key,
 * at PRE_COMMIT: an ERROR here (the store is full) aborts the transaction.
 */
static void
pending_prepare(void)
{
	MemoryContext old = MemoryContextSwitchTo(pending_cxt);
	MantisBatchWrite *writes = palloc(sizeof(MantisBatchWrite) * npending);
	int			n = 0;
	MantisPutResult result;

	for (int i = 0; i < npending; i++)
	{
		PendingWrite *w = &pending[i];

		if (w->superseded)
			continue;
		writes[n].key = w->key;
		writes[n].key_len = w->key_len;
		writes[n].value = w->value;
		writes[n].value_len = w->value_len;
		writes[n].deleted = w->value == NULL;
		writes[n].expires_ms = w->expires_ms;
		n++;
	}
	prepared_batch = mantis_store_batch_prepare(writes, n, &result);
	MemoryContextSwitchTo(old);
	if (prepared_batch == NULL)
		mantis_store_raise_put_failure(result);
}

/*
 * The postmaster died after PRE_COMMIT: the writes are applied, but nothing
 * will replicate or persist them, and the transaction has committed, so an
 * ERROR is too late.  Do what SyncRepWaitForLSN() does when the postmaster
 * dies under a synchronous commit: warn, send the client nothing more (no
 * COMMIT), and end the backend at its next CHECK_FOR_INTERRUPTS().  The
 * client sees the connection lost: an unknown outcome, not a success.
 */
static void
dying_after_commit(void)
{
	ereport(WARNING,
			(errcode(ERRCODE_ADMIN_SHUTDOWN),
			 errmsg("the postmaster died: this transaction's mantis writes may be lost"),
			 errdetail("The postmaster died while the transaction committed; the processes that replicate and persist mantis writes are gone.")));
	whereToSendOutput = DestNone;
	ProcDiePending = true;
	InterruptPending = true;
}

/*
 * The xact callback.  The writes are made visible at COMMIT, once the
 * commit record is written, not at PRE_COMMIT: the transaction can still
 * fail between the two (a serialization failure, another callback), and
 * then none of its writes may show.  At COMMIT nothing may fail, so
 * everything that can was done at PRE_COMMIT.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (npending > 0)
			{
				pending_prepare();
				mantis_txn_require_postmaster(false);
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (npending > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has written to mantis"),
						 errhint("Set \"mantis.transactional\" to off for writes that must not wait for COMMIT.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (prepared_batch != NULL)
			{
				MantisHLC	hlc;

				mantis_store_batch_apply(prepared_batch, &hlc);
				mantis_txn_note_applied(&hlc);
				if (unlikely(!PostmasterIsAlive()))
					dying_after_commit();
			}
			pending_forget();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (prepared_batch != NULL)
				mantis_store_batch_cancel(prepared_batch);
			pending_forget();
			break;
		case XACT_EVENT_PREPARE:
			pending_forget();
			break;
	}
}

/*
 * A subtransaction ends.  Its writes, and those of its own children that
 * committed into it, are the suffix of the buffer at its level or deeper.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (npending == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (npending > 0 && pending[npending - 1].level >= level)
		{
			PendingWrite *w = &pending[--npending];

			pending_bytes -= w->key_len + w->value_len;
			if (w->prev >= 0)
				pending[w->prev].superseded = false;
			else
				live_keys--;
			index_point(w->key, w->key_len, w->prev);
			/* the index entry of a key points at its first write's bytes */
			pfree(w->key);
			if (w->value)
				pfree(w->value);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		int			start = npending;
		int			keep;

		/*
		 * The suffix holds at most one write per key (a key written again at
		 * one level is overwritten in place, and a committed child's writes
		 * were merged here as below).  A write whose key the parent has
		 * written too replaces the parent's write in place; the others move
		 * down and now belong to the parent.  So the buffer holds at most one
		 * write per key and level, however many subtransactions commit (a
		 * PL/pgSQL loop with an exception block makes one per iteration).
		 */
		while (start > 0 && pending[start - 1].level >= level)
			start--;
		keep = start;
		for (int i = start; i < npending; i++)
		{
			PendingWrite *w = &pending[i];

			if (w->prev >= 0 && pending[w->prev].level == level - 1)
			{
				PendingWrite *p = &pending[w->prev];

				Assert(p->superseded && !w->superseded);
				pending_bytes -= p->value_len + w->key_len;
				if (p->value)
					pfree(p->value);
				p->value = w->value;
				p->value_len = w->value_len;
				p->expires_ms = w->expires_ms;
				p->superseded = false;
				index_point(p->key, p->key_len, w->prev);
				pfree(w->key);
				continue;
			}
			w->level = level - 1;
			if (keep != i)
			{
				pending[keep] = *w;
				index_point(pending[keep].key, pending[keep].key_len, keep);
			}
			keep++;
		}
		npending = keep;
	}
}

/*
 * Refuse to acknowledge a write once the postmaster is gone (see the
 * header): called after a write applied at once (applied), and at
 * PRE_COMMIT, where the ERROR rolls the transaction back.  With the death
 * signal (Linux, FreeBSD) PostmasterIsAlive() reads a flag its handler
 * sets; the pipe is read only once the flag is up.  57P01
 * (ERRCODE_ADMIN_SHUTDOWN) is what PostgreSQL itself raises on the
 * postmaster's death ("terminating connection due to unexpected postmaster
 * exit").
 */
void
mantis_txn_require_postmaster(bool applied)
{
	if (likely(PostmasterIsAlive()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_ADMIN_SHUTDOWN),
			 errmsg("the postmaster died: this write may be lost"),
			 applied ?
			 errdetail("The write is in this server's shared memory, but the processes that replicate and persist it are gone with the postmaster: it outlives this server's processes only if a peer received it.") :
			 errdetail("The processes that replicate and persist mantis writes are gone with the postmaster; the transaction is rolled back."),
			 errhint("Write again once the server has been restarted.")));
}

/*
 * Whether a write now is buffered: with mantis.transactional on, or once
 * this transaction has buffered anything (turning the setting off inside
 * a transaction must not let a later write overtake an earlier one).
 */
bool
mantis_txn_buffers_writes(void)
{
	return mantis_transactional || npending > 0;
}

/*
 * Buffer a write (value NULL: a deletion) for COMMIT; a value expires at
 * expires_ms (0: never).  Sizes were checked by the caller.
 */
void
mantis_txn_write(const char *key, uint32 key_len, const char *value, uint32 value_len,
				 uint64 expires_ms)
{
	int			level = GetCurrentTransactionNestLevel();
	int			prev;
	PendingWrite *w;

	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		RegisterSubXactCallback(subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopTransactionContext,
											"mantis pending writes",
											ALLOCSET_DEFAULT_SIZES);

	prev = pending_find(key, key_len);
	if (prev >= 0 && pending[prev].level == level)
	{
		/* written again at the same level: overwrite in place */
		char	   *copy;

		w = &pending[prev];
		check_room(value_len, 0);
		copy = value ? copy_bytes(value, value_len) : NULL;
		if (w->value)
			pfree(w->value);
		pending_bytes -= w->value_len;
		w->value = copy;
		w->value_len = value ? value_len : 0;
		w->expires_ms = value ? expires_ms : 0;
		pending_bytes += w->value_len;
		return;
	}

	check_room(key_len + value_len, prev >= 0 ? 0 : 1);
	if (npending == maxpending)
	{
		maxpending = Max(16, maxpending * 2);
		pending = pending == NULL ?
			MemoryContextAlloc(pending_cxt, sizeof(PendingWrite) * maxpending) :
			repalloc(pending, sizeof(PendingWrite) * maxpending);
	}
	w = &pending[npending];
	w->key = copy_bytes(key, key_len);
	w->key_len = key_len;
	w->value = value ? copy_bytes(value, value_len) : NULL;
	w->value_len = value ? value_len : 0;
	w->expires_ms = value ? expires_ms : 0;
	w->level = level;
	w->prev = prev;
	w->superseded = false;
	if (prev >= 0)
		pending[prev].superseded = true;
	else
		live_keys++;
	pending_bytes += key_len + w->value_len;
	npending++;

	if (pending_index != NULL)
		index_point(w->key, key_len, npending - 1);
	else if (npending > INDEX_THRESHOLD)
		index_build();
}

/*
 * This transaction's own pending write of a key, if any: returns
 * MANTIS_TXN_NONE, MANTIS_TXN_DELETED (a deletion, or a value whose expiry
 * has passed: it will commit dead), or MANTIS_TXN_VALUE with the value and
 * its expiry (0: never; expires_ms may be NULL).
 */
MantisTxnLookup
mantis_txn_lookup(const char *key, uint32 key_len, const char **value,
				  uint32 *value_len, uint64 *expires_ms)
{
	int			i;

	if (likely(npending == 0))
		return MANTIS_TXN_NONE;
	i = pending_find(key, key_len);
	if (i < 0)
		return MANTIS_TXN_NONE;
	if (pending[i].value == NULL)
		return MANTIS_TXN_DELETED;
	if (pending[i].expires_ms != 0 && pending[i].expires_ms <= mantis_clock_wall_ms())
		return MANTIS_TXN_DELETED;
	*value = pending[i].value;
	*value_len = pending[i].value_len;
	if (expires_ms)
		*expires_ms = pending[i].expires_ms;
	return MANTIS_TXN_VALUE;
}

/*
 * Call "callback" for the latest pending write of every key (deletions
 * with value NULL), with its expiry, in the order first written.
 */
void
mantis_txn_foreach(MantisTxnWriteFn callback, void *arg)
{
	for (int i = 0; i < npending; i++)
	{
		if (!pending[i].superseded)
			callback(pending[i].key, pending[i].key_len,
					 pending[i].value, pending[i].value_len,
					 pending[i].expires_ms, arg);
	}
}

/*
 * Whether this transaction holds writes that wait for its COMMIT
 * (mantis_flush() says it leaves them out).
 */
bool
mantis_txn_has_pending(void)
{
	return npending > 0;
}

/* A write of this session was applied with this HLC (at COMMIT or at once) */
void
mantis_txn_note_applied(const MantisHLC *hlc)
{
	last_applied = *hlc;
	last_applied_valid = true;
}

/* The session's token: false if it has applied no write yet */
bool
mantis_txn_last_applied(MantisHLC *hlc)
{
	if (!last_applied_valid)
		return false;
	*hlc = last_applied;
	return true;
}
