/*-------------------------------------------------------------------------
 * persist/retry.h
 *	  When the worker retries the rows that hold registers back for lack of
 *	  room (persist/retry.c): persist/load.c notes what it held back and
 *	  the room free then; the worker (persist/persist.h) asks whether room
 *	  has been freed for them since.
 *
 * Only persist/load.c (through persist/load.h) includes this header.
 * What is declared here is MANTIS_PRIVATE (mantis.h).
 *
 * IDENTIFICATION	src/persist/retry.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_RETRY_H
#define MANTIS_PERSIST_RETRY_H

#include "mantis.h"

/* What a load or a retry held back for lack of room */
typedef struct HeldForRoom
{
	uint64		keys;			/* registers refused for mantis.max_keys */
	uint64		memory;			/* ... for mantis.store_memory */
	uint64		least_bytes;	/* the least key and value of those (0: none) */
} HeldForRoom;

extern MANTIS_PRIVATE void held_for_room_add(HeldForRoom *h, bool no_keys,
											 uint64 bytes);
extern MANTIS_PRIVATE void retry_note_held(const HeldForRoom *h, bool retried);

#endif							/* MANTIS_PERSIST_RETRY_H */
