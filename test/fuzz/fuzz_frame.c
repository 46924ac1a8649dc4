/*-------------------------------------------------------------------------
 * fuzz_frame.c
 *	  libFuzzer harness for mantis_frame_decode(), the reader of replication
 *	  frames straight off the network.
 *
 * When a frame decodes, it is consumed the way the replication worker does:
 * the registers of an UPDATES frame are walked "blindly" with
 * mantis_codec_get_register() (all must decode and end exactly at frame.end),
 * the 256 digests of GROUPS and LEAVES are read with mantis_frame_digest(),
 * the name and encoding of HELLO and WELCOME are read; every byte handed out
 * is touched so ASan sees any span outside the input.  Then the frame is
 * re-encoded from its decoded fields with the encoder of its type in
 * common/frame.c (UPDATES: its head, each register, its count, and the end of
 * its batch when it has BATCH_END), into memory of the size common/frame.h
 * gives, which must give back the input byte for byte: the flags of the header
 * with it, the watermark of UPDATES, the mark of INSYNC and GROUPS and the
 * horizons of a greeting (and in version 4 its protocol range, member set,
 * generation and acked incarnation).  Every HLC a frame carries is at most
 * the last of 9999, a version-4 greeting's range holds its version, and the
 * input minus its last byte must be rejected.  A TOMBS frame (version 5
 * only) has its records and bounds read with mantis_frame_tomb() and
 * mantis_frame_tomb_bound(): each lies in the frame's group, no HLC or bound
 * is 0, and it re-encodes the same with common/tombs.c's encoder.
 *
 * IDENTIFICATION	test/fuzz/fuzz_frame.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/frame.h"
#include "common/tombs.h"
#include "fuzz_util.h"

#define BODY(data) ((data) + MANTIS_FRAME_HEADER_SIZE)

/* what follows the encoding of a greeting: acked, stable, collected */
#define HORIZONS_SIZE	(8 + 8 + 8)

/* what follows the horizons: in version 4, the range, members, generation, acked incarnation */
#define TAIL_SIZE(f)	((f)->version >= 4 ? MANTIS_GREETING_V4_SIZE : 0)

/* the re-encoding of a frame, of "size" bytes, must be the input */
static void
check_same(const uint8_t *data, size_t size, const unsigned char *copy,
		   size_t written)
{
	FUZZ_CHECK(written == size);
	FUZZ_CHECK(memcmp(copy, data, size) == 0);
}

static unsigned char *
copy_alloc(size_t size)
{
	unsigned char *copy = malloc(size);

	FUZZ_CHECK(copy != NULL);
	return copy;
}

/* a greeting: both strings inside the input and valid; re-encodes the same */
static void
check_greeting(const uint8_t *data, size_t size, const MantisFrame *f)
{
	const MantisGreeting *g = &f->greeting;
	MantisFrameHeader h = mantis_frame_header(f);
	size_t		frame_size = mantis_frame_greeting_frame_size(f->version, g);
	const uint8_t *tail = data + size - TAIL_SIZE(f);
	unsigned char *copy;

	FUZZ_CHECK(g->name == (const char *) BODY(data) + 1);
	FUZZ_CHECK(fuzz_inside(data, size, g->name, g->name_len));
	FUZZ_CHECK(fuzz_inside(data, size, g->encoding, g->encoding_len));
	fuzz_touch(g->name, g->name_len);
	fuzz_touch(g->encoding, g->encoding_len);
	FUZZ_CHECK(mantis_codec_name_is_valid(g->name, g->name_len));
	FUZZ_CHECK(g->encoding_len >= 1 && g->encoding_len <= MANTIS_FRAME_ENCODING_MAX);
	FUZZ_CHECK(g->encoding + g->encoding_len == (const char *) tail - HORIZONS_SIZE);
	FUZZ_CHECK(g->acked == mantis_get_u64(tail - 24));
	FUZZ_CHECK(g->stable == mantis_get_u64(tail - 16));
	FUZZ_CHECK(g->collected == mantis_get_u64(tail - 8));
	if (f->version >= 4)
	{
		FUZZ_CHECK(g->proto_min == tail[0] && g->proto_max == tail[1]);
		FUZZ_CHECK(g->members == mantis_get_u64(tail + 2));
		FUZZ_CHECK(g->member_count == mantis_get_u16(tail + 10));
		FUZZ_CHECK(g->generation == mantis_get_u64(tail + 12));
		FUZZ_CHECK(g->acked_incarnation == mantis_get_u64(tail + 20));
		FUZZ_CHECK(MANTIS_FRAME_VERSION_MIN <= g->proto_min && g->proto_min <= f->version &&
				   f->version <= g->proto_max);
		FUZZ_CHECK(g->members == 0 || g->member_count > 0);
	}
	else
		FUZZ_CHECK(g->proto_min == 0 && g->proto_max == 0 && g->members == 0 &&
				   g->member_count == 0 && g->generation == 0 &&
				   g->acked_incarnation == 0);
	FUZZ_CHECK(mantis_hlc_ms(g->acked) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(mantis_hlc_ms(g->stable) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(mantis_hlc_ms(g->collected) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(frame_size == size);
	copy = copy_alloc(frame_size);
	check_same(data, size, copy, f->type == MANTIS_FRAME_HELLO ?
			   mantis_frame_put_hello(copy, &h, g) :
			   mantis_frame_put_welcome(copy, &h, g));
	free(copy);
}

static void
check_record(const uint8_t *data, size_t size, const MantisRecord *rec)
{
	FUZZ_CHECK(rec->key_len > 0);
	FUZZ_CHECK(!rec->deleted || rec->value_len == 0);
	FUZZ_CHECK(mantis_hlc_ms(rec->hlc.ts) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(rec->expires_ms <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(!rec->deleted || rec->expires_ms == 0);
	FUZZ_CHECK(fuzz_inside(data, size, rec->key, rec->key_len));
	FUZZ_CHECK(fuzz_inside(data, size, rec->value, rec->value_len));
	fuzz_touch(rec->key, rec->key_len);
	fuzz_touch(rec->value, rec->value_len);
}

/*
 * Walk the registers of a decoded UPDATES frame as its consumer does,
 * re-encoding the frame on the way: the copy must equal the input.
 */
static void
check_updates(const uint8_t *data, size_t size, const MantisFrame *f)
{
	const unsigned char *p = f->registers;
	MantisFrameHeader h = mantis_frame_header(f);
	unsigned char *copy = copy_alloc(size);
	unsigned char *out = copy;

	FUZZ_CHECK(size >= MANTIS_FRAME_UPDATES_HEAD_SIZE);
	out += mantis_frame_put_updates_head(copy, &h, f->round, f->group);
	FUZZ_CHECK(out == copy + MANTIS_FRAME_UPDATES_HEAD_SIZE);
	FUZZ_CHECK(f->group < MANTIS_DIGEST_GROUPS || f->group == MANTIS_LIVE_GROUP);
	FUZZ_CHECK(f->registers == BODY(data) + MANTIS_UPDATES_PREFIX_SIZE);
	FUZZ_CHECK(f->end == data + size);
	/* a watermark only at the end of a live batch, where it may be 0 too */
	FUZZ_CHECK(f->watermark == mantis_get_u64(BODY(data) + 10));
	FUZZ_CHECK(mantis_hlc_ms(f->watermark) <= MANTIS_HLC_MAX_MS);
	if (f->flags & MANTIS_FRAME_BATCH_END)
		FUZZ_CHECK(f->group == MANTIS_LIVE_GROUP);
	else
		FUZZ_CHECK(f->watermark == 0);

	for (uint32_t i = 0; i < f->count; i++)
	{
		MantisRecord rec;
		const unsigned char *before = p;

		FUZZ_CHECK(mantis_codec_get_register(&p, f->end, &rec) == NULL);
		FUZZ_CHECK(p > before && p <= f->end);
		check_record(data, size, &rec);
		FUZZ_CHECK(mantis_codec_register_size(&rec) == (size_t) (p - before));
		FUZZ_CHECK((size_t) (p - before) <= size - (size_t) (out - copy));
		out = mantis_codec_put_register(out, &rec);
	}
	FUZZ_CHECK(p == f->end);
	mantis_frame_updates_set_count(copy, f->count);
	if (f->flags & MANTIS_FRAME_BATCH_END)
		mantis_frame_updates_end_batch(copy, f->watermark);
	check_same(data, size, copy, (size_t) (out - copy));
	free(copy);
}

/*
 * Read the 256 digests of a GROUPS or LEAVES frame, and re-encode it from
 * them.
 */
static void
check_digests(const uint8_t *data, size_t size, const MantisFrame *f,
			  size_t offset)
{
	MantisFrameHeader h = mantis_frame_header(f);
	uint64_t	d[256];
	uint64_t	sum = 0;
	unsigned char *copy;

	FUZZ_CHECK(f->digests == BODY(data) + offset);
	FUZZ_CHECK(fuzz_inside(data, size, f->digests, 8 * 256));
	FUZZ_CHECK(f->digests + 8 * 256 == data + size);
	for (int i = 0; i < 256; i++)
	{
		d[i] = mantis_frame_digest(f, i);
		FUZZ_CHECK(d[i] == mantis_get_u64(f->digests + 8 * i));
		sum += d[i];
	}
	fuzz_sink += (unsigned) sum;

	copy = copy_alloc(size);
	if (f->type == MANTIS_FRAME_GROUPS)
	{
		FUZZ_CHECK(size == MANTIS_FRAME_GROUPS_SIZE);
		check_same(data, size, copy,
				   mantis_frame_put_groups(copy, &h, f->round, &f->mark, d));
	}
	else
	{
		FUZZ_CHECK(size == MANTIS_FRAME_LEAVES_SIZE);
		check_same(data, size, copy,
				   mantis_frame_put_leaves(copy, &h, f->round, f->group, d));
	}
	free(copy);
}

/* TOMBS: every record and bound read, checked, and re-encoded */
static void
check_tombs(const uint8_t *data, size_t size, const MantisFrame *f)
{
	MantisFrameHeader h = mantis_frame_header(f);
	unsigned char *copy = copy_alloc(size);
	unsigned char *out = copy + mantis_frame_put_tombs_head(copy, &h, f->round, f->group);

	FUZZ_CHECK(f->version >= MANTIS_FRAME_VERSION_TOMBS);
	FUZZ_CHECK(f->group < MANTIS_DIGEST_GROUPS && f->nbounds <= MANTIS_DIGEST_GROUP_LEAVES);
	FUZZ_CHECK(f->tombs == BODY(data) + MANTIS_FRAME_TOMBS_HEAD_SIZE - MANTIS_FRAME_HEADER_SIZE);
	FUZZ_CHECK(size == MANTIS_FRAME_TOMBS_HEAD_SIZE + (size_t) f->count * MANTIS_TOMB_RECORD_SIZE +
			   (size_t) f->nbounds * MANTIS_TOMB_BOUND_SIZE);
	for (uint32_t i = 0; i < f->count; i++)
	{
		MantisRecordView r;

		mantis_frame_tomb(f, i, &r);
		FUZZ_CHECK(mantis_tomb_leaf(r.hash) / MANTIS_DIGEST_GROUP_LEAVES == f->group);
		FUZZ_CHECK(r.ts != 0 && mantis_hlc_ms(r.ts) <= MANTIS_HLC_MAX_MS);
		FUZZ_CHECK(r.death_ms <= MANTIS_HLC_MAX_MS);
		fuzz_sink += (unsigned) (r.node ^ r.fingerprint);
		out = mantis_tomb_put_record(out, &r);
	}
	for (uint16_t i = 0; i < f->nbounds; i++)
	{
		MantisTombBound b;

		mantis_frame_tomb_bound(f, i, &b);
		FUZZ_CHECK(b.leaf / MANTIS_DIGEST_GROUP_LEAVES == f->group);
		FUZZ_CHECK(b.bound.bound_ts != 0 && mantis_hlc_ms(b.bound.bound_ts) <= MANTIS_HLC_MAX_MS);
		FUZZ_CHECK(b.bound.death_ms <= MANTIS_HLC_MAX_MS);
		out = mantis_tomb_put_bound(out, &b);
	}
	mantis_frame_tombs_set_counts(copy, f->count, f->nbounds);
	check_same(data, size, copy, (size_t) (out - copy));
	free(copy);
}

/* the mark of INSYNC and GROUPS, after the round */
static void
check_mark(const uint8_t *data, const MantisFrame *f)
{
	FUZZ_CHECK(f->mark.seq == mantis_get_u32(BODY(data) + 4));
	FUZZ_CHECK(f->mark.watermark == mantis_get_u64(BODY(data) + 8));
	FUZZ_CHECK(mantis_hlc_ms(f->mark.watermark) <= MANTIS_HLC_MAX_MS);
}

/* what each type promises about the fields it sets */
static void
check_body(const uint8_t *data, size_t size, const MantisFrame *f)
{
	MantisFrameHeader h = mantis_frame_header(f);
	unsigned char copy[MANTIS_FRAME_INSYNC_SIZE > MANTIS_FRAME_SUMMARY_SIZE ?
					   MANTIS_FRAME_INSYNC_SIZE : MANTIS_FRAME_SUMMARY_SIZE];
	size_t		rest = size - MANTIS_FRAME_HEADER_SIZE;

	switch (f->type)
	{
		case MANTIS_FRAME_HELLO:
		case MANTIS_FRAME_WELCOME:
			check_greeting(data, size, f);
			break;
		case MANTIS_FRAME_UPDATES:
			FUZZ_CHECK(rest >= MANTIS_UPDATES_PREFIX_SIZE);
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			check_updates(data, size, f);
			break;
		case MANTIS_FRAME_SUMMARY:
			FUZZ_CHECK(rest == MANTIS_FRAME_SUMMARY_SIZE - MANTIS_FRAME_HEADER_SIZE);
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			FUZZ_CHECK(f->root == mantis_get_u64(BODY(data) + 4));
			check_same(data, size, copy,
					   mantis_frame_put_summary(copy, &h, f->round, f->root));
			break;
		case MANTIS_FRAME_INSYNC:
			FUZZ_CHECK(rest == MANTIS_FRAME_INSYNC_SIZE - MANTIS_FRAME_HEADER_SIZE);
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			check_mark(data, f);
			check_same(data, size, copy,
					   mantis_frame_put_insync(copy, &h, f->round, &f->mark));
			break;
		case MANTIS_FRAME_GROUPS:
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			check_mark(data, f);
			check_digests(data, size, f, 4 + MANTIS_FRAME_MARK_SIZE);
			break;
		case MANTIS_FRAME_LEAVES:
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			FUZZ_CHECK(f->group < MANTIS_DIGEST_GROUPS);
			check_digests(data, size, f, 6);
			break;
		case MANTIS_FRAME_TOMBS:
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			check_tombs(data, size, f);
			break;
		default:
			FUZZ_CHECK(!"a frame of unknown type decoded");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MantisFrame f;
	MantisFrame again;
	const char *err;

	err = mantis_frame_decode(data, size, &f);
	if (err != NULL)
	{
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(size >= MANTIS_FRAME_HEADER_SIZE);
	FUZZ_CHECK(data[4] == f.version);
	FUZZ_CHECK(f.version >= MANTIS_FRAME_VERSION_MIN && f.version <= MANTIS_FRAME_VERSION_MAX);
	FUZZ_CHECK(f.flags == mantis_get_u16(data + 6));
	FUZZ_CHECK((f.flags & ~MANTIS_FRAME_FLAGS_KNOWN) == 0);
	FUZZ_CHECK(mantis_hlc_ms(f.hlc) <= MANTIS_HLC_MAX_MS);
	check_body(data, size, &f);	/* and the header, with each re-encoding */

	/* every length is exact: no proper prefix is a frame */
	FUZZ_CHECK(mantis_frame_decode(data, size - 1, &again) != NULL);
	return 0;
}
