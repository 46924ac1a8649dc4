/*-------------------------------------------------------------------------
 * shmem.h
 *	  The layout of mantis's shared memory (shmem.c).
 *
 * IDENTIFICATION	src/shmem.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SHMEM_H
#define MANTIS_SHMEM_H

extern void mantis_shmem_request(void);
extern void mantis_shmem_startup(void);
extern bool mantis_shmem_attached;

#endif							/* MANTIS_SHMEM_H */
