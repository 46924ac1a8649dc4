/*-------------------------------------------------------------------------
 * common/rules.h
 *	  The decisions of collection, refusal and adoption, as pure functions
 *	  over plain values (common/rules.c): the server gathers their inputs
 *	  and applies their results; test/sim drives them in simulation.
 *
 * The rules, and why no deletion can come back and no acknowledged write
 * can go (the README's "What collection gives up" says the same for users):
 *
 * R1 Members.  A server counts as members itself, every peer it lists in
 *	  mantis.peers and every identified peer that connects to it.  It knows
 *	  its member set once every listed peer has said its name; the set's
 *	  digest travels in its greetings (protocol 4).
 *
 * R2 Agreement.  A server collects by acknowledgement only while every
 *	  member speaks protocol 4, has greeted it in this run knowing this run
 *	  (its greeting names our incarnation), and reports the same member
 *	  set.  Then every member counts every other, so "stable" (the least
 *	  acknowledgement a member has from its members) and the collection
 *	  horizon (the least "stable" of all members) mean that every member
 *	  holds every member's writes through the horizon.  In a topology that
 *	  is not a full mesh the sets differ: only the lifetime collects.  The
 *	  horizon only rises; a member's acknowledgement covers only what it
 *	  has flushed (a crash restart cannot lose it), and counts for the run
 *	  that gave it: a new incarnation of a member starts its "acked" and
 *	  "stable" over at 0 (restored from a backup, or a standby promoted, it
 *	  lost what it had flushed, and its "stable" counted it).  A watermark
 *	  is an HLC the clock issued, never one read: a write of the same
 *	  millisecond could take the value read, and be acknowledged unheld.
 *
 * R3 Collection.  A dead register (a deletion, or an expired value) that
 *	  the workers owe nothing (flushed, sent) and that lies below every
 *	  hole (R5) is collected when its HLC is at or below the horizon, or
 *	  when it has been dead longer than mantis.tombstone_lifetime by the
 *	  least clock among ours and those of the members heard from in this
 *	  run (each as its last frame read it, plus the time passed since):
 *	  what the lifetime collects raises the refusal horizon (R4), which
 *	  must stay behind every member's clock, or the writes that member
 *	  makes next would be refused here as collected, and adopted away
 *	  wherever we announce it (R6).  Our clock alone, run ahead by more
 *	  than the lifetime and then put right, would do just that
 *	  (mantis_rules_lifetime_bound).  The horizon needs no such bound: a
 *	  watermark is an HLC its member's clock issued (R2).
 *
 * R4 Refusal.  Every collection, by acknowledgement or lifetime, raises
 *	  the refusal horizon to the register's HLC, and so does an adoption
 *	  (R6), which happens only once a round with each member since this
 *	  server started has merged all that member holds (before that it may
 *	  lack writes others hold, lost by a restore: covered by its horizon,
 *	  they would be refused here and adopted away there).  It is persisted with every row and
 *	  never lowered.  A register from a peer at
 *	  or below it, for a key held nothing of, is refused: it is an older
 *	  copy of something collected.  Whoever sends it - a member that missed
 *	  the deletion while it was removed from mantis.peers, forgotten,
 *	  renamed, restored from a backup or promoted from a lagging standby -
 *	  it cannot come back.  (A server without replication collects by its
 *	  own clock and raises nothing: it has no peer to refuse.)
 *
 * R5 Holes.  A register refused for another reason - no room, over this
 *	  server's limits, a clock too far ahead - is a hole: something a peer
 *	  holds that we do not.  Collection stops below the least such hole, so
 *	  our refusal horizon does not pass it (we would refuse it as collected
 *	  once we had room), and we acknowledge no peer's writes past a
 *	  register of it we refused.  A register of mantis_stores held back at
 *	  load (no room, limits lowered) is a hole too, but it merges from our
 *	  own rows, which refuse nothing: only its key's dead register must
 *	  wait for it (and its row gives nothing else again: persist/load.c).
 *	  So a register refused for room that our rows hold back (its key at
 *	  its HLC) is no hole either, and stops no acknowledgement: it is
 *	  durable there, merges from them, and the load hole keeps the
 *	  refusal horizon we announce below it (store/held.c, which knows a
 *	  bounded number of such keys: a refusal of a key past the bound is a
 *	  hole).  A peer's older copy of a key our rows hold back newer is a
 *	  hole: else our announced horizon could pass it, the peer adopt it
 *	  away, and the key read as absent everywhere while the newer one
 *	  stays in our rows.  Else a server
 *	  restarted with lower limits refuses its peers' copies of the keys it
 *	  holds back in every round, acknowledges nothing, and collection stops
 *	  on every server.  Registers held back by rows that go while the
 *	  server runs (TRUNCATE, DELETE) are a hole as of a peer that left, our
 *	  refusal horizon lowered below them (store/collect.c), and the held
 *	  set tells replication nothing until a retry has rebuilt it from the
 *	  rows left (persist/heldset.c).  The refusal horizon we announce to peers stops below
 *	  every hole (one may lie under a horizon reached before it opened), so
 *	  that no peer adopts a register we lack away.  A peer's hole closes
 *	  when a repair round with it, begun after the refusal, merges
 *	  everything it holds (holding nothing back); a row's, when the row
 *	  merges; a hole of a peer that left, when every member has had such a
 *	  round since.  A restart forgets the holes of peers: the lifetime then
 *	  waits a lifetime after the first catching up.
 *
 * R6 Adoption.  Once caught up with every member (R4), in a repair round
 *	  we pull from a peer, for a leaf the
 *	  answer covered (the peer's digest of it differs from the one we sent,
 *	  so it sent every register it holds there: not a leaf that was equal
 *	  then and changed here since, which came with none of them) and whose
 *	  digests still differ after merging, we drop what we hold that the answer did not hold and
 *	  that lies at or below the peer's refusal horizon as it was when the
 *	  round began (a horizon raised later could cover a register the answer
 *	  was taken too early to hold), and only from an answer of the peer's
 *	  run the round began with (another run may hold less: a restart with
 *	  lower limits holds back what its rows hold), no further ahead of our clock than a peer's register may be,
 *	  and below our own least hole (what we adopt raises our refusal
 *	  horizon, R4, which must not cover a hole, R5).  The peer collected it
 *	  or would refuse it (mantis_rules_adopt_leaf, mantis_rules_adopt).
 *	  An adoption is durable before it is visible: what we adopt stays, and
 *	  is read, until a compaction has rewritten our rows without it and
 *	  committed; only then is it dropped and our refusal horizon raised,
 *	  which the compaction's rows already carry.  A crash before that loads
 *	  it back, but it never stopped being read; a crash after it loads
 *	  neither it nor a horizon that would let its copies in.  A compaction
 *	  leaves out only what is still live and below our least hole
 *	  (mantis_rules_adoption_covered), and nothing while rows of ours are
 *	  held back (they stay, and may hold it): else it waits.
 *
 * R7 Records.  A dead register that the workers owe nothing (flushed,
 *	  sent), dead since at or before the compaction bound (a grace after
 *	  which the horizon, every member up, would have collected it), on a
 *	  server that speaks protocol 5, becomes a record: its key's 64-bit
 *	  hash, its HLC, its fingerprint (exactly what it added to its leaf's
 *	  digest, so compacting changes no digest) and its death.  Records lie
 *	  outside the registers, under a budget of their own (not max_keys),
 *	  and keep of the dead register all that R3-R6 read: its HLC refuses
 *	  (a register from a peer for a key held nothing of in full, at or
 *	  below a record of its hash, is an older copy, or the same write, of
 *	  something dead: refused, not a hole; at an equal HLC only the same
 *	  register, by fingerprint, is refused), a newer register of its hash
 *	  (a write, a peer's, a row's) replaces it as it would the dead
 *	  register, and it is collected exactly by R3, raising R4
 *	  (mantis_rules_compact, mantis_rules_record_refuses).  What it loses is
 *	  the key, needed only to send the register in full to a peer that
 *	  lacks it: a repair answer of protocol 5 carries a leaf's records
 *	  (hash tombstones) with its registers; the puller keeps one whose hash
 *	  it holds nothing of, replaces with it its older register or record of
 *	  that hash, ignores it when it holds newer, and counts the hash as
 *	  held by the peer (R6 does not adopt it away) (mantis_rules_tombstone).
 *	  A tombstone with no room for its record (below) is refused, and the
 *	  answer does not count as merged (nothing is acknowledged by it), but
 *	  it is no hole: a dead register is never adopted away, and refusing it
 *	  later as collected loses nothing, while a hole would stop the very
 *	  collection that makes room.  A record our rows hold back at load (no
 *	  room) refuses as it would loaded, a peer's older register of its
 *	  hash held nothing of, and a tombstone of it (or an older one) is held
 *	  there, not refused for room (as R5's register held back by our rows):
 *	  else a returning member's old value came back, and no round counted.
 *	  When the budget is full, the oldest record owed nothing, if below
 *	  the least clock among ours and our members' (R3: the bound must not
 *	  refuse what a member writes next) and below every hole (R5: nor what
 *	  we refused for room), collapses into its leaf's bound: the bound rises to its HLC, its fingerprint
 *	  joins the leaf's collapsed fingerprint (the digest stays), its death
 *	  the group's latest; a register from a peer for a key held nothing of
 *	  (in full or as a record) in that leaf, at or below the bound, is
 *	  refused; the group is collected as one by R3 (the bound at or below
 *	  the horizon, or the latest death a lifetime old, below every hole),
 *	  raising R4 to the bound (mantis_rules_collapse, _bound_sweep).
 *	  Records and bounds are persisted: every compaction of the rows
 *	  writes them all, every flush the bounds changed since the last, and
 *	  load routes record rows to the records; until a compaction has
 *	  written a record, the rows hold it as they held it before (its dead
 *	  register in full, or an older record, which a crash restart loads
 *	  so, to be compacted or collapsed again).  A load merges the rows'
 *	  bounds first, and a dead register or record at or below its leaf's
 *	  bound, in a row older than the newest that changed the bound,
 *	  collapsed since: it is not held again (nor any older copy of its key
 *	  in the rows); no bound refuses a live register of the rows loaded
 *	  into a store that holds only what rows gave it (nothing, or not yet
 *	  writable: a standby): it was held when the bound was written.  The promise: a dead register waiting for an absent member
 *	  costs a record (about 60 bytes) off max_keys, dead registers cost
 *	  no more than the budget and a bound per leaf, and nothing deleted or
 *	  expired comes back (a record refuses what its register refused, a
 *	  bound refuses more).  No "present horizon" is needed: compaction
 *	  keeps everything but the key, and the key is replaced by the hash
 *	  tombstone for whoever lacks the register, present or returning.  Nor
 *	  can an expired register go with no marker: a member that missed it
 *	  may hold an older write of its key (made before it, or while
 *	  partitioned), which would come back; only R3 may drop it.
 *
 * The price.  A server's writes that no member held while it was not
 *	  counted - made before it first reached the cluster, while it was
 *	  removed or forgotten, or while it was away longer than the lifetime -
 *	  and that lie at or below a peer's refusal horizon are refused there
 *	  and adopted away here (R4, R6); so are the registers a server lost
 *	  to a crash before its flush or to a restore, when every server that
 *	  holds them stays away from it for a lifetime after its start.  A
 *	  server that has heard from no member in this run (alone for a
 *	  lifetime, or a standby) measures the lifetime by its own clock: run
 *	  ahead of the members' by more than the lifetime, it may raise its
 *	  refusal horizon past their clocks, and what they write below it,
 *	  before real time passes it, is refused there and adopted away once
 *	  they meet (R3); so may a member not heard from in this run whose
 *	  clock lags that much, and two clocks ahead at once (a member's HLC
 *	  stands still until its wall clock catches up with it, while we
 *	  count its clock as going on).  While
 *	  members disagree, while one is away, or while a hole is open, dead
 *	  registers wait for the lifetime (or, above a hole, until it closes),
 *	  holding their room; a member whose clock lags holds the lifetime
 *	  back by as much.  Records (R7): a record refuses an older register
 *	  of another key with the same 64-bit hash held nothing of here, and a
 *	  write of that other key replaces it, so that an older copy of the
 *	  deleted key may return: with n records and m keys written or
 *	  arriving meanwhile, the chance of either is about n*m/2^64 (14
 *	  million records and as many writes, an hour of 4,000 deletions a
 *	  second: 1e-5).  A collapsed bound refuses the registers of keys held
 *	  nothing of in its leaf below it: a write that has not reached this
 *	  server when the bound passes it - made while partitioned from it, or
 *	  unsent when its writer stopped - is refused here once this server
 *	  holds nothing of its key (it may hold an older register of it, to be
 *	  collected), and adopted away wherever it is held once the bound is
 *	  collected: the lifetime's price, paid once the budget is full, for
 *	  writes older than the oldest records kept (the budget over the rate
 *	  of deaths).  A member that does not read records (protocol 4) learns
 *	  of deletions compacted while it was away only by adoption once they
 *	  are collected (R6); until then it serves what it held of them, and
 *	  its digests of their leaves differ.
 *
 * Pure C: no server headers, no allocation.  Tested by test/unit/test_rules.c
 * and by the simulator test/sim.
 *
 * IDENTIFICATION	src/common/rules.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_RULES_H
#define MANTIS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first protocol whose greetings carry the member set (R1) */
#define MANTIS_RULES_PROTOCOL		4

/* Why a server collects by lifetime only (R2), or that it need not */
typedef enum MantisCollectMode
{
	MANTIS_COLLECT_AGREED = 0,	/* every member agrees: acknowledgements count */
	MANTIS_COLLECT_NO_PEERS,	/* no member to acknowledge anything */
	MANTIS_COLLECT_UNIDENTIFIED,	/* a listed peer has not said its name */
	MANTIS_COLLECT_OLD_PROTOCOL,	/* a member speaks protocol 3 */
	MANTIS_COLLECT_UNGREETED,	/* a member has not greeted us in this run */
	MANTIS_COLLECT_DISAGREE,	/* a member counts another set */
	MANTIS_COLLECT_UNACKED		/* all agree, but a member has not acknowledged yet */
} MantisCollectMode;

/* What a server knows of one of its members (itself excluded) */
typedef struct MantisMemberView
{
	bool		identified;		/* it said its name */
	bool		greeted;		/* a valid greeting of it, naming this run, arrived in it */
	int			protocol;		/* the version in use with it */
	uint64_t	members;		/* its member set's digest, 0: not known */
	uint64_t	acked;			/* it holds our writes through this HLC */
	uint64_t	stable;			/* its members hold its writes through this */
} MantisMemberView;

/* A dead register as the sweep sees it (R3) */
typedef struct MantisDeadRegister
{
	uint64_t	hlc_ts;			/* its HLC time */
	uint64_t	death_ms;		/* when it died: its deletion, or its expiry */
	bool		owed;			/* not yet flushed or not yet sent */
} MantisDeadRegister;

typedef enum MantisSweepVerdict
{
	MANTIS_SWEEP_KEEP = 0,
	MANTIS_SWEEP_BY_HORIZON,	/* every member holds it or newer */
	MANTIS_SWEEP_BY_LIFETIME	/* dead longer than the lifetime */
} MantisSweepVerdict;

/* The bounds of one sweep */
typedef struct MantisSweepBounds
{
	uint64_t	horizon_ts;		/* collection horizon (R2), 0: none */
	uint64_t	lifetime_ms;	/* died at or before this: lifetime; 0: none */
	uint64_t	hole_ts;		/* lifetime collects only below (R5); UINT64_MAX: none */
} MantisSweepBounds;

#define MANTIS_RULES_NO_HOLE	UINT64_MAX

extern uint64_t mantis_rules_member_hash(const char *name, size_t len);
extern uint64_t mantis_rules_members_digest(const uint64_t *hashes, int n);
extern MantisCollectMode mantis_rules_agreement(uint64_t our_members,
												const MantisMemberView *members,
												int n, int *culprit);
extern uint64_t mantis_rules_horizon(const MantisMemberView *members, int n,
									 uint64_t *our_stable);
extern MantisSweepVerdict mantis_rules_sweep(const MantisDeadRegister *r,
											 const MantisSweepBounds *b);
extern uint64_t mantis_rules_lifetime_bound(uint64_t now_ms, uint64_t members_ms,
										   uint64_t lifetime_ms);
extern bool mantis_rules_clock_ahead(uint64_t ours_ms, uint64_t member_ms,
									 uint64_t max_offset_ms);
extern bool mantis_rules_sweep_raises(MantisSweepVerdict v, bool replicated);
extern bool mantis_rules_refuse(bool held, uint64_t hlc_ts, uint64_t refuse_upto);
extern uint64_t mantis_rules_adopt_upto(uint64_t collected_at_start,
										uint64_t collected_now,
										uint64_t clock_bound, uint64_t hole_ts);
extern bool mantis_rules_adopt_leaf(uint64_t sent, uint64_t theirs, uint64_t ours);
extern bool mantis_rules_adopt(bool seen, bool owed, bool dead, uint64_t hlc_ts,
							   uint64_t upto);
extern bool mantis_rules_adoption_covered(bool dead, uint64_t hlc_ts, uint64_t hole_ts);
extern uint64_t mantis_rules_announced(uint64_t refusal_horizon, uint64_t hole_ts);
extern uint64_t mantis_rules_adopted_raise(uint64_t adopted_max_ts, uint64_t horizon_ts,
										   uint64_t lifetime_ts, uint64_t hole_ts,
										   bool whole);
extern uint64_t mantis_rules_hole_after(uint64_t hole_ts, uint64_t refused_ts);
extern const char *mantis_rules_mode_text(MantisCollectMode mode);

/* ---- records (R7) ---- */

/* The first protocol whose repair answers carry records (R7) */
#define MANTIS_RULES_RECORDS_PROTOCOL	5

/* A record, or a hash tombstone in an answer (R7) */
typedef struct MantisRecordView
{
	uint64_t	hash;			/* its key's 64-bit hash */
	uint64_t	ts;				/* its HLC */
	uint64_t	node;
	uint64_t	fingerprint;	/* what it adds to its leaf's digest */
	uint64_t	death_ms;		/* its deletion, or its expiry */
} MantisRecordView;

/* A leaf's collapsed records (R7): one bound, their digest, latest death */
typedef struct MantisLeafBound
{
	uint64_t	bound_ts;		/* 0: none collapsed */
	uint64_t	fingerprint;	/* the XOR of theirs */
	uint64_t	death_ms;		/* the latest of their deaths */
} MantisLeafBound;

/* What a hash tombstone does to the register or record held of its hash */
typedef enum MantisTombstoneAction
{
	MANTIS_TOMB_IGNORE = 0,		/* newer or the same held, or covered by the bound */
	MANTIS_TOMB_KEEP,			/* nothing held of it: kept as a record */
	MANTIS_TOMB_REPLACE			/* an older register or record: replaced by it */
} MantisTombstoneAction;

extern bool mantis_rules_compact(const MantisDeadRegister *r, uint64_t compact_ms,
								 int protocol_max);
extern bool mantis_rules_record_refuses(bool held, const MantisRecordView *rec,
										uint64_t leaf_bound_ts, uint64_t in_ts,
										uint64_t in_node, uint64_t in_fingerprint);
extern MantisTombstoneAction mantis_rules_tombstone(bool held, uint64_t held_ts,
													uint64_t held_node,
													uint64_t leaf_bound_ts,
													const MantisRecordView *t);
extern bool mantis_rules_collapse(MantisLeafBound *b, const MantisRecordView *rec,
								  uint64_t clock_ts, uint64_t hole_ts);
extern MantisSweepVerdict mantis_rules_bound_sweep(const MantisLeafBound *b,
												   const MantisSweepBounds *sb);


#endif							/* MANTIS_RULES_H */
