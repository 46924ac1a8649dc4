/*-------------------------------------------------------------------------
 * common/codec.c
 *	  The byte form of one register and of one node entry, shared by
 *	  snapshots (common/snapshot.c) and replication frames (common/frame.c).
 *
 * Pure C: no server headers, no allocation.  Every decoder here reads bytes
 * from the network or from a table row that anyone with the right
 * privileges could have written, so it trusts nothing: each length is
 * compared with the bytes remaining (never added to a pointer first),
 * counts are bounded by what the remaining bytes could hold, and any
 * violation returns a static message naming it.
 *
 * IDENTIFICATION	src/common/codec.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/codec.h"

/* The sizes common/codec.h gives are the sums of the fields written here. */
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
