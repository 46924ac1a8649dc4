/*-------------------------------------------------------------------------
 * persist/status.h
 *	  The worker's side of its status and requests in shared memory
 *	  (persist/status.c): what only persist/worker.c calls.  Everyone else
 *	  calls persist/worker.h.
 *
 * IDENTIFICATION	src/persist/status.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_STATUS_H
#define MANTIS_PERSIST_STATUS_H

#include "mantis.h"
#include "persist/persist.h"
#include "persist/worker.h"

extern MANTIS_PRIVATE void status_publish(void);
extern MANTIS_PRIVATE int status_connect_attempt(void);
extern MANTIS_PRIVATE void status_connected(void);
extern MANTIS_PRIVATE void status_set_state(MantisPersistState state,
											uint64 held_back, int64 own_rows);
extern MANTIS_PRIVATE void status_note_flush(bool ok, const MantisFlushResult *result,
											 TimestampTz now, const char *message,
											 uint64 held_back, int64 own_rows);
extern MANTIS_PRIVATE uint64 status_flush_requested(void);
extern MANTIS_PRIVATE void status_serve_flush(uint64 requested, bool ok,
											  uint64 written, const char *message);

#endif							/* MANTIS_PERSIST_STATUS_H */
