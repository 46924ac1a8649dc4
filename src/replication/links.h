/*-------------------------------------------------------------------------
 * replication/links.h
 *	  Our connections to the peers we list: what their monitors say, and
 *	  when to make them again (replication/links.c).
 *
 * IDENTIFICATION	src/replication/links.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LINKS_H
#define MANTIS_LINKS_H

#include "datatype/timestamp.h"

/* Whether both of a pair of servers list each other in mantis.peers */
typedef enum MantisListing
{
	MANTIS_LISTING_UNKNOWN = 0,
	MANTIS_LISTING_BOTH,		/* we connect to it, it to us */
	MANTIS_LISTING_HERE_ONLY,	/* we list it; it never connects to us */
	MANTIS_LISTING_THERE_ONLY	/* it connects to us; we do not list it */
} MantisListing;

/* Our connection to a peer, as its monitor tells it (a part of Peer) */
typedef struct PeerLink
{
	bool		tcp_up;			/* a TCP connection is open */
	bool		handshaken;		/* ... and its handshake is done */
	bool		given_up;		/* libzmq will not try again by itself */
	bool		was_connected;	/* connected once since it last went down */
	bool		closed;			/* closed: libzmq's retry comes next */
	int			backoff_ms;		/* before the next re-creation */
	TimestampTz opened_at;		/* the socket made, or its TCP connection */
	TimestampTz retry_at;		/* make the socket again then; 0: no need */
	TimestampTz last_answer;	/* the last frame on our connection */
	uint64		reconnects;		/* sockets made again */
	TimestampTz greeted_us;		/* its last HELLO on our listener */
	MantisListing listing;		/* warned of when it became one-sided */
} PeerLink;

#define MANTIS_LINK_BACKOFF_FIRST_MS	1000

/* The socket of a peer was made (again): nothing known of it yet. */
static inline void
mantis_link_opened(PeerLink *l, TimestampTz now)
{
	l->tcp_up = false;
	l->handshaken = false;
	l->given_up = false;
	l->closed = false;
	l->opened_at = now;
	l->retry_at = 0;
	if (l->backoff_ms == 0)
		l->backoff_ms = MANTIS_LINK_BACKOFF_FIRST_MS;
}

struct Peer;

extern void mantis_links_start(void);
extern void mantis_link_answered(struct Peer *peer, TimestampTz now);
extern void mantis_link_greeted_us(struct Peer *peer, TimestampTz now);
extern bool mantis_link_silent(const struct Peer *peer, TimestampTz now);
extern void mantis_links_tick(TimestampTz now);
extern void mantis_links_reload(TimestampTz now);
extern TimestampTz mantis_links_wake_at(TimestampTz wake);
extern bool mantis_links_sockets_changed(void);

#endif							/* MANTIS_LINKS_H */
