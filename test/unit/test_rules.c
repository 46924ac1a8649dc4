/*
 * test_rules.c
 *	  Unit tests of the collection, refusal and adoption rules
 *	  (src/common/rules.c): the member set digest, agreement, the horizon,
 *	  the sweep's verdict with holes, the lifetime's bound on the least clock, refusal and adoption bounds, the
 *	  leaves a round may adopt in, and records (R7): compaction, refusal by a
 *	  record or a collapsed bound, hash tombstones, collapse and its
 *	  collection.  The rules' interplay over many servers
 *	  is test/sim's.
 */
#include <stdio.h>
#include <string.h>

#include "common/rules.h"
#include "unit.h"

static uint64_t
digest_of(const char **names, int n)
{
	uint64_t	h[16];

	for (int i = 0; i < n; i++)
		h[i] = mantis_rules_member_hash(names[i], strlen(names[i]));
	return mantis_rules_members_digest(h, n);
}

static void
test_digest(void)
{
	const char *abc[] = {"a", "b", "c"};
	const char *cab[] = {"c", "a", "b"};
	const char *ab[] = {"a", "b"};
	const char *abd[] = {"a", "b", "d"};
	const char *abcd[] = {"a", "b", "c", "d"};

	CHECK(digest_of(abc, 3) == digest_of(cab, 3), "the digest ignores order");
	CHECK(digest_of(abc, 3) != digest_of(ab, 2), "a missing member changes it");
	CHECK(digest_of(abc, 3) != digest_of(abd, 3), "another member changes it");
	CHECK(digest_of(abc, 3) != digest_of(abcd, 4), "an added member changes it");
	CHECK(digest_of(abc, 0) != 0, "never 0, even for no member");

	/* random sets of names: no two different sets of 1..4 names collide here */
	for (int i = 0; i < 2000; i++)
	{
		char		a[8],
					b[8];
		const char *x[1] = {a};
		const char *y[1] = {b};

		snprintf(a, sizeof(a), "n%d", (int) (rnd() % 1000));
		snprintf(b, sizeof(b), "n%d", (int) (rnd() % 1000));
		CHECK((strcmp(a, b) == 0) == (digest_of(x, 1) == digest_of(y, 1)),
			  "names %s and %s", a, b);
	}
}

static MantisMemberView
member(uint64_t digest, uint64_t acked, uint64_t stable)
{
	MantisMemberView m = {true, true, MANTIS_RULES_PROTOCOL, digest, acked, stable};

	return m;
}

static void
test_agreement(void)
{
	MantisMemberView m[3] = {{0}};
	int			who;

	CHECK(mantis_rules_agreement(7, m, 0, &who) == MANTIS_COLLECT_NO_PEERS && who == -1,
		  "no peer: lifetime only");
	m[0] = member(7, 10, 10);
	m[1] = member(7, 10, 10);
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_AGREED && who == -1,
		  "same sets agree");
	m[1].identified = false;
	CHECK(mantis_rules_agreement(0, m, 2, &who) == MANTIS_COLLECT_UNIDENTIFIED && who == 1,
		  "our own set not known: the member that has not said its name is named");
	m[1].identified = true;
	m[1].members = 8;
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_DISAGREE && who == 1,
		  "a member counting another set stops it, and is named");
	m[1] = member(7, 10, 10);
	m[1].protocol = 3;
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_OLD_PROTOCOL && who == 1,
		  "a member of protocol 3 stops it");
	m[1] = member(7, 10, 10);
	m[1].greeted = false;
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_UNGREETED, "ungreeted");
	m[0].identified = false;
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_UNIDENTIFIED && who == 0,
		  "the first member that stops it is named");
	m[0] = member(7, 10, 10);
	m[1] = member(7, 10, 10);
	m[1].stable = 0;
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_UNACKED && who == 1,
		  "agreed, but a member that has not acknowledged is named, not \"by acknowledgement\"");
	m[1] = member(7, 0, 0);
	CHECK(mantis_rules_agreement(7, m, 2, &who) == MANTIS_COLLECT_UNACKED && who == 1,
		  "a member that never acknowledged our writes is named");
	for (int i = MANTIS_COLLECT_AGREED; i <= MANTIS_COLLECT_UNACKED; i++)
		CHECK(strcmp(mantis_rules_mode_text((MantisCollectMode) i), "unknown") != 0,
			  "mode %d has a text", i);
}

static void
test_horizon(void)
{
	MantisMemberView m[3];
	uint64_t	ours;

	m[0] = member(7, 50, 40);
	m[1] = member(7, 30, 60);
	m[2] = member(7, 70, 80);
	CHECK(mantis_rules_horizon(m, 3, &ours) == 30 && ours == 30,
		  "the least acknowledgement bounds it");
	m[1].acked = 90;
	CHECK(mantis_rules_horizon(m, 3, &ours) == 40 && ours == 50,
		  "the least stable of a member bounds it");
	CHECK(mantis_rules_horizon(m, 0, &ours) == 0 && ours == 0, "no member: 0");
}

static void
test_sweep(void)
{
	MantisSweepBounds b = {100, 5000, MANTIS_RULES_NO_HOLE};
	MantisDeadRegister r = {90, 6000, false};

	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_BY_HORIZON, "under the horizon");
	r.owed = true;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_KEEP, "owed: kept");
	r = (MantisDeadRegister) {200, 4000, false};
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_BY_LIFETIME, "dead for a lifetime");
	b.hole_ts = 200;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_KEEP, "at a hole: kept");
	b.horizon_ts = 300;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_KEEP,
		  "at a hole, even under the horizon: kept");
	b.horizon_ts = 100;
	b.hole_ts = 201;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_BY_LIFETIME, "below the hole");
	r.death_ms = 5001;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_KEEP, "not dead long enough");
	b.lifetime_ms = 0;
	r.death_ms = 1;
	CHECK(mantis_rules_sweep(&r, &b) == MANTIS_SWEEP_KEEP, "no lifetime bound");

	CHECK(mantis_rules_sweep_raises(MANTIS_SWEEP_BY_LIFETIME, false), "lifetime raises");
	CHECK(mantis_rules_sweep_raises(MANTIS_SWEEP_BY_HORIZON, true), "horizon raises");
	CHECK(!mantis_rules_sweep_raises(MANTIS_SWEEP_BY_HORIZON, false),
		  "a server without replication raises nothing");
	CHECK(!mantis_rules_sweep_raises(MANTIS_SWEEP_KEEP, true), "keeping raises nothing");

	CHECK(mantis_rules_announced(90, MANTIS_RULES_NO_HOLE) == 90, "no hole: the horizon");
	CHECK(mantis_rules_announced(90, 50) == 49, "a hole under the horizon: below it");
	CHECK(mantis_rules_announced(40, 50) == 40, "a hole above: the horizon");
	CHECK(mantis_rules_announced(40, 0) == 0, "anything may be missing: nothing");
	CHECK(mantis_rules_hole_after(MANTIS_RULES_NO_HOLE, 50) == 50, "first hole");
	CHECK(mantis_rules_hole_after(40, 50) == 40, "the least hole stays");
}

/*
 * The lifetime's bound on the least clock (R3): a clock ahead of every
 * member's by more than the lifetime, then put right, must not collect a
 * register of the real future (issue 18, the operator's review).
 */
static void
test_lifetime_bound(void)
{
	const uint64_t life = 3600000;	/* an hour */
	const uint64_t real = 1800000000000;	/* the members' clocks */
	const uint64_t ahead = real + 2 * life; /* ours, two hours ahead */
	MantisSweepBounds b = {0, 0, MANTIS_RULES_NO_HOLE};
	MantisDeadRegister ours = {(ahead - life) << 16, ahead - life, false};	/* deleted here, an hour ago by our clock */

	CHECK(mantis_rules_lifetime_bound(real, UINT64_MAX, life) == real - life,
		  "no member heard: our clock less the lifetime");
	CHECK(mantis_rules_lifetime_bound(real, real + 400, life) == real - life,
		  "a member ahead: still ours");
	CHECK(mantis_rules_lifetime_bound(ahead, real, life) == real - life,
		  "ours ahead of a member: the member's");
	CHECK(mantis_rules_lifetime_bound(life, UINT64_MAX, life) == 0, "a clock at the lifetime: nothing");
	CHECK(mantis_rules_lifetime_bound(ahead, 10, life) == 0, "a member's clock near 0: nothing");

	/* our marker, dead a lifetime by our clock two hours ahead */
	b.lifetime_ms = mantis_rules_lifetime_bound(ahead, UINT64_MAX, life);
	CHECK(mantis_rules_sweep(&ours, &b) == MANTIS_SWEEP_BY_LIFETIME,
		  "by our clock alone it would go, an hour into the members' future");
	b.lifetime_ms = mantis_rules_lifetime_bound(ahead, real, life);
	CHECK(mantis_rules_sweep(&ours, &b) == MANTIS_SWEEP_KEEP,
		  "with the members' clocks it waits");
	/* what the lifetime collects stays a lifetime behind every member's clock */
	for (uint64_t death = real - 2 * life; death < ahead + life; death += life / 7)
	{
		MantisDeadRegister r = {death << 16, death, false};

		b.lifetime_ms = mantis_rules_lifetime_bound(ahead, real, life);
		if (mantis_rules_sweep(&r, &b) != MANTIS_SWEEP_KEEP)
			CHECK((r.hlc_ts >> 16) + life <= real, "collected: a lifetime behind the members");
	}
	/* put right, and time passing: collected once past every clock by a lifetime */
	b.lifetime_ms = mantis_rules_lifetime_bound(ours.death_ms + life, ours.death_ms + life, life);
	CHECK(mantis_rules_sweep(&ours, &b) == MANTIS_SWEEP_BY_LIFETIME,
		  "a lifetime past its death by every clock: collected");

	CHECK(mantis_rules_clock_ahead(real + 501, real, 500), "ahead past the bound: warn");
	CHECK(!mantis_rules_clock_ahead(real + 500, real, 500), "at the bound: no warning");
	CHECK(!mantis_rules_clock_ahead(real, real + 5000, 500), "behind: no warning");
}

static void
test_refuse_adopt(void)
{
	CHECK(mantis_rules_refuse(false, 10, 10), "at the horizon, nothing held: refused");
	CHECK(!mantis_rules_refuse(true, 10, 10), "held: merged by LWW");
	CHECK(!mantis_rules_refuse(false, 11, 10), "above: taken");
	CHECK(!mantis_rules_refuse(false, 1, 0), "no horizon");

	CHECK(mantis_rules_adopt_upto(50, 80, 100, MANTIS_RULES_NO_HOLE) == 50,
		  "the horizon at the round's start");
	CHECK(mantis_rules_adopt_upto(50, 30, 100, MANTIS_RULES_NO_HOLE) == 30,
		  "lowered since: the lower");
	CHECK(mantis_rules_adopt_upto(500, 800, 100, MANTIS_RULES_NO_HOLE) == 100,
		  "never past our clock bound");
	CHECK(mantis_rules_adopt_upto(50, 80, 100, 40) == 39, "below our least hole");
	CHECK(mantis_rules_adopt_upto(50, 80, 100, 0) == 0, "anything missing here: nothing");
	CHECK(mantis_rules_adopted_raise(50, 80, 0, MANTIS_RULES_NO_HOLE, false) == 50,
		  "adopted under the horizon: raised to it");
	CHECK(mantis_rules_adopted_raise(50, 30, 0, MANTIS_RULES_NO_HOLE, false) == 30,
		  "past the horizon: only to the horizon");
	CHECK(mantis_rules_adopted_raise(50, 30, 40, MANTIS_RULES_NO_HOLE, false) == 40,
		  "or to the lifetime bound, if later");
	CHECK(mantis_rules_adopted_raise(50, 0, 0, MANTIS_RULES_NO_HOLE, false) == 0,
		  "just started, nothing known: not raised");
	CHECK(mantis_rules_adopted_raise(50, 80, 0, 20, false) == 19, "below the least hole");
	CHECK(mantis_rules_adopted_raise(50, 0, 0, MANTIS_RULES_NO_HOLE, true) == 50,
		  "holding all every member holds: to the greatest adopted");
	CHECK(mantis_rules_adopted_raise(50, 0, 0, 20, true) == 19, "whole, below the least hole");
	CHECK(mantis_rules_adopt_leaf(1, 2, 3), "answered and still different: may adopt");
	CHECK(!mantis_rules_adopt_leaf(1, 2, 2), "equal now: nothing to adopt");
	CHECK(!mantis_rules_adopt_leaf(1, 1, 3),
		  "equal when we sent it, changed here since: the answer held none of the leaf");
	CHECK(!mantis_rules_adopt_leaf(0, 0, 3), "an empty leaf then, one register now: not adopted");
	CHECK(mantis_rules_adopt_leaf(3, 0, 3),
		  "the peer emptied a leaf we sent: everything there is unseen");
	CHECK(mantis_rules_adopt(false, false, false, 50, 50), "unseen, at the bound: dropped");
	CHECK(!mantis_rules_adopt(true, false, false, 10, 50), "seen: kept");
	CHECK(!mantis_rules_adopt(false, true, false, 10, 50), "owed: kept");
	CHECK(!mantis_rules_adopt(false, false, false, 51, 50), "above: kept");
	CHECK(mantis_rules_adoption_covered(false, 50, MANTIS_RULES_NO_HOLE),
		  "adopted, live, no hole: the compaction leaves it out");
	CHECK(mantis_rules_adoption_covered(false, 50, 51), "below the least hole: left out");
	CHECK(!mantis_rules_adoption_covered(false, 50, 50),
		  "a hole opened at it since: written, it waits for the hole to close");
	CHECK(!mantis_rules_adoption_covered(true, 50, MANTIS_RULES_NO_HOLE),
		  "expired since: written, the sweep's to collect");
}

static MantisRecordView
record(uint64_t ts, uint64_t node, uint64_t fp, uint64_t death)
{
	MantisRecordView r = {0xABCDEF, ts, node, fp, death};

	return r;
}

static void
test_compact(void)
{
	MantisDeadRegister r = {100, 5000, false};

	CHECK(mantis_rules_compact(&r, 5000, 5), "dead since the bound, owed nothing: compacted");
	CHECK(!mantis_rules_compact(&r, 4999, 5), "dead since after the bound: kept in full");
	CHECK(!mantis_rules_compact(&r, 0, 5), "no bound: kept");
	CHECK(!mantis_rules_compact(&r, 5000, 4),
		  "protocol 4 at most: its answers cannot carry records, kept");
	r.owed = true;
	CHECK(!mantis_rules_compact(&r, 9000, 5),
		  "owed (unsent, unflushed): the stream and the flush need it in full");
}

static void
test_record_refuses(void)
{
	MantisRecordView rec = record(100, 7, 0x1111, 5000);

	CHECK(mantis_rules_record_refuses(false, &rec, 0, 99, 9, 0x2222),
		  "an older register of its hash: refused (an older copy of something dead)");
	CHECK(mantis_rules_record_refuses(false, &rec, 0, 100, 6, 0x2222),
		  "the same ms, a lesser node: older, refused");
	CHECK(mantis_rules_record_refuses(false, &rec, 0, 100, 7, 0x1111),
		  "the same register again: refused");
	CHECK(!mantis_rules_record_refuses(false, &rec, 0, 100, 7, 0x2222),
		  "another register of its HLC (a node id on two servers): it replaces the record");
	CHECK(!mantis_rules_record_refuses(false, &rec, 0, 101, 1, 0x2222),
		  "a newer register: replaces the record");
	CHECK(!mantis_rules_record_refuses(false, &rec, 500, 101, 1, 0x2222),
		  "a record is what we know of its key: the leaf's bound does not refuse past it");
	CHECK(!mantis_rules_record_refuses(true, &rec, 500, 1, 1, 0x2222),
		  "held in full: LWW decides");
	CHECK(mantis_rules_record_refuses(false, NULL, 500, 500, 1, 0x2222),
		  "nothing held, at the collapsed bound: refused");
	CHECK(!mantis_rules_record_refuses(false, NULL, 500, 501, 1, 0x2222),
		  "above the bound: taken");
	CHECK(!mantis_rules_record_refuses(false, NULL, 0, 1, 1, 0x2222),
		  "no record, no bound: taken");
	CHECK(!mantis_rules_record_refuses(true, NULL, 500, 1, 1, 0x2222),
		  "held in full, under the bound: LWW decides");
}

static void
test_tombstone(void)
{
	MantisRecordView t = record(100, 7, 0x1111, 5000);

	CHECK(mantis_rules_tombstone(false, 0, 0, 0, &t) == MANTIS_TOMB_KEEP,
		  "nothing held of its hash: kept as a record");
	CHECK(mantis_rules_tombstone(false, 0, 0, 100, &t) == MANTIS_TOMB_IGNORE,
		  "nothing held, covered by our collapsed bound: it already refuses the key");
	CHECK(mantis_rules_tombstone(false, 0, 0, 99, &t) == MANTIS_TOMB_KEEP,
		  "above our bound: kept");
	CHECK(mantis_rules_tombstone(true, 50, 9, 0, &t) == MANTIS_TOMB_REPLACE,
		  "an older register held (a copy the returning member kept): replaced");
	CHECK(mantis_rules_tombstone(true, 100, 6, 0, &t) == MANTIS_TOMB_REPLACE,
		  "the same ms, a lesser node: replaced");
	CHECK(mantis_rules_tombstone(true, 100, 7, 0, &t) == MANTIS_TOMB_IGNORE,
		  "the same HLC: ours kept");
	CHECK(mantis_rules_tombstone(true, 101, 1, 0, &t) == MANTIS_TOMB_IGNORE,
		  "newer held (written since): ignored");

	/* a tombstone and a register of one hash meet in either order, one outcome */
	for (int i = 0; i < 2000; i++)
	{
		MantisRecordView a = record(1 + rnd() % 8, 1 + rnd() % 3, 1 + rnd() % 2, 0);
		uint64_t	ts = 1 + rnd() % 8,
					node = 1 + rnd() % 3,
					fp = 1 + rnd() % 2;
		bool		refused = mantis_rules_record_refuses(false, &a, 0, ts, node, fp);
		MantisTombstoneAction act = mantis_rules_tombstone(true, ts, node, 0, &a);

		/* X holds record a, receives the register; Y holds the register, receives a */
		CHECK(refused == (act == MANTIS_TOMB_REPLACE) ||
			  (ts == a.ts && node == a.node),
			  "the record wins on both sides or on neither (%llu.%llu vs %llu.%llu)",
			  (unsigned long long) ts, (unsigned long long) node,
			  (unsigned long long) a.ts, (unsigned long long) a.node);
		if (ts == a.ts && node == a.node && fp != a.fingerprint)
			CHECK(!refused && act == MANTIS_TOMB_IGNORE,
				  "one HLC, two registers: the register is kept on both sides");
	}
}

static void
test_collapse(void)
{
	MantisLeafBound b = {0, 0, 0};
	MantisRecordView r1 = record(100, 1, 0x0F0F, 4000);
	MantisRecordView r2 = record(80, 2, 0x3300, 4500);
	MantisSweepBounds sb = {0, 0, MANTIS_RULES_NO_HOLE};

	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_KEEP, "nothing collapsed: nothing to do");
	CHECK(!mantis_rules_collapse(&b, &r1, 100, MANTIS_RULES_NO_HOLE) && b.bound_ts == 0,
		  "at the least clock: not collapsed (the bound would refuse a member's next writes)");
	CHECK(!mantis_rules_collapse(&b, &r1, 101, 100) && b.bound_ts == 0,
		  "at a hole: not collapsed (the bound would refuse what we refused for room)");
	CHECK(mantis_rules_collapse(&b, &r1, 101, 101), "below both: collapsed");
	CHECK(mantis_rules_collapse(&b, &r2, 101, MANTIS_RULES_NO_HOLE), "another");
	CHECK(b.bound_ts == 100, "the bound: the greatest collapsed HLC");
	CHECK(b.fingerprint == (0x0F0F ^ 0x3300), "their fingerprints stay in the digest");
	CHECK(b.death_ms == 4500, "the latest death of the group");
	(void) mantis_rules_collapse(&b, &r2, 101, MANTIS_RULES_NO_HOLE);
	CHECK(b.fingerprint == 0x0F0F, "XOR: a fingerprint collapsed twice cancels, as in a digest");
	(void) mantis_rules_collapse(&b, &r2, 101, MANTIS_RULES_NO_HOLE);

	sb.horizon_ts = 99;
	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_KEEP,
		  "the horizon below the bound: kept (one record of the group is not held by all)");
	sb.horizon_ts = 100;
	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_BY_HORIZON, "the horizon at the bound");
	sb.hole_ts = 100;
	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_KEEP,
		  "a hole at the bound: kept (the refusal horizon would cover it)");
	sb = (MantisSweepBounds) {0, 4499, MANTIS_RULES_NO_HOLE};
	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_KEEP,
		  "the last death not a lifetime old: kept");
	sb.lifetime_ms = 4500;
	CHECK(mantis_rules_bound_sweep(&b, &sb) == MANTIS_SWEEP_BY_LIFETIME,
		  "every death of the group a lifetime old: collected");
	CHECK(mantis_rules_sweep_raises(mantis_rules_bound_sweep(&b, &sb), true),
		  "and it raises the refusal horizon (to the bound)");
}

int
main(void)
{
	rng_state = UINT64_C(0x2545F4914F6CDD1D);
	test_digest();
	test_agreement();
	test_horizon();
	test_sweep();
	test_lifetime_bound();
	test_refuse_adopt();
	test_compact();
	test_record_refuses();
	test_tombstone();
	test_collapse();
	return unit_report("test_rules");
}
