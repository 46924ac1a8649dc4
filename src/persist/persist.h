/*-------------------------------------------------------------------------
 * persist/persist.h
 *	  What the persistence worker calls to load, follow and flush
 *	  mantis_stores (persist/table.c, persist/load.c, persist/flush.c),
 *	  and to know when the rows held back for room are due for a retry
 *	  (persist/retry.c).
 *
 * Those four files include this header for their own entry points (the
 * first three persist/table.h for the name KnownTable), and none of them
 * calls the entry point of another: they call down through
 * persist/table.h and persist/load.h, in layers (see persist/table.h), and
 * persist/load.c tells persist/retry.c what it held back
 * (persist/retry.h).
 *
 * IDENTIFICATION	src/persist/persist.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_H
#define MANTIS_PERSIST_H

#include <signal.h>

#include "datatype/timestamp.h"

#include "mantis.h"
#include "store/store.h"

typedef struct MantisFlushResult
{
	uint64		registers;		/* registers written */
	int			rows;			/* rows inserted */
	bool		compacted;		/* older rows of this node were replaced */
} MantisFlushResult;

/*
 * What the worker knows of mantis_stores (persist/table.h): the worker
 * creates one and passes it to each call below that reads or changes it.
 */
typedef struct KnownTable KnownTable;

/* ---- persist/table.c ---- */
extern volatile sig_atomic_t mantis_persist_in_work;
extern KnownTable *mantis_persist_table_create(void);
extern void mantis_persist_counts(const KnownTable *kt, uint64 *held_back,
								  int64 *own_rows);

/* ---- persist/load.c ---- */
extern bool mantis_persist_follow(KnownTable *kt);

/* ---- persist/retry.c ---- */
extern bool mantis_persist_retry_due(TimestampTz now, TimestampTz *wake);

/* ---- persist/flush.c ---- */
extern bool mantis_persist_flush(KnownTable *kt, MantisLeafSet *pending,
								 bool compact, MantisFlushResult *result);
extern void mantis_persist_abort(void);

#endif							/* MANTIS_PERSIST_H */
