/*-------------------------------------------------------------------------
 * persist/heldset.h
 *	  The held set: the registers the rows of mantis_stores hold back, in
 *	  the persistence worker's memory (persist/heldset.c).
 *
 * Only persist/load.c and persist/table.c include this header.
 *
 * IDENTIFICATION	src/persist/heldset.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_HELDSET_H
#define MANTIS_PERSIST_HELDSET_H

#include "mantis.h"
#include "common/hlc.h"
#include "common/rules.h"

extern MANTIS_PRIVATE void held_add(const MantisRecord *rec);
extern MANTIS_PRIVATE void held_add_dead(const MantisRecordView *rec);
extern MANTIS_PRIVATE void held_sort(void);
extern MANTIS_PRIVATE int held_count(void);
extern MANTIS_PRIVATE bool held_contains(int n, const MantisRecord *rec);
extern MANTIS_PRIVATE void held_rebuilt(int merged);
extern MANTIS_PRIVATE void held_lost(void);
extern MANTIS_PRIVATE void held_publish(bool none);

#endif							/* MANTIS_PERSIST_HELDSET_H */
