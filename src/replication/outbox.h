/*-------------------------------------------------------------------------
 * replication/outbox.h
 *	  Building the replication worker's frames and sending them to a peer
 *	  (replication/outbox.c).
 *
 * IDENTIFICATION	src/replication/outbox.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_OUTBOX_H
#define MANTIS_OUTBOX_H

#include "common/rules.h"
#include "replication/peers.h"
#include "replication/transport.h"

extern void mantis_outbox_start(void);
extern uint64 mantis_outbox_incarnation(void);
extern const char *mantis_outbox_encoding(void);
extern size_t mantis_outbox_max_frame(void);

/*
 * build one frame, replacing the one built before: a greeting in the
 * version given, every other frame in version 3
 */
extern void mantis_outbox_hello(const Peer *to, int version);
extern void mantis_outbox_welcome(const Peer *to, int version);
extern void mantis_outbox_summary(uint32 round, uint64 root);
extern void mantis_outbox_insync(uint32 round, const MantisLiveMark *mark);
extern void mantis_outbox_groups(uint32 round, const MantisLiveMark *mark,
								 const uint64 *digests);
extern void mantis_outbox_leaves(uint32 round, uint16 group, const uint64 *digests,
								 uint16 flags, int version);

/* TOMBS (version 5): begun, filled (records first, then bounds), ended */
extern void mantis_outbox_tombs_begin(uint32 round, uint16 group);
extern void mantis_outbox_tombs_record(const MantisRecordView *r);
extern void mantis_outbox_tombs_bound(int leaf, const MantisLeafBound *b);
extern void mantis_outbox_tombs_end(uint32 records, uint16 bounds);

/* the frame built last */
extern const char *mantis_outbox_data(void);
extern int	mantis_outbox_len(void);

/* send it on our connection to a peer, or as the answer to a request */
extern bool mantis_outbox_send(Peer *peer);
extern bool mantis_outbox_reply(Peer *peer, const MantisMessage *m);

/*
 * UPDATES frames, filled a register at a time: a full frame is handed to
 * "flush" and a new one begun.  "to" and "msg" are for flush, which sends
 * the frame where it belongs (to every peer, to one, as a reply).
 */
typedef struct MantisUpdates
{
	uint32		round;
	uint16		group;
	uint32		count;
	void		(*flush) (struct MantisUpdates *u);
	Peer	   *to;
	const MantisMessage *msg;
} MantisUpdates;

extern void mantis_updates_begin(MantisUpdates *u);
extern void mantis_updates_add(const MantisRecord *rec, void *arg);
extern void mantis_updates_end(MantisUpdates *u);
extern void mantis_updates_end_batch(MantisUpdates *u, uint64 watermark);

#endif							/* MANTIS_OUTBOX_H */
