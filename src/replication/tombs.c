/*-------------------------------------------------------------------------
 * replication/tombs.c
 *	  Hash tombstones (R7 of common/rules.h, protocol 5): the records of
 *	  dead registers and the leaves' collapsed bounds that a repair answer,
 *	  and the puller's push, carry after the registers of a group's leaves
 *	  that differ (replication/repair.c), and their merge on receipt.
 *
 * A record is a dead register compacted to its key's hash (store/dead.c):
 * a peer that lacks the register can no longer be sent it in full, so it
 * is sent the record, a hash tombstone, in TOMBS frames (common/tombs.c)
 * after the group's UPDATES and before its LEAVES, with the bound of each
 * of those leaves that has one.  Only to a peer whose version in use is 5
 * (replication/version.c): a server of version 4 would drop TOMBS as
 * malformed, and one of 5 has records on.  The LEAVES that ends such an
 * answer is of version 5; a puller of 5 taints its round (no
 * acknowledgement from it, replication/horizon.c) when a peer not known to
 * speak 4 at most answers in a lower version, hence without tombstones
 * (mantis_tombs_missing()): the round would acknowledge deletions we do
 * not hold.  A
 * peer at 4 learns of a deletion compacted while it was away only by
 * adoption, once the record is collected (the price, src/store/DEAD.md).
 *
 * On receipt (mantis_store_tombstone(), mantis_rules_tombstone()) a
 * tombstone is kept as a record where nothing of its hash is held, replaces
 * an older register or record, and is ignored where something newer or of
 * the same HLC is held (the register then counts as held by the peer,
 * MANTIS_REG_SEEN, when the puller's round may adopt), or where the
 * refusal horizon or the leaf's bound covers it.  One with no room for its
 * record, or too far ahead of our clock, makes the frame unclean: the
 * round that brought it acknowledges nothing (replication/horizon.c); but
 * it is no hole, as R7 says why.  The puller adds each tombstone's and
 * bound's fingerprint to its proof that the answer is whole (a peer's
 * bound is used for nothing else).  A tombstone taken asks for a
 * compaction: only a compaction writes records (persist/dead_rows.c).
 *
 * Runs in the replication worker.  Locking: none here (store/dead.c takes
 * the partition locks).
 *
 * IDENTIFICATION	src/replication/tombs.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "log_limit.h"
#include "common/tombs.h"
#include "store/collect.h"
#include "store/store.h"
#include "replication/outbox.h"
#include "replication/tombs.h"

/* records in one TOMBS frame: 160 kB, with every bound of a group 167 kB */
#define TOMBS_FRAME_RECORDS		4096

StaticAssertDecl(MANTIS_FRAME_TOMBS_HEAD_SIZE + TOMBS_FRAME_RECORDS * MANTIS_TOMB_RECORD_SIZE +
				 MANTIS_DIGEST_GROUP_LEAVES * MANTIS_TOMB_BOUND_SIZE <= 256 * 1024,
				 "a TOMBS frame stays within the smallest mantis_outbox_max_frame()");

/* A group's tombstones on their way to a peer */
typedef struct TombsOut
{
	Peer	   *to;
	const MantisMessage *reply_to;	/* NULL: on our connection */
	uint32		round;
	uint16		group;
	uint32		records;		/* in the frame being built */
	int			nbounds;
	int			leaves[MANTIS_DIGEST_GROUP_LEAVES];
	MantisLeafBound bounds[MANTIS_DIGEST_GROUP_LEAVES];
	bool		dropped;
} TombsOut;

/* a partition's share of records, copied under its lock */
static MantisRecordView *copy_buf = NULL;

static void
tombs_flush(TombsOut *o, bool last)
{
	int			nb = last ? o->nbounds : 0;

	for (int i = 0; i < nb; i++)
		mantis_outbox_tombs_bound(o->leaves[i], &o->bounds[i]);
	mantis_outbox_tombs_end(o->records, (uint16) nb);
	if (!(o->reply_to ? mantis_outbox_reply(o->to, o->reply_to) : mantis_outbox_send(o->to)))
		o->dropped = true;
	o->records = 0;
	if (!last)
		mantis_outbox_tombs_begin(o->round, o->group);
}

static void
tombs_record(const MantisRecordView *rec, void *arg)
{
	TombsOut   *o = (TombsOut *) arg;

	if (o->records == TOMBS_FRAME_RECORDS)
		tombs_flush(o, false);
	mantis_outbox_tombs_record(rec);
	o->records++;
}

static void
tombs_bound(int leaf, const MantisLeafBound *b, void *arg)
{
	TombsOut   *o = (TombsOut *) arg;

	o->leaves[o->nbounds] = leaf;
	o->bounds[o->nbounds++] = *b;
}

/*
 * Send a peer at version 5 the tombstones of the leaves of a group that
 * "wanted" marks (by leaf within the group): as the answer to its request
 * reply_to, or on our connection (the puller's push).  Nothing to a peer
 * of a lower version, nor when we hold no records.  False if a frame was
 * dropped (an answer then is not finished: replication/repair.c).
 */
bool
mantis_tombs_send(Peer *peer, const MantisMessage *reply_to, uint32 round, uint16 group,
				  const bool *wanted)
{
	uint32		capacity = mantis_store_dead_capacity();
	TombsOut   *o;
	MantisTombSink sink;
	bool		ok;

	if (mantis_tombs_version(peer) < MANTIS_FRAME_VERSION_TOMBS)
		return true;
	if (copy_buf == NULL)
		copy_buf = MemoryContextAlloc(TopMemoryContext, sizeof(MantisRecordView) * capacity);
	o = palloc0(sizeof(TombsOut));
	o->to = peer;
	o->reply_to = reply_to;
	o->round = round;
	o->group = group;
	sink.record = tombs_record;
	sink.bound = tombs_bound;
	sink.arg = o;
	mantis_outbox_tombs_begin(round, group);
	(void) mantis_store_group_tombs(group, wanted, copy_buf, &sink);
	if (o->records > 0 || o->nbounds > 0)
		tombs_flush(o, true);
	ok = !o->dropped;
	pfree(o);
	return ok;
}

/*
 * The version of our LEAVES answer to a peer: 5 when the answer carried
 * the group's tombstones (mantis_tombs_send() sends them), else 3.
 */
int
mantis_tombs_version(const Peer *peer)
{
	if (peer != NULL && peer->proto >= MANTIS_FRAME_VERSION_TOMBS &&
		mantis_store_dead_capacity() > 0)
		return MANTIS_FRAME_VERSION_TOMBS;
	return MANTIS_FRAME_VERSION_MIN;
}

/*
 * Whether a LEAVES answer to our round may lack the group's tombstones: we
 * speak 5, it came below 5, and the peer is not known to speak 4 at most.
 * A peer of 5 answers below 5 until it has learned our version: a
 * connection's first round starts at the first WELCOME, when either may
 * still hold the other's run at 3, and we may not yet know the peer's
 * versions either.  Acknowledging such a round would acknowledge deletions
 * we do not hold (R7: the records get collected, and our older values go
 * by adoption instead); the round is tainted, and the next one, a sync
 * interval later, counts.  A peer whose greeting says it speaks 4 at most
 * never sends tombstones: its rounds count (the price of a member at 4,
 * src/store/DEAD.md).  A version-3 peer (1.3) advertises nothing, so its
 * rounds never count here, but with a peer at 3 collection is by the
 * lifetime alone.
 */
bool
mantis_tombs_missing(const Peer *peer, const MantisFrame *leaves)
{
	bool		at_most_4 = peer->proto_max != 0 && peer->proto_max < MANTIS_FRAME_VERSION_TOMBS;

	return mantis_protocol_spoken() >= MANTIS_FRAME_VERSION_TOMBS && !at_most_4 &&
		leaves->version < MANTIS_FRAME_VERSION_TOMBS;
}

/* What a frame's tombstones came to */
typedef struct TombsTally
{
	uint64		taken;
	uint64		stale;
	uint64		collected;
	uint64		no_room;
	uint64		skewed;
} TombsTally;

static void
tally_one(TombsTally *t, MantisTombResult r)
{
	switch (r)
	{
		case MANTIS_TOMB_TAKEN:
			t->taken++;
			break;
		case MANTIS_TOMB_STALE:
			t->stale++;
			break;
		case MANTIS_TOMB_COLLECTED:
			t->collected++;
			break;
		case MANTIS_TOMB_NO_ROOM:
			t->no_room++;
			break;
	}
}

static void
report(Peer *peer, const TombsTally *t)
{
	MantisPeerCounters *c = mantis_peer_counters(peer);

	c->applied += t->taken;
	c->stale += t->stale;
	c->collected += t->collected;
	c->no_room += t->no_room;
	c->skewed += t->skewed;
	mantis_collect_count_refused(t->collected);
	if (t->taken > 0)
		mantis_collect_ask_compaction();	/* only a compaction writes records */
	if ((t->taken > 0 || t->no_room > 0) && mantis_log_due(peer, "tombstones"))
		ereport(LOG,
				(errmsg("mantis: took %llu hash tombstones of dead registers from %s (%llu refused for room)",
						(unsigned long long) t->taken,
						peer ? mantis_peer_label(peer) : "an unknown node",
						(unsigned long long) t->no_room),
				 errdetail("A record of a dead register compacted on that server replaced what this server held of its key, or stands for it (R7); a line at most every minute.")));
}

/*
 * Merge the tombstones of a TOMBS frame (checked by common/frame.c):
 * seen_flag goes on a register held that a tombstone does not replace,
 * and note, if given, gets each tombstone's and bound's fingerprint by
 * leaf.  True when every one was taken, stale or collected; false when one
 * found no room or was too far ahead of our clock (no hole: R7).
 */
bool
mantis_tombs_merge(Peer *peer, const MantisFrame *f, int seen_flag, MantisTombNote note)
{
	uint64		limit = mantis_clock_wall_ms() + (uint64) mantis_max_clock_offset_ms;
	uint64		collapse_ts = mantis_collect_collapse_below();
	uint64		hole_ts = mantis_collect_hole();
	TombsTally	t = {0};

	for (uint32 i = 0; i < f->count; i++)
	{
		MantisRecordView r;

		mantis_frame_tomb(f, i, &r);
		if (note)
			note(mantis_tomb_leaf(r.hash), r.fingerprint);
		if (mantis_hlc_ms(r.ts) > limit)
		{
			t.skewed++;
			continue;
		}
		tally_one(&t, mantis_store_tombstone(&r, true, collapse_ts, hole_ts, seen_flag));
	}
	for (uint16 i = 0; note && i < f->nbounds; i++)
	{
		MantisTombBound b;

		mantis_frame_tomb_bound(f, i, &b);
		note(b.leaf, b.bound.fingerprint);
	}
	report(peer, &t);
	return t.no_room == 0 && t.skewed == 0;
}
