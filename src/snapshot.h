/*-------------------------------------------------------------------------
 * snapshot.h
 *	  The snapshot format stored in mantis_stores.registers (snapshot.c).
 *
 * Format version 1:
 *
 *	 magic "MNTS" | version u8 (1) | flags u8 (0) | node count u16 |
 *	 register count u32 | nodes | registers
 *
 * with node and register entries as in codec.h.
 *
 * IDENTIFICATION	src/snapshot.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SNAPSHOT_H
#define MANTIS_SNAPSHOT_H

#include "codec.h"

#define MANTIS_SNAPSHOT_MAGIC		"MNTS"
#define MANTIS_SNAPSHOT_VERSION		1
#define MANTIS_SNAPSHOT_HEADER_SIZE	12

typedef void (*MantisSnapshotNodeFn) (void *arg, uint64_t id, const char *name,
									  size_t name_len);
typedef void (*MantisSnapshotRegisterFn) (void *arg, const MantisRecord *rec);

extern void mantis_snapshot_put_header(unsigned char *p, uint16_t nodes,
									   uint32_t registers);
extern const char *mantis_snapshot_decode(const void *data, size_t len,
										  MantisSnapshotNodeFn on_node,
										  MantisSnapshotRegisterFn on_register,
										  void *arg);

#endif							/* MANTIS_SNAPSHOT_H */
