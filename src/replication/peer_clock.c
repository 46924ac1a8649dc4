/*-------------------------------------------------------------------------
 * replication/peer_clock.c
 *	  What our peers' frames say of their clocks: the least clock among our
 *	  members, which bounds what the lifetime collects, and a warning when
 *	  ours is ahead of a member's by more than mantis.max_clock_offset.
 *
 * Every frame carries its sender's clock as it read when sending (the
 * greater of its HLC and its wall clock).  We keep the last reading of each
 * peer with the time we took it on a monotonic clock, so that its clock now
 * is estimated as that reading plus the time passed since: right when our
 * own wall clock jumps (it is not read), and still usable while the peer is
 * silent (its clock goes on at the pace of ours).  Peers of protocol 3
 * count too: their frames carry their clocks the same way.  The peer table
 * starts empty with each run: only members heard from in this run count,
 * and a restart collects nothing by lifetime before it has caught up with
 * one (replication/horizon.c).  A server that has heard from none (alone
 * for a lifetime since its start, or listing no peer) has only its own
 * clock: the price of common/rules.h.
 *
 * The lifetime is measured on the least of these clocks and ours (the rule
 * R3 of common/rules.h, mantis_rules_lifetime_bound()): what the lifetime
 * collects raises our refusal horizon (R4), which must stay behind every
 * member's clock.  A clock of ours ahead of the members' by more than the
 * lifetime, measured alone, would collect registers of the real future;
 * once put right, we would refuse the members' next writes below that
 * horizon as collected, and announce it, for them to adopt those writes
 * away.  Acknowledgements need no such bound: a member acknowledges HLCs
 * its own clock issued, never past it.
 *
 * IDENTIFICATION	src/replication/peer_clock.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/hlc.h"
#include "common/rules.h"
#include "replication/peer_clock.h"

/*
 * A frame of a peer carried its clock, hlc (replication/protocol.c): its
 * offset from our wall clock for mantis_peers, and the reading for
 * mantis_peer_clocks_least().
 */
void
mantis_peer_clock_heard(Peer *peer, uint64 hlc)
{
	peer->offset_known = true;
	peer->offset_ms = (int64) mantis_hlc_ms(hlc) - (int64) mantis_clock_wall_ms();
	peer->clock.read_ms = mantis_hlc_ms(hlc);
	peer->clock.read_at = mantis_clock_monotonic_ms();
}

/*
 * Warn, once each time it starts, that our clock (ours_ms) is ahead of a
 * member's (its_ms) by more than mantis.max_clock_offset; say when it ends.
 */
static void
note_ahead(Peer *peer, uint64 ours_ms, uint64 its_ms)
{
	bool		ahead = mantis_rules_clock_ahead(ours_ms, its_ms,
												 (uint64) mantis_max_clock_offset_ms);

	if (ahead && !peer->clock.ahead)
		mantis_peer_problem(peer, WARNING,
							"the clock of this server is %llu ms ahead of %s's, past \"mantis.max_clock_offset\" (%d ms): %s refuses our writes as skewed until its clock catches up, and \"mantis.tombstone_lifetime\" collects here only what is dead that long by its clock",
							(unsigned long long) (ours_ms - its_ms), mantis_peer_label(peer),
							mantis_max_clock_offset_ms, mantis_peer_label(peer));
	else if (!ahead && peer->clock.ahead)
		ereport(LOG,
				(errmsg("mantis: the clock of this server is no longer ahead of %s's",
						mantis_peer_label(peer))));
	peer->clock.ahead = ahead;
}

/*
 * The least clock among the members heard from in this run, in ms, as it
 * reads now by estimate; UINT64_MAX if none was heard.  Warns of a member
 * whose clock ours is ahead of (note_ahead()).
 */
uint64
mantis_peer_clocks_least(void)
{
	uint64		least = UINT64_MAX;
	uint64		mono = mantis_clock_monotonic_ms();
	uint64		ours_ms = mantis_hlc_ms(mantis_clock_peek());	/* >= our wall clock */

	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];
		uint64		its_ms;

		if (!mantis_peer_counts_as_member(peer) || !peer->offset_known)
			continue;
		its_ms = peer->clock.read_ms + (mono - Min(mono, peer->clock.read_at));
		least = Min(least, its_ms);
		note_ahead(peer, ours_ms, its_ms);
	}
	return least;
}
