/*-------------------------------------------------------------------------
 * mantis.c
 *	  Module entry point: the preload check, settings, shared-memory hooks
 *	  and the two background workers.
 *
 * mantis keeps its registers in shared memory, so it works only when
 * loaded through shared_preload_libraries.  Loaded any other way (for
 * example by CREATE EXTENSION on a server that does not preload it) the
 * library defines nothing, and every SQL function raises the error of
 * mantis_check_loaded(); CREATE EXTENSION itself still succeeds, so a dump
 * restores on any server.
 *
 * Workers: the persistence worker ("mantis worker", persist/worker.c)
 * always, and the replication worker ("mantis replication",
 * replication/worker.c) when mantis.listen is set; none while pg_upgrade
 * runs the server (binary-upgrade mode).
 *
 * IDENTIFICATION	src/mantis.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"

#include "mantis.h"
#include "compat.h"
#include "guc.h"
#include "shmem.h"
#include "persist/worker.h"
#include "replication/security.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

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

	/*
	 * pg_upgrade starts both servers in binary-upgrade mode to dump and
	 * restore the catalogs: no worker may then read or write mantis_stores
	 * nor talk to peers, and no shared memory is needed.
	 */
	if (IsBinaryUpgrade)
		return;

	mantis_security_check_at_start();

	register_worker("mantis_persist_worker_main", "mantis worker");
	register_worker("mantis_watch_main", "mantis watch");
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
 * restarted 5 seconds after an error.  The postmaster does not start when
 * no background worker slot is left for it.
 */
static void
register_worker(const char *function, const char *name)
{
	BackgroundWorker worker;
	int			registered = mantis_registered_bgworkers();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "mantis", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);

	/*
	 * With no slot left the postmaster only logs "too many background
	 * workers": mantis would run without replication or without waking
	 * mantis_wait(), and say nothing.  Refuse to start instead.  Only in
	 * the postmaster: single-user mode (and, from 17, an EXEC_BACKEND
	 * child) loads the library too, and registers nothing on purpose.
	 */
	if (IsPostmasterEnvironment && !IsUnderPostmaster &&
		mantis_registered_bgworkers() == registered)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("mantis could not register its background worker \"%s\": no slot is left (see the message before)", name),
				 errdetail("mantis needs %d background worker slots (mantis worker, mantis watch%s), besides PostgreSQL's own (the logical replication launcher) and those of the libraries preloaded before it.",
						   mantis_replication_enabled() ? 3 : 2,
						   mantis_replication_enabled() ? ", mantis replication" : ""),
				 errhint("Raise \"max_worker_processes\" (now %d) and start the server again.",
						 max_worker_processes)));
}

/*
 * The first mantis call of a backend in a database other than
 * mantis.database, while the persistence worker waits for CREATE
 * EXTENSION in that one: the extension was created in the wrong database,
 * and no register is saved.  Tell the worker, which warns once in the
 * server log (persist/worker.c), not every session.
 */
static void
check_database(void)
{
	MantisPersistStatus w;
	char	   *here;

	if (!IsTransactionState())
		return;
	mantis_persist_worker_status(&w);
	if (w.persist != MANTIS_PERSIST_NO_EXTENSION)
		return;
	here = get_database_name(MyDatabaseId);
	if (here == NULL || mantis_database == NULL || strcmp(here, mantis_database) == 0)
		return;
	mantis_persist_extension_elsewhere(here);
}

/*
 * Raise an ERROR unless mantis was preloaded; every SQL function calls this
 * first.  The first call of a backend also checks that persistence does
 * not wait for the extension in another database.
 */
void
mantis_check_loaded(void)
{
	static bool database_checked = false;

	if (unlikely(!mantis_shmem_attached))
	{
		if (IsBinaryUpgrade)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("mantis does not run while the server is in binary-upgrade mode (pg_upgrade)")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mantis must be loaded via shared_preload_libraries"),
				 errhint("Add mantis to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
	}
	if (unlikely(!database_checked))
	{
		database_checked = true;
		check_database();
	}
}
