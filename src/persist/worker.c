/*-------------------------------------------------------------------------
 * persist/worker.c
 *	  The persistence worker: its life, its wait loop, and when it loads,
 *	  follows and flushes mantis_stores.
 *
 * One worker per server ("mantis worker" in pg_stat_activity), connected to
 * mantis.database.  Its life, after autoprewarm's:
 *	- SIGTERM sets a flag, and cancels the statement under way if the
 *	  worker is inside a transaction (a lock wait, or a COMMIT waiting for
 *	  a synchronous standby that does not answer, would otherwise delay the
 *	  shutdown for ever); the loop ends, the worker flushes one last time
 *	  without waiting for standbys (synchronous_commit = local) and exits
 *	  with code 1, so that the postmaster starts it again unless the server
 *	  is shutting down;
 *	- SIGHUP reloads the settings;
 *	- postmaster death ends it at once (WL_EXIT_ON_PM_DEATH);
 *	- an ERROR in a flush or a load is caught, logged (at most once a minute
 *	  for the same message), counted and retried with backoff; any other
 *	  ERROR exits, and the postmaster restarts the worker after 5 seconds.
 *
 * Backends hand changes over through shared memory (store/store.c's dirty
 * bitmap), which the worker takes every mantis.flush_interval; they do not
 * wake it on every write.  mantis_flush() sets its latch (published through
 * wakeup.c) and waits on a condition variable.  The worker's status and the
 * requests made to it live in shared memory (persist/status.c).
 *
 * Loading.  Until the worker has loaded mantis_stores after a start or a
 * crash restart, backends wait (store/store.c).  While the extension does not
 * exist in mantis.database, there is nothing to load: the registers become
 * readable at once and the worker looks for the extension each second, and
 * loads and starts flushing as soon as it appears.  Every flush interval
 * (each second when flushes are off) the worker follows the table
 * (persist/load.c), so rows restored or added by hand are merged.  Rows
 * that hold registers back for lack of room are retried by a compaction
 * the worker makes as soon as room is freed for them (persist/retry.c),
 * and not only when one is due.
 *
 * Standby.  On a hot standby the worker loads mantis_stores and follows it,
 * so reads see the primary's flushes within a flush interval; writes fail
 * (store/store.c).  When the server is promoted, the worker merges every row
 * once more before it marks the store writable, so the clock is past
 * everything the old primary persisted, and then flushes as a primary.
 *
 * IDENTIFICATION	src/persist/worker.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "log_limit.h"
#include "nodes.h"
#include "wakeup.h"
#include "wait_events.h"
#include "store/collect.h"
#include "store/store.h"
#include "persist/persist.h"
#include "persist/status.h"
#include "persist/worker.h"

PGDLLEXPORT void mantis_persist_worker_main(Datum main_arg);

/* how often to look for CREATE EXTENSION, or retry a failed load */
#define CHECK_INTERVAL_MS	1000

/* the longest pause between retries of a failing flush */
#define MAX_BACKOFF_MS		60000

/* the flush interval while the store runs out of room (flush_is_pressed()) */
#define PRESSED_FLUSH_MS	100

/* leaves with registers this worker still has to flush */
static MantisLeafSet flush_pending;

/* mantis_stores as this worker knows it, passed to each persist/ call */
static KnownTable *known = NULL;

/* mantis_stores found and loaded */
static bool persist_ready = false;

/*
 * The next flush writes every register.  Set when this worker starts with
 * the store already loaded: its predecessor died, perhaps between taking
 * changes and committing them, so some may no longer be flagged.
 */
static bool compact_next = false;

/* the final flush runs: SIGTERM must not cancel it */
static volatile sig_atomic_t final_flush = false;

static TimestampTz next_check_at = 0;
static TimestampTz next_flush_at = 0;
static TimestampTz last_flush_at = 0;	/* the last flush that committed */
static TimestampTz next_retry_at = 0;	/* room freed, a retry too recent: 0 if not */
static int	failures_in_a_row = 0;
static uint64 flush_requests_served = 0;

/*
 * Waiting for CREATE EXTENSION in mantis.database while a backend found the
 * extension in another database (mantis.c): warn, once per run.
 */
static void
warn_if_elsewhere(void)
{
	static bool warned = false;
	MantisPersistStatus w;

	if (warned)
		return;
	mantis_persist_worker_status(&w);
	if (w.extension_elsewhere[0] == '\0')
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("mantis persistence is off: it waits for CREATE EXTENSION mantis in database \"%s\" (\"mantis.database\"), but the extension is in database \"%s\"",
					mantis_database, w.extension_elsewhere),
			 errdetail("No register is saved in mantis_stores until then: a restart loses them all."),
			 errhint("Run CREATE EXTENSION mantis in database \"%s\", or set \"mantis.database\" = '%s' and restart.",
					 mantis_database, w.extension_elsewhere)));
}

static void
set_persist_state(MantisPersistState state)
{
	uint64		held_back;
	int64		own_rows;

	mantis_persist_counts(known, &held_back, &own_rows);
	status_set_state(state, held_back, own_rows);
	if (state == MANTIS_PERSIST_NO_EXTENSION)
		warn_if_elsewhere();
}

/*
 * SIGTERM: as SignalHandlerForShutdownRequest, and inside a transaction
 * also a query cancel, which ends a lock wait or statement with an ERROR
 * (the flush is given back and retried by the final flush) and a wait for
 * a synchronous standby with a WARNING (the commit is already local).
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ShutdownRequestPending = true;
	if (mantis_persist_in_work && !final_flush)
	{
		QueryCancelPending = true;
		InterruptPending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * Log a failure, unless the same message was logged less than a minute ago.
 */
static void
log_failure(const char *what, const char *message)
{
	if (!mantis_log_due(NULL, message))
		return;
	ereport(WARNING,
			(errmsg("mantis could not %s: %s", what, message),
			 errdetail("The changes are kept in shared memory; the worker will retry.")));
}

/*
 * Run "fn", which runs a transaction of its own; on ERROR, abort it (and
 * give back what a flush took), and return false with the message in
 * "message".
 */
static bool
run_guarded(bool (*fn) (void *), void *arg, bool *fn_result,
			char *message, size_t message_size)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = false;

	PG_TRY();
	{
		*fn_result = fn(arg);
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		mantis_persist_abort();
		strlcpy(message, edata->message ? edata->message : "unknown error", message_size);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return ok;
}

static bool
do_follow(void *arg)
{
	return mantis_persist_follow(known);
}

/*
 * The store may be written once the table has been merged by a follow that
 * began outside recovery ("recovery" is what RecoveryInProgress() said
 * before it): one that began on a standby may have missed the last rows
 * replayed before the promotion.
 */
static void
maybe_set_writable(bool recovery)
{
	if (!recovery && !mantis_store_is_writable())
		mantis_store_set_writable();
}

static MantisPersistState
ready_state(void)
{
	return RecoveryInProgress() ? MANTIS_PERSIST_STANDBY : MANTIS_PERSIST_READY;
}

/*
 * Look for mantis_stores and load it.  Whatever the outcome short of an
 * error, the registers are readable afterwards.
 */
static void
try_load(void)
{
	char		message[MANTIS_ERROR_TEXT_SIZE];
	bool		found = false;
	bool		recovery = RecoveryInProgress();

	next_check_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CHECK_INTERVAL_MS);
	if (!run_guarded(do_follow, NULL, &found, message, sizeof(message)))
	{
		log_failure("load mantis_stores", message);
		return;
	}
	persist_ready = found;
	set_persist_state(found ? ready_state() : MANTIS_PERSIST_NO_EXTENSION);
	/* rows may hold markers collected before: not one is shown again */
	if (!mantis_store_is_loaded())
		mantis_collect_sweep();
	mantis_store_set_loaded();
	maybe_set_writable(recovery);
}

/*
 * On a standby, and on a promoted server until it has merged the table
 * once more: follow mantis_stores each interval.
 */
static void
follow_now(void)
{
	char		message[MANTIS_ERROR_TEXT_SIZE];
	bool		found = false;
	bool		recovery = RecoveryInProgress();

	next_flush_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												mantis_flush_interval_ms > 0 ?
												mantis_flush_interval_ms : CHECK_INTERVAL_MS);
	if (!run_guarded(do_follow, NULL, &found, message, sizeof(message)))
	{
		log_failure("read mantis_stores", message);
		return;
	}
	if (!found)
	{
		persist_ready = false;
		set_persist_state(MANTIS_PERSIST_NO_EXTENSION);
		return;
	}
	set_persist_state(ready_state());
	if (!recovery && !mantis_store_is_writable())
	{
		ereport(LOG,
				(errmsg("mantis merged mantis_stores after the promotion; this server accepts writes as node \"%s\"",
						mantis_self_node_name())));
		maybe_set_writable(recovery);
	}
}

/* the count of the last take of dirty leaves (store/collect.c) */
static uint64 last_gathered = 0;

static bool
do_flush(void *arg)
{
	return mantis_persist_flush(known, &flush_pending, compact_next,
								(MantisFlushResult *) arg);
}

/*
 * Flush now.  Returns whether it succeeded; *written is the number of
 * registers written, *message the error otherwise.
 */
static bool
flush_now(uint64 *written, char *message, size_t message_size)
{
	MantisFlushResult result;
	bool		table_there = false;
	bool		ok;
	TimestampTz now;
	int			backoff;
	uint64		held_back;
	int64		own_rows;

	*written = 0;
	if (RecoveryInProgress())
	{
		strlcpy(message, "the server is in recovery", message_size);
		return false;
	}
	ok = run_guarded(do_flush, &result, &table_there, message, message_size);
	now = GetCurrentTimestamp();
	if (ok && !table_there)
	{
		/* the extension was dropped: wait for it again, quietly */
		persist_ready = false;
		set_persist_state(MANTIS_PERSIST_NO_EXTENSION);
		snprintf(message, message_size,
				 "extension \"mantis\" does not exist in database \"%s\"", mantis_database);
		return false;
	}

	mantis_persist_counts(known, &held_back, &own_rows);
	status_note_flush(ok, &result, now, message, held_back, own_rows);

	if (ok)
	{
		/*
		 * What was gathered so far is in mantis_stores: it may be acked, at
		 * once (the replication worker greets the peers it now owes an
		 * acknowledgement, replication/horizon.c), and what it wrote no
		 * longer waits for a flush to be collected.
		 */
		mantis_collect_durable(last_gathered);
		mantis_collect_note_flush();
		mantis_wake_worker(MANTIS_REPLICATION_WORKER);
		failures_in_a_row = 0;
		compact_next = false;
		*written = result.registers;
		last_flush_at = now;
		next_flush_at = TimestampTzPlusMilliseconds(now, mantis_flush_interval_ms > 0 ?
													mantis_flush_interval_ms : CHECK_INTERVAL_MS);
		return true;
	}

	log_failure("flush to mantis_stores", message);
	failures_in_a_row++;
	backoff = Max(mantis_flush_interval_ms, CHECK_INTERVAL_MS);
	for (int i = 1; i < failures_in_a_row && backoff < MAX_BACKOFF_MS; i++)
		backoff *= 2;
	next_flush_at = TimestampTzPlusMilliseconds(now, Min(backoff, MAX_BACKOFF_MS));
	return false;
}

/* Take the changes backends signalled since the last pass. */
static void
gather_changes(void)
{
	uint64		n = mantis_collect_gathered();

	mantis_store_take_dirty(MANTIS_CONSUMER_PERSIST, &flush_pending);
	last_gathered = n;
}

/*
 * The store is three quarters full (of mantis.max_keys or of
 * mantis.store_memory) while dead registers wait to be collected.  Their
 * room comes back once every member has acknowledged them, and a member
 * acknowledges only what it has flushed (replication/horizon.c's
 * durable_note()): with everyone up, the flush interval is most of the
 * wait between an expiry and its room.  So a store running out of room
 * flushes every PRESSED_FLUSH_MS, and so do its peers, whose stores hold
 * the same registers.  Only dead registers in full (deletion markers,
 * expired registers) press: a flush is what they wait for (an
 * acknowledgement, or their compaction into records, R7) and their room
 * is what it frees.  Records and bounds, which keep collection busy for as
 * long as they wait (a lifetime, a member's outage), lie off max_keys: a
 * store kept three quarters full of live keys would otherwise flush ten
 * times a second for all that time.  Cheap to ask: a few atomic reads.
 */
static bool
flush_is_pressed(void)
{
	MantisStoreStats stats;

	if (mantis_flush_interval_ms <= PRESSED_FLUSH_MS || !mantis_collect_busy())
		return false;
	mantis_store_stats(&stats);
	if (stats.deleted + stats.expired_held == 0)
		return false;
	return stats.registers >= (uint64) mantis_max_keys / 4 * 3 ||
		stats.bytes_used >= stats.bytes_total / 4 * 3;
}

/* When the next flush is due: see flush_is_pressed() */
static TimestampTz
flush_due_at(void)
{
	if (last_flush_at != 0 && failures_in_a_row == 0 && !RecoveryInProgress() &&
		flush_is_pressed())
		return Min(next_flush_at,
				   TimestampTzPlusMilliseconds(last_flush_at, PRESSED_FLUSH_MS));
	return next_flush_at;
}

/*
 * Answer mantis_flush() calls, and flush (or, with nothing to write, follow
 * the table) when the interval is up.  The requests are read before the
 * changes are gathered: a request answered by this flush was made after
 * its caller's writes, which are then in the flush.
 */
static void
maybe_flush(void)
{
	uint64		requested;
	uint64		written = 0;
	bool		ok = false;
	char		message[MANTIS_ERROR_TEXT_SIZE] = "";

	if (ShutdownRequestPending)
		return;				/* the final flush answers, after the loop */
	requested = status_flush_requested();
	gather_changes();
	if (mantis_collect_compaction_asked())
		compact_next = true;

	if (requested > flush_requests_served)
	{
		if (!persist_ready)
			try_load();
		if (persist_ready)
			ok = flush_now(&written, message, sizeof(message));
		else
			snprintf(message, sizeof(message),
					 "extension \"mantis\" does not exist in database \"%s\"", mantis_database);

		status_serve_flush(requested, ok, written, message);
		flush_requests_served = requested;
		return;
	}

	if (!persist_ready || GetCurrentTimestamp() < flush_due_at())
		return;
	if (RecoveryInProgress() || !mantis_store_is_writable())
		follow_now();
	else if (mantis_flush_interval_ms > 0 || mantis_leafset_is_empty(&flush_pending))
		(void) flush_now(&written, message, sizeof(message));
	else
	{
		/* periodic flushes are off: only follow the table */
		follow_now();
	}
}

/*
 * The rows hold registers back for lack of room, and room has been freed
 * for them (persist/retry.c): flush now, as a compaction, which retries
 * them.  Not while a flush fails (its backoff stands), nor on a standby,
 * which never compacts (it follows the primary's retries).  With periodic
 * flushes off and changes pending, the compaction waits for the next
 * mantis_flush(), which alone writes those (maybe_flush()).
 */
static void
maybe_retry_held_back(void)
{
	TimestampTz now = GetCurrentTimestamp();

	next_retry_at = 0;
	if (!persist_ready || compact_next || failures_in_a_row > 0 ||
		ShutdownRequestPending || RecoveryInProgress() || !mantis_store_is_writable())
		return;
	if (mantis_persist_retry_due(now, &next_retry_at))
	{
		compact_next = true;
		next_flush_at = now;
	}
}

/* How long the loop may sleep before something is due. */
static long
sleep_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = TimestampTzPlusMilliseconds(now, 10000);

	if (!persist_ready)
		wake = Min(wake, next_check_at);
	else
		wake = Min(wake, flush_due_at());
	if (next_retry_at != 0)
		wake = Min(wake, next_retry_at);
	return mantis_clock_ms_until(wake);
}

/*
 * Connect to mantis.database.  If the previous worker could not (the
 * database does not exist: InitPostgres raises FATAL, which no worker can
 * catch), make the registers readable first, so that a wrong setting
 * leaves mantis without persistence rather than unusable.
 */
static void
connect_to_database(void)
{
	int			attempts;

	attempts = status_connect_attempt();
	if (attempts > 1)
	{
		if (!mantis_store_is_loaded())
		{
			ereport(WARNING,
					(errmsg("mantis worker could not connect to database \"%s\"; the registers are not loaded from mantis_stores nor flushed to it until it can",
							mantis_database),
					 errhint("Create the database or set \"mantis.database\" to one that exists, and restart the server.")));
			mantis_store_set_loaded();
		}
		/* also once a standby that could not connect is promoted */
		if (!RecoveryInProgress() && !mantis_store_is_writable())
			mantis_store_set_writable();
	}

	BackgroundWorkerInitializeConnection(mantis_database, NULL, 0);

	status_connected();
	mantis_store_set_encoding(GetDatabaseEncoding());
}

/*
 * One last flush of whatever changed since the previous one, looking for
 * the table once more if the extension was created since the last check.
 * It waits for no standby and for no lock longer than a few seconds: a
 * shutdown must finish.
 */
static void
flush_at_shutdown(void)
{
	final_flush = true;
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "3s", PGC_SUSET, PGC_S_OVERRIDE);
	gather_changes();
	if (RecoveryInProgress())
		return;
	if (!persist_ready && !mantis_leafset_is_empty(&flush_pending))
		try_load();
	if (persist_ready && (!mantis_leafset_is_empty(&flush_pending) || compact_next))
	{
		uint64		written;
		char		message[MANTIS_ERROR_TEXT_SIZE];

		if (flush_now(&written, message, sizeof(message)))
			ereport(LOG,
					(errmsg("mantis flushed %llu registers before shutting down",
							(unsigned long long) written)));
	}
}

void
mantis_persist_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	status_publish();
	compact_next = mantis_store_is_loaded();
	connect_to_database();
	pgstat_report_appname("mantis worker");

	/* every name below is schema-qualified; nothing is looked up elsewhere */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * A locked or slow mantis_stores delays a flush, never blocks the worker:
	 * lock_timeout works as in any backend, and the files of persist/ arm
	 * statement_timeout around each of their statements themselves
	 * (statement_begin(), persist/table.h).
	 */
	SetConfigOption("lock_timeout", "10s", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "5min", PGC_SUSET, PGC_S_OVERRIDE);

	known = mantis_persist_table_create();
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "mantis worker",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		MemoryContextSwitchTo(loop_cxt);

		if (!persist_ready && !ShutdownRequestPending &&
			GetCurrentTimestamp() >= next_check_at)
		{
			gather_changes();
			try_load();
		}
		maybe_flush();
		mantis_collect_tick();
		/* after the sweep, which frees room */
		maybe_retry_held_back();

		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms(), mantis_collect_sleep_ms()),
						 mantis_wait_event(MANTIS_WAIT_PERSIST_MAIN));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a shorter mantis.flush_interval applies from now on */
			if (mantis_flush_interval_ms > 0)
				next_flush_at = Min(next_flush_at,
									TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																mantis_flush_interval_ms));
		}
	}

	MemoryContextSwitchTo(loop_cxt);
	flush_at_shutdown();

	/* exit code 1: the postmaster restarts us unless it is shutting down */
	proc_exit(1);
}
