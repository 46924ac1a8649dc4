/*-------------------------------------------------------------------------
 * wait_events.c
 *	  The names mantis's processes wait under in pg_stat_activity.
 *
 * From PostgreSQL 17 an extension may name its wait events: a worker
 * sleeping between flushes shows wait_event_type "Extension" and
 * wait_event "MantisPersistMain", not the anonymous "Extension" that 15
 * and 16 show for every wait of every extension.  Each name is registered
 * (WaitEventExtensionNew(), which gives every process the same id for the
 * same name) the first time this process waits under it, and its id kept
 * for the next waits.  Before 17 every wait is PG_WAIT_EXTENSION
 * (compat.h's mantis_wait_event_new()).
 *
 * IDENTIFICATION	src/wait_events.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/wait_event.h"

#include "compat.h"
#include "wait_events.h"

/* the names, in the order of MantisWaitEvent */
static const char *const wait_event_names[MANTIS_WAIT_EVENTS] = {
	"MantisPersistMain",
	"MantisReplicationMain",
	"MantisReplicationWritable",
	"MantisWatchMain",
	"MantisFlush",
	"MantisLoad",
	"MantisWait",
	"MantisWaitFor",
};

/*
 * The wait event to pass to WaitLatch() and the like for a wait of this
 * kind.  Called before the wait, with no spinlock held (registering a
 * name takes an LWLock, once per process and name).
 */
uint32
mantis_wait_event(MantisWaitEvent which)
{
	static uint32 ids[MANTIS_WAIT_EVENTS];

	Assert(which >= 0 && which < MANTIS_WAIT_EVENTS);
	if (ids[which] == 0)
		ids[which] = mantis_wait_event_new(wait_event_names[which]);
	return ids[which];
}
