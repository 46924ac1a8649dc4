/*-------------------------------------------------------------------------
 * store/held.h
 *	  The registers the rows of mantis_stores hold back, in shared memory
 *	  (store/held.c): published by the persistence worker, read where a
 *	  peer's register is refused for room.
 *
 * IDENTIFICATION	src/store/held.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_HELD_H
#define MANTIS_HELD_H

#include "mantis.h"
#include "common/hlc.h"

/*
 * A register held back: its key's hash and its HLC; "dead" for a record
 * of a dead register (R7) held back, which has no key
 */
typedef struct MantisHeldRegister
{
	uint64		hash;
	uint64		ts;
	uint64		node;
	bool		dead;
} MantisHeldRegister;

extern Size mantis_held_shmem_size(void);
extern void mantis_held_shmem_init(void *place, bool found);

/* the persistence worker (persist/heldset.c) */
extern int	mantis_held_publish(const MantisHeldRegister *regs, int n);

/* any process */
extern bool mantis_held_covers(const MantisRecord *rec);
extern bool mantis_held_dead(uint64 hash, MantisHLC *hlc);

#endif							/* MANTIS_HELD_H */
