/*-------------------------------------------------------------------------
 * watch/worker.c
 *	  The watch worker ("mantis watch"): wakes the sessions in
 *	  mantis_wait() that a change concerns.
 *
 * A write sets this worker's latch only while someone waits
 * (store/changes.c).  Each pass reads the change log's entries since the
 * last pass, once, and sets the latch of each waiter whose prefix one of
 * them matches (mantis_changes_wake_waiters()): a write on a busy server
 * wakes only the sessions it concerns, and costs its writer one SetLatch
 * at most.  If the log evicted entries before this worker read them, it
 * wakes every waiter: each looks again for itself.
 *
 * Connected to mantis.database for its encoding only.  Exits at SIGTERM;
 * the postmaster restarts it 5 seconds after an ERROR.
 *
 * IDENTIFICATION	src/watch/worker.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "wakeup.h"
#include "store/changes.h"
#include "watch/wait.h"

/* the longest sleep: a pass each second wakes waiters a lost latch missed */
#define WATCH_NAP_MS	1000

/* Entries copied per pass, at most: the rest waits for the next pass */
#define WATCH_BATCH		4096

/*
 * Passes begin at most this often: a pass sooner after the last one waits
 * for the rest of it with the latch still set, so that the writes of a
 * busy server do not each wake this worker (their SetLatch finds it set,
 * and costs them a read).  An idle server's first change goes at once.
 */
#define WATCH_PACE_US	250

/*
 * One pass: wake the waiters the entries after *seen concern.  Returns
 * true if entries are left for another pass.
 */
static bool
dispatch(uint64 *seen, MemoryContext cxt)
{
	MantisChangeBounds b;
	MantisChangeCopy changes;
	MemoryContext old;
	uint64		after;
	uint64		upto;

	mantis_changes_bounds(&b);
	if (b.newest <= *seen)
		return false;
	if (mantis_changes_waiters() == 0)
	{
		*seen = b.newest;		/* nobody waits for these */
		return false;
	}
	after = Max(*seen, b.oldest - 1);
	upto = Min(b.newest, after + WATCH_BATCH);
	old = MemoryContextSwitchTo(cxt);
	if (after > *seen)
	{
		/*
		 * Entries after *seen went before this worker read them: a waiter
		 * from before them would not be looked at below (its "through" is
		 * under "after"), so each looks again for itself.
		 */
		mantis_changes_wake_all_waiters();
	}
	else if (mantis_changes_copy(after, upto, &changes))
		mantis_changes_wake_waiters(&changes, after, upto);
	else
		mantis_changes_wake_all_waiters();
	MemoryContextSwitchTo(old);
	MemoryContextReset(cxt);
	*seen = upto;
	return upto < b.newest;
}

void
mantis_watch_main(Datum arg)
{
	MemoryContext cxt;
	uint64		seen = 0;
	bool		more = false;
	TimestampTz last_pass = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mantis_database, NULL, 0);
	pgstat_report_appname("mantis watch");
	mantis_publish_latch(MANTIS_WATCH_WORKER);
	cxt = AllocSetContextCreate(TopMemoryContext, "mantis watch", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		if (!more)
		{
			long		since_us;

			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 WATCH_NAP_MS, PG_WAIT_EXTENSION);
			since_us = (long) (GetCurrentTimestamp() - last_pass);
			if (since_us >= 0 && since_us < WATCH_PACE_US)
				pg_usleep(WATCH_PACE_US - since_us);
			ResetLatch(MyLatch);
		}
		last_pass = GetCurrentTimestamp();
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		more = dispatch(&seen, cxt);
	}
	proc_exit(1);
}
