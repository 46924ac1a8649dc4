/*-------------------------------------------------------------------------
 * replication/links.c
 *	  Our connections to the peers we list: what their socket monitors
 *	  say (replication/transport.c), what mantis_peers shows of them, and
 *	  when to make one again.
 *
 * libzmq reconnects a connection that closed or could not be made, by
 * itself, every 250 ms.  But libzmq 4.3 gives up for good on a connection
 * whose handshake the peer refused - our CURVE key is not (yet) in its
 * mantis.curve_peers_file, or it had mantis.max_inbound_connections
 * connections already - and on one whose security mechanism differs (one
 * of us has CURVE, the other not).  The monitor says so, and we make that
 * peer's socket again after a backoff: 1 s, doubling to 30 s, back to 1 s
 * once the peer answers.  A connection whose handshake is done but whose
 * peer does not answer our greetings for mantis.peer_timeout is made again
 * the same way.  A reload (mantis.peers, mantis.curve_peers_file) makes
 * every connection that is not working again at once, so that the fix of
 * a refusal takes effect in a moment.
 *
 * What the monitor says is also the truth mantis_peers shows: a peer is
 * "connected" only while our connection's handshake is done and it
 * answers; a closed connection makes it "connecting" at once (and "down"
 * after mantis.peer_timeout without an answer); and last_error names the
 * cause of a connection that does not work (a refusal and why, a failed
 * handshake, no TCP connection, no answer), logged with the peer's
 * endpoint and node at most once a minute for each cause.
 *
 * A pair of servers of which only one lists the other is found by what
 * they do (a peer we list that never greets our listener, a node that
 * greets it without our listing it), shown as mantis_peers.listing and
 * warned of once: it stops collection by acknowledgement everywhere, and
 * the side that does not list the other never repairs from it.
 *
 * Locking: none; the replication worker alone runs this.
 *
 * IDENTIFICATION	src/replication/links.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "replication/links.h"
#include "replication/peers.h"
#include "replication/repair.h"
#include "replication/security.h"
#include "replication/transport.h"

#define BACKOFF_MAX_MS			30000
#define HANDSHAKE_LIMIT_MS		6000
#define LISTING_GRACE_MS		35000	/* longer than a backoff of 30 s */
#define LISTED_NAMED_MS			1000	/* a few greetings, apart */

static bool sockets_changed = false;

/* The node a peer is, or is expected to be (CURVE), or why not known */
static const char *
label(const Peer *peer)
{
	if (peer->name[0])
		return peer->name;
	return peer->expected[0] ? peer->expected : "not identified yet";
}

/* How long a connection may go without an answer before it is made again */
static int
answer_limit_ms(const Peer *peer)
{
	int			limit = Max(mantis_peer_timeout_ms, peer->link.backoff_ms);

	/* the peer drops a handshake after 5 s (ZMQ_HANDSHAKE_IVL): its word */
	return peer->link.handshaken ? limit : Max(limit, HANDSHAKE_LIMIT_MS);
}

/* A frame came on our connection to the peer: it works. */
void
mantis_link_answered(Peer *peer, TimestampTz now)
{
	peer->link.last_answer = now;
	peer->link.backoff_ms = MANTIS_LINK_BACKOFF_FIRST_MS;
	peer->link.retry_at = 0;
}

/*
 * Whether a peer we were connected to has not answered on our connection
 * for mantis.peer_timeout: connected still, or connecting again since its
 * connection closed.
 */
bool
mantis_link_silent(const Peer *peer, TimestampTz now)
{
	if (peer->state != MANTIS_PEER_CONNECTED &&
		!(peer->state == MANTIS_PEER_CONNECTING && peer->link.was_connected))
		return false;
	return TimestampDifferenceExceeds(peer->link.last_answer, now, mantis_peer_timeout_ms);
}

/* Make the socket again after the backoff, which doubles. */
static void
retry_later(Peer *peer, TimestampTz now)
{
	PeerLink   *l = &peer->link;

	l->given_up = true;
	if (l->retry_at == 0)
	{
		l->retry_at = TimestampTzPlusMilliseconds(now, l->backoff_ms);
		l->backoff_ms = Min(l->backoff_ms * 2, BACKOFF_MAX_MS);
	}
}

/* The connection closed: a peer connected is no longer. */
static void
link_lost(Peer *peer, TimestampTz now)
{
	peer->link.tcp_up = false;
	peer->link.handshaken = false;
	peer->link.closed = true;
	if (peer->state != MANTIS_PEER_CONNECTED)
		return;
	peer->link.was_connected = true;
	mantis_peer_set_state(peer, MANTIS_PEER_CONNECTING, now);
	mantis_peer_problem(peer, LOG, "peer %s (node %s): the connection closed; reconnecting",
						peer->endpoint, label(peer));
}

/* The peer refused our handshake (a ZAP status): libzmq gives up. */
static void
link_refused(Peer *peer, int status, TimestampTz now)
{
	if (status == 300)
		mantis_peer_problem(peer, WARNING,
							"peer %s (node %s) refused our connection: it is over its connection limit (its \"mantis.max_inbound_connections\"); retrying",
							peer->endpoint, label(peer));
	else if (status == 400 && mantis_curve_keys())
		mantis_peer_problem(peer, WARNING,
							"peer %s (node %s) refused our connection: our CURVE key is not allowed there (not in its \"mantis.curve_peers_file\"); retrying",
							peer->endpoint, label(peer));
	else
		mantis_peer_problem(peer, WARNING,
							"peer %s (node %s) refused our connection (status %d)%s; retrying",
							peer->endpoint, label(peer), status,
							mantis_curve_keys() ? "" : ": it may require CURVE");
	retry_later(peer, now);
}

/* What a connection's monitor said (MantisLinkFn). */
static void
on_link_event(int slot, MantisLinkEvent event, int value)
{
	Peer	   *peer = mantis_peer_for_conn(slot);
	TimestampTz now = GetCurrentTimestamp();

	if (peer == NULL)
		return;
	switch (event)
	{
		case MANTIS_LINK_TCP_UP:
			peer->link.tcp_up = true;
			peer->link.opened_at = now;
			break;
		case MANTIS_LINK_TCP_FAILED:
			/* libzmq's retry after a close is no failure to connect */
			if (peer->link.closed)
				peer->link.closed = false;
			else if (peer->state != MANTIS_PEER_CONNECTED)
				mantis_peer_problem(peer, LOG,
									"could not connect to peer %s (node %s): connection refused or unreachable; retrying",
									peer->endpoint, label(peer));
			break;
		case MANTIS_LINK_LOST:
			link_lost(peer, now);
			break;
		case MANTIS_LINK_UP:
			peer->link.handshaken = true;
			peer->link.opened_at = now;
			break;
		case MANTIS_LINK_REFUSED:
			link_lost(peer, now);
			link_refused(peer, value, now);
			break;
		case MANTIS_LINK_MECHANISM:
			link_lost(peer, now);
			mantis_peer_problem(peer, WARNING,
								"the handshake with peer %s (node %s) failed: %s; retrying",
								peer->endpoint, label(peer),
								mantis_curve_keys() ? "this server uses CURVE and it does not" :
								"it uses CURVE and this server does not");
			retry_later(peer, now);
			break;
		case MANTIS_LINK_FAILED:
			/* a wrong server key, or a ZAP status 300: the peer only closes */
			link_lost(peer, now);
			mantis_peer_problem(peer, WARNING,
								"the handshake with peer %s (node %s) failed: it closed the connection: %s; retrying",
								peer->endpoint, label(peer),
								mantis_curve_keys() ?
								"its CURVE key is not the one \"mantis.curve_peers_file\" gives for that endpoint, or it is over its connection limit (its \"mantis.max_inbound_connections\")" :
								"it is over its connection limit (its \"mantis.max_inbound_connections\"), or not a mantis server");
			break;
	}
}

void
mantis_links_start(void)
{
	sockets_changed = false;
	mantis_transport_on_link(on_link_event);
}

/* Make a peer's socket again, at once. */
static void
relink(Peer *peer, TimestampTz now)
{
	char		reason[MANTIS_ERROR_TEXT_SIZE];

	mantis_transport_disconnect(peer->conn);
	peer->conn = mantis_transport_connect(peer->endpoint,
										  mantis_curve_keys() ? peer->server_key : NULL,
										  reason, sizeof(reason));
	/* the slot just freed is there to take: only libzmq itself can fail */
	if (peer->conn < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("mantis could not connect to peer %s again: %s", peer->endpoint, reason)));
	if (peer->repair.round != 0)
		mantis_repair_end_round(peer, now, false);
	peer->link.reconnects++;
	mantis_link_opened(&peer->link, now);
	mantis_peer_changed();
	sockets_changed = true;
}

/*
 * Whether a peer's handshake is done (or its TCP connection open) for
 * longer than the answer limit without an answer: its socket is made again.
 */
static bool
unanswered(Peer *peer, TimestampTz now)
{
	PeerLink   *l = &peer->link;

	if (!l->tcp_up || peer->state == MANTIS_PEER_CONNECTED ||
		peer->state == MANTIS_PEER_REFUSED || l->last_answer > l->opened_at)
		return false;
	if (!TimestampDifferenceExceeds(l->opened_at, now, answer_limit_ms(peer)))
		return false;
	mantis_peer_problem(peer, WARNING,
						"peer %s (node %s) has not answered for %d ms %s; connecting again",
						peer->endpoint, label(peer), answer_limit_ms(peer),
						l->handshaken ? "since our handshake" : "on an open TCP connection whose handshake never ended");
	l->backoff_ms = Min(l->backoff_ms * 2, BACKOFF_MAX_MS);
	return true;
}

/* A HELLO of the peer's node came to our listener: it lists us. */
void
mantis_link_greeted_us(Peer *peer, TimestampTz now)
{
	peer->link.greeted_us = now;
}

/* Whether every peer we list has said which node it is */
static bool
every_listed_identified(void)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];

		if (peer->used && peer->conn >= 0 && !peer->identified)
			return false;
	}
	return true;
}

/*
 * Whether a peer is listed on one side only, by what it does.  A node that
 * greets our listener while every peer we list has said which node it is,
 * none this one, is listed there only.  A peer we list that answers us but
 * has not greeted our listener for the grace period does not list us - or
 * its connection to us fails (a refusal, a backoff of up to 30 s): the
 * warning says both.
 */
static MantisListing
listing_of(const Peer *peer, TimestampTz now)
{
	int			grace = Max(3 * mantis_peer_timeout_ms, LISTING_GRACE_MS);

	if (peer->is_self || !peer->identified)
		return MANTIS_LISTING_UNKNOWN;
	if (peer->conn < 0)
		return every_listed_identified() &&
			TimestampDifferenceExceeds(peer->since, now, LISTED_NAMED_MS) ?
			MANTIS_LISTING_THERE_ONLY : MANTIS_LISTING_UNKNOWN;
	if (peer->state != MANTIS_PEER_CONNECTED)
		return peer->link.listing;
	if (!TimestampDifferenceExceeds(peer->link.greeted_us, now, grace))
		return MANTIS_LISTING_BOTH;
	return TimestampDifferenceExceeds(peer->since, now, grace) ?
		MANTIS_LISTING_HERE_ONLY : peer->link.listing;
}

/*
 * Warn once each time a peer becomes listed on one side only: collection
 * by acknowledgement stops on every server (R1, R2 of common/rules.h), and
 * the side that does not list the other starts no repair rounds with it.
 */
static void
check_listing(Peer *peer, TimestampTz now)
{
	MantisListing listing = listing_of(peer, now);

	if (listing == peer->link.listing)
		return;
	peer->link.listing = listing;
	mantis_peer_changed();
	if (listing == MANTIS_LISTING_HERE_ONLY)
		ereport(WARNING,
				(errmsg("mantis: peer %s (node %s) answers but has not greeted this server for %d s: it does not list this server in its \"mantis.peers\", or its connection to this server fails (see its mantis_peers.last_error)",
						peer->endpoint, label(peer),
						Max(3 * mantis_peer_timeout_ms, LISTING_GRACE_MS) / 1000),
				 errdetail("Collection by acknowledgement stops on every server, and that server starts no repair rounds with this one: what it missed while away, deletions included, stays there."),
				 errhint("Add this server's endpoint (\"mantis.listen\" = %s) to \"mantis.peers\" on %s, and reload it.",
						 mantis_listen, label(peer))));
	else if (listing == MANTIS_LISTING_THERE_ONLY)
		ereport(WARNING,
				(errmsg("mantis: node \"%s\" connects to this server, which does not list it in \"mantis.peers\"%s",
						label(peer),
						mantis_peer_endpoints == NULL || mantis_peer_endpoints[0] == '\0' ? " (it lists no peers)" : ""),
				 errdetail("Collection by acknowledgement stops on every server, and this server starts no repair rounds with that node: what this server missed while away, deletions included, stays here."),
				 errhint("Add the endpoint of node \"%s\" to \"mantis.peers\" here, and reload.",
						 label(peer))));
}

/* Make again the sockets libzmq gave up on, or that get no answer. */
void
mantis_links_tick(TimestampTz now)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (!peer->used)
			continue;
		check_listing(peer, now);
		if (peer->conn < 0)
			continue;
		if ((peer->link.given_up && peer->link.retry_at != 0 && now >= peer->link.retry_at) ||
			unanswered(peer, now))
			relink(peer, now);
	}
}

/* After a reload: every connection that does not work is made again now. */
void
mantis_links_reload(TimestampTz now)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (!peer->used || peer->conn < 0 || peer->is_self ||
			peer->state == MANTIS_PEER_CONNECTED || peer->state == MANTIS_PEER_REFUSED)
			continue;
		peer->link.backoff_ms = MANTIS_LINK_BACKOFF_FIRST_MS;
		relink(peer, now);
	}
}

/* The earlier of "wake" and the next re-creation due */
TimestampTz
mantis_links_wake_at(TimestampTz wake)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		const Peer *peer = &mantis_peer_table[i];

		if (peer->used && peer->conn >= 0 && peer->link.retry_at != 0)
			wake = Min(wake, peer->link.retry_at);
	}
	return wake;
}

/* Whether sockets were made again since the last call: the wait set is stale. */
bool
mantis_links_sockets_changed(void)
{
	bool		changed = sockets_changed;

	sockets_changed = false;
	return changed;
}
