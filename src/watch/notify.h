/*-------------------------------------------------------------------------
 * watch/notify.h
 *	  NOTIFY of the keys changed, for those who prefer LISTEN
 *	  (watch/notify.c), raised by the watch worker (watch/worker.c).
 *
 * IDENTIFICATION	src/watch/notify.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_WATCH_NOTIFY_H
#define MANTIS_WATCH_NOTIFY_H

#include "datatype/timestamp.h"

#include "mantis.h"

/* What the watch worker keeps of its NOTIFY between passes */
typedef struct MantisNotify
{
	bool		on;				/* mantis.notify_channel is set */
	uint64		seq;			/* every entry through this seq notified */
	char		channel[NAMEDATALEN];
	TimestampTz next_at;		/* the next transaction not before this */
} MantisNotify;

extern void mantis_notify_init(MantisNotify *n);
extern void mantis_notify_configure(MantisNotify *n);
extern long mantis_notify_pass(MantisNotify *n, MemoryContext cxt);

#endif							/* MANTIS_WATCH_NOTIFY_H */
