/*-------------------------------------------------------------------------
 * replication.c
 *	  The replication protocol: peers and their state, live changes,
 *	  repair rounds, the clock bound, and the mantis_peers view.
 *
 * Runs in the replication worker (replication_worker.c), over transport.c.  Each
 * configured peer gets a connection of ours (a "peer" with a slot); nodes
 * that connect to us without being configured here get an inbound-only
 * peer, so that their traffic is counted and shown too.
 *
 * Conversation, on our connection to a peer P:
 *	- HELLO every second; P answers WELCOME (name, node id, incarnation,
 *	  limits: see below).  The first answer, an answer after
 *	  mantis.peer_timeout of silence (a healed partition) and an answer
 *	  with a new incarnation (a restart, however fast) each start a repair
 *	  round at once: that is how a node that joins or rejoins catches up,
 *	  without anyone's intervention.
 *	- Live changes: every register written here goes out in UPDATES frames
 *	  as soon as the worker wakes (at most one batch a millisecond).
 *	  Nothing waits for an answer.  When a connected peer's ZeroMQ queue is
 *	  full (it is slower than we are for a moment), frames wait in a queue
 *	  of ours of at most LINK_QUEUE_BYTES; past that, or for a peer that is
 *	  not connected, they are dropped and counted, and a repair round
 *	  brings the peer up to date.
 *	- Repair (anti-entropy), every mantis.sync_interval (randomised by
 *	  +-25%): we send our root digest (SUMMARY); P answers INSYNC when its
 *	  root is the same - a round then costs two small frames whatever the
 *	  number of keys - or its 256 group digests (GROUPS).  For each group
 *	  that differs we send our 256 leaf digests (LEAVES); P answers with its
 *	  registers of the leaves that differ (UPDATES) and then its own leaf
 *	  digests (LEAVES); we merge, and send P our registers of the leaves
 *	  that still differ, where we hold something P lacks.  So one round
 *	  repairs both sides, even when P has no connection to us of its own.
 *	  At most REPAIR_WINDOW groups are in flight, so a full state transfer
 *	  to a new node moves in bounded chunks.
 *
 * Both greetings carry the sender's mantis.max_key_size,
 * mantis.max_value_size and database encoding.  A peer whose limits differ
 * from ours is refused: a register one of us holds the other could not
 * store, or even receive (ZMQ_MAXMSGSIZE follows the limits, and libzmq
 * drops a connection that passes it).  Nothing but greetings then goes to
 * it, and nothing else from it is taken (counted in rejected_limits), until
 * a greeting with our limits - from a restart of it with other settings -
 * ends the refusal; its WELCOME then starts a repair round, as for a
 * rejoin.  Live changes go only to a peer whose greeting had our limits.
 *
 * Registers a peer refused are not sent again every round.  A peer with
 * our limits can still refuse registers (its store is full, or its clock
 * is far behind the registers' HLCs), and then the digests of their leaves
 * stay different and every round would send the same registers again.  So
 * each peer remembers the leaves whose registers it sent in a repair, with
 * our leaf digest and the peer's at that time (HELD_SETS x HELD_WAYS
 * leaves; a leaf's set is the leaf modulo HELD_SETS, and its least
 * recently used entry makes room).  When a leaf comes up again with both
 * digests unchanged, the peer took none of them: its registers are held
 * (counted in repair_held) for 1 occasion, then sent again, then held for
 * 2, 4 ... up to HELD_MAX_BACKOFF occasions - an occasion being each repair
 * round, ours or the peer's, that finds the leaf different.  A change of
 * either digest, or a new incarnation of the peer (a restart, say with a
 * larger store), starts over.
 *
 * Every message carries the sender's clock.  A register more than
 * mantis.max_clock_offset ahead of our wall clock is rejected and counted,
 * so that one fast clock cannot win every write; otherwise our clock moves
 * past it.  Every byte received is checked by frame.c before use; a bad
 * message is dropped, counted and logged at most once a minute per peer.
 *
 * With CURVE, a peer speaks only for the node its key is bound to in
 * mantis.curve_peers_file: frames claiming another node are dropped and
 * counted, and a key removed from the file by a reload is refused at its
 * next connection and its messages dropped at once.
 *
 * Locking: the mantis_peers lock, only to publish or read the view.
 *
 * IDENTIFICATION	src/replication.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "port/pg_bitutils.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "log_limit.h"
#include "nodes.h"
#include "peer_view.h"
#include "replication.h"
#include "store.h"
#include "security.h"
#include "transport.h"
#include "frame.h"

#define HELLO_INTERVAL_MS		1000	/* to a connected peer */
#define HELLO_RETRY_MS			100 /* to one we have not heard from */
#define REPAIR_WINDOW			8
#define ROUND_TIMEOUT_MS		10000
#define ROUND_RETRY_MS			1000
#define UPDATES_TARGET_BYTES	(256 * 1024)
#define PUBLISH_INTERVAL_MS		100
#define LIVE_PACE_MS			1	/* least time between two live batches */
#define PEER_QUEUE_BYTES		(8 * 1024 * 1024)	/* live frames held per peer */
#define INBOUND_FORGET_MS		600000	/* silent inbound-only peers are freed */
#define HELD_SETS				256 /* leaves remembered per peer: */
#define HELD_WAYS				4	/* 256 sets of 4, 1024 in all */
#define HELD_MAX_BACKOFF		64	/* most occasions a leaf is held */

/* What the last greeting (HELLO or WELCOME) of a peer said of its limits */
typedef enum GreetingVerdict
{
	GREETING_NONE,				/* no greeting yet */
	GREETING_OK,				/* the same limits as ours */
	GREETING_REFUSED			/* other limits: nothing goes or comes */
} GreetingVerdict;

/*
 * A leaf whose registers we sent a peer in a repair, and what came of it;
 * see the file header.
 */
typedef struct HeldLeaf
{
	uint64		ours;			/* our leaf digest when we sent them */
	uint64		theirs;			/* the peer's, then */
	uint32		used_at;		/* held_clock when last used */
	uint32		count;			/* registers sent */
	uint16		leaf;
	uint8		skip;			/* occasions still to hold them */
	uint8		backoff;		/* to hold them after the next send; 0: free */
} HeldLeaf;

StaticAssertDecl(MANTIS_LEAVES <= 65536, "HeldLeaf.leaf is a uint16");

/* A live frame waiting for room in a peer's ZeroMQ queue */
typedef struct QueuedFrame
{
	struct QueuedFrame *next;
	int			len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} QueuedFrame;

typedef struct Peer
{
	bool		used;
	int			conn;			/* our connection (transport.c), or -1: inbound-only */
	char		endpoint[MANTIS_ENDPOINT_MAX];
	MantisPeerState state;
	TimestampTz since;
	TimestampTz last_recv;
	TimestampTz last_hello;
	bool		identified;		/* node_id, incarnation and name known */
	char		expected[MANTIS_NODE_NAME_MAX + 1]; /* CURVE: the node bound
													 * to this endpoint's key */
	char		server_key[MANTIS_KEY_TEXT_LEN + 1];
	uint64		node_id;
	uint64		incarnation;
	char		name[MANTIS_NODE_NAME_MAX + 1];
	GreetingVerdict greeting;	/* its last greeting against our limits */

	/* live frames ZeroMQ could not take yet, oldest first (TopMemoryContext) */
	QueuedFrame *queue_head;
	QueuedFrame *queue_tail;
	size_t		queued_bytes;
	bool		repair_asap;	/* live frames were lost: repair at once */

	/* our repair round with this peer (we pull) */
	uint32		round;			/* 0: none running */
	TimestampTz round_deadline;
	TimestampTz next_round_at;
	bool		groups_seen;	/* its GROUPS came: one per round counts */
	bool		wanted[MANTIS_DIGEST_GROUPS];	/* groups still to ask for */
	int			wanted_count;
	bool		asked[MANTIS_DIGEST_GROUPS];	/* LEAVES sent, answer awaited */
	int			in_flight;

	/* leaves the peer refused the registers of, in sets by leaf */
	HeldLeaf	held[HELD_SETS * HELD_WAYS];
	uint64		held_incarnation;	/* the peer's, when they were noted */

	MantisPeerCounters c;
	bool		offset_known;
	int64		offset_ms;
	char		last_error[MANTIS_ERROR_TEXT_SIZE];
	TimestampTz last_logged;
} Peer;

static Peer *peers = NULL;		/* MANTIS_MAX_PEERS, in TopMemoryContext */
static uint32 held_clock = 0;
static uint64 my_incarnation;
static const char *my_encoding; /* of mantis.database, sent in greetings */
static uint32 round_counter = 0;
static MantisPeerCounters unattributed;
static bool view_changed = true;
static TimestampTz last_publish = 0;
static MantisLeafSet send_pending;
static TimestampTz last_live_send = 0;

/* leaf digests, read once per pass when first needed */
static uint64 *leaf_digests = NULL;
static bool digests_fresh = false;

static StringInfoData frame;	/* the frame being built */

/* CURVE: this server's keys and the allow-list (TopMemoryContext) */
static MantisKeyPair *my_keys = NULL;
static MantisPeerKey *allowed = NULL;
static int	allowed_count = 0;

static void queue_clear(Peer *peer);
static void load_allow_list(void);
static const char *key_for_endpoint(const char *endpoint, char *name);

/* ---- the view ---- */

static void
publish(TimestampTz now, bool force)
{
	static MantisPeerView views[MANTIS_MAX_PEERS];
	int			n = 0;

	if (!view_changed ||
		(!force && !TimestampDifferenceExceeds(last_publish, now, PUBLISH_INTERVAL_MS)))
		return;

	for (int i = 0; peers != NULL && i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &peers[i];
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
		strlcpy(v->last_error, peer->last_error, sizeof(v->last_error));
		n++;
	}
	mantis_peer_view_publish(views, n, &unattributed);
	last_publish = now;
	view_changed = false;
}

/* ---- peers ---- */

static Peer *
peer_new(void)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (!peers[i].used)
		{
			memset(&peers[i], 0, sizeof(Peer));
			peers[i].used = true;
			peers[i].conn = -1;
			return &peers[i];
		}
	}
	return NULL;
}

static Peer *
peer_for_conn(int slot)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (peers[i].used && peers[i].conn == slot)
			return &peers[i];
	}
	return NULL;
}

/*
 * The peer a node's messages to our listener count against: the
 * configured peer with that node id, else its inbound-only peer, made on
 * first contact (NULL if the table is full).
 */
static Peer *
peer_for_node(uint64 node_id, TimestampTz now)
{
	Peer	   *inbound = NULL;
	Peer	   *peer;

	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		peer = &peers[i];
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
	view_changed = true;
	return peer;
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
}

static void
set_state(Peer *peer, MantisPeerState state, TimestampTz now)
{
	if (peer->state == state)
		return;
	peer->state = state;
	peer->since = now;
	view_changed = true;
}

/*
 * Record a problem with a peer (or with an unknown sender when peer is NULL)
 * and log it, at most once a minute for the same kind of problem (the
 * same format) with the same peer.
 */
static void
note_problem(Peer *peer, int elevel, const char *fmt,...) pg_attribute_printf(3, 4);

static void
note_problem(Peer *peer, int elevel, const char *fmt,...)
{
	char		message[MANTIS_ERROR_TEXT_SIZE];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	if (peer)
	{
		strlcpy(peer->last_error, message, sizeof(peer->last_error));
		view_changed = true;
	}
	if (!mantis_log_due(peer, fmt))
		return;
	ereport(elevel,
			(errmsg("mantis: %s", message),
			 errdetail("The same problem with this peer is logged at most once a minute; mantis_peers and mantis_status count every occurrence.")));
}

static const char *
peer_label(const Peer *peer)
{
	if (peer->name[0])
		return peer->name;
	return peer->endpoint[0] ? peer->endpoint : "an unknown node";
}

/*
 * Make the peers match mantis.peers: connect new endpoints, drop removed
 * ones (their counters go with them).  Returns true if the set of
 * connections changed.
 */
bool
mantis_replication_configure(void)
{
	char		endpoints[MANTIS_MAX_CONFIGURED_PEERS][MANTIS_ENDPOINT_MAX];
	const char *error = NULL;
	int			n = mantis_parse_peers(mantis_peer_endpoints, endpoints, &error);
	bool		changed = false;
	TimestampTz now = GetCurrentTimestamp();

	if (n < 0)
		n = 0;					/* the check hook let nothing bad through */
	if (my_keys)
		load_allow_list();

	/* drop the peers no longer listed */
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &peers[i];
		bool		listed = false;

		if (!peer->used || peer->conn < 0)
			continue;
		for (int j = 0; j < n; j++)
			listed |= strcmp(peer->endpoint, endpoints[j]) == 0;
		if (listed && (!my_keys || strcmp(peer->server_key, key_for_endpoint(peer->endpoint, NULL)) == 0))
			continue;
		ereport(LOG, (errmsg("mantis: peer %s removed", peer->endpoint)));
		queue_clear(peer);
		mantis_transport_disconnect(peer->conn);
		peer->used = false;
		changed = true;
	}

	/* connect the new ones */
	for (int j = 0; j < n; j++)
	{
		bool		known = false;
		Peer	   *peer;
		char		reason[MANTIS_ERROR_TEXT_SIZE];

		for (int i = 0; i < MANTIS_MAX_PEERS; i++)
			known |= peers[i].used && peers[i].conn >= 0 &&
				strcmp(peers[i].endpoint, endpoints[j]) == 0;
		if (known)
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
		if (my_keys)
		{
			strlcpy(peer->server_key, key_for_endpoint(peer->endpoint, peer->expected), sizeof(peer->server_key));
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
											  my_keys ? peer->server_key : NULL,
											  reason, sizeof(reason));
		if (peer->conn < 0)
		{
			ereport(WARNING,
					(errmsg("mantis could not connect to peer %s: %s", peer->endpoint, reason)));
			peer->used = false;
			continue;
		}
		ereport(LOG, (errmsg("mantis: peer %s added", peer->endpoint)));
		changed = true;
	}
	view_changed |= changed;
	return changed;
}

/* ---- CURVE: the allow-list ---- */

/*
 * (Re-)read mantis.curve_peers_file.  On a bad file, keep the list we have
 * and say why: a typo must not lock every peer out.
 */
static void
load_allow_list(void)
{
	MantisPeerKey *list = MemoryContextAlloc(TopMemoryContext,
											 sizeof(MantisPeerKey) * MANTIS_MAX_PEERS);
	char		error[MANTIS_ERROR_TEXT_SIZE * 2];
	int			n = mantis_security_read_peers(mantis_curve_peers_file, list,
											   MANTIS_MAX_PEERS, error, sizeof(error));

	if (n < 0)
	{
		ereport(WARNING,
				(errmsg("mantis kept its previous peer keys: invalid \"mantis.curve_peers_file\": %s", error)));
		pfree(list);
		return;
	}
	if (allowed)
		pfree(allowed);
	allowed = list;
	allowed_count = n;
}

/* The key to expect at an endpoint ("" if none), and the node it is bound to. */
static const char *
key_for_endpoint(const char *endpoint, char *name)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (strcmp(allowed[i].endpoint, endpoint) == 0)
		{
			if (name)
				strlcpy(name, allowed[i].name, MANTIS_NODE_NAME_MAX + 1);
			return allowed[i].public_key;
		}
	}
	return "";
}

static bool
name_allowed(const char *name)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (strcmp(allowed[i].name, name) == 0)
			return true;
	}
	return false;
}

/* MantisAuthorizeFn: the ZAP handler asks whether a client key may in. */
static bool
authorize_key(const unsigned char *key, char *name, size_t name_size,
			  const char *address)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (memcmp(allowed[i].raw_key, key, 32) == 0)
		{
			strlcpy(name, allowed[i].name, name_size);
			return true;
		}
	}
	note_problem(NULL, LOG, "refused a client at %s whose CURVE key is not in \"mantis.curve_peers_file\"",
				 address[0] ? address : "an unknown address");
	return false;
}

/* MantisRefusedFn: a handshake with our listener failed. */
static void
connection_refused(const char *address, const char *why)
{
	unattributed.refused++;
	view_changed = true;
	note_problem(NULL, LOG, "refused a connection from %s: %s",
				 address[0] ? address : "an unknown address", why);
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

	if (!my_keys)
		return true;
	bound = via ? via->expected : m->user_id;
	if (bound == NULL || bound[0] == '\0' || (!via && !name_allowed(bound)))
	{
		unattributed.malformed++;
		note_problem(via, LOG, "dropped a message from %s: its key is no longer allowed",
					 bound && bound[0] ? bound : "a client");
		return false;
	}
	if (f->sender != mantis_node_id_of(bound))
	{
		if (via)
			via->c.malformed++;
		else
			unattributed.malformed++;
		view_changed = true;
		note_problem(via, WARNING,
					 "dropped a message from node \"%s\" claiming to come from node id %016" INT64_MODIFIER "x: a peer speaks only for the node its key is bound to",
					 bound, f->sender);
		return false;
	}
	return true;
}

/* ---- frames ---- */

static void
frame_begin(int type)
{
	resetStringInfo(&frame);
	enlargeStringInfo(&frame, MANTIS_FRAME_HEADER_SIZE);
	mantis_frame_put_header((unsigned char *) frame.data, type,
							mantis_self_node_id(), my_incarnation, mantis_hlc_peek());
	frame.len = MANTIS_FRAME_HEADER_SIZE;
}

static void
frame_u16(uint16 v)
{
	enlargeStringInfo(&frame, 2);
	mantis_put_u16((unsigned char *) frame.data + frame.len, v);
	frame.len += 2;
}

static void
frame_u32(uint32 v)
{
	enlargeStringInfo(&frame, 4);
	mantis_put_u32((unsigned char *) frame.data + frame.len, v);
	frame.len += 4;
}

static void
frame_u64(uint64 v)
{
	enlargeStringInfo(&frame, 8);
	mantis_put_u64((unsigned char *) frame.data + frame.len, v);
	frame.len += 8;
}

/* The body of HELLO and WELCOME: who we are, and the limits peers share */
static void
frame_greeting(void)
{
	MantisGreeting g;
	size_t		size;

	g.name = mantis_self_node_name();
	g.name_len = strlen(mantis_self_node_name());
	g.max_key_size = (uint32) mantis_max_key_size;
	g.max_value_size = (uint32) mantis_max_value_size;
	g.encoding = my_encoding;
	g.encoding_len = strlen(my_encoding);
	size = mantis_frame_greeting_size(&g);
	enlargeStringInfo(&frame, (int) size);
	mantis_frame_put_greeting((unsigned char *) frame.data + frame.len, &g);
	frame.len += (int) size;
}

static void
queue_clear(Peer *peer)
{
	while (peer->queue_head)
	{
		QueuedFrame *q = peer->queue_head;

		peer->queue_head = q->next;
		pfree(q);
		peer->c.dropped++;
	}
	peer->queue_tail = NULL;
	peer->queued_bytes = 0;
}

/* Hand queued live frames to ZeroMQ while it takes them. */
static void
queue_drain(Peer *peer)
{
	while (peer->queue_head)
	{
		QueuedFrame *q = peer->queue_head;

		if (!mantis_transport_send(peer->conn, q->data, q->len))
			return;
		peer->c.messages_out++;
		peer->c.bytes_out += q->len;
		peer->queued_bytes -= q->len;
		peer->queue_head = q->next;
		if (peer->queue_head == NULL)
			peer->queue_tail = NULL;
		pfree(q);
		view_changed = true;
	}
}

/*
 * Send the frame in "frame" as a live change: behind whatever is queued for
 * this peer, and queued itself if ZeroMQ has no room now.  A frame that
 * would overflow the queue empties it instead, and asks for a repair.
 */
static void
send_live(Peer *peer)
{
	QueuedFrame *q;

	if (peer->conn < 0 || peer->state == MANTIS_PEER_REFUSED)
		return;
	if (peer->greeting != GREETING_OK)
	{
		/* its limits are not known yet: the first repair round catches up */
		peer->c.dropped++;
		view_changed = true;
		return;
	}
	queue_drain(peer);
	if (peer->queue_head == NULL &&
		mantis_transport_send(peer->conn, frame.data, frame.len))
	{
		peer->c.messages_out++;
		peer->c.bytes_out += frame.len;
		view_changed = true;
		return;
	}
	if (peer->state != MANTIS_PEER_CONNECTED ||
		peer->queued_bytes + frame.len > PEER_QUEUE_BYTES)
	{
		queue_clear(peer);
		peer->c.dropped++;
		peer->repair_asap = true;
		view_changed = true;
		return;
	}
	q = MemoryContextAlloc(TopMemoryContext, offsetof(QueuedFrame, data) + frame.len);
	q->next = NULL;
	q->len = frame.len;
	memcpy(q->data, frame.data, frame.len);
	if (peer->queue_tail)
		peer->queue_tail->next = q;
	else
		peer->queue_head = q;
	peer->queue_tail = q;
	peer->queued_bytes += frame.len;
}

static bool
send_to(Peer *peer)
{
	if (peer->conn < 0)
		return false;
	if (!mantis_transport_send(peer->conn, frame.data, frame.len))
	{
		peer->c.dropped++;
		view_changed = true;
		return false;
	}
	peer->c.messages_out++;
	peer->c.bytes_out += frame.len;
	view_changed = true;
	return true;
}

static bool
reply_to(Peer *peer, const MantisMessage *m)
{
	MantisPeerCounters *c = peer ? &peer->c : &unattributed;

	view_changed = true;
	if (!mantis_transport_reply(m, frame.data, frame.len))
	{
		c->dropped++;
		return false;
	}
	c->messages_out++;
	c->bytes_out += frame.len;
	return true;
}

/* UPDATES frames: header, then a prefix whose count is patched at the end */
typedef struct UpdatesBuilder
{
	uint32		round;
	uint16		group;
	uint32		count;
	void		(*flush) (struct UpdatesBuilder *b);
	Peer	   *to;				/* answers: the requester */
	const MantisMessage *msg;
} UpdatesBuilder;

static void
updates_begin(UpdatesBuilder *b)
{
	frame_begin(MANTIS_FRAME_UPDATES);
	frame_u32(b->round);
	frame_u16(b->group);
	frame_u32(0);
	b->count = 0;
}

static void
updates_finish(UpdatesBuilder *b)
{
	unsigned char *prefix = (unsigned char *) frame.data + MANTIS_FRAME_HEADER_SIZE;

	mantis_put_u32(prefix + 6, b->count);
}

/* MantisRecordCallback: add one register, sending full frames on the way */
static void
updates_add(const MantisRecord *rec, void *arg)
{
	UpdatesBuilder *b = (UpdatesBuilder *) arg;
	size_t		size = mantis_codec_register_size(rec);

	if (b->count > 0 && frame.len + size > UPDATES_TARGET_BYTES)
	{
		updates_finish(b);
		b->flush(b);
		updates_begin(b);
	}
	enlargeStringInfo(&frame, (int) size);
	mantis_codec_put_register((unsigned char *) frame.data + frame.len, rec);
	frame.len += (int) size;
	b->count++;
}

/*
 * The largest frame we can send: an UPDATES frame is closed once it passes
 * UPDATES_TARGET_BYTES, unless a single register is larger still.  Peers
 * whose limits differ refuse each other at their greeting, so it is also
 * the largest a peer sends us; greetings are tiny, and always pass.
 */
size_t
mantis_replication_max_frame(void)
{
	size_t		one = MANTIS_CODEC_REGISTER_OVERHEAD + (size_t) mantis_max_key_size +
		(size_t) mantis_max_value_size;

	return MANTIS_FRAME_HEADER_SIZE + MANTIS_UPDATES_PREFIX_SIZE +
		Max((size_t) UPDATES_TARGET_BYTES, one) + 1024;
}

/* ---- digests ---- */

static const uint64 *
digests(void)
{
	if (!digests_fresh)
	{
		mantis_store_leaf_digests(leaf_digests);
		digests_fresh = true;
	}
	return leaf_digests;
}

static uint64
group_digest(const uint64 *leaves, int group)
{
	uint64		d = 0;

	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
		d ^= leaves[group * MANTIS_DIGEST_GROUP_LEAVES + i];
	return d;
}

static uint64
root_digest(const uint64 *leaves)
{
	uint64		d = 0;

	for (int i = 0; i < MANTIS_LEAVES; i++)
		d ^= leaves[i];
	return d;
}

/* ---- live changes ---- */

static void
broadcast_updates(UpdatesBuilder *b)
{
	if (b->count == 0)
		return;
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (peers[i].used)
			send_live(&peers[i]);
	}
}

static bool
have_outbound(void)
{
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		if (peers[i].used && peers[i].conn >= 0)
			return true;
	}
	return false;
}

/*
 * Whether a live batch may go out now.  Batches leave at most once per
 * LIVE_PACE_MS: the first write after a quiet spell goes out at once, and
 * under a stream of writes each batch carries a millisecond's worth, not a
 * frame per write, which costs the two servers far fewer wakeups.
 */
bool
mantis_replication_send_due(void)
{
	return TimestampDifferenceExceeds(last_live_send, GetCurrentTimestamp(), LIVE_PACE_MS);
}

/*
 * Send every register written here since the last call to every peer.
 */
void
mantis_replication_send_changes(void)
{
	UpdatesBuilder b = {0};

	mantis_store_take_dirty(MANTIS_CONSUMER_REPLICATION, &send_pending);
	if (mantis_leafset_is_empty(&send_pending))
		return;

	last_live_send = GetCurrentTimestamp();
	b.group = MANTIS_LIVE_GROUP;
	b.flush = broadcast_updates;
	updates_begin(&b);
	mantis_store_take_leaves(MANTIS_CONSUMER_REPLICATION, &send_pending, NULL,
							 have_outbound() ? updates_add : NULL, &b);
	updates_finish(&b);
	broadcast_updates(&b);
}

/* ---- receiving registers ---- */

/*
 * Merge the registers of an UPDATES frame (already checked by frame.c),
 * through the clock bound.
 */
static void
apply_updates(Peer *peer, const MantisFrame *f)
{
	MantisPeerCounters *c = peer ? &peer->c : &unattributed;
	const unsigned char *p = f->registers;
	uint64		limit = mantis_wall_ms() + (uint64) mantis_max_clock_offset_ms;
	uint64		skewed = 0;
	uint64		ahead_ms = 0;
	MantisMergeTally merged = {0};

	for (uint32 i = 0; i < f->count; i++)
	{
		MantisRecord rec;

		if (mantis_codec_get_register(&p, f->end, &rec) != NULL)
			break;				/* cannot happen: decoded before */
		if (!mantis_store_admits(&rec))
		{
			c->malformed++;
			continue;
		}
		if (mantis_hlc_ms(rec.hlc.ts) > limit)
		{
			skewed++;
			ahead_ms = Max(ahead_ms, mantis_hlc_ms(rec.hlc.ts) - limit +
						   (uint64) mantis_max_clock_offset_ms);
			continue;
		}
		mantis_store_merge_tallied(&rec, MANTIS_REG_UNFLUSHED, &merged);
	}
	c->applied += merged.applied;
	c->stale += merged.stale;
	c->no_room += merged.no_room;
	c->skewed += skewed;
	view_changed = true;
	if (skewed > 0)
		note_problem(peer, LOG,
					 "rejected %llu registers from %s with clocks up to %llu ms ahead of ours (\"mantis.max_clock_offset\" is %d ms)",
					 (unsigned long long) skewed, peer ? peer_label(peer) : "an unknown node",
					 (unsigned long long) ahead_ms, mantis_max_clock_offset_ms);
	if (merged.no_room > 0)
		note_problem(peer, WARNING,
					 "the store is full: %llu registers from %s were not stored; raise \"mantis.max_keys\" or \"mantis.store_memory\"",
					 (unsigned long long) merged.no_room, peer ? peer_label(peer) : "an unknown node");
}

/* ---- repair, as the puller ---- */

static TimestampTz
jittered(TimestampTz now, int interval_ms)
{
	double		factor = 0.75 + 0.5 * pg_prng_double(&pg_global_prng_state);

	return TimestampTzPlusMilliseconds(now, (int) (interval_ms * factor));
}

static void
round_end(Peer *peer, TimestampTz now, bool completed)
{
	peer->round = 0;
	peer->in_flight = 0;
	peer->wanted_count = 0;
	peer->next_round_at = completed ? jittered(now, mantis_sync_interval_ms) :
		TimestampTzPlusMilliseconds(now, ROUND_RETRY_MS);
}

static void
round_start(Peer *peer, TimestampTz now)
{
	if (++round_counter == 0)
		round_counter = 1;
	peer->round = round_counter;
	peer->round_deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
	peer->in_flight = 0;
	peer->wanted_count = 0;
	peer->groups_seen = false;
	memset(peer->wanted, 0, sizeof(peer->wanted));
	memset(peer->asked, 0, sizeof(peer->asked));

	frame_begin(MANTIS_FRAME_SUMMARY);
	frame_u32(peer->round);
	frame_u64(root_digest(digests()));
	if (!send_to(peer))
		round_end(peer, now, false);
}

/* Ask for more groups, up to the window. */
static void
round_fill_window(Peer *peer, TimestampTz now)
{
	const uint64 *leaves = digests();

	for (int g = 0; g < MANTIS_DIGEST_GROUPS && peer->in_flight < REPAIR_WINDOW &&
		 peer->wanted_count > 0; g++)
	{
		if (!peer->wanted[g])
			continue;
		peer->wanted[g] = false;
		peer->wanted_count--;
		frame_begin(MANTIS_FRAME_LEAVES);
		frame_u32(peer->round);
		frame_u16((uint16) g);
		for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
			frame_u64(leaves[g * MANTIS_DIGEST_GROUP_LEAVES + i]);
		if (!send_to(peer))
		{
			round_end(peer, now, false);
			return;
		}
		peer->asked[g] = true;
		peer->in_flight++;
	}
	if (peer->in_flight == 0 && peer->wanted_count == 0)
		round_end(peer, now, true);
}

static void
on_groups(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	const uint64 *leaves = digests();

	/* a second GROUPS for the round (a replay) would ask for groups twice */
	if (peer->round == 0 || f->round != peer->round || peer->groups_seen)
		return;
	peer->groups_seen = true;
	for (int g = 0; g < MANTIS_DIGEST_GROUPS; g++)
	{
		if (!peer->wanted[g] &&
			mantis_get_u64(f->digests + 8 * g) != group_digest(leaves, g))
		{
			peer->wanted[g] = true;
			peer->wanted_count++;
		}
	}
	round_fill_window(peer, now);
}

/* ---- repair: registers the peer refused before ---- */

/* The entry of a leaf in a peer's table, or NULL */
static HeldLeaf *
held_find(Peer *peer, int leaf)
{
	HeldLeaf   *set = &peer->held[(leaf % HELD_SETS) * HELD_WAYS];

	for (int w = 0; w < HELD_WAYS; w++)
	{
		if (set[w].backoff != 0 && set[w].leaf == leaf)
			return &set[w];
	}
	return NULL;
}

/* A place for a leaf: a free one of its set, else the least recently used */
static HeldLeaf *
held_place(Peer *peer, int leaf)
{
	HeldLeaf   *set = &peer->held[(leaf % HELD_SETS) * HELD_WAYS];
	HeldLeaf   *victim = &set[0];

	for (int w = 0; w < HELD_WAYS; w++)
	{
		if (set[w].backoff == 0)
			return &set[w];
		if (held_clock - set[w].used_at > held_clock - victim->used_at)
			victim = &set[w];
	}
	return victim;
}

/*
 * Whether to hold back the registers of a leaf that differs: we sent them
 * before, from the same leaf digests on both sides as now, so the peer took
 * none of them, and the backoff has not run out.  Counts what is held.
 */
static bool
held_skip(Peer *peer, int leaf, uint64 ours, uint64 theirs)
{
	HeldLeaf   *h = held_find(peer, leaf);

	if (h == NULL || h->ours != ours || h->theirs != theirs || h->skip == 0)
		return false;
	h->skip--;
	h->used_at = ++held_clock;
	peer->c.held += h->count;
	view_changed = true;
	return true;
}

/* We are sending "count" registers of a leaf: note it, with both digests. */
static void
held_note(Peer *peer, int leaf, uint64 ours, uint64 theirs, int count)
{
	HeldLeaf   *h = held_find(peer, leaf);

	if (h && h->ours == ours && h->theirs == theirs)
	{
		/* sent again after being held: if refused again, hold twice as long */
		h->skip = h->backoff;
		h->backoff = Min(h->backoff * 2, HELD_MAX_BACKOFF);
	}
	else
	{
		if (h == NULL)
			h = held_place(peer, leaf);
		h->leaf = (uint16) leaf;
		h->ours = ours;
		h->theirs = theirs;
		h->skip = 1;
		h->backoff = 2;
	}
	h->count = (uint32) count;
	h->used_at = ++held_clock;
}

/* A new incarnation of the peer (a restart, maybe with room) starts afresh. */
static void
held_check_incarnation(Peer *peer, uint64 incarnation)
{
	if (peer == NULL || peer->held_incarnation == incarnation)
		return;
	memset(peer->held, 0, sizeof(peer->held));
	peer->held_incarnation = incarnation;
}

/*
 * Send, through b->flush, every register of the leaves of group f->group
 * whose digest differs from the one in the frame f, but those the peer
 * refused before (b->to: the peer, or NULL if it has no peer).
 */
static void
send_differing_leaves(UpdatesBuilder *b, const MantisFrame *f, const uint64 *leaves)
{
	Peer	   *peer = b->to;

	updates_begin(b);
	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
	{
		int			leaf = f->group * MANTIS_DIGEST_GROUP_LEAVES + i;
		uint64		theirs = mantis_get_u64(f->digests + 8 * i);
		int			n;

		if (theirs == leaves[leaf] || (peer && held_skip(peer, leaf, leaves[leaf], theirs)))
			continue;
		n = mantis_store_collect_leaf(leaf, updates_add, b);
		if (peer && n > 0)
			held_note(peer, leaf, leaves[leaf], theirs, n);
	}
	updates_finish(b);
	b->flush(b);
}

static void
on_repair_updates(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	apply_updates(peer, f);
	digests_fresh = false;
	if (peer->round != 0 && f->round == peer->round)
		peer->round_deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
}

static void
send_to_peer(UpdatesBuilder *b)
{
	if (b->count > 0)
		send_to(b->to);
}

/*
 * The peer has answered for a group and sent its leaf digests: send it our
 * registers of the leaves that still differ after merging its answer.
 */
static void
on_peer_leaves(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	const uint64 *leaves;
	UpdatesBuilder b = {0};

	/* only the answer for a group asked for, and only once */
	if (peer->round == 0 || f->round != peer->round || !peer->asked[f->group])
		return;
	peer->asked[f->group] = false;
	peer->round_deadline = TimestampTzPlusMilliseconds(now, ROUND_TIMEOUT_MS);
	leaves = digests();
	b.round = f->round;
	b.group = f->group;
	b.flush = send_to_peer;
	b.to = peer;
	send_differing_leaves(&b, f, leaves);
	peer->in_flight--;
	round_fill_window(peer, now);
}

/* ---- answering a puller ---- */

static void
answer_summary(Peer *peer, const MantisMessage *m, const MantisFrame *f)
{
	const uint64 *leaves = digests();

	if (f->root == root_digest(leaves))
	{
		frame_begin(MANTIS_FRAME_INSYNC);
		frame_u32(f->round);
	}
	else
	{
		frame_begin(MANTIS_FRAME_GROUPS);
		frame_u32(f->round);
		for (int g = 0; g < MANTIS_DIGEST_GROUPS; g++)
			frame_u64(group_digest(leaves, g));
	}
	reply_to(peer, m);
}

static void
reply_updates(UpdatesBuilder *b)
{
	if (b->count > 0)
		reply_to(b->to, b->msg);
}

static void
answer_leaves(Peer *peer, const MantisMessage *m, const MantisFrame *f)
{
	const uint64 *leaves = digests();
	UpdatesBuilder b = {0};

	b.round = f->round;
	b.group = f->group;
	b.flush = reply_updates;
	b.to = peer;
	b.msg = m;
	send_differing_leaves(&b, f, leaves);

	/* then our digests of the group, which end the answer */
	frame_begin(MANTIS_FRAME_LEAVES);
	frame_u32(f->round);
	frame_u16(f->group);
	for (int i = 0; i < MANTIS_DIGEST_GROUP_LEAVES; i++)
		frame_u64(leaves[f->group * MANTIS_DIGEST_GROUP_LEAVES + i]);
	reply_to(peer, m);
}

/* ---- receiving ---- */

static void
remember_name(Peer *peer, const MantisFrame *f)
{
	char		name[MANTIS_NODE_NAME_MAX + 1];

	memcpy(name, f->greeting.name, f->greeting.name_len);
	name[f->greeting.name_len] = '\0';
	if (peer && strcmp(peer->name, name) != 0)
	{
		strlcpy(peer->name, name, sizeof(peer->name));
		view_changed = true;
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
			Peer	   *other = &peers[i];

			if (other != peer && other->used && other->conn < 0 &&
				other->identified && other->node_id == f->sender)
			{
				counters_add(&peer->c, &other->c);
				if (other->greeting == GREETING_REFUSED)
				{
					/* refused already, and logged: not twice */
					peer->greeting = GREETING_REFUSED;
					strlcpy(peer->last_error, other->last_error, sizeof(peer->last_error));
				}
				other->used = false;
			}
		}
		if (peer->identified)
			ereport(LOG,
					(errmsg("mantis: peer %s is now node %016" INT64_MODIFIER "x (was %016" INT64_MODIFIER "x)",
							peer->endpoint, f->sender, peer->node_id)));
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
				(errmsg("mantis: peer %s (%s) is connected", peer->endpoint, peer_label(peer))));
		set_state(peer, MANTIS_PEER_CONNECTED, now);
		rejoin = true;
	}
	if (rejoin && peer->round == 0)
		round_start(peer, now);
}

/*
 * Whether the limits in a greeting are ours; if not, says why in reason.
 */
static bool
limits_match(const Peer *peer, const MantisGreeting *g, char *reason, size_t size)
{
	const char *label = peer ? peer_label(peer) : "an unknown node";

	if (g->max_key_size != (uint32) mantis_max_key_size)
		snprintf(reason, size, "peer %s has \"mantis.max_key_size\" = %u bytes, this server %d",
				 label, g->max_key_size, mantis_max_key_size);
	else if (g->max_value_size != (uint32) mantis_max_value_size)
		snprintf(reason, size, "peer %s has \"mantis.max_value_size\" = %u bytes, this server %d",
				 label, g->max_value_size, mantis_max_value_size);
	else if (g->encoding_len != strlen(my_encoding) ||
			 memcmp(g->encoding, my_encoding, g->encoding_len) != 0)
		snprintf(reason, size, "peer %s has database encoding %.*s, this server %s",
				 label, (int) g->encoding_len, g->encoding, my_encoding);
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
					(errmsg("mantis: peer %s now has the limits of this server", peer_label(peer))));
			/* an outbound peer is connected by the WELCOME that follows */
			set_state(peer, peer->conn < 0 ? MANTIS_PEER_INBOUND : MANTIS_PEER_CONNECTING, now);
		}
		peer->greeting = GREETING_OK;
		return true;
	}
	if (peer->greeting != GREETING_REFUSED)
	{
		peer->greeting = GREETING_REFUSED;
		queue_clear(peer);
		if (peer->round != 0)
			round_end(peer, now, false);
		note_problem(peer, WARNING,
					 "%s: every server must have the same \"mantis.max_key_size\", \"mantis.max_value_size\" and database encoding",
					 reason);
	}
	set_state(peer, MANTIS_PEER_REFUSED, now);
	return false;
}

/*
 * Frames other than greetings from a refused peer are dropped and counted.
 */
static bool
refused_frame(Peer *from, const MantisFrame *f)
{
	if (from == NULL || from->greeting != GREETING_REFUSED ||
		f->type == MANTIS_FRAME_HELLO || f->type == MANTIS_FRAME_WELCOME)
		return false;
	from->c.mismatched++;
	view_changed = true;
	return true;
}

/* Frames whose sender claims our own node id never get further. */
static bool
refuse_own_id(Peer *via, const MantisFrame *f, TimestampTz now)
{
	if (f->sender != mantis_self_node_id())
		return false;
	if (via)
	{
		via->c.malformed++;
		set_state(via, MANTIS_PEER_REFUSED, now);
	}
	else
		unattributed.malformed++;
	view_changed = true;
	if (f->incarnation == my_incarnation)
		note_problem(via, LOG, "peer %s is this server itself; ignoring it",
					 via ? via->endpoint : "(inbound)");
	else
		note_problem(via, WARNING,
					 "refusing node %s%s: it has the same node id as this server (%016" INT64_MODIFIER "x); give each server its own \"mantis.node_name\"",
					 via ? "at " : "", via ? via->endpoint : "that connected to us",
					 mantis_self_node_id());
	return true;
}

static void
observe_clock(Peer *peer, uint64 hlc)
{
	int64		offset = (int64) mantis_hlc_ms(hlc) - (int64) mantis_wall_ms();

	if (peer)
	{
		peer->offset_known = true;
		peer->offset_ms = offset;
	}
	if (offset <= mantis_max_clock_offset_ms)
		mantis_hlc_witness(hlc);
}

static void
handle_message(const MantisMessage *m, TimestampTz now)
{
	Peer	   *via = m->source >= 0 ? peer_for_conn(m->source) : NULL;
	Peer	   *from;
	MantisFrame f;
	const char *err = m->malformed ? "not a single-part message" :
		mantis_frame_decode(m->data, m->len, &f);

	if (err)
	{
		MantisPeerCounters *c = via ? &via->c : &unattributed;

		c->messages_in++;
		c->bytes_in += m->len;
		c->malformed++;
		view_changed = true;
		note_problem(via, LOG, "dropped a malformed message from %s: %s",
					 via ? peer_label(via) : "an unknown sender", err);
		return;
	}
	if (refuse_own_id(via, &f, now) || !sender_authentic(via, m, &f))
		return;

	from = via ? via : peer_for_node(f.sender, now);
	if (from)
	{
		from->c.messages_in++;
		from->c.bytes_in += m->len;
		from->last_recv = now;
	}
	else
	{
		unattributed.messages_in++;
		unattributed.bytes_in += m->len;
	}
	view_changed = true;
	observe_clock(from, f.hlc);
	if (refused_frame(from, &f))
		return;

	if (m->source < 0)
	{
		/* a peer's request on our listener */
		switch (f.type)
		{
			case MANTIS_FRAME_HELLO:
				remember_name(from, &f);
				if (from && from->conn < 0)
					from->incarnation = f.incarnation;
				held_check_incarnation(from, f.incarnation);
				(void) check_greeting(from, &f, now);
				/* answered even when refused: so the peer learns why */
				frame_begin(MANTIS_FRAME_WELCOME);
				frame_greeting();
				reply_to(from, m);
				return;
			case MANTIS_FRAME_UPDATES:
				/* live changes, or registers a puller found we lack */
				apply_updates(from, &f);
				digests_fresh = false;
				return;
			case MANTIS_FRAME_SUMMARY:
				answer_summary(from, m, &f);
				return;
			case MANTIS_FRAME_LEAVES:
				answer_leaves(from, m, &f);
				return;
		}
	}
	else
	{
		/* an answer on our connection */
		switch (f.type)
		{
			case MANTIS_FRAME_WELCOME:
				{
					bool		rejoin;

					remember_name(via, &f);
					rejoin = identify(via, &f);
					held_check_incarnation(via, f.incarnation);
					if (check_greeting(via, &f, now))
						on_connection_alive(via, rejoin, now);
					return;
				}
			case MANTIS_FRAME_INSYNC:
				if (via->round != 0 && f.round == via->round)
					round_end(via, now, true);
				return;
			case MANTIS_FRAME_GROUPS:
				on_groups(via, &f, now);
				return;
			case MANTIS_FRAME_UPDATES:
				if (f.group != MANTIS_LIVE_GROUP)
				{
					on_repair_updates(via, &f, now);
					return;
				}
				break;
			case MANTIS_FRAME_LEAVES:
				on_peer_leaves(via, &f, now);
				return;
		}
	}
	if (from)
		from->c.malformed++;
	else
		unattributed.malformed++;
	note_problem(from, LOG, "dropped a message of type %d from %s where it does not belong",
				 f.type, from ? peer_label(from) : "an unknown sender");
}

/*
 * Handle what has arrived, at most "budget" messages; returns true if more
 * may be waiting.
 */
bool
mantis_replication_receive(int budget)
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
 * Greet peers, notice silent ones, and start or give up repair rounds.
 */
void
mantis_replication_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();

	digests_fresh = false;
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &peers[i];

		/* an inbound-only node silent for long gives its place back */
		if (peer->used && peer->conn < 0 &&
			TimestampDifferenceExceeds(peer->last_recv, now, INBOUND_FORGET_MS))
		{
			peer->used = false;
			view_changed = true;
		}
		if (!peer->used || peer->conn < 0)
			continue;
		queue_drain(peer);
		if (TimestampDifferenceExceeds(peer->last_hello, now, hello_interval(peer)))
		{
			frame_begin(MANTIS_FRAME_HELLO);
			frame_greeting();
			send_to(peer);
			peer->last_hello = now;
		}
		if (peer->state == MANTIS_PEER_CONNECTED &&
			TimestampDifferenceExceeds(peer->last_recv, now, mantis_peer_timeout_ms))
		{
			ereport(LOG,
					(errmsg("mantis: peer %s (%s) is down: nothing heard for %d ms",
							peer->endpoint, peer_label(peer), mantis_peer_timeout_ms)));
			set_state(peer, MANTIS_PEER_DOWN, now);
			queue_clear(peer);
			if (peer->round != 0)
				round_end(peer, now, false);
		}
		if (peer->state != MANTIS_PEER_CONNECTED)
			continue;
		if (peer->round != 0 && now > peer->round_deadline)
			round_end(peer, now, false);
		if (peer->round == 0 && (now >= peer->next_round_at ||
							  (peer->repair_asap && peer->queue_head == NULL)))
		{
			peer->repair_asap = false;
			round_start(peer, now);
		}
	}
	publish(now, false);
}

/* Milliseconds until tick() has something to do. */
long
mantis_replication_sleep_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = TimestampTzPlusMilliseconds(now, HELLO_INTERVAL_MS);

	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &peers[i];

		if (!peer->used || peer->conn < 0)
			continue;
		wake = Min(wake, TimestampTzPlusMilliseconds(peer->last_hello, hello_interval(peer)));
		if (peer->state == MANTIS_PEER_CONNECTED)
			wake = Min(wake, peer->round != 0 ? peer->round_deadline : peer->next_round_at);
	}
	if (view_changed)
		wake = Min(wake, TimestampTzPlusMilliseconds(last_publish, PUBLISH_INTERVAL_MS));
	if (wake <= now)
		return 0;
	return (long) ((wake - now + 999) / 1000);
}

void
mantis_replication_start(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (!pg_strong_random(&my_incarnation, sizeof(my_incarnation)))
		my_incarnation = (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp();
	my_encoding = GetDatabaseEncodingName();
	if (strlen(my_encoding) > MANTIS_FRAME_ENCODING_MAX)
		elog(ERROR, "database encoding name \"%s\" is too long for a greeting",
			 my_encoding);
	leaf_digests = palloc(sizeof(uint64) * MANTIS_LEAVES);
	peers = palloc0(sizeof(Peer) * MANTIS_MAX_PEERS);
	initStringInfo(&frame);
	MemoryContextSwitchTo(old);

	memset(&send_pending, 0xFF, sizeof(send_pending));	/* look everywhere once */
	if (mantis_curve_enabled())
	{
		char		error[MANTIS_ERROR_TEXT_SIZE * 2];

		my_keys = MemoryContextAlloc(TopMemoryContext, sizeof(MantisKeyPair));
		if (!mantis_security_read_keypair(mantis_curve_secret_key_file, my_keys,
										  error, sizeof(error)))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("invalid \"mantis.curve_secret_key_file\": %s", error)));
		load_allow_list();
	}
	mantis_transport_start(mantis_listen, mantis_replication_max_frame(),
						   my_keys, authorize_key, connection_refused);
	(void) mantis_replication_configure();
	publish(GetCurrentTimestamp(), true);
}

/* The view while no replication worker runs: no rows. */
void
mantis_replication_stop(void)
{
	if (peers)
		memset(peers, 0, sizeof(Peer) * MANTIS_MAX_PEERS);
	view_changed = true;
	publish(GetCurrentTimestamp(), true);
}
