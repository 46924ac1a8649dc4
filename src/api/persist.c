/*-------------------------------------------------------------------------
 * api/persist.c
 *	  The SQL functions that concern mantis_stores: mantis_flush() and
 *	  mantis_decode().
 *
 * IDENTIFICATION	src/api/persist.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "nodes.h"
#include "common/hlc.h"
#include "common/snapshot.h"
#include "persist/worker.h"
#include "api/txn.h"
#include "api/values.h"

/*
 * mantis_flush() returns bigint
 *
 * Asks the worker to flush the registers changed since its last flush and
 * waits until the rows have committed; returns how many registers it wrote.
 *
 * The writes this transaction buffers for its COMMIT (mantis.transactional)
 * are not in the store yet, so the flush leaves them out.  That is said by
 * a NOTICE, not an ERROR: an ERROR would roll back the very writes the
 * caller wants durable, with whatever else the transaction did, and a
 * script that calls mantis_flush() after its writes in one transaction
 * loses nothing by going on (the writes apply at COMMIT, and the next
 * flush, within "mantis.flush_interval", writes them).
 */
PG_FUNCTION_INFO_V1(mantis_flush);

static void
note_pending_left_out(void)
{
	if (!mantis_txn_has_pending())
		return;
	ereport(NOTICE,
			(errmsg("mantis_flush() leaves out this transaction's pending mantis writes"),
			 errdetail("With \"mantis.transactional\" on, writes apply at COMMIT; the flush writes only what was applied before it."),
			 errhint("Call mantis_flush() after COMMIT, in a transaction of its own.")));
}

Datum
mantis_flush(PG_FUNCTION_ARGS)
{
	mantis_check_loaded();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute mantis_flush() on a standby server"),
				 errdetail("A standby writes nothing to mantis_stores: it reads what its primary flushes.")));
	note_pending_left_out();
	PG_RETURN_INT64((int64) mantis_request_flush());
}

/* State for mantis_decode()'s callbacks */
typedef struct DecodeState
{
	ReturnSetInfo *rsinfo;
	int			nodes;
	MantisNodeEntry node_table[MANTIS_MAX_NODES];
} DecodeState;

static void
decode_node(void *arg, uint64_t id, const char *name, size_t name_len)
{
	DecodeState *st = (DecodeState *) arg;

	if (st->nodes < MANTIS_MAX_NODES)
	{
		st->node_table[st->nodes].id = id;
		memcpy(st->node_table[st->nodes].name, name, name_len);
		st->node_table[st->nodes].name[name_len] = '\0';
		st->nodes++;
	}
}

static void
decode_register(void *arg, const MantisRecord *rec)
{
	DecodeState *st = (DecodeState *) arg;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, true};
	char		node[MANTIS_NODE_NAME_MAX + 1];
	int			i;

	pg_verifymbstr(rec->key, (int) rec->key_len, false);
	values[0] = PointerGetDatum(cstring_to_text_with_len(rec->key, (int) rec->key_len));
	if (rec->deleted)
		nulls[1] = true;
	else
	{
		pg_verifymbstr(rec->value, (int) rec->value_len, false);
		values[1] = PointerGetDatum(cstring_to_text_with_len(rec->value, (int) rec->value_len));
	}
	values[2] = PointerGetDatum(mantis_clock_hlc_text(&rec->hlc));
	for (i = 0; i < st->nodes; i++)
	{
		if (st->node_table[i].id == rec->hlc.node)
			break;
	}
	if (i < st->nodes)
		strlcpy(node, st->node_table[i].name, sizeof(node));
	else
		mantis_node_id_text(rec->hlc.node, node);
	values[3] = CStringGetTextDatum(node);
	values[4] = BoolGetDatum(rec->deleted);
	/* expires_at, from 1.2 on: the 1.1 definition has no such column */
	if (rec->expires_ms != 0 && st->rsinfo->setDesc->natts >= 6)
	{
		values[5] = TimestampTzGetDatum(mantis_ms_timestamptz(rec->expires_ms));
		nulls[5] = false;
	}
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
}

/*
 * mantis_decode(registers bytea)
 *		returns setof (key text, value text, hlc text, node text, deleted boolean,
 *					   expires_at timestamptz)
 *
 * The registers in a mantis_stores.registers value.  Needs no preloading:
 * it only reads its argument.
 */
PG_FUNCTION_INFO_V1(mantis_decode);

Datum
mantis_decode(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	DecodeState st;
	const char *err;

	err = mantis_snapshot_decode(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
								 NULL, NULL, NULL, NULL);
	if (err != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid mantis snapshot: %s", err)));

	InitMaterializedSRF(fcinfo, 0);
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st.nodes = 0;
	(void) mantis_snapshot_decode(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
								  decode_node, decode_register, &st, NULL);
	return (Datum) 0;
}

