/*-------------------------------------------------------------------------
 * wakeup.h
 *	  Waking mantis's background workers (wakeup.c).
 *
 * IDENTIFICATION	src/wakeup.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_WAKEUP_H
#define MANTIS_WAKEUP_H

/* mantis's background workers */
typedef enum MantisWorker
{
	MANTIS_PERSIST_WORKER = 0,	/* "mantis worker": persist/worker.c */
	MANTIS_REPLICATION_WORKER = 1,	/* "mantis replication":
									 * replication/worker.c */
	MANTIS_WATCH_WORKER = 2		/* "mantis watch": watch/worker.c */
} MantisWorker;

#define MANTIS_WORKERS 3

extern Size mantis_latches_shmem_size(void);
extern void mantis_latches_shmem_init(void *place, bool found);
extern void mantis_publish_latch(MantisWorker worker);
extern void mantis_wake_worker(MantisWorker worker);

#endif							/* MANTIS_WAKEUP_H */
