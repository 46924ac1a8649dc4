/*-------------------------------------------------------------------------
 * replication/peer_view.c
 *	  The rows of mantis_peers, in shared memory: published by the
 *	  replication worker, copied by api/monitor.c.
 *
 * The worker publishes a whole new set of rows at most every 100 ms and
 * when its peers change; a reader copies the set under the same lock, so
 * it always sees one publication whole.
 *
 * Locking: mantis_peer_view (locks.h), for a memcpy either way.
 *
 * IDENTIFICATION	src/replication/peer_view.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"

#include "locks.h"
#include "replication/peer_view.h"

typedef struct PeerViewShared
{
	LWLock	   *lock;
	int			count;
	MantisPeerCounters unattributed;
	char		clash[MANTIS_ERROR_TEXT_SIZE];	/* "" or where our node id
												 * is used by another server */
	MantisPeerView views[MANTIS_MAX_PEERS];
} PeerViewShared;

static PeerViewShared *shared = NULL;

Size
mantis_peer_view_shmem_size(void)
{
	return sizeof(PeerViewShared);
}

void
mantis_peer_view_shmem_request(void)
{
	RequestNamedLWLockTranche(MANTIS_TRANCHE_PEER_VIEW, 1);
}

void
mantis_peer_view_shmem_init(void *place, bool found)
{
	shared = (PeerViewShared *) place;
	if (found)
		return;
	memset(shared, 0, sizeof(PeerViewShared));
	shared->lock = &(GetNamedLWLockTranche(MANTIS_TRANCHE_PEER_VIEW))->lock;
}

/* Replace the published rows with these n (at most MANTIS_MAX_PEERS). */
void
mantis_peer_view_publish(const MantisPeerView *views, int n,
						 const MantisPeerCounters *unattributed, const char *clash)
{
	Assert(n >= 0 && n <= MANTIS_MAX_PEERS);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	memcpy(shared->views, views, sizeof(MantisPeerView) * n);
	shared->count = n;
	shared->unattributed = *unattributed;
	strlcpy(shared->clash, clash, sizeof(shared->clash));
	LWLockRelease(shared->lock);
}

/* Where another server greets with our node id, or "" (mantis_status) */
void
mantis_peer_view_clash(char *clash, size_t size)
{
	LWLockAcquire(shared->lock, LW_SHARED);
	strlcpy(clash, shared->clash, size);
	LWLockRelease(shared->lock);
}

/*
 * A palloc'd copy of the rows for mantis_peers(); returns how many.  The
 * counters of messages from no known peer go to *unattributed if asked.
 */
int
mantis_peer_view_copy(MantisPeerView **views, MantisPeerCounters *unattributed)
{
	MantisPeerView *copy = palloc(sizeof(MantisPeerView) * MANTIS_MAX_PEERS);
	int			n;

	LWLockAcquire(shared->lock, LW_SHARED);
	n = shared->count;
	memcpy(copy, shared->views, sizeof(MantisPeerView) * n);
	if (unattributed)
		*unattributed = shared->unattributed;
	LWLockRelease(shared->lock);
	*views = copy;
	return n;
}
