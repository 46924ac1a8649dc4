/*-------------------------------------------------------------------------
 * replication/peer_view.h
 *	  The mantis_peers view: what the replication worker publishes of its
 *	  peers, and what api/monitor.c reads (replication/peer_view.c).
 *
 * IDENTIFICATION	src/replication/peer_view.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PEER_VIEW_H
#define MANTIS_PEER_VIEW_H

#include "datatype/timestamp.h"

#include "mantis.h"

typedef enum MantisPeerState
{
	MANTIS_PEER_CONNECTING,		/* configured, never heard from */
	MANTIS_PEER_CONNECTED,		/* answered within mantis.peer_timeout */
	MANTIS_PEER_DOWN,			/* silent for longer than that */
	MANTIS_PEER_REFUSED,		/* this server itself, its node id, or a
								 * node whose limits differ from ours */
	MANTIS_PEER_INBOUND			/* not configured here; it connects to us */
} MantisPeerState;

typedef struct MantisPeerCounters
{
	uint64		messages_in;
	uint64		bytes_in;
	uint64		messages_out;
	uint64		bytes_out;
	uint64		dropped;		/* messages we could not queue */
	uint64		applied;		/* registers that won and were stored */
	uint64		malformed;		/* messages or registers refused as malformed */
	uint64		skewed;			/* registers too far in the future */
	uint64		stale;			/* registers older than what we hold */
	uint64		no_room;		/* registers the full store could not take */
	uint64		refused;		/* connections refused at their handshake */
	uint64		mismatched;		/* messages from a peer refused at its
								 * greeting: its limits differ from ours */
	uint64		held;			/* registers not re-sent because the peer
								 * refused them before */
	uint64		collected;		/* registers refused: copies of ones
								 * collected here (replication/horizon.c) */
	uint64		adopted;		/* registers of ours dropped: the peer had
								 * collected them (replication/repair.c) */
	uint64		rounds;			/* our repair rounds with it that completed */
	/* unattributed only: our listener's connections */
	uint64		inbound;		/* open now */
	uint64		over_limit;		/* refused: mantis.max_inbound_connections
								 * were open */
} MantisPeerCounters;

/* One row of mantis_peers, as the replication worker last published it */
typedef struct MantisPeerView
{
	char		endpoint[MANTIS_ENDPOINT_MAX];	/* "" for inbound-only */
	char		name[MANTIS_NODE_NAME_MAX + 1]; /* "" until known */
	uint64		node_id;
	MantisPeerState state;
	TimestampTz since;
	TimestampTz last_message;	/* 0: never */
	MantisPeerCounters counters;
	bool		offset_known;
	int64		clock_offset_ms;
	uint64		acked;			/* it holds our writes through this HLC */
	int			protocol;		/* the version in use with it; 0: nothing
								 * heard from it yet */
	uint8		proto_min;		/* the versions it advertised; 0: not known */
	uint8		proto_max;
	TimestampTz last_repair;	/* our last completed round with it; 0: none */
	uint64		reconnects;		/* our connection made again (links.c) */
	int			listing;		/* MantisListing (replication/links.h) */
	char		last_error[MANTIS_ERROR_TEXT_SIZE];
} MantisPeerView;

extern Size mantis_peer_view_shmem_size(void);
extern void mantis_peer_view_shmem_request(void);
extern void mantis_peer_view_shmem_init(void *place, bool found);
extern void mantis_peer_view_publish(const MantisPeerView *views, int n,
									 const MantisPeerCounters *unattributed,
									 const char *clash);
extern void mantis_peer_view_clash(char *clash, size_t size);
extern int	mantis_peer_view_copy(MantisPeerView **views,
								  MantisPeerCounters *unattributed);

#endif							/* MANTIS_PEER_VIEW_H */
