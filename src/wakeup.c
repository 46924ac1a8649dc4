/*-------------------------------------------------------------------------
 * wakeup.c
 *	  The workers' latches, so that a backend can wake a worker: the
 *	  replication worker after a write, the persistence worker for
 *	  mantis_flush().
 *
 * Each worker publishes its latch here while it runs, and withdraws it as
 * it exits.
 *
 * Locking: the latch table's spinlock, to publish and withdraw a latch
 * (locks.h); waking reads the pointer without it.
 *
 * IDENTIFICATION	src/wakeup.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "wakeup.h"

/* The workers' latches, or NULL while a worker does not run */
typedef struct LatchTable
{
	slock_t		mutex;
	Latch	   *latches[MANTIS_WORKERS];
} LatchTable;

static LatchTable *latch_table = NULL;

Size
mantis_latches_shmem_size(void)
{
	return sizeof(LatchTable);
}

void
mantis_latches_shmem_init(void *place, bool found)
{
	latch_table = (LatchTable *) place;
	if (found)
		return;
	SpinLockInit(&latch_table->mutex);
	for (int i = 0; i < MANTIS_WORKERS; i++)
		latch_table->latches[i] = NULL;
}

static void
withdraw_latch(int code, Datum arg)
{
	SpinLockAcquire(&latch_table->mutex);
	latch_table->latches[DatumGetInt32(arg)] = NULL;
	SpinLockRelease(&latch_table->mutex);
}

/*
 * Make this worker's latch the one mantis_wake_worker() sets, until the
 * worker exits.
 */
void
mantis_publish_latch(MantisWorker worker)
{
	SpinLockAcquire(&latch_table->mutex);
	latch_table->latches[worker] = MyLatch;
	SpinLockRelease(&latch_table->mutex);
	before_shmem_exit(withdraw_latch, Int32GetDatum((int32) worker));
}

/*
 * Wake a worker, if it runs.  The pointer is read without the lock: a
 * stale one only wakes a process for nothing, so this may be called under
 * any lock.
 */
void
mantis_wake_worker(MantisWorker worker)
{
	Latch	   *latch = ((Latch *volatile *) latch_table->latches)[worker];

	if (latch)
		SetLatch(latch);
}
