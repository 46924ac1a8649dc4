/*-------------------------------------------------------------------------
 * watch/feed.h
 *	  The change feed: cursors, and what changed after one
 *	  (watch/feed.c, watch/cursor.c).
 *
 * IDENTIFICATION	src/watch/feed.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_FEED_H
#define MANTIS_FEED_H

#include "mantis.h"
#include "common/hlc.h"

/*
 * A cursor: "every change this server applied through seq of run, and
 * every write of any member through held_ts, has been returned".
 */
typedef struct MantisCursor
{
	uint64		node;			/* the server that gave it */
	uint64		run;			/* its change log's run (store/changes.c) */
	uint64		seq;			/* the last entry of that log returned */
	uint64		held_ts;		/* it held every member's writes through this */
} MantisCursor;

/* One row of an answer */
typedef struct MantisFeedRow
{
	MantisRecord rec;			/* key, value (none if dead), HLC, expiry */
	bool		dead;			/* deleted, or expired */
} MantisFeedRow;

typedef struct MantisFeedAnswer
{
	MantisCursor next;			/* the cursor to pass next time */
	int			n;
	MantisFeedRow *rows;		/* palloc'd */
} MantisFeedAnswer;

/* watch/cursor.c */
extern void mantis_cursor_now(MantisCursor *c);
extern char *mantis_cursor_to_text(const MantisCursor *c);
extern void mantis_cursor_parse(const char *text, MantisCursor *c);

/* watch/feed.c */
extern void mantis_feed_changes(const MantisCursor *since, const char *prefix,
								uint32 prefix_len, MantisFeedAnswer *out);

#endif							/* MANTIS_FEED_H */
