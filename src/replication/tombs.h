/*-------------------------------------------------------------------------
 * replication/tombs.h
 *	  Hash tombstones of protocol 5 in repair (replication/tombs.c, R7 of
 *	  common/rules.h): sent after a group's UPDATES, merged on receipt.
 *
 * IDENTIFICATION	src/replication/tombs.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_REPLICATION_TOMBS_H
#define MANTIS_REPLICATION_TOMBS_H

#include "common/frame.h"
#include "replication/peers.h"
#include "replication/transport.h"

/* what a tombstone or bound adds to its leaf's digest (the puller's proof) */
typedef void (*MantisTombNote) (int leaf, uint64 fingerprint);

extern int	mantis_tombs_version(const Peer *peer);
extern bool mantis_tombs_missing(const Peer *peer, const MantisFrame *leaves);
extern bool mantis_tombs_send(Peer *peer, const MantisMessage *reply_to, uint32 round,
							  uint16 group, const bool *wanted);
extern bool mantis_tombs_merge(Peer *peer, const MantisFrame *f, int seen_flag,
							   MantisTombNote note);

#endif							/* MANTIS_REPLICATION_TOMBS_H */
