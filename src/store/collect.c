/*-------------------------------------------------------------------------
 * store/collect.c
 *	  When the store is swept, and with what horizons: the persistence
 *	  worker's collection of deletion markers and expired registers, as
 *	  soon as one is due.
 *
 * The sweep itself is store/sweep.c; the horizons come from the replication
 * worker (replication/horizon.c), which publishes them in shared memory.
 * Without replication every marker is held by every server there is, so the
 * horizon is our clock.  On a standby only the lifetime collects.  With
 * replication, nothing is collected until the replication worker has published
 * a horizon: after a crash restart the shared values start at 0, and so does
 * collection.
 *
 * Every sweep that collects raises the refusal horizon to the greatest HLC
 * it collected (the rule R4 of common/rules.h), as does every adoption
 * (replication/repair.c), once the compaction that drops what it adopted
 * has committed (persist/flush.c); every row the persistence worker writes from then
 * on carries it (persist/flush.c), and loading takes the greatest
 * (persist/load.c), so a restart keeps refusing what was collected before
 * it.  Without replication the sweep's horizon is our own clock, and raises
 * nothing: there is no peer to refuse, and a peer added later must not see
 * its older registers refused.
 *
 * When.  A dead register waits for what the rules of common/rules.h need,
 * and for no timer: its flush and its send here (R3: an older copy in our
 * rows, or on its way, must be superseded first), and the horizon (R2:
 * every member holds it or newer, flushed, which costs each member a flush
 * after it arrived and a greeting each way, sent as soon as they change:
 * replication/horizon.c).  The sweep runs as soon as one of those has
 * happened for a register it kept, or an expiry has passed (sweep_due()),
 * at most every SWEEP_MIN_INTERVAL_MS; the once-a-second sweep that was
 * here added up to a second to every collection, and an expired register
 * kept its room that much longer.  A register already flushed as the very
 * register it is (an expiry changes no byte of it, and sets no flag) waits
 * for no further flush: only a write sets UNFLUSHED.
 *
 * IDENTIFICATION	src/store/collect.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "wakeup.h"
#include "common/rules.h"
#include "store/collect.h"
#include "store/store.h"

#define SWEEP_INTERVAL_MS	1000	/* the longest time between two sweeps */
#define SWEEP_MIN_INTERVAL_MS	100	/* the shortest */
#define BUSY_MS					2000	/* see mantis_collect_busy() */
#define COMPACT_GRACE_INTERVALS	4	/* see compact_bound() */
#define COMPACT_GRACE_MAX_MS	5000	/* ditto */

/* The horizons in shared memory; HLC times, 0 for none */
typedef struct CollectShared
{
	pg_atomic_uint64 stable_ts; /* published by the replication worker */
	pg_atomic_uint64 lifetime_ts;	/* ditto: the lifetime bound, or 0 */
	pg_atomic_uint64 hole_ts;	/* ditto: the least hole, or NO_HOLE */
	pg_atomic_uint64 clock_ms;	/* ditto: the least clock among ours and our
								 * members', as estimated, or 0 (R7) */
	pg_atomic_uint64 load_hole_ts;	/* the persistence worker's: held back rows */
	pg_atomic_uint64 lost_hole_ts;	/* ditto: lost with rows, until the
									 * replication worker takes it over */
	pg_atomic_uint64 refused;	/* registers refused as collected */
	pg_atomic_uint64 gathered;	/* persistence: passes that took dirty leaves */
	pg_atomic_uint64 durable;	/* the last such pass whose changes are flushed */
	pg_atomic_uint32 compaction_asked;	/* registers dropped outside the sweep */
	pg_atomic_uint64 generation;	/* the greatest row id of mantis_stores */
	pg_atomic_uint64 least_dead_ts; /* the sweep's: least dead HLC it kept */
	pg_atomic_uint64 busy_until_ms; /* ... and until when collection is busy */

	/* how collection goes, for mantis_status; under mutex */
	slock_t		mutex;
	int			mode;			/* a MantisCollectMode, or -1: no worker */
	int			members;		/* in our member set, us included */
	char		who[MANTIS_COLLECT_WHO_SIZE];	/* the member that stops it */
} CollectShared;

static CollectShared *collect = NULL;
static TimestampTz next_sweep_at = 0;

/* Raise an atomic to v if it is lower */
static void
raise_to(pg_atomic_uint64 *a, uint64 v)
{
	uint64		old = pg_atomic_read_u64(a);

	while (old < v && !pg_atomic_compare_exchange_u64(a, &old, v))
		;
}

Size
mantis_collect_shmem_size(void)
{
	return sizeof(CollectShared);
}

void
mantis_collect_shmem_init(void *place, bool found)
{
	collect = (CollectShared *) place;
	if (found)
		return;
	pg_atomic_init_u64(&collect->stable_ts, 0);
	pg_atomic_init_u64(&collect->lifetime_ts, 0);
	pg_atomic_init_u64(&collect->clock_ms, 0);
	pg_atomic_init_u64(&collect->hole_ts, MANTIS_RULES_NO_HOLE);
	pg_atomic_init_u64(&collect->load_hole_ts, MANTIS_RULES_NO_HOLE);
	pg_atomic_init_u64(&collect->lost_hole_ts, MANTIS_RULES_NO_HOLE);
	pg_atomic_init_u64(&collect->refused, 0);
	pg_atomic_init_u64(&collect->gathered, 0);
	pg_atomic_init_u64(&collect->durable, 0);
	pg_atomic_init_u32(&collect->compaction_asked, 0);
	pg_atomic_init_u64(&collect->generation, 0);
	pg_atomic_init_u64(&collect->least_dead_ts, PG_UINT64_MAX);
	pg_atomic_init_u64(&collect->busy_until_ms, 0);
	SpinLockInit(&collect->mutex);
	collect->mode = -1;
	collect->members = 0;
	collect->who[0] = '\0';
}

/*
 * Registers were adopted away (replication/repair.c: a peer collected their
 * deaths) while the rows of mantis_stores still hold them: ask the
 * persistence worker for a compaction, which rewrites the rows without
 * them and, once committed, drops them from the store (persist/flush.c).
 * Any process.
 */
void
mantis_collect_ask_compaction(void)
{
	pg_atomic_write_u32(&collect->compaction_asked, 1);
}

/* Whether a compaction was asked for since the last call; clears the ask. */
bool
mantis_collect_compaction_asked(void)
{
	return pg_atomic_exchange_u32(&collect->compaction_asked, 0) != 0;
}

/*
 * How collection goes, published by the replication worker each time it
 * works out the collection horizon (replication/horizon.c): a
 * MantisCollectMode (-1 while no replication worker has), the member that
 * stops collection by acknowledgement ("" if none), and how many members
 * we count.
 */
void
mantis_collect_publish_mode(int mode, const char *who, int members)
{
	SpinLockAcquire(&collect->mutex);
	collect->mode = mode;
	collect->members = members;
	strlcpy(collect->who, who ? who : "", sizeof(collect->who));
	SpinLockRelease(&collect->mutex);
}

void
mantis_collect_mode(int *mode, char *who, size_t who_size, int *members)
{
	SpinLockAcquire(&collect->mutex);
	*mode = collect->mode;
	*members = collect->members;
	strlcpy(who, collect->who, who_size);
	SpinLockRelease(&collect->mutex);
}

/*
 * The generation of our durable store: the greatest id of a row of
 * mantis_stores the persistence worker has loaded or written.  Ids come
 * from the table's identity sequence and only grow while the server lives
 * on; a server restored from a backup, recovered to a point in time, or
 * promoted from a standby that had not replayed every flush comes back
 * with a lower one, which its peers notice in its greetings
 * (replication/horizon.c).  0 until persistence has run.
 */
void
mantis_collect_note_generation(uint64 generation)
{
	raise_to(&collect->generation, generation);
}

uint64
mantis_collect_generation(void)
{
	return pg_atomic_read_u64(&collect->generation);
}

/*
 * Durability of what we hold, for our acknowledgements
 * (replication/horizon.c): the persistence worker counts each time it takes
 * the dirty leaves (mantis_collect_gathered()), and publishes the count of the
 * last take whose registers a flush has since written
 * (mantis_collect_durable()).  A register merged before a take numbered N is
 * in mantis_stores once durable >= N, so a crash can no longer lose it.  After
 * a crash restart both start at 0 again, as do the acknowledgements that use
 * them.
 */
uint64
mantis_collect_gathered(void)
{
	return pg_atomic_add_fetch_u64(&collect->gathered, 1);
}

uint64
mantis_collect_gathered_now(void)
{
	return pg_atomic_read_u64(&collect->gathered);
}

void
mantis_collect_durable(uint64 gathered)
{
	raise_to(&collect->durable, gathered);
}

uint64
mantis_collect_durable_upto(void)
{
	return pg_atomic_read_u64(&collect->durable);
}

/*
 * The replication worker's horizons (replication/horizon.c): the collection
 * horizon only rises; the lifetime bound follows the clock, or is 0 while this
 * server may not collect by lifetime yet; the least hole (the rule R5 of
 * common/rules.h) below which alone the lifetime collects.
 */
void
mantis_collect_publish(uint64 stable_ts, uint64 lifetime_ts, uint64 hole_ts,
					   uint64 lifetime_bound_ms)
{
	uint64		old_stable = pg_atomic_read_u64(&collect->stable_ts);

	/* the least clock, a lifetime ahead of the lifetime's bound */
	pg_atomic_write_u64(&collect->clock_ms, lifetime_bound_ms == 0 ? 0 :
						lifetime_bound_ms + (uint64) mantis_tombstone_lifetime_s * 1000);
	raise_to(&collect->stable_ts, stable_ts);
	pg_atomic_write_u64(&collect->hole_ts, hole_ts);
	pg_atomic_write_u64(&collect->lifetime_ts, lifetime_ts);
	/* the horizon passed a dead register the sweep kept: sweep now */
	if (stable_ts > old_stable && stable_ts >= pg_atomic_read_u64(&collect->least_dead_ts))
		mantis_wake_worker(MANTIS_PERSIST_WORKER);
}

/*
 * The least hole (the rule R5 of common/rules.h): a register refused from a
 * peer (published by the replication worker) or lost with rows of
 * mantis_stores, or held back in the rows of mantis_stores (by the
 * persistence worker, persist/load.c).  It bounds the
 * refusal horizon we announce and what we adopt.
 */
uint64
mantis_collect_hole(void)
{
	return Min(mantis_collect_peer_hole(),
			   pg_atomic_read_u64(&collect->load_hole_ts));
}

/*
 * The least register refused from a peer, or lost with rows of
 * mantis_stores (mantis_collect_lower_refusal_horizon()): the sweep collects
 * nothing at or above it, so that our refusal horizon never covers it (else we would
 * refuse it as collected once we have room).  A register held back at load
 * needs less: it merges from our own rows, which refuse nothing, so only
 * its own key's dead register must wait for it (the held keys below); and
 * a peer's register refused for room that those rows hold back is no
 * hole (store/held.c, replication/live.c).
 */
uint64
mantis_collect_peer_hole(void)
{
	return Min(pg_atomic_read_u64(&collect->hole_ts),
			   pg_atomic_read_u64(&collect->lost_hole_ts));
}

/* Whether registers of mantis_stores are held back at load */
bool
mantis_collect_rows_held_back(void)
{
	return pg_atomic_read_u64(&collect->load_hole_ts) != MANTIS_RULES_NO_HOLE;
}

/*
 * Below which HLC a compaction starting now makes adoptions durable (R6 of
 * common/rules.h, mantis_rules_adoption_covered()): our least hole, or 0
 * (none at all) while rows of mantis_stores hold registers back - such a
 * row is not deleted, may hold what was adopted, and would bring it back
 * with a crash restart.  persist/flush.c covers by it, and
 * replication/repair.c asks for a compaction only when it would cover
 * something.
 */
uint64
mantis_collect_cover_hole(void)
{
	return mantis_collect_rows_held_back() ? 0 : mantis_collect_hole();
}

/*
 * The persistence worker's keys held back in its rows (persist/heldset.c),
 * for its sweep; replication reads a bounded copy in store/held.c.
 */
static const uint64 *held_keys = NULL;
static int	held_nkeys = 0;

void
mantis_collect_set_held_keys(const uint64 *hashes, int n)
{
	held_keys = hashes;
	held_nkeys = n;
}

/* A hole just opened: lower the published least hole at once (any process) */
void
mantis_collect_note_hole(uint64 hole_ts)
{
	uint64		old = pg_atomic_read_u64(&collect->hole_ts);

	while (old > hole_ts && !pg_atomic_compare_exchange_u64(&collect->hole_ts, &old, hole_ts))
		;
}

void
mantis_collect_set_load_hole(uint64 hole_ts)
{
	pg_atomic_write_u64(&collect->load_hole_ts, hole_ts);
}

void
mantis_collect_horizons(uint64 *stable_ts, uint64 *lifetime_ts)
{
	*stable_ts = pg_atomic_read_u64(&collect->stable_ts);
	*lifetime_ts = pg_atomic_read_u64(&collect->lifetime_ts);
}

/* The refusal horizon: the greatest HLC of a register collected or adopted */
uint64
mantis_collect_refusal_horizon(void)
{
	return mantis_store_refusal_horizon();
}

/* A sweep collected, a round adopted, or rows loaded carry a horizon */
void
mantis_collect_raise_refusal_horizon(uint64 ts)
{
	mantis_store_raise_refusal_horizon(ts);
}

/*
 * Rows of mantis_stores that held registers back are gone (a TRUNCATE, a
 * DELETE, the extension dropped and created again) while the server runs:
 * what they held is no longer ours, yet our refusal horizon may cover it,
 * and we would refuse it as collected from the peers that hold it and
 * announce a horizon over it, for them to adopt it away (a committed write
 * lost on every server).  It is a hole (R5 of common/rules.h): something
 * our peers hold and we do not, at or above below_ts.  Noted first, so
 * that nothing we announce, adopt or collect passes it from now on (the
 * sweep would raise the horizon past it again at once), then the horizon
 * lowered below it: we take it back from them.  The replication worker
 * takes the hole over as one of a peer that left, closed once every member
 * has completed a round with us since (mantis_collect_take_lost_hole()).
 * The price: a stale copy of a key collected above that point is no
 * longer refused here (R4).  The persistence worker; the next flush, a
 * full snapshot, persists the lowered horizon.
 */
void
mantis_collect_lower_refusal_horizon(uint64 below_ts)
{
	uint64		old = pg_atomic_read_u64(&collect->lost_hole_ts);

	if (below_ts == 0 || below_ts == MANTIS_RULES_NO_HOLE)
		return;
	while (old > below_ts &&
		   !pg_atomic_compare_exchange_u64(&collect->lost_hole_ts, &old, below_ts))
		;
	mantis_store_lower_refusal_horizon(below_ts);
}

/*
 * The replication worker (replication/horizon.c): the hole of registers
 * lost with rows since its last call, NO_HOLE if none.  The caller has
 * published it as a hole of its own (mantis_collect_note_hole()) before it
 * calls mantis_collect_lost_hole_taken(), so that the sweep never misses it.
 */
uint64
mantis_collect_lost_hole(void)
{
	return pg_atomic_read_u64(&collect->lost_hole_ts);
}

void
mantis_collect_lost_hole_taken(uint64 hole_ts)
{
	/* lowered again meanwhile: a new loss, for the next call */
	(void) pg_atomic_compare_exchange_u64(&collect->lost_hole_ts, &hole_ts,
										  MANTIS_RULES_NO_HOLE);
}

/*
 * How far the registers a compaction leaves out as adopted away, the
 * greatest at covered_max_ts (0: none), raise the refusal horizon (R4 of
 * common/rules.h): to that greatest one, below our least hole.  Each was
 * adopted only once a round with every member since this run began had
 * merged all it holds (R6, replication/horizon.c's mantis_horizon_may_adopt),
 * so we held then everything our members hold ("whole"); the compaction
 * covers none at or above our least hole (mantis_rules_adoption_covered()).
 * The compaction's rows carry the raise, and the persistence worker makes
 * it here once they have committed (persist/flush.c).
 */
uint64
mantis_collect_adopted_raise(uint64 covered_max_ts)
{
	uint64		stable_ts;
	uint64		lifetime_ts;

	if (covered_max_ts == 0)
		return 0;
	mantis_collect_horizons(&stable_ts, &lifetime_ts);
	return mantis_rules_adopted_raise(covered_max_ts, stable_ts, lifetime_ts,
									  mantis_collect_hole(), true);
}

/* Registers from peers refused as copies of collected ones: count, total */
void
mantis_collect_count_refused(uint64 n)
{
	if (n > 0)
		pg_atomic_fetch_add_u64(&collect->refused, n);
}

uint64
mantis_collect_refused(void)
{
	return pg_atomic_read_u64(&collect->refused);
}

/*
 * Below what a full budget of records may collapse one (R7; 0: nothing):
 * the least clock among ours and our members' as the replication worker
 * last estimated it (see compact_bound()), less the clocks' tolerated
 * offset, and below every hole, the rows' held back too: a bound refuses
 * a row's register as a peer's.  The sweep's compaction and a hash
 * tombstone taken (replication/tombs.c) collapse below it.
 */
uint64
mantis_collect_collapse_below(void)
{
	uint64		clock_ms = pg_atomic_read_u64(&collect->clock_ms);

	if (clock_ms <= (uint64) mantis_max_clock_offset_ms)
		return 0;
	return Min(mantis_hlc_pack(clock_ms - mantis_max_clock_offset_ms, 0), mantis_collect_hole());
}

/*
 * The compaction bound of a sweep (R7 of common/rules.h): a dead register
 * kept COMPACT_GRACE_INTERVALS sync intervals (the repair rounds that mend
 * a lost frame), after which the horizon, every member up, would have
 * collected it, becomes a record, off mantis.max_keys.  At most
 * COMPACT_GRACE_MAX_MS: the grace costs room under mantis.max_keys at the
 * rate registers die (four intervals of the default 15 s at 4,000 deaths
 * a second would be 240,000 registers, where a store sized for three times
 * its 5-s sessions holds 60,000), while a register compacted that the
 * horizon then collects costs only its record for a moment.  And none
 * while a member is down or has not greeted us in this run (or a listed
 * peer has never said its name): the horizon stands still until it
 * returns, and every dead register kept in full meanwhile only takes room
 * from live ones (compact_grace_ms()).  Only on a primary with replication (elsewhere the
 * horizon or the lifetime collects alone), with records kept
 * (mantis.max_dead_records), and on a server whose mantis.protocol_max
 * is 5 (mantis_rules_compact()), whose repair answers carry records as
 * hash tombstones to peers at 5 (replication/tombs.c); a peer at 4 pays
 * the price (src/store/DEAD.md).  When the
 * budget is full, the oldest record collapses into its leaf's bound only
 * below the least clock among ours and our members' (R3: the bound must
 * not refuse what a member writes next), as the replication worker last
 * estimated it, less mantis.max_clock_offset: an estimate runs each
 * member's last reading on at the pace of our clock.
 */
static uint64
compact_grace_ms(void)
{
	int			mode;

	SpinLockAcquire(&collect->mutex);
	mode = collect->mode;
	SpinLockRelease(&collect->mutex);
	if (mode == MANTIS_COLLECT_UNGREETED || mode == MANTIS_COLLECT_UNIDENTIFIED)
		return 0;
	return Min((uint64) mantis_sync_interval_ms * COMPACT_GRACE_INTERVALS,
			   COMPACT_GRACE_MAX_MS);
}

static void
compact_bound(MantisSweepHorizon *h)
{
	uint64		grace_ms = compact_grace_ms();

	h->collapse_ts = mantis_collect_collapse_below();
	h->compact_ms = 0;
	h->compact_protocol = mantis_protocol_max;
	/*
	 * No bound where the rule compacts nothing (mantis.protocol_max below
	 * 5): the bound makes every leaf holding a register dead past it due
	 * at each sweep (store/sweep.c's is_due()), and each sweep would visit
	 * them all to compact none.
	 */
	if (mantis_max_dead_records > 0 && mantis_protocol_max >= MANTIS_RULES_RECORDS_PROTOCOL &&
		h->now_ms > grace_ms)
		h->compact_ms = h->now_ms - grace_ms;
}

/* The horizons of a sweep starting now */
static void
sweep_horizon(MantisSweepHorizon *h)
{
	uint64		lifetime_ms = (uint64) mantis_tombstone_lifetime_s * 1000;

	h->now_ms = mantis_clock_wall_ms();
	h->compact_ms = 0;
	h->compact_protocol = 0;
	h->collapse_ts = 0;
	h->raise_by_lifetime = mantis_rules_sweep_raises(MANTIS_SWEEP_BY_LIFETIME,
													 mantis_replication_enabled());
	h->raise_by_horizon = mantis_rules_sweep_raises(MANTIS_SWEEP_BY_HORIZON,
													mantis_replication_enabled());
	if (RecoveryInProgress())
	{
		/*
		 * A standby follows its primary's rows, and may be promoted to
		 * take its place among peers that still hold older copies: only
		 * the lifetime collects here.
		 */
		h->stable_ts = 0;
		h->lifetime_ts = h->now_ms > lifetime_ms ?
			mantis_hlc_pack(h->now_ms - lifetime_ms, 0) : 0;
		h->hole_ts = MANTIS_RULES_NO_HOLE;
		return;
	}
	if (!mantis_replication_enabled())
	{
		h->stable_ts = mantis_clock_peek();
		h->lifetime_ts = 0;
		h->hole_ts = MANTIS_RULES_NO_HOLE;
		return;
	}
	mantis_collect_horizons(&h->stable_ts, &h->lifetime_ts);
	h->hole_ts = mantis_collect_peer_hole();
	compact_bound(h);
}

/*
 * When the sweep has something to do (see mantis_collect_tick()): as of
 * the last sweep, the earliest expiry of a live register and the least HLC
 * of a dead one kept, with the bounds it ran with and the flushes done
 * before it.  The persistence worker's own.
 */
static uint64 next_due_ms = 0;
static uint64 least_dead_ts = 0;
static uint64 swept_stable_ts = 0;
static uint64 swept_lifetime_ts = 0;
static uint64 flushes = 0;
static uint64 swept_flushes = 0;
static TimestampTz last_sweep_at = 0;

/*
 * Sweep the store now: also once loading has merged the rows, before the
 * registers may be read, so that markers the rows still hold but that were
 * collected before a restart are not seen again.
 */
void
mantis_collect_sweep(void)
{
	MantisSweepHorizon h;
	MantisSweepStats stats;

	last_sweep_at = GetCurrentTimestamp();
	next_sweep_at = TimestampTzPlusMilliseconds(last_sweep_at, SWEEP_INTERVAL_MS);
	mantis_collect_horizons(&swept_stable_ts, &swept_lifetime_ts);
	swept_flushes = flushes;
	sweep_horizon(&h);
	h.held_keys = held_keys;
	h.held_nkeys = held_nkeys;
	mantis_store_sweep(&h, &stats);
	if (stats.leaves_visited > 0)
		ereport(DEBUG2,
				(errmsg_internal("mantis sweep visited %llu leaves, compacted %llu dead registers",
								 (unsigned long long) stats.leaves_visited,
								 (unsigned long long) stats.compacted)));
	next_due_ms = stats.next_due_ms;
	least_dead_ts = stats.least_dead_ts;
	pg_atomic_write_u64(&collect->least_dead_ts, least_dead_ts);
	if (least_dead_ts != PG_UINT64_MAX || next_due_ms < h.now_ms + BUSY_MS ||
		stats.collected_deletions + stats.collected_expired +
		stats.records_collected + stats.bounds_collected > 0)
		pg_atomic_write_u64(&collect->busy_until_ms, h.now_ms + BUSY_MS);
	/*
	 * The refusal horizon rose with each partition swept (sweep.c's
	 * sweep_raise_refusal()); a collapse needs no compaction: the next
	 * flush writes its bound.
	 */
}

/*
 * Whether collection is busy: the last sweeps kept a dead register, found
 * an expiry due within BUSY_MS, or collected one, less than BUSY_MS ago.
 * Only then does the replication worker greet its peers at once with news
 * (replication/news.c): an idle store, whose acknowledgements rise each
 * second only with the empty batches that move the watermarks, has nothing
 * to collect sooner, and keeps its greetings to one a second.  Any process.
 */
bool
mantis_collect_busy(void)
{
	return mantis_clock_wall_ms() < pg_atomic_read_u64(&collect->busy_until_ms);
}

/* A flush committed: what it wrote no longer waits for it (the sweep's R3) */
void
mantis_collect_note_flush(void)
{
	flushes++;
}

/*
 * Whether a sweep now would find something to do: an expiry has passed,
 * or a bound has moved since the last sweep (the horizon or the lifetime
 * risen, or a flush that may have cleared what a register owed) and
 * reaches the least dead register kept.  Without replication the horizon
 * is our clock, which reaches every dead register at once: only the flush
 * that clears UNFLUSHED lets one go.  A leaf due now only by its own
 * writes since (a deletion marker below the horizon) waits for the next
 * such event, or for the sweep each SWEEP_INTERVAL_MS.
 */
static bool
sweep_due(void)
{
	uint64		stable_ts;
	uint64		lifetime_ts;
	bool		moved;

	if (mantis_clock_wall_ms() >= next_due_ms)
		return true;
	if (least_dead_ts == PG_UINT64_MAX)
		return false;
	mantis_collect_horizons(&stable_ts, &lifetime_ts);
	moved = stable_ts > swept_stable_ts || lifetime_ts > swept_lifetime_ts ||
		flushes != swept_flushes;
	if (!moved)
		return false;
	if (!mantis_replication_enabled() || RecoveryInProgress())
		return flushes != swept_flushes || lifetime_ts > swept_lifetime_ts;
	return least_dead_ts <= stable_ts ||
		(lifetime_ts != 0 && mantis_hlc_ms(least_dead_ts) <= mantis_hlc_ms(lifetime_ts));
}

/*
 * Sweep the store when it has something to do, at most every
 * SWEEP_MIN_INTERVAL_MS, and at least every SWEEP_INTERVAL_MS; called by
 * the persistence worker's loop, once the store is loaded.  An expired
 * register's room comes back as soon as its expiry has passed and the
 * horizon has reached it (the rule R3 of common/rules.h), not at the next
 * whole second: the replication worker wakes us when it raises the horizon
 * past the least dead register (mantis_collect_publish()), and
 * mantis_collect_sleep_ms() wakes us at the next expiry.
 */
void
mantis_collect_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!mantis_store_is_loaded() ||
		now < TimestampTzPlusMilliseconds(last_sweep_at, SWEEP_MIN_INTERVAL_MS))
		return;
	if (now >= next_sweep_at || sweep_due())
		mantis_collect_sweep();
}

/*
 * Milliseconds until the next sweep may be due.  A sweep due now but
 * refused by SWEEP_MIN_INTERVAL_MS (the replication worker's wake for a
 * horizon that passed a dead register, a flush, arriving just after a
 * sweep) is due at its end: its wake was used up by the tick that refused
 * it, and waiting for next_sweep_at kept the register up to a second.
 * Nothing while the store is not loaded: mantis_collect_tick() would not
 * sweep, and the worker's own timers wake it to load.
 */
long
mantis_collect_sleep_ms(void)
{
	TimestampTz wake = next_sweep_at;
	uint64		now_ms = mantis_clock_wall_ms();

	if (!mantis_store_is_loaded())
		return SWEEP_INTERVAL_MS;
	if (sweep_due())
		wake = Min(wake, TimestampTzPlusMilliseconds(last_sweep_at, SWEEP_MIN_INTERVAL_MS));
	else if (next_due_ms < now_ms + SWEEP_INTERVAL_MS)
	{
		TimestampTz due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  next_due_ms > now_ms ? next_due_ms - now_ms : 0);

		wake = Min(wake, due);
	}
	wake = Max(wake, TimestampTzPlusMilliseconds(last_sweep_at, SWEEP_MIN_INTERVAL_MS));
	return mantis_clock_ms_until(wake);
}
