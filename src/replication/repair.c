/*-------------------------------------------------------------------------
 * replication/repair.c
 *	  Anti-entropy: repair rounds with each peer we connect to (we pull),
 *	  the answers to the rounds of peers that connect to us, and the
 *	  leaves whose registers a peer refused before.
 *
 * A round, every mantis.sync_interval (randomised by +-25%), at once when a
 * peer joins, rejoins after a partition or restarts (replication/protocol.c),
 * and when live frames to it were lost (replication/live.c): we send our root
 * digest (SUMMARY); P answers INSYNC when its root is the same - a round then
 * costs two small frames whatever the number of keys - or its 256 group
 * digests (GROUPS).  For each group that differs we send our 256 leaf digests
 * (LEAVES); P answers with its registers of the leaves that differ (UPDATES)
 * and then its own leaf digests (LEAVES); we merge, and send P our registers
 * of the leaves that still differ, where we hold something P lacks.  So one
 * round repairs both sides, even when P has no connection to us of its own.
 * At most REPAIR_WINDOW groups are in flight, so a full state transfer to a
 * new node moves in bounded chunks.  A round that stalls for ROUND_TIMEOUT_MS
 * is given up, and tried again ROUND_RETRY_MS later.
 *
 * The digests are the store's (store/store.c): a leaf's digest is the XOR of
 * the fingerprints of its registers, read once per pass when first needed.
 * With them we note our live mark as it was just before (replication/live.c),
 * which our answer to a SUMMARY carries: the puller holds every write of ours
 * through it once its round completes (replication/horizon.c).  A round of
 * ours is "tainted" when something the peer sent could not be merged; only an
 * untainted one that held nothing back mends its live stream: a register we
 * refused and the peer held back is one we must not acknowledge past
 * (replication/horizon.c).
 *
 * Adopting what the peer collected.  A peer refuses registers at or below its
 * refusal horizon (its greeting's "collected") for keys it holds nothing of:
 * they are copies of what it collected (replication/horizon.c).  So when we,
 * as the puller, hold such a register in a leaf that still differs after
 * merging the peer's answer - the peer sent every register it has of that
 * leaf, each marked SEEN as it was merged, and this one was not among them -
 * we hold something the peer collected the deletion of, or a register the peer
 * would never take: we give it up (a server back from a long absence, or from
 * a crash that lost what it had acknowledged, gives up what the others
 * collected).  It is flagged, and asks for a compaction: once that has
 * rewritten mantis_stores without it and committed, it is dropped, and our
 * refusal horizon raised (store/sweep.c, persist/flush.c).
 * Only from an answer proven whole: the fingerprints of the registers the
 * peer sent of the leaf add up to its digest of the leaf (a frame lost on
 * the way would otherwise look like a register it does not hold), only
 * up to its refusal horizon as it was when the round began, and only from
 * the run of the peer the round began with (the rule R6 of common/rules.h;
 * mantis_repair_answer_current()).
 *
 * Registers a peer refused are not sent again every round: the leaves
 * whose registers it took none of are held back a while
 * (replication/held.c).
 *
 * IDENTIFICATION	src/replication/repair.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/rules.h"
#include "store/collect.h"
#include "store/store.h"
#include "replication/held.h"
#include "replication/horizon.h"
#include "replication/live.h"
#include "replication/outbox.h"
#include "replication/repair.h"
#include "replication/tombs.h"

#define REPAIR_WINDOW			8
#define ROUND_TIMEOUT_MS		10000
#define ROUND_RETRY_MS			1000

static uint32 round_counter = 0;

/* leaf digests, read once per pass when first needed */
static uint64 *leaf_digests = NULL;
static bool digests_fresh = false;
static MantisLiveMark digests_mark;	/* our live mark when they were read */
static bool answer_incomplete;	/* a frame of the answer being sent was dropped */

/*
 * The one peer whose round may mark registers SEEN and adopt: SEEN is a
 * flag of the register, not of the peer, so two rounds doing it at once
 * would clear each other's marks.
 */
static Peer *adopter = NULL;

/*
 * The adopter's answer, leaf by leaf: the XOR of the fingerprints of the
 * registers it sent of each leaf of the groups asked for.  Equal to its
 * digest of the leaf in its LEAVES frame, it proves the answer whole: no
 * frame of it was lost on the way (a connection that dropped and came back,
 * a queue that overflowed), so what it did not send, it does not hold.
 */
static uint64 *answer_fingerprints = NULL;

/* the adopter's round: our leaf digests as we sent them, group by group */
static uint64 *sent_digests = NULL;

static void round_fill_window(Peer *peer, TimestampTz now);
static bool send_differing_leaves(MantisUpdates *b, const MantisFrame *f,
								  const uint64 *leaves);

void
mantis_repair_start(void)
{
	if (leaf_digests == NULL)
		leaf_digests = MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * MANTIS_LEAVES);
	if (answer_fingerprints == NULL)
		answer_fingerprints = MemoryContextAllocZero(TopMemoryContext, sizeof(uint64) * MANTIS_LEAVES);
	if (sent_digests == NULL)
		sent_digests = MemoryContextAllocZero(TopMemoryContext, sizeof(uint64) * MANTIS_LEAVES);
	digests_fresh = false;
}

/* The store changed (a merge, a new pass): read the digests again */
void
mantis_repair_digests_changed(void)
{
	digests_fresh = false;
}

/* ---- digests ---- */

static const uint64 *
digests(void)
{
	if (!digests_fresh)
	{
		digests_mark = mantis_live_mark();
		mantis_store_leaf_digests(leaf_digests);
		digests_fresh = true;
	}
	return leaf_digests;
}

/* The digest of a group of leaves, and of them all */
static uint64
group_digest(const uint64 *leaves, int group)
{
	uint64		d = 0;

	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
		d ^= leaves[group * MANTIS_DIGEST_GROUP_LEAVES + i];
	return d;
}

static uint64
root_digest(const uint64 *leaves)
{
	uint64		d = 0;

	for (int i = 0; i < MANTIS_LEAVES; i++)
		d ^= leaves[i];
	return d;
}

/* ---- as the puller ---- */

/* now + interval_ms, give or take a quarter */
static TimestampTz
jittered(TimestampTz now, int interval_ms)
{
	double		factor = 0.75 + 0.5 * pg_prng_double(&pg_global_prng_state);

	return TimestampTzPlusMilliseconds(now, (int) (interval_ms * factor));
}

/*
 * End our round with a peer: the next one comes a sync interval later if it
 * completed, soon if it was given up.
 */
void
mantis_repair_end_round(Peer *peer, TimestampTz now, bool completed)
{
	if (peer->repair.round != 0)
	{
		mantis_horizon_round_end(peer, completed);
		if (completed)
		{
			mantis_peer_counters(peer)->rounds++;
			peer->repair.completed_at = now;
		}
	}
	if (adopter == peer)
		adopter = NULL;
	peer->repair.round = 0;
	peer->repair.in_flight = 0;
	peer->repair.wanted_count = 0;
	peer->repair.next_round_at = completed ? jittered(now, mantis_sync_interval_ms) :
		TimestampTzPlusMilliseconds(now, ROUND_RETRY_MS);
	peer->repair.asap_after = TimestampTzPlusMilliseconds(now, ROUND_RETRY_MS);
}

/*
 * Whether an answer to our round comes from the run of the peer the round
 * began with.  Our requests outlive a restart of the peer (ZeroMQ delivers
 * them to its new run, which answers them before its greeting has told us
 * it restarted): an answer from another run ends the round.  Adopting from
 * it would measure what that run holds against the refusal horizon of the
 * one before, which held more (a restart with lower limits holds back what
 * the rows hold: its peers would adopt it all away).
 */
bool
mantis_repair_answer_current(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	if (peer->repair.round == 0 || f->incarnation == peer->repair.round_incarnation)
		return true;
	mantis_repair_end_round(peer, now, false);
	return false;
}

/* Start a round with a peer: our root digest goes out in a SUMMARY. */
void
mantis_repair_start_round(Peer *peer, TimestampTz now)
{
	if (++round_counter == 0)
		round_counter = 1;
	peer->repair.round = round_counter;
	peer->repair.round_incarnation = peer->incarnation;
	peer->repair.deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
	peer->repair.in_flight = 0;
	if (adopter != NULL && (!adopter->used || adopter->repair.round == 0))
		adopter = NULL;			/* its round ended without us (a removed peer) */
	if (adopter == NULL && peer->acks.collected != 0)
		adopter = peer;			/* this round may adopt what the peer collected */
	peer->repair.wanted_count = 0;
	peer->repair.groups_seen = false;
	memset(peer->repair.wanted, 0, sizeof(peer->repair.wanted));
	memset(peer->repair.asked, 0, sizeof(peer->repair.asked));
	mantis_horizon_round_start(peer);

	mantis_outbox_summary(peer->repair.round, root_digest(digests()));
	if (!mantis_outbox_send(peer))
		mantis_repair_end_round(peer, now, false);
}

/* Ask for more groups, up to the window. */
static void
round_fill_window(Peer *peer, TimestampTz now)
{
	const uint64 *leaves = digests();

	for (int g = 0; g < MANTIS_DIGEST_GROUPS && peer->repair.in_flight < REPAIR_WINDOW &&
		 peer->repair.wanted_count > 0; g++)
	{
		if (!peer->repair.wanted[g])
			continue;
		peer->repair.wanted[g] = false;
		peer->repair.wanted_count--;
		mantis_outbox_leaves(peer->repair.round, (uint16) g,
							 leaves + g * MANTIS_DIGEST_GROUP_LEAVES, 0, MANTIS_FRAME_VERSION_MIN);
		if (adopter == peer)
		{
			memset(answer_fingerprints + g * MANTIS_DIGEST_GROUP_LEAVES, 0,
				   sizeof(uint64) * MANTIS_DIGEST_GROUP_LEAVES);
			memcpy(sent_digests + g * MANTIS_DIGEST_GROUP_LEAVES,
				   leaves + g * MANTIS_DIGEST_GROUP_LEAVES,
				   sizeof(uint64) * MANTIS_DIGEST_GROUP_LEAVES);
		}
		if (!mantis_outbox_send(peer))
		{
			mantis_repair_end_round(peer, now, false);
			return;
		}
		peer->repair.asked[g] = true;
		peer->repair.in_flight++;
	}
	if (peer->repair.in_flight == 0 && peer->repair.wanted_count == 0)
		mantis_repair_end_round(peer, now, true);
}

/* Timers of our round with a connected peer: give it up, or start one */
void
mantis_repair_tick(Peer *peer, TimestampTz now)
{
	if (peer->repair.round != 0 && now > peer->repair.deadline)
		mantis_repair_end_round(peer, now, false);
	if (peer->repair.round == 0 && (now >= peer->repair.next_round_at ||
									(peer->queue.repair_asap && peer->queue.head == NULL &&
									 now >= peer->repair.asap_after)))
	{
		peer->queue.repair_asap = false;
		mantis_repair_start_round(peer, now);
	}
}

/* When mantis_repair_tick() next has something to do for a connected peer */
TimestampTz
mantis_repair_wake_at(const Peer *peer)
{
	if (peer->repair.round != 0)
		return peer->repair.deadline;
	if (peer->queue.repair_asap)
		return Min(peer->repair.next_round_at, peer->repair.asap_after);
	return peer->repair.next_round_at;
}

/* INSYNC: the peer's root digest is ours, the round is over */
void
mantis_repair_on_insync(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	if (peer->repair.round != 0 && f->round == peer->repair.round)
	{
		mantis_horizon_round_mark(peer, &f->mark);
		mantis_repair_end_round(peer, now, true);
	}
}

void
mantis_repair_on_groups(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	const uint64 *leaves = digests();

	/* a second GROUPS for the round (a replay) would ask for groups twice */
	if (peer->repair.round == 0 || f->round != peer->repair.round || peer->repair.groups_seen)
		return;
	peer->repair.groups_seen = true;
	mantis_horizon_round_mark(peer, &f->mark);
	for (int g = 0; g < MANTIS_DIGEST_GROUPS; g++)
	{
		if (!peer->repair.wanted[g] &&
			mantis_frame_digest(f, g) != group_digest(leaves, g))
		{
			peer->repair.wanted[g] = true;
			peer->repair.wanted_count++;
		}
	}
	round_fill_window(peer, now);
}

/* Count the registers of an answer of the adopter: see answer_fingerprints */
static void
note_answer(const MantisFrame *f)
{
	const unsigned char *p = f->registers;

	for (uint32 i = 0; i < f->count; i++)
	{
		MantisRecord rec;
		int			leaf;
		uint64		fingerprint;

		if (mantis_codec_get_register(&p, f->end, &rec) != NULL)
			break;				/* cannot happen: decoded before */
		fingerprint = mantis_store_record_fingerprint(&rec, &leaf);
		if (leaf / MANTIS_DIGEST_GROUP_LEAVES == f->group)
			answer_fingerprints[leaf] ^= fingerprint;
	}
}

void
mantis_repair_on_updates(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	bool		ours = peer->repair.round != 0 && f->round == peer->repair.round;
	bool		clean = mantis_live_merge(peer, f,
										  ours && adopter == peer ? MANTIS_REG_SEEN : 0);

	if (ours && adopter == peer && f->group < MANTIS_DIGEST_GROUPS &&
		peer->repair.asked[f->group])
		note_answer(f);
	digests_fresh = false;
	if (ours)
	{
		peer->repair.deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
		if (!clean)
			mantis_horizon_round_taint(peer);
	}
}

/* MantisTombNote: a tombstone's or bound's share of the adopter's answer */
static void
note_tomb(int leaf, uint64 fingerprint)
{
	answer_fingerprints[leaf] ^= fingerprint;
}

/* TOMBS of an answer (protocol 5): as UPDATES, through replication/tombs.c */
void
mantis_repair_on_tombs(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	bool		ours = peer->repair.round != 0 && f->round == peer->repair.round;
	bool		adopting = ours && adopter == peer;
	bool		clean = mantis_tombs_merge(peer, f, adopting ? MANTIS_REG_SEEN : 0,
										   adopting && peer->repair.asked[f->group] ?
										   note_tomb : NULL);

	digests_fresh = false;
	if (ours)
	{
		peer->repair.deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
		if (!clean)
			mantis_horizon_round_taint(peer);
	}
}

/*
 * Adopt away our registers the peer collected, from the leaves of the
 * group that still differ; see the file header.  They stay, and are read,
 * until a compaction has rewritten mantis_stores without them
 * (store/sweep.c): we ask for one, and it raises our refusal horizon.  Not
 * while none could cover them (a hole under them, rows held back): each
 * round would ask again for a full rewrite of the rows, to no effect.
 */
static void
adopt_collected(Peer *peer, const MantisFrame *f, const uint64 *leaves)
{
	uint64		upto = mantis_horizon_adopt_upto(peer);
	uint64		cover_hole = mantis_collect_cover_hole();
	int			coverable = 0;
	int			flagged = 0;

	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
	{
		int			leaf = f->group * MANTIS_DIGEST_GROUP_LEAVES + i;
		uint64		theirs = mantis_frame_digest(f, i);

		/* a leaf the answer covered, and whose every register came */
		if (mantis_rules_adopt_leaf(sent_digests[leaf], theirs, leaves[leaf]) &&
			theirs == answer_fingerprints[leaf])
		{
			int			now;

			coverable += mantis_store_adopt_leaf(leaf, upto, cover_hole, &now);
			flagged += now;
		}
	}
	if (coverable > 0)
		mantis_collect_ask_compaction();
	if (flagged == 0)
		return;
	mantis_peer_counters(peer)->adopted += flagged;
	mantis_peer_problem(peer, LOG,
						"gives up %d registers that peer %s has collected the deletion of (its refusal horizon is past them), once mantis_stores no longer holds them",
						flagged, mantis_peer_label(peer));
}

static void
send_to_peer(MantisUpdates *b)
{
	if (b->count > 0)
		mantis_outbox_send(b->to);
}

/*
 * The peer has answered for a group and sent its leaf digests: send it our
 * registers of the leaves that still differ after merging its answer.
 */
void
mantis_repair_on_leaves(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	const uint64 *leaves;
	MantisUpdates b = {0};

	/* only the answer for a group asked for, and only once */
	if (peer->repair.round == 0 || f->round != peer->repair.round || !peer->repair.asked[f->group])
		return;
	peer->repair.asked[f->group] = false;
	peer->repair.deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
	leaves = digests();
	if (f->flags & MANTIS_FRAME_HELD_BACK)
		mantis_horizon_round_held_back(peer);
	if (mantis_tombs_missing(peer, f))
		mantis_horizon_round_taint(peer);	/* it may lack tombstones (R7) */

	/*
	 * Adopt only from a complete answer: registers the peer held back, or
	 * ones we could not merge (no room, skewed), never flag ours SEEN, and
	 * we would drop registers the peer holds.
	 */
	if (adopter == peer && !(f->flags & MANTIS_FRAME_HELD_BACK) &&
		!peer->acks.round_tainted && mantis_horizon_may_adopt())
	{
		adopt_collected(peer, f, leaves);
		leaves = digests();
	}
	b.round = f->round;
	b.group = f->group;
	b.flush = send_to_peer;
	b.to = peer;
	send_differing_leaves(&b, f, leaves);
	peer->repair.in_flight--;
	round_fill_window(peer, now);
}

/* ---- registers the peer refused before: replication/held.c ---- */

/*
 * A leaf held back still sends its dead registers (deletion markers,
 * expired values): they are small, and one a peer lacks could let an older
 * copy come back there, while one it has collected (and takes again, to
 * collect again) looks to the digests just like a refusal.  Holding them
 * back would flag the answer, and the peer could never mend our live
 * stream with it; only live values are held back, which cannot bring
 * anything back.
 */
typedef struct HeldSend
{
	MantisUpdates *b;
	uint64		now_ms;
	int			live_held;
} HeldSend;

static void
held_dead_only(const MantisRecord *rec, void *arg)
{
	HeldSend   *h = (HeldSend *) arg;

	if (mantis_register_is_dead(rec->deleted, rec->expires_ms, h->now_ms))
		mantis_updates_add(rec, h->b);
	else
		h->live_held++;
}

/*
 * Send, through b->flush, every register of the leaves of group f->group whose
 * digest differs from the one in the frame f, but those the peer refused
 * before (b->to: the peer, or NULL if it has no peer); then, to a peer at
 * protocol 5, their records and bounds as hash tombstones
 * (replication/tombs.c; never held back: they are dead registers).  Returns true if any
 * live value was held back.  An answer that held values back says so with
 * HELD_BACK: the puller then drops nothing it does not see in it
 * (replication/repair.c's adoption).  An answer whose frames were lost on the
 * way (a dropped frame) is not finished with LEAVES at all: the puller's round
 * times out, and counts for nothing.
 */
static bool
send_differing_leaves(MantisUpdates *b, const MantisFrame *f, const uint64 *leaves)
{
	Peer	   *peer = b->to;
	bool		held = false;
	bool		differ[MANTIS_DIGEST_GROUP_LEAVES];

	mantis_updates_begin(b);
	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
	{
		int			leaf = f->group * MANTIS_DIGEST_GROUP_LEAVES + i;
		uint64		theirs = mantis_frame_digest(f, i);
		int			n;

		differ[i] = theirs != leaves[leaf];
		if (!differ[i])
			continue;
		if (peer && mantis_held_skip(peer, leaf, leaves[leaf], theirs))
		{
			/* dead registers go all the same: see held_dead_only() */
			HeldSend	h = {b, mantis_clock_wall_ms(), 0};

			(void) mantis_store_collect_leaf(leaf, held_dead_only, &h);
			held |= h.live_held > 0;
			continue;
		}
		n = mantis_store_collect_leaf(leaf, mantis_updates_add, b);
		if (peer && n > 0)
			mantis_held_note(peer, leaf, leaves[leaf], theirs, n);
	}
	mantis_updates_end(b);
	b->flush(b);
	/* then the records and bounds of those leaves, to a peer at 5 (R7) */
	if (!mantis_tombs_send(peer, b->msg, b->round, b->group, differ) && b->msg)
		answer_incomplete = true;
	return held;
}

/* ---- answering a puller ---- */

void
mantis_repair_answer_summary(Peer *peer, const MantisMessage *m, const MantisFrame *f)
{
	const uint64 *leaves = digests();

	if (f->root == root_digest(leaves))
		mantis_outbox_insync(f->round, &digests_mark);
	else
	{
		uint64		groups[MANTIS_DIGEST_GROUPS];

		for (int g = 0; g < MANTIS_DIGEST_GROUPS; g++)
			groups[g] = group_digest(leaves, g);
		mantis_outbox_groups(f->round, &digests_mark, groups);
	}
	mantis_outbox_reply(peer, m);
}

static void
reply_updates(MantisUpdates *b)
{
	if (b->count > 0 && !mantis_outbox_reply(b->to, b->msg))
		answer_incomplete = true;
}

void
mantis_repair_answer_leaves(Peer *peer, const MantisMessage *m, const MantisFrame *f)
{
	const uint64 *leaves = digests();
	MantisUpdates b = {0};
	bool		held;

	b.round = f->round;
	b.group = f->group;
	b.flush = reply_updates;
	b.to = peer;
	b.msg = m;
	answer_incomplete = false;
	held = send_differing_leaves(&b, f, leaves);
	if (answer_incomplete)
		return;

	/* then our digests of the group, which end the answer */
	mantis_outbox_leaves(f->round, f->group, leaves + f->group * MANTIS_DIGEST_GROUP_LEAVES,
						 held ? MANTIS_FRAME_HELD_BACK : 0, mantis_tombs_version(peer));
	mantis_outbox_reply(peer, m);
}
