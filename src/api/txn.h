/*-------------------------------------------------------------------------
 * api/txn.h
 *	  A transaction's writes, buffered until COMMIT (api/txn.c).
 *
 * IDENTIFICATION	src/api/txn.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_TXN_H
#define MANTIS_TXN_H

#include "mantis.h"
#include "common/hlc.h"

typedef enum MantisTxnLookup
{
	MANTIS_TXN_NONE,			/* no pending write of the key */
	MANTIS_TXN_DELETED,			/* a pending deletion, or a value expired since */
	MANTIS_TXN_VALUE			/* a pending value */
} MantisTxnLookup;

/* A pending write: value NULL for a deletion; expires_ms 0 for never */
typedef void (*MantisTxnWriteFn) (const char *key, uint32 key_len,
								  const char *value, uint32 value_len,
								  uint64 expires_ms, void *arg);

extern void mantis_txn_require_postmaster(bool applied);
extern bool mantis_txn_buffers_writes(void);
extern void mantis_txn_write(const char *key, uint32 key_len,
							 const char *value, uint32 value_len,
							 uint64 expires_ms);
extern MantisTxnLookup mantis_txn_lookup(const char *key, uint32 key_len,
										 const char **value, uint32 *value_len,
										 uint64 *expires_ms);
extern void mantis_txn_foreach(MantisTxnWriteFn callback, void *arg);
extern bool mantis_txn_has_pending(void);
extern void mantis_txn_note_applied(const MantisHLC *hlc);
extern bool mantis_txn_last_applied(MantisHLC *hlc);

#endif							/* MANTIS_TXN_H */
