/*-------------------------------------------------------------------------
 * replication/gate.c
 *	  The gate of the replication listener: the ZAP handler every
 *	  handshake passes, and the listener's monitor (with
 *	  replication/transport.c and replication/zsock.c, the only files that
 *	  include <zmq.h>).
 *
 * A ZAP handler of ours (RFC 27), bound before any socket exists, answers
 * for every handshake on the listener, with or without CURVE (libzmq asks
 * it for the NULL mechanism too, since the listener has a ZAP domain), and
 * ZMQ_ZAP_ENFORCE_DOMAIN makes libzmq refuse every client if no handler
 * answers: it fails closed.  With CURVE it lets in only the client keys the
 * caller's "authorize" accepts, naming the node each key speaks for (ZAP
 * user id, attached to every message); without, every NULL handshake.
 *
 * A socket monitor on the listener follows its connections (accepted and
 * gone, by file descriptor) and reports the handshakes that failed (no
 * encryption, garbage instead of ZMTP).  libzmq cannot close one connection
 * of a ROUTER, nor refuse one at accept, so mantis.max_inbound_connections
 * is kept at the handshake: with that many connections admitted, the
 * handler refuses the next (status 300), and libzmq closes it.  Connections
 * still in their handshake do not count, so that clients arriving together
 * are admitted up to the limit rather than all refused, and strangers who
 * never finish a handshake (the 5 s limit drops them) take no peer's place.
 * No event ties a handshake to its connection: the count of admitted
 * connections (replication/inbound.c) is kept from the monitor's events,
 * the handler's admissions and the descriptor each message the listener
 * receives came from (mantis_gate_heard, called by
 * replication/transport.c), so that each connection gives its place back
 * when it closes, whatever else is open.
 *
 * A refusal is reported once, with the client's address as the ZAP request
 * gives it; the monitor's event of the same refusal names only our own
 * endpoint, and is not reported again.
 *
 * IDENTIFICATION	src/replication/gate.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zmq.h>

#include "utils/memutils.h"

#include "mantis.h"
#include "guc.h"
#include "replication/inbound.h"
#include "replication/transport_zmq.h"

/* a stable libzmq option kept in the draft section of Debian's zmq.h */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define ZAP_ENDPOINT		"inproc://zeromq.zap.01"
#define ZAP_DOMAIN			"mantis"
#define MONITOR_ENDPOINT	"inproc://mantis.monitor"

static void *zap = NULL;		/* the ZAP handler */
static void *monitor = NULL;	/* the listener's connections */
static bool curve = false;
static MantisAuthorizeFn authorize = NULL;
static MantisRefusedFn refused = NULL;
static MantisInboundFn inbound_changed = NULL;

static MantisInbound admitted;	/* the listener's admitted connections */

/*
 * Bind the ZAP handler, before any socket that could ask it anything.
 */
static void
start_zap(void *zctx)
{
	zap = zmq_socket(zctx, ZMQ_REP);
	if (zap == NULL)
		mantis_zmq_fail("create the ZAP handler socket", NULL);
	mantis_zmq_set_int(zap, ZMQ_LINGER, 0);
	if (zmq_bind(zap, ZAP_ENDPOINT) != 0)
		mantis_zmq_fail("bind the ZAP handler", NULL);
}

/*
 * Watch the listener's connections and failed handshakes.  The monitor's
 * queue has no bound: a lost event would make the count of connections
 * wrong, and the worker reads them all before each ZAP answer.
 */
static void
start_monitor(void *zctx, void *listener)
{
	if (zmq_socket_monitor(listener, MONITOR_ENDPOINT,
						   ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
						   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
						   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
		mantis_zmq_fail("monitor the ROUTER socket", NULL);
	monitor = zmq_socket(zctx, ZMQ_PAIR);
	if (monitor == NULL)
		mantis_zmq_fail("create the monitor socket", NULL);
	mantis_zmq_set_int(monitor, ZMQ_LINGER, 0);
	mantis_zmq_set_int(monitor, ZMQ_RCVHWM, 0);
	if (zmq_connect(monitor, MONITOR_ENDPOINT) != 0)
		mantis_zmq_fail("connect the monitor socket", NULL);
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

/* Tell the caller the count of admitted connections changed, or is full. */
static void
report_inbound(bool changed, bool over_limit)
{
	if ((changed || over_limit) && inbound_changed)
		inbound_changed(mantis_inbound_count(&admitted), over_limit);
}

/*
 * Read the listener's events: connections opened and gone, and failed
 * handshakes.  A refusal by the ZAP handler (an unknown key, too many
 * connections, no CURVE) was reported, with the client's address, when it
 * was given; the other failures come without the client's address (the
 * event names only our own endpoint), so none is named.
 */
static void
serve_monitor(void)
{
	uint16		kind;
	uint32		value;
	char		where[128];

	while (mantis_zmq_read_event(monitor, &kind, &value, where, sizeof(where)))
	{
		if (kind == ZMQ_EVENT_ACCEPTED)
			mantis_inbound_accepted(&admitted, (int) value);
		else if (kind == ZMQ_EVENT_DISCONNECTED)
			report_inbound(mantis_inbound_closed(&admitted, (int) value), false);
		else if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
			;					/* the ZAP handler's refusal: reported already */
		else if (refused)
			refused(NULL, kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ?
					"protocol error in the handshake (no or wrong encryption, or not ZeroMQ)" :
					"handshake failed");
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
	if (mantis_inbound_count(&admitted) >= mantis_max_inbound_connections)
	{
		char		why[128];

		snprintf(why, sizeof(why), "%d connections are admitted, the limit of \"mantis.max_inbound_connections\" (%d)",
				 mantis_inbound_count(&admitted), mantis_max_inbound_connections);
		if (refused)
			refused(address, why);
		report_inbound(false, true);
		return "300";
	}
	if (curve ?
		n == 7 && part_is(&parts[5], "CURVE") && zmq_msg_size(&parts[6]) == 32 &&
		authorize(zmq_msg_data(&parts[6]), name, name_size, address) :
		n == 6 && part_is(&parts[5], "NULL"))
	{
		mantis_inbound_admitted(&admitted);
		report_inbound(true, false);
		return "200";
	}
	if (curve && n == 7 && part_is(&parts[5], "CURVE"))
		return "400";			/* an unknown key: "authorize" said so */
	if (refused)
		refused(address, curve ? "a client without CURVE" : "a client with a security mechanism");
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
	while (mantis_zmq_has_input(zap))
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
			if (zmq_msg_recv(&part, zap, ZMQ_DONTWAIT) < 0)
			{
				zmq_msg_close(&part);
				break;
			}
			more = mantis_zmq_recv_more(zap);
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

		send_part(zap, "1.0", 3, true);
		(void) zmq_send(zap, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), ZMQ_SNDMORE);
		send_part(zap, status, 3, true);
		send_part(zap, status[0] == '2' ? "OK" : status[0] == '3' ? "too many connections" : "refused",
				  status[0] == '2' ? 2 : status[0] == '3' ? 20 : 7, true);
		send_part(zap, name, strlen(name), true);
		send_part(zap, "", 0, false);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
}


/*
 * Bind the ZAP handler, before any socket that could ask it anything.
 * With "curve", clients must use CURVE and "authorize_fn" accept their key.
 */
void
mantis_gate_start(void *zctx, bool with_curve, MantisAuthorizeFn authorize_fn,
				  MantisRefusedFn refused_fn, MantisInboundFn inbound_fn)
{
	curve = with_curve;
	authorize = authorize_fn;
	refused = refused_fn;
	inbound_changed = inbound_fn;
	mantis_inbound_reset(&admitted);
	start_zap(zctx);
}

/* Make every handshake on the listener ask the handler, and watch it. */
void
mantis_gate_watch(void *zctx, void *listener)
{
	mantis_zmq_set_string(listener, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN);
	mantis_zmq_set_int(listener, ZMQ_ZAP_ENFORCE_DOMAIN, 1);
	start_monitor(zctx, listener);
}

/* Answer what is queued: the monitor's events, then the ZAP requests. */
void
mantis_gate_serve(void)
{
	if (monitor)
		serve_monitor();
	if (zap)
		serve_zap();
}

/*
 * The listener read a message from the connection on file descriptor fd
 * (ZMQ_SRCFD): that connection was admitted (replication/inbound.c).
 */
void
mantis_gate_heard(int fd)
{
	report_inbound(mantis_inbound_spoke(&admitted, fd), false);
}

/*
 * The listener has no message left to read since the monitor was last
 * served (replication/transport.c): the connections closed so far have no
 * message still to come (replication/inbound.c).
 */
void
mantis_gate_drained(void)
{
	report_inbound(mantis_inbound_settled(&admitted), false);
}

/* The monitor's and the handler's file descriptors, to wait on */
int
mantis_gate_fds(int *fds)
{
	fds[0] = mantis_zmq_socket_fd(monitor);
	fds[1] = mantis_zmq_socket_fd(zap);
	return 2;
}

/* Close the listener (if any) and its monitor, then the handler. */
void
mantis_gate_stop(void *listener)
{
	mantis_zmq_close_monitored(listener, monitor);
	monitor = NULL;
	if (zap)
		zmq_close(zap);
	zap = NULL;
	mantis_inbound_reset(&admitted);
}
