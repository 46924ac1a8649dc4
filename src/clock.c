/*-------------------------------------------------------------------------
 * clock.c
 *	  This server's hybrid logical clock, shared by every backend and the
 *	  workers, and the workers' arithmetic of wall-clock time.
 *
 * The clock is one 64-bit atomic in shared memory holding the greatest HLC
 * time ("ms << 16 | logical") this server has issued or witnessed.  Issuing is
 * a compare-and-swap loop over mantis_hlc_next() (common/hlc.c), so it never
 * blocks and is strictly increasing across all processes of the server.
 * Witnessing a remote or reloaded clock only moves the value forward, which is
 * what makes a later local write beat every register already stored.
 *
 * Locking: none; atomics only.  Callable under any LWLock (locks.h).
 *
 * IDENTIFICATION	src/clock.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/time.h>
#include <time.h>

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "port/atomics.h"

#include "clock.h"
#include "guc.h"
#include "nodes.h"

/* greatest HLC time issued or witnessed here */
static pg_atomic_uint64 *shared_clock = NULL;

Size
mantis_clock_shmem_size(void)
{
	return sizeof(pg_atomic_uint64);
}

void
mantis_clock_shmem_init(void *place, bool found)
{
	shared_clock = (pg_atomic_uint64 *) place;
	if (!found)
		pg_atomic_init_u64(shared_clock, 0);
}

/*
 * Wall-clock Unix time in milliseconds, shifted by mantis.debug_clock_offset
 * (0 outside tests, which use it to play a server with a wrong clock).
 */
uint64
mantis_clock_wall_ms(void)
{
	struct timeval tv;
	int64		ms;

	gettimeofday(&tv, NULL);
	ms = (int64) tv.tv_sec * 1000 + tv.tv_usec / 1000 + mantis_debug_clock_offset_ms;
	return ms > 0 ? (uint64) ms : 0;
}

/*
 * Milliseconds on a clock that no setting of the wall clock moves (nor
 * mantis.debug_clock_offset), never 0: for waits that a clock set ahead
 * must not cut short, and for the time passed since a peer's clock was
 * read (replication/horizon.c, replication/peer_clock.c).
 */
uint64
mantis_clock_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000 + (uint64) ts.tv_nsec / 1000000 + 1;
}

/*
 * A new HLC for a local write: greater than every HLC issued or witnessed
 * by this server before.
 */
MantisHLC
mantis_clock_now(void)
{
	MantisHLC	hlc;
	uint64		now_ms = mantis_clock_wall_ms();
	uint64		last = pg_atomic_read_u64(shared_clock);
	uint64		next;

	for (;;)
	{
		next = mantis_hlc_next(last, now_ms);
		if (pg_atomic_compare_exchange_u64(shared_clock, &last, next))
			break;
		/* "last" now holds the value another process installed; retry */
	}

	hlc.ts = next;
	hlc.node = mantis_self_node_id();
	return hlc;
}

/*
 * Move the clock forward to at least "ts" (a register merged from a peer or
 * from mantis_stores), so that the next local write is newer than it.
 * Bounding how far ahead a peer may push us is the caller's job.
 */
void
mantis_clock_witness(uint64 ts)
{
	uint64		last = pg_atomic_read_u64(shared_clock);

	while (last < ts)
	{
		if (pg_atomic_compare_exchange_u64(shared_clock, &last, ts))
			break;
	}
}

/*
 * The clock as it would read now, without issuing anything: what this
 * server tells its peers in every message.
 */
uint64
mantis_clock_peek(void)
{
	uint64		last = pg_atomic_read_u64(shared_clock);
	uint64		wall = mantis_hlc_pack(Min(mantis_clock_wall_ms(), MANTIS_HLC_MAX_MS), 0);

	return Max(last, wall);
}

/* The text form of an HLC (common/hlc.c), as a SQL text value. */
text *
mantis_clock_hlc_text(const MantisHLC *hlc)
{
	static MantisHLCTextCache cache;	/* every write returns its HLC */
	char		buf[MANTIS_HLC_TEXT_SIZE];
	size_t		len = mantis_hlc_format_cached(hlc, buf, &cache);

	return cstring_to_text_with_len(buf, (int) len);
}

/*
 * Milliseconds from now until "wake", rounded up so that a worker sleeping
 * that long finds it due; 0 if it is due already.
 */
long
mantis_clock_ms_until(TimestampTz wake)
{
	TimestampTz now = GetCurrentTimestamp();

	if (wake <= now)
		return 0;
	return (long) ((wake - now + 999) / 1000);
}
