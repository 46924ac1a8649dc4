/*-------------------------------------------------------------------------
 * mantis.c
 *	  Module entry point: the preload check, settings, shared-memory hooks,
 *	  the two background workers and their latches.
 *
 * mantis keeps its registers in shared memory, so it works only when
 * loaded through shared_preload_libraries.  Loaded any other way (for
 * example by CREATE EXTENSION on a server that does not preload it) the
 * library defines nothing, and every SQL function raises the error of
 * mantis_check_loaded(); CREATE EXTENSION itself still succeeds, so a dump
 * restores on any server.
 *
 * Workers: the persistence worker ("mantis worker", persist_worker.c)
 * always, and the replication worker ("mantis replication",
 * replication_worker.c) when mantis.listen is set.  Each publishes its
 * latch here while it runs, so that a backend can wake it: the
 * replication worker after a write, the persistence worker for
 * mantis_flush().
 *
 * Locking: the latch table's spinlock, to publish and withdraw a latch
 * (locks.h); waking reads the pointer without it.
 *
 * IDENTIFICATION	src/mantis.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "mantis.h"
#include "guc.h"
#include "security.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* The workers' latches, or NULL while a worker does not run */
typedef struct LatchTable
{
	slock_t		mutex;
	Latch	   *latches[MANTIS_WORKERS];
} LatchTable;

static LatchTable *latch_table = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void shmem_request(void);
static void shmem_startup(void);
static void register_worker(const char *function, const char *name);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	mantis_define_gucs();
	mantis_security_check_at_start();

	register_worker("mantis_persist_worker_main", "mantis worker");
	if (mantis_replication_enabled())
		register_worker("mantis_replication_worker_main", "mantis replication");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	mantis_shmem_request();
}

static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	mantis_shmem_startup();
}

/*
 * Register one of mantis's background workers: connected to a database,
 * started once the server is consistent (also on a hot standby), and
 * restarted 5 seconds after an error.
 */
static void
register_worker(const char *function, const char *name)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "mantis", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Raise an ERROR unless mantis was preloaded; every SQL function calls this
 * first.
 */
void
mantis_check_loaded(void)
{
	if (unlikely(!mantis_shmem_ready()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mantis must be loaded via shared_preload_libraries"),
				 errhint("Add mantis to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
}

/* ---- the workers' latches ---- */

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
