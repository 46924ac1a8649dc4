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

	begin_write(fcinfo, "mantis_set");
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

	begin_read();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_scan(include_deleted, emit_register, fcinfo->resultinfo);
	return (Datum) 0;
}

/*
 * mantis_flush() returns bigint
 *
 * Asks the worker to flush the registers changed since its last flush and
 * waits until the rows have committed; returns how many registers it wrote.
 */
PG_FUNCTION_INFO_V1(mantis_flush);

Datum
mantis_flush(PG_FUNCTION_ARGS)
{
	mantis_check_loaded();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute mantis_flush() on a standby server"),
				 errdetail("A standby writes nothing to mantis_stores: it reads what its primary flushes.")));
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
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
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
	values[2] = PointerGetDatum(hlc_to_text(&rec->hlc));
	for (i = 0; i < st->nodes; i++)
	{
		if (st->node_table[i].id == rec->hlc.node)
			break;
	}
	if (i < st->nodes)
		strlcpy(node, st->node_table[i].name, sizeof(node));
	else
		snprintf(node, sizeof(node), "%016" INT64_MODIFIER "x", rec->hlc.node);
	values[3] = CStringGetTextDatum(node);
	values[4] = BoolGetDatum(rec->deleted);
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
}

/*
 * mantis_decode(registers bytea)
 *		returns setof (key text, value text, hlc text, node text, deleted boolean)
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
								 NULL, NULL, NULL);
	if (err != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid mantis snapshot: %s", err)));

	InitMaterializedSRF(fcinfo, 0);
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st.nodes = 0;
	(void) mantis_snapshot_decode(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
								  decode_node, decode_register, &st);
	return (Datum) 0;
}

static const char *
persist_state_name(MantisPersistState state)
{
	switch (state)
	{
		case MANTIS_PERSIST_STOPPED:
			return "worker not running";
		case MANTIS_PERSIST_STARTING:
			return "loading";
		case MANTIS_PERSIST_NO_EXTENSION:
			return "waiting for CREATE EXTENSION";
		case MANTIS_PERSIST_READY:
			return "ready";
		case MANTIS_PERSIST_STANDBY:
			return "standby";
	}
	return "unknown";
}

static Datum
uint64_text(uint64 v)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), UINT64_FORMAT, v);
	return CStringGetTextDatum(buf);
}

/*
 * mantis_status() returns one row describing this server's store and
 * worker; the mantis_status view shows it.  Columns are text.
 */
PG_FUNCTION_INFO_V1(mantis_status);

#define STATUS_COLUMNS 16

Datum
mantis_status(PG_FUNCTION_ARGS)
{
	MantisStoreStats stats;
	MantisWorkerState w;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[STATUS_COLUMNS];
	bool		nulls[STATUS_COLUMNS] = {false};
	char		buf[32];

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_stats(&stats);
	mantis_worker_state(&w);

	values[0] = CStringGetTextDatum(mantis_shared->node_name);
	snprintf(buf, sizeof(buf), "%016" INT64_MODIFIER "x", mantis_shared->node_id);
	values[1] = CStringGetTextDatum(buf);
	values[2] = uint64_text(stats.registers - stats.deleted);
	values[3] = uint64_text(stats.deleted);
	values[4] = uint64_text(stats.bytes_used);
	values[5] = uint64_text(stats.bytes_total - Min(stats.bytes_used, stats.bytes_total));
	values[6] = CStringGetTextDatum(persist_state_name(w.persist));
	if (w.last_flush_at == 0)
		nulls[7] = nulls[8] = true;
	else
	{
		values[7] = CStringGetTextDatum(timestamptz_to_str(w.last_flush_at));
		values[8] = uint64_text(w.last_flush_registers);
	}
	values[9] = uint64_text(w.flush_failures);
	if (w.last_flush_error[0] == '\0')
		nulls[10] = true;
	else
		values[10] = CStringGetTextDatum(w.last_flush_error);
	if (w.stored_rows < 0)
		nulls[11] = true;
	else
		values[11] = uint64_text((uint64) w.stored_rows);
	if (mantis_replication_enabled())
	{
		MantisPeerView *views;
		MantisPeerCounters unknown;

		values[12] = CStringGetTextDatum(mantis_listen);
		(void) mantis_replication_snapshot(&views, &unknown);
		values[13] = uint64_text(unknown.malformed);
		values[14] = uint64_text(unknown.refused);
	}
	else
		nulls[12] = nulls[13] = nulls[14] = true;
	/* columns added later come last: an older definition takes a prefix */
	values[15] = uint64_text(w.held_back);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

static const char *
link_state_name(MantisLinkState state)
{
	switch (state)
	{
		case MANTIS_LINK_CONNECTING:
			return "connecting";
		case MANTIS_LINK_CONNECTED:
			return "connected";
		case MANTIS_LINK_DOWN:
			return "down";
		case MANTIS_LINK_REFUSED:
			return "refused";
		case MANTIS_LINK_INBOUND:
			return "inbound";
	}
	return "unknown";
}

#define PEERS_COLUMNS 21

/*
 * mantis_peers() returns a row per peer of this server's replication
 * worker: the configured ones, then nodes that connect to us without being
 * configured here.  Columns are text; the mantis_peers view shows them.
 */
PG_FUNCTION_INFO_V1(mantis_peers);

Datum
mantis_peers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MantisPeerView *views;
	int			n;

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	n = mantis_replication_snapshot(&views, NULL);
	for (int i = 0; i < n; i++)
	{
		MantisPeerView *v = &views[i];
		MantisPeerCounters *c = &v->counters;
		Datum		values[PEERS_COLUMNS];
		bool		nulls[PEERS_COLUMNS] = {false};
		char		buf[32];
		int			col = 0;

		if (v->endpoint[0])
			values[col] = CStringGetTextDatum(v->endpoint);
		else
			nulls[col] = true;
		col++;
		if (v->name[0])
			values[col] = CStringGetTextDatum(v->name);
		else
			nulls[col] = true;
		col++;
		if (v->node_id != 0 || v->name[0])
		{
			snprintf(buf, sizeof(buf), "%016" INT64_MODIFIER "x", v->node_id);
			values[col] = CStringGetTextDatum(buf);
		}
		else
			nulls[col] = true;
		col++;
		values[col++] = CStringGetTextDatum(link_state_name(v->state));
		values[col++] = CStringGetTextDatum(timestamptz_to_str(v->since));
		if (v->last_message != 0)
			values[col] = CStringGetTextDatum(timestamptz_to_str(v->last_message));
		else
			nulls[col] = true;
		col++;
		values[col++] = uint64_text(c->messages_in);
		values[col++] = uint64_text(c->bytes_in);
		values[col++] = uint64_text(c->messages_out);
		values[col++] = uint64_text(c->bytes_out);
		values[col++] = uint64_text(c->dropped);
		values[col++] = uint64_text(c->applied);
		values[col++] = uint64_text(c->malformed);
		values[col++] = uint64_text(c->skewed);
		values[col++] = uint64_text(c->stale);
		values[col++] = uint64_text(c->no_room);
		if (v->offset_known)
		{
			snprintf(buf, sizeof(buf), INT64_FORMAT, v->clock_offset_ms);
			values[col] = CStringGetTextDatum(buf);
		}
		else
			nulls[col] = true;
		col++;
		if (v->last_error[0])
			values[col] = CStringGetTextDatum(v->last_error);
		else
			nulls[col] = true;
		col++;
		values[col++] = CStringGetTextDatum(v->endpoint[0] ? "outbound" : "inbound");
		values[col++] = uint64_text(c->mismatched);
		values[col++] = uint64_text(c->held);
		Assert(col == PEERS_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
