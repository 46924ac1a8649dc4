/*-------------------------------------------------------------------------
 * replication/outbox.c
 *	  The replication worker's frames: built one at a time with
 *	  common/frame.c's encoders, then sent on our connection to a peer or as an
 *	  answer on our listener, and counted.
 *
 * Every frame carries our node id, this run's incarnation (a random number
 * drawn when the worker starts, so that peers notice a restart however
 * fast) and our clock.  Greetings also carry our limits and the database
 * encoding, and in version 4 the versions we speak (3 to
 * mantis.protocol_max) and what replication/horizon.c fills in.
 *
 * Versions.  A greeting is built in the version its caller gives
 * (replication/protocol.c: the one in use with the peer, or the version of
 * the HELLO it answers).  TOMBS is version 5, and goes only to a peer at 5
 * (replication/tombs.c).  Every other frame is version 3, whoever it goes
 * to: its layout is the same in version 4, every server of this library or
 * an older one takes it, and so one live UPDATES frame still serves every
 * peer (replication/live.c builds it once and sends it to all).
 *
 * An UPDATES frame is closed once it passes UPDATES_TARGET_BYTES, unless a
 * single register is larger still; so mantis_outbox_max_frame(), which
 * ZMQ_MAXMSGSIZE is set from, follows mantis.max_key_size and
 * mantis.max_value_size.  Peers whose limits differ refuse each other at
 * their greeting, so it is also the largest a peer sends us; greetings are
 * tiny, and always pass.
 *
 * IDENTIFICATION	src/replication/outbox.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/tombs.h"
#include "replication/outbox.h"

#define UPDATES_TARGET_BYTES	(256 * 1024)

static uint64 my_incarnation;
static const char *my_encoding; /* of mantis.database, sent in greetings */
static StringInfoData frame;	/* the frame built last */

StaticAssertDecl(MANTIS_CODEC_NODE_NAME_MAX == MANTIS_NODE_NAME_MAX,
				 "a node name must fit the one-byte length of its entry");
StaticAssertDecl(MANTIS_DIGEST_GROUPS * MANTIS_DIGEST_GROUP_LEAVES == MANTIS_LEAVES,
				 "the repair tree's groups cover every leaf");

void
mantis_outbox_start(void)
{
	if (!pg_strong_random(&my_incarnation, sizeof(my_incarnation)))
		my_incarnation = (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp();
	my_encoding = GetDatabaseEncodingName();
	if (strlen(my_encoding) > MANTIS_FRAME_ENCODING_MAX)
		elog(ERROR, "database encoding name \"%s\" is too long for a greeting",
			 my_encoding);
	if (frame.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&frame);
		MemoryContextSwitchTo(old);
	}
}

uint64
mantis_outbox_incarnation(void)
{
	return my_incarnation;
}

const char *
mantis_outbox_encoding(void)
{
	return my_encoding;
}

size_t
mantis_outbox_max_frame(void)
{
	size_t		one = MANTIS_CODEC_REGISTER_OVERHEAD + (size_t) mantis_max_key_size +
		(size_t) mantis_max_value_size;

	return MANTIS_FRAME_UPDATES_HEAD_SIZE + Max((size_t) UPDATES_TARGET_BYTES, one) + 1024;
}

/* ---- building ---- */

/* the header of our frames: version 3 but for greetings of version 4 */
static MantisFrameHeader
our_header(int version)
{
	MantisFrameHeader h;

	h.version = (uint8) version;
	h.sender = mantis_self_node_id();
	h.incarnation = my_incarnation;
	h.hlc = mantis_clock_peek();
	h.flags = 0;
	return h;
}

/* Room for a new frame of "size" bytes; returns where to encode it */
static unsigned char *
frame_reset(size_t size)
{
	resetStringInfo(&frame);
	enlargeStringInfo(&frame, (int) size);
	return (unsigned char *) frame.data;
}

/*
 * The body of HELLO and WELCOME to a peer: who we are, the limits peers
 * share, and what collection needs (replication/horizon.c).
 */
static MantisGreeting
our_greeting(const Peer *to)
{
	MantisGreeting g;

	memset(&g, 0, sizeof(g));
	g.name = mantis_self_node_name();
	g.name_len = strlen(g.name);
	g.max_key_size = (uint32) mantis_max_key_size;
	g.max_value_size = (uint32) mantis_max_value_size;
	g.encoding = my_encoding;
	g.encoding_len = strlen(my_encoding);
	/* written in version 4 only, which is sent only up to this */
	g.proto_min = MANTIS_FRAME_VERSION_MIN;
	g.proto_max = (uint8) mantis_protocol_spoken();
	mantis_horizon_fill_greeting(to, &g);
	return g;
}

void
mantis_outbox_hello(const Peer *to, int version)
{
	MantisFrameHeader h = our_header(version);
	MantisGreeting g = our_greeting(to);
	unsigned char *p = frame_reset(mantis_frame_greeting_frame_size(h.version, &g));

	frame.len = (int) mantis_frame_put_hello(p, &h, &g);
}

void
mantis_outbox_welcome(const Peer *to, int version)
{
	MantisFrameHeader h = our_header(version);
	MantisGreeting g = our_greeting(to);
	unsigned char *p = frame_reset(mantis_frame_greeting_frame_size(h.version, &g));

	frame.len = (int) mantis_frame_put_welcome(p, &h, &g);
}

void
mantis_outbox_summary(uint32 round, uint64 root)
{
	MantisFrameHeader h = our_header(MANTIS_FRAME_VERSION_MIN);
	unsigned char *p = frame_reset(MANTIS_FRAME_SUMMARY_SIZE);

	frame.len = (int) mantis_frame_put_summary(p, &h, round, root);
}

void
mantis_outbox_insync(uint32 round, const MantisLiveMark *mark)
{
	MantisFrameHeader h = our_header(MANTIS_FRAME_VERSION_MIN);
	unsigned char *p = frame_reset(MANTIS_FRAME_INSYNC_SIZE);

	frame.len = (int) mantis_frame_put_insync(p, &h, round, mark);
}

/* GROUPS: MANTIS_DIGEST_GROUPS group digests */
void
mantis_outbox_groups(uint32 round, const MantisLiveMark *mark, const uint64 *digests)
{
	MantisFrameHeader h = our_header(MANTIS_FRAME_VERSION_MIN);
	unsigned char *p = frame_reset(MANTIS_FRAME_GROUPS_SIZE);

	frame.len = (int) mantis_frame_put_groups(p, &h, round, mark, digests);
}

/*
 * LEAVES: the MANTIS_DIGEST_GROUP_LEAVES leaf digests of a group; flags
 * MANTIS_FRAME_HELD_BACK on an answer that held registers back.  Version 3,
 * but 5 for an answer that carried the group's hash tombstones (to a peer
 * at 5: replication/tombs.c), which the puller may then acknowledge.
 */
void
mantis_outbox_leaves(uint32 round, uint16 group, const uint64 *digests, uint16 flags,
					 int version)
{
	MantisFrameHeader h = our_header(version);
	unsigned char *p = frame_reset(MANTIS_FRAME_LEAVES_SIZE);

	h.flags = flags;

	frame.len = (int) mantis_frame_put_leaves(p, &h, round, group, digests);
}

const char *
mantis_outbox_data(void)
{
	return frame.data;
}

int
mantis_outbox_len(void)
{
	return frame.len;
}

/* ---- UPDATES ---- */

void
mantis_updates_begin(MantisUpdates *u)
{
	MantisFrameHeader h = our_header(MANTIS_FRAME_VERSION_MIN);
	unsigned char *p = frame_reset(MANTIS_FRAME_UPDATES_HEAD_SIZE);

	frame.len = (int) mantis_frame_put_updates_head(p, &h, u->round, u->group);
	u->count = 0;
}

/* Close the frame: its count is now known. */
void
mantis_updates_end(MantisUpdates *u)
{
	mantis_frame_updates_set_count((unsigned char *) frame.data, u->count);
}

/* Close the last frame of a live batch, with the batch's watermark. */
void
mantis_updates_end_batch(MantisUpdates *u, uint64 watermark)
{
	mantis_updates_end(u);
	mantis_frame_updates_end_batch((unsigned char *) frame.data, watermark);
}

/* MantisRecordCallback: add one register, flushing full frames on the way */
void
mantis_updates_add(const MantisRecord *rec, void *arg)
{
	MantisUpdates *u = (MantisUpdates *) arg;
	size_t		size = mantis_codec_register_size(rec);

	if (u->count > 0 && frame.len + size > UPDATES_TARGET_BYTES)
	{
		mantis_updates_end(u);
		u->flush(u);
		mantis_updates_begin(u);
	}
	enlargeStringInfo(&frame, (int) size);
	mantis_codec_put_register((unsigned char *) frame.data + frame.len, rec);
	frame.len += (int) size;
	u->count++;
}

/* ---- TOMBS (protocol 5, replication/tombs.c) ---- */

/* Begin a TOMBS frame: the head, its counts 0 */
void
mantis_outbox_tombs_begin(uint32 round, uint16 group)
{
	MantisFrameHeader h = our_header(MANTIS_FRAME_VERSION_TOMBS);
	unsigned char *p = frame_reset(MANTIS_FRAME_TOMBS_HEAD_SIZE);

	frame.len = (int) mantis_frame_put_tombs_head(p, &h, round, group);
}

void
mantis_outbox_tombs_record(const MantisRecordView *r)
{
	enlargeStringInfo(&frame, MANTIS_TOMB_RECORD_SIZE);
	mantis_tomb_put_record((unsigned char *) frame.data + frame.len, r);
	frame.len += MANTIS_TOMB_RECORD_SIZE;
}

void
mantis_outbox_tombs_bound(int leaf, const MantisLeafBound *b)
{
	MantisTombBound t = {(uint16) leaf, *b};

	enlargeStringInfo(&frame, MANTIS_TOMB_BOUND_SIZE);
	mantis_tomb_put_bound((unsigned char *) frame.data + frame.len, &t);
	frame.len += MANTIS_TOMB_BOUND_SIZE;
}

/* Close the frame with what it holds */
void
mantis_outbox_tombs_end(uint32 records, uint16 bounds)
{
	mantis_frame_tombs_set_counts((unsigned char *) frame.data, records, bounds);
}

/* ---- sending ---- */

/* Send the frame on our connection to a peer; false if it was dropped. */
bool
mantis_outbox_send(Peer *peer)
{
	MantisPeerCounters *c;

	if (peer->conn < 0)
		return false;
	c = mantis_peer_counters(peer);
	if (!mantis_transport_send(peer->conn, frame.data, frame.len))
	{
		c->dropped++;
		return false;
	}
	c->messages_out++;
	c->bytes_out += frame.len;
	return true;
}

/* Send the frame as the answer to a request on our listener. */
bool
mantis_outbox_reply(Peer *peer, const MantisMessage *m)
{
	MantisPeerCounters *c = mantis_peer_counters(peer);

	if (!mantis_transport_reply(m, frame.data, frame.len))
	{
		c->dropped++;
		return false;
	}
	c->messages_out++;
	c->bytes_out += frame.len;
	return true;
}
