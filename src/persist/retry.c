/*-------------------------------------------------------------------------
 * persist/retry.c
 *	  When the worker retries the rows of mantis_stores that hold registers
 *	  back for lack of room: soon after room is freed for some of them, and
 *	  at most once every RETRY_INTERVAL_MS.
 *
 * A register a row could not merge for lack of room (mantis.max_keys or
 * mantis.store_memory) comes back at a retry of the held rows
 * (persist/load.c), which only a compaction makes (persist/flush.c): in
 * its transaction the retry rewrites each row that gave something to hold
 * only what it still holds back.  A compaction that comes only when due
 * may never come to a store that is not busy: its rows would hold back for
 * ever with the room there, and (the rule R5 of common/rules.h) the dead
 * registers of their keys would wait for them, and the refusal horizon we
 * announce stay below them.  So each load or retry that holds registers
 * back for room notes here how many, for which room, and the room free
 * then; the worker asks for a compaction (mantis_persist_retry_due()) once
 * more of that room is free than then:
 *	- a register held back for mantis.max_keys needs a key's slot: due once
 *	  more slots are free than after the last load or retry (dead registers
 *	  collected, registers adopted away);
 *	- one held back for mantis.store_memory needs memory: due once at least
 *	  the key and value of the smallest of them has been freed since.
 *	  (Memory also frees as values are overwritten by shorter ones: any
 *	  byte freed would ask at almost every write; and the allocator may
 *	  fail with bytes free, so "enough free" would ask while none frees.)
 * What a retry merged filled the store again, or it holds nothing back for
 * room any more: a store that stays full never asks.  One that frees room
 * and fills it again (keys expiring as fast as others are written) may ask
 * at every sweep; each retry gives back what fits, but writes every
 * register, so retries are RETRY_INTERVAL_MS apart at least, counted from
 * the last compaction of any kind.  No limit is reloaded (guc.c): room
 * comes back only as it is freed.  Registers held back for their size,
 * their encoding or a clock far ahead wait for a compaction due anyway, or
 * a restart.
 *
 * The state is the persistence worker's own (file statics, like the held
 * set of persist/load.c): no other process reads it.
 *
 * IDENTIFICATION	src/persist/retry.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "store/store.h"
#include "persist/persist.h"
#include "persist/retry.h"

/*
 * The least time between two retries asked for room: a retry is a
 * compaction, which writes every register (about 35 ms per 100,000 of
 * them on 2 cores, 2026-12), so a store that frees and fills room all the
 * time spends about 1% of the worker's time on them per 100,000
 * registers; yet room freed after a quiet while is retried at once.
 */
#define RETRY_INTERVAL_MS	5000

static struct
{
	HeldForRoom held;			/* held back for room since the last retry */
	uint64		free_keys;		/* the room free when that was noted */
	uint64		free_bytes;
	TimestampTz last_retry;		/* of the last compaction, 0: none yet */
}			room;

/* The room free in the store now */
static void
room_free(uint64 *keys, uint64 *bytes)
{
	MantisStoreStats s;

	mantis_store_stats(&s);
	*keys = s.registers < (uint64) mantis_max_keys ? (uint64) mantis_max_keys - s.registers : 0;
	*bytes = s.bytes_used < s.bytes_total ? s.bytes_total - s.bytes_used : 0;
}

/* Count a register held back for lack of room: a key's slot, or memory */
void
held_for_room_add(HeldForRoom *h, bool no_keys, uint64 bytes)
{
	if (no_keys)
		h->keys++;
	else
	{
		h->memory++;
		if (h->least_bytes == 0 || bytes < h->least_bytes)
			h->least_bytes = Max(bytes, 1);
	}
}

/*
 * A load of rows not known before, or a retry of every held row ("retried":
 * a compaction's), held "h" back for room: note it with the room free now.
 * A retry replaces what was noted; a load adds to it.
 */
void
retry_note_held(const HeldForRoom *h, bool retried)
{
	if (retried)
	{
		memset(&room.held, 0, sizeof(room.held));
		room.last_retry = GetCurrentTimestamp();
	}
	room.held.keys += h->keys;
	room.held.memory += h->memory;
	if (h->least_bytes != 0 &&
		(room.held.least_bytes == 0 || h->least_bytes < room.held.least_bytes))
		room.held.least_bytes = h->least_bytes;
	room_free(&room.free_keys, &room.free_bytes);
}

/*
 * Whether the rows hold registers back for room and room has been freed
 * for them since the last load or retry: then the worker asks for a
 * compaction, which retries them.  When room was freed but the last
 * retry is too recent, *wake is when to ask again (else 0).
 */
bool
mantis_persist_retry_due(TimestampTz now, TimestampTz *wake)
{
	uint64		keys;
	uint64		bytes;
	TimestampTz allowed;

	*wake = 0;
	if (room.held.keys == 0 && room.held.memory == 0)
		return false;
	room_free(&keys, &bytes);
	if (!(room.held.keys > 0 && keys > room.free_keys) &&
		!(room.held.memory > 0 && bytes >= room.free_bytes + room.held.least_bytes))
		return false;
	allowed = TimestampTzPlusMilliseconds(room.last_retry, RETRY_INTERVAL_MS);
	if (room.last_retry != 0 && now < allowed)
	{
		*wake = allowed;
		return false;
	}
	return true;
}
