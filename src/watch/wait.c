/*-------------------------------------------------------------------------
 * watch/wait.c
 *	  mantis_wait(): the feed's answer as soon as it has a row.
 *
 * A session that finds nothing after its cursor publishes its prefix and
 * the seq it has read through in its slot (store/changes.c), looks once
 * more (a change may have come between its answer and its slot), and
 * sleeps on its latch.  The watch worker sets the latch when an entry
 * after that seq names a key under the prefix (watch/worker.c); so do a
 * cancel, statement_timeout and a server shutting down.  No polling:
 * a waiting session costs a slot and nothing else, and writers only read
 * a count of waiters.
 *
 * The slot is the PGPROC's: cleared after each sleep, on an ERROR
 * (PG_FINALLY), and when the backend exits (a FATAL does not unwind).
 *
 * IDENTIFICATION	src/watch/wait.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "wait_events.h"
#include "store/changes.h"
#include "watch/feed.h"
#include "watch/wait.h"

static int	my_slot = -1;
static bool exit_hook_set = false;

static void
clear_slot(void)
{
	if (my_slot >= 0)
		mantis_changes_waiter_remove(my_slot);
	my_slot = -1;
}

static void
clear_slot_at_exit(int code, Datum arg)
{
	clear_slot();
}

/*
 * Sleep until the watch worker says an entry after after_seq concerns the
 * prefix, or timeout_ms pass, unless the log has moved past after_seq
 * since (then at once: the caller looks again).
 */
static void
sleep_for_change(const char *prefix, uint32 prefix_len, uint64 after_seq, long timeout_ms)
{
	MantisChangeBounds b;

	if (!exit_hook_set)
	{
		before_shmem_exit(clear_slot_at_exit, (Datum) 0);
		exit_hook_set = true;
	}
	PG_TRY();
	{
		my_slot = mantis_changes_waiter_add(prefix, prefix_len, after_seq);
		mantis_changes_bounds(&b);
		if (b.newest == after_seq)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout_ms, mantis_wait_event(MANTIS_WAIT_CHANGE));
			ResetLatch(MyLatch);
		}
	}
	PG_FINALLY();
	{
		clear_slot();
	}
	PG_END_TRY();
	CHECK_FOR_INTERRUPTS();
}

/*
 * The feed's answer after "since" under the prefix, as soon as it has a
 * row, or with none once timeout_ms have passed.
 */
void
mantis_wait_changes(const MantisCursor *since, const char *prefix, uint32 prefix_len,
					int64 timeout_ms, MantisFeedAnswer *out)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	MantisCursor from;
	const MantisCursor *cursor = since;

	/*
	 * Each look in a context of its own, emptied before the next: a waiter
	 * woken often for nothing (a long prefix, entries evicted) would keep
	 * every copy of the log it made until the statement ends.  The last
	 * answer stays in it, a child of the caller's context.
	 */
	MemoryContext look_cxt = AllocSetContextCreate(CurrentMemoryContext, "mantis_wait",
												   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		left_ms;
		MemoryContext old;

		MemoryContextReset(look_cxt);
		old = MemoryContextSwitchTo(look_cxt);
		mantis_feed_changes(cursor, prefix, prefix_len, out);
		MemoryContextSwitchTo(old);
		if (out->n > 0)
			return;
		left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left_ms <= 0)
			return;
		/* nothing under the prefix through out->next: wait from there */
		from = out->next;
		cursor = &from;
		sleep_for_change(prefix, prefix_len, from.seq, left_ms);
		/* at the deadline, no rows: the caller's cursor still holds */
		if (TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline) <= 0)
		{
			out->n = 0;
			return;
		}
	}
}
