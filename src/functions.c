/*-------------------------------------------------------------------------
 * functions.c
 *	  The SQL-callable functions of mantis.
 *
 * Each function checks that mantis is preloaded and that the registers are
 * loaded, validates its arguments, and calls store.c; none of them touches
 * a lock, the network or the disk.  Writes take effect at once and are not
 * transactional: ROLLBACK does not undo them.
 *
 * IDENTIFICATION	src/functions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "mantis.h"

PG_FUNCTION_INFO_V1(mantis_set);
PG_FUNCTION_INFO_V1(mantis_get);
PG_FUNCTION_INFO_V1(mantis_delete);
PG_FUNCTION_INFO_V1(mantis_registers);

static void
require_key(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis key must not be null")));
}

static text *
hlc_to_text(const MantisHLC *hlc)
{
	char		buf[MANTIS_HLC_TEXT_SIZE];
	size_t		len = mantis_hlc_format(hlc, buf);

	return cstring_to_text_with_len(buf, (int) len);
}

/*
 * Write a value, or a deletion marker; returns the HLC of the write.
 */
static MantisHLC
write_register(text *key, text *value, bool *replaced_live)
{
	uint32		key_len = VARSIZE_ANY_EXHDR(key);
	uint32		value_len = value ? VARSIZE_ANY_EXHDR(value) : 0;
	MantisHLC	hlc;
	MantisPutResult result;

	mantis_store_check_sizes(key_len, value_len);
	result = mantis_store_set(VARDATA_ANY(key), key_len,
							  value ? VARDATA_ANY(value) : NULL, value_len,
							  value == NULL, &hlc, replaced_live);
	mantis_store_report_put(result);
	return hlc;
}

/*
 * mantis_set(key text, value text) returns text
 *
 * Not STRICT: a NULL value deletes the key, so "set NULL, get NULL"
 * round-trips; a NULL key is an error rather than a silent no-op.
 */
Datum
mantis_set(PG_FUNCTION_ARGS)
{
	MantisHLC	hlc;

	mantis_check_loaded();
	require_key(fcinfo);
	mantis_store_wait_loaded();
	hlc = write_register(PG_GETARG_TEXT_PP(0),
						 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1), NULL);
	PG_RETURN_TEXT_P(hlc_to_text(&hlc));
}

/*
 * mantis_delete(key text) returns boolean
 *
 * Writes a deletion marker, so that no older value arriving later from a
 * peer can bring the key back; true if a live value was deleted here.
 */
Datum
mantis_delete(PG_FUNCTION_ARGS)
{
	bool		replaced_live;

	mantis_check_loaded();
	require_key(fcinfo);
	mantis_store_wait_loaded();
	write_register(PG_GETARG_TEXT_PP(0), NULL, &replaced_live);
	PG_RETURN_BOOL(replaced_live);
}

static void
copy_value(const MantisRecord *rec, void *arg)
{
	*(text **) arg = cstring_to_text_with_len(rec->value, (int) rec->value_len);
}

/*
 * mantis_get(key text) returns text
 *
 * The live value of a key, or NULL.  Reads shared memory only.
 */
Datum
mantis_get(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	text	   *value = NULL;

	mantis_check_loaded();
	mantis_store_wait_loaded();
	if (!mantis_store_get(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
						  copy_value, &value))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(value);
}

/* One row of mantis_registers() */
static void
emit_register(const MantisRecord *rec, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char		node[MANTIS_NODE_NAME_MAX + 1];

	values[0] = PointerGetDatum(cstring_to_text_with_len(rec->key, (int) rec->key_len));
	if (rec->deleted)
		nulls[1] = true;
	else
		values[1] = PointerGetDatum(cstring_to_text_with_len(rec->value, (int) rec->value_len));
	values[2] = PointerGetDatum(hlc_to_text(&rec->hlc));
	mantis_nodes_name(rec->hlc.node, node, sizeof(node));
	values[3] = CStringGetTextDatum(node);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * mantis_registers(include_deleted boolean DEFAULT false)
 *		returns setof (key text, value text, hlc text, node text)
 *
 * Every live register (and every deletion marker, with a NULL value, when
 * include_deleted), in no particular order.
 */
Datum
mantis_registers(PG_FUNCTION_ARGS)
{
	bool		include_deleted = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	mantis_check_loaded();
	mantis_store_wait_loaded();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_scan(include_deleted, emit_register, fcinfo->resultinfo);
	return (Datum) 0;
}

/*
 * mantis_status() returns one row describing this server's store; the
 * mantis_status view shows it.  Columns are text, as in the view.
 */
PG_FUNCTION_INFO_V1(mantis_status);

Datum
mantis_status(PG_FUNCTION_ARGS)
{
	MantisStoreStats stats;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[6];
	bool		nulls[6] = {false};
	char		buf[32];

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_stats(&stats);

	values[0] = CStringGetTextDatum(mantis_shared->node_name);
	snprintf(buf, sizeof(buf), "%016" INT64_MODIFIER "x", mantis_shared->node_id);
	values[1] = CStringGetTextDatum(buf);
	snprintf(buf, sizeof(buf), UINT64_FORMAT, stats.registers - stats.deleted);
	values[2] = CStringGetTextDatum(buf);
	snprintf(buf, sizeof(buf), UINT64_FORMAT, stats.deleted);
	values[3] = CStringGetTextDatum(buf);
	snprintf(buf, sizeof(buf), UINT64_FORMAT, stats.bytes_used);
	values[4] = CStringGetTextDatum(buf);
	snprintf(buf, sizeof(buf), UINT64_FORMAT, stats.bytes_total - Min(stats.bytes_used, stats.bytes_total));
	values[5] = CStringGetTextDatum(buf);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
