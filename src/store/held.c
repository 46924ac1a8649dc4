/*-------------------------------------------------------------------------
 * store/held.c
 *	  The registers the rows of mantis_stores hold back, in shared memory:
 *	  the persistence worker publishes them (persist/heldset.c), the
 *	  replication worker reads them when the full store refuses a peer's
 *	  register (replication/live.c); and the records of dead registers
 *	  they hold back (R7, no room under mantis.max_dead_records), which a
 *	  peer's register or tombstone of their hash is checked against
 *	  (mantis_held_dead(): store/dead.c).
 *
 * A peer's register refused for room (no key slot, no memory) is a hole
 * (R5 of common/rules.h): something the peer holds and we do not.  Not
 * when our own rows hold back that very register (its key, its HLC): it
 * merges from our rows, which refuse nothing, and is durable there, so the
 * peer holds nothing of that key we lack; and our rows' load hole keeps
 * the refusal horizon we announce below it, so no peer adopts it away.  A
 * peer's older copy of a key we hold back newer stays a hole: nothing
 * else would keep the announced horizon below it, the peer would adopt
 * its copy away, and the key would read as absent everywhere until our
 * newer one left the rows - for registers held back for their size or a
 * clock far ahead, until an operator raises a limit
 * (test/t/045_held_for_size_covers.pl).  Comparing the HLC, not only the
 * key's hash, also makes a collision of two keys' hashes all but
 * harmless (their registers would need one HLC too).  Without this, a
 * server restarted with lower limits refused its peers' copies of the very
 * keys it held back, in every repair round, acknowledged nothing of them,
 * and collection stopped on every server.
 *
 * One entry per key held back: its hash and the greatest HLC held back
 * for it, sorted by hash.  Bounded: mantis.max_keys entries, at least
 * HELD_MIN_ENTRIES and at most HELD_MAX_ENTRIES, 32 bytes each (3.2 MB at
 * the default max_keys).  Past the bound the set published is a part of
 * what the rows hold back (the keys of the least hashes), and a refusal of
 * a key left out is a hole, as before: sound, but while such a hole stays
 * open the server acknowledges nothing of that peer (the persistence
 * worker logs it).  The sweep keeps reading the persistence worker's whole
 * set (store/collect.c), which has no bound: it must never miss a key.
 *
 * Locking: a seqlock, no lock taken.  The persistence worker alone writes:
 * it makes the count odd, writes the entries, makes it even.  A reader
 * searches, and starts over if the count was odd or has changed; after
 * HELD_READ_TRIES it answers "not covered" (a hole, always sound).  An
 * entry read torn is never used: its search is started over.
 *
 * IDENTIFICATION	src/store/held.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"

#include "mantis.h"
#include "guc.h"
#include "common/hlc.h"
#include "common/keyhash.h"
#include "store/held.h"

#define HELD_MIN_ENTRIES	16384
#define HELD_MAX_ENTRIES	(4 * 1024 * 1024)
#define HELD_READ_TRIES		1000

typedef struct HeldShared
{
	pg_atomic_uint32 seq;		/* odd while the entries change */
	int			capacity;
	int			n;
	MantisHeldRegister keys[FLEXIBLE_ARRAY_MEMBER];
} HeldShared;

static HeldShared *held_shared = NULL;

static int
held_capacity(void)
{
	return Min(Max(mantis_max_keys, HELD_MIN_ENTRIES), HELD_MAX_ENTRIES);
}

Size
mantis_held_shmem_size(void)
{
	return add_size(offsetof(HeldShared, keys),
					mul_size(sizeof(MantisHeldRegister), held_capacity()));
}

void
mantis_held_shmem_init(void *place, bool found)
{
	held_shared = (HeldShared *) place;
	if (found)
		return;
	pg_atomic_init_u32(&held_shared->seq, 0);
	held_shared->capacity = held_capacity();
	held_shared->n = 0;
}

/*
 * Publish the registers held back: "regs" sorted by key hash, then HLC,
 * maybe several of a key (its greatest is kept).  Returns how many keys
 * were left out for the bound.  The persistence worker alone calls this.
 */
int
mantis_held_publish(const MantisHeldRegister *regs, int n)
{
	volatile HeldShared *h = held_shared;
	int			kept = 0;
	int			left_out = 0;

	pg_atomic_fetch_add_u32(&held_shared->seq, 1);	/* odd: a full barrier */
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && regs[i + 1].hash == regs[i].hash)
			continue;			/* not the greatest of its key */
		if (kept == held_shared->capacity)
		{
			left_out++;
			continue;
		}
		h->keys[kept].hash = regs[i].hash;
		h->keys[kept].ts = regs[i].ts;
		h->keys[kept].node = regs[i].node;
		h->keys[kept].dead = regs[i].dead;
		kept++;
	}
	h->n = kept;
	pg_atomic_fetch_add_u32(&held_shared->seq, 1);	/* even again */
	return left_out;
}

/*
 * One search; *hlc the greatest HLC held back for the key, if any, and
 * *dead whether that is a record's
 */
static bool
held_find(uint64 hash, MantisHLC *hlc, bool *dead)
{
	volatile HeldShared *h = held_shared;
	int			lo = 0;
	int			hi = Min(Max(h->n, 0), held_shared->capacity);

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		uint64		at = h->keys[mid].hash;

		if (at == hash)
		{
			hlc->ts = h->keys[mid].ts;
			hlc->node = h->keys[mid].node;
			*dead = h->keys[mid].dead;
			return true;
		}
		if (at < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * The greatest register held back of a key's hash, read under the seqlock;
 * false if none (or no steady read).
 */
static bool
held_read(uint64 hash, MantisHLC *hlc, bool *dead)
{
	for (int tries = 0; tries < HELD_READ_TRIES; tries++)
	{
		uint32		before = pg_atomic_read_u32(&held_shared->seq);
		bool		found;

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		found = held_find(hash, hlc, dead);
		pg_read_barrier();
		if (pg_atomic_read_u32(&held_shared->seq) != before)
			continue;
		return found;
	}
	return false;
}

/*
 * Whether our rows hold back rec itself (the greatest register held back
 * of its key has rec's HLC): it will merge from our rows.
 */
bool
mantis_held_covers(const MantisRecord *rec)
{
	MantisHLC	held;
	bool		dead;

	return held_read(mantis_hash(rec->key, rec->key_len), &held, &dead) &&
		mantis_hlc_cmp(&held, &rec->hlc) == 0;
}

/*
 * Whether the greatest thing our rows hold back of a hash is a record of
 * a dead register (held back at load for want of room under
 * mantis.max_dead_records), and its HLC.  Such a record refuses what it
 * would refuse were it loaded (store/write.c, store/dead.c): without this
 * a peer's older copy of the deleted key was taken and served, with no
 * end while the record stayed held back (TAP 058, 060).
 */
bool
mantis_held_dead(uint64 hash, MantisHLC *hlc)
{
	bool		dead = false;

	return held_read(hash, hlc, &dead) && dead;
}
