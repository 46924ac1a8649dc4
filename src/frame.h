/*-------------------------------------------------------------------------
 * frame.h
 *	  Replication frames (frame.c): their layouts, and an encoder beside
 *	  the decoder of each type.
 *
 * Pure C like codec.c: no server headers, no allocation; the decoder reads
 * untrusted bytes.
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

#define MANTIS_UPDATES_PREFIX_SIZE	(4 + 2 + 4)

#define MANTIS_FRAME_ENCODING_MAX	31

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

#endif							/* MANTIS_FRAME_H */
