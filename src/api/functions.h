/*-------------------------------------------------------------------------
 * api/functions.h
 *	  The reads of api/functions.c that the other SQL functions share: key
 *	  argument 0 checked as every reader checks it, and its value as this
 *	  session sees it (its transaction's pending write first).
 *
 * IDENTIFICATION	src/api/functions.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_API_FUNCTIONS_H
#define MANTIS_API_FUNCTIONS_H

#include "fmgr.h"

extern void mantis_api_arg_key(FunctionCallInfo fcinfo, const char **key,
							   uint32 *key_len);
extern text *mantis_api_arg_value(FunctionCallInfo fcinfo);
extern void mantis_api_begin_read(void);
extern text *mantis_api_value_text(const char *value, uint32 len);

#endif							/* MANTIS_API_FUNCTIONS_H */
