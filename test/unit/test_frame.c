/*
 * test_frame.c
 *	  Round-trip tests of the replication frames in src/common/frame.c.
 *
 * Every frame type is written with its encoder into memory of exactly the size
 * common/frame.h gives for it (plus a guard zone that must stay untouched),
 * decoded with mantis_frame_decode(), and compared field by field; the decoded
 * frame re-encodes to the same bytes; every proper prefix of it, and the frame
 * with one byte more, is rejected.  Random values fill the fields of protocol
 * version 3 too: the header flags, the watermark of a batch-end live UPDATES,
 * the mark of INSYNC and GROUPS and the three horizons of a greeting; what the
 * decoder must refuse of them (unknown flags, a watermark outside the end of a
 * live batch, an HLC past 9999, a frame of version 2) is refused.  Every
 * type is written in versions 3 to 5 (random headers take any; TOMBS,
 * of version 5 alone, is test_tombs.c's): a
 * greeting of version 4 carries the protocol range, member set and
 * generation after the horizons, and each of their faults is refused, as is
 * a greeting whose length is that of the other version.  A few frames are
 * also compared with bytes written out by hand, which pins the wire format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "common/keyhash.h"
#include "unit.h"

#define GUARD		16
#define GUARD_BYTE	0xA5

/* memory for a frame of "size" bytes, followed by a guard zone */
static unsigned char *
frame_alloc(size_t size)
{
	unsigned char *p = malloc(size + GUARD);

	if (p == NULL)
	{
		perror("malloc");
		exit(2);
	}
	memset(p, GUARD_BYTE, size + GUARD);
	return p;
}

static int
guard_intact(const unsigned char *p, size_t size)
{
	for (size_t i = 0; i < GUARD; i++)
		if (p[size + i] != GUARD_BYTE)
			return 0;
	return 1;
}

/* an HLC the decoder accepts: mostly random, sometimes 0 or the last one */
static uint64_t
random_hlc(void)
{
	switch (rnd() % 8)
	{
		case 0:
			return 0;
		case 1:
			return mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF);
		default:
			return mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
	}
}

/* a header of no flags, of version 3 or 4: the tests set the flags a type carries */
static MantisFrameHeader
random_header(void)
{
	MantisFrameHeader h;

	h.version = (uint8_t) (MANTIS_FRAME_VERSION_MIN +
						   rnd() % (MANTIS_FRAME_VERSION_MAX - MANTIS_FRAME_VERSION_MIN + 1));
	h.sender = rnd();
	h.incarnation = rnd();
	h.hlc = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
	h.flags = 0;
	return h;
}

/* the mark of an INSYNC or GROUPS frame */
static MantisLiveMark
random_mark(void)
{
	MantisLiveMark m;

	switch (rnd() % 4)
	{
		case 0:
			m.seq = 0;
			break;
		case 1:
			m.seq = UINT32_MAX;
			break;
		default:
			m.seq = (uint32_t) rnd();
	}
	m.watermark = random_hlc();
	return m;
}

static void
check_header(const char *what, const MantisFrame *f, int type,
			 const MantisFrameHeader *h)
{
	CHECK(f->type == type, "%s: type %d, not %d", what, f->type, type);
	CHECK(f->version == h->version, "%s: version %d, not %d", what, f->version, h->version);
	CHECK(f->sender == h->sender, "%s: sender", what);
	CHECK(f->incarnation == h->incarnation, "%s: incarnation", what);
	CHECK(f->hlc == h->hlc, "%s: hlc", what);
	CHECK(f->flags == h->flags, "%s: flags 0x%04x, not 0x%04x", what, f->flags, h->flags);
}

/*
 * What holds for every valid frame: it decodes; each proper prefix of it
 * and the frame with a byte added do not.  Each length is decoded from a
 * copy of exactly that size, so a decoder reading past the end reads past
 * an allocation (which ASan or valgrind would report).
 */
static void
check_exact(const char *what, const unsigned char *frame, size_t size)
{
	MantisFrame f;
	unsigned char *copy;
	const char *err;

	err = mantis_frame_decode(frame, size, &f);
	CHECK(err == NULL, "%s: does not decode: %s", what, err);
	for (size_t len = 0; len < size; len++)
	{
		copy = malloc(len ? len : 1);
		if (copy == NULL)
			exit(2);
		memcpy(copy, frame, len);
		err = mantis_frame_decode(copy, len, &f);
		CHECK(err != NULL, "%s: its first %zu of %zu bytes decode", what, len, size);
		free(copy);
	}
	copy = malloc(size + 1);
	if (copy == NULL)
		exit(2);
	memcpy(copy, frame, size);
	copy[size] = 0;
	CHECK(mantis_frame_decode(copy, size + 1, &f) != NULL,
		  "%s: decodes with a byte added", what);
	free(copy);
	CHECK(mantis_frame_decode(NULL, 0, &f) != NULL, "NULL decodes");
}

/* ---- HELLO and WELCOME ---- */

/* the bytes of a greeting after the horizons: none in version 3 */
static size_t
tail_size(int version)
{
	return version >= 4 ? MANTIS_GREETING_V4_SIZE : 0;
}

static void
check_greeting_frame(int type, const MantisFrameHeader *h, const MantisGreeting *g)
{
	const char *what = type == MANTIS_FRAME_HELLO ? "hello" : "welcome";
	size_t		size = mantis_frame_greeting_frame_size(h->version, g);
	size_t		tail = tail_size(h->version);
	unsigned char *p = frame_alloc(size);
	unsigned char *again = frame_alloc(size);
	const unsigned char *t = p + size - tail;	/* the fields of version 4 */
	MantisFrameHeader h2;
	MantisFrame f;
	const char *err;
	size_t		n;

	CHECK(size == MANTIS_FRAME_HEADER_SIZE + 1 + g->name_len + 4 + 4 + 1 + g->encoding_len +
		  8 + 8 + 8 + (h->version >= 4 ? 1 + 1 + 8 + 2 + 8 + 8 : 0),
		  "%s v%d: size %zu", what, h->version, size);
	n = type == MANTIS_FRAME_HELLO ? mantis_frame_put_hello(p, h, g) :
		mantis_frame_put_welcome(p, h, g);
	CHECK(n == size, "%s: wrote %zu bytes of %zu", what, n, size);
	CHECK(guard_intact(p, size), "%s: wrote past its size", what);
	CHECK(p[4] == h->version, "%s: version byte %d", what, p[4]);

	err = mantis_frame_decode(p, size, &f);
	CHECK(err == NULL, "%s v%d: %s", what, h->version, err);
	check_header(what, &f, type, h);
	CHECK(f.greeting.name_len == g->name_len &&
		  memcmp(f.greeting.name, g->name, g->name_len) == 0, "%s: name", what);
	CHECK(f.greeting.name == (const char *) p + MANTIS_FRAME_HEADER_SIZE + 1,
		  "%s: name points into the frame", what);
	CHECK(f.greeting.max_key_size == g->max_key_size, "%s: max key size", what);
	CHECK(f.greeting.max_value_size == g->max_value_size, "%s: max value size", what);
	CHECK(f.greeting.encoding_len == g->encoding_len &&
		  memcmp(f.greeting.encoding, g->encoding, g->encoding_len) == 0,
		  "%s: encoding", what);
	CHECK(f.greeting.encoding + f.greeting.encoding_len == (const char *) t - 24,
		  "%s: the horizons follow the encoding", what);
	CHECK(f.greeting.acked == g->acked, "%s: acked", what);
	CHECK(f.greeting.stable == g->stable, "%s: stable", what);
	CHECK(f.greeting.collected == g->collected, "%s: collected", what);
	CHECK(mantis_get_u64(t - 24) == g->acked &&
		  mantis_get_u64(t - 16) == g->stable &&
		  mantis_get_u64(t - 8) == g->collected,
		  "%s: the horizons: acked, stable, collected", what);
	if (h->version >= 4)
	{
		CHECK(f.greeting.proto_min == g->proto_min && f.greeting.proto_max == g->proto_max,
			  "%s: protocol range", what);
		CHECK(f.greeting.members == g->members, "%s: members", what);
		CHECK(f.greeting.member_count == g->member_count, "%s: member count", what);
		CHECK(f.greeting.generation == g->generation, "%s: generation", what);
		CHECK(f.greeting.acked_incarnation == g->acked_incarnation, "%s: acked incarnation", what);
		CHECK(t[0] == g->proto_min && t[1] == g->proto_max &&
			  mantis_get_u64(t + 2) == g->members &&
			  mantis_get_u16(t + 10) == g->member_count &&
			  mantis_get_u64(t + 12) == g->generation &&
			  mantis_get_u64(t + 20) == g->acked_incarnation,
			  "%s: the fields of version 4 end the frame: range, members, count, generation, acked incarnation",
			  what);
	}
	else
		CHECK(f.greeting.proto_min == 0 && f.greeting.proto_max == 0 &&
			  f.greeting.members == 0 && f.greeting.member_count == 0 &&
			  f.greeting.generation == 0 && f.greeting.acked_incarnation == 0,
			  "%s: version 3 decodes the fields of version 4 as 0", what);

	/* the decoded frame encodes to the same bytes */
	h2 = mantis_frame_header(&f);
	n = type == MANTIS_FRAME_HELLO ? mantis_frame_put_hello(again, &h2, &f.greeting) :
		mantis_frame_put_welcome(again, &h2, &f.greeting);
	CHECK(n == size && memcmp(again, p, size) == 0, "%s: re-encodes differently", what);

	check_exact(what, p, size);
	free(p);
	free(again);
}

static MantisGreeting
greeting(const char *name, uint32_t max_key, uint32_t max_value, const char *encoding)
{
	MantisGreeting g;

	memset(&g, 0, sizeof(g));
	g.name = name;
	g.name_len = strlen(name);
	g.max_key_size = max_key;
	g.max_value_size = max_value;
	g.encoding = encoding;
	g.encoding_len = strlen(encoding);
	return g;
}

/*
 * Valid fields of version 4 for a greeting written in "version": a range
 * from 3 that holds it (up to 255, a server of the future), a member set
 * known or not, any generation.
 */
static void
random_v4_fields(MantisGreeting *g, int version)
{
	g->proto_min = (uint8_t) (MANTIS_FRAME_VERSION_MIN + rnd() % (version - MANTIS_FRAME_VERSION_MIN + 1));
	switch (rnd() % 4)
	{
		case 0:
			g->proto_max = (uint8_t) version;
			break;
		case 1:
			g->proto_max = UINT8_MAX;
			break;
		default:
			g->proto_max = (uint8_t) (version + rnd() % (UINT8_MAX - version + 1));
	}
	switch (rnd() % 4)
	{
		case 0:
			g->members = 0;		/* not known yet: any count */
			g->member_count = (uint16_t) (rnd() % 3);
			break;
		case 1:
			g->members = UINT64_MAX;
			g->member_count = UINT16_MAX;
			break;
		default:
			g->members = rnd() | 1;
			g->member_count = (uint16_t) (1 + rnd() % 40);
	}
	g->generation = rnd() % 4 == 0 ? 0 : rnd() % 3 == 0 ? UINT64_MAX : rnd();
	g->acked_incarnation = rnd() % 4 == 0 ? 0 : rnd();
}

/* a greeting whose horizon at "at" (0, 8 or 16 after the encoding) is ts */
static const char *
decode_greeting_horizon(size_t at, uint64_t ts)
{
	MantisGreeting g = greeting("alpha", 1024, 1024, "UTF8");
	MantisFrameHeader h = random_header();
	unsigned char buf[128];
	MantisFrame f;
	size_t		n;

	g.acked = at == 0 ? ts : random_hlc();
	g.stable = at == 8 ? ts : random_hlc();
	g.collected = at == 16 ? ts : random_hlc();
	random_v4_fields(&g, h.version);
	n = rnd() % 2 ? mantis_frame_put_hello(buf, &h, &g) : mantis_frame_put_welcome(buf, &h, &g);
	return mantis_frame_decode(buf, n, &f);
}

static void
test_greetings(void)
{
	static const char name63[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
	static const char enc31[] = "abcdefghijklmnopqrstuvwxyz_0123";
	MantisGreeting gs[4];
	MantisFrameHeader h = random_header();
	MantisFrame f;
	unsigned char buf[256];
	size_t		n;

	gs[0] = greeting("alpha", 1024, 1024 * 1024, "UTF8");
	gs[1] = greeting("x", 0, UINT32_MAX, "SQL_ASCII");
	gs[2] = greeting(name63, 1, 2, enc31);
	gs[3] = greeting("node-b.example_2", 65535, 65536, "EUC_JP");
	CHECK(strlen(name63) == MANTIS_CODEC_NODE_NAME_MAX, "name63");
	CHECK(strlen(enc31) == MANTIS_FRAME_ENCODING_MAX, "enc31");
	for (int i = 0; i < 4; i++)
	{
		for (int v = MANTIS_FRAME_VERSION_MIN; v <= MANTIS_FRAME_VERSION_MAX; v++)
		{
			MantisGreeting g = gs[i];

			h.version = (uint8_t) v;
			if (v >= 4)
			{
				g.proto_min = MANTIS_FRAME_VERSION_MIN;
				g.proto_max = MANTIS_FRAME_VERSION_MAX;
			}
			check_greeting_frame(MANTIS_FRAME_HELLO, &h, &g);
			check_greeting_frame(MANTIS_FRAME_WELCOME, &h, &g);
		}
		h = random_header();
	}

	/* random horizons, and in version 4 random ranges, members and generations */
	for (int round = 0; round < 128; round++)
	{
		MantisGreeting g = gs[round % 4];

		g.acked = random_hlc();
		g.stable = random_hlc();
		g.collected = random_hlc();
		if (h.version >= 4)
			random_v4_fields(&g, h.version);
		check_greeting_frame(round % 2 ? MANTIS_FRAME_HELLO : MANTIS_FRAME_WELCOME, &h, &g);
		h = random_header();
	}

	/* each horizon: up to the last HLC of 9999, no further */
	for (size_t at = 0; at <= 16; at += 8)
	{
		for (int i = 0; i < 4; i++)
		{
			const char *err;

			err = decode_greeting_horizon(at, mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF));
			CHECK(err == NULL, "greeting: horizon at %zu of 9999: %s", at, err);
			err = decode_greeting_horizon(at, mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0));
			CHECK(err && strcmp(err, "greeting horizon beyond year 9999") == 0,
				  "greeting: horizon at %zu past 9999: %s", at, err ? err : "accepted");
			err = decode_greeting_horizon(at, UINT64_MAX);
			CHECK(err && strcmp(err, "greeting horizon beyond year 9999") == 0,
				  "greeting: horizon at %zu of all ones: %s", at, err ? err : "accepted");
		}
	}

	/* a version-2 greeting body (no horizons) behind a version-3 header */
	gs[0] = greeting("alpha", 1024, 1024, "UTF8");
	h.version = 3;
	n = mantis_frame_put_hello(buf, &h, &gs[0]);
	CHECK(strcmp(mantis_frame_decode(buf, n - 24, &f),
				 "encoding length does not match the frame") == 0,
		  "hello without horizons accepted");

	/* the encoders check nothing: the decoder rejects what they were given */
	for (int v = MANTIS_FRAME_VERSION_MIN; v <= MANTIS_FRAME_VERSION_MAX; v++)
	{
		h.version = (uint8_t) v;
		gs[0] = greeting("al ha", 1024, 1024, "UTF8");
		gs[0].proto_min = 3;
		gs[0].proto_max = 4;
		n = mantis_frame_put_hello(buf, &h, &gs[0]);
		CHECK(n == mantis_frame_greeting_frame_size(h.version, &gs[0]), "bad name: size");
		CHECK(strcmp(mantis_frame_decode(buf, n, &f), "invalid node name") == 0,
			  "bad name accepted");
		gs[0] = greeting("alpha", 1024, 1024, "UTF-8");
		gs[0].proto_min = 3;
		gs[0].proto_max = 4;
		n = mantis_frame_put_welcome(buf, &h, &gs[0]);
		CHECK(strcmp(mantis_frame_decode(buf, n, &f), "invalid encoding name") == 0,
			  "bad encoding accepted");
		gs[0] = greeting("alpha", 1024, 1024, "");
		gs[0].proto_min = 3;
		gs[0].proto_max = 4;
		n = mantis_frame_put_welcome(buf, &h, &gs[0]);
		CHECK(strcmp(mantis_frame_decode(buf, n, &f), "invalid encoding name") == 0,
			  "empty encoding accepted");
	}
}

/* a version-4 greeting of these fields of version 4, decoded */
static const char *
decode_v4(int type, uint8_t version, uint8_t proto_min, uint8_t proto_max,
		  uint64_t members, uint16_t member_count)
{
	MantisGreeting g = greeting("alpha", 1024, 1024 * 1024, "UTF8");
	MantisFrameHeader h = random_header();
	unsigned char buf[128];
	MantisFrame f;
	size_t		n;

	h.version = version;
	g.proto_min = proto_min;
	g.proto_max = proto_max;
	g.members = members;
	g.member_count = member_count;
	g.generation = rnd();
	n = type == MANTIS_FRAME_HELLO ? mantis_frame_put_hello(buf, &h, &g) :
		mantis_frame_put_welcome(buf, &h, &g);
	return mantis_frame_decode(buf, n, &f);
}

/* the verdict on such a greeting, as a HELLO and as a WELCOME, is "expected" (NULL: valid) */
static void
check_v4(const char *expected, uint8_t version, uint8_t proto_min, uint8_t proto_max,
		 uint64_t members, uint16_t member_count)
{
	for (int type = MANTIS_FRAME_HELLO; type <= MANTIS_FRAME_WELCOME; type++)
	{
		const char *err = decode_v4(type, version, proto_min, proto_max, members, member_count);

		CHECK(expected == NULL ? err == NULL : err != NULL && strcmp(err, expected) == 0,
			  "v4 greeting (range %d-%d, members %016llx, count %u): %s, not %s",
			  proto_min, proto_max, (unsigned long long) members, member_count,
			  err ? err : "accepted", expected ? expected : "accepted");
	}
}

/*
 * What the decoder checks of the fields of version 4, each fault alone; and
 * a greeting whose length is that of the other version.
 */
static void
test_greeting_v4_faults(void)
{
	static const char below[] = "greeting protocol range below version 3";
	static const char empty[] = "greeting protocol range is empty";
	static const char outside[] = "greeting version outside its protocol range";
	static const char no_count[] = "greeting member digest without a member count";
	static const char length[] = "encoding length does not match the frame";
	MantisGreeting g = greeting("alpha", 1024, 1024 * 1024, "UTF8");
	MantisFrameHeader h = random_header();
	unsigned char buf[128];
	MantisFrame f;
	size_t		n3;
	size_t		n4;

	/* good: the range 3-4, 4-4, 3-255, members unknown (any count) or counted */
	check_v4(NULL, 4, 3, 4, 0, 0);
	check_v4(NULL, 4, 4, 4, 0, 0);
	check_v4(NULL, 4, 3, 255, 0, 7);
	check_v4(NULL, 4, 4, 9, UINT64_C(0x0123456789abcdef), 1);
	check_v4(NULL, 4, 3, 4, UINT64_MAX, UINT16_MAX);

	/* a range starting below 3 */
	check_v4(below, 4, 0, 4, 0, 0);
	check_v4(below, 4, 2, 4, 0, 0);
	check_v4(below, 4, 0, 0, 0, 0);
	/* an empty range */
	check_v4(empty, 4, 5, 4, 0, 0);
	check_v4(empty, 4, 255, 3, 0, 0);
	check_v4(empty, 4, 4, 3, 1, 1);
	/* a range that does not hold the frame's version */
	check_v4(outside, 4, 3, 3, 0, 0);
	check_v4(outside, 4, 5, 9, 0, 0);
	check_v4(outside, 4, 5, 255, 0, 0);
	/* members without a count */
	check_v4(no_count, 4, 3, 4, 1, 0);
	check_v4(no_count, 4, 3, 4, UINT64_MAX, 0);

	/* the first fault found is the range's */
	check_v4(below, 4, 1, 0, 1, 0);

	/*
	 * The same body in the other version: a version-4 greeting relabelled 3
	 * has 20 bytes too many, a version-3 one relabelled 4 20 too few, and a
	 * version-4 greeting cut to the length of version 3 is refused.
	 */
	g.proto_min = 3;
	g.proto_max = 4;
	g.members = 42;
	g.member_count = 2;
	h.version = 4;
	n4 = mantis_frame_put_hello(buf, &h, &g);
	CHECK(mantis_frame_decode(buf, n4, &f) == NULL, "v4 hello refused");
	buf[4] = 3;
	CHECK(strcmp(mantis_frame_decode(buf, n4, &f), length) == 0,
		  "a version-4 greeting relabelled 3 accepted");
	buf[4] = 4;
	CHECK(strcmp(mantis_frame_decode(buf, n4 - MANTIS_GREETING_V4_SIZE, &f), length) == 0,
		  "a version-4 greeting without the fields of version 4 accepted");
	h.version = 3;
	n3 = mantis_frame_put_welcome(buf, &h, &g);
	CHECK(n3 + MANTIS_GREETING_V4_SIZE == n4, "version 4 adds %d bytes", MANTIS_GREETING_V4_SIZE);
	CHECK(mantis_frame_decode(buf, n3, &f) == NULL && f.greeting.members == 0 &&
		  f.greeting.proto_max == 0, "v3 welcome: the fields of version 4 are not written");
	buf[4] = 4;
	CHECK(strcmp(mantis_frame_decode(buf, n3, &f), length) == 0,
		  "a version-3 greeting relabelled 4 accepted");
}

/* ---- UPDATES ---- */

typedef struct TestRecord
{
	MantisRecord rec;
	char		key[64];
	char	   *value;
} TestRecord;

static void
random_record(TestRecord *t)
{
	uint32_t	key_len = 1 + (uint32_t) (rnd() % 40);
	uint32_t	value_len;

	switch (rnd() % 8)
	{
		case 0:
			value_len = 0;
			break;
		case 1:
			value_len = 1000 + (uint32_t) (rnd() % 70000);
			break;
		default:
			value_len = (uint32_t) (rnd() % 100);
	}
	for (uint32_t i = 0; i < key_len; i++)
		t->key[i] = (char) rnd();	/* any byte, NUL too */
	t->value = malloc(value_len + 1);
	if (t->value == NULL)
		exit(2);
	for (uint32_t i = 0; i < value_len; i++)
		t->value[i] = (char) rnd();
	t->rec.hlc.ts = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
	t->rec.hlc.node = rnd();
	t->rec.deleted = rnd() % 3 == 0;
	t->rec.expires_ms = rnd() % 3 == 0 ? 1 + rnd() % MANTIS_HLC_MAX_MS : 0;
	t->rec.key = t->key;
	t->rec.key_len = key_len;
	t->rec.value = t->rec.deleted ? NULL : t->value;
	t->rec.value_len = t->rec.deleted ? 0 : value_len;
}

static int
same_record(const MantisRecord *a, const MantisRecord *b)
{
	return a->hlc.ts == b->hlc.ts && a->hlc.node == b->hlc.node &&
		a->deleted == b->deleted && a->key_len == b->key_len &&
		(a->deleted ? 0 : a->expires_ms) == (b->deleted ? 0 : b->expires_ms) &&
		memcmp(a->key, b->key, a->key_len) == 0 &&
		a->value_len == b->value_len &&
		(a->value_len == 0 || memcmp(a->value, b->value, a->value_len) == 0);
}

/*
 * An UPDATES frame of these registers: encode, decode, walk, compare,
 * re-encode.  With end_batch, it is the last frame of a live batch:
 * mantis_frame_updates_end_batch() sets BATCH_END and the watermark.
 */
static void
check_updates_batch(const MantisFrameHeader *h, uint32_t round, uint16_t group,
					const TestRecord *recs, uint32_t count, int cut_every_prefix,
					int end_batch, uint64_t watermark)
{
	size_t		size = MANTIS_FRAME_UPDATES_HEAD_SIZE;
	unsigned char *p;
	unsigned char *q;
	unsigned char *again;
	const unsigned char *r;
	MantisFrameHeader h2;
	MantisFrame f;
	const char *err;
	uint16_t	flags = (uint16_t) (h->flags | (end_batch ? MANTIS_FRAME_BATCH_END : 0));

	for (uint32_t i = 0; i < count; i++)
		size += mantis_codec_register_size(&recs[i].rec);
	p = frame_alloc(size);
	CHECK(mantis_frame_put_updates_head(p, h, round, group) ==
		  MANTIS_FRAME_UPDATES_HEAD_SIZE, "updates: head size");
	/* the batch ends before or after the registers are put: no matter */
	if (end_batch && round % 2 == 0)
		mantis_frame_updates_end_batch(p, watermark);
	q = p + MANTIS_FRAME_UPDATES_HEAD_SIZE;
	for (uint32_t i = 0; i < count; i++)
		q = mantis_codec_put_register(q, &recs[i].rec);
	CHECK((size_t) (q - p) == size, "updates: %zu bytes of %zu", (size_t) (q - p), size);
	mantis_frame_updates_set_count(p, count);
	if (end_batch && round % 2 == 1)
		mantis_frame_updates_end_batch(p, watermark);
	CHECK(guard_intact(p, size), "updates: wrote past its size");
	CHECK(mantis_get_u16(p + 6) == flags, "updates: flags bytes");
	CHECK(mantis_get_u64(p + MANTIS_FRAME_UPDATES_HEAD_SIZE - 8) == (end_batch ? watermark : 0),
		  "updates: the watermark ends the head");

	err = mantis_frame_decode(p, size, &f);
	CHECK(err == NULL, "updates of %u: %s", count, err);
	h2 = *h;
	h2.flags = flags;
	check_header("updates", &f, MANTIS_FRAME_UPDATES, &h2);
	CHECK(f.round == round, "updates: round");
	CHECK(f.group == group, "updates: group");
	CHECK(f.count == count, "updates: count %u, not %u", f.count, count);
	CHECK(f.watermark == (end_batch ? watermark : 0), "updates: watermark");
	CHECK(f.registers == p + MANTIS_FRAME_UPDATES_HEAD_SIZE, "updates: registers");
	CHECK(f.end == p + size, "updates: end");
	r = f.registers;
	for (uint32_t i = 0; i < f.count && i < count; i++)
	{
		MantisRecord rec;

		err = mantis_codec_get_register(&r, f.end, &rec);
		CHECK(err == NULL, "updates: register %u: %s", i, err);
		if (err)
			break;
		CHECK(same_record(&rec, &recs[i].rec), "updates: register %u differs", i);
	}
	CHECK(r == f.end, "updates: registers do not end the frame");

	/* the decoded frame encodes to the same bytes */
	if (err == NULL)
	{
		again = frame_alloc(size);
		h2 = mantis_frame_header(&f);
		mantis_frame_put_updates_head(again, &h2, f.round, f.group);
		q = again + MANTIS_FRAME_UPDATES_HEAD_SIZE;
		r = f.registers;
		for (uint32_t i = 0; i < f.count; i++)
		{
			MantisRecord rec;

			if (mantis_codec_get_register(&r, f.end, &rec) != NULL)
				break;
			q = mantis_codec_put_register(q, &rec);
		}
		mantis_frame_updates_set_count(again, f.count);
		if (f.flags & MANTIS_FRAME_BATCH_END)
			mantis_frame_updates_end_batch(again, f.watermark);
		CHECK((size_t) (q - again) == size && memcmp(again, p, size) == 0,
			  "updates: re-encodes differently");
		free(again);
	}

	/* with the count off by one either way, it does not decode */
	if (count > 0)
	{
		mantis_frame_updates_set_count(p, count - 1);
		CHECK(mantis_frame_decode(p, size, &f) != NULL, "updates: count - 1 decodes");
	}
	mantis_frame_updates_set_count(p, count + 1);
	CHECK(mantis_frame_decode(p, size, &f) != NULL, "updates: count + 1 decodes");
	mantis_frame_updates_set_count(p, count);

	/* (each prefix is copied: quadratic, so not for frames of big values) */
	if (cut_every_prefix && size <= 65536)
		check_exact("updates", p, size);
	free(p);
}

/* an UPDATES frame that ends no batch */
static void
check_updates(const MantisFrameHeader *h, uint32_t round, uint16_t group,
			  const TestRecord *recs, uint32_t count, int cut_every_prefix)
{
	check_updates_batch(h, round, group, recs, count, cut_every_prefix, 0, 0);
}

static void
test_updates(void)
{
	static const char nul_value[] = "a value with \0 a NUL";
	TestRecord recs[40];
	MantisFrameHeader h = random_header();
	MantisFrame f;
	unsigned char head[MANTIS_FRAME_UPDATES_HEAD_SIZE];

	/* empty, live and repair */
	check_updates(&h, 0, MANTIS_LIVE_GROUP, recs, 0, 1);
	check_updates(&h, 7, 0, recs, 0, 1);
	check_updates(&h, UINT32_MAX, MANTIS_DIGEST_GROUPS - 1, recs, 0, 1);

	/*
	 * a value, a deletion, an empty value, a value with a NUL, extreme
	 * clocks, values with an expiry (the first and last expiry, an empty
	 * value)
	 */
	memset(recs, 0, sizeof(recs));
	for (int i = 0; i < 8; i++)
	{
		recs[i].rec.key = recs[i].key;
		snprintf(recs[i].key, sizeof(recs[i].key), "k%d", i);
		recs[i].rec.key_len = (uint32_t) strlen(recs[i].key);
		recs[i].rec.hlc.ts = mantis_hlc_pack(1764123093123, (uint64_t) i);
		recs[i].rec.hlc.node = UINT64_C(0x0123456789abcdef);
	}
	recs[0].rec.value = "v1";
	recs[0].rec.value_len = 2;
	recs[1].rec.deleted = true;
	recs[2].rec.value = "";
	recs[3].rec.value = nul_value;
	recs[3].rec.value_len = sizeof(nul_value) - 1;
	recs[3].rec.hlc.ts = 0;
	recs[3].rec.hlc.node = 0;
	recs[4].rec.deleted = true;
	recs[4].rec.hlc.ts = mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF);
	recs[4].rec.hlc.node = UINT64_MAX;
	recs[5].rec.value = "session";
	recs[5].rec.value_len = 7;
	recs[5].rec.expires_ms = 1764123093123 + 1800000;
	recs[6].rec.value = "";
	recs[6].rec.expires_ms = 1;
	recs[7].rec.value = "x";
	recs[7].rec.value_len = 1;
	recs[7].rec.expires_ms = MANTIS_HLC_MAX_MS;
	check_updates(&h, 0, MANTIS_LIVE_GROUP, recs, 8, 1);
	check_updates(&h, 42, 255, recs, 8, 1);

	/* the end of a live batch: a watermark, none, the last one of 9999 */
	check_updates_batch(&h, 0, MANTIS_LIVE_GROUP, recs, 5, 1, 1,
						mantis_hlc_pack(1764123093123, 4));
	check_updates_batch(&h, 1, MANTIS_LIVE_GROUP, recs, 5, 1, 1, 0);
	check_updates_batch(&h, UINT32_MAX, MANTIS_LIVE_GROUP, recs, 0, 1, 1,
						mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF));
	/* BATCH_END given in the header: a watermark of 0 unless one is set */
	h.flags = MANTIS_FRAME_BATCH_END;
	check_updates(&h, 2, MANTIS_LIVE_GROUP, recs, 5, 1);
	check_updates_batch(&h, 3, MANTIS_LIVE_GROUP, recs, 5, 1, 1, random_hlc());
	h.flags = 0;

	/* random batches, some with large values, some ending a live batch */
	for (int round = 0; round < 200; round++)
	{
		uint32_t	count = (uint32_t) (rnd() % 40);
		uint16_t	group = rnd() % 2 ? MANTIS_LIVE_GROUP :
			(uint16_t) (rnd() % MANTIS_DIGEST_GROUPS);
		int			end_batch = group == MANTIS_LIVE_GROUP && rnd() % 2;

		for (uint32_t i = 0; i < count; i++)
			random_record(&recs[i]);
		h = random_header();
		check_updates_batch(&h, (uint32_t) rnd(), group, recs, count, round < 10,
							end_batch, end_batch ? random_hlc() : 0);
		for (uint32_t i = 0; i < count; i++)
			free(recs[i].value);
	}

	/* groups past the repair groups, other than the live one, are refused */
	for (uint32_t group = MANTIS_DIGEST_GROUPS; group < MANTIS_LIVE_GROUP; group += 97)
	{
		mantis_frame_put_updates_head(head, &h, 1, (uint16_t) group);
		CHECK(strcmp(mantis_frame_decode(head, sizeof(head), &f), "invalid group") == 0,
			  "updates: group %u accepted", group);
	}
}

/* The entry of a value with an expiry: kind 3, and what it must hold. */
static void
test_expiring_entry(void)
{
	MantisRecord rec = {{mantis_hlc_pack(1764123093123, 1), 7}, false, 3, 2, "key", "va", 0};
	unsigned char buf[64];
	const unsigned char *p;
	MantisRecord back;
	const char *err;

	/* without an expiry: kind 1, 8 bytes shorter */
	CHECK(mantis_codec_register_size(&rec) == MANTIS_CODEC_REGISTER_OVERHEAD + 5, "kind 1 size");
	rec.expires_ms = 1764123093123 + 1000;
	CHECK(mantis_codec_register_size(&rec) == MANTIS_CODEC_EXPIRING_OVERHEAD + 5, "kind 3 size");
	CHECK(mantis_codec_put_register(buf, &rec) == buf + MANTIS_CODEC_EXPIRING_OVERHEAD + 5,
		  "kind 3 wrote other than its size");
	CHECK(buf[4] == MANTIS_CODEC_KIND_EXPIRING, "kind %d written", buf[4]);
	CHECK(mantis_get_u32(buf) == MANTIS_CODEC_EXPIRING_OVERHEAD - 4 + 5, "entry length");
	CHECK(mantis_get_u64(buf + 21) == rec.expires_ms, "expiry not after the HLC");
	CHECK(mantis_get_u32(buf + 29) == 3, "key length not after the expiry");
	p = buf;
	err = mantis_codec_get_register(&p, buf + MANTIS_CODEC_EXPIRING_OVERHEAD + 5, &back);
	CHECK(err == NULL && same_record(&back, &rec) && p == buf + MANTIS_CODEC_EXPIRING_OVERHEAD + 5,
		  "kind 3 round trip: %s", err ? err : "differs");

	/* an entry length that cannot hold the expiry */
	mantis_put_u32(buf, MANTIS_CODEC_EXPIRING_OVERHEAD - 4 - 1);
	p = buf;
	err = mantis_codec_get_register(&p, buf + sizeof(buf), &back);
	CHECK(err != NULL && strcmp(err, "register entry length too small") == 0,
		  "kind 3 without room for its expiry: %s", err ? err : "decoded");
	mantis_put_u32(buf, MANTIS_CODEC_EXPIRING_OVERHEAD - 4 + 5);

	/* a deletion never carries an expiry: kind 2, and none read back */
	rec.deleted = true;
	rec.value_len = 0;
	CHECK(mantis_codec_register_size(&rec) == MANTIS_CODEC_REGISTER_OVERHEAD + 3, "kind 2 size");
	mantis_codec_put_register(buf, &rec);
	CHECK(buf[4] == MANTIS_CODEC_KIND_DELETION, "a deletion with expires_ms written as kind %d", buf[4]);
	p = buf;
	err = mantis_codec_get_register(&p, buf + MANTIS_CODEC_REGISTER_OVERHEAD + 3, &back);
	CHECK(err == NULL && back.deleted && back.expires_ms == 0, "kind 2 read back with an expiry");
}

/* the head of an UPDATES frame, decoded with this watermark field and these flags */
static const char *
decode_updates_head(uint16_t group, uint16_t flags, uint64_t watermark)
{
	MantisFrameHeader h = random_header();
	unsigned char head[MANTIS_FRAME_UPDATES_HEAD_SIZE];
	MantisFrame f;

	h.flags = flags;
	mantis_frame_put_updates_head(head, &h, (uint32_t) rnd(), group);
	mantis_put_u64(head + MANTIS_FRAME_UPDATES_HEAD_SIZE - 8, watermark);
	return mantis_frame_decode(head, sizeof(head), &f);
}

/* a watermark only at the end of a live batch, and not past 9999 */
static void
test_updates_watermarks(void)
{
	static const char outside[] = "watermark outside the end of a live batch";
	static const uint16_t repair_groups[] = {0, 1, 42, MANTIS_DIGEST_GROUPS - 1};
	MantisFrameHeader h = random_header();
	unsigned char head[MANTIS_FRAME_UPDATES_HEAD_SIZE];
	unsigned char before[MANTIS_FRAME_UPDATES_HEAD_SIZE];
	MantisFrame f;
	const char *err;

	for (int i = 0; i < 64; i++)
	{
		uint64_t	w = random_hlc() | 1;	/* not 0 */

		/* a live frame that ends no batch */
		err = decode_updates_head(MANTIS_LIVE_GROUP, 0, w);
		CHECK(err && strcmp(err, outside) == 0,
			  "updates: watermark without BATCH_END: %s", err ? err : "accepted");
		err = decode_updates_head(MANTIS_LIVE_GROUP, MANTIS_FRAME_BATCH_END, w);
		CHECK(err == NULL, "updates: watermark with BATCH_END: %s", err);

		/* a repair frame, with the flag or without, with a watermark or none */
		for (size_t j = 0; j < sizeof(repair_groups) / sizeof(repair_groups[0]); j++)
		{
			uint16_t	group = repair_groups[j];

			err = decode_updates_head(group, 0, w);
			CHECK(err && strcmp(err, outside) == 0,
				  "updates: group %u with a watermark: %s", group, err ? err : "accepted");
			err = decode_updates_head(group, MANTIS_FRAME_BATCH_END, w);
			CHECK(err && strcmp(err, outside) == 0,
				  "updates: group %u ending a batch: %s", group, err ? err : "accepted");
			err = decode_updates_head(group, MANTIS_FRAME_BATCH_END, 0);
			CHECK(err && strcmp(err, outside) == 0,
				  "updates: group %u ending a batch of no watermark: %s", group,
				  err ? err : "accepted");
			err = decode_updates_head(group, 0, 0);
			CHECK(err == NULL, "updates: group %u: %s", group, err);
		}
	}

	/* mantis_frame_updates_end_batch() on a repair frame: refused */
	mantis_frame_put_updates_head(head, &h, 7, 42);
	mantis_frame_updates_end_batch(head, mantis_hlc_pack(1764123093123, 0));
	err = mantis_frame_decode(head, sizeof(head), &f);
	CHECK(err && strcmp(err, outside) == 0, "updates: a repair frame ends a batch: %s",
		  err ? err : "accepted");

	/* the watermark: up to the last HLC of 9999 */
	err = decode_updates_head(MANTIS_LIVE_GROUP, MANTIS_FRAME_BATCH_END,
							  mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF));
	CHECK(err == NULL, "updates: the last watermark of 9999: %s", err);
	err = decode_updates_head(MANTIS_LIVE_GROUP, MANTIS_FRAME_BATCH_END,
							  mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0));
	CHECK(err && strcmp(err, "watermark beyond year 9999") == 0,
		  "updates: watermark past 9999: %s", err ? err : "accepted");
	err = decode_updates_head(MANTIS_LIVE_GROUP, MANTIS_FRAME_BATCH_END, UINT64_MAX);
	CHECK(err && strcmp(err, "watermark beyond year 9999") == 0,
		  "updates: watermark of all ones: %s", err ? err : "accepted");

	/* ending the batch touches the flags and the watermark, nothing else */
	for (int i = 0; i < 16; i++)
	{
		uint64_t	w = random_hlc();
		int			same = 1;

		h = random_header();
		h.flags = (uint16_t) (rnd() % 2 ? MANTIS_FRAME_BATCH_END : 0);
		mantis_frame_put_updates_head(head, &h, (uint32_t) rnd(), MANTIS_LIVE_GROUP);
		mantis_frame_updates_set_count(head, (uint32_t) rnd());
		memcpy(before, head, sizeof(head));
		mantis_frame_updates_end_batch(head, w);
		for (size_t j = 0; j < MANTIS_FRAME_UPDATES_HEAD_SIZE - 8; j++)
			if (j != 6 && j != 7)
				same &= head[j] == before[j];
		CHECK(same, "updates: ending the batch changed more than flags and watermark");
		CHECK(mantis_get_u16(head + 6) == MANTIS_FRAME_BATCH_END, "updates: end_batch flags");
		CHECK(mantis_get_u64(head + MANTIS_FRAME_UPDATES_HEAD_SIZE - 8) == w,
			  "updates: end_batch watermark");
	}
}

/* ---- SUMMARY and INSYNC ---- */

static void
test_summary_insync(void)
{
	static const uint32_t rounds[] = {0, 1, 7, 0x80000000, UINT32_MAX};
	static const uint64_t roots[] = {0, 1, UINT64_C(0x0badc0ffee0ddf00), UINT64_MAX};

	for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++)
	{
		MantisFrameHeader h = random_header();
		unsigned char *p = frame_alloc(MANTIS_FRAME_SUMMARY_SIZE);
		MantisFrameHeader h2;
		MantisFrame f;
		const char *err;
		size_t		n;

		for (size_t j = 0; j < sizeof(roots) / sizeof(roots[0]); j++)
		{
			unsigned char again[MANTIS_FRAME_SUMMARY_SIZE];

			n = mantis_frame_put_summary(p, &h, rounds[i], roots[j]);
			CHECK(n == MANTIS_FRAME_SUMMARY_SIZE, "summary: wrote %zu", n);
			CHECK(guard_intact(p, MANTIS_FRAME_SUMMARY_SIZE), "summary: wrote past its size");
			err = mantis_frame_decode(p, n, &f);
			CHECK(err == NULL, "summary: %s", err);
			check_header("summary", &f, MANTIS_FRAME_SUMMARY, &h);
			CHECK(f.round == rounds[i], "summary: round");
			CHECK(f.root == roots[j], "summary: root");
			h2 = mantis_frame_header(&f);
			mantis_frame_put_summary(again, &h2, f.round, f.root);
			CHECK(memcmp(again, p, n) == 0, "summary: re-encodes differently");
			check_exact("summary", p, n);
		}
		free(p);

		for (int j = 0; j < 8; j++)
		{
			unsigned char again[MANTIS_FRAME_INSYNC_SIZE];
			MantisLiveMark mark = random_mark();

			p = frame_alloc(MANTIS_FRAME_INSYNC_SIZE);
			n = mantis_frame_put_insync(p, &h, rounds[i], &mark);
			CHECK(n == MANTIS_FRAME_INSYNC_SIZE, "insync: wrote %zu", n);
			CHECK(guard_intact(p, MANTIS_FRAME_INSYNC_SIZE), "insync: wrote past its size");
			err = mantis_frame_decode(p, n, &f);
			CHECK(err == NULL, "insync: %s", err);
			check_header("insync", &f, MANTIS_FRAME_INSYNC, &h);
			CHECK(f.round == rounds[i], "insync: round");
			CHECK(f.mark.seq == mark.seq, "insync: mark sequence");
			CHECK(f.mark.watermark == mark.watermark, "insync: mark watermark");
			h2 = mantis_frame_header(&f);
			mantis_frame_put_insync(again, &h2, f.round, &f.mark);
			CHECK(memcmp(again, p, n) == 0, "insync: re-encodes differently");
			if (j == 0)
				check_exact("insync", p, n);
			free(p);
		}
	}
}

/* the mark of INSYNC and GROUPS: a watermark up to the last HLC of 9999 */
static void
test_marks(void)
{
	const uint64_t past[] = {mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0), UINT64_MAX};
	uint64_t	groups[MANTIS_DIGEST_GROUPS] = {0};
	unsigned char buf[MANTIS_FRAME_GROUPS_SIZE];
	MantisFrameHeader h = random_header();
	MantisLiveMark mark;
	MantisFrame f;
	const char *err;
	size_t		n;

	mark.seq = (uint32_t) rnd();
	mark.watermark = mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF);
	n = mantis_frame_put_insync(buf, &h, 1, &mark);
	CHECK(mantis_frame_decode(buf, n, &f) == NULL, "insync: the last watermark refused");
	n = mantis_frame_put_groups(buf, &h, 1, &mark, groups);
	CHECK(mantis_frame_decode(buf, n, &f) == NULL, "groups: the last watermark refused");
	for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++)
	{
		mark.watermark = past[i];
		n = mantis_frame_put_insync(buf, &h, 1, &mark);
		err = mantis_frame_decode(buf, n, &f);
		CHECK(err && strcmp(err, "watermark beyond year 9999") == 0,
			  "insync: watermark %016llx: %s", (unsigned long long) past[i],
			  err ? err : "accepted");
		n = mantis_frame_put_groups(buf, &h, 1, &mark, groups);
		err = mantis_frame_decode(buf, n, &f);
		CHECK(err && strcmp(err, "watermark beyond year 9999") == 0,
			  "groups: watermark %016llx: %s", (unsigned long long) past[i],
			  err ? err : "accepted");
	}
}

/* ---- GROUPS and LEAVES ---- */

static void
random_digests(uint64_t *d, int n)
{
	for (int i = 0; i < n; i++)
		d[i] = rnd();
	d[0] = 0;
	d[n - 1] = UINT64_MAX;
}

static void
test_digests(void)
{
	uint64_t	groups[MANTIS_DIGEST_GROUPS];
	uint64_t	leaves[MANTIS_DIGEST_GROUP_LEAVES];
	uint64_t	copy[MANTIS_DIGEST_GROUP_LEAVES];
	static const uint16_t group_list[] = {0, 1, 128, MANTIS_DIGEST_GROUPS - 1};

	for (int k = 0; k < 8; k++)
	{
		MantisFrameHeader h = random_header();
		MantisFrameHeader h2;
		MantisLiveMark mark = random_mark();
		unsigned char *p = frame_alloc(MANTIS_FRAME_GROUPS_SIZE);
		unsigned char *again = frame_alloc(MANTIS_FRAME_GROUPS_SIZE);
		uint32_t	round = (uint32_t) rnd();
		MantisFrame f;
		const char *err;
		size_t		n;
		int			same = 1;

		random_digests(groups, MANTIS_DIGEST_GROUPS);
		n = mantis_frame_put_groups(p, &h, round, &mark, groups);
		CHECK(n == MANTIS_FRAME_GROUPS_SIZE, "groups: wrote %zu", n);
		CHECK(guard_intact(p, MANTIS_FRAME_GROUPS_SIZE), "groups: wrote past its size");
		err = mantis_frame_decode(p, n, &f);
		CHECK(err == NULL, "groups: %s", err);
		check_header("groups", &f, MANTIS_FRAME_GROUPS, &h);
		CHECK(f.round == round, "groups: round");
		CHECK(f.mark.seq == mark.seq, "groups: mark sequence");
		CHECK(f.mark.watermark == mark.watermark, "groups: mark watermark");
		CHECK(f.digests == p + MANTIS_FRAME_HEADER_SIZE + 4 + MANTIS_FRAME_MARK_SIZE,
			  "groups: the digests follow the mark");
		for (int i = 0; i < MANTIS_DIGEST_GROUPS; i++)
		{
			copy[i] = mantis_frame_digest(&f, i);
			same &= copy[i] == groups[i];
		}
		CHECK(same, "groups: digests differ");
		h2 = mantis_frame_header(&f);
		mantis_frame_put_groups(again, &h2, f.round, &f.mark, copy);
		CHECK(memcmp(again, p, n) == 0, "groups: re-encodes differently");
		check_exact("groups", p, n);
		free(p);
		free(again);

		p = frame_alloc(MANTIS_FRAME_LEAVES_SIZE);
		again = frame_alloc(MANTIS_FRAME_LEAVES_SIZE);
		random_digests(leaves, MANTIS_DIGEST_GROUP_LEAVES);
		/* an answer that held registers back, or not */
		h.flags = (uint16_t) (k % 2 ? MANTIS_FRAME_HELD_BACK : 0);
		n = mantis_frame_put_leaves(p, &h, round, group_list[k % 4], leaves);
		CHECK(n == MANTIS_FRAME_LEAVES_SIZE, "leaves: wrote %zu", n);
		CHECK(guard_intact(p, MANTIS_FRAME_LEAVES_SIZE), "leaves: wrote past its size");
		err = mantis_frame_decode(p, n, &f);
		CHECK(err == NULL, "leaves: %s", err);
		check_header("leaves", &f, MANTIS_FRAME_LEAVES, &h);
		CHECK(f.round == round, "leaves: round");
		CHECK(f.group == group_list[k % 4], "leaves: group");
		same = 1;
		for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
		{
			copy[i] = mantis_frame_digest(&f, i);
			same &= copy[i] == leaves[i];
		}
		CHECK(same, "leaves: digests differ");
		h2 = mantis_frame_header(&f);
		mantis_frame_put_leaves(again, &h2, f.round, f.group, copy);
		CHECK(memcmp(again, p, n) == 0, "leaves: re-encodes differently");
		check_exact("leaves", p, n);

		/* no group past the last, not even the live one */
		mantis_frame_put_leaves(p, &h, round, MANTIS_DIGEST_GROUPS, leaves);
		CHECK(strcmp(mantis_frame_decode(p, n, &f), "invalid group") == 0,
			  "leaves: group 256 accepted");
		mantis_frame_put_leaves(p, &h, round, MANTIS_LIVE_GROUP, leaves);
		CHECK(strcmp(mantis_frame_decode(p, n, &f), "invalid group") == 0,
			  "leaves: the live group accepted");
		free(p);
		free(again);
	}
}

/* ---- the wire format, byte for byte ---- */

static void
test_known_bytes(void)
{
	static const unsigned char insync[MANTIS_FRAME_INSYNC_SIZE] = {
		'M', 'N', 'T', 'Z', 3, MANTIS_FRAME_INSYNC, 0, 0,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x00, 0x00, 0x01, 0x9a, 0xbd, 0xec, 0xbc, 0xc0,
		0x01, 0x9a, 0xbd, 0xee, 0x28, 0x83, 0x00, 0x07,
		0x00, 0x00, 0x00, 0x2a,
		/* mark: live sequence 0x1234, watermark 1764123093000 ms, logical 2 */
		0x00, 0x00, 0x12, 0x34,
		0x01, 0x9a, 0xbd, 0xee, 0x28, 0x08, 0x00, 0x02
	};
	/* live, batch end, watermark 1764123093000 ms logical 2 */
	static const unsigned char updates_head[MANTIS_FRAME_UPDATES_HEAD_SIZE - MANTIS_FRAME_HEADER_SIZE] = {
		0x00, 0x00, 0x00, 0x07, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78,
		0x01, 0x9a, 0xbd, 0xee, 0x28, 0x08, 0x00, 0x02
	};
	/* horizons: acked 1764123093000 ms logical 2, stable 1764123000000 ms, collected 0 */
	static const unsigned char hello_body[] = {
		5, 'a', 'l', 'p', 'h', 'a', 0x00, 0x00, 0x04, 0x00,
		0x00, 0x10, 0x00, 0x00, 4, 'U', 'T', 'F', '8',
		0x01, 0x9a, 0xbd, 0xee, 0x28, 0x08, 0x00, 0x02,
		0x01, 0x9a, 0xbd, 0xec, 0xbc, 0xc0, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
	};
	/*
	 * what version 4 adds: the range 3-4, members 0x0123456789abcdef (3 of
	 * them), generation 0x1122334455667788, acked incarnation
	 * 0x99aabbccddeeff00
	 */
	static const unsigned char hello_v4_tail[MANTIS_GREETING_V4_SIZE] = {
		3, 4, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x03,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00
	};
	MantisFrameHeader h;
	MantisGreeting g = greeting("alpha", 1024, 1024 * 1024, "UTF8");
	MantisLiveMark mark;
	unsigned char buf[MANTIS_FRAME_GROUPS_SIZE];
	size_t		n;

	h.version = 3;
	h.sender = UINT64_C(0x0123456789abcdef);
	h.incarnation = UINT64_C(1764123000000);
	h.hlc = mantis_hlc_pack(UINT64_C(1764123093123), 7);
	h.flags = 0;
	mark.seq = 0x1234;
	mark.watermark = mantis_hlc_pack(UINT64_C(1764123093000), 2);

	n = mantis_frame_put_insync(buf, &h, 42, &mark);
	CHECK(n == sizeof(insync) && memcmp(buf, insync, n) == 0, "insync: wire bytes");

	mantis_frame_put_updates_head(buf, &h, 7, MANTIS_LIVE_GROUP);
	mantis_frame_updates_set_count(buf, 0x12345678);
	CHECK(memcmp(buf, insync, 5) == 0 && buf[5] == MANTIS_FRAME_UPDATES &&
		  memcmp(buf + 6, insync + 6, MANTIS_FRAME_HEADER_SIZE - 6) == 0,
		  "updates: header bytes");
	CHECK(memcmp(buf + MANTIS_FRAME_HEADER_SIZE, updates_head, 10) == 0 &&
		  mantis_get_u64(buf + MANTIS_FRAME_HEADER_SIZE + 10) == 0,
		  "updates: prefix bytes, no watermark");
	mantis_frame_updates_end_batch(buf, mark.watermark);
	CHECK(buf[6] == 0x00 && buf[7] == 0x01, "updates: BATCH_END is flag bit 0");
	CHECK(memcmp(buf + MANTIS_FRAME_HEADER_SIZE, updates_head, sizeof(updates_head)) == 0,
		  "updates: prefix bytes, with a watermark");

	g.acked = mark.watermark;
	g.stable = mantis_hlc_pack(UINT64_C(1764123000000), 0);
	n = mantis_frame_put_hello(buf, &h, &g);
	CHECK(n == MANTIS_FRAME_HEADER_SIZE + sizeof(hello_body) &&
		  buf[5] == MANTIS_FRAME_HELLO &&
		  memcmp(buf + MANTIS_FRAME_HEADER_SIZE, hello_body, sizeof(hello_body)) == 0,
		  "hello: wire bytes");
	mantis_frame_put_welcome(buf, &h, &g);
	CHECK(buf[5] == MANTIS_FRAME_WELCOME, "welcome: type byte");

	/* the same HELLO in version 4: version byte 4, and its fields after the horizons */
	h.version = 4;
	g.proto_min = 3;
	g.proto_max = 4;
	g.members = UINT64_C(0x0123456789abcdef);
	g.member_count = 3;
	g.generation = UINT64_C(0x1122334455667788);
	g.acked_incarnation = UINT64_C(0x99aabbccddeeff00);
	n = mantis_frame_put_hello(buf, &h, &g);
	CHECK(n == MANTIS_FRAME_HEADER_SIZE + sizeof(hello_body) + sizeof(hello_v4_tail) &&
		  buf[4] == 4 && memcmp(buf + 5, insync + 5, 1) != 0 &&
		  memcmp(buf + 6, insync + 6, MANTIS_FRAME_HEADER_SIZE - 6) == 0 &&
		  memcmp(buf + MANTIS_FRAME_HEADER_SIZE, hello_body, sizeof(hello_body)) == 0 &&
		  memcmp(buf + MANTIS_FRAME_HEADER_SIZE + sizeof(hello_body), hello_v4_tail,
				 sizeof(hello_v4_tail)) == 0,
		  "hello v4: wire bytes");
	/* any other frame of version 4 is the one of version 3 but for that byte */
	n = mantis_frame_put_insync(buf, &h, 42, &mark);
	CHECK(n == sizeof(insync) && buf[4] == 4 && memcmp(buf, insync, 4) == 0 &&
		  memcmp(buf + 5, insync + 5, n - 5) == 0, "insync v4: wire bytes");
	h.version = 3;

	n = mantis_frame_put_summary(buf, &h, 42, UINT64_C(0x0102030405060708));
	CHECK(buf[5] == MANTIS_FRAME_SUMMARY &&
		  memcmp(buf + MANTIS_FRAME_HEADER_SIZE, insync + MANTIS_FRAME_HEADER_SIZE, 4) == 0 &&
		  buf[36] == 1 && buf[43] == 8, "summary: wire bytes");

	{
		uint64_t	d[MANTIS_DIGEST_GROUPS];

		for (int i = 0; i < MANTIS_DIGEST_GROUPS; i++)
			d[i] = mantis_mix64((uint64_t) i + 1);
		mantis_frame_put_groups(buf, &h, 42, &mark, d);
		CHECK(buf[5] == MANTIS_FRAME_GROUPS &&
			  memcmp(buf + MANTIS_FRAME_HEADER_SIZE, insync + MANTIS_FRAME_HEADER_SIZE,
					 4 + MANTIS_FRAME_MARK_SIZE) == 0 &&
			  mantis_get_u64(buf + 48) == d[0] &&
			  mantis_get_u64(buf + MANTIS_FRAME_GROUPS_SIZE - 8) == d[255],
			  "groups: wire bytes");
		h.flags = MANTIS_FRAME_HELD_BACK;
		mantis_frame_put_leaves(buf, &h, 42, 0x00fe, d);
		CHECK(buf[5] == MANTIS_FRAME_LEAVES && buf[6] == 0x00 && buf[7] == 0x02 &&
			  buf[36] == 0x00 && buf[37] == 0xfe &&
			  mantis_get_u64(buf + 38) == d[0] &&
			  mantis_get_u64(buf + MANTIS_FRAME_LEAVES_SIZE - 8) == d[255],
			  "leaves: wire bytes, HELD_BACK is flag bit 1");
	}
}

/* ---- header faults ---- */

static void
test_header_faults(void)
{
	MantisFrameHeader h = random_header();
	MantisLiveMark mark = random_mark();
	unsigned char buf[MANTIS_FRAME_INSYNC_SIZE];
	MantisFrame f;

	h.hlc = mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF);
	mantis_frame_put_insync(buf, &h, 1, &mark);
	CHECK(mantis_frame_decode(buf, sizeof(buf), &f) == NULL, "the last clock refused");
	h.hlc = mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0);
	mantis_frame_put_insync(buf, &h, 1, &mark);
	CHECK(strcmp(mantis_frame_decode(buf, sizeof(buf), &f), "clock beyond year 9999") == 0,
		  "a clock past 9999 accepted");

	h = random_header();
	for (int type = 0; type < 256; type++)
	{
		const char *err;

		mantis_frame_put_insync(buf, &h, 1, &mark);
		buf[5] = (unsigned char) type;
		err = mantis_frame_decode(buf, sizeof(buf), &f);
		if (type < MANTIS_FRAME_HELLO || type > MANTIS_FRAME_TOMBS)
			CHECK(err && strcmp(err, "unknown frame type") == 0,
				  "type %d: %s", type, err ? err : "accepted");
		/* TOMBS (test_tombs.c): only of version 5, and no INSYNC body */
		if (type == MANTIS_FRAME_TOMBS)
			CHECK(err != NULL, "an INSYNC body as TOMBS accepted");
	}
}

/* ---- flags and versions, on a valid frame of each type ---- */

#define SAMPLES		9
#define SAMPLE_MAX	MANTIS_FRAME_GROUPS_SIZE

typedef struct Sample
{
	const char *what;
	unsigned char bytes[SAMPLE_MAX];
	size_t		len;
} Sample;

/* a valid frame of each type in this version, with the flags each may carry */
static void
make_samples(Sample *s, uint8_t version)
{
	MantisFrameHeader h = random_header();
	MantisGreeting g = greeting("alpha", 1024, 1024 * 1024, "UTF8");
	MantisLiveMark mark = random_mark();
	uint64_t	d[MANTIS_DIGEST_GROUPS];
	MantisRecord rec;
	unsigned char *q;
	int			i = 0;

	for (int j = 0; j < MANTIS_DIGEST_GROUPS; j++)
		d[j] = rnd();
	g.acked = random_hlc();
	g.stable = random_hlc();
	g.collected = random_hlc();
	h.version = version;
	if (version >= 4)
		random_v4_fields(&g, version);
	memset(&rec, 0, sizeof(rec));
	rec.key = "k";
	rec.key_len = 1;
	rec.value = "v";
	rec.value_len = 1;
	rec.hlc.ts = mantis_hlc_pack(1764123093123, 0);
	rec.hlc.node = h.sender;

	s[i].what = "hello";
	s[i].len = mantis_frame_put_hello(s[i].bytes, &h, &g);
	s[++i].what = "welcome";
	s[i].len = mantis_frame_put_welcome(s[i].bytes, &h, &g);
	s[++i].what = "updates";
	mantis_frame_put_updates_head(s[i].bytes, &h, 3, 17);
	q = mantis_codec_put_register(s[i].bytes + MANTIS_FRAME_UPDATES_HEAD_SIZE, &rec);
	mantis_frame_updates_set_count(s[i].bytes, 1);
	s[i].len = (size_t) (q - s[i].bytes);
	s[++i].what = "live updates ending a batch";
	mantis_frame_put_updates_head(s[i].bytes, &h, 3, MANTIS_LIVE_GROUP);
	q = mantis_codec_put_register(s[i].bytes + MANTIS_FRAME_UPDATES_HEAD_SIZE, &rec);
	mantis_frame_updates_set_count(s[i].bytes, 1);
	mantis_frame_updates_end_batch(s[i].bytes, rec.hlc.ts);
	s[i].len = (size_t) (q - s[i].bytes);
	s[++i].what = "summary";
	s[i].len = mantis_frame_put_summary(s[i].bytes, &h, 3, rnd());
	s[++i].what = "insync";
	s[i].len = mantis_frame_put_insync(s[i].bytes, &h, 3, &mark);
	s[++i].what = "groups";
	s[i].len = mantis_frame_put_groups(s[i].bytes, &h, 3, &mark, d);
	s[++i].what = "leaves";
	s[i].len = mantis_frame_put_leaves(s[i].bytes, &h, 3, 17, d);
	h.flags = MANTIS_FRAME_HELD_BACK;
	s[++i].what = "leaves holding back";
	s[i].len = mantis_frame_put_leaves(s[i].bytes, &h, 3, 17, d);
	if (++i != SAMPLES)
		abort();
}

/* the flags and versions of each sample of a version */
static void
check_flags_and_versions(uint8_t version)
{
	static const unsigned versions[] = {0, 1, 2, 6, 254, 255};
	Sample	   *s = malloc(SAMPLES * sizeof(Sample));
	MantisFrame f;
	const char *err;

	if (s == NULL)
		exit(2);
	make_samples(s, version);
	for (int i = 0; i < SAMPLES; i++)
	{
		int			greeting = s[i].bytes[5] == MANTIS_FRAME_HELLO ||
			s[i].bytes[5] == MANTIS_FRAME_WELCOME;

		uint16_t	flags = mantis_get_u16(s[i].bytes + 6);

		err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
		CHECK(err == NULL, "%s: %s", s[i].what, err);
		CHECK(f.flags == flags, "%s: flags", s[i].what);

		/* each flag bit but BATCH_END and HELD_BACK, alone or with others */
		for (int bit = 0; bit < 16; bit++)
		{
			uint16_t	b = (uint16_t) (1u << bit);

			if (b & MANTIS_FRAME_FLAGS_KNOWN)
				continue;
			mantis_put_u16(s[i].bytes + 6, (uint16_t) (flags | b));
			err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
			CHECK(err && strcmp(err, "unknown frame flags") == 0,
				  "%s: flag 0x%04x: %s", s[i].what, b, err ? err : "accepted");
			mantis_put_u16(s[i].bytes + 6, (uint16_t) (flags | b | MANTIS_FRAME_FLAGS_KNOWN));
			err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
			CHECK(err && strcmp(err, "unknown frame flags") == 0,
				  "%s: flag 0x%04x and the known ones: %s", s[i].what, b,
				  err ? err : "accepted");
		}
		mantis_put_u16(s[i].bytes + 6, 0xFFFF);
		err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
		CHECK(err && strcmp(err, "unknown frame flags") == 0,
			  "%s: flags 0xffff: %s", s[i].what, err ? err : "accepted");
		mantis_put_u16(s[i].bytes + 6, flags);

		/* each known flag only on the type it belongs to */
		if (s[i].bytes[5] != MANTIS_FRAME_UPDATES)
		{
			mantis_put_u16(s[i].bytes + 6, (uint16_t) (flags | MANTIS_FRAME_BATCH_END));
			err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
			CHECK(err && strcmp(err, "batch end flag on a frame other than UPDATES") == 0,
				  "%s: BATCH_END: %s", s[i].what, err ? err : "accepted");
		}
		if (s[i].bytes[5] != MANTIS_FRAME_LEAVES)
		{
			mantis_put_u16(s[i].bytes + 6, (uint16_t) (flags | MANTIS_FRAME_HELD_BACK));
			err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
			CHECK(err && strcmp(err, "held-back flag on a frame other than LEAVES") == 0,
				  "%s: HELD_BACK: %s", s[i].what, err ? err : "accepted");
		}
		mantis_put_u16(s[i].bytes + 6, flags);

		/* any version but 3 to 5 */
		for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
		{
			s[i].bytes[4] = (unsigned char) versions[v];
			err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
			CHECK(err && strcmp(err, "unsupported protocol version") == 0,
				  "%s: version %u: %s", s[i].what, versions[v], err ? err : "accepted");
		}

		/*
		 * the other of 3 and 4: the same frame but for a greeting, whose
		 * length is then wrong
		 */
		s[i].bytes[4] = (unsigned char) (version == 3 ? 4 : 3);
		err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
		if (greeting)
			CHECK(err && strcmp(err, "encoding length does not match the frame") == 0,
				  "%s of version %d as the other: %s", s[i].what, version, err ? err : "accepted");
		else
			CHECK(err == NULL && f.version == s[i].bytes[4],
				  "%s of version %d as the other: %s", s[i].what, version, err);
		s[i].bytes[4] = version;
		err = mantis_frame_decode(s[i].bytes, s[i].len, &f);
		CHECK(err == NULL && f.version == version, "%s: restored", s[i].what);
	}
	free(s);
}

static void
test_flags_and_versions(void)
{
	for (int v = MANTIS_FRAME_VERSION_MIN; v <= MANTIS_FRAME_VERSION_MAX; v++)
		check_flags_and_versions((uint8_t) v);
}

/*
 * Frames of version 2, laid out as it had them: no watermark in UPDATES,
 * no mark in INSYNC and GROUPS, no horizons in a greeting, no flags.  They
 * are refused for their version; and their bodies behind a version-3
 * header are refused too.
 */
static void
test_version_2(void)
{
	Sample	   *s = malloc(SAMPLES * sizeof(Sample));
	MantisFrame f;
	const char *err;

	if (s == NULL)
		exit(2);
	make_samples(s, 3);
	for (int i = 0; i < SAMPLES; i++)
	{
		unsigned char *b = s[i].bytes;
		int			same_layout = 0;

		switch (b[5])
		{
			case MANTIS_FRAME_HELLO:
			case MANTIS_FRAME_WELCOME:
				s[i].len -= 24;
				break;
			case MANTIS_FRAME_UPDATES:
				memmove(b + MANTIS_FRAME_UPDATES_HEAD_SIZE - 8, b + MANTIS_FRAME_UPDATES_HEAD_SIZE,
						s[i].len - MANTIS_FRAME_UPDATES_HEAD_SIZE);
				s[i].len -= 8;
				break;
			case MANTIS_FRAME_INSYNC:
			case MANTIS_FRAME_GROUPS:
				memmove(b + MANTIS_FRAME_HEADER_SIZE + 4,
						b + MANTIS_FRAME_HEADER_SIZE + 4 + MANTIS_FRAME_MARK_SIZE,
						s[i].len - (MANTIS_FRAME_HEADER_SIZE + 4 + MANTIS_FRAME_MARK_SIZE));
				s[i].len -= MANTIS_FRAME_MARK_SIZE;
				break;
			default:
				same_layout = 1;	/* SUMMARY, LEAVES */
		}
		mantis_put_u16(b + 6, 0);
		b[4] = 2;
		err = mantis_frame_decode(b, s[i].len, &f);
		CHECK(err && strcmp(err, "unsupported protocol version") == 0,
			  "version 2 %s: %s", s[i].what, err ? err : "accepted");
		b[4] = 3;
		err = mantis_frame_decode(b, s[i].len, &f);
		if (same_layout)
			CHECK(err == NULL, "version 2 %s as version 3: %s", s[i].what, err);
		else
			CHECK(err != NULL, "version 2 body of %s behind a version-3 header accepted",
				  s[i].what);
	}
	free(s);
}

int
main(void)
{
	rng_state = UINT64_C(0x9e3779b97f4a7c15);
	test_greetings();
	test_greeting_v4_faults();
	test_updates();
	test_expiring_entry();
	test_updates_watermarks();
	test_summary_insync();
	test_marks();
	test_digests();
	test_known_bytes();
	test_header_faults();
	test_flags_and_versions();
	test_version_2();

	return unit_report("test_frame");
}
