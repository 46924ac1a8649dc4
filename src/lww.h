/*-------------------------------------------------------------------------
 * lww.h
 *	  Registers and the last-writer-wins order, as pure functions of their
 *	  arguments (lww.c).
 *
 * Nothing here touches shared memory, palloc or the server: the unit tests
 * and the fuzz harnesses link lww.c on its own, and store.c applies the
 * merge under its locks.
 *
 * IDENTIFICATION	src/lww.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LWW_H
#define MANTIS_LWW_H

#include "hlc.h"

/*
 * A register as the merge rule sees it: its clock, and its value (NULL with
 * value_len 0 for a deletion marker, a "tombstone").
 */
typedef struct MantisRegisterView
{
	MantisHLC	hlc;
	bool		deleted;
	const char *value;
	uint32_t	value_len;
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
} MantisRecord;

extern int	mantis_register_cmp(const MantisRegisterView *a,
								const MantisRegisterView *b);
extern const MantisRegisterView *mantis_lww_merge(const MantisRegisterView *a,
												  const MantisRegisterView *b);

#endif							/* MANTIS_LWW_H */
