/*-------------------------------------------------------------------------
 * api/readers.c
 *	  Readers whose result type is in their name, and the time left before
 *	  a value expires: mantis_get_bool(), mantis_get_int(),
 *	  mantis_get_float(), mantis_get_numeric(), mantis_get_timestamptz(),
 *	  mantis_ttl() and mantis_ttl_ms().
 *
 * mantis_get(key, default anyelement) takes its type from its default, so
 * what a driver sends decides it: an untyped parameter (node-postgres sends
 * every one so) makes it the text version, and a flag read with default
 * false comes back as the string 'false', true in JavaScript, Ruby or Perl;
 * psycopg sends a Python int as the smallest integer type that holds it,
 * so mantis_get(key, 0) is a smallint and fails (22003) on 40000.  The
 * readers here are named after their type: an untyped parameter takes its
 * type from the function instead.  Each converts the stored text through
 * the type's input function, as mantis_get(key, anyelement) does
 * (mantis_value_parse(), api/values.c): the boolean reader accepts what
 * boolean input accepts (on/off, true/false, yes/no, 1/0, t/f), and a
 * value not of the type fails with that function's error, the key named in
 * the context: 22P02, the datetime input's 22007 (invalid syntax), 22009
 * (a bad UTC offset) and 22023 (an unknown time zone) included, so that one
 * SQLSTATE tells every reader's caller "not of this type"; a value of the
 * type's syntax but out of its range keeps its own (22003, and 22008 for a
 * date or time field out of range, such as February 30).
 *
 * mantis_ttl_ms() is mantis_ttl() in milliseconds, for drivers that cannot
 * read an interval (Prisma).
 *
 * Nothing here takes a lock: the reads are api/functions.c's
 * (api/functions.h) and the store's.
 *
 * IDENTIFICATION	src/api/readers.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "store/store.h"
#include "api/functions.h"
#include "api/txn.h"
#include "api/values.h"

PG_FUNCTION_INFO_V1(mantis_get_bool);
PG_FUNCTION_INFO_V1(mantis_get_int);
PG_FUNCTION_INFO_V1(mantis_get_float);
PG_FUNCTION_INFO_V1(mantis_get_numeric);
PG_FUNCTION_INFO_V1(mantis_get_timestamptz);
PG_FUNCTION_INFO_V1(mantis_ttl);
PG_FUNCTION_INFO_V1(mantis_ttl_ms);

/*
 * A stored value as a "type" (mantis_value_parse()), with the datetime
 * input's errors for text it cannot read (22007, 22009, 22023) reported as
 * 22P02, as every other input function reports it; message, detail and
 * context unchanged.
 */
static Datum
parse_as(FunctionCallInfo fcinfo, Oid type, text *key, text *value)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum		result;

	if (type != TIMESTAMPTZOID)
		return mantis_value_parse(fcinfo, type, key, value);
	PG_TRY();
	{
		result = mantis_value_parse(fcinfo, type, key, value);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		int			code = geterrcode();

		if (code != ERRCODE_INVALID_DATETIME_FORMAT &&
			code != ERRCODE_INVALID_TIME_ZONE_DISPLACEMENT_VALUE &&
			code != ERRCODE_INVALID_PARAMETER_VALUE)
			PG_RE_THROW();
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		edata->sqlerrcode = ERRCODE_INVALID_TEXT_REPRESENTATION;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

/*
 * The value of key argument 0 as a "type", or default argument 1 when the
 * key has no live value (absent, deleted or expired).  Not STRICT, as
 * mantis_get(key, default) is not: a NULL default still reads a present
 * key; a NULL key gives NULL.
 */
static Datum
get_as(FunctionCallInfo fcinfo, Oid type)
{
	text	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	value = mantis_api_arg_value(fcinfo);
	if (value == NULL)
	{
		if (PG_NARGS() < 2 || PG_ARGISNULL(1))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	}
	PG_RETURN_DATUM(parse_as(fcinfo, type, PG_GETARG_TEXT_PP(0), value));
}

/* mantis_get_bool(key text, "default" boolean DEFAULT NULL) returns boolean */
Datum
mantis_get_bool(PG_FUNCTION_ARGS)
{
	return get_as(fcinfo, BOOLOID);
}

/* mantis_get_int(key text, "default" bigint DEFAULT NULL) returns bigint */
Datum
mantis_get_int(PG_FUNCTION_ARGS)
{
	return get_as(fcinfo, INT8OID);
}

/*
 * mantis_get_float(key text, "default" double precision DEFAULT NULL)
 *		returns double precision
 */
Datum
mantis_get_float(PG_FUNCTION_ARGS)
{
	return get_as(fcinfo, FLOAT8OID);
}

/* mantis_get_numeric(key text, "default" numeric DEFAULT NULL) returns numeric */
Datum
mantis_get_numeric(PG_FUNCTION_ARGS)
{
	return get_as(fcinfo, NUMERICOID);
}

/*
 * mantis_get_timestamptz(key text, "default" timestamptz DEFAULT NULL)
 *		returns timestamptz
 */
Datum
mantis_get_timestamptz(PG_FUNCTION_ARGS)
{
	return get_as(fcinfo, TIMESTAMPTZOID);
}

/*
 * The expiry of key argument 0's live value as this session sees it, its
 * transaction's pending write first, and the time it was compared with:
 * false when the key has no live value, or one that never expires.
 */
static bool
arg_expiry(FunctionCallInfo fcinfo, uint64 *expires_ms, uint64 *now_ms)
{
	const char *key;
	uint32		key_len;
	const char *pending;
	uint32		pending_len;

	*expires_ms = 0;
	mantis_api_arg_key(fcinfo, &key, &key_len);
	switch (mantis_txn_lookup(key, key_len, &pending, &pending_len, expires_ms))
	{
		case MANTIS_TXN_DELETED:
			return false;
		case MANTIS_TXN_VALUE:
			break;
		case MANTIS_TXN_NONE:
			if (!mantis_store_get_expiry(key, key_len, expires_ms))
				return false;
			break;
	}
	if (*expires_ms == 0)
		return false;
	*now_ms = mantis_clock_wall_ms();
	return *expires_ms > *now_ms;
}

/*
 * mantis_ttl(key text) returns interval
 *
 * The time left before the key's value expires, as this session sees it;
 * NULL when it has no expiry, or no live value.
 */
Datum
mantis_ttl(PG_FUNCTION_ARGS)
{
	uint64		expires_ms;
	uint64		now_ms;

	if (!arg_expiry(fcinfo, &expires_ms, &now_ms))
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(mantis_ttl_left(expires_ms, now_ms));
}

/*
 * mantis_ttl_ms(key text) returns bigint
 *
 * The same in milliseconds (at least 1), with the same NULLs.
 */
Datum
mantis_ttl_ms(PG_FUNCTION_ARGS)
{
	uint64		expires_ms;
	uint64		now_ms;

	if (!arg_expiry(fcinfo, &expires_ms, &now_ms))
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) (expires_ms - now_ms));
}
