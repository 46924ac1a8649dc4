/*-------------------------------------------------------------------------
 * mantis.c
 *	  Module entry point: the preload check, settings, shared-memory hooks
 *	  and this server's identity.
 *
 * mantis keeps its registers in shared memory, so it works only when
 * loaded through shared_preload_libraries.  Loaded any other way (for
 * example by CREATE EXTENSION on a server that does not preload it) the
 * library defines nothing, and every SQL function raises the error of
 * mantis_check_loaded(); CREATE EXTENSION itself still succeeds, so a dump
 * restores on any server.
 *
 * IDENTIFICATION	src/mantis.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "mantis.h"
#include "security.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void mantis_shmem_request(void);
static void mantis_shmem_startup(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	mantis_define_gucs();
	mantis_security_check_at_start();

	mantis_worker_register();
	if (mantis_replication_enabled())
		mantis_replication_register_worker();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mantis_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mantis_shmem_startup;
}

static void
mantis_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	mantis_store_shmem_request();
	mantis_replication_shmem_request();
}

/*
 * This server's node name: mantis.node_name, or when empty one derived from
 * the system identifier, which is stable for the life of the cluster.
 */
static void
set_identity(void)
{
	if (mantis_node_name != NULL && mantis_node_name[0] != '\0')
		strlcpy(mantis_shared->node_name, mantis_node_name,
				sizeof(mantis_shared->node_name));
	else
		snprintf(mantis_shared->node_name, sizeof(mantis_shared->node_name),
				 "node-" UINT64_FORMAT, GetSystemIdentifier());
	mantis_shared->node_id = mantis_node_id_of(mantis_shared->node_name);
	mantis_nodes_remember(mantis_shared->node_id, mantis_shared->node_name);
}

static void
mantis_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	if (mantis_store_shmem_init())
	{
		/* new (or, after a crash, renewed) and empty: the worker loads it */
		set_identity();
		mantis_worker_shmem_init();
	}
	mantis_replication_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Register one of mantis's background workers: connected to a database,
 * started once the server is consistent (also on a hot standby), and
 * restarted 5 seconds after an error.
 */
void
mantis_register_worker(const char *function, const char *name)
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
	if (unlikely(mantis_shared == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mantis must be loaded via shared_preload_libraries"),
				 errhint("Add mantis to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
}
