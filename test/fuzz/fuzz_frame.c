/*-------------------------------------------------------------------------
 * fuzz_frame.c
 *	  libFuzzer harness for mantis_frame_decode(), the reader of replication
 *	  frames straight off the network.
 *
 * When a frame decodes, it is consumed the way the replication worker does:
 * the registers of an UPDATES frame are walked "blindly" with
 * mantis_codec_get_register() (all must decode and end exactly at frame.end),
 * the 256 digests of GROUPS and LEAVES are read, the name and encoding of
 * HELLO and WELCOME are read; every byte handed out is touched so ASan sees
 * any span outside the input.  Then the frame is re-encoded: the header
 * with mantis_frame_put_header() must give the same first 32 bytes, the
 * registers and the greeting the same bytes as the input, and the input
 * minus its last byte must be rejected.
 *
 * IDENTIFICATION	test/fuzz/fuzz_frame.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "frame.h"
#include "fuzz_util.h"

#define BODY(data) ((data) + MANTIS_FRAME_HEADER_SIZE)

/* a greeting: both strings inside the input and valid; re-encodes the same */
static void
check_greeting(const uint8_t *data, size_t size, const MantisFrame *f)
{
	const MantisGreeting *g = &f->greeting;
	size_t		body = size - MANTIS_FRAME_HEADER_SIZE;
	unsigned char *copy = malloc(body + 1);

	FUZZ_CHECK(copy != NULL);
	FUZZ_CHECK(g->name == (const char *) BODY(data) + 1);
	FUZZ_CHECK(fuzz_inside(data, size, g->name, g->name_len));
	FUZZ_CHECK(fuzz_inside(data, size, g->encoding, g->encoding_len));
	fuzz_touch(g->name, g->name_len);
	fuzz_touch(g->encoding, g->encoding_len);
	FUZZ_CHECK(mantis_codec_name_is_valid(g->name, g->name_len));
	FUZZ_CHECK(g->encoding_len >= 1 && g->encoding_len <= MANTIS_FRAME_ENCODING_MAX);
	FUZZ_CHECK(g->encoding + g->encoding_len == (const char *) data + size);
	FUZZ_CHECK(mantis_frame_greeting_size(g) == body);
	FUZZ_CHECK(mantis_frame_put_greeting(copy, g) == copy + body);
	FUZZ_CHECK(memcmp(copy, BODY(data), body) == 0);
	free(copy);
}

static void
check_record(const uint8_t *data, size_t size, const MantisRecord *rec)
{
	FUZZ_CHECK(rec->key_len > 0);
	FUZZ_CHECK(!rec->deleted || rec->value_len == 0);
	FUZZ_CHECK(mantis_hlc_ms(rec->hlc.ts) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(fuzz_inside(data, size, rec->key, rec->key_len));
	FUZZ_CHECK(fuzz_inside(data, size, rec->value, rec->value_len));
	fuzz_touch(rec->key, rec->key_len);
	fuzz_touch(rec->value, rec->value_len);
}

/*
 * Walk the registers of a decoded UPDATES frame as its consumer does,
 * re-encoding each one: the copy must equal the input.
 */
static void
check_updates(const uint8_t *data, size_t size, const MantisFrame *f)
{
	const unsigned char *p = f->registers;
	size_t		body = size - MANTIS_FRAME_HEADER_SIZE - MANTIS_UPDATES_PREFIX_SIZE;
	unsigned char *copy = malloc(body + 1);
	unsigned char *out = copy;

	FUZZ_CHECK(copy != NULL);
	FUZZ_CHECK(f->group < MANTIS_DIGEST_GROUPS || f->group == MANTIS_LIVE_GROUP);
	FUZZ_CHECK(f->registers == BODY(data) + MANTIS_UPDATES_PREFIX_SIZE);
	FUZZ_CHECK(f->end == data + size);

	for (uint32_t i = 0; i < f->count; i++)
	{
		MantisRecord rec;
		const unsigned char *before = p;

		FUZZ_CHECK(mantis_codec_get_register(&p, f->end, &rec) == NULL);
		FUZZ_CHECK(p > before && p <= f->end);
		check_record(data, size, &rec);
		FUZZ_CHECK(mantis_codec_register_size(&rec) == (size_t) (p - before));
		out = mantis_codec_put_register(out, &rec);
	}
	FUZZ_CHECK(p == f->end);
	FUZZ_CHECK((size_t) (out - copy) == body);
	FUZZ_CHECK(memcmp(copy, f->registers, body) == 0);
	free(copy);
}

/* read the 256 big-endian digests of a GROUPS or LEAVES frame */
static void
check_digests(const uint8_t *data, size_t size, const MantisFrame *f,
			  size_t offset)
{
	uint64_t	sum = 0;

	FUZZ_CHECK(f->digests == BODY(data) + offset);
	FUZZ_CHECK(fuzz_inside(data, size, f->digests, 8 * 256));
	FUZZ_CHECK(f->digests + 8 * 256 == data + size);
	for (int i = 0; i < 256; i++)
		sum += mantis_get_u64(f->digests + 8 * i);
	fuzz_sink += (unsigned) sum;
}

/* what each type promises about the fields it sets */
static void
check_body(const uint8_t *data, size_t size, const MantisFrame *f)
{
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
			FUZZ_CHECK(rest == 12);
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			FUZZ_CHECK(f->root == mantis_get_u64(BODY(data) + 4));
			break;
		case MANTIS_FRAME_INSYNC:
			FUZZ_CHECK(rest == 4);
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			break;
		case MANTIS_FRAME_GROUPS:
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			check_digests(data, size, f, 4);
			break;
		case MANTIS_FRAME_LEAVES:
			FUZZ_CHECK(f->round == mantis_get_u32(BODY(data)));
			FUZZ_CHECK(f->group < MANTIS_DIGEST_GROUPS);
			check_digests(data, size, f, 6);
			break;
		default:
			FUZZ_CHECK(!"a frame of unknown type decoded");
	}
}

/* the header re-encoded from the decoded fields is the one received */
static void
check_header(const uint8_t *data, const MantisFrame *f)
{
	unsigned char header[MANTIS_FRAME_HEADER_SIZE];

	FUZZ_CHECK(mantis_hlc_ms(f->hlc) <= MANTIS_HLC_MAX_MS);
	mantis_frame_put_header(header, f->type, f->sender, f->incarnation, f->hlc);
	FUZZ_CHECK(memcmp(header, data, MANTIS_FRAME_HEADER_SIZE) == 0);
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
	check_header(data, &f);
	check_body(data, size, &f);

	/* every length is exact: no proper prefix is a frame */
	FUZZ_CHECK(mantis_frame_decode(data, size - 1, &again) != NULL);
	return 0;
}
