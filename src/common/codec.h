/*-------------------------------------------------------------------------
 * common/codec.h
 *	  The byte form of the entries snapshots and replication frames are made
 *	  of (common/codec.c): one register, one node, and big-endian integers.
 *
 * Pure C like common/lww.c: no server headers, no allocation.  Encoders write
 * into memory the caller sized with the *_size() functions; decoders read
 * untrusted bytes, check every length against the bytes that remain before
 * using it, and return a static error string instead of trusting anything.
 *
 *	 register: entry length u32 (bytes after this field) | kind u8
 *			   (1 value, 2 deletion) | HLC time u64 | HLC node u64 |
 *			   key length u32 | key | value (the rest of the entry;
 *			   empty for a deletion)
 *			   or, for a value with an expiry, kind 3:
 *			   entry length u32 | kind u8 (3) | HLC time u64 |
 *			   HLC node u64 | expires u64 (ms since the Unix epoch,
 *			   1 .. MANTIS_HLC_MAX_MS) | key length u32 | key | value
 *	 node:	   id u64 | name length u8 (1..63) | name
 *
 * IDENTIFICATION	src/common/codec.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_CODEC_H
#define MANTIS_CODEC_H

#include "common/lww.h"

#define MANTIS_CODEC_KIND_VALUE		1
#define MANTIS_CODEC_KIND_DELETION	2
#define MANTIS_CODEC_KIND_EXPIRING	3

/* entry length field, kind, HLC, key length: the smallest entry's overhead */
#define MANTIS_CODEC_REGISTER_OVERHEAD	(4 + 1 + 8 + 8 + 4)

/* the same with the expiry of kind 3 */
#define MANTIS_CODEC_EXPIRING_OVERHEAD	(MANTIS_CODEC_REGISTER_OVERHEAD + 8)

/* id, name length */
#define MANTIS_CODEC_NODE_OVERHEAD	(8 + 1)

/* longest node name an entry holds (its length is one byte) */
#define MANTIS_CODEC_NODE_NAME_MAX	63

extern bool mantis_codec_name_is_valid(const char *name, size_t len);

/* sizes and writers */
extern size_t mantis_codec_register_size(const MantisRecord *rec);
extern unsigned char *mantis_codec_put_register(unsigned char *p,
												const MantisRecord *rec);
extern size_t mantis_codec_node_size(size_t name_len);
extern unsigned char *mantis_codec_put_node(unsigned char *p, uint64_t id,
											const char *name, size_t name_len);

/* readers of untrusted bytes */
extern const char *mantis_codec_get_register(const unsigned char **pp,
											 const unsigned char *end,
											 MantisRecord *rec);
extern const char *mantis_codec_get_node(const unsigned char **pp,
										 const unsigned char *end,
										 uint64_t *id, const char **name,
										 size_t *name_len);

/* big-endian integers */
static inline void
mantis_put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char) (v >> 8);
	p[1] = (unsigned char) v;
}

static inline void
mantis_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

static inline void
mantis_put_u64(unsigned char *p, uint64_t v)
{
	mantis_put_u32(p, (uint32_t) (v >> 32));
	mantis_put_u32(p + 4, (uint32_t) v);
}

static inline uint16_t
mantis_get_u16(const unsigned char *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t
mantis_get_u32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static inline uint64_t
mantis_get_u64(const unsigned char *p)
{
	return ((uint64_t) mantis_get_u32(p) << 32) | mantis_get_u32(p + 4);
}

#endif							/* MANTIS_CODEC_H */
