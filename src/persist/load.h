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

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "store/store.h"

#include "persist/retry.h"
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

/* What a load of rows found (persist/load.c, persist/dead_rows.c) */
typedef struct LoadState
{
	int64		row_id;
	uint64		now_ms;
	MantisMergeTally merged;
	uint64		refused;		/* size, encoding or clock */
	uint64		hole_ts;		/* the least HLC held back in this row */
	HeldForRoom room;			/* of those held back, for lack of room */

	/* records of dead registers, and leaves' bounds (R7) */
	uint64		dead_held;
	uint64		dead_stale;
	uint64		dead_no_room;	/* held back: no room, or records off */
	uint64		dead_folded;	/* collapsed since their rows were written */

	/* the rows' bounds merged first (persist/dead_rows.c, dead_load_begin()) */
	bool		bounds_first;
	int64	   *bound_row;		/* per leaf: the newest row that changed its bound */
	uint64	   *bound_ts;		/* per leaf: the greatest bound of the rows */
	uint64	   *bound_sig;		/* per leaf: the last bound seen, hashed */
	struct HTAB *folded;		/* hash: the newest HLC taken as collapsed */

	/* a retry (retry_held_back()): */
	bool		retry;
	int			only;			/* merge only the first "only" of the held set */
	RowRewrites *rw;			/* where rewritten rows go */
	StringInfoData kept;		/* the row's rewrite so far: VARHDRSZ, header,
								 * its nodes, the registers still held back */
	uint32		row_registers;	/* of the row */
	uint32		row_kept;		/* of those, still held back */
	uint64		row_dead_kept;	/* records or bounds of the row held back */
	uint16		row_nodes;
	int			rewritten;		/* rows */

	/* a row written under another server's default name (node-<sysid>) */
	char		other_default[NAMEDATALEN];
} LoadState;

extern MANTIS_PRIVATE bool follow_table(KnownTable *kt);
extern MANTIS_PRIVATE void retry_held_back(KnownTable *kt, RowRewrites *rw);

#endif							/* MANTIS_PERSIST_LOAD_H */
