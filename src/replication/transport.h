/*-------------------------------------------------------------------------
 * replication/transport.h
 *	  The replication worker's sockets (replication/transport.c), without
 *	  <zmq.h>.
 *
 * IDENTIFICATION	src/replication/transport.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_TRANSPORT_H
#define MANTIS_TRANSPORT_H

/* A received message; valid until the next mantis_transport_recv(). */
typedef struct MantisMessage
{
	int			source;			/* -1: a peer's request on our listener;
								 * >= 0: the answer on our connection in
								 * that slot */
	const void *data;
	size_t		len;
	const void *route;			/* listener only: where to answer */
	size_t		route_len;
	bool		malformed;		/* not a single-part message */
	const char *user_id;		/* listener with CURVE: the key's node name */
	const char *peer_address;	/* listener: the client's IP address, or NULL */
} MantisMessage;

struct MantisKeyPair;

/* May the client with this CURVE public key in?  If so, as which node. */
typedef bool (*MantisAuthorizeFn) (const unsigned char *key, char *name,
								   size_t name_size, const char *address);

/*
 * A connection to our listener was refused during its handshake; "address"
 * is the client's, or NULL when libzmq does not tell it.
 */
typedef void (*MantisRefusedFn) (const char *address, const char *why);

/* What a connection of ours (a slot) went through (replication/links.c) */
typedef enum MantisLinkEvent
{
	MANTIS_LINK_TCP_UP,			/* a TCP connection is made */
	MANTIS_LINK_TCP_FAILED,		/* none could be made: libzmq retries */
	MANTIS_LINK_LOST,			/* the connection closed */
	MANTIS_LINK_UP,				/* its handshake succeeded */
	MANTIS_LINK_REFUSED,		/* the peer refused the handshake: value is
								 * the ZAP status (300: its connection
								 * limit, 400: our key); libzmq gives up */
	MANTIS_LINK_MECHANISM,		/* one of us uses CURVE, the other not */
	MANTIS_LINK_FAILED			/* the handshake failed otherwise (the
								 * peer closed it: a wrong server key) */
} MantisLinkEvent;

typedef void (*MantisLinkFn) (int slot, MantisLinkEvent event, int value);

/* file descriptors mantis_transport_fds() can return */
#define MANTIS_TRANSPORT_MAX_FDS	(3 + 2 * MANTIS_MAX_CONFIGURED_PEERS)

/*
 * The connections open on our listener are now "open"; "over_limit": one
 * was refused for mantis.max_inbound_connections.
 */
typedef void (*MantisInboundFn) (int open, bool over_limit);

extern void mantis_transport_start(const char *endpoint, size_t max_message_size,
								   const struct MantisKeyPair *keys,
								   MantisAuthorizeFn authorize_fn,
								   MantisRefusedFn refused_fn,
								   MantisInboundFn inbound_fn);
extern void mantis_transport_on_link(MantisLinkFn fn);
extern void mantis_transport_stop(void);
extern int	mantis_transport_connect(const char *endpoint, const char *server_key,
									 char *error, size_t error_size);
extern void mantis_transport_disconnect(int slot);
extern int	mantis_transport_fds(int *fds);
extern bool mantis_transport_recv(MantisMessage *msg);
extern bool mantis_transport_send(int slot, const void *data, size_t len);
extern bool mantis_transport_reply(const MantisMessage *to, const void *data,
								   size_t len);

#endif							/* MANTIS_TRANSPORT_H */
