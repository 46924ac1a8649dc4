/*-------------------------------------------------------------------------
 * common/frame.c
 *	  Replication frames: one encoder beside one decoder for each frame
 *	  type (see common/frame.h for the layouts).
 *
 * Pure C: no server headers, no allocation.  The encoders write into
 * memory their caller sized and check nothing.  The decoder reads bytes
 * from the network, so it trusts nothing: each length is compared with the
 * bytes remaining (never added to a pointer first), counts are bounded by
 * what the remaining bytes could hold, and any violation returns a static
 * message naming it.
 *
 * The decoder takes frames of versions 3 to 5 (MANTIS_FRAME_VERSION_MIN
 * .. _MAX); only a greeting's layout differs between 3 and 4 (5 has 4's),
 * and TOMBS is of version 5 alone (its codec: common/tombs.c).
 *
 * Tested by test/unit/test_frame.c (every type encoded, decoded back, and
 * cut short) and fuzzed by test/fuzz/fuzz_frame.c.
 *
 * IDENTIFICATION	src/common/frame.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/frame.h"
#include "common/rules.h"

/* The entry sizes common/frame.h gives are the sums of the fields written here. */
_Static_assert(MANTIS_CODEC_REGISTER_OVERHEAD == 4 + 1 + 8 + 8 + 4,
			   "register: entry length, kind, HLC time, HLC node, key length");
_Static_assert(MANTIS_CODEC_EXPIRING_OVERHEAD == 4 + 1 + 8 + 8 + 8 + 4,
			   "expiring register: entry length, kind, HLC time, HLC node, expires, key length");
_Static_assert(MANTIS_CODEC_NODE_OVERHEAD == 8 + 1, "node: id, name length");
_Static_assert(MANTIS_CODEC_NODE_NAME_MAX <= UINT8_MAX,
			   "a node name length fits its length byte");

/*
 * A node name on the wire: 1 to 63 bytes, each a letter, digit, '.', '_'
 * or '-' (what mantis.node_name accepts).
 */
bool
mantis_codec_name_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > MANTIS_CODEC_NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Whether a register is written as kind 3: a value with an expiry. */
static inline bool
is_expiring(const MantisRecord *rec)
{
	return !rec->deleted && rec->expires_ms != 0;
}

size_t
mantis_codec_register_size(const MantisRecord *rec)
{
	return (is_expiring(rec) ? MANTIS_CODEC_EXPIRING_OVERHEAD : MANTIS_CODEC_REGISTER_OVERHEAD) +
		(size_t) rec->key_len + (rec->deleted ? 0 : (size_t) rec->value_len);
}

/*
 * Write one register entry.  A deletion is kind 2 whatever its expires_ms:
 * a deletion marker never carries an expiry.
 */
unsigned char *
mantis_codec_put_register(unsigned char *p, const MantisRecord *rec)
{
	uint32_t	value_len = rec->deleted ? 0 : rec->value_len;
	bool		expiring = is_expiring(rec);
	uint32_t	overhead = expiring ? MANTIS_CODEC_EXPIRING_OVERHEAD : MANTIS_CODEC_REGISTER_OVERHEAD;

	mantis_put_u32(p, overhead - 4 + rec->key_len + value_len);
	p[4] = rec->deleted ? MANTIS_CODEC_KIND_DELETION :
		expiring ? MANTIS_CODEC_KIND_EXPIRING : MANTIS_CODEC_KIND_VALUE;
	mantis_put_u64(p + 5, rec->hlc.ts);
	mantis_put_u64(p + 13, rec->hlc.node);
	if (expiring)
	{
		mantis_put_u64(p + 21, rec->expires_ms);
		p += 8;
	}
	mantis_put_u32(p + 21, rec->key_len);
	p += MANTIS_CODEC_REGISTER_OVERHEAD;
	memcpy(p, rec->key, rec->key_len);
	p += rec->key_len;
	if (value_len > 0)
		memcpy(p, rec->value, value_len);
	return p + value_len;
}

/*
 * Read one register entry at *pp (not past end).  On success *pp moves past
 * it and rec points into the input.
 */
const char *
mantis_codec_get_register(const unsigned char **pp, const unsigned char *end,
						 MantisRecord *rec)
{
	const unsigned char *p = *pp;
	size_t		avail = (size_t) (end - p);
	uint32_t	entry_len;
	uint32_t	key_len;
	uint32_t	rest;
	uint32_t	overhead = MANTIS_CODEC_REGISTER_OVERHEAD;
	int			kind;

	if (avail < MANTIS_CODEC_REGISTER_OVERHEAD)
		return "register entry truncated";
	entry_len = mantis_get_u32(p);
	if (entry_len < MANTIS_CODEC_REGISTER_OVERHEAD - 4)
		return "register entry length too small";
	if (entry_len > avail - 4)
		return "register entry length past the end";
	kind = p[4];
	if (kind != MANTIS_CODEC_KIND_VALUE && kind != MANTIS_CODEC_KIND_DELETION &&
		kind != MANTIS_CODEC_KIND_EXPIRING)
		return "unknown register kind";
	rec->hlc.ts = mantis_get_u64(p + 5);
	rec->hlc.node = mantis_get_u64(p + 13);
	rec->expires_ms = 0;
	if (kind == MANTIS_CODEC_KIND_EXPIRING)
	{
		/* entry_len <= avail - 4 was checked: the expiry is inside the input */
		overhead = MANTIS_CODEC_EXPIRING_OVERHEAD;
		if (entry_len < MANTIS_CODEC_EXPIRING_OVERHEAD - 4)
			return "register entry length too small";
		rec->expires_ms = mantis_get_u64(p + 21);
		if (rec->expires_ms == 0)
			return "expiring register without an expiry";
		if (rec->expires_ms > MANTIS_HLC_MAX_MS)
			return "expiry beyond year 9999";
	}
	key_len = mantis_get_u32(p + overhead - 4);
	rest = entry_len - (overhead - 4);
	if (key_len > rest)
		return "key length past the end of its entry";
	if (key_len == 0)
		return "empty key";
	if (mantis_hlc_ms(rec->hlc.ts) > MANTIS_HLC_MAX_MS)
		return "clock beyond year 9999";
	rec->deleted = kind == MANTIS_CODEC_KIND_DELETION;
	rec->key = (const char *) p + overhead;
	rec->key_len = key_len;
	rec->value = rec->key + key_len;
	rec->value_len = rest - key_len;
	if (rec->deleted && rec->value_len != 0)
		return "deletion marker with a value";
	*pp = p + 4 + entry_len;
	return NULL;
}

size_t
mantis_codec_node_size(size_t name_len)
{
	return MANTIS_CODEC_NODE_OVERHEAD + name_len;
}

unsigned char *
mantis_codec_put_node(unsigned char *p, uint64_t id, const char *name,
					 size_t name_len)
{
	mantis_put_u64(p, id);
	p[8] = (unsigned char) name_len;
	memcpy(p + 9, name, name_len);
	return p + 9 + name_len;
}

const char *
mantis_codec_get_node(const unsigned char **pp, const unsigned char *end,
					 uint64_t *id, const char **name, size_t *name_len)
{
	const unsigned char *p = *pp;
	size_t		avail = (size_t) (end - p);
	size_t		len;

	if (avail < 9)
		return "node entry truncated";
	len = p[8];
	if (len > avail - 9)
		return "node name past the end";
	if (!mantis_codec_name_is_valid((const char *) p + 9, len))
		return "invalid node name";
	*id = mantis_get_u64(p);
	*name = (const char *) p + 9;
	*name_len = len;
	*pp = p + 9 + len;
	return NULL;
}

/* The sizes common/frame.h gives are the sums of the fields the encoders write. */
_Static_assert(sizeof(MANTIS_FRAME_MAGIC) - 1 == 4, "the magic is 4 bytes");
_Static_assert(MANTIS_FRAME_HEADER_SIZE == 4 + 1 + 1 + 2 + 8 + 8 + 8,
			   "header: magic, version, type, flags, sender, incarnation, HLC");
_Static_assert(MANTIS_UPDATES_PREFIX_SIZE == 4 + 2 + 4 + 8,
			   "updates prefix: round, group, register count, watermark");
_Static_assert(MANTIS_FRAME_MARK_SIZE == 4 + 8, "mark: live sequence, watermark");
_Static_assert(MANTIS_FRAME_UPDATES_HEAD_SIZE ==
			   MANTIS_FRAME_HEADER_SIZE + MANTIS_UPDATES_PREFIX_SIZE,
			   "updates head: header and prefix");
_Static_assert(MANTIS_FRAME_SUMMARY_SIZE == MANTIS_FRAME_HEADER_SIZE + 4 + 8,
			   "summary: header, round, root digest");
_Static_assert(MANTIS_FRAME_INSYNC_SIZE == MANTIS_FRAME_HEADER_SIZE + 4 + 12,
			   "insync: header, round, mark");
_Static_assert(MANTIS_FRAME_GROUPS_SIZE ==
			   MANTIS_FRAME_HEADER_SIZE + 4 + 12 + 8 * MANTIS_DIGEST_GROUPS,
			   "groups: header, round, mark, one digest per group");
_Static_assert(MANTIS_FRAME_LEAVES_SIZE ==
			   MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 8 * MANTIS_DIGEST_GROUP_LEAVES,
			   "leaves: header, round, group, one digest per leaf of the group");

/* Groups of leaves cover the 2^16 leaves keys hash into; a u16 names them. */
_Static_assert(MANTIS_DIGEST_GROUPS * MANTIS_DIGEST_GROUP_LEAVES == 65536,
			   "groups times leaves per group is the number of leaves");
_Static_assert(MANTIS_DIGEST_GROUPS - 1 <= UINT16_MAX,
			   "a group number fits its u16 field");
_Static_assert(MANTIS_LIVE_GROUP >= MANTIS_DIGEST_GROUPS &&
			   MANTIS_LIVE_GROUP <= UINT16_MAX,
			   "the live group is no repair group, and fits the u16 field");

_Static_assert(MANTIS_GREETING_V4_SIZE == 1 + 1 + 8 + 2 + 8 + 8,
			   "version-4 greeting: proto min, proto max, members, member count, generation, acked incarnation");
_Static_assert(MANTIS_RULES_PROTOCOL >= MANTIS_FRAME_VERSION_MIN &&
			   MANTIS_RULES_PROTOCOL <= MANTIS_FRAME_VERSION_MAX,
			   "the member set travels in a protocol the codec speaks");
_Static_assert(MANTIS_FRAME_VERSION_MIN <= MANTIS_FRAME_VERSION_MAX &&
			   MANTIS_FRAME_VERSION_MAX <= UINT8_MAX, "a version fits its byte");

/* An encoding name's length travels in one byte, and so does a type. */
_Static_assert(MANTIS_FRAME_ENCODING_MAX <= UINT8_MAX,
			   "an encoding name length fits its length byte");
_Static_assert(MANTIS_FRAME_TOMBS <= UINT8_MAX, "a frame type fits its byte");

/* ---- header ---- */

/* The header of every frame: the caller gave at least its size. */
static const char *
decode_header(const unsigned char *p, MantisFrame *f)
{
	if (memcmp(p, MANTIS_FRAME_MAGIC, 4) != 0)
		return "bad magic bytes";
	if (p[4] < MANTIS_FRAME_VERSION_MIN || p[4] > MANTIS_FRAME_VERSION_MAX)
		return "unsupported protocol version";
	f->version = p[4];
	f->flags = mantis_get_u16(p + 6);
	if ((f->flags & ~MANTIS_FRAME_FLAGS_KNOWN) != 0)
		return "unknown frame flags";
	f->type = p[5];
	f->sender = mantis_get_u64(p + 8);
	f->incarnation = mantis_get_u64(p + 16);
	f->hlc = mantis_get_u64(p + 24);
	if (mantis_hlc_ms(f->hlc) > MANTIS_HLC_MAX_MS)
		return "clock beyond year 9999";
	return NULL;
}

/* ---- HELLO and WELCOME: a greeting ---- */

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

/* what follows the encoding: acked, stable, collected */
#define GREETING_HORIZONS_SIZE	(8 + 8 + 8)

/* what follows the horizons: nothing in version 3 */
static size_t
greeting_tail_size(int version)
{
	return version >= 4 ? MANTIS_GREETING_V4_SIZE : 0;
}

/* the body alone */
static size_t
greeting_size(int version, const MantisGreeting *g)
{
	return 1 + g->name_len + 4 + 4 + 1 + g->encoding_len + GREETING_HORIZONS_SIZE +
		greeting_tail_size(version);
}

/* the fields of version 4, after the horizons */
static unsigned char *
put_greeting_v4(unsigned char *p, const MantisGreeting *g)
{
	p[0] = g->proto_min;
	p[1] = g->proto_max;
	mantis_put_u64(p + 2, g->members);
	mantis_put_u16(p + 10, g->member_count);
	mantis_put_u64(p + 12, g->generation);
	mantis_put_u64(p + 20, g->acked_incarnation);
	return p + MANTIS_GREETING_V4_SIZE;
}

/* the body alone */
static unsigned char *
put_greeting(unsigned char *p, int version, const MantisGreeting *g)
{
	p[0] = (unsigned char) g->name_len;
	memcpy(p + 1, g->name, g->name_len);
	p += 1 + g->name_len;
	mantis_put_u32(p, g->max_key_size);
	mantis_put_u32(p + 4, g->max_value_size);
	p[8] = (unsigned char) g->encoding_len;
	memcpy(p + 9, g->encoding, g->encoding_len);
	p += 9 + g->encoding_len;
	mantis_put_u64(p, g->acked);
	mantis_put_u64(p + 8, g->stable);
	mantis_put_u64(p + 16, g->collected);
	p += GREETING_HORIZONS_SIZE;
	return version >= 4 ? put_greeting_v4(p, g) : p;
}

/* a whole HELLO or WELCOME in this version */
size_t
mantis_frame_greeting_frame_size(uint8_t version, const MantisGreeting *g)
{
	return MANTIS_FRAME_HEADER_SIZE + greeting_size(version, g);
}

static size_t
put_greeting_frame(unsigned char *p, int type, const MantisFrameHeader *h,
				   const MantisGreeting *g)
{
	return (size_t) (put_greeting(mantis_frame_put_header(p, type, h), h->version, g) - p);
}

size_t
mantis_frame_put_hello(unsigned char *p, const MantisFrameHeader *h,
					   const MantisGreeting *g)
{
	return put_greeting_frame(p, MANTIS_FRAME_HELLO, h, g);
}

size_t
mantis_frame_put_welcome(unsigned char *p, const MantisFrameHeader *h,
						 const MantisGreeting *g)
{
	return put_greeting_frame(p, MANTIS_FRAME_WELCOME, h, g);
}

/*
 * The fields of version 4 (the caller checked their size): the versions
 * the sender speaks include the one it wrote this frame in, and a known
 * member set has members.
 */
static const char *
decode_greeting_v4(const unsigned char *p, MantisFrame *f)
{
	MantisGreeting *g = &f->greeting;

	g->proto_min = p[0];
	g->proto_max = p[1];
	g->members = mantis_get_u64(p + 2);
	g->member_count = mantis_get_u16(p + 10);
	g->generation = mantis_get_u64(p + 12);
	g->acked_incarnation = mantis_get_u64(p + 20);
	if (g->proto_min < MANTIS_FRAME_VERSION_MIN)
		return "greeting protocol range below version 3";
	if (g->proto_min > g->proto_max)
		return "greeting protocol range is empty";
	if (f->version < g->proto_min || f->version > g->proto_max)
		return "greeting version outside its protocol range";
	if (g->members != 0 && g->member_count == 0)
		return "greeting member digest without a member count";
	return NULL;
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
	if ((size_t) (end - p) != len + GREETING_HORIZONS_SIZE + greeting_tail_size(f->version))
		return "encoding length does not match the frame";
	if (!encoding_is_valid((const char *) p, len))
		return "invalid encoding name";
	g->encoding = (const char *) p;
	g->encoding_len = len;
	p += len;
	g->acked = mantis_get_u64(p);
	g->stable = mantis_get_u64(p + 8);
	g->collected = mantis_get_u64(p + 16);
	if (mantis_hlc_ms(g->acked) > MANTIS_HLC_MAX_MS ||
		mantis_hlc_ms(g->stable) > MANTIS_HLC_MAX_MS ||
		mantis_hlc_ms(g->collected) > MANTIS_HLC_MAX_MS)
		return "greeting horizon beyond year 9999";
	if (f->version >= 4)
		return decode_greeting_v4(p + GREETING_HORIZONS_SIZE, f);
	return NULL;
}

/* ---- UPDATES ---- */

/*
 * the prefix: round u32 at 0, group u16 at 4, register count u32 at 6,
 * watermark u64 at 10
 */
#define UPDATES_COUNT_AT	(MANTIS_FRAME_HEADER_SIZE + 4 + 2)
#define UPDATES_WATERMARK_AT	(UPDATES_COUNT_AT + 4)
_Static_assert(UPDATES_WATERMARK_AT + 8 == MANTIS_FRAME_UPDATES_HEAD_SIZE,
			   "the watermark ends the head of an UPDATES frame");

size_t
mantis_frame_put_updates_head(unsigned char *p, const MantisFrameHeader *h,
							  uint32_t round, uint16_t group)
{
	unsigned char *q = mantis_frame_put_header(p, MANTIS_FRAME_UPDATES, h);

	mantis_put_u32(q, round);
	mantis_put_u16(q + 4, group);
	mantis_put_u32(q + 6, 0);
	mantis_put_u64(q + 10, 0);
	return (size_t) (q + MANTIS_UPDATES_PREFIX_SIZE - p);
}

/* the register count of an UPDATES frame begun by mantis_frame_put_updates_head */
void
mantis_frame_updates_set_count(unsigned char *frame, uint32_t count)
{
	mantis_put_u32(frame + UPDATES_COUNT_AT, count);
}

void
mantis_frame_updates_end_batch(unsigned char *frame, uint64_t watermark)
{
	mantis_put_u16(frame + 6, (uint16_t) (mantis_get_u16(frame + 6) | MANTIS_FRAME_BATCH_END));
	mantis_put_u64(frame + UPDATES_WATERMARK_AT, watermark);
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
	f->watermark = mantis_get_u64(p + 10);
	if (f->group >= MANTIS_DIGEST_GROUPS && f->group != MANTIS_LIVE_GROUP)
		return "invalid group";
	if ((f->flags & MANTIS_FRAME_BATCH_END) ? f->group != MANTIS_LIVE_GROUP : f->watermark != 0)
		return "watermark outside the end of a live batch";
	if (mantis_hlc_ms(f->watermark) > MANTIS_HLC_MAX_MS)
		return "watermark beyond year 9999";
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

/* ---- SUMMARY ---- */

size_t
mantis_frame_put_summary(unsigned char *p, const MantisFrameHeader *h,
						 uint32_t round, uint64_t root)
{
	unsigned char *q = mantis_frame_put_header(p, MANTIS_FRAME_SUMMARY, h);

	mantis_put_u32(q, round);
	mantis_put_u64(q + 4, root);
	return (size_t) (q + 4 + 8 - p);
}

static const char *
decode_summary(const unsigned char *p, size_t rest, MantisFrame *f)
{
	if (rest != MANTIS_FRAME_SUMMARY_SIZE - MANTIS_FRAME_HEADER_SIZE)
		return "summary of the wrong size";
	f->round = mantis_get_u32(p);
	f->root = mantis_get_u64(p + 4);
	return NULL;
}

/* ---- INSYNC ---- */

static unsigned char *
put_mark(unsigned char *p, const MantisLiveMark *mark)
{
	mantis_put_u32(p, mark->seq);
	mantis_put_u64(p + 4, mark->watermark);
	return p + MANTIS_FRAME_MARK_SIZE;
}

static const char *
decode_mark(const unsigned char *p, MantisFrame *f)
{
	f->mark.seq = mantis_get_u32(p);
	f->mark.watermark = mantis_get_u64(p + 4);
	if (mantis_hlc_ms(f->mark.watermark) > MANTIS_HLC_MAX_MS)
		return "watermark beyond year 9999";
	return NULL;
}

size_t
mantis_frame_put_insync(unsigned char *p, const MantisFrameHeader *h,
						uint32_t round, const MantisLiveMark *mark)
{
	unsigned char *q = mantis_frame_put_header(p, MANTIS_FRAME_INSYNC, h);

	mantis_put_u32(q, round);
	q = put_mark(q + 4, mark);
	return (size_t) (q - p);
}

static const char *
decode_insync(const unsigned char *p, size_t rest, MantisFrame *f)
{
	if (rest != MANTIS_FRAME_INSYNC_SIZE - MANTIS_FRAME_HEADER_SIZE)
		return "insync of the wrong size";
	f->round = mantis_get_u32(p);
	return decode_mark(p + 4, f);
}

/* ---- GROUPS and LEAVES: digests ---- */

static unsigned char *
put_digests(unsigned char *p, const uint64_t *digests, int n)
{
	for (int i = 0; i < n; i++)
		mantis_put_u64(p + 8 * i, digests[i]);
	return p + 8 * n;
}

/*
 * Digest i of a decoded GROUPS frame (0 <= i < MANTIS_DIGEST_GROUPS) or
 * LEAVES frame (0 <= i < MANTIS_DIGEST_GROUP_LEAVES), in host order.
 */
uint64_t
mantis_frame_digest(const MantisFrame *f, int i)
{
	return mantis_get_u64(f->digests + 8 * i);
}

size_t
mantis_frame_put_groups(unsigned char *p, const MantisFrameHeader *h,
						uint32_t round, const MantisLiveMark *mark,
						const uint64_t digests[MANTIS_DIGEST_GROUPS])
{
	unsigned char *q = mantis_frame_put_header(p, MANTIS_FRAME_GROUPS, h);

	mantis_put_u32(q, round);
	q = put_mark(q + 4, mark);
	q = put_digests(q, digests, MANTIS_DIGEST_GROUPS);
	return (size_t) (q - p);
}

static const char *
decode_groups(const unsigned char *p, size_t rest, MantisFrame *f)
{
	if (rest != MANTIS_FRAME_GROUPS_SIZE - MANTIS_FRAME_HEADER_SIZE)
		return "groups of the wrong size";
	f->round = mantis_get_u32(p);
	f->digests = p + 4 + MANTIS_FRAME_MARK_SIZE;
	return decode_mark(p + 4, f);
}

size_t
mantis_frame_put_leaves(unsigned char *p, const MantisFrameHeader *h,
						uint32_t round, uint16_t group,
						const uint64_t digests[MANTIS_DIGEST_GROUP_LEAVES])
{
	unsigned char *q = mantis_frame_put_header(p, MANTIS_FRAME_LEAVES, h);

	mantis_put_u32(q, round);
	mantis_put_u16(q + 4, group);
	q = put_digests(q + 6, digests, MANTIS_DIGEST_GROUP_LEAVES);
	return (size_t) (q - p);
}

static const char *
decode_leaves(const unsigned char *p, size_t rest, MantisFrame *f)
{
	if (rest != MANTIS_FRAME_LEAVES_SIZE - MANTIS_FRAME_HEADER_SIZE)
		return "leaves of the wrong size";
	f->round = mantis_get_u32(p);
	f->group = mantis_get_u16(p + 4);
	if (f->group >= MANTIS_DIGEST_GROUPS)
		return "invalid group";
	f->digests = p + 6;
	return NULL;
}

/* ---- any frame ---- */

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
	const char *err;
	size_t		rest;

	memset(f, 0, sizeof(*f));
	if (data == NULL || len < MANTIS_FRAME_HEADER_SIZE)
		return "shorter than a frame header";
	err = decode_header(p, f);
	if (err)
		return err;
	end = p + len;
	p += MANTIS_FRAME_HEADER_SIZE;
	rest = (size_t) (end - p);
	if ((f->flags & MANTIS_FRAME_BATCH_END) && f->type != MANTIS_FRAME_UPDATES)
		return "batch end flag on a frame other than UPDATES";
	if ((f->flags & MANTIS_FRAME_HELD_BACK) && f->type != MANTIS_FRAME_LEAVES)
		return "held-back flag on a frame other than LEAVES";

	switch (f->type)
	{
		case MANTIS_FRAME_HELLO:
		case MANTIS_FRAME_WELCOME:
			return decode_greeting(p, end, f);
		case MANTIS_FRAME_UPDATES:
			return decode_updates(p, end, f);
		case MANTIS_FRAME_SUMMARY:
			return decode_summary(p, rest, f);
		case MANTIS_FRAME_INSYNC:
			return decode_insync(p, rest, f);
		case MANTIS_FRAME_GROUPS:
			return decode_groups(p, rest, f);
		case MANTIS_FRAME_LEAVES:
			return decode_leaves(p, rest, f);
		case MANTIS_FRAME_TOMBS:
			if (f->version < MANTIS_FRAME_VERSION_TOMBS)
				return "hash tombstones before protocol version 5";
			return mantis_frame_decode_tombs(p, end, f);
	}
	return "unknown frame type";
}
