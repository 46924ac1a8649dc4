/*-------------------------------------------------------------------------
 * wait_events.h
 *	  The names mantis's processes wait under in pg_stat_activity
 *	  (wait_events.c).
 *
 * IDENTIFICATION	src/wait_events.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_WAIT_EVENTS_H
#define MANTIS_WAIT_EVENTS_H

/* Every wait of mantis's, named as wait_events.c's table says */
typedef enum MantisWaitEvent
{
	MANTIS_WAIT_PERSIST_MAIN,	/* the persistence worker between flushes */
	MANTIS_WAIT_REPLICATION_MAIN,	/* the replication worker's loop */
	MANTIS_WAIT_REPLICATION_WRITABLE,	/* ... on a standby, until promoted */
	MANTIS_WAIT_WATCH_MAIN,		/* the watch worker between wakeups */
	MANTIS_WAIT_FLUSH,			/* a session in mantis_flush() */
	MANTIS_WAIT_LOAD,			/* a session until mantis_stores is loaded */
	MANTIS_WAIT_CHANGE,			/* a session in mantis_wait() */
	MANTIS_WAIT_TOKEN,		/* a session in mantis_wait_for(), for the
								 * writes up to its token */
	MANTIS_WAIT_EVENTS
} MantisWaitEvent;

extern uint32 mantis_wait_event(MantisWaitEvent which);

#endif							/* MANTIS_WAIT_EVENTS_H */
