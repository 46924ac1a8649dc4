/*
 * test_lww.c
 *	  Unit and property tests of the pure clock and merge code: the register
 *	  order and merge (src/common/hlc.c), the HLC arithmetic and text form
 *	  (src/common/hlc.c), and pinned values of the key hash
 *	  (src/common/keyhash.c).
 *
 * The merge properties are checked over registers drawn from deliberately
 * tiny domains (a few timestamps, two node ids, two values, deletions), so
 * that ties on every field are common: commutativity, associativity,
 * idempotence, and "the result is one of the inputs".  Expiries are drawn
 * from a tiny domain too (never, or one of two times), and the order they
 * take after the HLC and the deletion tie-break is checked, as is
 * mantis_register_is_dead().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyhash.h"
#include "common/hlc.h"
#include "unit.h"

static const char *values[] = {"a", "b", "ab", ""};

static MantisRegisterView
random_register(void)
{
	MantisRegisterView r;
	const char *v;

	r.hlc.ts = mantis_hlc_pack(1000 + rnd() % 3, rnd() % 2);
	r.hlc.node = 1 + rnd() % 2;
	r.deleted = rnd() % 4 == 0;
	v = r.deleted ? "" : values[rnd() % 4];
	r.value = v;
	r.value_len = (uint32_t) strlen(v);
	/* a deletion never carries an expiry */
	r.expires_ms = r.deleted ? 0 : (uint64_t[]) {0, 5000, 6000}[rnd() % 3];
	return r;
}

static int
same(const MantisRegisterView *a, const MantisRegisterView *b)
{
	return mantis_register_cmp(a, b) == 0;
}

static void
test_merge_laws(void)
{
	for (int i = 0; i < 200000; i++)
	{
		MantisRegisterView a = random_register();
		MantisRegisterView b = random_register();
		MantisRegisterView c = random_register();
		const MantisRegisterView *ab = mantis_lww_merge(&a, &b);
		const MantisRegisterView *ba = mantis_lww_merge(&b, &a);
		const MantisRegisterView *ab_c = mantis_lww_merge(ab, &c);
		const MantisRegisterView *bc = mantis_lww_merge(&b, &c);
		const MantisRegisterView *a_bc = mantis_lww_merge(&a, bc);

		CHECK(same(ab, ba), "merge is not commutative (iteration %d)", i);
		CHECK(same(ab_c, a_bc), "merge is not associative (iteration %d)", i);
		CHECK(same(mantis_lww_merge(&a, &a), &a), "merge is not idempotent");
		CHECK(ab == &a || ab == &b, "merge made a register of its own");
		/* antisymmetry: distinct registers never tie */
		CHECK((mantis_register_cmp(&a, &b) == 0) ==
			  (a.hlc.ts == b.hlc.ts && a.hlc.node == b.hlc.node &&
			   a.deleted == b.deleted && a.expires_ms == b.expires_ms &&
			   a.value_len == b.value_len &&
			   memcmp(a.value, b.value, a.value_len) == 0),
			  "distinct registers compare equal");
		CHECK(mantis_register_cmp(&a, &b) == -mantis_register_cmp(&b, &a),
			  "the order is not antisymmetric");
		/* the greater HLC always wins, whatever the values */
		if (mantis_hlc_cmp(&a.hlc, &b.hlc) > 0)
			CHECK(ab == &a, "the greater HLC lost");
	}
}

static MantisRegisterView
view(uint64_t ts, bool deleted, const char *value, uint64_t expires_ms)
{
	MantisRegisterView r = {{ts, 1}, deleted, value, (uint32_t) strlen(value), expires_ms};

	return r;
}

/* where expiry sits in the order: after the HLC and the deletion tie-break */
static void
test_expiry_order(void)
{
	MantisRegisterView never = view(100, false, "a", 0);
	MantisRegisterView early = view(100, false, "b", 5000);
	MantisRegisterView late = view(100, false, "a", 6000);
	MantisRegisterView gone = view(100, true, "", 0);
	MantisRegisterView newer = view(101, false, "a", 1);

	CHECK(mantis_register_cmp(&early, &late) < 0, "the earlier expiry is not smaller");
	CHECK(mantis_register_cmp(&late, &never) < 0, "an expiry is not before \"never\"");
	CHECK(mantis_register_cmp(&early, &never) < 0, "expiry before value: \"b\" won");
	CHECK(mantis_register_cmp(&gone, &early) < 0, "a deletion is not before an expiring value");
	CHECK(mantis_register_cmp(&newer, &never) > 0, "the greater HLC lost to \"never\"");
	CHECK(mantis_lww_merge(&late, &early) == &late, "merge kept the earlier expiry");
	CHECK(mantis_lww_merge(&never, &late) == &never, "merge kept an expiry over \"never\"");

	/* dead: deleted, or the expiry reached */
	CHECK(mantis_register_is_dead(true, 0, 0), "a deletion is live");
	CHECK(!mantis_register_is_dead(false, 0, UINT64_MAX), "\"never\" expired");
	CHECK(!mantis_register_is_dead(false, 5000, 4999), "expired a millisecond early");
	CHECK(mantis_register_is_dead(false, 5000, 5000), "live at its expiry");
	CHECK(mantis_register_is_dead(false, 5000, 5001), "live after its expiry");
}

static void
test_hlc_next(void)
{
	uint64_t	last = 0;
	uint64_t	now = 1700000000000;

	/* the wall clock moves forward: logical resets to zero */
	last = mantis_hlc_next(last, now);
	CHECK(last == mantis_hlc_pack(now, 0), "first tick is not the wall clock");

	/* the wall clock stands still: logical counts */
	CHECK(mantis_hlc_next(last, now) == last + 1, "no logical increment");

	/* the wall clock steps back: still strictly increasing */
	CHECK(mantis_hlc_next(last, now - 5000) == last + 1, "went backwards");

	/* more than 65,535 events in one millisecond carry into the ms part */
	{
		uint64_t	t = mantis_hlc_pack(now, 0);

		for (int i = 0; i < 70000; i++)
		{
			uint64_t	n = mantis_hlc_next(t, now);

			CHECK(n > t, "not strictly increasing at %d", i);
			t = n;
		}
		CHECK(mantis_hlc_ms(t) == now + 1, "counter overflow did not carry");
	}

	/* a random walk of the wall clock never makes the HLC go backwards */
	last = 0;
	for (int i = 0; i < 100000; i++)
	{
		uint64_t	wall = now + (rnd() % 200) - 100;
		uint64_t	n = mantis_hlc_next(last, wall);

		CHECK(n > last, "random walk: not strictly increasing");
		CHECK(mantis_hlc_ms(n) >= wall, "HLC behind the wall clock");
		last = n;
	}
}

static void
test_hlc_text(void)
{
	MantisHLC	h = {mantis_hlc_pack(UINT64_C(1795659093123), 1), UINT64_C(0x0123456789abcdef)};
	char		buf[MANTIS_HLC_TEXT_SIZE];
	MantisHLC	back;
	MantisHLCTextCache cache = {0};

	CHECK(mantis_hlc_format(&h, buf) == MANTIS_HLC_TEXT_LEN, "length");
	CHECK(strcmp(buf, "2026-11-26T02:11:33.123Z-0001-0123456789abcdef") == 0,
		  "format gave %s", buf);
	CHECK(mantis_hlc_parse(buf, strlen(buf), &back) &&
		  back.ts == h.ts && back.node == h.node, "parse(format(h)) != h");

	CHECK(!mantis_hlc_parse("2026-02-30T00:00:00.000Z-0000-0000000000000000", 46, &back),
		  "accepted February 30");
	CHECK(!mantis_hlc_parse("2026-11-26T02:11:33.123Z-0001-0123456789ABCDEF", 46, &back),
		  "accepted upper-case hex");
	CHECK(!mantis_hlc_parse(buf, strlen(buf) - 1, &back), "accepted a short string");

	/* text order is HLC order, and format/parse round-trip, at random */
	for (int i = 0; i < 100000; i++)
	{
		MantisHLC	a,
					b;
		char		ta[MANTIS_HLC_TEXT_SIZE],
					tb[MANTIS_HLC_TEXT_SIZE],
					tc[MANTIS_HLC_TEXT_SIZE];
		int			c,
					t;

		a.ts = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
		a.node = rnd();
		b = a;
		switch (rnd() % 3)
		{
			case 0:
				b.ts = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
				break;
			case 1:
				b.ts ^= rnd() % 4;
				break;
			default:
				b.node ^= rnd() % 4;
		}
		mantis_hlc_format(&a, ta);
		mantis_hlc_format(&b, tb);
		/* a cache kept across calls formats each alike */
		mantis_hlc_format_cached(&a, tc, &cache);
		CHECK(strcmp(ta, tc) == 0, "cached %s, not %s", tc, ta);
		mantis_hlc_format_cached(&b, tc, &cache);
		CHECK(strcmp(tb, tc) == 0, "cached %s, not %s", tc, tb);
		c = mantis_hlc_cmp(&a, &b);
		t = strcmp(ta, tb);
		CHECK((c > 0) == (t > 0) && (c < 0) == (t < 0),
			  "text order differs: %s vs %s", ta, tb);
		CHECK(mantis_hlc_parse(ta, MANTIS_HLC_TEXT_LEN, &back) &&
			  back.ts == a.ts && back.node == a.node, "round trip of %s", ta);
	}
}

static void
test_hash(void)
{
	/* fixed values: the hash is part of the wire contract */
	/*
	 * Pinned values: the hash places keys in repair leaves and derives node
	 * ids on every node, so it must never change silently.
	 */
	CHECK(mantis_hash("", 0) == UINT64_C(0xef46db3751d8e999), "hash of \"\" changed");
	CHECK(mantis_hash("n1", 2) == UINT64_C(0x51ce9f3ef4b004a7), "hash of n1 changed");
	CHECK(mantis_hash("key1", 4) == UINT64_C(0xd80a86ddd6325734), "hash of key1 changed");
	CHECK(mantis_hash("mantis node name of some length", 31) ==
		  UINT64_C(0xd40f69d50aca5581), "hash of a long string changed");
	CHECK(mantis_hash("key1", 4) != mantis_hash("key2", 4), "trivial collision");
	/* unaligned input hashes the same as aligned */
	{
		char		buf[64];
		const char *s = "an unaligned key of some length";

		memcpy(buf + 1, s, strlen(s));
		CHECK(mantis_hash(buf + 1, strlen(s)) == mantis_hash(s, strlen(s)),
			  "alignment changes the hash");
	}
	/* spread over the low 16 bits (the repair leaves) */
	{
		static int	counts[256];
		char		key[32];

		for (int i = 0; i < 256000; i++)
		{
			int			n = snprintf(key, sizeof(key), "key%d", i);

			counts[mantis_hash(key, (size_t) n) & 255]++;
		}
		for (int i = 0; i < 256; i++)
			CHECK(counts[i] > 800 && counts[i] < 1200, "bucket %d has %d", i, counts[i]);
	}
}

int
main(void)
{
	rng_state = UINT64_C(0x853c49e6748fea9b);
	test_merge_laws();
	test_expiry_order();
	test_hlc_next();
	test_hlc_text();
	test_hash();
	return unit_report("test_lww");
}
