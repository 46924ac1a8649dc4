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
 * Flags.  Bit 0 (MANTIS_SNAPSHOT_FLAG_RECORDS): the registers are followed
 * by records of dead registers and collapsed bounds (R7 of common/rules.h):
 *
 *	 record count u32 | records | bound count u32 | bounds
 *	 record: hash u64 | ts u64 | node u64 | fingerprint u64 | death ms u64
 *	 bound:  leaf u32 | bound ts u64 | fingerprint u64 | latest death ms u64
 *
 * A snapshot without records keeps the flags 0, readable by every release;
 * one with them is refused by releases before records ("unknown snapshot
 * flags"), which then skip the row and never delete it: a downgrade keeps
 * the rows, and loses only what the records refuse.
 *
 * IDENTIFICATION	src/common/snapshot.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SNAPSHOT_H
#define MANTIS_SNAPSHOT_H

#include "common/frame.h"
#include "common/rules.h"

#define MANTIS_SNAPSHOT_MAGIC		"MNTS"
#define MANTIS_SNAPSHOT_VERSION		2
#define MANTIS_SNAPSHOT_HEADER_SIZE	20	/* of version 2, which writers write */
#define MANTIS_SNAPSHOT_V1_HEADER_SIZE	12

#define MANTIS_SNAPSHOT_FLAG_RECORDS	0x01
#define MANTIS_SNAPSHOT_RECORD_SIZE		40
#define MANTIS_SNAPSHOT_BOUND_SIZE		28
#define MANTIS_SNAPSHOT_MAX_LEAVES		65536	/* a bound's leaf is below */

typedef void (*MantisSnapshotNodeFn) (void *arg, uint64_t id, const char *name,
									  size_t name_len);
typedef void (*MantisSnapshotRegisterFn) (void *arg, const MantisRecord *rec);
typedef void (*MantisSnapshotDeadFn) (void *arg, const MantisRecordView *rec);
typedef void (*MantisSnapshotBoundFn) (void *arg, uint32_t leaf, const MantisLeafBound *b);

extern void mantis_snapshot_put_header(unsigned char *p, uint16_t nodes,
									   uint32_t registers, uint64_t horizon);
extern void mantis_snapshot_set_flags(unsigned char *p, uint8_t flags);
extern void mantis_snapshot_put_dead(unsigned char *p, const MantisRecordView *rec);
extern void mantis_snapshot_put_bound(unsigned char *p, uint32_t leaf,
									  const MantisLeafBound *b);
extern const char *mantis_snapshot_decode_all(const void *data, size_t len,
											  MantisSnapshotNodeFn on_node,
											  MantisSnapshotRegisterFn on_register,
											  MantisSnapshotDeadFn on_dead,
											  MantisSnapshotBoundFn on_bound,
											  void *arg, uint64_t *horizon_out);
extern const char *mantis_snapshot_decode(const void *data, size_t len,
										  MantisSnapshotNodeFn on_node,
										  MantisSnapshotRegisterFn on_register,
										  void *arg, uint64_t *horizon_out);

#endif							/* MANTIS_SNAPSHOT_H */
