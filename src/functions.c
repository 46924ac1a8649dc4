/*-------------------------------------------------------------------------
 * functions.c
 *	  The SQL-callable functions of mantis.
 *
 * Each function checks that mantis is preloaded, that the registers are
 * loaded (and, to write, writable: not on a standby), that the database
 * speaks the store's encoding, validates its arguments, and calls store.c;
 * none of them touches a lock, the network or the disk.  Writes take
 * effect at once and are not transactional: ROLLBACK does not undo them.
 *
 * IDENTIFICATION	src/functions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "wire.h"

PG_FUNCTION_INFO_V1(mantis_set);
PG_FUNCTION_INFO_V1(mantis_get);
PG_FUNCTION_INFO_V1(mantis_delete);
PG_FUNCTION_INFO_V1(mantis_registers);

/*
 * The store holds text in the encoding of mantis.database, which peers and
 * mantis_stores share: a database of another encoding would hand back, or
 * write, bytes invalid in one of them.  Until the worker has connected the
 * encoding is unknown, and values read are checked instead.
 */
static void
check_encoding(void)
{
	int			store_encoding = ((volatile MantisShared *) mantis_shared)->encoding;

	if (likely(store_encoding == GetDatabaseEncoding()) || store_encoding < 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("mantis cannot be used from a database with encoding \"%s\"",
					GetDatabaseEncodingName()),
			 errdetail("The store holds text in encoding \"%s\", that of database \"%s\" (\"mantis.database\").",
					   pg_encoding_to_char(store_encoding), mantis_database),
			 errhint("Use mantis from a database whose encoding is \"%s\".",
					 pg_encoding_to_char(store_encoding))));
}

static void
require_key(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis key must not be null")));
}

/*
 * The checks every function that reads the registers makes first.  The
 * encoding is known once the worker has connected, which it has before
 * the registers are loaded: check it after waiting.
 */
static void
begin_read(void)
{
	mantis_check_loaded();
	mantis_store_wait_loaded();
	check_encoding();
}

/*
 * And every function that writes: a standby, and a read-only transaction,
 * cannot write (25006); nothing written on a standby could be persisted.
 */
static void
begin_write(FunctionCallInfo fcinfo, const char *function)
{
	mantis_check_loaded();
	require_key(fcinfo);
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s() on a standby server", function),
				 errdetail("A standby reads the registers its primary flushes to mantis_stores; it cannot write any."),
				 errhint("Write on the primary server.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s() in a read-only transaction", function)));
	mantis_store_wait_writable();
	check_encoding();
}

/* Text for a value read from the store, valid in this database's encoding. */
static text *
value_text(const char *value, uint32 len)
{
	if (unlikely(((volatile MantisShared *) mantis_shared)->encoding < 0))
		pg_verifymbstr(value, (int) len, false);
	return cstring_to_text_with_len(value, (int) len);
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

	begin_write(fcinfo, "mantis_set");
	hlc = write_register(PG_GETARG_TEXT_PP(0),
						 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1), NULL);
	PG_RETURN_TEXT_P(mantis_hlc_text(&hlc));
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

	begin_write(fcinfo, "mantis_delete");
	write_register(PG_GETARG_TEXT_PP(0), NULL, &replaced_live);
	PG_RETURN_BOOL(replaced_live);
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
	char	   *chunk;
	uint32		value_len;

	begin_read();
	if (!mantis_store_get(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), VARHDRSZ,
						  &chunk, &value_len))
		PG_RETURN_NULL();
	if (unlikely(((volatile MantisShared *) mantis_shared)->encoding < 0))
		pg_verifymbstr(chunk + VARHDRSZ, (int) value_len, false);
	SET_VARSIZE(chunk, VARHDRSZ + value_len);
	PG_RETURN_TEXT_P((text *) chunk);
}

/* One row of mantis_registers() */
static void
emit_register(const MantisRecord *rec, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char		node[MANTIS_NODE_NAME_MAX + 1];

	values[0] = PointerGetDatum(value_text(rec->key, rec->key_len));
	if (rec->deleted)
		nulls[1] = true;
	else
		values[1] = PointerGetDatum(value_text(rec->value, rec->value_len));
	values[2] = PointerGetDatum(mantis_hlc_text(&rec->hlc));
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

	begin_read();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_scan(include_deleted, emit_register, fcinfo->resultinfo);
	return (Datum) 0;
}

