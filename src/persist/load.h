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

#include "persist/table.h"

extern MANTIS_PRIVATE bool follow_table(KnownTable *kt);
extern MANTIS_PRIVATE void retry_held_back(KnownTable *kt);

#endif							/* MANTIS_PERSIST_LOAD_H */
