/*-------------------------------------------------------------------------
 * persist/load.h
 *	  The middle layer of the persistence (persist/load.c), as the flush
 *	  calls it: following mantis_stores, and merging again the rows held
 *	  back.
 *
 * Only persist/load.c and persist/flush.c include this header (the layers
 * are described in persist/table.h); the worker calls persist/persist.h.
 *
 * IDENTIFICATION	src/persist/load.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_LOAD_H
#define MANTIS_PERSIST_LOAD_H

#include "nodes/pg_list.h"

#include "persist/table.h"

/*
 * The rows a compaction's retry of the held-back rows rewrote to hold only
 * what they still hold back (persist/load.c), and the rows they replace.
 */
typedef struct RowRewrites
{
	const char *clock;			/* the compaction's HLC, as text */
	MemoryContext cxt;			/* of the lists: outlives the transaction */
	List	   *inserted;		/* NewRow * */
	List	   *replaced;		/* KnownRow *: to delete with the merged rows */
} RowRewrites;

extern MANTIS_PRIVATE bool follow_table(KnownTable *kt);
extern MANTIS_PRIVATE void retry_held_back(KnownTable *kt, RowRewrites *rw);

#endif							/* MANTIS_PERSIST_LOAD_H */
