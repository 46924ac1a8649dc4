/*-------------------------------------------------------------------------
 * api/watch.c
 *	  The change feed's SQL functions: mantis_changes(), mantis_wait(),
 *	  mantis_cursor() (watch/feed.c, watch/wait.c say how they answer).
 *
 * Each answer is one tuplestore: key, value (NULL when dead), hlc, node,
 * deleted, expires_at, and the same cursor on every row, the one to pass
 * next.  They read shared memory only; mantis_wait() sleeps on its latch
 * and holds no lock while it does, so it is safe in any transaction and
 * through a pooler in transaction mode.
 *
 * IDENTIFICATION	src/api/watch.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "nodes.h"
#include "api/functions.h"
#include "api/values.h"
#include "watch/feed.h"
#include "watch/wait.h"

PG_FUNCTION_INFO_V1(mantis_changes);
PG_FUNCTION_INFO_V1(mantis_wait);
PG_FUNCTION_INFO_V1(mantis_cursor);
PG_FUNCTION_INFO_V1(mantis_cursor_after);

#define FEED_COLUMNS	7

/* The prefix argument: NULL and '' both mean every key */
static void
arg_prefix(FunctionCallInfo fcinfo, int argno, const char **prefix, uint32 *len)
{
	*prefix = "";
	*len = 0;
	if (!PG_ARGISNULL(argno))
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		*prefix = VARDATA_ANY(t);
		*len = VARSIZE_ANY_EXHDR(t);
	}
}

/* A timeout in ms: an interval from now, by timestamptz arithmetic */
static int64
arg_timeout_ms(const Interval *timeout)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz end = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															  TimestampTzGetDatum(now),
															  IntervalPGetDatum(timeout)));

	if (end < now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis_wait timeout must not be negative")));
	return (end - now) / 1000;
}

/* The since argument: NULL starts from every live register */
static const MantisCursor *
arg_since(FunctionCallInfo fcinfo, int argno, MantisCursor *c)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	mantis_cursor_parse(text_to_cstring(PG_GETARG_TEXT_PP(argno)), c);
	return c;
}

static void
emit_answer(FunctionCallInfo fcinfo, const MantisFeedAnswer *a)
{
	ReturnSetInfo *rsinfo;
	Datum		cursor;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	cursor = CStringGetTextDatum(mantis_cursor_to_text(&a->next));
	for (int i = 0; i < a->n; i++)
	{
		const MantisFeedRow *row = &a->rows[i];
		Datum		values[FEED_COLUMNS];
		bool		nulls[FEED_COLUMNS] = {false};
		char		node[MANTIS_NODE_NAME_MAX + 1];

		values[0] = PointerGetDatum(mantis_api_value_text(row->rec.key, row->rec.key_len));
		if (row->dead)
			nulls[1] = true;
		else
			values[1] = PointerGetDatum(mantis_api_value_text(row->rec.value, row->rec.value_len));
		values[2] = PointerGetDatum(mantis_clock_hlc_text(&row->rec.hlc));
		mantis_nodes_name(row->rec.hlc.node, node, sizeof(node));
		values[3] = CStringGetTextDatum(node);
		values[4] = BoolGetDatum(row->dead);
		if (row->dead || row->rec.expires_ms == 0)
			nulls[5] = true;
		else
			values[5] = TimestampTzGetDatum(mantis_ms_timestamptz(row->rec.expires_ms));
		values[6] = cursor;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * mantis_changes(since text DEFAULT NULL, prefix text DEFAULT '')
 *		returns setof (key, value, hlc, node, deleted, expires_at, cursor)
 */
Datum
mantis_changes(PG_FUNCTION_ARGS)
{
	MantisCursor c;
	const MantisCursor *since;
	const char *prefix;
	uint32		prefix_len;
	MantisFeedAnswer a;

	mantis_api_begin_read();
	since = arg_since(fcinfo, 0, &c);
	arg_prefix(fcinfo, 1, &prefix, &prefix_len);
	mantis_feed_changes(since, prefix, prefix_len, &a);
	emit_answer(fcinfo, &a);
	return (Datum) 0;
}

/*
 * mantis_wait(since text, prefix text DEFAULT '', timeout interval
 *			   DEFAULT '30 seconds')
 *		the same rows, as soon as there is one; none at the timeout
 */
Datum
mantis_wait(PG_FUNCTION_ARGS)
{
	MantisCursor c;
	const MantisCursor *since;
	const char *prefix;
	uint32		prefix_len;
	int64		timeout_ms = 30000;
	MantisFeedAnswer a;

	mantis_api_begin_read();
	since = arg_since(fcinfo, 0, &c);
	arg_prefix(fcinfo, 1, &prefix, &prefix_len);
	if (!PG_ARGISNULL(2))
		timeout_ms = arg_timeout_ms(PG_GETARG_INTERVAL_P(2));
	mantis_wait_changes(since, prefix, prefix_len, timeout_ms, &a);
	emit_answer(fcinfo, &a);
	return (Datum) 0;
}

/* mantis_cursor() returns text: the cursor of everything read so far */
Datum
mantis_cursor(PG_FUNCTION_ARGS)
{
	MantisCursor c;

	mantis_api_begin_read();
	mantis_cursor_now(&c);
	PG_RETURN_TEXT_P(cstring_to_text(mantis_cursor_to_text(&c)));
}

/*
 * mantis_cursor(since text, prefix text DEFAULT '') returns text: a cursor
 * past "since" for the prefix, when nothing under it changed after it (the
 * cursor mantis_changes() would have put on its rows, had it had any);
 * "since" itself when something did.  For a follower of a quiet prefix on
 * a busy server, after an empty answer: its cursor stays recent, so that
 * the change log still holds it next time (else the answer is a scan, or
 * MT001 once keys under other prefixes died meanwhile).
 */
Datum
mantis_cursor_after(PG_FUNCTION_ARGS)
{
	MantisCursor c;
	const MantisCursor *since;
	const char *prefix;
	uint32		prefix_len;
	MantisFeedAnswer a;

	mantis_api_begin_read();
	since = arg_since(fcinfo, 0, &c);
	if (since == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis cursor must not be null"),
				 errhint("Call mantis_cursor() without arguments for the cursor of this server now.")));
	arg_prefix(fcinfo, 1, &prefix, &prefix_len);
	mantis_feed_changes(since, prefix, prefix_len, &a);
	PG_RETURN_TEXT_P(cstring_to_text(mantis_cursor_to_text(a.n == 0 ? &a.next : since)));
}
