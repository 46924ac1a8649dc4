/*-------------------------------------------------------------------------
 * wire.h
 *	  Binary encodings of registers: the snapshot format stored in
 *	  mantis_stores.registers, and (see below) replication frames.
 *
 * Pure C like lww.c: no server headers, no allocation.  Encoders write
 * into memory the caller sized with the *_size() functions; decoders read
 * untrusted bytes, check every length against the bytes that remain before
 * using it, and return a static error string instead of trusting anything.
 * Integers are big-endian.
 *
 * IDENTIFICATION	src/wire.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_WIRE_H
#define MANTIS_WIRE_H

#include "lww.h"

/*
 * Snapshot ("registers" column), format version 1:
 *
 *	 magic "MNTS" | version u8 (1) | flags u8 (0) | node count u16 |
 *	 register count u32 | nodes | registers
 *
 *	 node:	   id u64 | name length u8 (1..63) | name
 *	 register: entry length u32 (bytes after this field) | kind u8
 *			   (1 value, 2 deletion) | HLC time u64 | HLC node u64 |
 *			   key length u32 | key | value (the rest of the entry;
 *			   empty for a deletion)
 */
#define MANTIS_SNAPSHOT_MAGIC		"MNTS"
#define MANTIS_SNAPSHOT_VERSION		1
#define MANTIS_SNAPSHOT_HEADER_SIZE	12

#define MANTIS_WIRE_KIND_VALUE		1
#define MANTIS_WIRE_KIND_DELETION	2

/* entry length field, kind, HLC, key length */
#define MANTIS_WIRE_REGISTER_OVERHEAD	(4 + 1 + 8 + 8 + 4)

#define MANTIS_WIRE_NODE_NAME_MAX	63

typedef void (*MantisWireNodeFn) (void *arg, uint64_t id, const char *name,
								  size_t name_len);
typedef void (*MantisWireRegisterFn) (void *arg, const MantisRecord *rec);

extern bool mantis_wire_name_is_valid(const char *name, size_t len);

/* sizes and writers */
extern size_t mantis_wire_register_size(const MantisRecord *rec);
extern unsigned char *mantis_wire_put_register(unsigned char *p,
											   const MantisRecord *rec);
extern size_t mantis_wire_node_size(size_t name_len);
extern unsigned char *mantis_wire_put_node(unsigned char *p, uint64_t id,
										   const char *name, size_t name_len);
extern void mantis_snapshot_put_header(unsigned char *p, uint16_t nodes,
									   uint32_t registers);

/* readers of untrusted bytes */
extern const char *mantis_wire_get_register(const unsigned char **pp,
											const unsigned char *end,
											MantisRecord *rec);
extern const char *mantis_wire_get_node(const unsigned char **pp,
										const unsigned char *end,
										uint64_t *id, const char **name,
										size_t *name_len);
extern const char *mantis_snapshot_decode(const void *data, size_t len,
										  MantisWireNodeFn on_node,
										  MantisWireRegisterFn on_register,
										  void *arg);

/*
 * Replication frames, protocol version 2.  One ZeroMQ message each:
 *
 *	 header (32 bytes): magic "MNTZ" | version u8 (2) | type u8 | flags u16 (0)
 *			| sender node id u64 | sender incarnation u64 | sender HLC time u64
 *
 *	 HELLO	   greeting						  (connector -> listener, each second)
 *	 WELCOME   greeting						  (listener -> connector, the answer)
 *	 UPDATES   round u32 | group u16 | register count u32 | registers
 *			   (round 0, group 0xFFFF: live changes; otherwise repair)
 *	 SUMMARY   round u32 | root digest u64		  (puller -> peer: start of a repair)
 *	 INSYNC    round u32						  (peer -> puller: roots are equal)
 *	 GROUPS    round u32 | 256 group digests u64 (peer -> puller: roots differ)
 *	 LEAVES    round u32 | group u16 | 256 leaf digests u64
 *			   puller -> peer: "send me your registers of the leaves that
 *			   differ from these"; peer -> puller, after those UPDATES: "and
 *			   here are mine", so the puller sends back what it holds newer
 *
 *	 greeting: name length u8 (1..63) | name | max key size u32 |
 *			   max value size u32 | encoding length u8 (1..31) | encoding
 *			   (the sender's mantis.max_key_size and mantis.max_value_size,
 *			   and the name of its database encoding, e.g. "UTF8": peers
 *			   whose limits differ refuse each other)
 *
 * Version 1 had no limits in the greeting; a version-1 frame is malformed.
 */
#define MANTIS_FRAME_MAGIC			"MNTZ"
#define MANTIS_FRAME_VERSION		2
#define MANTIS_FRAME_HEADER_SIZE	32

#define MANTIS_DIGEST_GROUPS		256
#define MANTIS_DIGEST_GROUP_LEAVES	256 /* MANTIS_LEAVES / MANTIS_DIGEST_GROUPS */
#define MANTIS_LIVE_GROUP			0xFFFF

typedef enum MantisFrameType
{
	MANTIS_FRAME_HELLO = 1,
	MANTIS_FRAME_WELCOME = 2,
	MANTIS_FRAME_UPDATES = 3,
	MANTIS_FRAME_SUMMARY = 4,
	MANTIS_FRAME_INSYNC = 5,
	MANTIS_FRAME_GROUPS = 6,
	MANTIS_FRAME_LEAVES = 7
} MantisFrameType;

#define MANTIS_UPDATES_PREFIX_SIZE	(4 + 2 + 4)

#define MANTIS_WIRE_ENCODING_MAX	31

/* The body of HELLO and WELCOME */
typedef struct MantisGreeting
{
	const char *name;
	size_t		name_len;
	uint32_t	max_key_size;
	uint32_t	max_value_size;
	const char *encoding;		/* letters, digits and '_' */
	size_t		encoding_len;
} MantisGreeting;

typedef struct MantisFrame
{
	/* header */
	int			type;
	uint64_t	sender;
	uint64_t	incarnation;
	uint64_t	hlc;
	/* HELLO, WELCOME: name and encoding point into the input, checked */
	MantisGreeting greeting;
	/* UPDATES, SUMMARY, INSYNC, GROUPS, LEAVES */
	uint32_t	round;
	/* UPDATES, LEAVES */
	uint16_t	group;
	/* UPDATES */
	uint32_t	count;
	const unsigned char *registers; /* count entries, checked, up to end */
	const unsigned char *end;
	/* SUMMARY */
	uint64_t	root;
	/* GROUPS (256 groups), LEAVES (256 leaves): big-endian u64s, checked */
	const unsigned char *digests;
} MantisFrame;

extern void mantis_frame_put_header(unsigned char *p, int type, uint64_t sender,
									uint64_t incarnation, uint64_t hlc);
extern size_t mantis_frame_greeting_size(const MantisGreeting *g);
extern unsigned char *mantis_frame_put_greeting(unsigned char *p,
												const MantisGreeting *g);
extern const char *mantis_frame_decode(const void *data, size_t len,
									   MantisFrame *frame);

/* big-endian helpers, shared with the frame codec */
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

#endif							/* MANTIS_WIRE_H */
