/*-------------------------------------------------------------------------
 * wire.c
 *	  Encode and decode registers: snapshots (mantis_stores.registers) and
 *	  replication frames.  See wire.h for the layouts.
 *
 * Every decoder here reads bytes from the network or from a table row that
 * anyone with the right privileges could have written, so it trusts
 * nothing: each length is compared with the bytes remaining (never added to
 * a pointer first), counts are bounded by what the remaining bytes could
 * hold, and any violation returns a static message naming it.  Nothing is
 * allocated, so an error path cannot leak.
 *
 * IDENTIFICATION	src/wire.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "wire.h"

/*
 * A node name on the wire: 1 to 63 bytes, each a letter, digit, '.', '_'
 * or '-' (what mantis.node_name accepts).
 */
bool
mantis_wire_name_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > MANTIS_WIRE_NODE_NAME_MAX)
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

size_t
mantis_wire_register_size(const MantisRecord *rec)
{
	return MANTIS_WIRE_REGISTER_OVERHEAD + (size_t) rec->key_len +
		(rec->deleted ? 0 : (size_t) rec->value_len);
}

unsigned char *
mantis_wire_put_register(unsigned char *p, const MantisRecord *rec)
{
	uint32_t	value_len = rec->deleted ? 0 : rec->value_len;

	mantis_put_u32(p, (uint32_t) (MANTIS_WIRE_REGISTER_OVERHEAD - 4) +
				   rec->key_len + value_len);
	p[4] = rec->deleted ? MANTIS_WIRE_KIND_DELETION : MANTIS_WIRE_KIND_VALUE;
	mantis_put_u64(p + 5, rec->hlc.ts);
	mantis_put_u64(p + 13, rec->hlc.node);
	mantis_put_u32(p + 21, rec->key_len);
	p += MANTIS_WIRE_REGISTER_OVERHEAD;
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
mantis_wire_get_register(const unsigned char **pp, const unsigned char *end,
						 MantisRecord *rec)
{
	const unsigned char *p = *pp;
	size_t		avail = (size_t) (end - p);
	uint32_t	entry_len;
	uint32_t	key_len;
	uint32_t	rest;
	int			kind;

	if (avail < MANTIS_WIRE_REGISTER_OVERHEAD)
		return "register entry truncated";
	entry_len = mantis_get_u32(p);
	if (entry_len < MANTIS_WIRE_REGISTER_OVERHEAD - 4)
		return "register entry length too small";
	if (entry_len > avail - 4)
		return "register entry length past the end";
	kind = p[4];
	if (kind != MANTIS_WIRE_KIND_VALUE && kind != MANTIS_WIRE_KIND_DELETION)
		return "unknown register kind";
	rec->hlc.ts = mantis_get_u64(p + 5);
	rec->hlc.node = mantis_get_u64(p + 13);
	key_len = mantis_get_u32(p + 21);
	rest = entry_len - (MANTIS_WIRE_REGISTER_OVERHEAD - 4);
	if (key_len > rest)
		return "key length past the end of its entry";
	if (key_len == 0)
		return "empty key";
	if (mantis_hlc_ms(rec->hlc.ts) > MANTIS_HLC_MAX_MS)
		return "clock beyond year 9999";
	rec->deleted = kind == MANTIS_WIRE_KIND_DELETION;
	rec->key = (const char *) p + MANTIS_WIRE_REGISTER_OVERHEAD;
	rec->key_len = key_len;
	rec->value = rec->key + key_len;
	rec->value_len = rest - key_len;
	if (rec->deleted && rec->value_len != 0)
		return "deletion marker with a value";
	*pp = p + 4 + entry_len;
	return NULL;
}

size_t
mantis_wire_node_size(size_t name_len)
{
	return 8 + 1 + name_len;
}

unsigned char *
mantis_wire_put_node(unsigned char *p, uint64_t id, const char *name,
					 size_t name_len)
{
	mantis_put_u64(p, id);
	p[8] = (unsigned char) name_len;
	memcpy(p + 9, name, name_len);
	return p + 9 + name_len;
}

const char *
mantis_wire_get_node(const unsigned char **pp, const unsigned char *end,
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
	if (!mantis_wire_name_is_valid((const char *) p + 9, len))
		return "invalid node name";
	*id = mantis_get_u64(p);
	*name = (const char *) p + 9;
	*name_len = len;
	*pp = p + 9 + len;
	return NULL;
}

void
mantis_snapshot_put_header(unsigned char *p, uint16_t nodes, uint32_t registers)
{
	memcpy(p, MANTIS_SNAPSHOT_MAGIC, 4);
	p[4] = MANTIS_SNAPSHOT_VERSION;
	p[5] = 0;
	mantis_put_u16(p + 6, nodes);
	mantis_put_u32(p + 8, registers);
}

/*
 * Decode a whole snapshot, calling on_node / on_register (either may be
 * NULL) for each entry.  Returns NULL if the snapshot is well-formed to its
 * last byte, else what is wrong; callbacks may already have run for the
 * entries before the fault, so a caller that must not act on part of a bad
 * snapshot decodes it once without callbacks first.
 */
const char *
mantis_snapshot_decode(const void *data, size_t len,
					   MantisWireNodeFn on_node,
					   MantisWireRegisterFn on_register, void *arg)
{
	const unsigned char *p = data;
	const unsigned char *end;
	uint32_t	nodes;
	uint32_t	registers;

	if (data == NULL || len < MANTIS_SNAPSHOT_HEADER_SIZE)
		return "shorter than a snapshot header";
	end = p + len;
	if (memcmp(p, MANTIS_SNAPSHOT_MAGIC, 4) != 0)
		return "not a mantis snapshot (bad magic bytes)";
	if (p[4] != MANTIS_SNAPSHOT_VERSION)
		return "unsupported snapshot format version";
	if (p[5] != 0)
		return "unknown snapshot flags";
	nodes = mantis_get_u16(p + 6);
	registers = mantis_get_u32(p + 8);
	p += MANTIS_SNAPSHOT_HEADER_SIZE;

	/* each entry takes bytes: a count larger than that is a lie */
	if (nodes > (size_t) (end - p) / 10 ||
		registers > (size_t) (end - p) / (MANTIS_WIRE_REGISTER_OVERHEAD + 1))
		return "entry count larger than the snapshot";

	for (uint32_t i = 0; i < nodes; i++)
	{
		uint64_t	id;
		const char *name;
		size_t		name_len;
		const char *err = mantis_wire_get_node(&p, end, &id, &name, &name_len);

		if (err)
			return err;
		if (on_node)
			on_node(arg, id, name, name_len);
	}
	for (uint32_t i = 0; i < registers; i++)
	{
		MantisRecord rec;
		const char *err = mantis_wire_get_register(&p, end, &rec);

		if (err)
			return err;
		if (on_register)
			on_register(arg, &rec);
	}
	if (p != end)
		return "trailing bytes after the last register";
	return NULL;
}

/* ---- replication frames ---- */

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
	if (len == 0 || len > MANTIS_WIRE_ENCODING_MAX)
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
	if (!mantis_wire_name_is_valid((const char *) p + 1, len))
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
	if (f->count > (size_t) (end - p) / (MANTIS_WIRE_REGISTER_OVERHEAD + 1))
		return "register count larger than the frame";

	/* check every entry now, so that consumers can walk them blindly */
	q = p;
	for (uint32_t i = 0; i < f->count; i++)
	{
		MantisRecord rec;
		const char *err = mantis_wire_get_register(&q, end, &rec);

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
 * (UPDATES registers may then be read with mantis_wire_get_register()
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
