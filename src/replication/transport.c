/*-------------------------------------------------------------------------
 * replication/transport.c
 *	  ZeroMQ sockets of the replication worker; with replication/gate.c
 *	  and replication/zsock.c, the only files that include <zmq.h>.
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
 * A socket bound or connected to an IPv6 literal (tcp://[::1]:PORT) gets
 * ZMQ_IPV6, without which libzmq resolves tcp:// as IPv4 only.
 *
 * Every handshake on the listener passes our ZAP handler, within
 * mantis.max_inbound_connections (replication/gate.c); each message the
 * listener receives tells the gate which connection spoke, by the file
 * descriptor it came from, so that it knows that connection admitted.
 *
 * Each connection of ours has a socket monitor: libzmq 4.3 gives up for
 * good on a connection whose handshake the peer refused (our key not
 * allowed there, its connection limit), and says so only to a monitor.
 * What it says goes to the caller's link callback (replication/links.c
 * decides when to connect again).  A connection is closed with its
 * monitor stopped first (replication/zsock.c): libzmq's I/O thread sends
 * the events, blocking, and one sent to a closed reader - a connect()
 * still under way as we close a connection just made - would stop every
 * connection and handshake of the worker for good.
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
#include "replication/transport_zmq.h"

/* queue bounds, in messages, per connection */
#define SEND_HWM			256
#define RECV_HWM			256

typedef struct Socket
{
	void	   *zsock;
	int			fd;
	void	   *mon;			/* a connection of ours: its monitor */
	int			mon_fd;
} Socket;

static void *zctx = NULL;
static Socket listener = {NULL, -1, NULL, -1};
static const MantisKeyPair *curve_keys = NULL;
static MantisLinkFn link_event = NULL;
static uint32 monitors_made = 0;	/* names each connection's monitor */
static Socket peers[MANTIS_MAX_CONFIGURED_PEERS];
static size_t max_message = 0;

/* the message being handed to the caller: routing id (ROUTER) and body */
static zmq_msg_t route_msg;
static zmq_msg_t body_msg;
static bool holding = false;
static int	next_source = 0;

static void
set_common_options(void *zsock)
{
	int64		maxmsg = (int64) max_message;

	mantis_zmq_set_int(zsock, ZMQ_LINGER, 0);
	mantis_zmq_set_int(zsock, ZMQ_SNDHWM, SEND_HWM);
	mantis_zmq_set_int(zsock, ZMQ_RCVHWM, RECV_HWM);
	if (zmq_setsockopt(zsock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0)
		mantis_zmq_fail("set ZMQ_MAXMSGSIZE", NULL);
	/* ZMTP heartbeats find dead connections that TCP would keep for hours */
	mantis_zmq_set_int(zsock, ZMQ_HEARTBEAT_IVL, 1000);
	mantis_zmq_set_int(zsock, ZMQ_HEARTBEAT_TIMEOUT, 5000);
	/* a client that never finishes the handshake is dropped */
	mantis_zmq_set_int(zsock, ZMQ_HANDSHAKE_IVL, 5000);
	mantis_zmq_set_int(zsock, ZMQ_TCP_KEEPALIVE, 1);
}

/* on_proc_exit: close everything without waiting */
static void
transport_shutdown(int code, Datum arg)
{
	mantis_transport_stop();
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
	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS; i++)
	{
		peers[i].zsock = NULL;
		peers[i].fd = -1;
		peers[i].mon = NULL;
		peers[i].mon_fd = -1;
	}

	zctx = zmq_ctx_new();
	if (zctx == NULL)
		mantis_zmq_fail("create a ZeroMQ context", NULL);
	zmq_ctx_set(zctx, ZMQ_IO_THREADS, 1);
	zmq_ctx_set(zctx, ZMQ_BLOCKY, 0);
	on_proc_exit(transport_shutdown, (Datum) 0);
	mantis_gate_start(zctx, curve_keys != NULL, authorize_fn, refused_fn, inbound_fn);

	listener.zsock = zmq_socket(zctx, ZMQ_ROUTER);
	if (listener.zsock == NULL)
		mantis_zmq_fail("create the ZeroMQ ROUTER socket", NULL);
	set_common_options(listener.zsock);
	/* answering a connection that is gone fails instead of vanishing */
	mantis_zmq_set_int(listener.zsock, ZMQ_ROUTER_MANDATORY, 1);
	if (curve_keys)
	{
		mantis_zmq_set_int(listener.zsock, ZMQ_CURVE_SERVER, 1);
		mantis_zmq_set_string(listener.zsock, ZMQ_CURVE_SECRETKEY, curve_keys->secret_key);
	}
	/* every handshake, NULL or CURVE, asks our ZAP handler */
	mantis_gate_watch(zctx, listener.zsock);
	mantis_zmq_ipv6_for(listener.zsock, endpoint);
	if (zmq_bind(listener.zsock, endpoint) != 0)
		mantis_zmq_fail("listen on \"mantis.listen\"", endpoint);
	listener.fd = mantis_zmq_socket_fd(listener.zsock);
}

/* Who hears what our connections' monitors say */
void
mantis_transport_on_link(MantisLinkFn fn)
{
	link_event = fn;
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
	mantis_gate_stop(listener.zsock);
	listener.zsock = NULL;
	listener.fd = -1;
	curve_keys = NULL;
	if (zctx)
		zmq_ctx_term(zctx);
	zctx = NULL;
}

/*
 * Watch a connection of ours (a slot's DEALER socket): its TCP connection
 * made, failed and lost, and its handshake done or refused, for
 * replication/links.c.  libzmq 4.3 gives up for good on a connection
 * whose handshake the peer refused: only these events tell.
 */
static void
watch_link(int slot)
{
	char		name[64];

	snprintf(name, sizeof(name), "inproc://mantis.link.%u", monitors_made++);
	if (zmq_socket_monitor(peers[slot].zsock, name,
						   ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
						   ZMQ_EVENT_DISCONNECTED |
						   ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
						   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
		mantis_zmq_fail("monitor a DEALER socket", NULL);
	peers[slot].mon = zmq_socket(zctx, ZMQ_PAIR);
	if (peers[slot].mon == NULL)
		mantis_zmq_fail("create a monitor socket", NULL);
	mantis_zmq_set_int(peers[slot].mon, ZMQ_LINGER, 0);
	mantis_zmq_set_int(peers[slot].mon, ZMQ_RCVHWM, 0);
	if (zmq_connect(peers[slot].mon, name) != 0)
		mantis_zmq_fail("connect a monitor socket", NULL);
	peers[slot].mon_fd = mantis_zmq_socket_fd(peers[slot].mon);
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
		mantis_zmq_fail("create a ZeroMQ DEALER socket", NULL);
	set_common_options(zsock);
	/* queue nothing for a peer we are not connected to: repair catches up */
	mantis_zmq_set_int(zsock, ZMQ_IMMEDIATE, 1);
	mantis_zmq_set_int(zsock, ZMQ_RECONNECT_IVL, 100);
	mantis_zmq_set_int(zsock, ZMQ_RECONNECT_IVL_MAX, 250);
	if (curve_keys)
	{
		Assert(server_key != NULL);
		mantis_zmq_set_string(zsock, ZMQ_CURVE_SERVERKEY, server_key);
		mantis_zmq_set_string(zsock, ZMQ_CURVE_PUBLICKEY, curve_keys->public_key);
		mantis_zmq_set_string(zsock, ZMQ_CURVE_SECRETKEY, curve_keys->secret_key);
	}
	mantis_zmq_ipv6_for(zsock, endpoint);
	peers[slot].zsock = zsock;
	peers[slot].fd = mantis_zmq_socket_fd(zsock);
	watch_link(slot);
	if (zmq_connect(zsock, endpoint) != 0)
	{
		snprintf(error, error_size, "%s", zmq_strerror(zmq_errno()));
		mantis_transport_disconnect(slot);
		return -1;
	}
	return slot;
}

void
mantis_transport_disconnect(int slot)
{
	if (peers[slot].zsock == NULL)
		return;
	/* the monitor stops first: else libzmq's I/O thread can hang (zsock.c) */
	mantis_zmq_close_monitored(peers[slot].zsock, peers[slot].mon);
	peers[slot].zsock = NULL;
	peers[slot].fd = -1;
	peers[slot].mon = NULL;
	peers[slot].mon_fd = -1;
}

/*
 * The file descriptors to wait on: the listener's, the monitor's, the ZAP
 * handler's, then two per connected slot (its socket, its monitor): at
 * most MANTIS_TRANSPORT_MAX_FDS.
 */
int
mantis_transport_fds(int *fds)
{
	int			n = 0;

	fds[n++] = listener.fd;
	n += mantis_gate_fds(fds + n);
	for (int i = 0; i < MANTIS_MAX_CONFIGURED_PEERS; i++)
	{
		if (peers[i].zsock != NULL)
			fds[n++] = peers[i].fd;
		if (peers[i].mon != NULL)
			fds[n++] = peers[i].mon_fd;
	}
	return n;
}

/* What our connections' monitors say, for the link callback. */
static void
serve_links(void)
{
	for (int slot = 0; slot < MANTIS_MAX_CONFIGURED_PEERS; slot++)
	{
		uint16		kind;
		uint32		value;
		char		where[128];

		while (peers[slot].mon != NULL &&
			   mantis_zmq_read_event(peers[slot].mon, &kind, &value, where, sizeof(where)))
		{
			MantisLinkEvent e;

			switch (kind)
			{
				case ZMQ_EVENT_CONNECTED:
					e = MANTIS_LINK_TCP_UP;
					break;
				case ZMQ_EVENT_CONNECT_RETRIED:
					e = MANTIS_LINK_TCP_FAILED;
					break;
				case ZMQ_EVENT_DISCONNECTED:
					e = MANTIS_LINK_LOST;
					break;
				case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
					e = MANTIS_LINK_UP;
					break;
				case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
					e = MANTIS_LINK_REFUSED;
					break;
				case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
					e = value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ?
						MANTIS_LINK_MECHANISM : MANTIS_LINK_FAILED;
					break;
				default:
					e = MANTIS_LINK_FAILED;
					break;
			}
			if (link_event)
				link_event(slot, e, (int) value);
		}
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
	mantis_gate_serve();
	serve_links();

	/* source -1 is the listener, 0.. the peer slots: take turns */
	for (tried = 0; tried <= MANTIS_MAX_CONFIGURED_PEERS; tried++)
	{
		int			source = next_source - 1;
		void	   *zsock = source < 0 ? listener.zsock : peers[source].zsock;

		next_source = (next_source + 1) % (MANTIS_MAX_CONFIGURED_PEERS + 1);
		if (zsock == NULL || !mantis_zmq_has_input(zsock))
		{
			/* read empty since mantis_gate_serve() above (gate.c) */
			if (source < 0 && zsock != NULL)
				mantis_gate_drained();
			continue;
		}

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
			if (!mantis_zmq_recv_more(zsock))
			{
				msg->malformed = true;
				return true;
			}
		}
		if (zmq_msg_recv(&body_msg, zsock, ZMQ_DONTWAIT) < 0)
			continue;
		if (mantis_zmq_recv_more(zsock))
		{
			mantis_zmq_drain_parts(zsock);
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
			msg->peer_address = zmq_msg_gets(&body_msg, "Peer-Address");
			/* the connection it came from was admitted (gate.c) */
			mantis_gate_heard(zmq_msg_get(&body_msg, ZMQ_SRCFD));
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
