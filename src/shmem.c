/*-------------------------------------------------------------------------
 * shmem.c
 *	  The layout of mantis's shared memory: one chunk, each module's part
 *	  at its place.
 *
 * Each module says how much it needs (its *_shmem_size()), may request
 * LWLock tranches (its *_shmem_request()), and initialises its part
 * (its *_shmem_init(place, found)): the postmaster makes the chunk at
 * startup and again after every crash restart, when shared memory comes
 * back empty ("found" false); an EXEC_BACKEND child finds it ("found"
 * true) and only points its statics at it.  Parts start on cache lines, so
 * the clock and the counters of one module do not share a line with
 * another's.  The sizes depend on PGC_POSTMASTER settings only.
 *
 * IDENTIFICATION	src/shmem.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "mantis.h"
#include "clock.h"
#include "nodes.h"
#include "shmem.h"
#include "wakeup.h"
#include "store/changes.h"
#include "store/collect.h"
#include "store/held.h"
#include "store/store.h"
#include "persist/worker.h"
#include "replication/peer_view.h"

typedef struct ShmemPart
{
	const char *name;
	Size		(*size) (void);
	void		(*request) (void);	/* tranches; may be NULL */
	void		(*init) (void *place, bool found);
} ShmemPart;

/* In the order they are laid out, and initialised: identity first */
static const ShmemPart parts[] = {
	{"node identity and directory", mantis_nodes_shmem_size, NULL, mantis_nodes_shmem_init},
	{"clock", mantis_clock_shmem_size, NULL, mantis_clock_shmem_init},
	{"collection horizons", mantis_collect_shmem_size, NULL, mantis_collect_shmem_init},
	{"registers held back", mantis_held_shmem_size, NULL, mantis_held_shmem_init},
	{"worker latches", mantis_latches_shmem_size, NULL, mantis_latches_shmem_init},
	{"persistence worker", mantis_persist_worker_shmem_size, NULL, mantis_persist_worker_shmem_init},
	{"peer view", mantis_peer_view_shmem_size, mantis_peer_view_shmem_request, mantis_peer_view_shmem_init},
	{"store", mantis_store_shmem_size, mantis_store_shmem_request, mantis_store_shmem_init},
	{"change log", mantis_changes_shmem_size, NULL, mantis_changes_shmem_init},
};

/* set once this process is attached: mantis was preloaded */
bool		mantis_shmem_attached = false;

static Size
part_size(const ShmemPart *part)
{
	return CACHELINEALIGN(part->size());
}

static Size
total_size(void)
{
	Size		size = PG_CACHE_LINE_SIZE;	/* to align the first part */

	for (size_t i = 0; i < lengthof(parts); i++)
		size = add_size(size, part_size(&parts[i]));
	return size;
}

/* shmem_request_hook: the space and the tranches of every part */
void
mantis_shmem_request(void)
{
	RequestAddinShmemSpace(total_size());
	for (size_t i = 0; i < lengthof(parts); i++)
	{
		if (parts[i].request)
			parts[i].request();
	}
}

/* shmem_startup_hook: make or find the chunk, and hand out the parts */
void
mantis_shmem_startup(void)
{
	bool		found;
	char	   *place;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	place = ShmemInitStruct("mantis", total_size(), &found);
	place = (char *) CACHELINEALIGN(place);
	for (size_t i = 0; i < lengthof(parts); i++)
	{
		parts[i].init(place, found);
		place += part_size(&parts[i]);
	}
	LWLockRelease(AddinShmemInitLock);
	mantis_shmem_attached = true;
}
