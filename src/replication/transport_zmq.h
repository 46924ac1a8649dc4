/*-------------------------------------------------------------------------
 * replication/transport_zmq.h
 *	  What replication/transport.c and replication/gate.c share: helpers
 *	  around libzmq sockets (replication/zsock.c), and the listener's gate.
 *	  Only those three files include it (and <zmq.h>).
 *
 * IDENTIFICATION	src/replication/transport_zmq.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_TRANSPORT_ZMQ_H
#define MANTIS_TRANSPORT_ZMQ_H

#include "compat.h"
#include "replication/transport.h"

/* replication/zsock.c */
pg_noreturn extern void mantis_zmq_fail(const char *what, const char *detail);
extern void mantis_zmq_set_int(void *zsock, int option, int value);
extern void mantis_zmq_set_string(void *zsock, int option, const char *value);
extern void mantis_zmq_ipv6_for(void *zsock, const char *endpoint);
extern int	mantis_zmq_socket_fd(void *zsock);
extern bool mantis_zmq_has_input(void *zsock);
extern bool mantis_zmq_recv_more(void *zsock);
extern void mantis_zmq_drain_parts(void *zsock);
extern bool mantis_zmq_read_event(void *zsock, uint16 *kind, uint32 *value,
								  char *where, size_t where_size);
extern void mantis_zmq_close_monitored(void *zsock, void *reader);

/* replication/gate.c */
extern void mantis_gate_start(void *zctx, bool curve, MantisAuthorizeFn authorize_fn,
							  MantisRefusedFn refused_fn, MantisInboundFn inbound_fn);
extern void mantis_gate_watch(void *zctx, void *listener);
extern void mantis_gate_serve(void);
extern void mantis_gate_heard(int fd);
extern void mantis_gate_drained(void);
extern int	mantis_gate_fds(int *fds);
extern void mantis_gate_stop(void *listener);

#endif							/* MANTIS_TRANSPORT_ZMQ_H */
