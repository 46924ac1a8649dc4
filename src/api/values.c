/*-------------------------------------------------------------------------
 * api/values.c
 *	  SQL values and the text the store holds: the text form a value of any
 *	  type is stored as, a stored text read back through the input function
 *	  of the type the caller asks for, and TTLs and expiries as intervals
 *	  and timestamps.
 *
 * Values are text.  A value of another type is stored as its text form
 * (what a cast to text gives) and read back through the input function of
 * the type the caller asks for, so a boolean, a number or a jsonb round-
 * trips without the store knowing kinds: every node holds, persists,
 * replicates and validates text only.
 *
 * An expiry is an absolute time in milliseconds since the Unix epoch, on
 * the timeline of the HLC's physical part and of mantis_clock_wall_ms()
 * (clock.c); SQL sees it as a timestamptz, and the time left as an
 * interval.
 *
 * IDENTIFICATION	src/api/values.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "common/hlc.h"
#include "api/values.h"

/* The output function of an argument's type, looked up once per call site */
typedef struct TextForm
{
	Oid			type;
	bool		is_bool;		/* boolean, or a domain over it */
	FmgrInfo	output;
} TextForm;

/*
 * A value's output in the forms every session parses alike, whatever its
 * own settings: ISO dates (with the offset, so the instant is kept),
 * intervals in the postgres style, floats in their shortest exact form,
 * bytea in hex.  The settings are swapped in around the call, and put
 * back even if the output function fails.
 */
static char *
canonical_output(FmgrInfo *output, Datum value)
{
	int			date_style = DateStyle;
	int			date_order = DateOrder;
	int			interval_style = IntervalStyle;
	int			float_digits = extra_float_digits;
	int			bytea_style = bytea_output;
	char	   *result;

	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_YMD;
	IntervalStyle = INTSTYLE_POSTGRES;
	extra_float_digits = 1;
	bytea_output = BYTEA_OUTPUT_HEX;
	PG_TRY();
	{
		result = OutputFunctionCall(output, value);
	}
	PG_FINALLY();
	{
		DateStyle = date_style;
		DateOrder = date_order;
		IntervalStyle = interval_style;
		extra_float_digits = float_digits;
		bytea_output = bytea_style;
	}
	PG_END_TRY();
	return result;
}

/*
 * The text form of a value of any type: what a cast to text gives (so a
 * boolean is "true" or "false", not the "t" and "f" of its output
 * function), in the canonical forms above, so that a value set from one
 * session reads back the same in any other, on any node.
 */
char *
mantis_value_text_form(FunctionCallInfo fcinfo, int argno)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	TextForm   *form = (TextForm *) fcinfo->flinfo->fn_extra;

	if (form == NULL || form->type != type)
	{
		Oid			output;
		bool		varlena;

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of the mantis value")));
		form = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(TextForm));
		getTypeOutputInfo(type, &output, &varlena);
		fmgr_info_cxt(output, &form->output, fcinfo->flinfo->fn_mcxt);
		form->type = type;
		form->is_bool = getBaseType(type) == BOOLOID;
		fcinfo->flinfo->fn_extra = form;
	}
	if (form->is_bool)
		return pstrdup(DatumGetBool(PG_GETARG_DATUM(argno)) ? "true" : "false");
	return canonical_output(&form->output, PG_GETARG_DATUM(argno));
}

/* The input function of the default's type, looked up once per call site */
typedef struct ValueParser
{
	Oid			type;
	Oid			ioparam;
	FmgrInfo	input;
} ValueParser;

/* Name the key in errors raised while a stored value is converted. */
static void
conversion_context(void *arg)
{
	errcontext("converting the value of mantis key \"%s\"", (const char *) arg);
}

/*
 * A stored value as a Datum of "type", through the type's input function:
 * a value that is not of the type raises that function's error (22P02
 * for most), naming the key.
 */
Datum
mantis_value_parse(FunctionCallInfo fcinfo, Oid type, text *key, text *value)
{
	ValueParser *parser = (ValueParser *) fcinfo->flinfo->fn_extra;
	ErrorContextCallback callback;
	Datum		result;

	if (parser == NULL || parser->type != type)
	{
		Oid			input;

		parser = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ValueParser));
		getTypeInputInfo(type, &input, &parser->ioparam);
		fmgr_info_cxt(input, &parser->input, fcinfo->flinfo->fn_mcxt);
		parser->type = type;
		fcinfo->flinfo->fn_extra = parser;
	}
	callback.callback = conversion_context;
	callback.arg = text_to_cstring(key);
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	result = InputFunctionCall(&parser->input, text_to_cstring(value),
							   parser->ioparam, -1);
	error_context_stack = callback.previous;
	return result;
}

/* Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01) */
#define EPOCH_OFFSET_MS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000)

/* A time in ms since the Unix epoch as a timestamptz. */
TimestampTz
mantis_ms_timestamptz(uint64 ms)
{
	return ((int64) ms - EPOCH_OFFSET_MS) * 1000;
}

/* The text of an interval, for messages */
static char *
interval_text(const Interval *ttl)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(ttl)));
}

/*
 * The expiry of a value written at now_ms with a time to live of "ttl":
 * now_ms + ttl, by the interval arithmetic of timestamptz (months and days
 * count in the session's time zone, as now() + ttl would), rounded up to
 * the millisecond so that a value never expires early.  A TTL must be at
 * least a millisecond (22023), and the expiry within the HLC's range, the
 * year 9999 (22008), never wrapped.
 */
uint64
mantis_ttl_expiry(const Interval *ttl, uint64 now_ms)
{
	Interval	one_ms = {USECS_PER_SEC / 1000, 0, 0};
	TimestampTz now = mantis_ms_timestamptz(now_ms);
	TimestampTz expires;
	int64		ms;

	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(ttl),
										  IntervalPGetDatum(&one_ms))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis TTL must be at least 1 millisecond"),
				 errdetail("The TTL is \"%s\".", interval_text(ttl))));
	expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													  TimestampTzGetDatum(now),
													  IntervalPGetDatum(ttl)));
	/* a TTL of mixed signs ("1 mon -30 days") may still end before now */
	if (expires <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis TTL must be at least 1 millisecond"),
				 errdetail("The TTL \"%s\" ends before it starts.", interval_text(ttl))));
	ms = expires / 1000 + ((expires % 1000) > 0 ? 1 : 0);
	if (ms > (int64) MANTIS_HLC_MAX_MS - EPOCH_OFFSET_MS)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("mantis TTL ends after the year 9999"),
				 errdetail("The TTL is \"%s\".", interval_text(ttl))));
	return (uint64) (ms + EPOCH_OFFSET_MS);
}

/* The time from now_ms to expires_ms, as an interval of hours and less. */
Interval *
mantis_ttl_left(uint64 expires_ms, uint64 now_ms)
{
	Interval   *left = palloc0(sizeof(Interval));

	left->time = expires_ms > now_ms ? (int64) (expires_ms - now_ms) * 1000 : 0;
	return left;
}
