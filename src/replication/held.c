/*-------------------------------------------------------------------------
 * replication/held.c
 *	  The leaves whose registers a peer refused before, held back from the
 *	  repair rounds a while (replication/repair.c sends the rest).
 *
 * Registers a peer refused are not sent again every round.  A peer with
 * our limits can still refuse registers (its store is full, or its clock
 * is far behind the registers' HLCs), and then the digests of their leaves
 * stay different and every round would send the same registers again.  So
 * each peer remembers the leaves whose registers it sent in a repair, with
 * our leaf digest and the peer's at that time (HELD_SETS x HELD_WAYS
 * leaves; a leaf's set is the leaf modulo HELD_SETS, and its least
 * recently used entry makes room).  When a leaf comes up again with both
 * digests unchanged, the peer took none of them: its registers are held
 * (counted in repair_held) for 1 occasion, then sent again, then held for
 * 2, 4 ... up to HELD_MAX_BACKOFF occasions - an occasion being each repair
 * round, ours or the peer's, that finds the leaf different.  A change of
 * either digest, or a new incarnation of the peer (a restart, say with a
 * larger store), starts over.
 *
 * Runs in the replication worker.  Locking: none.
 *
 * IDENTIFICATION	src/replication/held.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mantis.h"
#include "replication/held.h"
#include "replication/repair.h"

#define HELD_MAX_BACKOFF		64	/* most occasions a leaf is held */

StaticAssertDecl(MANTIS_LEAVES <= 65536, "HeldLeaf.leaf is a uint16");

static uint32 held_clock = 0;

/* The entry of a leaf in a peer's table, or NULL */
static HeldLeaf *
held_find(Peer *peer, int leaf)
{
	HeldLeaf   *set = &peer->repair.held[(leaf % HELD_SETS) * HELD_WAYS];

	for (int w = 0; w < HELD_WAYS; w++)
	{
		if (set[w].backoff != 0 && set[w].leaf == leaf)
			return &set[w];
	}
	return NULL;
}

/* A place for a leaf: a free one of its set, else the least recently used */
static HeldLeaf *
held_place(Peer *peer, int leaf)
{
	HeldLeaf   *set = &peer->repair.held[(leaf % HELD_SETS) * HELD_WAYS];
	HeldLeaf   *victim = &set[0];

	for (int w = 0; w < HELD_WAYS; w++)
	{
		if (set[w].backoff == 0)
			return &set[w];
		if (held_clock - set[w].used_at > held_clock - victim->used_at)
			victim = &set[w];
	}
	return victim;
}

/*
 * Whether to hold back the registers of a leaf that differs: we sent them
 * before, from the same leaf digests on both sides as now, so the peer took
 * none of them, and the backoff has not run out.  Counts what is held.
 */
bool
mantis_held_skip(Peer *peer, int leaf, uint64 ours, uint64 theirs)
{
	HeldLeaf   *h = held_find(peer, leaf);

	if (h == NULL || h->ours != ours || h->theirs != theirs || h->skip == 0)
		return false;
	h->skip--;
	h->used_at = ++held_clock;
	mantis_peer_counters(peer)->held += h->count;
	return true;
}

/* We are sending "count" registers of a leaf: note it, with both digests. */
void
mantis_held_note(Peer *peer, int leaf, uint64 ours, uint64 theirs, int count)
{
	HeldLeaf   *h = held_find(peer, leaf);

	if (h && h->ours == ours && h->theirs == theirs)
	{
		/* sent again after being held: if refused again, hold twice as long */
		h->skip = h->backoff;
		h->backoff = Min(h->backoff * 2, HELD_MAX_BACKOFF);
	}
	else
	{
		if (h == NULL)
			h = held_place(peer, leaf);
		h->leaf = (uint16) leaf;
		h->ours = ours;
		h->theirs = theirs;
		h->skip = 1;
		h->backoff = 2;
	}
	h->count = (uint32) count;
	h->used_at = ++held_clock;
}

/* A new incarnation of the peer (a restart, maybe with room) starts afresh. */
void
mantis_repair_note_incarnation(Peer *peer, uint64 incarnation)
{
	if (peer == NULL || peer->repair.held_incarnation == incarnation)
		return;
	memset(peer->repair.held, 0, sizeof(peer->repair.held));
	peer->repair.held_incarnation = incarnation;
}
