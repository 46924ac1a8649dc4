/*
 * test_tombs.c
 *	  Round-trip tests of the TOMBS frame of protocol 5 (src/common/tombs.c,
 *	  R7's hash tombstones): random records and bounds of a random group are
 *	  written with the encoder into memory of exactly their size (a guard
 *	  zone after it must stay untouched), decoded with mantis_frame_decode()
 *	  and read back field by field; every proper prefix is rejected, as is a
 *	  byte more; a TOMBS frame of version 3 or 4 is rejected; and each check
 *	  of the decoder (group, record out of its group, HLC 0 or past 9999,
 *	  death past 9999, bound out of its group, bound 0, counts that do not
 *	  match, too many bounds) refuses its fault with its message.  One frame
 *	  is compared with bytes written out by hand, which pins the layout.
 */
#include <stdlib.h>
#include <string.h>

#include "common/tombs.h"
#include "unit.h"

#define GUARD		16
#define GUARD_BYTE	0xA5
#define ROUNDS		2000

typedef struct Tombs
{
	MantisFrameHeader h;
	uint32_t	round;
	uint16_t	group;
	uint32_t	n;
	uint16_t	nb;
	MantisRecordView r[40];
	MantisTombBound b[20];
} Tombs;

static uint64_t
random_ts(void)
{
	if (rnd() % 8 == 0)
		return mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF);
	return mantis_hlc_pack(1 + rnd() % MANTIS_HLC_MAX_MS, rnd());
}

static void
random_tombs(Tombs *t)
{
	t->h.version = MANTIS_FRAME_VERSION_TOMBS;
	t->h.sender = rnd();
	t->h.incarnation = rnd();
	t->h.hlc = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
	t->h.flags = 0;
	t->round = (uint32_t) rnd();
	t->group = (uint16_t) (rnd() % MANTIS_DIGEST_GROUPS);
	t->n = (uint32_t) (rnd() % 41);
	t->nb = (uint16_t) (rnd() % 21);
	for (uint32_t i = 0; i < t->n; i++)
	{
		t->r[i].hash = (rnd() & ~UINT64_C(0xFFFF)) |
			((uint64_t) t->group << 8) | (rnd() & 0xFF);
		t->r[i].ts = random_ts();
		t->r[i].node = rnd();
		t->r[i].fingerprint = rnd();
		t->r[i].death_ms = rnd() % (MANTIS_HLC_MAX_MS + 1);
	}
	for (uint16_t i = 0; i < t->nb; i++)
	{
		t->b[i].leaf = (uint16_t) (t->group * MANTIS_DIGEST_GROUP_LEAVES + rnd() % 256);
		t->b[i].bound.bound_ts = random_ts();
		t->b[i].bound.fingerprint = rnd();
		t->b[i].bound.death_ms = rnd() % (MANTIS_HLC_MAX_MS + 1);
	}
}

static size_t
tombs_size(const Tombs *t)
{
	return MANTIS_FRAME_TOMBS_HEAD_SIZE + t->n * MANTIS_TOMB_RECORD_SIZE +
		t->nb * MANTIS_TOMB_BOUND_SIZE;
}

/* encode into p, of tombs_size() bytes; returns the bytes written */
static size_t
encode(unsigned char *p, const Tombs *t)
{
	unsigned char *q = p + mantis_frame_put_tombs_head(p, &t->h, t->round, t->group);

	for (uint32_t i = 0; i < t->n; i++)
		q = mantis_tomb_put_record(q, &t->r[i]);
	for (uint16_t i = 0; i < t->nb; i++)
		q = mantis_tomb_put_bound(q, &t->b[i]);
	mantis_frame_tombs_set_counts(p, t->n, t->nb);
	return (size_t) (q - p);
}

static unsigned char *
alloc_guarded(size_t size)
{
	unsigned char *p = malloc(size + GUARD);

	if (p == NULL)
		exit(2);
	memset(p, GUARD_BYTE, size + GUARD);
	return p;
}

static void
test_round_trip(void)
{
	for (int k = 0; k < ROUNDS; k++)
	{
		Tombs		t;
		size_t		size;
		unsigned char *p;
		MantisFrame f;
		const char *err;
		int			same = 1;

		random_tombs(&t);
		size = tombs_size(&t);
		p = alloc_guarded(size + 1);
		CHECK(encode(p, &t) == size, "wrote the size it was given");
		for (int g = 0; g < GUARD; g++)
			CHECK(p[size + g] == GUARD_BYTE, "wrote past its size");
		err = mantis_frame_decode(p, size, &f);
		CHECK(err == NULL, "does not decode: %s", err);
		if (err != NULL)
		{
			free(p);
			continue;
		}
		CHECK(f.type == MANTIS_FRAME_TOMBS && f.version == MANTIS_FRAME_VERSION_TOMBS,
			  "type %d version %d", f.type, f.version);
		CHECK(f.sender == t.h.sender && f.incarnation == t.h.incarnation && f.hlc == t.h.hlc,
			  "header");
		CHECK(f.round == t.round && f.group == t.group, "round, group");
		CHECK(f.count == t.n && f.nbounds == t.nb, "counts %u %u", f.count, f.nbounds);
		for (uint32_t i = 0; i < f.count; i++)
		{
			MantisRecordView r;

			mantis_frame_tomb(&f, i, &r);
			same &= memcmp(&r, &t.r[i], sizeof(r)) == 0;
		}
		for (uint16_t i = 0; i < f.nbounds; i++)
		{
			MantisTombBound b;

			mantis_frame_tomb_bound(&f, i, &b);
			same &= b.leaf == t.b[i].leaf &&
				memcmp(&b.bound, &t.b[i].bound, sizeof(b.bound)) == 0;
		}
		CHECK(same, "records and bounds read back as written");
		for (size_t len = 0; len < size; len++)
			CHECK(mantis_frame_decode(p, len, &f) != NULL, "a prefix of %zu decodes", len);
		p[size] = 0;
		CHECK(mantis_frame_decode(p, size + 1, &f) != NULL, "a byte more decodes");
		for (int v = MANTIS_FRAME_VERSION_MIN; v < MANTIS_FRAME_VERSION_TOMBS; v++)
		{
			p[4] = (unsigned char) v;
			err = mantis_frame_decode(p, size, &f);
			CHECK(err && strcmp(err, "hash tombstones before protocol version 5") == 0,
				  "TOMBS of version %d: %s", v, err ? err : "accepted");
		}
		free(p);
	}
}

/* one fault at a time: each refused with its message */
static void
expect(const Tombs *t, const char *msg, const char *what)
{
	size_t		size = tombs_size(t);
	unsigned char *p = alloc_guarded(size);
	MantisFrame f;
	const char *err;

	encode(p, t);
	err = mantis_frame_decode(p, size, &f);
	CHECK(err && strcmp(err, msg) == 0, "%s: %s", what, err ? err : "accepted");
	free(p);
}

static void
test_faults(void)
{
	Tombs		t;
	Tombs		c;
	size_t		size;
	unsigned char *p;
	MantisFrame f;

	do
		random_tombs(&t);
	while (t.n == 0 || t.nb == 0);

	c = t;
	c.group = MANTIS_DIGEST_GROUPS;
	expect(&c, "invalid group", "group 256");
	c = t;
	c.r[0].hash ^= UINT64_C(1) << 8;	/* the next group, or the one before */
	expect(&c, "tombstone outside its group", "record in another group");
	c = t;
	c.r[c.n - 1].ts = 0;
	expect(&c, "tombstone clock 0 or beyond year 9999", "record of HLC 0");
	c = t;
	c.r[0].ts = mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0);
	expect(&c, "tombstone clock 0 or beyond year 9999", "record past 9999");
	c = t;
	c.r[0].death_ms = MANTIS_HLC_MAX_MS + 1;
	expect(&c, "tombstone death beyond year 9999", "death past 9999");
	c = t;
	c.b[0].leaf ^= 0x100;
	expect(&c, "bound outside its group", "bound in another group");
	c = t;
	c.b[c.nb - 1].bound.bound_ts = 0;
	expect(&c, "bound 0 or beyond year 9999", "bound 0");
	c = t;
	c.b[0].bound.death_ms = UINT64_MAX;
	expect(&c, "bound death beyond year 9999", "bound death past 9999");

	/* counts that do not match the bytes */
	size = tombs_size(&t);
	p = alloc_guarded(size);
	encode(p, &t);
	mantis_frame_tombs_set_counts(p, t.n + 1, t.nb);
	CHECK(mantis_frame_decode(p, size, &f) != NULL, "one record more than the bytes");
	mantis_frame_tombs_set_counts(p, UINT32_MAX, t.nb);
	CHECK(strcmp(mantis_frame_decode(p, size, &f), "tombstone count larger than the frame") == 0,
		  "a count of 2^32-1");
	mantis_frame_tombs_set_counts(p, t.n, (uint16_t) (t.nb - 1));
	CHECK(strcmp(mantis_frame_decode(p, size, &f), "tombstone counts do not match the frame") == 0,
		  "one bound fewer than the bytes");
	free(p);

	/* 257 bounds: more than a group has leaves, though the bytes are there */
	size = MANTIS_FRAME_TOMBS_HEAD_SIZE + 257 * MANTIS_TOMB_BOUND_SIZE;
	p = alloc_guarded(size);
	{
		unsigned char *q = p + mantis_frame_put_tombs_head(p, &t.h, 1, 0);

		for (int i = 0; i < 257; i++)
		{
			MantisTombBound b = {(uint16_t) (i % 256), {1, 2, 3}};

			q = mantis_tomb_put_bound(q, &b);
		}
		mantis_frame_tombs_set_counts(p, 0, 257);
	}
	CHECK(strcmp(mantis_frame_decode(p, size, &f), "more bounds than the group has leaves") == 0,
		  "257 bounds");
	free(p);
}

/* the layout, byte by byte: group 2, one record, one bound */
static void
test_known_bytes(void)
{
	static const unsigned char want[MANTIS_FRAME_TOMBS_HEAD_SIZE + MANTIS_TOMB_RECORD_SIZE +
									MANTIS_TOMB_BOUND_SIZE] = {
		'M', 'N', 'T', 'Z', 5, 8, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 1,		/* sender */
		0, 0, 0, 0, 0, 0, 0, 2,		/* incarnation */
		0, 0, 0, 0, 0, 0, 0, 3,		/* hlc */
		0, 0, 0, 9,					/* round */
		0, 2,						/* group */
		0, 0, 0, 1,					/* records */
		0, 1,						/* bounds */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x02, 0x77,	/* hash: leaf 0x0277 */
		0, 0, 0, 0, 0, 0, 0, 4,		/* ts */
		0, 0, 0, 0, 0, 0, 0, 5,		/* node */
		0, 0, 0, 0, 0, 0, 0, 6,		/* fingerprint */
		0, 0, 0, 0, 0, 0, 0, 7,		/* death */
		0x02, 0x10,					/* leaf */
		0, 0, 0, 0, 0, 0, 0, 8,		/* bound */
		0, 0, 0, 0, 0, 0, 0, 9,		/* fingerprint */
		0, 0, 0, 0, 0, 0, 0, 10		/* latest death */
	};
	Tombs		t;
	unsigned char got[sizeof(want)];

	memset(&t, 0, sizeof(t));
	t.h.version = 5;
	t.h.sender = 1;
	t.h.incarnation = 2;
	t.h.hlc = 3;
	t.round = 9;
	t.group = 2;
	t.n = 1;
	t.nb = 1;
	t.r[0] = (MantisRecordView) {UINT64_C(0x1122334455660277), 4, 5, 6, 7};
	t.b[0].leaf = 0x0210;
	t.b[0].bound = (MantisLeafBound) {8, 9, 10};
	CHECK(encode(got, &t) == sizeof(want) && memcmp(got, want, sizeof(want)) == 0,
		  "the bytes written out by hand");
}

int
main(void)
{
	rng_state = UINT64_C(0x2545f4914f6cdd1d);
	test_round_trip();
	test_faults();
	test_known_bytes();
	return unit_report("test_tombs");
}
