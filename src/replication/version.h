/*-------------------------------------------------------------------------
 * replication/version.h
 *	  The protocol version in use with each peer (replication/version.c).
 *
 * IDENTIFICATION	src/replication/version.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_REPLICATION_VERSION_H
#define MANTIS_REPLICATION_VERSION_H

#include "common/frame.h"
#include "replication/peers.h"

extern void mantis_version_note(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_version_forget(Peer *peer, TimestampTz now);
extern void mantis_version_apply_max(TimestampTz now);
extern void mantis_version_greet(Peer *peer, TimestampTz now);

#endif							/* MANTIS_REPLICATION_VERSION_H */
