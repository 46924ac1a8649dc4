/*-------------------------------------------------------------------------
 * common/snapshot.h
 *	  The snapshot format stored in mantis_stores.registers
 *	  (common/snapshot.c).
 *
 * Format version 2, which writers write:
 *
 *	 magic "MNTS" | version u8 (2) | flags u8 (0) | node count u16 |
 *	 register count u32 | horizon u64 | nodes | registers
 *
 * with node and register entries as in common/frame.h (kind 3, a value with an
 * expiry, included).  The horizon is an HLC time the writer records with
 * the batch (0: none).  Version 1, which readers still accept, is the same
 * without the horizon (read as 0): a 12-byte header.
 *
 * IDENTIFICATION	src/common/snapshot.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SNAPSHOT_H
#define MANTIS_SNAPSHOT_H

#include "common/frame.h"

#define MANTIS_SNAPSHOT_MAGIC		"MNTS"
#define MANTIS_SNAPSHOT_VERSION		2
#define MANTIS_SNAPSHOT_HEADER_SIZE	20	/* of version 2, which writers write */
#define MANTIS_SNAPSHOT_V1_HEADER_SIZE	12

typedef void (*MantisSnapshotNodeFn) (void *arg, uint64_t id, const char *name,
									  size_t name_len);
typedef void (*MantisSnapshotRegisterFn) (void *arg, const MantisRecord *rec);

extern void mantis_snapshot_put_header(unsigned char *p, uint16_t nodes,
									   uint32_t registers, uint64_t horizon);
extern const char *mantis_snapshot_decode(const void *data, size_t len,
										  MantisSnapshotNodeFn on_node,
										  MantisSnapshotRegisterFn on_register,
										  void *arg, uint64_t *horizon_out);

#endif							/* MANTIS_SNAPSHOT_H */
