/*-------------------------------------------------------------------------
 * replication/zsock.c
 *	  Helpers around libzmq sockets for replication/transport.c and
 *	  replication/gate.c: options (ZMQ_IPV6 for an IPv6 endpoint), file
 *	  descriptors, reading what is queued and a monitor's events.  With those two, the only files that include
 *	  <zmq.h>.
 *
 * IDENTIFICATION	src/replication/zsock.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zmq.h>

#include "mantis.h"
#include "replication/transport_zmq.h"

void
mantis_zmq_fail(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("mantis could not %s: %s", what, zmq_strerror(zmq_errno())),
			 detail ? errdetail("%s", detail) : 0));
}

void
mantis_zmq_set_int(void *zsock, int option, int value)
{
	if (zmq_setsockopt(zsock, option, &value, sizeof(value)) != 0)
		mantis_zmq_fail("set a ZeroMQ socket option", NULL);
}

/*
 * libzmq resolves a tcp:// endpoint as IPv4 only unless ZMQ_IPV6 is set on
 * the socket: an IPv6 literal ("tcp://[::1]:7701") then cannot be bound
 * nor dialled.  Set it for such an endpoint, and only then: on the wildcard
 * "*" it would also make the listener take IPv6 connections.  Endpoints
 * are checked when set (mantis_endpoint_is_valid(), guc.c): a host with a
 * ':' of its own is always written in brackets.
 */
void
mantis_zmq_ipv6_for(void *zsock, const char *endpoint)
{
	if (strncmp(endpoint, "tcp://[", 7) == 0)
		mantis_zmq_set_int(zsock, ZMQ_IPV6, 1);
}

int
mantis_zmq_socket_fd(void *zsock)
{
	int			fd;
	size_t		size = sizeof(fd);

	if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &size) != 0)
		mantis_zmq_fail("get a ZeroMQ socket's file descriptor", NULL);
	return fd;
}

void
mantis_zmq_set_string(void *zsock, int option, const char *value)
{
	if (zmq_setsockopt(zsock, option, value, strlen(value)) != 0)
		mantis_zmq_fail("set a ZeroMQ socket option", NULL);
}

bool
mantis_zmq_has_input(void *zsock)
{
	int			events = 0;
	size_t		size = sizeof(events);

	if (zmq_getsockopt(zsock, ZMQ_EVENTS, &events, &size) != 0)
		return false;
	return (events & ZMQ_POLLIN) != 0;
}

/* Receive and throw away the rest of a multi-part message. */
void
mantis_zmq_drain_parts(void *zsock)
{
	while (mantis_zmq_recv_more(zsock))
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

bool
mantis_zmq_recv_more(void *zsock)
{
	int			more = 0;
	size_t		size = sizeof(more);

	return zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &size) == 0 && more;
}

/*
 * Read one event of a monitor socket: its kind, its value, and the
 * endpoint it concerns (the listener's own endpoint for the listener's
 * events, the peer's for a connection of ours).  False if none is queued.
 */
bool
mantis_zmq_read_event(void *zsock, uint16 *kind, uint32 *value, char *where, size_t where_size)
{
	zmq_msg_t	event;
	zmq_msg_t	address;

	*kind = 0;
	*value = 0;
	where[0] = '\0';
	if (!mantis_zmq_has_input(zsock))
		return false;
	zmq_msg_init(&event);
	zmq_msg_init(&address);
	if (zmq_msg_recv(&event, zsock, ZMQ_DONTWAIT) < 0)
	{
		zmq_msg_close(&event);
		zmq_msg_close(&address);
		return false;
	}
	if (zmq_msg_size(&event) >= 6)
	{
		memcpy(kind, zmq_msg_data(&event), 2);
		memcpy(value, (char *) zmq_msg_data(&event) + 2, 4);
	}
	if (mantis_zmq_recv_more(zsock) && zmq_msg_recv(&address, zsock, ZMQ_DONTWAIT) >= 0)
		snprintf(where, where_size, "%.*s",
				 (int) Min(zmq_msg_size(&address), where_size - 1),
				 (char *) zmq_msg_data(&address));
	mantis_zmq_drain_parts(zsock);
	zmq_msg_close(&event);
	zmq_msg_close(&address);
	return true;
}

/*
 * Close a socket and the PAIR socket that reads its monitor's events
 * (either may be NULL), stopping the monitor first.  libzmq sends a
 * monitor's events from its I/O thread with a blocking send: an event sent
 * once the reader is closed waits for ever, and with it every connection
 * of the context (libzmq issue 3575).  Closing a socket does not stop its
 * monitor at once: its connections end later, in the I/O thread, and a
 * connect() under way there still reports its failure or success.  Once
 * stopped (ZMQ_EVENT_MONITOR_STOPPED is not asked for), the monitor sends
 * nothing more.
 */
void
mantis_zmq_close_monitored(void *zsock, void *reader)
{
	if (zsock)
	{
		(void) zmq_socket_monitor(zsock, NULL, 0);
		zmq_close(zsock);
	}
	if (reader)
		zmq_close(reader);
}
