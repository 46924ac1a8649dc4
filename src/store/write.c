/*-------------------------------------------------------------------------
 * store/batch.c
 *	  A committed transaction's writes (api/txn.c), prepared at PRE_COMMIT and
 *	  applied at COMMIT all at once, and the sets of partitions that such a
 *	  batch, or a multi-key read, locks together.
 *
 * A batch reserves everything its writes need before the transaction
 * commits and applies them afterwards with plain stores, under the locks of
 * all its partitions taken exclusively in ascending order; a reader of
 * one key, or of many through mantis_store_get_many() (store/read.c),
 * sees all of a batch or none of it.  Each write goes through the plan of
 * one write of store/store.c (put_prepare(), put_apply(), put_finish()).
 *
 * IDENTIFICATION	src/store/batch.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"
#include "utils/dsa.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/keyhash.h"
#include "store/store.h"
#include "store/internal.h"

/*
 * Take the locks of every partition in the set, in ascending order, so
 * that two batches, or a batch and a multi-key read, cannot deadlock.
 */
void
partitions_lock(const PartitionSet *set, LWLockMode mode)
{
	Assert(!partition_lock_held_any());
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
		if (set->words[p / 64] & (UINT64CONST(1) << (p % 64)))
			LWLockAcquire(&store_mem.control->locks[p].lock, mode);
}

/* Release what partitions_lock() took. */
void
partitions_unlock(const PartitionSet *set)
{
	for (int p = MANTIS_PARTITIONS - 1; p >= 0; p--)
		if (set->words[p / 64] & (UINT64CONST(1) << (p % 64)))
			LWLockRelease(&store_mem.control->locks[p].lock);
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
			writes[i].value_len, writes[i].deleted, NULL, flags,
		writes[i].deleted ? 0 : writes[i].expires_ms, 0};

		b->puts[i] = put;
		b->plans[i].hash = mantis_hash(put.key, put.key_len);
		b->plans[i].spare = dsa_allocate_extended(store_mem.area,
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
			dsa_free(store_mem.area, b->plans[i].spare);
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
	Assert(LWLockHeldByMeInMode(partition_lock(plan->hash), LW_EXCLUSIVE));
	if (DsaPointerIsValid(plan->new_dp))
	{
		/* a new chunk is ready; only the key count may have to move */
		if (!plan->existed && reg != NULL)
			pg_atomic_fetch_sub_u64(&store_mem.control->registers, 1);
		else if (plan->existed && reg == NULL)
			pg_atomic_fetch_add_u64(&store_mem.control->registers, 1);
		plan->existed = reg != NULL;
		return true;
	}
	if (reg != NULL && fits_in_place(reg, put_need(put)))
		return true;

	/* the register it would overwrite in place was replaced meanwhile */
	if (!plan_take_chunk(plan, put_need(put)))
		return false;
	if (reg == NULL)
		pg_atomic_fetch_add_u64(&store_mem.control->registers, 1);
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
	hlc = mantis_clock_now();
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
