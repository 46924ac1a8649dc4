/*-------------------------------------------------------------------------
 * replication/peers.h
 *	  The replication worker's peers (replication/peers.c): one struct per
 *	  peer, with the state each part of the protocol keeps about it.
 *
 * A peer is another mantis server.  One we connect to (listed in mantis.peers)
 * has a connection of ours, a replication/transport.c slot; one that only
 * connects to us is "inbound-only" (conn -1).  Either speaks for a node: a
 * node id and name, learnt from its greetings.  replication/live.c keeps the
 * peer's queue of live frames, replication/repair.c its repair round and the
 * leaves it refused, replication/protocol.c its greeting, identity and the
 * protocol version in use with it; replication/peers.c owns the table, the
 * counters and what mantis_peers shows.
 *
 * IDENTIFICATION	src/replication/peers.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PEERS_H
#define MANTIS_PEERS_H

#include "datatype/timestamp.h"

#include "mantis.h"
#include "common/frame.h"
#include "replication/horizon.h"
#include "replication/links.h"
#include "replication/peer_view.h"
#include "replication/security.h"

/* What the last greeting (HELLO or WELCOME) of a peer said of its limits */
typedef enum GreetingVerdict
{
	GREETING_NONE,				/* no greeting yet */
	GREETING_OK,				/* the same limits as ours */
	GREETING_REFUSED			/* other limits: nothing goes or comes */
} GreetingVerdict;

/* A live frame waiting for room in a peer's ZeroMQ queue (replication/live.c) */
typedef struct QueuedFrame
{
	struct QueuedFrame *next;
	int			len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} QueuedFrame;

typedef struct PeerQueue
{
	QueuedFrame *head;			/* oldest first, in TopMemoryContext */
	QueuedFrame *tail;
	size_t		bytes;
	bool		repair_asap;	/* live frames were lost: repair at once */
} PeerQueue;

/*
 * A leaf whose registers we sent a peer in a repair, and what came of it
 * (replication/repair.c).
 */
typedef struct HeldLeaf
{
	uint64		ours;			/* our leaf digest when we sent them */
	uint64		theirs;			/* the peer's, then */
	uint32		used_at;		/* the held clock when last used */
	uint32		count;			/* registers sent */
	uint16		leaf;
	uint8		skip;			/* occasions still to hold them */
	uint8		backoff;		/* to hold them after the next send; 0: free */
} HeldLeaf;

#define HELD_SETS				256 /* leaves remembered per peer: */
#define HELD_WAYS				4	/* 256 sets of 4, 1024 in all */

/* Our repair round with a peer, as the puller (replication/repair.c) */
typedef struct PeerRepair
{
	uint32		round;			/* 0: none running */
	uint64		round_incarnation;	/* the peer's, when the round began */
	TimestampTz completed_at;	/* when our last round completed; 0: never */
	TimestampTz deadline;
	TimestampTz next_round_at;
	TimestampTz asap_after;		/* no round "at once" before this */
	bool		groups_seen;	/* its GROUPS came: one per round counts */
	bool		wanted[MANTIS_DIGEST_GROUPS];	/* groups still to ask for */
	int			wanted_count;
	bool		asked[MANTIS_DIGEST_GROUPS];	/* LEAVES sent, answer awaited */
	int			in_flight;

	/* leaves the peer refused the registers of, in sets by leaf */
	HeldLeaf	held[HELD_SETS * HELD_WAYS];
	uint64		held_incarnation;	/* the peer's, when they were noted */
} PeerRepair;

/* The peer's clock as its last frame read it (replication/peer_clock.c) */
typedef struct PeerClock
{
	uint64		read_ms;		/* its clock, ms */
	uint64		read_at;		/* when, on our monotonic clock, ms */
	bool		ahead;			/* ours is ahead of it: warned */
} PeerClock;

typedef struct Peer
{
	bool		used;
	int			conn;			/* our connection (replication/transport.c), or -1:
								 * inbound-only */
	char		endpoint[MANTIS_ENDPOINT_MAX];
	MantisPeerState state;
	TimestampTz since;
	TimestampTz last_recv;
	TimestampTz last_hello;

	/* the node it speaks for (replication/protocol.c) */
	bool		identified;		/* node_id, incarnation and name known */
	char		expected[MANTIS_NODE_NAME_MAX + 1]; /* CURVE: the node bound
													 * to this endpoint's key */
	char		server_key[MANTIS_KEY_TEXT_LEN + 1];
	uint64		node_id;
	uint64		incarnation;
	char		name[MANTIS_NODE_NAME_MAX + 1];
	GreetingVerdict greeting;	/* its last greeting against our limits */
	bool		is_self;		/* it is this server, listed under another
								 * address: no member (horizon.c) until
								 * another node answers by it */

	/*
	 * The protocol version in use with it (replication/protocol.c): we greet
	 * it in "proto", 3 until a frame of version 4 came from it in its
	 * current incarnation, and never above mantis.protocol_max.
	 */
	int			proto;
	int			proto_heard;	/* what its frames show it speaks to us */
	bool		proto_known;	/* a frame of it came, in proto_incarnation */
	uint64		proto_incarnation;
	TimestampTz proto_since;	/* when proto last rose */
	TimestampTz last_probe;		/* our last version-4 HELLO to it while at 3 */
	uint8		proto_min;		/* the range of its last version-4 greeting */
	uint8		proto_max;		/* (0: not known, or a version-3 peer) */

	PeerLink	link;			/* replication/links.c: our connection */
	PeerQueue	queue;			/* replication/live.c */
	PeerRepair	repair;			/* replication/repair.c */
	PeerAcks	acks;			/* replication/horizon.c */

	MantisPeerCounters c;		/* through mantis_peer_counters() */
	bool		offset_known;	/* a frame of it came: its clock is known */
	int64		offset_ms;		/* its clock less our wall clock, then */
	PeerClock	clock;			/* replication/peer_clock.c */
	char		last_error[MANTIS_ERROR_TEXT_SIZE];
} Peer;

/* MANTIS_MAX_PEERS entries, in TopMemoryContext; unused ones have !used */
extern Peer *mantis_peer_table;

/*
 * A peer counts as a member (R1): one we list (unless it turned out to be
 * ourselves), or one identified that connects
 */
static inline bool
mantis_peer_counts_as_member(const Peer *peer)
{
	return peer->used && !peer->is_self && (peer->conn >= 0 || peer->identified);
}

extern void mantis_peers_start(void);
extern void mantis_peers_stop(void);
extern bool mantis_peers_configure(void);
extern void mantis_peers_forget_silent(TimestampTz now);
extern void mantis_peers_publish(TimestampTz now, bool force);
extern TimestampTz mantis_peers_publish_due(void);

extern Peer *mantis_peer_for_conn(int conn);
extern void mantis_peers_orphan_hole(uint64 hole_ts);
extern uint64 mantis_peers_orphan(TimestampTz *since);
extern void mantis_peers_orphan_closed(void);
extern Peer *mantis_peer_for_node(uint64 node_id, TimestampTz now);
extern MantisPeerCounters *mantis_peer_counters(Peer *peer);
extern void mantis_peer_changed(void);
extern void mantis_peer_set_state(Peer *peer, MantisPeerState state, TimestampTz now);
extern void mantis_peer_absorb(Peer *peer, Peer *other);
extern void mantis_peer_drop_queue(Peer *peer);
extern const char *mantis_peer_label(const Peer *peer);
extern void mantis_peers_note_clash(const char *where, bool endpoint, TimestampTz now);
extern void mantis_peer_problem(Peer *peer, int elevel, const char *fmt,...) pg_attribute_printf(3, 4);

#endif							/* MANTIS_PEERS_H */
