/*-------------------------------------------------------------------------
 * api/tokens.c
 *	  Read your own writes on another server: mantis_last_commit() and
 *	  mantis_wait_for().
 *
 * A token is the HLC of a session's last COMMIT that applied mantis writes
 * (or of its last write applied at once, with mantis.transactional off), in
 * the text form mantis_set() returns: "<time>-<logical>-<writer node>".
 * Every write of that transaction carries that very HLC, and every write the
 * session made before it a lower one of the same node (one clock stamps
 * them all).  So a server holds all the session's writes through the token
 * once it holds every write of the token's node through the token's ts:
 *
 *	- the token's node is this server: at once (its writes are in this
 *	  store from the moment they were applied);
 *	- a peer: once what the replication worker publishes that we hold of
 *	  that peer's writes (replication/horizon.c's in_held, through
 *	  store/changes.c: every write of the peer through it merged, none
 *	  refused below it) reaches the token's ts.  The wait sleeps on a
 *	  condition variable the worker broadcasts after each publication
 *	  (store/changes.c), not in a polling loop, and ends on a cancel or
 *	  statement_timeout like any other;
 *	- a node that is not among our peers, once every peer has said its
 *	  name: an ERROR (it could never come true).  Before that, it may be a
 *	  peer not identified yet: the wait goes on.
 *
 * What a peer holds rises with its live stream (a batch's watermark covers
 * writes applied before it was read, within milliseconds of the COMMIT), or
 * with the empty batch each peer sends every second, or with a repair round
 * after a partition: so a wait usually ends within milliseconds, and after
 * a partition, once it has healed and a round has completed.
 *
 * A standby reads only what its primary flushed, and knows nothing of how
 * far that reaches in HLC: it refuses to wait.
 *
 * IDENTIFICATION	src/api/tokens.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/hlc.h"
#include "store/changes.h"
#include "api/functions.h"
#include "api/txn.h"

PG_FUNCTION_INFO_V1(mantis_last_commit);
PG_FUNCTION_INFO_V1(mantis_wait_for);

static bool waiting = false;
static bool exit_hook_set = false;

/*
 * mantis_last_commit() returns text
 *
 * The session's token: NULL until it has applied a write.  A transaction
 * still open, or rolled back, leaves the token of the last one committed.
 */
Datum
mantis_last_commit(PG_FUNCTION_ARGS)
{
	MantisHLC	hlc;

	if (!mantis_txn_last_applied(&hlc))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(mantis_clock_hlc_text(&hlc));
}

/* The token argument, or an ERROR saying what a token is */
static MantisHLC
arg_token(FunctionCallInfo fcinfo)
{
	text	   *t;
	MantisHLC	hlc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis token must not be null"),
				 errhint("A session that has written nothing has no token, and has nothing to wait for.")));
	t = PG_GETARG_TEXT_PP(0);
	if (!mantis_hlc_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &hlc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mantis token: \"%s\"", text_to_cstring(t)),
				 errhint("Pass what mantis_last_commit() returned, or the HLC a write returned with \"mantis.transactional\" off.")));
	return hlc;
}

/* The timeout argument in ms (NULL: the default), by timestamptz arithmetic */
static int64
arg_timeout_ms(FunctionCallInfo fcinfo)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz end;

	if (PG_NARGS() < 2 || PG_ARGISNULL(1))
		return 30000;
	end = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												  TimestampTzGetDatum(now),
												  PointerGetDatum(PG_GETARG_INTERVAL_P(1))));
	if (end < now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis_wait_for timeout must not be negative")));
	return (end - now) / 1000;
}

/*
 * Whether this server holds every write of the token's node through its
 * ts; an ERROR if that node is no peer of ours, and can never be.
 */
static bool
holds_token(const MantisHLC *token)
{
	uint64		held_ts = 0;
	char		node[MANTIS_NODE_NAME_MAX + 1];

	if (token->node == mantis_self_node_id())
		return true;
	if (mantis_replication_enabled())
	{
		switch (mantis_changes_peer_held_of(token->node, &held_ts))
		{
			case MANTIS_HELD_PEER:
				return held_ts >= token->ts;
			case MANTIS_HELD_UNKNOWN:
				return false;
			case MANTIS_HELD_NOT_PEER:
				break;
		}
	}
	mantis_nodes_name(token->node, node, sizeof(node));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("mantis token was written by node \"%s\", which is not a peer of this server",
					node),
			 errdetail("This server can learn how far it holds the writes of its replication peers only."),
			 errhint("Wait on a server that replicates with \"%s\": one whose \"mantis.peers\" lists it, or that it connects to.",
					 node)));
	return false;				/* not reached */
}

static void
end_wait(void)
{
	if (waiting)
		mantis_changes_held_wait_end();
	waiting = false;
}

static void
end_wait_at_exit(int code, Datum arg)
{
	end_wait();
}

/*
 * Sleep until the token is held or timeout_ms pass.  Each publication of
 * what we hold wakes us to look again; so do interrupts, which
 * CHECK_FOR_INTERRUPTS() inside the sleep turns into an ERROR (cancel,
 * statement_timeout) or a FATAL (terminate: the exit hook ends the wait).
 */
static bool
wait_for_token(const MantisHLC *token, int64 timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	bool		held = false;

	if (!exit_hook_set)
	{
		before_shmem_exit(end_wait_at_exit, (Datum) 0);
		exit_hook_set = true;
	}
	PG_TRY();
	{
		mantis_changes_held_wait_begin();
		waiting = true;
		for (;;)
		{
			long		left_ms;

			held = holds_token(token);
			if (held)
				break;
			left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			if (left_ms <= 0)
				break;
			(void) mantis_changes_held_sleep(left_ms);
		}
	}
	PG_FINALLY();
	{
		end_wait();
	}
	PG_END_TRY();
	return held;
}

/*
 * mantis_wait_for(token text, timeout interval DEFAULT '30 seconds')
 *		returns boolean
 *
 * True as soon as this server holds every write of the token's node
 * through the token (at once if it does already, or if it is the node
 * that wrote it); false once the timeout has passed.
 */
Datum
mantis_wait_for(PG_FUNCTION_ARGS)
{
	MantisHLC	token;
	int64		timeout_ms;

	mantis_check_loaded();
	token = arg_token(fcinfo);
	timeout_ms = arg_timeout_ms(fcinfo);
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot execute mantis_wait_for() on a standby server"),
				 errdetail("A standby holds what its primary flushed to mantis_stores, and cannot tell which writes that covers."),
				 errhint("Wait on the primary, or on a peer of the server that wrote.")));
	mantis_api_begin_read();
	if (holds_token(&token))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(wait_for_token(&token, timeout_ms));
}
