/*-------------------------------------------------------------------------
 * common/lww.h
 *	  Registers and the last-writer-wins order, as pure functions of their
 *	  arguments (common/lww.c).
 *
 * Nothing here touches shared memory, palloc or the server: the unit tests and
 * the fuzz harnesses link common/lww.c on its own, and store/store.c applies
 * the merge under its locks.
 *
 * IDENTIFICATION	src/common/lww.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LWW_H
#define MANTIS_LWW_H

#include "common/hlc.h"

/*
 * A register as the merge rule sees it: its clock, its value (NULL with
 * value_len 0 for a deletion marker, a "tombstone"), and its expiry.
 *
 * expires_ms is 0 for a register that never expires, otherwise an absolute
 * time in milliseconds since the Unix epoch on the HLC's physical timeline
 * (comparable to mantis_hlc_ms() of an HLC and to the server's wall clock):
 * from then on the register reads as absent, as a deletion marker does.  A
 * deletion marker never carries an expiry.
 */
typedef struct MantisRegisterView
{
	MantisHLC	hlc;
	bool		deleted;
	const char *value;
	uint32_t	value_len;
	uint64_t	expires_ms;		/* 0: never */
} MantisRegisterView;

/*
 * A whole register: key, clock and value or deletion.  Pointers refer to
 * memory owned by whoever filled it in (shared memory under a lock, a
 * decoded buffer, a copy).
 */
typedef struct MantisRecord
{
	MantisHLC	hlc;
	bool		deleted;
	uint32_t	key_len;
	uint32_t	value_len;		/* 0 for a deletion marker */
	const char *key;
	const char *value;
	uint64_t	expires_ms;		/* 0: never; see MantisRegisterView */
} MantisRecord;

/*
 * Whether a register reads as absent at now_ms: a deletion marker, or a
 * value whose expiry has come.
 */
static inline bool
mantis_register_is_dead(bool deleted, uint64_t expires_ms, uint64_t now_ms)
{
	return deleted || (expires_ms != 0 && expires_ms <= now_ms);
}

extern int	mantis_register_cmp(const MantisRegisterView *a,
								const MantisRegisterView *b);
extern const MantisRegisterView *mantis_lww_merge(const MantisRegisterView *a,
												  const MantisRegisterView *b);

#endif							/* MANTIS_LWW_H */
