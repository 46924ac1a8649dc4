/*-------------------------------------------------------------------------
 * common/rules.c
 *	  The decisions of collection, refusal, adoption and records: the rules
 *	  R1-R7 of common/rules.h, each a pure function.
 *
 * The server calls them where it decides (replication/horizon.c,
 * store/sweep.c, store/collect.c, store/write.c, store/dead.c,
 * replication/repair.c, replication/live.c, persist/load.c);
 * test/sim calls the same functions for its simulated servers, so what the
 * simulator proves is what the server does.
 *
 * IDENTIFICATION	src/common/rules.c
 *-------------------------------------------------------------------------
 */
#include "common/keyhash.h"
#include "common/rules.h"

/* One member's name, hashed for the set digest */
uint64_t
mantis_rules_member_hash(const char *name, size_t len)
{
	return mantis_hash(name, len);
}

/*
 * The digest of a member set (R1), from the hashes of its names, in any
 * order: their sum, mixed with the count.  Never 0, which means "not known".
 */
uint64_t
mantis_rules_members_digest(const uint64_t *hashes, int n)
{
	uint64_t	sum = 0;
	uint64_t	d;

	for (int i = 0; i < n; i++)
		sum += hashes[i] * UINT64_C(0x9E3779B97F4A7C15) + 1;
	d = sum ^ ((uint64_t) n << 56);
	d ^= d >> 33;
	d *= UINT64_C(0xFF51AFD7ED558CCD);
	d ^= d >> 33;
	return d == 0 ? 1 : d;
}

/*
 * Whether acknowledgements may collect (R2), given our member set's digest
 * (0 while a listed peer has not said its name) and what we know of each
 * other member.  *culprit (if not NULL) is set to the index of the member
 * that stops it, or -1.
 */
MantisCollectMode
mantis_rules_agreement(uint64_t our_members, const MantisMemberView *members,
					   int n, int *culprit)
{
	MantisCollectMode mode = MANTIS_COLLECT_AGREED;
	int			who = -1;

	if (n == 0)
		mode = MANTIS_COLLECT_NO_PEERS;
	else if (our_members == 0)
	{
		/* our set is not known: a listed peer has not said its name */
		mode = MANTIS_COLLECT_UNIDENTIFIED;
		for (who = 0; who < n - 1 && members[who].identified; who++)
			;
	}
	for (int i = 0; i < n && mode == MANTIS_COLLECT_AGREED; i++)
	{
		const MantisMemberView *m = &members[i];

		who = i;
		if (!m->identified)
			mode = MANTIS_COLLECT_UNIDENTIFIED;
		else if (!m->greeted)
			mode = MANTIS_COLLECT_UNGREETED;
		else if (m->protocol < MANTIS_RULES_PROTOCOL)
			mode = MANTIS_COLLECT_OLD_PROTOCOL;
		else if (m->members != our_members)
			mode = MANTIS_COLLECT_DISAGREE;
	}
	/*
	 * Agreed, but acknowledgements collect nothing until every member has
	 * sent one and said how far its own members hold its writes: say so,
	 * and name the member (a peer that lists us only one way, or has not
	 * flushed yet), rather than claim collection by acknowledgement.
	 */
	for (int i = 0; i < n && mode == MANTIS_COLLECT_AGREED; i++)
	{
		who = i;
		if (members[i].acked == 0 || members[i].stable == 0)
			mode = MANTIS_COLLECT_UNACKED;
	}
	if (culprit)
		*culprit = mode == MANTIS_COLLECT_AGREED ? -1 : who;
	return mode;
}

/*
 * The collection horizon among agreeing members (R2): the least of every
 * member's "stable" and of ours, where ours (set in *our_stable) is the
 * least acknowledgement we have from them.  0 with no member.
 */
uint64_t
mantis_rules_horizon(const MantisMemberView *members, int n, uint64_t *our_stable)
{
	uint64_t	stable = UINT64_MAX;
	uint64_t	least = UINT64_MAX;

	for (int i = 0; i < n; i++)
	{
		stable = members[i].acked < stable ? members[i].acked : stable;
		least = members[i].stable < least ? members[i].stable : least;
	}
	if (n == 0)
		stable = least = 0;
	if (our_stable)
		*our_stable = stable;
	return stable < least ? stable : least;
}

/*
 * Whether a dead register may be collected, and by which bound (R3): never
 * at or above the least hole (R5), whatever the bound, since collecting
 * raises the refusal horizon (R4).
 */
MantisSweepVerdict
mantis_rules_sweep(const MantisDeadRegister *r, const MantisSweepBounds *b)
{
	if (r->owed || r->hlc_ts >= b->hole_ts)
		return MANTIS_SWEEP_KEEP;
	if (r->hlc_ts <= b->horizon_ts)
		return MANTIS_SWEEP_BY_HORIZON;
	if (b->lifetime_ms != 0 && r->death_ms <= b->lifetime_ms)
		return MANTIS_SWEEP_BY_LIFETIME;
	return MANTIS_SWEEP_KEEP;
}

/*
 * How far the lifetime collects (R3): the death time at or before which a
 * dead register is collected by the lifetime, in ms, 0 for nothing.  The
 * lifetime is measured on the least clock among ours (now_ms) and those of
 * the members heard from in this run (members_ms, each estimated from its
 * last frame; UINT64_MAX if none was heard): what the lifetime collects
 * raises the refusal horizon (R4), which must stay behind every member's
 * clock, or the writes that member makes next would be refused as
 * collected, and adopted away by the others.  Our clock alone would do
 * while it is right; ahead of the members' by more than the lifetime, it
 * would collect registers of the real future.
 */
uint64_t
mantis_rules_lifetime_bound(uint64_t now_ms, uint64_t members_ms, uint64_t lifetime_ms)
{
	uint64_t	least = members_ms < now_ms ? members_ms : now_ms;

	return least > lifetime_ms ? least - lifetime_ms : 0;
}

/*
 * Whether our clock (the greater of our HLC and our wall clock, in ms) is
 * ahead of a member's, estimated from its last frame, by more than
 * mantis.max_clock_offset: then the member refuses our writes as skewed, and
 * the lifetime waits for its clock (mantis_rules_lifetime_bound); worth a
 * warning.
 */
bool
mantis_rules_clock_ahead(uint64_t ours_ms, uint64_t member_ms, uint64_t max_offset_ms)
{
	return ours_ms > member_ms && ours_ms - member_ms > max_offset_ms;
}

/*
 * Whether a collection raises the refusal horizon (R4): every one does,
 * except on a server without replication, whose horizon is its own clock
 * (raising it there would refuse every older register of the peers it may
 * be given later, and make them adopt those away).
 */
bool
mantis_rules_sweep_raises(MantisSweepVerdict v, bool replicated)
{
	return v == MANTIS_SWEEP_BY_LIFETIME || (v == MANTIS_SWEEP_BY_HORIZON && replicated);
}

/* Whether a register from a peer is refused as a copy of a collected one (R4) */
bool
mantis_rules_refuse(bool held, uint64_t hlc_ts, uint64_t refuse_upto)
{
	return !held && refuse_upto != 0 && hlc_ts <= refuse_upto;
}

/*
 * How far a round may adopt (R6): the peer's refusal horizon when the
 * round began, unless it has since been lowered (a restart of the peer
 * whose rows had not yet carried it), never past our clock bound, and
 * below our least hole (R5): what we adopt raises our own refusal horizon.
 */
uint64_t
mantis_rules_adopt_upto(uint64_t collected_at_start, uint64_t collected_now,
						uint64_t clock_bound, uint64_t hole_ts)
{
	uint64_t	upto = collected_at_start < collected_now ? collected_at_start : collected_now;

	upto = upto < clock_bound ? upto : clock_bound;
	return mantis_rules_announced(upto, hole_ts);
}

/*
 * Whether a round may adopt in a leaf (R6), from the leaf's digest as we
 * sent it in our LEAVES, the peer's digest in its answer, and ours now: only
 * where the answer held the peer's registers of the leaf (the peer sends
 * them when its digest differs from the one we sent) and the leaf still
 * differs.  A leaf that was equal when we sent it, and changed here since
 * (a live frame, a write), came with none of the peer's registers: nothing
 * in it is SEEN, and every register the peer holds there would be dropped.
 */
bool
mantis_rules_adopt_leaf(uint64_t sent, uint64_t theirs, uint64_t ours)
{
	return theirs != sent && theirs != ours;
}

/*
 * Whether a register we hold is adopted away in a round (R6): a live one
 * only.  A dead register the peer collected is ours to collect in turn, by
 * our own bounds: dropped now, it would no longer stop an older copy of its
 * key that reaches us before our refusal horizon covers it (one from a
 * server restored from a backup, say).
 */
bool
mantis_rules_adopt(bool seen, bool owed, bool dead, uint64_t hlc_ts, uint64_t upto)
{
	return !seen && !owed && !dead && hlc_ts <= upto;
}

/*
 * Whether a compaction makes a register adopted away durably gone (R6): it
 * is left out of the compaction's snapshot, and dropped once that commits,
 * if it is still live and below our least hole as the compaction scans it.
 * Otherwise it is written as any other register and stays: a dead one is
 * our sweep's to collect (see mantis_rules_adopt()), and one at or above a
 * hole that opened since it was adopted waits for the hole to close (what
 * we drop raises our refusal horizon, which must not cover a hole, R5).
 */
bool
mantis_rules_adoption_covered(bool dead, uint64_t hlc_ts, uint64_t hole_ts)
{
	return !dead && hlc_ts < hole_ts;
}

/*
 * The refusal horizon we announce to peers, for them to adopt by (R5, R6):
 * below the least hole, whatever our own refusal horizon.
 */
uint64_t
mantis_rules_announced(uint64_t refusal_horizon, uint64_t hole_ts)
{
	if (hole_ts == MANTIS_RULES_NO_HOLE || refusal_horizon < hole_ts)
		return refusal_horizon;
	return hole_ts == 0 ? 0 : hole_ts - 1;
}

/*
 * How far registers adopted away raise the refusal horizon (R4): to the
 * greatest of them once we hold everything our members hold ("whole": a
 * round with each of them since we started has merged all it holds);
 * until then no further than the collection horizon or the lifetime bound
 * (0: none), whichever is later; and always below the least hole.
 */
uint64_t
mantis_rules_adopted_raise(uint64_t adopted_max_ts, uint64_t horizon_ts,
						   uint64_t lifetime_ts, uint64_t hole_ts, bool whole)
{
	uint64_t	known = whole ? UINT64_MAX : horizon_ts > lifetime_ts ? horizon_ts : lifetime_ts;
	uint64_t	raise = adopted_max_ts < known ? adopted_max_ts : known;

	return mantis_rules_announced(raise, hole_ts);
}

/* The least hole after a register at refused_ts was refused (R5) */
uint64_t
mantis_rules_hole_after(uint64_t hole_ts, uint64_t refused_ts)
{
	return refused_ts < hole_ts ? refused_ts : hole_ts;
}

/* ---- records (R7) ---- */

/*
 * Whether a dead register becomes a record (R7): owed nothing (a record
 * cannot travel in the live stream, nor be flushed as the register), dead
 * since at or before the compaction bound (compact_ms, 0: none), on a
 * server that sends records in its answers (protocol_max: its
 * mantis.protocol_max).
 */
bool
mantis_rules_compact(const MantisDeadRegister *r, uint64_t compact_ms, int protocol_max)
{
	return !r->owed && protocol_max >= MANTIS_RULES_RECORDS_PROTOCOL &&
		compact_ms != 0 && r->death_ms <= compact_ms;
}

/*
 * Whether a register from a peer is refused by a record of its key's hash
 * (rec, NULL: none) or by its leaf's collapsed bound (0: none), when no
 * register of its key is held in full (held: LWW decides).  A record
 * refuses a register older than itself, and the same register (equal HLC
 * and fingerprint); another register of its HLC (a node id on two
 * servers) replaces it, as does a newer one.  The bound refuses only keys
 * held nothing of: a record is what we know of its key.
 */
bool
mantis_rules_record_refuses(bool held, const MantisRecordView *rec, uint64_t leaf_bound_ts,
							uint64_t in_ts, uint64_t in_node, uint64_t in_fingerprint)
{
	if (held)
		return false;
	if (rec != NULL)
	{
		if (in_ts != rec->ts)
			return in_ts < rec->ts;
		if (in_node != rec->node)
			return in_node < rec->node;
		return in_fingerprint == rec->fingerprint;
	}
	return leaf_bound_ts != 0 && in_ts <= leaf_bound_ts;
}

/*
 * What a hash tombstone from a peer's answer does (R7), given what we hold
 * of its hash (held: a register in full or a record, with its HLC) and
 * its leaf's collapsed bound.  Of one HLC, what we hold is kept: the same
 * register, or one of a node id on two servers (the peer, given ours,
 * takes it: mantis_rules_record_refuses()).
 */
MantisTombstoneAction
mantis_rules_tombstone(bool held, uint64_t held_ts, uint64_t held_node,
					   uint64_t leaf_bound_ts, const MantisRecordView *t)
{
	if (!held)
		return leaf_bound_ts != 0 && t->ts <= leaf_bound_ts ? MANTIS_TOMB_IGNORE : MANTIS_TOMB_KEEP;
	if (t->ts != held_ts)
		return t->ts > held_ts ? MANTIS_TOMB_REPLACE : MANTIS_TOMB_IGNORE;
	if (t->node != held_node)
		return t->node > held_node ? MANTIS_TOMB_REPLACE : MANTIS_TOMB_IGNORE;
	return MANTIS_TOMB_IGNORE;
}

/*
 * A record collapses into its leaf's bound (R7): the bound rises to it,
 * its fingerprint stays in the leaf's digest through the collapsed one,
 * its death joins the group's latest.  The bound refuses the keys held
 * nothing of as a refusal horizon does (R4), so only a record below
 * clock_ts, the least clock among ours and our members' (as an HLC: above
 * a member's clock it would refuse the new keys that member writes next,
 * R3), and below our least hole (it would refuse as collected the register
 * we refused for room once we have room, R5).  False, and nothing done,
 * if not.
 */
bool
mantis_rules_collapse(MantisLeafBound *b, const MantisRecordView *rec, uint64_t clock_ts,
					  uint64_t hole_ts)
{
	if (rec->ts >= clock_ts || rec->ts >= hole_ts)
		return false;
	b->bound_ts = rec->ts > b->bound_ts ? rec->ts : b->bound_ts;
	b->fingerprint ^= rec->fingerprint;
	b->death_ms = rec->death_ms > b->death_ms ? rec->death_ms : b->death_ms;
	return true;
}

/*
 * Whether a leaf's collapsed records are collected, as one dead register
 * at the bound that died last (R3); the collection raises the refusal
 * horizon to the bound (R4) and takes the collapsed fingerprint out of the
 * leaf's digest.
 */
MantisSweepVerdict
mantis_rules_bound_sweep(const MantisLeafBound *b, const MantisSweepBounds *sb)
{
	MantisDeadRegister r;

	if (b->bound_ts == 0)
		return MANTIS_SWEEP_KEEP;
	r.hlc_ts = b->bound_ts;
	r.death_ms = b->death_ms;
	r.owed = false;
	return mantis_rules_sweep(&r, sb);
}

/* What mantis_status says of a mode */
const char *
mantis_rules_mode_text(MantisCollectMode mode)
{
	switch (mode)
	{
		case MANTIS_COLLECT_AGREED:
			return "by acknowledgement";
		case MANTIS_COLLECT_NO_PEERS:
			return "lifetime only: no peer";
		case MANTIS_COLLECT_UNIDENTIFIED:
			return "lifetime only: a listed peer has not answered";
		case MANTIS_COLLECT_OLD_PROTOCOL:
			return "lifetime only: a peer speaks protocol 3";
		case MANTIS_COLLECT_UNGREETED:
			return "lifetime only: a peer is down or has not greeted us";
		case MANTIS_COLLECT_DISAGREE:
			return "lifetime only: peers count other members";
		case MANTIS_COLLECT_UNACKED:
			return "lifetime only: waiting for a peer's acknowledgement";
	}
	return "unknown";
}
