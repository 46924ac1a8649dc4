/*-------------------------------------------------------------------------
 * store/merge.c
 *	  Registers from peers and from mantis_stores: whether one may enter
 *	  the store, and its merge by the last-writer-wins rule, with the
 *	  refusal of stale copies of keys whose death was collected here.
 *
 * A merged register goes through store_put() (store/store.c) with its own HLC:
 * the one held for its key may win (MANTIS_PUT_STALE), and the clock moves
 * past the one that is stored.  Locking is store_put()'s.
 *
 * IDENTIFICATION	src/store/merge.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "mantis.h"
#include "guc.h"
#include "store/store.h"
#include "store/internal.h"

/* count one merge's outcome */
static void
tally_outcome(MantisMergeTally *tally, MantisPutResult result)
{
	switch (result)
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
		case MANTIS_PUT_COLLECTED:
			tally->collected++;
			break;
	}
}

/*
 * Merge a register from a peer or from mantis_stores, the one way in for
 * both; "flags" says what the worker still owes it (UNFLUSHED for a peer's
 * register, nothing for one loaded from the table).  Sizes must have been
 * checked by the caller (mantis_store_admits).  When no register is held
 * for its key and its hlc.ts is at most refuse_upto_ts (0: none), it is
 * refused as MANTIS_PUT_COLLECTED: a stale copy of a key whose deletion or
 * expiry this server has collected.  A register that is dead already (a
 * deletion, or expired) is stored like any other, to protect its key
 * against older copies.  The outcome is counted in *tally unless it is
 * NULL.
 */
MantisPutResult
mantis_store_merge(const MantisRecord *rec, int flags, uint64 refuse_upto_ts,
				   MantisMergeTally *tally)
{
	StorePut	put = {rec->key, rec->key_len, rec->value, rec->value_len,
		rec->deleted, &rec->hlc, flags, rec->deleted ? 0 : rec->expires_ms,
	refuse_upto_ts};
	MantisPutResult result = store_put(&put, NULL, NULL);

	if (tally != NULL)
		tally_outcome(tally, result);
	return result;
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
