/*-------------------------------------------------------------------------
 * replication/horizon.h
 *	  Acknowledgements between peers, and the collection horizon computed
 *	  from them (replication/horizon.c).
 *
 * IDENTIFICATION	src/replication/horizon.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_HORIZON_H
#define MANTIS_HORIZON_H

#include "datatype/timestamp.h"

#include "mantis.h"
#include "common/frame.h"

/* What we know of a peer's writes, and it of ours (a part of Peer) */
typedef struct PeerAcks
{
	/* its live stream to us */
	uint64		in_incarnation; /* of the sender, for the fields below */
	bool		in_unbroken;	/* every frame through in_seq arrived */
	uint32		in_seq;
	uint64		in_held;		/* we hold its writes through this HLC */
	uint64		in_durable;		/* ... and have flushed them, through this */
	uint64		in_pending;		/* an in_held waiting for a flush */
	uint64		in_pending_after;	/* the persistence take it waits for */
	bool		run_valid;		/* while broken: the frames since the break */
	uint32		run_start;
	uint32		run_end;
	uint64		run_watermark;

	/* its last greeting */
	uint64		acked;			/* it holds our writes through this HLC */
	uint64		stable;			/* its members hold its writes through this */
	uint64		collected;		/* it may have collected at or below this */
	uint64		collected_incarnation;	/* the run that said so */
	uint64		members;		/* its member set's digest (protocol 4), 0 */
	uint64		generation;		/* the greatest generation of its run ... */
	uint64		generation_incarnation; /* ... this one */
	uint64		collected_rejected; /* the last one past our clock, ignored */

	/* our last HELLO to it: what it said, so that news goes out at once */
	uint64		told_acked;		/* in_durable */
	uint64		told_stable;	/* our "stable" */

	/* our repair round with it */
	bool		round_marked;	/* its answer gave its live mark */
	bool		round_tainted;	/* something it sent was not merged */
	bool		round_held_back;	/* its answer held registers back */
	MantisLiveMark round_mark;
	uint64		round_collected;	/* its "collected" when the round began */
	TimestampTz round_started_at;
	TimestampTz clean_round_at; /* the start of its last round that merged all */

	/* a hole: registers it sent that we refused for room, limits or skew */
	uint64		hole_ts;		/* the least HLC refused, or NO_HOLE */
	uint32		hole_count;		/* holes noted since it was first seen */
	uint32		round_hole_count;	/* hole_count when our round began */
} PeerAcks;

struct Peer;

extern void mantis_horizon_on_live(struct Peer *peer, const MantisFrame *f, bool clean);
extern void mantis_horizon_round_start(struct Peer *peer);
extern void mantis_horizon_round_mark(struct Peer *peer, const MantisLiveMark *mark);
extern void mantis_horizon_round_taint(struct Peer *peer);
extern void mantis_horizon_round_held_back(struct Peer *peer);
extern void mantis_horizon_round_end(struct Peer *peer, bool completed);
extern void mantis_horizon_hole(struct Peer *peer, uint64 refused_ts);
extern uint64 mantis_horizon_adopt_upto(const struct Peer *peer);
extern void mantis_horizon_other_node(struct Peer *peer);
extern bool mantis_horizon_may_adopt(void);
extern void mantis_horizon_on_greeting(struct Peer *peer, const MantisFrame *f,
									   uint64 ours);
extern void mantis_horizon_fill_greeting(const struct Peer *to, MantisGreeting *g);
extern void mantis_horizon_tick(void);

#endif							/* MANTIS_HORIZON_H */
