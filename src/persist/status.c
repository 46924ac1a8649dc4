/*-------------------------------------------------------------------------
 * persist/status.c
 *	  The persistence worker's status and the requests made to it, in
 *	  shared memory: what mantis_status() reads, how mantis_flush() asks
 *	  for a flush and waits for it, and the worker's side of each.  (A
 *	  compaction is asked for through store/collect.c.)
 *
 * Backends and the rest of mantis call persist/worker.h; only the worker
 * (persist/worker.c) calls persist/status.h, which publishes what it does.
 *
 * Locking: a spinlock guards the status, held for a few stores or one
 * struct copy; flush_cv is broadcast when a flush request is served and
 * when the worker exits.
 *
 * IDENTIFICATION	src/persist/status.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/spin.h"

#include "mantis.h"
#include "wakeup.h"
#include "wait_events.h"
#include "persist/status.h"
#include "persist/worker.h"

/* The worker's status and mantis_flush() requests, in shared memory */
typedef struct PersistWorkerShared
{
	slock_t		mutex;			/* guards status */
	MantisPersistStatus status;
	ConditionVariable flush_cv;	/* broadcast when a flush request is served */
} PersistWorkerShared;

static PersistWorkerShared *pw = NULL;


Size
mantis_persist_worker_shmem_size(void)
{
	return sizeof(PersistWorkerShared);
}

void
mantis_persist_worker_shmem_init(void *place, bool found)
{
	pw = (PersistWorkerShared *) place;
	if (found)
		return;
	memset(pw, 0, sizeof(PersistWorkerShared));
	SpinLockInit(&pw->mutex);
	pw->status.persist = MANTIS_PERSIST_STOPPED;
	pw->status.stored_rows = -1;
	ConditionVariableInit(&pw->flush_cv);
}

/*
 * A backend found the extension in "database", other than mantis.database,
 * while the worker waits for it there: the worker warns (persist/worker.c).
 */
void
mantis_persist_extension_elsewhere(const char *database)
{
	SpinLockAcquire(&pw->mutex);
	if (pw->status.extension_elsewhere[0] == '\0')
		strlcpy(pw->status.extension_elsewhere, database, NAMEDATALEN);
	SpinLockRelease(&pw->mutex);
}

/* ---- the worker's side ---- */

/* before_shmem_exit: nobody may wake or wait for a worker that is gone */
static void
worker_unpublish(int code, Datum arg)
{
	SpinLockAcquire(&pw->mutex);
	pw->status.pid = 0;
	pw->status.persist = MANTIS_PERSIST_STOPPED;
	SpinLockRelease(&pw->mutex);
	ConditionVariableBroadcast(&pw->flush_cv);
}

/* The worker has started: its latch and pid, until it exits. */
void
status_publish(void)
{
	mantis_publish_latch(MANTIS_PERSIST_WORKER);
	SpinLockAcquire(&pw->mutex);
	pw->status.pid = MyProcPid;
	pw->status.persist = MANTIS_PERSIST_STARTING;
	SpinLockRelease(&pw->mutex);
	before_shmem_exit(worker_unpublish, (Datum) 0);
}

/* Count an attempt to connect to mantis.database; returns how many so far. */
int
status_connect_attempt(void)
{
	int			attempts;

	SpinLockAcquire(&pw->mutex);
	attempts = ++pw->status.connect_attempts;
	SpinLockRelease(&pw->mutex);
	return attempts;
}

void
status_connected(void)
{
	SpinLockAcquire(&pw->mutex);
	pw->status.connect_attempts = 0;
	SpinLockRelease(&pw->mutex);
}

void
status_set_state(MantisPersistState state, uint64 held_back, int64 own_rows)
{
	SpinLockAcquire(&pw->mutex);
	pw->status.persist = state;
	pw->status.stored_rows = own_rows;
	pw->status.held_back = held_back;
	SpinLockRelease(&pw->mutex);
}

/*
 * After a flush at "now", which succeeded ("ok") or failed with "message":
 * the counts of mantis_stores, and the flush's outcome.
 */
void
status_note_flush(bool ok, const MantisFlushResult *result, TimestampTz now,
				  const char *message, uint64 held_back, int64 own_rows)
{
	SpinLockAcquire(&pw->mutex);
	pw->status.stored_rows = own_rows;
	pw->status.held_back = held_back;
	if (ok && result->rows > 0)
	{
		pw->status.last_flush_at = now;
		pw->status.last_flush_registers = result->registers;
	}
	else if (!ok)
	{
		pw->status.flush_failures++;
		strlcpy(pw->status.last_flush_error, message,
				sizeof(pw->status.last_flush_error));
	}
	SpinLockRelease(&pw->mutex);
}

/* The count of mantis_flush() calls so far. */
uint64
status_flush_requested(void)
{
	uint64		requested;

	SpinLockAcquire(&pw->mutex);
	requested = pw->status.flush_requested;
	SpinLockRelease(&pw->mutex);
	return requested;
}

/*
 * Answer the mantis_flush() calls up to "requested": how the flush that
 * served them went ("ok", "written" registers, or "message"), and wake them.
 */
void
status_serve_flush(uint64 requested, bool ok, uint64 written, const char *message)
{
	SpinLockAcquire(&pw->mutex);
	pw->status.flush_served = requested;
	pw->status.flush_ok = ok;
	pw->status.flush_result = written;
	if (!ok)
		strlcpy(pw->status.last_flush_error, message,
				sizeof(pw->status.last_flush_error));
	SpinLockRelease(&pw->mutex);
	ConditionVariableBroadcast(&pw->flush_cv);
}

/* ---- what other processes call ---- */

/* A copy of the worker's status, for mantis_status() */
void
mantis_persist_worker_status(MantisPersistStatus *out)
{
	SpinLockAcquire(&pw->mutex);
	*out = pw->status;
	SpinLockRelease(&pw->mutex);
}

/*
 * Ask the worker to flush now and wait until it has; returns the number of
 * registers written.  Called by mantis_flush() in a backend.
 */
uint64
mantis_request_flush(void)
{
	MantisPersistStatus *w = &pw->status;
	uint64		mine;
	uint64		result = 0;
	bool		ok = false;
	bool		running;
	char		message[MANTIS_ERROR_TEXT_SIZE] = "";

	SpinLockAcquire(&pw->mutex);
	running = w->pid != 0;
	mine = ++w->flush_requested;
	SpinLockRelease(&pw->mutex);
	if (!running)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mantis worker is not running"),
				 errhint("Check the server log; the postmaster restarts the worker a few seconds after it stops.")));
	mantis_wake_worker(MANTIS_PERSIST_WORKER);

	ConditionVariablePrepareToSleep(&pw->flush_cv);
	for (;;)
	{
		bool		served;

		SpinLockAcquire(&pw->mutex);
		served = w->flush_served >= mine;
		running = w->pid != 0;
		ok = w->flush_ok;
		result = w->flush_result;
		strlcpy(message, w->last_flush_error, sizeof(message));
		SpinLockRelease(&pw->mutex);

		if (served)
			break;
		if (!running)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("mantis worker stopped before flushing")));
		}
		ConditionVariableTimedSleep(&pw->flush_cv, 1000, mantis_wait_event(MANTIS_WAIT_FLUSH));
	}
	ConditionVariableCancelSleep();

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mantis could not flush to mantis_stores"),
				 errdetail("%s", message)));
	return result;
}
