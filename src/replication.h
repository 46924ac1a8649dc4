/*-------------------------------------------------------------------------
 * replication.h
 *	  What the replication worker (replication_worker.c) calls in replication.c.
 *
 * IDENTIFICATION	src/replication.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_REPLICATION_H
#define MANTIS_REPLICATION_H

extern void mantis_replication_start(void);
extern void mantis_replication_stop(void);
extern bool mantis_replication_configure(void);
extern bool mantis_replication_send_due(void);
extern void mantis_replication_send_changes(void);
extern bool mantis_replication_receive(int budget);
extern void mantis_replication_tick(void);
extern long mantis_replication_sleep_ms(void);
extern size_t mantis_replication_max_frame(void);

#endif							/* MANTIS_REPLICATION_H */
