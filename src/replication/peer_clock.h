/*-------------------------------------------------------------------------
 * replication/peer_clock.h
 *	  What our peers' frames say of their clocks (replication/peer_clock.c).
 *
 * IDENTIFICATION	src/replication/peer_clock.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PEER_CLOCK_H
#define MANTIS_PEER_CLOCK_H

#include "replication/peers.h"

extern void mantis_peer_clock_heard(Peer *peer, uint64 hlc);
extern uint64 mantis_peer_clocks_least(void);

#endif							/* MANTIS_PEER_CLOCK_H */
