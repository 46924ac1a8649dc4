/*-------------------------------------------------------------------------
 * log_limit.c
 *	  Logging a recurring problem at most once a minute.
 *
 * A worker that retries something failing (a flush, a peer sending junk)
 * would otherwise write the same line many times a second.  The problems
 * are counted where they happen (mantis_status, mantis_peers); this only
 * decides whether to log one now.  A problem is "who" (a peer, or NULL)
 * with "what" (a message or its format); the last LOGGED_SLOTS problems
 * are remembered, by a hash of the text, per process.
 *
 * IDENTIFICATION	src/log_limit.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "log_limit.h"
#include "common/keyhash.h"

#define LOGGED_SLOTS 64

static struct
{
	const void *who;
	uint64		what;
	TimestampTz at;
}			logged[LOGGED_SLOTS];

/*
 * Whether to log problem (who, what) now: not if it was logged less than
 * MANTIS_LOG_REPEAT_MS ago.  A yes counts as logging it.
 */
bool
mantis_log_due(const void *who, const char *what)
{
	uint64		hash = mantis_hash(what, strlen(what));
	TimestampTz now = GetCurrentTimestamp();
	int			oldest = 0;

	for (int i = 0; i < LOGGED_SLOTS; i++)
	{
		if (logged[i].at != 0 && logged[i].who == who && logged[i].what == hash)
		{
			if (!TimestampDifferenceExceeds(logged[i].at, now, MANTIS_LOG_REPEAT_MS))
				return false;
			logged[i].at = now;
			return true;
		}
		if (logged[i].at < logged[oldest].at)
			oldest = i;
	}
	logged[oldest].who = who;
	logged[oldest].what = hash;
	logged[oldest].at = now;
	return true;
}
