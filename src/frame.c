/*-------------------------------------------------------------------------
 * frame.c
 *	  Replication frames: one encoder beside one decoder for each frame
 *	  type (see frame.h for the layouts).
 *
 * Pure C: no server headers, no allocation.  Every decoder here reads bytes
 * from the network or from a table row that anyone with the right
 * privileges could have written, so it trusts nothing: each length is
 * compared with the bytes remaining (never added to a pointer first),
 * counts are bounded by what the remaining bytes could hold, and any
 * violation returns a static message naming it.
 *
 * IDENTIFICATION	src/frame.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "frame.h"

void
mantis_frame_put_header(unsigned char *p, int type, uint64_t sender,
						uint64_t incarnation, uint64_t hlc)
{
	memcpy(p, MANTIS_FRAME_MAGIC, 4);
	p[4] = MANTIS_FRAME_VERSION;
	p[5] = (unsigned char) type;
	mantis_put_u16(p + 6, 0);
	mantis_put_u64(p + 8, sender);
	mantis_put_u64(p + 16, incarnation);
	mantis_put_u64(p + 24, hlc);
}

/* An encoding name: what PostgreSQL calls its encodings ("UTF8", "EUC_JP") */
static bool
encoding_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > MANTIS_FRAME_ENCODING_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

size_t
mantis_frame_greeting_size(const MantisGreeting *g)
{
	return 1 + g->name_len + 4 + 4 + 1 + g->encoding_len;
}

/*
 * Write the body of a HELLO or WELCOME after its header; the caller gives
 * a valid name and encoding (at most 63 and 31 bytes).
 */
unsigned char *
mantis_frame_put_greeting(unsigned char *p, const MantisGreeting *g)
{
	p[0] = (unsigned char) g->name_len;
	memcpy(p + 1, g->name, g->name_len);
	p += 1 + g->name_len;
	mantis_put_u32(p, g->max_key_size);
	mantis_put_u32(p + 4, g->max_value_size);
	p[8] = (unsigned char) g->encoding_len;
	memcpy(p + 9, g->encoding, g->encoding_len);
	return p + 9 + g->encoding_len;
}

static const char *
decode_greeting(const unsigned char *p, const unsigned char *end, MantisFrame *f)
{
	MantisGreeting *g = &f->greeting;
	size_t		len;

	if (end - p < 1)
		return "name truncated";
	len = p[0];
	if (len > (size_t) (end - p) - 1)
		return "name past the end of the frame";
	if (!mantis_codec_name_is_valid((const char *) p + 1, len))
		return "invalid node name";
	g->name = (const char *) p + 1;
	g->name_len = len;
	p += 1 + len;

	if ((size_t) (end - p) < 4 + 4 + 1)
		return "greeting limits truncated";
	g->max_key_size = mantis_get_u32(p);
	g->max_value_size = mantis_get_u32(p + 4);
	len = p[8];
	p += 9;
	if ((size_t) (end - p) != len)
		return "encoding length does not match the frame";
	if (!encoding_is_valid((const char *) p, len))
		return "invalid encoding name";
	g->encoding = (const char *) p;
	g->encoding_len = len;
	return NULL;
}

static const char *
decode_updates(const unsigned char *p, const unsigned char *end, MantisFrame *f)
{
	const unsigned char *q;

	if ((size_t) (end - p) < MANTIS_UPDATES_PREFIX_SIZE)
		return "updates header truncated";
	f->round = mantis_get_u32(p);
	f->group = mantis_get_u16(p + 4);
	f->count = mantis_get_u32(p + 6);
	if (f->group >= MANTIS_DIGEST_GROUPS && f->group != MANTIS_LIVE_GROUP)
		return "invalid group";
	p += MANTIS_UPDATES_PREFIX_SIZE;
	if (f->count > (size_t) (end - p) / (MANTIS_CODEC_REGISTER_OVERHEAD + 1))
		return "register count larger than the frame";

	/* check every entry now, so that consumers can walk them blindly */
	q = p;
	for (uint32_t i = 0; i < f->count; i++)
	{
		MantisRecord rec;
		const char *err = mantis_codec_get_register(&q, end, &rec);

		if (err)
			return err;
	}
	if (q != end)
		return "trailing bytes after the last register";
	f->registers = p;
	f->end = end;
	return NULL;
}

/*
 * Decode a replication frame of untrusted bytes.  On success every field
 * the frame's type uses is set and every length in it has been checked
 * (UPDATES registers may then be read with mantis_codec_get_register()
 * without further care); otherwise the reason is returned.
 */
const char *
mantis_frame_decode(const void *data, size_t len, MantisFrame *f)
{
	const unsigned char *p = data;
	const unsigned char *end;
	size_t		rest;

	memset(f, 0, sizeof(*f));
	if (data == NULL || len < MANTIS_FRAME_HEADER_SIZE)
		return "shorter than a frame header";
	if (memcmp(p, MANTIS_FRAME_MAGIC, 4) != 0)
		return "bad magic bytes";
	if (p[4] != MANTIS_FRAME_VERSION)
		return "unsupported protocol version";
	if (mantis_get_u16(p + 6) != 0)
		return "unknown frame flags";
	f->type = p[5];
	f->sender = mantis_get_u64(p + 8);
	f->incarnation = mantis_get_u64(p + 16);
	f->hlc = mantis_get_u64(p + 24);
	if (mantis_hlc_ms(f->hlc) > MANTIS_HLC_MAX_MS)
		return "clock beyond year 9999";
	end = p + len;
	p += MANTIS_FRAME_HEADER_SIZE;
	rest = (size_t) (end - p);

	switch (f->type)
	{
		case MANTIS_FRAME_HELLO:
		case MANTIS_FRAME_WELCOME:
			return decode_greeting(p, end, f);
		case MANTIS_FRAME_UPDATES:
			return decode_updates(p, end, f);
		case MANTIS_FRAME_SUMMARY:
			if (rest != 4 + 8)
				return "summary of the wrong size";
			f->round = mantis_get_u32(p);
			f->root = mantis_get_u64(p + 4);
			return NULL;
		case MANTIS_FRAME_INSYNC:
			if (rest != 4)
				return "insync of the wrong size";
			f->round = mantis_get_u32(p);
			return NULL;
		case MANTIS_FRAME_GROUPS:
			if (rest != 4 + 8 * MANTIS_DIGEST_GROUPS)
				return "groups of the wrong size";
			f->round = mantis_get_u32(p);
			f->digests = p + 4;
			return NULL;
		case MANTIS_FRAME_LEAVES:
			if (rest != 4 + 2 + 8 * MANTIS_DIGEST_GROUP_LEAVES)
				return "leaves of the wrong size";
			f->round = mantis_get_u32(p);
			f->group = mantis_get_u16(p + 4);
			if (f->group >= MANTIS_DIGEST_GROUPS)
				return "invalid group";
			f->digests = p + 6;
			return NULL;
	}
	return "unknown frame type";
}
