/*-------------------------------------------------------------------------
 * common/keyhash.h
 *	  The key hash (common/keyhash.c): part of the wire contract, since peers
 *	  compare digests of the leaves it places keys in.
 *
 * IDENTIFICATION	src/common/keyhash.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_KEYHASH_H
#define MANTIS_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

extern uint64_t mantis_hash(const void *data, size_t len);
extern uint64_t mantis_mix64(uint64_t x);

#endif							/* MANTIS_KEYHASH_H */
