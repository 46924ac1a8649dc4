/*-------------------------------------------------------------------------
 * common/frame.h
 *	  The byte forms (common/frame.c): the register and node entries that
 *	  replication frames and snapshots are made of, and the replication
 *	  frames, with an encoder beside the decoder of each type.
 *
 * Pure C: no server headers, no allocation.  Encoders write into memory the
 * caller sized with the *_size() functions (a server can ask the size,
 * enlarge a StringInfo, then encode); decoders read untrusted bytes, check
 * every length against the bytes that remain before using it, and return a
 * static error string instead of trusting anything.
 *
 * IDENTIFICATION	src/common/frame.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_FRAME_H
#define MANTIS_FRAME_H

#include <string.h>

#include "common/hlc.h"

/*
 * Entries: the byte form of one register and one node, which frames and
 * snapshots (common/snapshot.h) are made of, and big-endian integers.
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
 */

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

/*
 * Replication frames, protocol versions 3, 4 and 5.  One ZeroMQ message each:
 *
 *	 header (32 bytes): magic "MNTZ" | version u8 (3, 4 or 5) | type u8 |
 *			flags u16 | sender node id u64 | sender incarnation u64 |
 *			sender HLC time u64
 *
 *	 HELLO	   greeting						  (connector -> listener, each second)
 *	 WELCOME   greeting						  (listener -> connector, the answer)
 *	 UPDATES   round u32 | group u16 | register count u32 | watermark u64 |
 *			   registers
 *			   (group 0xFFFF: live changes, "round" their sequence number;
 *			   otherwise a repair round's)
 *	 SUMMARY   round u32 | root digest u64		  (puller -> peer: start of a repair)
 *	 INSYNC    round u32 | mark				  (peer -> puller: roots are equal)
 *	 GROUPS    round u32 | mark | 256 group digests u64 (peer -> puller: roots differ)
 *	 LEAVES    round u32 | group u16 | 256 leaf digests u64
 *			   puller -> peer: "send me your registers of the leaves that
 *			   differ from these"; peer -> puller, after those UPDATES: "and
 *			   here are mine", so the puller sends back what it holds newer
 *	 TOMBS	   round u32 | group u16 | record count u32 | bound count u16 |
 *			   records | bounds					  (version 5 only)
 *			   the hash tombstones of a repair answer or of the puller's push
 *			   (R7 of common/rules.h), after its UPDATES of the group, of the
 *			   same leaves: the records of dead registers (hash u64 | HLC time
 *			   u64 | HLC node u64 | fingerprint u64 | death u64, ms since the
 *			   Unix epoch), then the leaves' collapsed bounds (leaf u16 |
 *			   bound u64 | fingerprint u64 | latest death u64); each record's
 *			   hash and each bound's leaf lies in the group (a record's leaf
 *			   is its hash's low 16 bits), HLCs and deaths are at most the
 *			   last of 9999, and neither an HLC time nor a bound is 0
 *
 *	 greeting: name length u8 (1..63) | name | max key size u32 |
 *			   max value size u32 | encoding length u8 (1..31) | encoding |
 *			   acked u64 | stable u64 | collected u64
 *			   (the sender's mantis.max_key_size and mantis.max_value_size,
 *			   and the name of its database encoding, e.g. "UTF8": peers
 *			   whose limits differ refuse each other; then what collection
 *			   needs, see replication/horizon.c: the HLC through which the sender holds
 *			   every write of the addressee, the HLC through which every
 *			   peer of the sender holds the sender's own writes, and the
 *			   sender's refusal horizon as it announces it, for adoption
 *			   (common/rules.h, R4-R6); 0: none)
 *			   and in version 4 only, after those:
 *			   proto min u8 | proto max u8 | members u64 | member count u16 |
 *			   generation u64 | acked incarnation u64
 *			   (the versions the sender speaks, 3 <= min <= the frame's
 *			   version <= max; the digest of the member set it counts,
 *			   common/rules.h, 0: not known yet, and how many members that
 *			   is, at least 1 when the digest is known; the generation of
 *			   its durable store, which only grows, so that a server that
 *			   went back in time - restored, promoted from a lagging standby -
 *			   can be told; 0: not known; the incarnation of the addressee
 *			   whose writes "acked" is about, so that a server restarted
 *			   never takes an acknowledgement of its previous run for one of
 *			   this run; 0: none)
 *
 *	 mark:	   live sequence u32 | watermark u64: the sender's last live
 *			   frame when it answered, and the HLC through which every
 *			   write made on the sender was in its live frames by then
 *
 * Flags: BATCH_END on the last live UPDATES frame of a batch, whose
 * watermark is then the HLC through which every write made on the sender
 * is in this frame or an earlier one (0 in the others); HELD_BACK on a
 * repair LEAVES answer whose sender held back live values it had of a leaf
 * that differs (replication/repair.c).
 *
 * Versions.  Every type but the greetings has the same layout in versions 3
 * to 5, so a sender writes them as version 3 for every peer (one live
 * frame serves them all), and the decoder takes any; but TOMBS, which only
 * version 5 has (it is malformed in 3 or 4, and unknown to a server of
 * version 4), goes only to a peer of version 5.  A version-5 greeting has
 * the layout of version 4.  A version-3
 * server (libraries 1.2 and 1.3) takes version 3 alone: anything else is
 * malformed there.  So a server greets each peer in the version in use with
 * it (replication/protocol.c), 3 until the peer has shown it speaks 4,
 * and finds that out with an occasional version-4 HELLO, its probe; a
 * HELLO is answered in its own version, at most the answerer's
 * mantis.protocol_max.  A version-3 greeting decodes with the fields of
 * version 4 all 0.  Version 2 had no watermarks, marks or collection
 * fields, version 1 no limits in the greeting; a frame of either is
 * malformed.
 */
#define MANTIS_FRAME_MAGIC			"MNTZ"
#define MANTIS_FRAME_VERSION_MIN	3	/* the versions the decoder takes */
#define MANTIS_FRAME_VERSION_MAX	5
#define MANTIS_FRAME_VERSION_TOMBS	5	/* the first with TOMBS (R7) */
#define MANTIS_FRAME_HEADER_SIZE	32

#define MANTIS_FRAME_BATCH_END		0x0001
#define MANTIS_FRAME_HELD_BACK		0x0002
#define MANTIS_FRAME_FLAGS_KNOWN	(MANTIS_FRAME_BATCH_END | MANTIS_FRAME_HELD_BACK)

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
	MANTIS_FRAME_LEAVES = 7,
	MANTIS_FRAME_TOMBS = 8
} MantisFrameType;

/* the body of UPDATES before its registers: round, group, register count, watermark */
#define MANTIS_UPDATES_PREFIX_SIZE	(4 + 2 + 4 + 8)

/* a mark: live sequence, watermark */
#define MANTIS_FRAME_MARK_SIZE		(4 + 8)

#define MANTIS_FRAME_ENCODING_MAX	31

/*
 * what a version-4 greeting adds: proto min and max, members, member count,
 * generation, acked incarnation
 */
#define MANTIS_GREETING_V4_SIZE		(1 + 1 + 8 + 2 + 8 + 8)

/*
 * Whole frames of a fixed size, and the head of an UPDATES frame (header and
 * prefix, before the registers).  common/frame.c checks each against the sum
 * of its fields.
 */
#define MANTIS_FRAME_UPDATES_HEAD_SIZE	(MANTIS_FRAME_HEADER_SIZE + MANTIS_UPDATES_PREFIX_SIZE)
#define MANTIS_FRAME_SUMMARY_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 8)
#define MANTIS_FRAME_INSYNC_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + MANTIS_FRAME_MARK_SIZE)
#define MANTIS_FRAME_GROUPS_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + MANTIS_FRAME_MARK_SIZE + \
									 8 * MANTIS_DIGEST_GROUPS)
#define MANTIS_FRAME_LEAVES_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 8 * MANTIS_DIGEST_GROUP_LEAVES)

/* TOMBS: its head (header, round, group, counts), a record, a bound */
#define MANTIS_FRAME_TOMBS_HEAD_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 4 + 2)
#define MANTIS_TOMB_RECORD_SIZE		(8 + 8 + 8 + 8 + 8)
#define MANTIS_TOMB_BOUND_SIZE		(2 + 8 + 8 + 8)

/*
 * What a sender puts in the header of every frame it sends: its version,
 * who it is and when, and the frame's flags.  The encoders write the rest
 * (magic, their own type).
 */
typedef struct MantisFrameHeader
{
	uint8_t		version;		/* 3 to 5; a greeting's layout follows it */
	uint64_t	sender;			/* node id */
	uint64_t	incarnation;
	uint64_t	hlc;			/* the sender's HLC time */
	uint16_t	flags;			/* MANTIS_FRAME_BATCH_END, _HELD_BACK */
} MantisFrameHeader;

/* Where a sender's live stream stood: see "mark" above */
typedef struct MantisLiveMark
{
	uint32_t	seq;
	uint64_t	watermark;
} MantisLiveMark;

/* The body of HELLO and WELCOME */
typedef struct MantisGreeting
{
	const char *name;
	size_t		name_len;
	uint32_t	max_key_size;
	uint32_t	max_value_size;
	const char *encoding;		/* letters, digits and '_' */
	size_t		encoding_len;
	uint64_t	acked;			/* HLCs; see "greeting" above */
	uint64_t	stable;
	uint64_t	collected;
	/* version 4 only (0 in a version-3 greeting); see "greeting" above */
	uint8_t		proto_min;		/* the versions the sender speaks */
	uint8_t		proto_max;
	uint64_t	members;		/* digest of its member set, 0: not known */
	uint16_t	member_count;	/* members in that set */
	uint64_t	generation;		/* of its durable store, 0: not known */
	uint64_t	acked_incarnation;	/* the addressee's run "acked" is about */
} MantisGreeting;

/* A decoded frame: pointers refer to the decoded input */
typedef struct MantisFrame
{
	/* header: its type, then the fields of a MantisFrameHeader */
	int			type;
	uint8_t		version;		/* MANTIS_FRAME_VERSION_MIN .. _MAX */
	uint64_t	sender;
	uint64_t	incarnation;
	uint64_t	hlc;
	uint16_t	flags;
	/* HELLO, WELCOME: name and encoding point into the input, checked */
	MantisGreeting greeting;
	/* UPDATES, SUMMARY, INSYNC, GROUPS, LEAVES */
	uint32_t	round;
	/* UPDATES, LEAVES */
	uint16_t	group;
	/* UPDATES; TOMBS (its records) */
	uint32_t	count;
	uint64_t	watermark;		/* 0 unless BATCH_END */
	const unsigned char *registers; /* count entries, checked, up to end */
	const unsigned char *end;
	/* SUMMARY */
	uint64_t	root;
	/* INSYNC, GROUPS */
	MantisLiveMark mark;
	/*
	 * GROUPS (256 groups), LEAVES (256 leaves): big-endian u64s, checked;
	 * read them with mantis_frame_digest()
	 */
	const unsigned char *digests;
	/*
	 * TOMBS: "count" records, then "nbounds" bounds, checked; read them with
	 * mantis_frame_tomb() and mantis_frame_tomb_bound() (common/tombs.h)
	 */
	const unsigned char *tombs;
	uint16_t	nbounds;
} MantisFrame;

/* the header fields of a decoded frame, to answer or re-encode it */
static inline MantisFrameHeader
mantis_frame_header(const MantisFrame *f)
{
	MantisFrameHeader h;

	h.version = f->version;
	h.sender = f->sender;
	h.incarnation = f->incarnation;
	h.hlc = f->hlc;
	h.flags = f->flags;
	return h;
}

/*
 * Encoders, one per type.  Each writes a whole frame at p, into memory the
 * caller sized with the matching size function or constant, and returns
 * the number of bytes written (that size).  They check nothing: the
 * decoder is the one judge of what is well-formed (which lets the tests
 * encode malformed frames too).  Name and encoding lengths must fit their
 * length byte.  A greeting's size and layout depend on the version it is
 * written in (h->version): version 4 adds MANTIS_GREETING_V4_SIZE bytes.
 */
/*
 * The header of any frame (the encoders', and common/tombs.c's, which
 * common/frame.c calls and so may not call back): returns its end
 */
static inline unsigned char *
mantis_frame_put_header(unsigned char *p, int type, const MantisFrameHeader *h)
{
	memcpy(p, MANTIS_FRAME_MAGIC, 4);
	p[4] = h->version;
	p[5] = (unsigned char) type;
	mantis_put_u16(p + 6, h->flags);
	mantis_put_u64(p + 8, h->sender);
	mantis_put_u64(p + 16, h->incarnation);
	mantis_put_u64(p + 24, h->hlc);
	return p + MANTIS_FRAME_HEADER_SIZE;
}
extern size_t mantis_frame_greeting_frame_size(uint8_t version, const MantisGreeting *g);
extern size_t mantis_frame_put_hello(unsigned char *p, const MantisFrameHeader *h,
									 const MantisGreeting *g);
extern size_t mantis_frame_put_welcome(unsigned char *p, const MantisFrameHeader *h,
									   const MantisGreeting *g);

/*
 * UPDATES is built in place: its head with a register count of 0
 * (MANTIS_FRAME_UPDATES_HEAD_SIZE bytes), then registers appended with
 * mantis_codec_put_register(), then the count set in the finished frame.
 */
extern size_t mantis_frame_put_updates_head(unsigned char *p,
											const MantisFrameHeader *h,
											uint32_t round, uint16_t group);
extern void mantis_frame_updates_set_count(unsigned char *frame, uint32_t count);
/* the last frame of a live batch: set BATCH_END and its watermark */
extern void mantis_frame_updates_end_batch(unsigned char *frame, uint64_t watermark);

extern size_t mantis_frame_put_summary(unsigned char *p, const MantisFrameHeader *h,
									   uint32_t round, uint64_t root);
extern size_t mantis_frame_put_insync(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round, const MantisLiveMark *mark);
/* digests in host order */
extern size_t mantis_frame_put_groups(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round, const MantisLiveMark *mark,
									  const uint64_t digests[MANTIS_DIGEST_GROUPS]);
extern size_t mantis_frame_put_leaves(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round, uint16_t group,
									  const uint64_t digests[MANTIS_DIGEST_GROUP_LEAVES]);

/*
 * The decoder, of untrusted bytes (TOMBS: common/tombs.c's
 * mantis_frame_decode_tombs()); and digest i of a decoded GROUPS or LEAVES
 */
extern const char *mantis_frame_decode(const void *data, size_t len,
									   MantisFrame *frame);
extern const char *mantis_frame_decode_tombs(const unsigned char *p,
											 const unsigned char *end,
											 MantisFrame *f);
extern uint64_t mantis_frame_digest(const MantisFrame *f, int i);

#endif							/* MANTIS_FRAME_H */
