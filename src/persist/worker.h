/*-------------------------------------------------------------------------
 * persist/worker.h
 *	  The persistence worker as the rest of mantis sees it: its status and
 *	  the requests made to it, in shared memory (persist/status.c; the
 *	  worker itself is persist/worker.c).
 *
 * IDENTIFICATION	src/persist/worker.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_WORKER_H
#define MANTIS_PERSIST_WORKER_H

#include "datatype/timestamp.h"

#include "mantis.h"

/* What the worker is doing about mantis_stores (MantisPersistStatus.persist) */
typedef enum MantisPersistState
{
	MANTIS_PERSIST_STOPPED,		/* no worker is running */
	MANTIS_PERSIST_STARTING,	/* connecting, or loading mantis_stores */
	MANTIS_PERSIST_NO_EXTENSION,	/* waiting for CREATE EXTENSION mantis */
	MANTIS_PERSIST_READY,		/* loaded; flushing */
	MANTIS_PERSIST_STANDBY		/* loaded; following the primary's rows */
} MantisPersistState;

/* The worker's state as others see it; see persist/status.c. */
typedef struct MantisPersistStatus
{
	int			pid;
	int			connect_attempts;	/* since the last successful one */
	MantisPersistState persist;
	TimestampTz last_flush_at;	/* 0 if none yet */
	uint64		last_flush_registers;
	uint64		flush_failures;
	int64		stored_rows;	/* this node's rows in mantis_stores; -1 unknown */
	uint64		held_back;		/* registers in mantis_stores not loaded */
	char		last_flush_error[MANTIS_ERROR_TEXT_SIZE];

	uint64		flush_requested;	/* mantis_flush() calls so far */
	uint64		flush_served;	/* requests answered by a flush */
	bool		flush_ok;		/* how the flush that answered them went */
	uint64		flush_result;	/* registers it wrote */

	/* a database a backend found the extension in, while the worker waits */
	char		extension_elsewhere[NAMEDATALEN];
} MantisPersistStatus;

extern Size mantis_persist_worker_shmem_size(void);
extern void mantis_persist_worker_shmem_init(void *place, bool found);
extern uint64 mantis_request_flush(void);
extern void mantis_persist_worker_status(MantisPersistStatus *out);
extern void mantis_persist_extension_elsewhere(const char *database);

#endif							/* MANTIS_PERSIST_WORKER_H */
