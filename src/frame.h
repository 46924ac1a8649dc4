/*-------------------------------------------------------------------------
 * frame.h
 *	  Replication frames (frame.c): their layouts, and an encoder beside
 *	  the decoder of each type.
 *
 * Pure C like codec.c: no server headers, no allocation.  The encoders
 * write into memory the caller sized (a server can ask the size, enlarge a
 * StringInfo, then encode); the decoder reads untrusted bytes.
 *
 * IDENTIFICATION	src/frame.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_FRAME_H
#define MANTIS_FRAME_H

#include "codec.h"

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

/* the body of UPDATES before its registers: round, group, register count */
#define MANTIS_UPDATES_PREFIX_SIZE	(4 + 2 + 4)

#define MANTIS_FRAME_ENCODING_MAX	31

/*
 * Whole frames of a fixed size, and the head of an UPDATES frame (header
 * and prefix, before the registers).  frame.c checks each against the sum
 * of its fields.
 */
#define MANTIS_FRAME_UPDATES_HEAD_SIZE	(MANTIS_FRAME_HEADER_SIZE + MANTIS_UPDATES_PREFIX_SIZE)
#define MANTIS_FRAME_SUMMARY_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 8)
#define MANTIS_FRAME_INSYNC_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4)
#define MANTIS_FRAME_GROUPS_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 8 * MANTIS_DIGEST_GROUPS)
#define MANTIS_FRAME_LEAVES_SIZE	(MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 8 * MANTIS_DIGEST_GROUP_LEAVES)

/*
 * What a sender puts in the header of every frame it sends: who it is and
 * when.  The encoders write the rest (magic, version, their own type, flags).
 */
typedef struct MantisFrameHeader
{
	uint64_t	sender;			/* node id */
	uint64_t	incarnation;
	uint64_t	hlc;			/* the sender's HLC time */
} MantisFrameHeader;

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

/* A decoded frame: pointers refer to the decoded input */
typedef struct MantisFrame
{
	/* header: its type, then the fields of a MantisFrameHeader */
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
	/*
	 * GROUPS (256 groups), LEAVES (256 leaves): big-endian u64s, checked;
	 * read them with mantis_frame_digest()
	 */
	const unsigned char *digests;
} MantisFrame;

/* the header fields of a decoded frame, to answer or re-encode it */
static inline MantisFrameHeader
mantis_frame_header(const MantisFrame *f)
{
	MantisFrameHeader h;

	h.sender = f->sender;
	h.incarnation = f->incarnation;
	h.hlc = f->hlc;
	return h;
}

/*
 * Encoders, one per type.  Each writes a whole frame at p, into memory the
 * caller sized with the matching size function or constant, and returns
 * the number of bytes written (that size).  They check nothing: the
 * decoder is the one judge of what is well-formed (which lets the tests
 * encode malformed frames too).  Name and encoding lengths must fit their
 * length byte.
 */
extern size_t mantis_frame_greeting_frame_size(const MantisGreeting *g);
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

extern size_t mantis_frame_put_summary(unsigned char *p, const MantisFrameHeader *h,
									   uint32_t round, uint64_t root);
extern size_t mantis_frame_put_insync(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round);
/* digests in host order */
extern size_t mantis_frame_put_groups(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round,
									  const uint64_t digests[MANTIS_DIGEST_GROUPS]);
extern size_t mantis_frame_put_leaves(unsigned char *p, const MantisFrameHeader *h,
									  uint32_t round, uint16_t group,
									  const uint64_t digests[MANTIS_DIGEST_GROUP_LEAVES]);

/* The decoder, of untrusted bytes; and digest i of a decoded GROUPS or LEAVES */
extern const char *mantis_frame_decode(const void *data, size_t len,
									   MantisFrame *frame);
extern uint64_t mantis_frame_digest(const MantisFrame *f, int i);

#endif							/* MANTIS_FRAME_H */
