/*-------------------------------------------------------------------------
 * replication/live.h
 *	  Live changes: what is written here goes to every peer at once, and
 *	  what peers send is merged (replication/live.c).
 *
 * IDENTIFICATION	src/replication/live.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LIVE_H
#define MANTIS_LIVE_H

#include "replication/peers.h"

extern void mantis_live_start(void);
extern bool mantis_live_send_due(void);
extern long mantis_live_pace_left_ms(void);
extern bool mantis_live_streaming(void);
extern void mantis_live_send_changes(void);
extern void mantis_live_drain(Peer *peer);
extern bool mantis_live_merge(Peer *from, const MantisFrame *f, int extra_flags);
extern MantisLiveMark mantis_live_mark(void);
extern TimestampTz mantis_live_wake_at(void);

#endif							/* MANTIS_LIVE_H */
