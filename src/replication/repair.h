/*-------------------------------------------------------------------------
 * replication/repair.h
 *	  Anti-entropy: repair rounds with each peer, as the puller and as the
 *	  answerer (replication/repair.c).
 *
 * IDENTIFICATION	src/replication/repair.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_REPAIR_H
#define MANTIS_REPAIR_H

#include "replication/peers.h"
#include "replication/transport.h"

extern void mantis_repair_start(void);
extern void mantis_repair_digests_changed(void);

/* puller */
extern void mantis_repair_start_round(Peer *peer, TimestampTz now);
extern void mantis_repair_end_round(Peer *peer, TimestampTz now, bool completed);
extern void mantis_repair_tick(Peer *peer, TimestampTz now);
extern TimestampTz mantis_repair_wake_at(const Peer *peer);
extern bool mantis_repair_answer_current(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_repair_on_insync(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_repair_on_groups(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_repair_on_updates(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_repair_on_leaves(Peer *peer, const MantisFrame *f, TimestampTz now);
extern void mantis_repair_on_tombs(Peer *peer, const MantisFrame *f, TimestampTz now);

/* answerer */
extern void mantis_repair_answer_summary(Peer *from, const MantisMessage *m,
										 const MantisFrame *f);
extern void mantis_repair_answer_leaves(Peer *from, const MantisMessage *m,
										const MantisFrame *f);

/* a peer's new incarnation: forget which of its leaves to hold back */
extern void mantis_repair_note_incarnation(Peer *peer, uint64 incarnation);

#endif							/* MANTIS_REPAIR_H */
