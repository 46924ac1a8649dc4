/*-------------------------------------------------------------------------
 * api/values.h
 *	  SQL values and the store's text (api/values.c): the text form a value of
 *	  any type is stored as, a stored text read back as a type, and TTLs
 *	  and expiries as intervals and timestamps.
 *
 * IDENTIFICATION	src/api/values.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_VALUES_H
#define MANTIS_VALUES_H

#include "fmgr.h"
#include "datatype/timestamp.h"

extern char *mantis_value_text_form(FunctionCallInfo fcinfo, int argno);
extern Datum mantis_value_parse(FunctionCallInfo fcinfo, Oid type, text *key,
								text *value);

extern uint64 mantis_ttl_expiry(const Interval *ttl, uint64 now_ms);
extern Interval *mantis_ttl_left(uint64 expires_ms, uint64 now_ms);
extern TimestampTz mantis_ms_timestamptz(uint64 ms);

#endif							/* MANTIS_VALUES_H */
