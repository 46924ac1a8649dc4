/*-------------------------------------------------------------------------
 * replication/horizon.c
 *	  Acknowledgements between peers, and the collection horizon: the HLC
 *	  through which every server is known to hold every write.
 *
 * A deletion marker, or an expired register, may be removed from the store
 * ("collected") once every server holds it or something newer for its key:
 * then no server can ever send an older register of that key again, and
 * nothing can come back.  This file works out how far that is known.
 *
 * Watermarks.  Our live frames (replication/live.c) carry a sequence number
 * each, and the last frame of each batch a watermark W: every write made here
 * with an HLC <= W is in that frame or an earlier one.  A peer that received
 * every frame through one with watermark W, and merged all of it, holds every
 * write of ours through W ("in_held" on its side).  A frame that is missing
 * (dropped when its queue overflowed, lost with a connection, or taken while
 * the peer was away), or a register it could not store, breaks the chain; it
 * is mended by a repair round the peer pulls from us: our answer to its
 * SUMMARY carries our live mark (sequence and watermark) as of the digests it
 * compares, so once the round completes with everything merged, it holds our
 * writes through that mark, and the frames after it continue the chain.
 *
 * Acknowledgements travel in the greetings each peer sends every second,
 * and at once when its "acked" or "stable" for the peer it goes to has
 * changed (replication/news.c): "acked" is what the sender holds of the addressee's writes; "stable" is
 * the least "acked" the sender has from its members (every one of them
 * holds the sender's writes through it); "collected" is the sender's
 * refusal horizon (below).  The collection horizon here is the least
 * "stable" of us and of every member: every server holds every write
 * through it, from whichever server it came.  That is true only while
 * every member counts the same members (the rules R1 and R2 of
 * common/rules.h): each greeting of protocol 4 carries the digest of the
 * sender's member set, and the horizon rises only while every member speaks
 * protocol 4, has greeted us in this run and reports our digest.  Otherwise
 * (a hub that others list alone, a peer listed on one side only, a member
 * that has not answered, a rolling upgrade in progress) only the lifetime
 * collects, and mantis_status says why.  The horizon is published to shared
 * memory for the sweep (store/sweep.c), never lowered while the worker runs.
 * To peers of protocol 3, whose rules have no agreement, we acknowledge
 * nothing: they collect by lifetime too until every server is upgraded.
 *
 * The refusal horizon.  Whatever is collected - by the horizon, by the
 * lifetime (a marker dead longer than mantis.tombstone_lifetime, so that
 * markers do not pile up while a peer stays away), or adopted away from a
 * peer's answer (replication/repair.c; raised by the persistence worker
 * once the compaction that drops it has committed, persist/flush.c) -
 * raises it to the register's HLC (the rule R4).  It is persisted with the store (persist/flush.c), and a
 * register from a peer for a key we hold nothing of, at or below it, is
 * refused as a copy of something collected here (store/write.c).  Peers
 * learn it from our greetings ("collected"), and drop what they hold at or
 * below it that we do not: so a server back from a long absence, removed
 * from mantis.peers and put back, restored from a backup or promoted from a
 * lagging standby gives up what the others collected, rather than bringing
 * it back.  A register we refused for room, limits or skew is a hole (R5):
 * the lifetime collects nothing at or above the least hole, so that the
 * refusal horizon never covers a register that was refused, not collected.
 * A server collects nothing by lifetime until a lifetime after it first
 * caught up with a peer (see mantis_horizon_tick()), so that it never
 * refuses the old keys of its first full transfer; and then only what is
 * dead a lifetime by the least clock among ours and the members' we heard
 * in this run (replication/peer_clock.c), so that a clock of ours run ahead
 * never raises the refusal horizon past theirs (R3).
 *
 * A server that only accepts connections (lists no peers) runs no repair
 * rounds, so it can never mend the live streams it receives, never
 * acknowledges them, and holds the collection horizon of the whole cluster
 * at 0: collection by acknowledgement needs every server to list every
 * other in mantis.peers, as the README's setup does.  Markers then wait for
 * the lifetime.
 *
 * IDENTIFICATION	src/replication/horizon.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/hlc.h"
#include "common/rules.h"
#include "store/changes.h"
#include "store/collect.h"
#include "store/store.h"
#include "replication/horizon.h"
#include "replication/live.h"
#include "replication/news.h"
#include "replication/peer_clock.h"
#include "replication/peers.h"

/* the collection horizon published last, and whether lifetime may collect */
static uint64 published_stable = 0;
static int	published_mode = -1;	/* the MantisCollectMode logged last */

/* when this run started, and first caught up: monotonic ms (see the tick) */
static uint64 caught_up_ms = 0;
static uint64 started_ms = 0;

static inline bool
seq_after(uint32 a, uint32 b)
{
	return (int32) (a - b) > 0;
}

/* Our member set as the rules see it (R1 of common/rules.h) */
typedef struct Members
{
	int			n;				/* peers that count */
	MantisMemberView views[MANTIS_MAX_PEERS];
	const Peer *peers[MANTIS_MAX_PEERS];
	uint64		digest;			/* of the set with us in it, 0: not known */
} Members;

static void gather_members(Members *m);

/*
 * Publish what we hold of each peer's writes for the change feed's cursor
 * and mantis_wait_for() (store/changes.c).  A peer not identified yet
 * counts as holding nothing; an alias of ourselves not at all.  And
 * whether each reports our member set: only then may a cursor of its be
 * answered here by a scan (watch/feed.c).
 */
static void
publish_held(void)
{
	MantisPeerHeld held[MANTIS_MAX_PEERS];
	int			n = 0;
	Members		m;

	gather_members(&m);
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];

		if (!peer->used)
			continue;
		if (peer->identified && peer->node_id == mantis_self_node_id())
			continue;
		held[n].node = peer->identified ? peer->node_id : 0;
		held[n].held_ts = peer->acks.in_held;
		held[n].same_members = m.digest != 0 && peer->acks.members == m.digest;
		n++;
	}
	mantis_changes_publish_peers_held(held, n);
}

/* A break in a peer's live stream: wait for a repair round to mend it. */
static void
chain_break(PeerAcks *a)
{
	a->in_unbroken = false;
	a->run_valid = false;
}

/*
 * A restart of the sender: its numbering starts over, and so does what we
 * hold of its writes.  Its clock after a crash restart starts from its rows
 * and the wall clock, which may be behind a watermark it sent before: new
 * writes could come below an acknowledgement of the old run, and a horizon
 * raised past them would have them refused as collected (the rule R4).
 * Nothing is acknowledged until a round with the new run completes.
 */
static void
sender_restarted(PeerAcks *a, uint64 incarnation)
{
	a->in_incarnation = incarnation;
	a->in_held = 0;
	a->in_durable = 0;
	a->in_pending = 0;
	/* and what its previous run said: it may have lost what it held then */
	a->acked = 0;
	a->stable = 0;
	chain_break(a);
}

/* While broken: note the frames that do arrive, in one run. */
static void
run_note(PeerAcks *a, const MantisFrame *f)
{
	if (!a->run_valid || f->round != a->run_end + 1)
	{
		a->run_valid = true;
		a->run_start = f->round;
		a->run_watermark = 0;
	}
	a->run_end = f->round;
	if (f->flags & MANTIS_FRAME_BATCH_END)
		a->run_watermark = Max(a->run_watermark, f->watermark);
}

/*
 * A live frame from a peer was merged; "clean" when every register in it
 * was stored or superseded.
 */
static void horizon_on_live(Peer *peer, const MantisFrame *f, bool clean);

void
mantis_horizon_on_live(Peer *peer, const MantisFrame *f, bool clean)
{
	horizon_on_live(peer, f, clean);
	publish_held();
}

static void
horizon_on_live(Peer *peer, const MantisFrame *f, bool clean)
{
	PeerAcks   *a;

	if (peer == NULL)
		return;
	a = &peer->acks;
	if (a->in_incarnation != f->incarnation)
		sender_restarted(a, f->incarnation);
	if (!clean)
	{
		chain_break(a);
		peer->queue.repair_asap = true;
		return;
	}
	if (a->in_unbroken)
	{
		if (!seq_after(f->round, a->in_seq))
			return;				/* covered by a repair round already */
		if (f->round == a->in_seq + 1)
		{
			a->in_seq = f->round;
			if (f->flags & MANTIS_FRAME_BATCH_END)
				a->in_held = Max(a->in_held, f->watermark);
			return;
		}
		chain_break(a);
	}
	/* broken: a round of ours with the peer mends it, the sooner the better */
	peer->queue.repair_asap = true;
	run_note(a, f);
}

/*
 * The peer's refusal horizon, if the run our round is with announced it;
 * else 0, and the round adopts nothing (R6).  Greetings come by two
 * connections, the answers by one: a greeting of its previous run read
 * after the WELCOME of the new one would otherwise have the new run's
 * answers measured against what the previous one held.
 */
static uint64
collected_of_round(const Peer *peer)
{
	if (peer->acks.collected_incarnation != peer->repair.round_incarnation)
		return 0;
	return peer->acks.collected;
}

void
mantis_horizon_round_start(Peer *peer)
{
	peer->acks.round_marked = false;
	peer->acks.round_tainted = false;
	peer->acks.round_held_back = false;
	peer->acks.round_started_at = GetCurrentTimestamp();
	peer->acks.round_collected = collected_of_round(peer);
	peer->acks.round_hole_count = peer->acks.hole_count;
}

/*
 * Registers from a peer were refused for room, limits or clock skew: a hole
 * (the rule R5 of common/rules.h) until a round of ours with the peer, begun
 * after it, merges everything the peer holds.  Until then the lifetime
 * collects nothing at or above it, so our refusal horizon never covers it
 * and no peer adopts it away.
 */
void
mantis_horizon_hole(Peer *peer, uint64 refused_ts)
{
	if (peer == NULL)
	{
		mantis_peers_orphan_hole(refused_ts);	/* from a sender not known */
		mantis_collect_note_hole(refused_ts);
		return;
	}
	peer->acks.hole_ts = mantis_rules_hole_after(peer->acks.hole_ts, refused_ts);
	peer->acks.hole_count++;
	mantis_collect_note_hole(refused_ts);	/* for the sweep, at once */
}

/*
 * How far our round with a peer may adopt (the rule R6): its refusal
 * horizon as the round began, never past what a register of it may be ahead
 * of our clock, and below our own least hole: an adoption raises our
 * refusal horizon, which must not cover a register we refused (R5), or we
 * would refuse it again as collected once we have room, and announce a
 * horizon past it for peers to adopt it away by.
 */
uint64
mantis_horizon_adopt_upto(const Peer *peer)
{
	uint64		bound = mantis_hlc_pack(mantis_clock_wall_ms() + (uint64) mantis_max_clock_offset_ms, 0);

	return mantis_rules_adopt_upto(peer->acks.round_collected, collected_of_round(peer), bound,
								   mantis_collect_hole());
}

/* The peer's answer to our SUMMARY, with its live mark */
void
mantis_horizon_round_mark(Peer *peer, const MantisLiveMark *mark)
{
	peer->acks.round_marked = true;
	peer->acks.round_mark = *mark;
}

/*
 * The peer held registers back in its answer (replication/repair.c): ones
 * we did not take before, which it sends again only now and then.  While a
 * hole of that peer is open (we refused some for room, limits or skew),
 * such a round shows neither that we hold every write of the peer through
 * its mark (we must not acknowledge past a register we refused: the horizon
 * would rise past it, and with it our refusal horizon), nor that we hold
 * all it holds: its live stream stays broken, and the hole open.  Without
 * a hole, what it held back we refused as copies of what we collected: the
 * round mends the stream as any other.
 */
void
mantis_horizon_round_held_back(Peer *peer)
{
	peer->acks.round_held_back = true;
}

/* Another node answers at the peer's endpoint: we have caught up with none of it */
void
mantis_horizon_other_node(Peer *peer)
{
	peer->acks.clean_round_at = 0;
}

/*
 * Whether a round with each member, since this run started, has merged
 * all that member holds (the peer table starts empty with each run).
 */
static bool
caught_up_with_all(void)
{
	bool		any = false;

	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];

		if (!mantis_peer_counts_as_member(peer))
			continue;
		if (peer->acks.clean_round_at == 0)
			return false;
		any = true;
	}
	return any;
}

/*
 * Whether a round may adopt now (R6): only once a round with each member,
 * since this run started, has merged all that member holds.  Before that we
 * may lack writes the others hold (lost by a restore, a standby promoted
 * behind): a refusal horizon raised by an adoption would cover them, they
 * would be refused here and adopted away there.  And dropped without its
 * refusal horizon, a register could come back from a server restored from
 * an older backup: so no adoption at all until then.
 */
bool
mantis_horizon_may_adopt(void)
{
	return caught_up_with_all();
}

/* Something the peer sent in the round could not be merged. */
void
mantis_horizon_round_taint(Peer *peer)
{
	peer->acks.round_tainted = true;
}

/*
 * Our round with a peer ended.  Completed, with everything merged, it
 * mends the peer's live stream: we hold its writes through its mark, and
 * the frames after the mark continue the chain.
 */
static void horizon_round_end(Peer *peer, bool completed);

void
mantis_horizon_round_end(Peer *peer, bool completed)
{
	horizon_round_end(peer, completed);
	publish_held();
}

static void
horizon_round_end(Peer *peer, bool completed)
{
	PeerAcks   *a = &peer->acks;
	const MantisLiveMark *m = &a->round_mark;

	if (!completed || !a->round_marked || a->round_tainted ||
		(a->round_held_back && a->hole_ts != MANTIS_RULES_NO_HOLE) ||
		peer->incarnation != a->in_incarnation)
	{
		a->round_marked = false;
		return;
	}
	a->round_marked = false;
	a->clean_round_at = a->round_started_at;
	if (a->hole_count == a->round_hole_count)
		a->hole_ts = MANTIS_RULES_NO_HOLE;	/* we hold all it holds: closed */
	if (caught_up_ms == 0)
		caught_up_ms = mantis_clock_monotonic_ms();
	a->in_held = Max(a->in_held, m->watermark);
	if (a->in_unbroken && !seq_after(m->seq, a->in_seq))
		return;
	if (a->run_valid && !seq_after(a->run_start, m->seq + 1) && seq_after(a->run_end, m->seq))
	{
		/* the frames that arrived since the break reach past the mark */
		a->in_seq = a->run_end;
		a->in_held = Max(a->in_held, a->run_watermark);
	}
	else
		a->in_seq = m->seq;
	a->in_unbroken = true;
	a->run_valid = false;
}

/*
 * The generation a peer greets with only grows while its store lives on; a
 * lower one means it went back in time: restored from a backup, recovered
 * to a point in time, promoted from a standby that had not replayed every
 * flush, or its mantis_stores made anew.  Nothing is lost by it: what it
 * lacks comes back by repair, and what we collected it cannot give back
 * (the rule R4); say so, once for each such return.
 */
static void
note_generation(Peer *peer, uint64 incarnation, uint64 generation)
{
	PeerAcks   *a = &peer->acks;

	if (generation == 0)
		return;
	/*
	 * Within one run, greetings come over two connections (its HELLOs, its
	 * WELCOMEs) and may cross a flush in either order: only a new run can
	 * go back.
	 */
	if (incarnation == a->generation_incarnation)
	{
		a->generation = Max(a->generation, generation);
		return;
	}
	if (generation < a->generation)
		mantis_peer_problem(peer, WARNING,
							"peer %s came back with an older store (generation %llu after %llu): restored, recovered to a point in time, promoted from a lagging standby, or its mantis_stores made anew; what it lacks comes back by repair, and what was collected it gives up",
							mantis_peer_label(peer), (unsigned long long) generation,
							(unsigned long long) a->generation);
	a->generation = generation;
	a->generation_incarnation = incarnation;
}

/*
 * A peer's greeting: what it says it holds, and its horizons.  "ours" is
 * this run's incarnation, which an acknowledgement of protocol 4 names.
 */
void
mantis_horizon_on_greeting(Peer *peer, const MantisFrame *f, uint64 ours)
{
	uint64		acked = f->greeting.acked;
	uint64		stable = f->greeting.stable;
	uint64		collected = f->greeting.collected;
	uint64		limit;

	if (peer == NULL)
		return;

	/*
	 * Horizons that no honest peer within mantis.max_clock_offset of our clock
	 * could hold are not believed: "acked" is about our writes, so never past
	 * our clock; "stable" and "collected" are HLCs of the peer's, never
	 * further ahead of our clock than its registers may be (those we reject as
	 * skewed).  A peer with a fast clock would otherwise advertise a refusal
	 * horizon past every register we hold, and adoption (replication/repair.c)
	 * would drop all of ours it refused; a garbage "acked" or "stable" would
	 * raise the collection horizon for good.
	 */
	limit = mantis_hlc_pack(mantis_clock_wall_ms() + (uint64) mantis_max_clock_offset_ms,
							MANTIS_HLC_LOGICAL_MASK);
	if (acked > mantis_clock_peek())
		acked = 0;
	/*
	 * An acknowledgement of our previous run is none of this one's, and so
	 * is a "stable" counted before the peer heard of this run: it may count
	 * an acknowledgement we gave before a restore that lost what we held.
	 * (Found by test/sim.)
	 */
	if (f->version >= MANTIS_RULES_PROTOCOL &&
		f->greeting.acked_incarnation != ours)
		acked = stable = 0;
	peer->acks.members = f->version >= MANTIS_RULES_PROTOCOL ? f->greeting.members : 0;
	note_generation(peer, f->incarnation, f->greeting.generation);
	if (stable > limit)
		stable = 0;
	if (collected > limit)
	{
		if (collected != peer->acks.collected_rejected)
			mantis_peer_problem(peer, WARNING,
								"ignoring the refusal horizon of %s: it is past our clock by more than \"mantis.max_clock_offset\" (%d ms)",
								mantis_peer_label(peer), mantis_max_clock_offset_ms);
		peer->acks.collected_rejected = collected;
		collected = 0;
	}
	if (peer->acks.in_incarnation != f->incarnation)
		sender_restarted(&peer->acks, f->incarnation);
	if (acked != peer->acks.acked || stable != peer->acks.stable)
		mantis_news_greeted();
	peer->acks.acked = acked;
	peer->acks.stable = stable;
	peer->acks.collected = collected;
	peer->acks.collected_incarnation = f->incarnation;
	/* our next writes come after what the peer refuses, or it would refuse them */
	if (collected != 0)
		mantis_clock_witness(collected);
}

/* What a peer says it holds of our writes, 0 while it cannot be trusted */
static uint64
acked_by(const Peer *peer)
{
	if (!peer->identified || peer->greeting != GREETING_OK)
		return 0;
	return peer->acks.acked;
}

/*
 * Gather our members: ourselves, every peer we list (whose name is known
 * once it has greeted us; until then the set is not known) and every
 * identified peer that connects to us.
 */
static void
gather_members(Members *m)
{
	uint64		hashes[MANTIS_MAX_PEERS + 1];
	const char *self = mantis_self_node_name();
	bool		known = true;

	m->n = 0;
	hashes[0] = mantis_rules_member_hash(self, strlen(self));
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];
		MantisMemberView *v = &m->views[m->n];

		if (!mantis_peer_counts_as_member(peer))
			continue;
		v->identified = peer->identified;
		/* a peer down forgets its protocol: say it is down, not old */
		v->greeted = peer->identified && peer->greeting == GREETING_OK &&
			peer->state != MANTIS_PEER_DOWN;
		v->protocol = peer->proto;
		v->members = peer->acks.members;
		v->acked = acked_by(peer);
		v->stable = v->acked == 0 ? 0 : peer->acks.stable;
		if (peer->identified)
			hashes[m->n + 1] = mantis_rules_member_hash(peer->name, strlen(peer->name));
		else
			known = false;
		m->peers[m->n++] = peer;
	}
	m->digest = known ? mantis_rules_members_digest(hashes, m->n + 1) : 0;
}

/*
 * Whether acknowledgements may collect (R2), and the member that stops it
 * (NULL if none).  A server held back to protocol 3 by mantis.protocol_max
 * keeps to the rules of protocol 3's peers: lifetime only.
 */
static MantisCollectMode
agreement(const Members *m, const Peer **who)
{
	int			culprit;
	MantisCollectMode mode;

	*who = NULL;
	if (mantis_protocol_max < MANTIS_RULES_PROTOCOL)
		return MANTIS_COLLECT_OLD_PROTOCOL;
	mode = mantis_rules_agreement(m->digest, m->views, m->n, &culprit);
	if (culprit >= 0)
		*who = m->peers[culprit];
	return mode;
}

/*
 * The collection horizon (R2): the least "stable" of us and of every
 * member, while every member agrees; else 0.  Publishes how collection goes
 * for mantis_status, and logs each change of it.
 */
static uint64
collection_horizon(void)
{
	Members		m;
	const Peer *who;
	MantisCollectMode mode;
	uint64		horizon;
	uint64		our_stable;

	gather_members(&m);
	mode = agreement(&m, &who);
	horizon = mantis_rules_horizon(m.views, m.n, &our_stable);
	mantis_news_stable(our_stable);
	if (mode != MANTIS_COLLECT_AGREED)
		horizon = 0;
	if ((int) mode != published_mode)
	{
		ereport(LOG,
				(errmsg("mantis: collection is now %s%s%s%s", mantis_rules_mode_text(mode),
						who ? " (" : "", who ? mantis_peer_label(who) : "", who ? ")" : "")));
		published_mode = (int) mode;
	}
	mantis_collect_publish_mode((int) mode, who ? mantis_peer_label(who) : NULL, m.n + 1);
	return horizon;
}

/*
 * What we hold of a peer's writes and have also flushed: a crash restart
 * reloads mantis_stores, so an acknowledgement of what is only in memory
 * could let the peer collect a marker that we then lose, and the older
 * value our rows hold would come back to it by repair.  An in_held is
 * acknowledged once the persistence worker has taken the dirty leaves
 * after it (its merges are then among them) and flushed them.  Without
 * persistence running, nothing is acknowledged: only the lifetime collects.
 */
static void
durable_note(PeerAcks *a, uint64 durable)
{
	if (a->in_pending != 0 && durable >= a->in_pending_after)
	{
		a->in_durable = Max(a->in_durable, a->in_pending);
		a->in_pending = 0;
	}
	if (a->in_pending == 0 && a->in_held > a->in_durable)
	{
		a->in_pending = a->in_held;
		a->in_pending_after = mantis_collect_gathered_now() + 1;
	}
	else if (a->in_pending != 0 && a->in_held > a->in_pending &&
			 mantis_collect_gathered_now() < a->in_pending_after)
	{
		/*
		 * The take it waits for has not begun (the count rises before the
		 * take, store/collect.c): it will also take what was merged since,
		 * so the newer in_held waits for the same take, not for the one
		 * after it - an acknowledgement one flush sooner.
		 */
		a->in_pending = a->in_held;
	}
}

/*
 * Our greeting to a peer: what we hold of its writes, and our horizons; in
 * protocol 4, our member set and generation.  To a peer of protocol 3,
 * whose rules collect without agreement, we acknowledge nothing.
 */
void
mantis_horizon_fill_greeting(const Peer *to, MantisGreeting *g)
{
	Members		m;

	gather_members(&m);
	g->members = m.digest;
	g->member_count = (uint16) (m.n + 1);
	g->generation = mantis_collect_generation();
	if (to != NULL && to->proto >= MANTIS_RULES_PROTOCOL)
	{
		g->acked = to->acks.in_durable;
		g->acked_incarnation = to->acks.in_incarnation;
		(void) mantis_rules_horizon(m.views, m.n, &g->stable);
	}
	g->collected = mantis_rules_announced(mantis_collect_refusal_horizon(),
										  mantis_collect_hole());
}

/*
 * Registers lost with rows of mantis_stores that held them back
 * (store/collect.c's mantis_collect_lower_refusal_horizon()): a hole as of
 * a peer that left, for our peers hold them and we do not.  Published as
 * ours before the persistence worker's note of it is cleared, so that the
 * sweep never misses it.
 */
static void
take_lost_hole(void)
{
	uint64		lost = mantis_collect_lost_hole();

	if (lost == MANTIS_RULES_NO_HOLE)
		return;
	mantis_peers_orphan_hole(lost);
	mantis_collect_note_hole(lost);
	mantis_collect_lost_hole_taken(lost);
}

/*
 * The holes of peers whose entries were freed (replication/peers.c), and of
 * registers lost with rows of mantis_stores (take_lost_hole()): closed
 * once every member has completed a round with us, holding nothing back,
 * begun after the last of them was left.
 */
static uint64
orphan_hole(void)
{
	TimestampTz since;
	uint64		hole = mantis_peers_orphan(&since);

	if (hole == MANTIS_RULES_NO_HOLE)
		return hole;
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];

		if (mantis_peer_counts_as_member(peer) &&
			peer->acks.clean_round_at <= since)
			return hole;
	}
	mantis_peers_orphan_closed();
	return MANTIS_RULES_NO_HOLE;
}

/*
 * Publish the collection horizon and the lifetime bound for the sweep.
 * The lifetime bound stays 0 until a lifetime has passed since this run
 * first caught up with a peer (a completed repair round), or since it
 * started with no peer to catch up with, or since a lifetime passed
 * without one catching it up: a server that has just joined,
 * or come back, receives old deletion markers with its first transfer,
 * and must not collect them - and then refuse the old keys that arrive
 * after them - before it has all of its peers' registers.  These waits
 * are timed on a monotonic clock: a wall clock set ahead would cut them
 * short.  The bound is a lifetime behind the least clock among ours and
 * our members' (R3 of common/rules.h).
 */
void
mantis_horizon_tick(void)
{
	uint64		horizon;
	uint64		lifetime_ts = 0;
	uint64		now_ms = mantis_clock_wall_ms();
	uint64		mono_ms = mantis_clock_monotonic_ms();
	uint64		lifetime_ms = (uint64) mantis_tombstone_lifetime_s * 1000;
	uint64		least_ms;
	uint64		hole = MANTIS_RULES_NO_HOLE;
	bool		configured = false;

	mantis_news_ticked();
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (!mantis_peer_table[i].used)
			continue;
		durable_note(&mantis_peer_table[i].acks, mantis_collect_durable_upto());
		hole = Min(hole, mantis_peer_table[i].acks.hole_ts);
	}
	publish_held();
	take_lost_hole();
	hole = Min(hole, orphan_hole());
	horizon = collection_horizon();
	published_stable = Max(published_stable, horizon);
	if (started_ms == 0)
		started_ms = mono_ms;
	if (caught_up_ms == 0 && mono_ms >= started_ms + lifetime_ms)
		caught_up_ms = mono_ms; /* no peer came in a lifetime */
	if (caught_up_ms == 0)
	{
		for (int i = 0; i < MANTIS_MAX_PEERS; i++)
			configured |= mantis_peer_table[i].used && mantis_peer_table[i].conn >= 0;
		if (!configured)
			caught_up_ms = mono_ms;
	}
	least_ms = mantis_rules_lifetime_bound(now_ms, mantis_peer_clocks_least(), lifetime_ms);
	if (caught_up_ms != 0 && mono_ms >= caught_up_ms + lifetime_ms && least_ms != 0)
		lifetime_ts = mantis_hlc_pack(least_ms, 0);
	mantis_collect_publish(published_stable, lifetime_ts, hole, least_ms);
}
