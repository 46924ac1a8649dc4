/*-------------------------------------------------------------------------
 * replication/peers.c
 *	  The replication worker's table of peers: making them match
 *	  mantis.peers, finding the peer a message counts against, their
 *	  counters and problems, and publishing them as mantis_peers.
 *
 * Each configured peer gets a connection of ours (replication/transport.c
 * allocates its slot); a node that connects to us without being configured
 * here gets an inbound-only peer, so that its traffic is counted and shown
 * too, until it has been silent for INBOUND_FORGET_MS.  Messages from no peer
 * we could name (malformed ones from an unknown sender, a full table) count as
 * "unattributed", shown in mantis_status.
 *
 * Every change of what mantis_peers shows goes through this file
 * (mantis_peer_counters(), mantis_peer_set_state(), mantis_peer_problem(),
 * mantis_peer_changed()), and the worker publishes the rows at most every
 * PUBLISH_INTERVAL_MS (replication/peer_view.c), not at every change.
 *
 * A problem with a peer is kept as its last_error and logged at most once a
 * minute for the same kind of problem (log_limit.c).
 *
 * IDENTIFICATION	src/replication/peers.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "log_limit.h"
#include "common/rules.h"
#include "replication/peers.h"
#include "replication/security.h"
#include "replication/transport.h"

#define PUBLISH_INTERVAL_MS		100
#define INBOUND_FORGET_MS		600000	/* silent inbound-only peers are freed */
#define CLASH_SHOWN_MS			60000	/* a node id clash is shown this long */

Peer	   *mantis_peer_table = NULL;

static MantisPeerCounters unattributed;
static char clash[MANTIS_ERROR_TEXT_SIZE];	/* another server with our node id */
static TimestampTz clash_at = 0;
static bool changed_since_publish = true;
static TimestampTz last_publish = 0;

void
mantis_peers_start(void)
{
	mantis_peer_table = MemoryContextAllocZero(TopMemoryContext,
											   sizeof(Peer) * MANTIS_MAX_PEERS);
}

/* The view while no replication worker runs: no rows. */
void
mantis_peers_stop(void)
{
	if (mantis_peer_table)
		memset(mantis_peer_table, 0, sizeof(Peer) * MANTIS_MAX_PEERS);
	changed_since_publish = true;
	mantis_peers_publish(GetCurrentTimestamp(), true);
}

static Peer *
peer_new(void)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (!mantis_peer_table[i].used)
		{
			memset(&mantis_peer_table[i], 0, sizeof(Peer));
			mantis_peer_table[i].used = true;
			mantis_peer_table[i].conn = -1;
			mantis_peer_table[i].acks.hole_ts = MANTIS_RULES_NO_HOLE;
			mantis_peer_table[i].proto = MANTIS_FRAME_VERSION_MIN;
			mantis_peer_table[i].proto_heard = MANTIS_FRAME_VERSION_MIN;
			return &mantis_peer_table[i];
		}
	}
	return NULL;
}

Peer *
mantis_peer_for_conn(int conn)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (mantis_peer_table[i].used && mantis_peer_table[i].conn == conn)
			return &mantis_peer_table[i];
	}
	return NULL;
}

/*
 * The peer a node's messages to our listener count against: the
 * configured peer with that node id, else its inbound-only peer, made on
 * first contact (NULL if the table is full).
 */
Peer *
mantis_peer_for_node(uint64 node_id, TimestampTz now)
{
	Peer	   *inbound = NULL;
	Peer	   *peer;

	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		peer = &mantis_peer_table[i];
		if (!peer->used || !peer->identified || peer->node_id != node_id)
			continue;
		if (peer->conn >= 0)
			return peer;
		inbound = peer;
	}
	if (inbound)
		return inbound;
	peer = peer_new();
	if (peer == NULL)
		return NULL;
	peer->state = MANTIS_PEER_INBOUND;
	peer->since = now;
	peer->identified = true;
	peer->node_id = node_id;
	changed_since_publish = true;
	return peer;
}

/*
 * The counters a message or register counts in: the peer's, or (peer NULL)
 * the unattributed ones.  The view is republished at the next chance.
 */
MantisPeerCounters *
mantis_peer_counters(Peer *peer)
{
	changed_since_publish = true;
	return peer ? &peer->c : &unattributed;
}

/* Something mantis_peers shows of a peer changed, other than counters. */
void
mantis_peer_changed(void)
{
	changed_since_publish = true;
}

void
mantis_peer_set_state(Peer *peer, MantisPeerState state, TimestampTz now)
{
	if (peer->state == state)
		return;
	peer->state = state;
	peer->since = now;
	changed_since_publish = true;
}

/*
 * Free a peer's queue of live frames; each frame in it counts as dropped.
 */
void
mantis_peer_drop_queue(Peer *peer)
{
	while (peer->queue.head)
	{
		QueuedFrame *q = peer->queue.head;

		peer->queue.head = q->next;
		pfree(q);
		peer->c.dropped++;
	}
	peer->queue.tail = NULL;
	peer->queue.bytes = 0;
	changed_since_publish = true;
}

static void
counters_add(MantisPeerCounters *to, const MantisPeerCounters *from)
{
	to->messages_in += from->messages_in;
	to->bytes_in += from->bytes_in;
	to->messages_out += from->messages_out;
	to->bytes_out += from->bytes_out;
	to->dropped += from->dropped;
	to->applied += from->applied;
	to->malformed += from->malformed;
	to->skewed += from->skewed;
	to->stale += from->stale;
	to->no_room += from->no_room;
	to->refused += from->refused;
	to->mismatched += from->mismatched;
	to->held += from->held;
	to->collected += from->collected;
	to->adopted += from->adopted;
	to->rounds += from->rounds;
}

/*
 * A configured peer turned out to be a node that had an inbound-only peer
 * of its own: take over its counters, its refusal and what it learnt of the
 * node's protocol in the same incarnation, and free it.
 */
void
mantis_peer_absorb(Peer *peer, Peer *other)
{
	counters_add(&peer->c, &other->c);
	/* a hole of either is one of the node's (replication/horizon.c) */
	if (other->acks.hole_ts != MANTIS_RULES_NO_HOLE)
	{
		peer->acks.hole_ts = mantis_rules_hole_after(peer->acks.hole_ts, other->acks.hole_ts);
		peer->acks.hole_count++;
	}
	if (other->proto_known && other->proto_incarnation == peer->proto_incarnation &&
		other->proto_heard > peer->proto_heard)
	{
		peer->proto_heard = other->proto_heard;
		peer->proto_min = other->proto_min;
		peer->proto_max = other->proto_max;
	}
	/* the later reading of its clock (replication/peer_clock.c) */
	if (other->offset_known &&
		(!peer->offset_known || other->clock.read_at > peer->clock.read_at))
	{
		peer->offset_known = true;
		peer->offset_ms = other->offset_ms;
		peer->clock = other->clock;
	}
	if (other->greeting == GREETING_REFUSED)
	{
		/* refused already, and logged: not twice */
		peer->greeting = GREETING_REFUSED;
		strlcpy(peer->last_error, other->last_error, sizeof(peer->last_error));
	}
	mantis_peer_drop_queue(other);
	other->used = false;
	changed_since_publish = true;
}

/*
 * Holes of peers that gave their place back (replication/horizon.c): what
 * we refused of them we still lack, so the hole stays, until every member
 * has completed a round with us since, holding nothing back.
 */
static uint64 orphan_hole_ts = MANTIS_RULES_NO_HOLE;
static TimestampTz orphan_hole_at = 0;

void
mantis_peers_orphan_hole(uint64 hole_ts)
{
	if (hole_ts == MANTIS_RULES_NO_HOLE)
		return;
	orphan_hole_ts = mantis_rules_hole_after(orphan_hole_ts, hole_ts);
	orphan_hole_at = GetCurrentTimestamp();
}

uint64
mantis_peers_orphan(TimestampTz *since)
{
	*since = orphan_hole_at;
	return orphan_hole_ts;
}

void
mantis_peers_orphan_closed(void)
{
	orphan_hole_ts = MANTIS_RULES_NO_HOLE;
}

/* A peer's entry is freed: its hole stays ours */
static void
peer_free(Peer *peer)
{
	mantis_peers_orphan_hole(peer->acks.hole_ts);
	peer->used = false;
}

/* An inbound-only node silent for long gives its place back. */
void
mantis_peers_forget_silent(TimestampTz now)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (peer->used && peer->conn < 0 &&
			TimestampDifferenceExceeds(peer->last_recv, now, INBOUND_FORGET_MS))
		{
			peer_free(peer);
			changed_since_publish = true;
		}
	}
}

/*
 * Record a problem with a peer (or with an unknown sender when peer is NULL)
 * and log it, at most once a minute for the same kind of problem (the
 * same format) with the same peer.
 */
void
mantis_peer_problem(Peer *peer, int elevel, const char *fmt,...)
{
	char		message[MANTIS_ERROR_TEXT_SIZE];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	if (peer)
	{
		strlcpy(peer->last_error, message, sizeof(peer->last_error));
		changed_since_publish = true;
	}
	if (!mantis_log_due(peer, fmt))
		return;
	ereport(elevel,
			(errmsg("mantis: %s", message),
			 errdetail("The same problem with this peer is logged at most once a minute; mantis_peers and mantis_status count every occurrence.")));
}

/*
 * Another server greets with our node id ("where" it is): shown in
 * mantis_status.node_id_clash until none has come for a minute.  A peer's
 * endpoint (its answer to our connection) says more than the address its
 * own connection comes from: it is kept while it keeps coming.
 */
void
mantis_peers_note_clash(const char *where, bool endpoint, TimestampTz now)
{
	static bool clash_endpoint = false;

	if (!endpoint && clash_endpoint &&
		!TimestampDifferenceExceeds(clash_at, now, 5000))
		return;
	clash_endpoint = endpoint;
	if (strcmp(clash, where) != 0)
		changed_since_publish = true;
	strlcpy(clash, where, sizeof(clash));
	clash_at = now;
}

const char *
mantis_peer_label(const Peer *peer)
{
	if (peer->name[0])
		return peer->name;
	return peer->endpoint[0] ? peer->endpoint : "an unknown node";
}

/*
 * A listed endpoint that is our own mantis.listen: we would greet
 * ourselves, and count ourselves twice among the members (R1 of
 * common/rules.h), so that collection by acknowledgement never starts.
 * Warn, and leave it out.  (Another spelling of our address is caught when
 * our greeting comes back to us: replication/protocol.c logs it, and
 * mantis_status.collection names the endpoint that never answers.)
 */
static bool
lists_ourselves(const char *endpoint)
{
	if (mantis_listen == NULL || strcmp(endpoint, mantis_listen) != 0)
		return false;
	ereport(WARNING,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("mantis: \"mantis.peers\" lists this server's own address %s; ignoring it", endpoint),
			 errhint("List only the other servers in \"mantis.peers\".")));
	return true;
}

/*
 * Make the peers match mantis.peers: connect new endpoints, drop removed
 * ones (their counters go with them).  Returns true if the set of
 * connections changed.
 */
bool
mantis_peers_configure(void)
{
	char		endpoints[MANTIS_MAX_CONFIGURED_PEERS][MANTIS_ENDPOINT_MAX];
	const char *error = NULL;
	int			n = mantis_parse_peers(mantis_peer_endpoints, endpoints, &error);
	bool		changed = false;
	TimestampTz now = GetCurrentTimestamp();

	if (n < 0)
		n = 0;					/* the check hook let nothing bad through */
	mantis_curve_reload_peers();

	/* drop the peers no longer listed */
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];
		bool		listed = false;

		if (!peer->used || peer->conn < 0)
			continue;
		for (int j = 0; j < n; j++)
			listed |= strcmp(peer->endpoint, endpoints[j]) == 0;
		if (listed && (!mantis_curve_keys() || strcmp(peer->server_key, mantis_curve_key_for_endpoint(peer->endpoint, NULL)) == 0))
			continue;
		ereport(LOG, (errmsg("mantis: peer %s removed", peer->endpoint)));
		mantis_peer_drop_queue(peer);
		mantis_transport_disconnect(peer->conn);
		peer_free(peer);
		changed = true;
	}

	/* connect the new ones */
	for (int j = 0; j < n; j++)
	{
		bool		known = false;
		Peer	   *peer;
		char		reason[MANTIS_ERROR_TEXT_SIZE];

		for (int i = 0; i < MANTIS_MAX_PEERS; i++)
			known |= mantis_peer_table[i].used && mantis_peer_table[i].conn >= 0 &&
				strcmp(mantis_peer_table[i].endpoint, endpoints[j]) == 0;
		if (known || lists_ourselves(endpoints[j]))
			continue;
		peer = peer_new();
		if (peer == NULL)
		{
			ereport(WARNING, (errmsg("mantis: no room for peer %s", endpoints[j])));
			continue;
		}
		strlcpy(peer->endpoint, endpoints[j], sizeof(peer->endpoint));
		peer->state = MANTIS_PEER_CONNECTING;
		peer->since = now;
		if (mantis_curve_keys())
		{
			strlcpy(peer->server_key, mantis_curve_key_for_endpoint(peer->endpoint, peer->expected), sizeof(peer->server_key));
			if (peer->server_key[0] == '\0')
			{
				ereport(WARNING,
						(errmsg("mantis will not connect to peer %s: \"mantis.curve_peers_file\" gives no key for that endpoint",
								peer->endpoint),
						 errhint("Add a line \"NODE_NAME PUBLIC_KEY %s\" to the peers file and reload.", peer->endpoint)));
				peer->used = false;
				continue;
			}
		}
		peer->conn = mantis_transport_connect(peer->endpoint,
											  mantis_curve_keys() ? peer->server_key : NULL,
											  reason, sizeof(reason));
		if (peer->conn < 0)
		{
			ereport(WARNING,
					(errmsg("mantis could not connect to peer %s: %s", peer->endpoint, reason)));
			peer->used = false;
			continue;
		}
		mantis_link_opened(&peer->link, now);
		ereport(LOG, (errmsg("mantis: peer %s added", peer->endpoint)));
		changed = true;
	}
	changed_since_publish |= changed;
	return changed;
}

/*
 * Publish the rows of mantis_peers if anything changed, at most every
 * PUBLISH_INTERVAL_MS unless "force".
 */
void
mantis_peers_publish(TimestampTz now, bool force)
{
	static MantisPeerView views[MANTIS_MAX_PEERS];
	int			n = 0;

	if (!changed_since_publish ||
		(!force && !TimestampDifferenceExceeds(last_publish, now, PUBLISH_INTERVAL_MS)))
		return;

	for (int i = 0; mantis_peer_table != NULL && i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];
		MantisPeerView *v = &views[n];

		if (!peer->used)
			continue;
		strlcpy(v->endpoint, peer->endpoint, sizeof(v->endpoint));
		strlcpy(v->name, peer->name, sizeof(v->name));
		v->node_id = peer->node_id;
		v->state = peer->state;
		v->since = peer->since;
		v->last_message = peer->last_recv;
		v->counters = peer->c;
		v->offset_known = peer->offset_known;
		v->clock_offset_ms = peer->offset_ms;
		v->acked = peer->acks.acked;
		v->protocol = peer->last_recv != 0 ? peer->proto : 0;
		v->proto_min = peer->proto_min;
		v->proto_max = peer->proto_max;
		v->last_repair = peer->repair.completed_at;
		v->reconnects = peer->link.reconnects;
		v->listing = (int) peer->link.listing;
		strlcpy(v->last_error, peer->last_error, sizeof(v->last_error));
		n++;
	}
	if (clash_at != 0 && TimestampDifferenceExceeds(clash_at, now, CLASH_SHOWN_MS))
	{
		clash[0] = '\0';
		clash_at = 0;
	}
	mantis_peer_view_publish(views, n, &unattributed, clash);
	last_publish = now;
	changed_since_publish = false;
}

/* When the view is next due to be published, or 0 if nothing changed */
TimestampTz
mantis_peers_publish_due(void)
{
	if (!changed_since_publish)
		return 0;
	return TimestampTzPlusMilliseconds(last_publish, PUBLISH_INTERVAL_MS);
}
