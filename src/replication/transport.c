/*-------------------------------------------------------------------------
 * replication/transport.c
 *	  ZeroMQ sockets of the replication worker: the only file that
 *	  includes <zmq.h>.
 *
 * One ROUTER socket is bound at mantis.listen and receives what peers'
 * connections send (it answers on the same connection); one DEALER socket
 * per configured peer connects to that peer's mantis.listen and carries
 * this server's own messages to it, and the peer's answers back.  Every
 * message is a single frame (common/frame.h); anything else is dropped.
 *
 * Nothing here blocks: sends use ZMQ_DONTWAIT and fail (the caller counts
 * a drop) when a queue is at its high-water mark or a peer is not
 * connected (ZMQ_IMMEDIATE); receives happen only when ZMQ_EVENTS says a
 * message is there.  ZMQ_FD is edge-triggered, so the worker drains every
 * socket until mantis_transport_recv() says there is nothing left before
 * it sleeps.  Linger is 0 so that closing never waits for a dead peer, and
 * ZMQ_MAXMSGSIZE makes libzmq drop a connection that announces a message
 * larger than the largest frame we could send.
 *
 * A ZAP handler of ours (RFC 27), bound before any socket exists, answers
 * for every handshake on the listener, with or without CURVE (libzmq asks
 * it for the NULL mechanism too, since the listener has a ZAP domain), and
 * ZMQ_ZAP_ENFORCE_DOMAIN makes libzmq refuse every client if no handler
 * answers: it fails closed.  A socket monitor on the listener follows its
 * connections (accepted and gone, by file descriptor) and reports the
 * handshakes that failed (no encryption, a wrong key, garbage instead of
 * ZMTP).  libzmq cannot close one connection of a ROUTER, nor refuse one at
 * accept, so mantis.max_inbound_connections is kept at the handshake: with
 * that many connections admitted, the handler refuses the next (status
 * 300), and libzmq closes it.  Connections still in their handshake do not
 * count, so that clients arriving together are admitted up to the limit
 * rather than all refused, and strangers who never finish a handshake
 * (the 5 s limit drops them) take no peer's place.  No event ties a
 * handshake to its connection, so the count of admitted connections is
 * kept at most the count of open ones at each disconnection: exact when
 * none is in its handshake, at worst too high (refusing, never admitting
 * too many) while some are.
 *
 * With CURVE (mantis.curve_secret_key_file), every connection is encrypted
 * and both ends authenticated: we know the server key of each peer we
 * connect to, and the ZAP handler lets in only the client keys the
 * caller's "authorize" accepts, naming the node each key speaks for (ZAP
 * user id, attached to every message).  Without CURVE it lets in every
 * NULL handshake within the limit.
 *
 * The context and its I/O thread exist only in the replication worker
 * (libzmq blocks signals in its own threads), never in the postmaster.
 *
 * IDENTIFICATION	src/replication/transport.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zmq.h>

#include "storage/ipc.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "guc.h"
#include "replication/security.h"
#include "replication/transport.h"

/* queue bounds, in messages, per connection */
#define SEND_HWM			256
#define RECV_HWM			256

/* a stable libzmq option kept in the draft section of Debian's zmq.h */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define ZAP_ENDPOINT		"inproc://zeromq.zap.01"
#define ZAP_DOMAIN			"mantis"
#define MONITOR_ENDPOINT	"inproc://mantis.monitor"

typedef struct Socket
{
	void	   *zsock;
	int			fd;
} Socket;

static void *zctx = NULL;
static Socket listener = {NULL, -1};
static Socket zap = {NULL, -1};		/* ZAP handler */
static Socket monitor = {NULL, -1};	/* the listener's connections */
static const MantisKeyPair *curve_keys = NULL;
static MantisAuthorizeFn authorize = NULL;
static MantisRefusedFn refused = NULL;
static MantisInboundFn inbound_changed = NULL;

/*
 * the listener's open connections: a bit per file descriptor, their count,
 * and (at most that) the count of those the ZAP handler admitted
 */
static uint64 *open_fds = NULL;
static int	open_fds_words = 0;
static int	inbound = 0;
static int	admitted = 0;
static Socket peers[MANTIS_MAX_CONFIGURED_PEERS];
static size_t max_message = 0;

/* the message being handed to the caller: routing id (ROUTER) and body */
static zmq_msg_t route_msg;
static zmq_msg_t body_msg;
static bool holding = false;
static int	next_source = 0;

static void
transport_fail(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("mantis could not %s: %s", what, zmq_strerror(zmq_errno())),
			 detail ? errdetail("%s", detail) : 0));
}

static void
set_int(void *zsock, int option, int value)
{
	if (zmq_setsockopt(zsock, option, &value, sizeof(value)) != 0)
		transport_fail("set a ZeroMQ socket option", NULL);
}

static void
set_common_options(void *zsock)
{
	int64		maxmsg = (int64) max_message;

	set_int(zsock, ZMQ_LINGER, 0);
	set_int(zsock, ZMQ_SNDHWM, SEND_HWM);
	set_int(zsock, ZMQ_RCVHWM, RECV_HWM);
	if (zmq_setsockopt(zsock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0)
		transport_fail("set ZMQ_MAXMSGSIZE", NULL);
	/* ZMTP heartbeats find dead connections that TCP would keep for hours */
	set_int(zsock, ZMQ_HEARTBEAT_IVL, 1000);
	set_int(zsock, ZMQ_HEARTBEAT_TIMEOUT, 5000);
	/* a client that never finishes the handshake is dropped */
	set_int(zsock, ZMQ_HANDSHAKE_IVL, 5000);
	set_int(zsock, ZMQ_TCP_KEEPALIVE, 1);
}

static int
socket_fd(void *zsock)
{
	int			fd;
	size_t		size = sizeof(fd);

	if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &size) != 0)
		transport_fail("get a ZeroMQ socket's file descriptor", NULL);
	return fd;
}

/* on_proc_exit: close everything without waiting */
static void
transport_shutdown(int code, Datum arg)
{
	mantis_transport_stop();
}

static void
set_string(void *zsock, int option, const char *value)
{
	if (zmq_setsockopt(zsock, option, value, strlen(value)) != 0)
		transport_fail("set a ZeroMQ socket option", NULL);
}

/*
 * Bind the ZAP handler, before any socket that could ask it anything.
 */
static void
start_zap(void)
{
	zap.zsock = zmq_socket(zctx, ZMQ_REP);
	if (zap.zsock == NULL)
		transport_fail("create the ZAP handler socket", NULL);
	set_int(zap.zsock, ZMQ_LINGER, 0);
	if (zmq_bind(zap.zsock, ZAP_ENDPOINT) != 0)
		transport_fail("bind the ZAP handler", NULL);
	zap.fd = socket_fd(zap.zsock);
}

/*
 * Watch the listener's connections and failed handshakes.  The monitor's
 * queue has no bound: a lost event would make the count of connections
 * wrong, and the worker reads them all before each ZAP answer.
 */
static void
start_monitor(void)
{
	if (zmq_socket_monitor(listener.zsock, MONITOR_ENDPOINT,
						   ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
						   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
		transport_fail("monitor the ROUTER socket", NULL);
	monitor.zsock = zmq_socket(zctx, ZMQ_PAIR);
	if (monitor.zsock == NULL)
		transport_fail("create the monitor socket", NULL);
	set_int(monitor.zsock, ZMQ_LINGER, 0);
	set_int(monitor.zsock, ZMQ_RCVHWM, 0);
	if (zmq_connect(monitor.zsock, MONITOR_ENDPOINT) != 0)
		transport_fail("connect the monitor socket", NULL);
	monitor.fd = socket_fd(monitor.zsock);
}

/*
 * Create the context and bind the ROUTER at "endpoint"; ERROR if that
 * fails (the worker then restarts and tries again).  Messages larger than
 * "max_message_size" bytes are refused by libzmq on every socket.  With
 * "keys", CURVE is on: "authorize_fn" decides which client keys get in.
 * "refused_fn" hears of every failed handshake, "inbound_fn" of every
 * change in the number of connections to the listener.
 */
void
mantis_transport_start(const char *endpoint, size_t max_message_size,
					   const MantisKeyPair *keys, MantisAuthorizeFn authorize_fn,
					   MantisRefusedFn refused_fn, MantisInboundFn inbound_fn)
{
	max_message = max_message_size;
	curve_keys = keys;
	authorize = authorize_fn;
	refused = refused_fn;
	inbound_changed = inbound_fn;
	open_fds_words = 0;
	open_fds = NULL;
	inbound = 0;
	admitted = 0;
	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS; i++)
	{
		peers[i].zsock = NULL;
		peers[i].fd = -1;
	}

	zctx = zmq_ctx_new();
	if (zctx == NULL)
		transport_fail("create a ZeroMQ context", NULL);
	zmq_ctx_set(zctx, ZMQ_IO_THREADS, 1);
	zmq_ctx_set(zctx, ZMQ_BLOCKY, 0);
	on_proc_exit(transport_shutdown, (Datum) 0);
	start_zap();

	listener.zsock = zmq_socket(zctx, ZMQ_ROUTER);
	if (listener.zsock == NULL)
		transport_fail("create the ZeroMQ ROUTER socket", NULL);
	set_common_options(listener.zsock);
	/* answering a connection that is gone fails instead of vanishing */
	set_int(listener.zsock, ZMQ_ROUTER_MANDATORY, 1);
	if (curve_keys)
	{
		set_int(listener.zsock, ZMQ_CURVE_SERVER, 1);
		set_string(listener.zsock, ZMQ_CURVE_SECRETKEY, curve_keys->secret_key);
	}
	/* every handshake, NULL or CURVE, asks our ZAP handler */
	set_string(listener.zsock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN);
	set_int(listener.zsock, ZMQ_ZAP_ENFORCE_DOMAIN, 1);
	start_monitor();
	if (zmq_bind(listener.zsock, endpoint) != 0)
		transport_fail("listen on \"mantis.listen\"", endpoint);
	listener.fd = socket_fd(listener.zsock);
}

void
mantis_transport_stop(void)
{
	if (holding)
	{
		zmq_msg_close(&route_msg);
		zmq_msg_close(&body_msg);
		holding = false;
	}
	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS; i++)
		mantis_transport_disconnect(i);
	if (listener.zsock)
		zmq_close(listener.zsock);
	listener.zsock = NULL;
	listener.fd = -1;
	if (monitor.zsock)
		zmq_close(monitor.zsock);
	monitor.zsock = NULL;
	if (zap.zsock)
		zmq_close(zap.zsock);
	zap.zsock = NULL;
	curve_keys = NULL;
	if (zctx)
		zmq_ctx_term(zctx);
	zctx = NULL;
	if (open_fds)
		pfree(open_fds);
	open_fds = NULL;
	open_fds_words = 0;
	inbound = 0;
	admitted = 0;
}

/*
 * Connect a free slot to a peer's endpoint; with CURVE, "server_key" is the
 * public key that peer must prove it holds.  Returns the slot, the
 * connection's handle for the other functions here, or -1 (with a reason
 * in "error") if every slot is taken or libzmq refuses the endpoint.
 */
int
mantis_transport_connect(const char *endpoint, const char *server_key,
						 char *error, size_t error_size)
{
	void	   *zsock;
	int			slot = -1;

	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS && slot < 0; i++)
	{
		if (peers[i].zsock == NULL)
			slot = i;
	}
	if (slot < 0)
	{
		snprintf(error, error_size, "all %d connections are in use", MANTIS_MAX_CONFIGURED_PEERS);
		return -1;
	}
	zsock = zmq_socket(zctx, ZMQ_DEALER);
	if (zsock == NULL)
		transport_fail("create a ZeroMQ DEALER socket", NULL);
	set_common_options(zsock);
	/* queue nothing for a peer we are not connected to: repair catches up */
	set_int(zsock, ZMQ_IMMEDIATE, 1);
	set_int(zsock, ZMQ_RECONNECT_IVL, 100);
	set_int(zsock, ZMQ_RECONNECT_IVL_MAX, 250);
	if (curve_keys)
	{
		Assert(server_key != NULL);
		set_string(zsock, ZMQ_CURVE_SERVERKEY, server_key);
		set_string(zsock, ZMQ_CURVE_PUBLICKEY, curve_keys->public_key);
		set_string(zsock, ZMQ_CURVE_SECRETKEY, curve_keys->secret_key);
	}
	if (zmq_connect(zsock, endpoint) != 0)
	{
		snprintf(error, error_size, "%s", zmq_strerror(zmq_errno()));
		zmq_close(zsock);
		return -1;
	}
	peers[slot].zsock = zsock;
	peers[slot].fd = socket_fd(zsock);
	return slot;
}

void
mantis_transport_disconnect(int slot)
{
	if (peers[slot].zsock == NULL)
		return;
	zmq_close(peers[slot].zsock);
	peers[slot].zsock = NULL;
	peers[slot].fd = -1;
}

/*
 * The file descriptors to wait on: the listener's, the monitor's, the ZAP
 * handler's, then one per connected slot.
 */
int
mantis_transport_fds(int *fds)
{
	int			n = 0;

	fds[n++] = listener.fd;
	fds[n++] = monitor.fd;
	fds[n++] = zap.fd;
	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS; i++)
	{
		if (peers[i].zsock != NULL)
			fds[n++] = peers[i].fd;
	}
	return n;
}

static bool
has_input(void *zsock)
{
	int			events = 0;
	size_t		size = sizeof(events);

	if (zmq_getsockopt(zsock, ZMQ_EVENTS, &events, &size) != 0)
		return false;
	return (events & ZMQ_POLLIN) != 0;
}

/* Receive and throw away the rest of a multi-part message. */
static void
drain_parts(void *zsock)
{
	int			more = 1;
	size_t		size = sizeof(more);

	while (zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &size) == 0 && more)
	{
		zmq_msg_t	part;

		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, zsock, ZMQ_DONTWAIT) < 0)
		{
			zmq_msg_close(&part);
			break;
		}
		zmq_msg_close(&part);
	}
}

static bool
recv_more(void *zsock)
{
	int			more = 0;
	size_t		size = sizeof(more);

	return zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &size) == 0 && more;
}

static bool
part_is(zmq_msg_t *part, const char *text)
{
	size_t		len = strlen(text);

	return zmq_msg_size(part) == len && memcmp(zmq_msg_data(part), text, len) == 0;
}

static void
send_part(void *zsock, const char *text, size_t len, bool more)
{
	(void) zmq_send(zsock, text, len, more ? ZMQ_SNDMORE : 0);
}

/*
 * A connection of the listener was accepted ("open") or is gone, by its
 * file descriptor: a descriptor already open is not counted twice, so a
 * count stays right even across a reused descriptor.
 */
static void
note_connection(int fd, bool open)
{
	int			word = fd / 64;
	uint64		bit = UINT64CONST(1) << (fd % 64);

	if (fd < 0 || fd >= (1 << 24))
		return;
	if (word >= open_fds_words)
	{
		int			words = Max(word + 1, open_fds_words * 2);

		if (!open)
			return;
		if (open_fds == NULL)
			open_fds = MemoryContextAllocZero(TopMemoryContext, words * sizeof(uint64));
		else
		{
			open_fds = repalloc(open_fds, words * sizeof(uint64));
			memset(open_fds + open_fds_words, 0, (words - open_fds_words) * sizeof(uint64));
		}
		open_fds_words = words;
	}
	if (((open_fds[word] & bit) != 0) == open)
		return;
	open_fds[word] ^= bit;
	inbound += open ? 1 : -1;
	if (!open && admitted > inbound)
	{
		admitted = inbound;
		if (inbound_changed)
			inbound_changed(admitted, false);
	}
}

/*
 * Read the listener's events: connections opened and gone, and failed
 * handshakes.  A refusal of ours for too many connections (ZAP status 300)
 * was reported when we gave it.
 */
static void
serve_monitor(void)
{
	while (has_input(monitor.zsock))
	{
		zmq_msg_t	event;
		zmq_msg_t	address;
		char		where[128] = "";
		uint16		kind = 0;
		uint32		value = 0;

		zmq_msg_init(&event);
		zmq_msg_init(&address);
		if (zmq_msg_recv(&event, monitor.zsock, ZMQ_DONTWAIT) < 0)
		{
			zmq_msg_close(&event);
			zmq_msg_close(&address);
			return;
		}
		if (zmq_msg_size(&event) >= 6)
		{
			memcpy(&kind, zmq_msg_data(&event), 2);
			memcpy(&value, (char *) zmq_msg_data(&event) + 2, 4);
		}
		if (recv_more(monitor.zsock) &&
			zmq_msg_recv(&address, monitor.zsock, ZMQ_DONTWAIT) >= 0)
			snprintf(where, sizeof(where), "%.*s",
					 (int) Min(zmq_msg_size(&address), sizeof(where) - 1),
					 (char *) zmq_msg_data(&address));
		drain_parts(monitor.zsock);
		if (kind == ZMQ_EVENT_ACCEPTED || kind == ZMQ_EVENT_DISCONNECTED)
			note_connection((int) value, kind == ZMQ_EVENT_ACCEPTED);
		else if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 300)
			;					/* too many connections: reported already */
		else if (refused)
			refused(where, kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "authentication failed" :
					kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error in the handshake (no or wrong encryption, or not ZeroMQ)" :
					"handshake failed");
		zmq_msg_close(&event);
		zmq_msg_close(&address);
	}
}

/*
 * Decide one ZAP request (parts: version, request id, domain, address,
 * routing id, mechanism, credentials): "200" lets the client in, "300"
 * refuses it for too many connections, "400" for anything else.  With
 * CURVE, *name gets the node its key speaks for.
 */
static const char *
zap_decide(zmq_msg_t *parts, int n, const char *address, char *name, size_t name_size)
{
	if (n < 6 || !part_is(&parts[0], "1.0") || !part_is(&parts[2], ZAP_DOMAIN))
	{
		if (refused)
			refused(address, "a malformed ZAP request");
		return "400";
	}
	/* the disconnections queued before this request: count them */
	serve_monitor();
	if (admitted >= mantis_max_inbound_connections)
	{
		char		why[128];

		snprintf(why, sizeof(why), "%d connections are admitted, the limit of \"mantis.max_inbound_connections\" (%d)",
				 admitted, mantis_max_inbound_connections);
		if (refused)
			refused(address, why);
		if (inbound_changed)
			inbound_changed(admitted, true);
		return "300";
	}
	if (curve_keys ?
		n == 7 && part_is(&parts[5], "CURVE") && zmq_msg_size(&parts[6]) == 32 &&
		authorize(zmq_msg_data(&parts[6]), name, name_size, address) :
		n == 6 && part_is(&parts[5], "NULL"))
	{
		admitted++;
		if (inbound_changed)
			inbound_changed(admitted, false);
		return "200";
	}
	if (curve_keys && n == 7 && part_is(&parts[5], "CURVE"))
		return "400";			/* an unknown key: "authorize" said so */
	if (refused)
		refused(address, curve_keys ? "a client without CURVE" : "a client with a security mechanism");
	return "400";
}

/*
 * Answer the ZAP requests libzmq has queued (RFC 27).  Only a client
 * within mantis.max_inbound_connections gets status 200: with CURVE, one
 * whose key "authorize" accepts, with the node name it speaks for as user
 * id; without, any NULL handshake.
 */
static void
serve_zap(void)
{
#define ZAP_PARTS 8
	while (has_input(zap.zsock))
	{
		zmq_msg_t	parts[ZAP_PARTS];
		int			n = 0;
		bool		more = true;
		char		name[MANTIS_NODE_NAME_MAX + 1] = "";
		char		address[64] = "";
		const char *status;

		while (more)
		{
			zmq_msg_t	part;

			zmq_msg_init(&part);
			if (zmq_msg_recv(&part, zap.zsock, ZMQ_DONTWAIT) < 0)
			{
				zmq_msg_close(&part);
				break;
			}
			more = recv_more(zap.zsock);
			if (n < ZAP_PARTS)
				parts[n++] = part;
			else
				zmq_msg_close(&part);
		}
		if (n < 2)
		{
			for (int i = 0; i < n; i++)
				zmq_msg_close(&parts[i]);
			continue;			/* cannot even answer; libzmq never sends this */
		}
		if (n >= 4)
			snprintf(address, sizeof(address), "%.*s",
					 (int) Min(zmq_msg_size(&parts[3]), sizeof(address) - 1),
					 (char *) zmq_msg_data(&parts[3]));
		status = zap_decide(parts, n, address, name, sizeof(name));

		send_part(zap.zsock, "1.0", 3, true);
		(void) zmq_send(zap.zsock, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), ZMQ_SNDMORE);
		send_part(zap.zsock, status, 3, true);
		send_part(zap.zsock, status[0] == '2' ? "OK" : status[0] == '3' ? "too many connections" : "refused",
				  status[0] == '2' ? 2 : status[0] == '3' ? 20 : 7, true);
		send_part(zap.zsock, name, strlen(name), true);
		send_part(zap.zsock, "", 0, false);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
}

/*
 * Try to receive one message from the listener (a peer's request) or from
 * a peer's connection (its answer), in turn.  Returns false when no socket
 * has anything; otherwise "msg" describes the message (valid until the
 * next call) and msg->malformed is set if it was not one frame.
 */
bool
mantis_transport_recv(MantisMessage *msg)
{
	int			tried;

	if (holding)
	{
		zmq_msg_close(&route_msg);
		zmq_msg_close(&body_msg);
		holding = false;
	}
	serve_monitor();
	serve_zap();

	/* source -1 is the listener, 0.. the peer slots: take turns */
	for (tried = 0; tried <= MANTIS_MAX_CONFIGURED_PEERS; tried++)
	{
		int			source = next_source - 1;
		void	   *zsock = source < 0 ? listener.zsock : peers[source].zsock;

		next_source = (next_source + 1) % (MANTIS_MAX_CONFIGURED_PEERS + 1);
		if (zsock == NULL || !has_input(zsock))
			continue;

		memset(msg, 0, sizeof(*msg));
		msg->source = source;
		zmq_msg_init(&route_msg);
		zmq_msg_init(&body_msg);
		holding = true;

		if (source < 0)
		{
			/* ROUTER: routing id, then the frame */
			if (zmq_msg_recv(&route_msg, zsock, ZMQ_DONTWAIT) < 0)
				continue;
			if (!recv_more(zsock))
			{
				msg->malformed = true;
				return true;
			}
		}
		if (zmq_msg_recv(&body_msg, zsock, ZMQ_DONTWAIT) < 0)
			continue;
		if (recv_more(zsock))
		{
			drain_parts(zsock);
			msg->malformed = true;
		}
		msg->data = zmq_msg_data(&body_msg);
		msg->len = zmq_msg_size(&body_msg);
		if (source < 0)
		{
			msg->route = zmq_msg_data(&route_msg);
			msg->route_len = zmq_msg_size(&route_msg);
			/* with CURVE, the node name the ZAP handler bound to its key */
			if (curve_keys)
				msg->user_id = zmq_msg_gets(&body_msg, "User-Id");
		}
		return true;
	}
	return false;
}

/* Send one frame to a peer's connection; false if it was not queued. */
bool
mantis_transport_send(int slot, const void *data, size_t len)
{
	if (peers[slot].zsock == NULL)
		return false;
	return zmq_send(peers[slot].zsock, data, len, ZMQ_DONTWAIT) == (int) len;
}

/* Answer on the connection a received message came from. */
bool
mantis_transport_reply(const MantisMessage *to, const void *data, size_t len)
{
	if (listener.zsock == NULL || to->route_len == 0)
		return false;
	if (zmq_send(listener.zsock, to->route, to->route_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) !=
		(int) to->route_len)
		return false;
	return zmq_send(listener.zsock, data, len, ZMQ_DONTWAIT) == (int) len;
}
