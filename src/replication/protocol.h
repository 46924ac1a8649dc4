/*-------------------------------------------------------------------------
 * replication/protocol.h
 *	  What the replication worker's loop (replication/worker.c) calls to
 *	  run the protocol (replication/protocol.c).
 *
 * IDENTIFICATION	src/replication/protocol.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PROTOCOL_H
#define MANTIS_PROTOCOL_H

extern void mantis_protocol_start(void);
extern void mantis_protocol_stop(void);
extern bool mantis_protocol_receive(int budget);
extern void mantis_protocol_tick(void);
extern long mantis_protocol_sleep_ms(void);

#endif							/* MANTIS_PROTOCOL_H */
