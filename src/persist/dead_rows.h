/*-------------------------------------------------------------------------
 * persist/dead_rows.h
 *	  Records of dead registers and collapsed bounds in mantis_stores
 *	  (persist/dead_rows.c): for persist/load.c and persist/flush.c.
 *
 * IDENTIFICATION	src/persist/dead_rows.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_DEAD_ROWS_H
#define MANTIS_PERSIST_DEAD_ROWS_H

#include "nodes/pg_list.h"

#include "common/rules.h"
#include "persist/load.h"
#include "persist/table.h"

extern MANTIS_PRIVATE int64 write_dead_rows(KnownTable *kt, const char *clock, uint64 horizon,
											MemoryContext cxt, List **inserted,
											uint64 *records);
extern MANTIS_PRIVATE int64 write_bounds_row(KnownTable *kt, const char *clock, uint64 horizon,
											 MemoryContext cxt, List **inserted);
extern MANTIS_PRIVATE void dead_rows_abort(void);
extern MANTIS_PRIVATE void dead_rows_committed(void);
extern MANTIS_PRIVATE void dead_load_begin(LoadState *st);
extern MANTIS_PRIVATE void gather_bound(void *arg, uint32_t leaf, const MantisLeafBound *b);
extern MANTIS_PRIVATE bool dead_load_folds(LoadState *st, uint64 hash, uint64 ts, uint64 node,
										   bool dead);
extern MANTIS_PRIVATE void load_dead(void *arg, const MantisRecordView *rec);
extern MANTIS_PRIVATE void load_bound(void *arg, uint32_t leaf, const MantisLeafBound *b);
extern MANTIS_PRIVATE void log_load_dead(const KnownTable *kt, const LoadState *st);

#endif							/* MANTIS_PERSIST_DEAD_ROWS_H */
