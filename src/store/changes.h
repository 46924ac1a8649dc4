/*-------------------------------------------------------------------------
 * store/changes.h
 *	  The change log: every register this server applies, in the order it
 *	  applied them, with its key (store/changes.c).  What mantis_changes()
 *	  and mantis_wait() read (watch/feed.c).
 *
 * IDENTIFICATION	src/store/changes.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_CHANGES_H
#define MANTIS_CHANGES_H

#include "mantis.h"
#include "common/hlc.h"

/* What an entry says happened to its key */
typedef enum MantisChangeKind
{
	MANTIS_CHANGE_WRITE = 1,	/* a value was stored (local, peer's, row's) */
	MANTIS_CHANGE_DELETE,		/* a deletion marker was stored */
	MANTIS_CHANGE_EXPIRED,		/* the sweep found the value expired */
	MANTIS_CHANGE_GONE			/* adopted away, or replaced by a record */
} MantisChangeKind;

/* One entry, as copied out of the log */
typedef struct MantisChange
{
	uint64		seq;			/* this run's order of application, from 1 */
	uint64		change_ts;		/* the HLC ts a cursor compares: the
								 * register's, or for an expiry its expiry's
								 * ms packed, for a drop (GONE) the clock at
								 * the drop (whichever is greater) */
	MantisHLC	hlc;			/* the register's */
	uint8		kind;			/* MantisChangeKind */
	uint32		key_len;
	const char *key;			/* into the copy's buffer */
} MantisChange;

/* A range of entries copied out (mantis_changes_copy()) */
typedef struct MantisChangeCopy
{
	int			n;
	MantisChange *entries;		/* palloc'd */
	char	   *keys;			/* palloc'd: the keys, end to end */
} MantisChangeCopy;

/* What the log holds: this run's identity and the seqs it still has */
typedef struct MantisChangeBounds
{
	uint64		run;			/* random, new with each start of the server */
	uint64		oldest;			/* the least seq still held (newest + 1: none) */
	uint64		newest;			/* the greatest seq applied (0: none yet) */
	uint64		keyless_ts;		/* a dead register at or below this may have
								 * lost its key here, and no entry keeps it */
} MantisChangeBounds;

extern Size mantis_changes_shmem_size(void);
extern void mantis_changes_shmem_init(void *place, bool found);

/* the store, under the partition lock of the key */
extern void mantis_changes_note(const char *key, uint32 key_len, const MantisHLC *hlc,
								uint64 expires_ms, MantisChangeKind kind);
extern void mantis_changes_keyless(uint64 ts);
extern void mantis_changes_expiries_logged(uint64 now_ms);
extern uint64 mantis_changes_expiries_held(void);

/* readers (any process) */
extern void mantis_changes_bounds(MantisChangeBounds *b);
extern bool mantis_changes_copy(uint64 after_seq, uint64 upto_seq, MantisChangeCopy *out);
extern void mantis_changes_copy_held(MantisChangeCopy *out);

/* what this server holds of its peers' writes (the replication worker) */
typedef struct MantisPeerHeld
{
	uint64		node;			/* 0: not identified yet */
	uint64		held_ts;		/* we hold its writes through this HLC ts */
	bool		same_members;	/* it reports our member set (R1, R2) */
} MantisPeerHeld;
extern void mantis_changes_publish_peers_held(const MantisPeerHeld *peers, int n);
extern uint64 mantis_changes_peers_held(void);
extern bool mantis_changes_peer_held(uint64 node, uint64 *held_ts);
extern bool mantis_changes_peer_same_members(uint64 node);
extern bool mantis_changes_members_agree(void);

/* what mantis_changes_peer_held_of() knows of a node */
typedef enum MantisHeldOf
{
	MANTIS_HELD_PEER,			/* a peer: *held_ts set */
	MANTIS_HELD_UNKNOWN,		/* not a peer we know, but one may not have
								 * said its name yet */
	MANTIS_HELD_NOT_PEER		/* every peer is known, and none is it */
} MantisHeldOf;
extern MantisHeldOf mantis_changes_peer_held_of(uint64 node, uint64 *held_ts);

/* sessions waiting for what we hold to rise (api/tokens.c) */
extern void mantis_changes_held_wait_begin(void);
extern bool mantis_changes_held_sleep(long timeout_ms);
extern void mantis_changes_held_wait_end(void);

/* sessions waiting for changes (watch/wait.c, watch/worker.c) */
#define MANTIS_WAIT_PREFIX_MAX	64
extern int	mantis_changes_waiter_add(const char *prefix, uint32 prefix_len, uint64 after_seq);
extern void mantis_changes_waiter_remove(int slot);
extern void mantis_changes_wake_waiters(const MantisChangeCopy *changes);
extern void mantis_changes_wake_all_waiters(void);
extern uint64 mantis_changes_waiters(void);

/* the watch worker's NOTIFY (watch/notify.c) */
extern bool mantis_changes_notify_following(uint64 *seq);
extern void mantis_changes_notify_follow(bool on, uint64 seq);
extern void mantis_changes_notified(uint64 seq);

#endif							/* MANTIS_CHANGES_H */
