/*-------------------------------------------------------------------------
 * replication/live.c
 *	  Live changes: every register written here goes to every peer at
 *	  once, and the registers peers send (live or in a repair) are merged
 *	  through the clock bound.
 *
 * Out.  Every register written here goes out in UPDATES frames as soon as the
 * worker wakes (at most one batch every LIVE_PACE_MS, or STREAM_PACE_MS
 * within a stream of writes: live_pace_ms()): the worker takes the
 * store's dirty leaves for replication and copies the registers flagged in
 * them.  Nothing waits for an answer.  Each frame has the next sequence
 * number, and the last of a batch a watermark, which peers acknowledge
 * (replication/horizon.c): before taking the dirty leaves, at most every
 * WATERMARK_MS, the worker reads the clock and then passes every partition
 * lock once (mantis_store_write_barrier()), so that every write with an HLC up
 * to that reading has marked its leaf and is in this batch or an earlier one.
 * A batch taken while no peer is connected still uses a sequence number, so
 * that every peer sees the gap.  A server that writes nothing sends an empty
 * batch each HEARTBEAT_MS, so that its watermark, and with it the
 * acknowledgements, keep up with the clock; and one WATERMARK_MS after the
 * barrier of a batch that carried registers under a watermark taken before
 * them (reused within WATERMARK_MS), so that what a peer holds of ours
 * passes a write within milliseconds, not at the next heartbeat: a
 * mantis_wait_for() on the peer waits for just that (api/tokens.c).  When a connected peer's ZeroMQ
 * queue is full (it is slower than we are for a moment), frames wait in a
 * queue of ours of at most PEER_QUEUE_BYTES; past that, or for a peer that is
 * not connected, they are dropped and counted, and a repair round brings the
 * peer up to date (replication/repair.c).  Live changes go only to a peer
 * whose greeting had our limits (replication/protocol.c).
 *
 * In.  Every register of an UPDATES frame (checked by common/frame.c) must fit
 * this server's limits and be valid in its encoding, or it is counted as
 * malformed.  One more than mantis.max_clock_offset ahead of our wall clock
 * is rejected and counted, so that one fast clock cannot win every write;
 * the rest are merged, and move our clock past them.  A register for a key
 * we hold nothing of, at or below the refusal horizon, is a copy of
 * something collected here and is refused (replication/horizon.c).  One the
 * full store refuses for room is a hole, unless our rows hold that very
 * register back (store/held.c).
 *
 * IDENTIFICATION	src/replication/live.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "common/rules.h"
#include "store/collect.h"
#include "store/held.h"
#include "store/store.h"
#include "replication/horizon.h"
#include "replication/live.h"
#include "replication/outbox.h"

#define LIVE_PACE_MS			1	/* least time between two live batches */
#define STREAM_PACE_MS			4	/* ... within a stream of writes */
#define STREAM_BATCHES			4	/* paced batches in a row that make one */
#define STREAM_LEAVES			8	/* ... each with changes in as many leaves */
#define PEER_QUEUE_BYTES		(8 * 1024 * 1024)	/* live frames held per peer */
#define WATERMARK_MS			10	/* least time between two barriers */
#define HEARTBEAT_MS			1000	/* an empty batch, to move the watermark */
#define WITNESS_MS				50	/* ... sooner, past a peer's registers merged */

/* leaves with registers still to send, and when a batch last went out */
static MantisLeafSet send_pending;
static TimestampTz last_live_send = 0;

/* batches in a row that left as soon as the pace let them (see live_pace_ms()) */
static int	paced_in_a_row = 0;

/* the last frame sent and the last batch's watermark; see replication/horizon.c */
static MantisLiveMark sent = {0, 0};

/* a peer's registers were merged since the last batch (see mantis_live_wake_at()) */
static bool witnessed = false;
static TimestampTz last_barrier = 0;

/* the last batch carried registers its (reused) watermark may not cover */
static bool watermark_behind = false;

void
mantis_live_start(void)
{
	memset(&send_pending, 0xFF, sizeof(send_pending));	/* look everywhere once */
}

/* Hand queued live frames to ZeroMQ while it takes them. */
void
mantis_live_drain(Peer *peer)
{
	while (peer->queue.head)
	{
		QueuedFrame *q = peer->queue.head;
		MantisPeerCounters *c;

		if (!mantis_transport_send(peer->conn, q->data, q->len))
			return;
		c = mantis_peer_counters(peer);
		c->messages_out++;
		c->bytes_out += q->len;
		peer->queue.bytes -= q->len;
		peer->queue.head = q->next;
		if (peer->queue.head == NULL)
			peer->queue.tail = NULL;
		pfree(q);
	}
}

/* Put the frame at the end of a peer's queue. */
static void
queue_append(Peer *peer, const char *data, int len)
{
	QueuedFrame *q = MemoryContextAlloc(TopMemoryContext,
										offsetof(QueuedFrame, data) + len);

	q->next = NULL;
	q->len = len;
	memcpy(q->data, data, len);
	if (peer->queue.tail)
		peer->queue.tail->next = q;
	else
		peer->queue.head = q;
	peer->queue.tail = q;
	peer->queue.bytes += len;
}

/*
 * Send the frame the outbox built last as a live change: behind whatever
 * is queued for this peer, and queued itself if ZeroMQ has no room now.  A
 * frame that would overflow the queue empties it instead, and asks for a
 * repair.
 */
static void
send_live(Peer *peer)
{
	const char *data = mantis_outbox_data();
	int			len = mantis_outbox_len();
	MantisPeerCounters *c;

	if (peer->conn < 0 || peer->state == MANTIS_PEER_REFUSED)
		return;
	c = mantis_peer_counters(peer);
	if (peer->greeting != GREETING_OK)
	{
		/* its limits are not known yet: the first repair round catches up */
		c->dropped++;
		return;
	}
	mantis_live_drain(peer);
	if (peer->queue.head == NULL && mantis_transport_send(peer->conn, data, len))
	{
		c->messages_out++;
		c->bytes_out += len;
		return;
	}
	if (peer->state != MANTIS_PEER_CONNECTED ||
		peer->queue.bytes + len > PEER_QUEUE_BYTES)
	{
		mantis_peer_drop_queue(peer);
		c->dropped++;
		peer->queue.repair_asap = true;
		return;
	}
	queue_append(peer, data, len);
}

/*
 * MantisUpdates.flush: a live frame goes to every peer, and the next one
 * gets the next sequence number.
 */
static void
broadcast_updates(MantisUpdates *b)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (mantis_peer_table[i].used)
			send_live(&mantis_peer_table[i]);
	}
	sent.seq = b->round;
	if (++b->round == 0)
		b->round = 1;
}

/* MantisUpdates.flush within a batch: full frames only */
static void
broadcast_full(MantisUpdates *b)
{
	if (b->count > 0)
		broadcast_updates(b);
}

/*
 * The watermark of the batch about to be taken: a fresh one at most every
 * WATERMARK_MS, else the last (still true, if lower than it could be).
 */
static uint64
batch_watermark(TimestampTz now, bool *reused)
{
	uint64		watermark;

	*reused = !TimestampDifferenceExceeds(last_barrier, now, WATERMARK_MS);
	if (*reused)
		return sent.watermark;
	last_barrier = now;

	/*
	 * Issued, not read: a reading of the clock (the wall clock's millisecond
	 * with logical 0) is the very HLC the next write of that millisecond
	 * gets, after the barrier and outside this batch.  An HLC issued here
	 * is one no write has, and every later write's is greater.  (Found by
	 * test/sim.)
	 */
	watermark = mantis_clock_now().ts;
	mantis_store_write_barrier();
	return watermark;
}

/*
 * When the next empty batch is due, to move our watermark: each
 * HEARTBEAT_MS, and WITNESS_MS after we merged registers of a peer.  Our
 * clock has passed them then, and a watermark past them lets our peers'
 * acknowledgements of us pass them: a dead register of theirs is collected
 * only once every member's "stable" has (replication/horizon.c), and a
 * server that only receives would otherwise hold it back for up to a
 * second.
 */
TimestampTz
mantis_live_wake_at(void)
{
	TimestampTz at = TimestampTzPlusMilliseconds(last_live_send,
												 witnessed ? WITNESS_MS : HEARTBEAT_MS);

	/* registers sent under a watermark from before them: a fresh one soon */
	if (watermark_behind)
		at = Min(at, TimestampTzPlusMilliseconds(last_barrier, WATERMARK_MS));
	return at;
}

/* Where our live stream stands: the last frame and watermark sent */
MantisLiveMark
mantis_live_mark(void)
{
	return sent;
}

/* Whether we connect to any peer: else changes are taken, not copied */
static bool
have_outbound(void)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (mantis_peer_table[i].used && mantis_peer_table[i].conn >= 0)
			return true;
	}
	return false;
}

/*
 * The least time between two live batches.  The first write after a quiet
 * spell goes out at once, and under a stream of writes each batch carries a
 * millisecond's worth, not a frame per write; once STREAM_BATCHES batches in
 * a row have left as soon as the pace let them, each with changes in
 * STREAM_LEAVES leaves or more, the writes come in a stream and a batch
 * carries STREAM_PACE_MS' worth.  Every batch costs this worker
 * and each peer's a wakeup, a frame and its acknowledgement, whatever it
 * carries: on two cores, at tens of thousands of writes a second, those
 * cost more than the registers themselves (test/bench/README.md).
 */
static int
live_pace_ms(void)
{
	return paced_in_a_row >= STREAM_BATCHES ? STREAM_PACE_MS : LIVE_PACE_MS;
}

/*
 * Whether a live batch may go out now; also when the wall clock has
 * stepped back past the last batch, which must not stop the batches (and
 * the heartbeats) for as long as the step.
 */
bool
mantis_live_send_due(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return now < last_live_send ||
		TimestampDifferenceExceeds(last_live_send, now, live_pace_ms());
}

/*
 * Milliseconds until a live batch may go out, for the worker's paced sleep
 * (with its latch off, so never longer than a pace): at least 1.
 */
long
mantis_live_pace_left_ms(void)
{
	long		left = mantis_clock_ms_until(TimestampTzPlusMilliseconds(last_live_send,
																		  live_pace_ms()));

	return Max(1, Min(left, live_pace_ms()));
}

/* Whether the last batch followed a stream of writes (see live_pace_ms()) */
bool
mantis_live_streaming(void)
{
	return paced_in_a_row > 0;
}

/*
 * Send every register written here since the last call to every peer.
 */
void
mantis_live_send_changes(void)
{
	MantisUpdates b = {0};
	uint64		watermark;
	TimestampTz now = GetCurrentTimestamp();
	bool		reused;

	bool		heartbeat = now >= mantis_live_wake_at();

	if (!heartbeat && !mantis_store_has_dirty(MANTIS_CONSUMER_REPLICATION))
		return;
	/* the watermark is read before the dirty bits it vouches for */
	watermark = batch_watermark(now, &reused);
	mantis_store_take_dirty(MANTIS_CONSUMER_REPLICATION, &send_pending);
	if (!heartbeat && mantis_leafset_is_empty(&send_pending))
		return;
	watermark_behind = reused && !mantis_leafset_is_empty(&send_pending);

	/*
	 * A batch that left within a millisecond of being due, with changes in
	 * several leaves, follows a stream of writes.  One writer that waits for
	 * each write to replicate before the next makes batches as often, but of
	 * one register each: a longer pace would only slow it down.
	 */
	if (!TimestampDifferenceExceeds(last_live_send, now, live_pace_ms() + LIVE_PACE_MS) &&
		pg_popcount((const char *) send_pending.words, sizeof(send_pending.words)) >= STREAM_LEAVES)
		paced_in_a_row = Min(paced_in_a_row + 1, STREAM_BATCHES);
	else
		paced_in_a_row = 0;
	last_live_send = now;
	witnessed = false;
	b.group = MANTIS_LIVE_GROUP;
	b.round = sent.seq + 1 == 0 ? 1 : sent.seq + 1;
	b.flush = broadcast_full;
	mantis_updates_begin(&b);
	mantis_store_take_leaves(MANTIS_CONSUMER_REPLICATION, &send_pending, NULL,
							 have_outbound() ? mantis_updates_add : NULL, &b);
	mantis_updates_end_batch(&b, watermark);
	broadcast_updates(&b);
	sent.watermark = watermark;
}

/*
 * Merge the registers of an UPDATES frame (already checked by common/frame.c),
 * through the clock bound and the refusal horizon; "extra_flags" are set on
 * the register kept for each key (MANTIS_REG_SEEN, replication/repair.c).
 * Returns true when every register was stored or superseded (or refused as
 * collected).  What is refused for another reason (no room, our limits, a
 * clock too far ahead) is a hole the peer holds and we do not
 * (replication/horizon.c); but a register refused for room that our rows
 * hold back, its key at its HLC (store/held.c), is no hole, and leaves the
 * frame clean: it merges from our rows, which refuse nothing (the rule R5
 * of common/rules.h).  It is
 * still counted as no room (mantis_peers.rejected_no_room), without the
 * warning: the load said it held the rows back.
 */
bool
mantis_live_merge(Peer *peer, const MantisFrame *f, int extra_flags)
{
	MantisPeerCounters *c = mantis_peer_counters(peer);
	const unsigned char *p = f->registers;
	uint64		limit = mantis_clock_wall_ms() + (uint64) mantis_max_clock_offset_ms;
	uint64		skewed = 0;
	uint64		malformed = 0;
	uint64		ahead_ms = 0;
	MantisMergeTally merged = {0};
	uint64		hole = MANTIS_RULES_NO_HOLE;
	uint64		held = 0;		/* refused for room, but held in our rows */
	bool		clean;
	MantisRecord next;
	bool		have_next;

	/* cannot fail: the frame was decoded before */
	have_next = f->count > 0 && mantis_codec_get_register(&p, f->end, &next) == NULL;
	for (uint32 i = 0; have_next; i++)
	{
		MantisRecord rec = next;

		/* the next register's bucket and leaf load while this one merges */
		have_next = i + 1 < f->count && mantis_codec_get_register(&p, f->end, &next) == NULL;
		if (have_next)
			mantis_store_prefetch(next.key, next.key_len);
		if (!mantis_store_admits(&rec))
		{
			malformed++;
			hole = mantis_rules_hole_after(hole, rec.hlc.ts);
			continue;
		}
		if (mantis_hlc_ms(rec.hlc.ts) > limit)
		{
			skewed++;
			ahead_ms = Max(ahead_ms, mantis_hlc_ms(rec.hlc.ts) - limit +
						   (uint64) mantis_max_clock_offset_ms);
			hole = mantis_rules_hole_after(hole, rec.hlc.ts);
			continue;
		}
		switch (mantis_store_merge(&rec, MANTIS_REG_UNFLUSHED | extra_flags,
								   true, &merged))
		{
			case MANTIS_PUT_NO_KEYS:
			case MANTIS_PUT_NO_MEMORY:
				/* no hole if our rows hold it back (store/held.c) */
				if (mantis_held_covers(&rec))
					held++;
				else
					hole = mantis_rules_hole_after(hole, rec.hlc.ts);
				break;
			default:
				break;
		}
	}
	if (hole != MANTIS_RULES_NO_HOLE)
		mantis_horizon_hole(peer, hole);
	c->applied += merged.applied;
	witnessed |= merged.applied > 0;
	c->stale += merged.stale;
	c->no_room += merged.no_room;
	c->collected += merged.collected;
	mantis_collect_count_refused(merged.collected);
	c->malformed += malformed;
	c->skewed += skewed;
	clean = skewed == 0 && malformed == 0 && merged.no_room == held;
	if (f->group == MANTIS_LIVE_GROUP)
		mantis_horizon_on_live(peer, f, clean);
	if (skewed > 0)
		mantis_peer_problem(peer, LOG,
							"rejected %llu registers from %s with clocks up to %llu ms ahead of ours (\"mantis.max_clock_offset\" is %d ms)",
							(unsigned long long) skewed, peer ? mantis_peer_label(peer) : "an unknown node",
							(unsigned long long) ahead_ms, mantis_max_clock_offset_ms);
	if (merged.no_room > held)
		mantis_peer_problem(peer, WARNING,
							"the store is full: %llu registers from %s were not stored; raise \"mantis.max_keys\" or \"mantis.store_memory\"",
							(unsigned long long) (merged.no_room - held), peer ? mantis_peer_label(peer) : "an unknown node");
	return clean;
}

