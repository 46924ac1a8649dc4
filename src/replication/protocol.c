/*-------------------------------------------------------------------------
 * replication/protocol.c
 *	  The replication protocol's conversation: greetings and the identity of
 *	  peers, the checks every received message passes, the dispatch of frames
 *	  to replication/live.c and replication/repair.c, and the worker's timers
 *	  (the version in use with each peer is replication/version.c's).
 *
 * Runs in the replication worker (replication/worker.c), over
 * replication/transport.c.  On our connection to a peer P: HELLO every second,
 * and sooner when it carries news for P (an acknowledgement, news_due());
 * P answers WELCOME (name, node id, incarnation, limits).  The first answer,
 * an answer after mantis.peer_timeout of silence (a healed partition) and an
 * answer with a new incarnation (a restart, however fast) each start a repair
 * round at once: that is how a node that joins or rejoins catches up, without
 * anyone's intervention.  P's own connection to us works the same way the
 * other round.
 *
 * Both greetings carry the sender's mantis.max_key_size,
 * mantis.max_value_size and database encoding.  A peer whose limits differ
 * from ours is refused: a register one of us holds the other could not
 * store, or even receive (ZMQ_MAXMSGSIZE follows the limits, and libzmq
 * drops a connection that passes it).  Nothing but greetings then goes to
 * it, and nothing else from it is taken (counted in rejected_limits), until
 * a greeting with our limits - from a restart of it with other settings -
 * ends the refusal; its WELCOME then starts a repair round, as for a
 * rejoin.
 *
 * Protocol versions: the version in use with each peer, and its greetings,
 * are replication/version.c's.
 *
 * Every message carries the sender's clock; ours moves past it unless it is
 * more than mantis.max_clock_offset ahead of our wall clock.  Every byte
 * received is checked by common/frame.c before use; a bad message is dropped,
 * counted and logged at most once a minute per peer.  A frame claiming our own
 * node id is refused.  With CURVE, a peer speaks only for the node its key is
 * bound to in mantis.curve_peers_file (replication/security.c): frames
 * claiming another node are dropped and counted, and a key removed from the
 * file by a reload is refused at its next connection and its messages dropped
 * at once.
 *
 * Locking: none here; replication/peer_view.c takes the mantis_peer_view lock
 * to publish.
 *
 * IDENTIFICATION	src/replication/protocol.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "log_limit.h"
#include "nodes.h"
#include "store/collect.h"
#include "replication/horizon.h"
#include "replication/live.h"
#include "replication/news.h"
#include "replication/outbox.h"
#include "replication/peer_clock.h"
#include "replication/peers.h"
#include "replication/protocol.h"
#include "replication/repair.h"
#include "replication/security.h"
#include "replication/tombs.h"
#include "replication/transport.h"
#include "replication/version.h"

#define HELLO_INTERVAL_MS		1000	/* to a connected peer */
#define HELLO_RETRY_MS			100 /* to one we have not heard from */
#define NEWS_HELLO_MS			50	/* the least time between greetings with news */

/* ---- CURVE: what replication/transport.c asks, and what it tells ---- */

/* MantisAuthorizeFn: the ZAP handler asks whether a client key may in. */
static bool
authorize_key(const unsigned char *key, char *name, size_t name_size,
			  const char *address)
{
	if (mantis_curve_key_allowed(key, name, name_size))
		return true;
	mantis_peer_counters(NULL)->refused++;
	mantis_peer_problem(NULL, LOG, "refused a client at %s whose CURVE key is not in \"mantis.curve_peers_file\"",
						address[0] ? address : "an unknown address");
	return false;
}

/*
 * MantisRefusedFn: a handshake with our listener failed.  libzmq tells the
 * client's address only to the ZAP handler; else (NULL) we name none.
 */
static void
connection_refused(const char *address, const char *why)
{
	mantis_peer_counters(NULL)->refused++;
	if (address == NULL)
		mantis_peer_problem(NULL, LOG, "refused a connection to this server's \"mantis.listen\" (%s): %s",
							mantis_listen, why);
	else
		mantis_peer_problem(NULL, LOG, "refused a connection from %s: %s",
							address[0] ? address : "an unknown address", why);
}

/* MantisInboundFn: the connections to our listener changed. */
static void
inbound_changed(int open, bool over_limit)
{
	MantisPeerCounters *c = mantis_peer_counters(NULL);

	c->inbound = (uint64) open;
	if (over_limit)
		c->over_limit++;
}

/*
 * With CURVE, whether a frame may speak for the node it claims: on our
 * listener, the node its key is bound to (and still allowed); on our
 * connection, the node bound to the key of that endpoint.
 */
static bool
sender_authentic(Peer *via, const MantisMessage *m, const MantisFrame *f)
{
	const char *bound;
	char		id[MANTIS_NODE_ID_TEXT_SIZE];

	if (!mantis_curve_keys())
		return true;
	bound = via ? via->expected : m->user_id;
	if (bound == NULL || bound[0] == '\0' || (!via && !mantis_curve_name_allowed(bound)))
	{
		mantis_peer_counters(NULL)->malformed++;
		mantis_peer_problem(via, LOG, "dropped a message from %s: its key is no longer allowed",
							bound && bound[0] ? bound : "a client");
		return false;
	}
	if (f->sender != mantis_node_id_of(bound))
	{
		mantis_peer_counters(via)->malformed++;
		mantis_peer_problem(via, WARNING,
							"dropped a message from node \"%s\" claiming to come from node id %s: a peer speaks only for the node its key is bound to",
							bound, mantis_node_id_text(f->sender, id));
		return false;
	}
	return true;
}

/* ---- greetings and identity ---- */

static void
remember_name(Peer *peer, const MantisFrame *f)
{
	char		name[MANTIS_NODE_NAME_MAX + 1];

	memcpy(name, f->greeting.name, f->greeting.name_len);
	name[f->greeting.name_len] = '\0';
	if (peer && strcmp(peer->name, name) != 0)
	{
		strlcpy(peer->name, name, sizeof(peer->name));
		mantis_peer_changed();
	}
	mantis_nodes_remember(f->sender, name);
}

/*
 * A WELCOME on our connection tells which node is at its endpoint.  Returns
 * true for a new node or a new incarnation of it (a restart).
 */
static bool
identify(Peer *peer, const MantisFrame *f)
{
	if (!peer->identified || peer->node_id != f->sender)
	{
		/* fold the counters of an inbound-only peer of that node into ours */
		for (int i = 0; i < MANTIS_MAX_PEERS; i++)
		{
			Peer	   *other = &mantis_peer_table[i];

			if (other != peer && other->used && other->conn < 0 &&
				other->identified && other->node_id == f->sender)
				mantis_peer_absorb(peer, other);
		}
		if (peer->identified)
		{
			char		now_id[MANTIS_NODE_ID_TEXT_SIZE];
			char		was_id[MANTIS_NODE_ID_TEXT_SIZE];

			ereport(LOG,
					(errmsg("mantis: peer %s is now node %s (was %s)", peer->endpoint,
							mantis_node_id_text(f->sender, now_id),
							mantis_node_id_text(peer->node_id, was_id))));
			mantis_horizon_other_node(peer);
		}
		peer->identified = true;
		peer->node_id = f->sender;
		peer->incarnation = f->incarnation;
		return true;
	}
	if (peer->incarnation != f->incarnation)
	{
		peer->incarnation = f->incarnation;
		return true;
	}
	return false;
}

/*
 * A WELCOME with our limits: a new node, a new incarnation, or the end of
 * a silence or of a refusal start a repair round.
 */
static void
on_connection_alive(Peer *peer, bool rejoin, TimestampTz now)
{
	if (peer->state != MANTIS_PEER_CONNECTED)
	{
		ereport(LOG,
				(errmsg("mantis: peer %s (%s) is connected", peer->endpoint, mantis_peer_label(peer))));
		mantis_peer_set_state(peer, MANTIS_PEER_CONNECTED, now);
		rejoin = true;
	}
	/*
	 * A round begun with its previous run (or another node at that endpoint)
	 * would end only on an answer of this one (replication/repair.c) or at
	 * its deadline, and the next begin a retry interval later: end it now,
	 * and begin one with this run at once.
	 */
	if (rejoin && peer->repair.round != 0 &&
		peer->repair.round_incarnation != peer->incarnation)
		mantis_repair_end_round(peer, now, false);
	if (rejoin && peer->repair.round == 0)
		mantis_repair_start_round(peer, now);
}

/*
 * Whether the limits in a greeting are ours; if not, says why in reason.
 */
static bool
limits_match(const Peer *peer, const MantisGreeting *g, char *reason, size_t size)
{
	const char *label = peer ? mantis_peer_label(peer) : "an unknown node";

	if (g->max_key_size != (uint32) mantis_max_key_size)
		snprintf(reason, size, "peer %s has \"mantis.max_key_size\" = %u bytes, this server %d",
				 label, g->max_key_size, mantis_max_key_size);
	else if (g->max_value_size != (uint32) mantis_max_value_size)
		snprintf(reason, size, "peer %s has \"mantis.max_value_size\" = %u bytes, this server %d",
				 label, g->max_value_size, mantis_max_value_size);
	else if (g->encoding_len != strlen(mantis_outbox_encoding()) ||
			 memcmp(g->encoding, mantis_outbox_encoding(), g->encoding_len) != 0)
		snprintf(reason, size, "peer %s has database encoding %.*s, this server %s",
				 label, (int) g->encoding_len, g->encoding, mantis_outbox_encoding());
	else
		return true;
	return false;
}

/*
 * Judge a peer's greeting (a HELLO on our listener or a WELCOME on our
 * connection).  A peer whose limits differ from ours is refused: a value
 * one of us accepts, the other could not store or even receive (ZeroMQ
 * drops a connection that sends a message larger than its
 * ZMQ_MAXMSGSIZE), so no register goes either way until a greeting with
 * our limits comes (from a restart of the peer).  Returns true if the
 * greeting has our limits.
 */
static bool
check_greeting(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	char		reason[MANTIS_ERROR_TEXT_SIZE];

	if (peer == NULL)
		return true;			/* no room to remember it: as before greetings */
	if (limits_match(peer, &f->greeting, reason, sizeof(reason)))
	{
		if (peer->greeting == GREETING_REFUSED)
		{
			ereport(LOG,
					(errmsg("mantis: peer %s now has the limits of this server", mantis_peer_label(peer))));
			/* an outbound peer is connected by the WELCOME that follows */
			mantis_peer_set_state(peer, peer->conn < 0 ? MANTIS_PEER_INBOUND : MANTIS_PEER_CONNECTING, now);
		}
		peer->greeting = GREETING_OK;
		return true;
	}
	if (peer->greeting != GREETING_REFUSED)
	{
		peer->greeting = GREETING_REFUSED;
		mantis_peer_drop_queue(peer);
		if (peer->repair.round != 0)
			mantis_repair_end_round(peer, now, false);
		mantis_peer_problem(peer, WARNING,
							"%s: every server must have the same \"mantis.max_key_size\", \"mantis.max_value_size\" and database encoding",
							reason);
	}
	mantis_peer_set_state(peer, MANTIS_PEER_REFUSED, now);
	return false;
}

/* ---- what every message passes ---- */

/*
 * Frames other than greetings from a refused peer are dropped and counted.
 */
static bool
refused_frame(Peer *from, const MantisFrame *f)
{
	if (from == NULL || from->greeting != GREETING_REFUSED ||
		f->type == MANTIS_FRAME_HELLO || f->type == MANTIS_FRAME_WELCOME)
		return false;
	mantis_peer_counters(from)->mismatched++;
	return true;
}

/*
 * Frames whose sender claims our own node id never get further.  Our own
 * greeting, come back to our listener because mantis.peers lists us under
 * another address than mantis.listen (peers.c catches that one), is
 * answered, so that the link it came by learns it leads to us and counts
 * as no member (replication/horizon.c): else our member set would stay
 * unknown, and collection by acknowledgement never start, anywhere.  Until
 * a frame of another node comes by it (handle_message()): the address
 * moved (a proxy, a virtual IP), and the link counts again.
 */
static bool
refuse_own_id(Peer *via, const MantisMessage *m, const MantisFrame *f, TimestampTz now)
{
	char		id[MANTIS_NODE_ID_TEXT_SIZE];

	if (f->sender != mantis_self_node_id())
		return false;
	mantis_peer_counters(via)->malformed++;
	if (via)
		mantis_peer_set_state(via, MANTIS_PEER_REFUSED, now);
	if (f->incarnation == mantis_outbox_incarnation())
	{
		if (via)
			via->is_self = true;
		else if (f->type == MANTIS_FRAME_HELLO)
		{
			mantis_outbox_welcome(NULL, Min(f->version, mantis_protocol_spoken()));
			(void) mantis_outbox_reply(NULL, m);
		}
		mantis_peer_problem(via, LOG, "peer %s is this server itself; ignoring it (remove this server's own address from \"mantis.peers\")",
							via ? via->endpoint : "(inbound)");
	}
	else
	{
		char		where[MANTIS_ERROR_TEXT_SIZE];

		if (via)
			snprintf(where, sizeof(where), "peer %s", via->endpoint);
		else
			snprintf(where, sizeof(where), "a server at %s that connected to us",
					 m->peer_address ? m->peer_address : "an unknown address");
		mantis_peers_note_clash(where, via != NULL, now);
		/* answered, so that it finds the clash too, naming our endpoint */
		if (!via && f->type == MANTIS_FRAME_HELLO)
		{
			mantis_outbox_welcome(NULL, Min(f->version, mantis_protocol_spoken()));
			(void) mantis_outbox_reply(NULL, m);
		}
		mantis_peer_problem(via, WARNING,
							"refusing %s: it has the same node id as this server (%s, node name \"%s\") and another run; give each server its own \"mantis.node_name\" (servers cloned with pg_basebackup share the default, node-<system identifier>)",
							where, mantis_node_id_text(mantis_self_node_id(), id),
							mantis_self_node_name());
	}
	return true;
}

static void
observe_clock(Peer *peer, uint64 hlc)
{
	int64		offset = (int64) mantis_hlc_ms(hlc) - (int64) mantis_clock_wall_ms();

	if (peer)
		mantis_peer_clock_heard(peer, hlc);
	if (offset <= mantis_max_clock_offset_ms)
		mantis_clock_witness(hlc);
}

/*
 * A peer's request on our listener; false if frames of its type do not
 * come that way.
 */
static bool
handle_request(Peer *from, const MantisMessage *m, const MantisFrame *f, TimestampTz now)
{
	switch (f->type)
	{
		case MANTIS_FRAME_HELLO:
			remember_name(from, f);
			if (from)
				mantis_link_greeted_us(from, now);
			if (from && from->conn < 0)
				from->incarnation = f->incarnation;
			mantis_repair_note_incarnation(from, f->incarnation);
			if (check_greeting(from, f, now))
				mantis_horizon_on_greeting(from, f, mantis_outbox_incarnation());
			/* answered even when refused: so the peer learns why */
			mantis_outbox_welcome(from, Min(f->version, mantis_protocol_spoken()));
			mantis_outbox_reply(from, m);
			return true;
		case MANTIS_FRAME_UPDATES:
			/* live changes, or registers a puller found we lack */
			(void) mantis_live_merge(from, f, 0);
			mantis_repair_digests_changed();
			return true;
		case MANTIS_FRAME_TOMBS:
			/* hash tombstones a puller found we lack (R7) */
			(void) mantis_tombs_merge(from, f, 0, NULL);
			mantis_repair_digests_changed();
			return true;
		case MANTIS_FRAME_SUMMARY:
			mantis_repair_answer_summary(from, m, f);
			return true;
		case MANTIS_FRAME_LEAVES:
			mantis_repair_answer_leaves(from, m, f);
			return true;
	}
	return false;
}

/*
 * An answer on our connection to a peer; false if frames of its type do
 * not come that way.
 */
static bool
handle_answer(Peer *via, const MantisFrame *f, TimestampTz now)
{
	switch (f->type)
	{
		case MANTIS_FRAME_WELCOME:
			{
				bool		rejoin;

				remember_name(via, f);
				rejoin = identify(via, f);
				mantis_repair_note_incarnation(via, f->incarnation);
				if (check_greeting(via, f, now))
				{
					mantis_horizon_on_greeting(via, f, mantis_outbox_incarnation());
					on_connection_alive(via, rejoin, now);
				}
				return true;
			}
		case MANTIS_FRAME_INSYNC:
			if (mantis_repair_answer_current(via, f, now))
				mantis_repair_on_insync(via, f, now);
			return true;
		case MANTIS_FRAME_GROUPS:
			if (mantis_repair_answer_current(via, f, now))
				mantis_repair_on_groups(via, f, now);
			return true;
		case MANTIS_FRAME_UPDATES:
			if (f->group == MANTIS_LIVE_GROUP)
				return false;
			if (mantis_repair_answer_current(via, f, now))
				mantis_repair_on_updates(via, f, now);
			return true;
		case MANTIS_FRAME_LEAVES:
			if (mantis_repair_answer_current(via, f, now))
				mantis_repair_on_leaves(via, f, now);
			return true;
		case MANTIS_FRAME_TOMBS:
			if (mantis_repair_answer_current(via, f, now))
				mantis_repair_on_tombs(via, f, now);
			return true;
	}
	return false;
}

/*
 * Check a message and hand it to the handler of its direction: decode it
 * (common/frame.c trusts nothing), refuse our own node id and, with CURVE, a
 * sender speaking for a node its key is not bound to, count it against its
 * peer, observe its clock, and drop what a refused peer sends.
 */
static void
handle_message(const MantisMessage *m, TimestampTz now)
{
	Peer	   *via = m->source >= 0 ? mantis_peer_for_conn(m->source) : NULL;
	Peer	   *from;
	MantisFrame f;
	MantisPeerCounters *c;
	const char *err = m->malformed ? "not a single-part message" :
		mantis_frame_decode(m->data, m->len, &f);

	if (err)
	{
		c = mantis_peer_counters(via);
		c->messages_in++;
		c->bytes_in += m->len;
		c->malformed++;
		mantis_peer_problem(via, LOG, "dropped a malformed message from %s: %s",
							via ? mantis_peer_label(via) : "an unknown sender", err);
		return;
	}
	if (refuse_own_id(via, m, &f, now) || !sender_authentic(via, m, &f))
		return;
	/* another node by a link that led to us: the address has moved */
	if (via && via->is_self)
	{
		via->is_self = false;
		mantis_peer_changed();
	}

	from = via ? via : mantis_peer_for_node(f.sender, now);
	c = mantis_peer_counters(from);
	c->messages_in++;
	c->bytes_in += m->len;
	if (from)
		from->last_recv = now;
	if (via)
		mantis_link_answered(via, now);
	observe_clock(from, f.hlc);
	mantis_version_note(from, &f, now);
	if (refused_frame(from, &f))
		return;

	if (m->source < 0 ? handle_request(from, m, &f, now) : handle_answer(via, &f, now))
		return;
	mantis_peer_counters(from)->malformed++;
	mantis_peer_problem(from, LOG, "dropped a message of type %d from %s where it does not belong",
						f.type, from ? mantis_peer_label(from) : "an unknown sender");
}

/*
 * Handle what has arrived, at most "budget" messages; returns true if more
 * may be waiting.
 */
bool
mantis_protocol_receive(int budget)
{
	MantisMessage m;
	TimestampTz now = GetCurrentTimestamp();

	while (budget-- > 0)
	{
		if (!mantis_transport_recv(&m))
			return false;
		handle_message(&m, now);
	}
	return true;
}

/* ---- time ---- */

/*
 * Greet a connected or refused peer each second; one we have not heard
 * from more often, so that a join or the end of a partition is noticed at
 * once.
 */
static int
hello_interval(const Peer *peer)
{
	return peer->state == MANTIS_PEER_CONNECTED || peer->state == MANTIS_PEER_REFUSED ?
		HELLO_INTERVAL_MS : HELLO_RETRY_MS;
}

/*
 * Whether a peer fell silent for mantis.peer_timeout: a connected one, or
 * a refused one (which only answers our greetings, once a second: it gets
 * a few of them), else mantis_peers would show it refused, for reasons of
 * a server that is no longer there.  Never the link to ourselves.
 */
static bool
fell_silent(const Peer *peer, TimestampTz now)
{
	if (mantis_link_silent(peer, now))
		return true;
	if (peer->state == MANTIS_PEER_REFUSED && !peer->is_self)
		return TimestampDifferenceExceeds(peer->link.last_answer, now,
										  Max(mantis_peer_timeout_ms, 3 * HELLO_INTERVAL_MS));
	return false;
}

/* A connected or refused peer fell silent: a partition, or it stopped. */
static void
peer_down(Peer *peer, TimestampTz now)
{
	ereport(LOG,
			(errmsg("mantis: peer %s (%s) is down: nothing heard for %d ms",
					peer->endpoint, mantis_peer_label(peer), mantis_peer_timeout_ms)));
	mantis_peer_set_state(peer, MANTIS_PEER_DOWN, now);
	peer->link.was_connected = false;
	mantis_peer_drop_queue(peer);
	/* it may come back restarted with another library: greet it in 3 */
	mantis_version_forget(peer, now);
	if (peer->repair.round != 0)
		mantis_repair_end_round(peer, now, false);
}

static void
greet(Peer *peer, TimestampTz now)
{
	mantis_version_greet(peer, now);
	mantis_news_told(peer);
	peer->last_hello = now;
}

/*
 * Whether a connected peer is owed a greeting now for what it would learn
 * from it (mantis_news_for()): an acknowledgement, or our "stable".  At
 * most one each NEWS_HELLO_MS, so that a stream of writes, which moves
 * both all the time, costs a few greetings a second and no more.
 */
static bool
news_due(const Peer *peer, TimestampTz now)
{
	return peer->used && peer->conn >= 0 && peer->state == MANTIS_PEER_CONNECTED &&
		peer->greeting == GREETING_OK && mantis_news_for(peer) &&
		TimestampDifferenceExceeds(peer->last_hello, now, NEWS_HELLO_MS);
}

/*
 * Greet peers, notice silent ones, run the repair timers, and publish the
 * view when it is due; then greet at once the peers that have news coming
 * (news_due()).
 */
void
mantis_protocol_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();

	mantis_repair_digests_changed();
	mantis_peers_forget_silent(now);
	mantis_version_apply_max(now);
	mantis_links_tick(now);
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (!peer->used || peer->conn < 0)
			continue;
		mantis_live_drain(peer);
		if (TimestampDifferenceExceeds(peer->last_hello, now, hello_interval(peer)))
			greet(peer, now);
		if (fell_silent(peer, now))
			peer_down(peer, now);
		if (peer->state == MANTIS_PEER_CONNECTED)
			mantis_repair_tick(peer, now);
	}
	mantis_horizon_tick();
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (news_due(peer, now))
			greet(peer, now);
	}
	mantis_peers_publish(now, false);
}

/* Milliseconds until mantis_protocol_tick() has something to do. */
long
mantis_protocol_sleep_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = TimestampTzPlusMilliseconds(now, HELLO_INTERVAL_MS);
	TimestampTz publish_at = mantis_peers_publish_due();

	if (mantis_news_retick())
		return 0;				/* a greeting moved an acknowledgement: tick now */
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (!peer->used || peer->conn < 0)
			continue;
		wake = Min(wake, TimestampTzPlusMilliseconds(peer->last_hello, hello_interval(peer)));
		if (peer->state == MANTIS_PEER_CONNECTED && peer->greeting == GREETING_OK &&
			mantis_news_for(peer))
			wake = Min(wake, TimestampTzPlusMilliseconds(peer->last_hello, NEWS_HELLO_MS));
		if (peer->state == MANTIS_PEER_CONNECTED)
			wake = Min(wake, mantis_repair_wake_at(peer));
	}
	if (publish_at != 0)
		wake = Min(wake, publish_at);
	wake = mantis_links_wake_at(wake);
	wake = Min(wake, mantis_live_wake_at());
	return mantis_clock_ms_until(wake);
}

void
mantis_protocol_start(void)
{
	mantis_outbox_start();
	mantis_peers_start();
	mantis_live_start();
	mantis_repair_start();
	mantis_curve_load();
	mantis_links_start();
	mantis_transport_start(mantis_listen, mantis_outbox_max_frame(),
						   mantis_curve_keys(), authorize_key, connection_refused,
						   inbound_changed);
	(void) mantis_peers_configure();
	mantis_peers_publish(GetCurrentTimestamp(), true);
}

/* The view while no replication worker runs: no rows. */
void
mantis_protocol_stop(void)
{
	mantis_peers_stop();
	mantis_collect_publish_mode(-1, NULL, 0);
}
