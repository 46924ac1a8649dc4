/*-------------------------------------------------------------------------
 * txn.h
 *	  A transaction's writes, buffered until COMMIT (txn.c).
 *
 * IDENTIFICATION	src/txn.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_TXN_H
#define MANTIS_TXN_H

#include "mantis.h"

typedef enum MantisTxnLookup
{
	MANTIS_TXN_NONE,			/* no pending write of the key */
	MANTIS_TXN_DELETED,			/* a pending deletion */
	MANTIS_TXN_VALUE			/* a pending value */
} MantisTxnLookup;

extern bool mantis_txn_buffers_writes(void);
extern void mantis_txn_write(const char *key, uint32 key_len,
							 const char *value, uint32 value_len);
extern MantisTxnLookup mantis_txn_lookup(const char *key, uint32 key_len,
										 const char **value, uint32 *value_len);
extern void mantis_txn_foreach(void (*callback) (const char *key, uint32 key_len,
												 const char *value, uint32 value_len,
												 void *arg),
							   void *arg);

#endif							/* MANTIS_TXN_H */
