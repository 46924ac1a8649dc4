/*-------------------------------------------------------------------------
 * protocol.h
 *	  What the replication worker's loop (replication_worker.c) calls to
 *	  run the protocol (protocol.c).
 *
 * IDENTIFICATION	src/protocol.h
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
