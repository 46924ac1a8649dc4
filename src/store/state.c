/*-------------------------------------------------------------------------
 * store/state.c
 *	  Whether the registers may be read and written yet, and the encoding
 *	  of their text: set by the persistence worker, waited for by backends.
 *
 * A new store (at start, and after every crash restart) is not readable
 * until the worker has loaded mantis_stores (mantis_store_set_loaded()):
 * answering from a half-loaded store would tell a caller that a key it set
 * is absent.  It is not writable until the worker has merged every row of
 * mantis_stores since this server left recovery (at start, or at a
 * promotion: mantis_store_set_writable()), so that the clock is past
 * everything persisted.  Backends wait for either on the store's
 * condition variable, for at most mantis.load_timeout.
 *
 * IDENTIFICATION	src/store/state.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "storage/condition_variable.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "store/store.h"
#include "store/internal.h"

/*
 * Sleep until the worker sets "flag", for at most mantis.load_timeout;
 * then fail with "what" as the message.
 */
static void
wait_for_worker(pg_atomic_uint32 *flag, const char *what, const char *detail)
{
	TimestampTz start = GetCurrentTimestamp();

	Assert(!partition_lock_held_any());	/* nobody sleeps holding one */
	ConditionVariablePrepareToSleep(&store_mem.control->loaded_cv);
	while (pg_atomic_read_u32(flag) == 0)
	{
		long		waited = (long) ((GetCurrentTimestamp() - start) / 1000);

		if (waited >= mantis_load_timeout_ms)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s", what),
					 errdetail("%s", detail),
					 errhint("Retry in a moment. If this persists, check that the mantis worker is running and that database \"%s\" (\"mantis.database\") exists.",
							 mantis_database)));
		}
		ConditionVariableTimedSleep(&store_mem.control->loaded_cv,
									mantis_load_timeout_ms - waited,
									PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/*
 * Wait until the registers may be read: at once in steady state; after a
 * start or crash restart, until the worker has loaded mantis_stores, for at
 * most mantis.load_timeout.  Answering from a half-loaded store would tell
 * a caller that a key it set is absent.
 */
void
mantis_store_wait_loaded(void)
{
	if (likely(pg_atomic_read_u32(&store_mem.control->loaded) != 0))
		return;
	wait_for_worker(&store_mem.control->loaded, "mantis is loading",
					"The worker is restoring the registers from mantis_stores after a restart.");
}

/*
 * Wait until the registers may be written: after a promotion, until the
 * worker has merged every row of mantis_stores, so that the clock is past
 * everything the old primary persisted.  (api/functions.c refuses writes on a
 * standby and in read-only transactions before calling this.)
 */
void
mantis_store_wait_writable(void)
{
	mantis_store_wait_loaded();
	if (likely(pg_atomic_read_u32(&store_mem.control->writable) != 0))
		return;
	wait_for_worker(&store_mem.control->writable, "mantis is taking over after a promotion",
					"The worker is merging mantis_stores before this server accepts writes.");
}


bool
mantis_store_is_loaded(void)
{
	return pg_atomic_read_u32(&store_mem.control->loaded) != 0;
}

bool
mantis_store_is_writable(void)
{
	return pg_atomic_read_u32(&store_mem.control->writable) != 0;
}

/* The encoding of the text in the store, or -1 while not known yet */
int
mantis_store_encoding(void)
{
	return store_mem.control->encoding;
}

/* Called by the worker once connected to mantis.database */
void
mantis_store_set_encoding(int encoding)
{
	store_mem.control->encoding = encoding;
}

/*
 * Mark the registers readable and wake every backend waiting for that.
 */
void
mantis_store_set_loaded(void)
{
	pg_atomic_write_u32(&store_mem.control->loaded, 1);
	ConditionVariableBroadcast(&store_mem.control->loaded_cv);
}

/*
 * Mark the store writable: the worker has merged every row of
 * mantis_stores since this server left recovery (at start, or at a
 * promotion), so the clock is past everything persisted.
 */
void
mantis_store_set_writable(void)
{
	pg_atomic_write_u32(&store_mem.control->writable, 1);
	ConditionVariableBroadcast(&store_mem.control->loaded_cv);
}
