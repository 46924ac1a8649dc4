/*-------------------------------------------------------------------------
 * watch/worker.c
 *	  The watch worker ("mantis watch"): wakes the sessions in
 *	  mantis_wait() that a change concerns, and raises the NOTIFY of
 *	  mantis.notify_channel.
 *
 * A write sets this worker's latch only while someone waits, or while
 * mantis.notify_channel is set (store/changes.c).  Each pass reads the change log's entries since the
 * last pass, once, and sets the latch of each waiter whose prefix one of
 * them matches (mantis_changes_wake_waiters()): a write on a busy server
 * wakes only the sessions it concerns, and costs its writer one SetLatch
 * at most.  If the log evicted entries before this worker read them, it
 * wakes every waiter: each looks again for itself.
 *
 * While mantis.notify_channel is set, each pass also hands the entries
 * after the last it notified to watch/notify.c, which raises NOTIFY for
 * their keys in a transaction of its own in mantis.database: the two
 * follow the log each from its own seq.
 *
 * Connected to mantis.database for its encoding and for NOTIFY.  Exits
 * at SIGTERM; the postmaster restarts it 5 seconds after an ERROR that
 * escapes (watch/notify.c catches those of its transaction).
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

#include "mantis.h"
#include "guc.h"
#include "wakeup.h"
#include "wait_events.h"
#include "store/changes.h"
#include "watch/notify.h"
#include "watch/wait.h"

/* the longest sleep: a pass each second wakes waiters a lost latch missed */
#define WATCH_NAP_MS	1000

/*
 * While someone waits, a pass at least this often: writers wake this
 * worker only for keys a wait may concern (store/changes.c), and the log
 * must not evict the others before it has read past them (it would then
 * wake every waiter, each to look again for itself).
 */
#define WATCH_FOLLOW_MS	100

/* Entries copied per pass, at most: the rest waits for the next pass */
#define WATCH_BATCH		4096

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
	if (*seen + 1 < b.oldest)
		mantis_changes_wake_all_waiters();	/* evicted before we read them */
	else if (mantis_changes_copy(after, upto, &changes))
		mantis_changes_wake_waiters(&changes);
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
	MantisNotify notify;
	uint64		seen = 0;
	bool		more = false;
	long		nap = WATCH_NAP_MS;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mantis_database, NULL, 0);
	pgstat_report_appname("mantis watch");
	mantis_publish_latch(MANTIS_WATCH_WORKER);
	cxt = AllocSetContextCreate(TopMemoryContext, "mantis watch", ALLOCSET_DEFAULT_SIZES);
	mantis_notify_init(&notify);

	for (;;)
	{
		if (!more)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 nap, mantis_wait_event(MANTIS_WAIT_WATCH_MAIN));
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			mantis_notify_configure(&notify);
		}
		more = dispatch(&seen, cxt);
		nap = mantis_notify_pass(&notify, cxt);
		if (nap == 0)
			more = true;
		if (nap <= 0 || nap > WATCH_NAP_MS)
			nap = WATCH_NAP_MS;
		/* writes nobody waits for wake nobody: follow the log all the same */
		if (mantis_changes_waiters() > 0)
			nap = Min(nap, WATCH_FOLLOW_MS);
	}
	proc_exit(1);
}
