/*-------------------------------------------------------------------------
 * replication/held.h
 *	  The leaves a peer refused the registers of before, held back from
 *	  repair a while (replication/held.c).
 *
 * IDENTIFICATION	src/replication/held.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_REPLICATION_HELD_H
#define MANTIS_REPLICATION_HELD_H

#include "replication/peers.h"

extern bool mantis_held_skip(Peer *peer, int leaf, uint64 ours, uint64 theirs);
extern void mantis_held_note(Peer *peer, int leaf, uint64 ours, uint64 theirs, int count);

#endif							/* MANTIS_REPLICATION_HELD_H */
