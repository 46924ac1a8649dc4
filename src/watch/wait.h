/*-------------------------------------------------------------------------
 * watch/wait.h
 *	  Waiting for changes (watch/wait.c) and the worker that wakes the
 *	  waiters (watch/worker.c).
 *
 * IDENTIFICATION	src/watch/wait.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_WAIT_H
#define MANTIS_WAIT_H

#include "watch/feed.h"

extern void mantis_wait_changes(const MantisCursor *since, const char *prefix,
								uint32 prefix_len, int64 timeout_ms,
								MantisFeedAnswer *out);

/* the watch worker's entry point (watch/worker.c) */
extern PGDLLEXPORT void mantis_watch_main(Datum arg);

#endif							/* MANTIS_WAIT_H */
