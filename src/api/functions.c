/*-------------------------------------------------------------------------
 * api/functions.c
 *	  The SQL-callable functions of mantis.
 *
 * Each function checks that mantis is preloaded, that the registers are loaded
 * (and, to write, writable: not on a standby), that the database speaks the
 * store's encoding, validates its arguments, and calls the store
 * (store/store.h; or api/txn.c, which buffers a transaction's writes until
 * COMMIT); none of them touches a lock, the network or the disk.  A write
 * applied at once is not acknowledged by a backend whose postmaster has
 * died (an ERROR after it, 57P01: see api/txn.c).  Values of
 * other types than text, and TTLs, are converted by api/values.c.  The
 * readers named after their type and those of the time left (mantis_ttl())
 * are in api/readers.c, over the reads exported here (api/functions.h).
 *
 * A value may expire: mantis_set(key, value, ttl) and mantis_expire()
 * give it an absolute expiry, now + ttl, after which every reader here
 * treats it as absent, as a deletion.
 *
 * IDENTIFICATION	src/api/functions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "store/store.h"
#include "api/functions.h"
#include "api/txn.h"
#include "api/values.h"

PG_FUNCTION_INFO_V1(mantis_set);
PG_FUNCTION_INFO_V1(mantis_set_any);
PG_FUNCTION_INFO_V1(mantis_delete);
PG_FUNCTION_INFO_V1(mantis_get);
PG_FUNCTION_INFO_V1(mantis_get_default);
PG_FUNCTION_INFO_V1(mantis_get_typed);
PG_FUNCTION_INFO_V1(mantis_get_json);
PG_FUNCTION_INFO_V1(mantis_get_many);
PG_FUNCTION_INFO_V1(mantis_registers);
PG_FUNCTION_INFO_V1(mantis_registers_prefix);
PG_FUNCTION_INFO_V1(mantis_expire);

/*
 * The store's encoding, once known, is this database's: set once by the
 * persistence worker from mantis.database, it never changes, so each
 * backend compares it once.
 */
static bool encoding_matches = false;

/*
 * The store holds text in the encoding of mantis.database, which peers and
 * mantis_stores share: a database of another encoding would hand back, or
 * write, bytes invalid in one of them.  Until the worker has connected the
 * encoding is unknown, and values read are checked instead.
 */
static void
check_encoding(void)
{
	int			store_encoding;

	if (likely(encoding_matches))
		return;
	store_encoding = mantis_store_encoding();
	if (store_encoding == GetDatabaseEncoding())
	{
		encoding_matches = true;
		return;
	}
	if (store_encoding < 0)
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
 * A value to write must not be NULL (22004): a driver sends NULL for what
 * it cannot encode, or by mistake, and that must never delete a key (a
 * flag, a piece of configuration).  Deleting is mantis_delete()'s alone.
 */
static void
require_value(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis value must not be null"),
				 errhint("To delete a key, call mantis_delete(key).")));
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

/*
 * mantis_set()'s checks: its arguments' (the key, then the value) before
 * begin_write()'s, which may wait for the store to become writable.
 */
static void
begin_set(FunctionCallInfo fcinfo)
{
	mantis_check_loaded();
	require_key(fcinfo);
	require_value(fcinfo);
	begin_write(fcinfo, "mantis_set");
}

/*
 * A key argument's bytes, checked as every function checks them: an empty
 * key is 22023 and an over-long one 54000, for reads as for writes.
 */
static void
key_bytes(text *key, const char **data, uint32 *len)
{
	*data = VARDATA_ANY(key);
	*len = VARSIZE_ANY_EXHDR(key);
	mantis_store_check_sizes(*len, 0);
}

/* Text for a value read from the store, valid in this database's encoding. */
static text *
value_text(const char *value, uint32 len)
{
	if (unlikely(!encoding_matches && mantis_store_encoding() < 0))
		pg_verifymbstr(value, (int) len, false);
	return cstring_to_text_with_len(value, (int) len);
}

/* For the other SQL functions (api/watch.c): the same checks and text */
void
mantis_api_begin_read(void)
{
	begin_read();
}

text *
mantis_api_value_text(const char *value, uint32 len)
{
	return value_text(value, len);
}

/*
 * The live value of a key as this session sees it: its transaction's own
 * pending write first, else the store.  Returns a palloc'd text, or NULL.
 */
static text *
read_value(const char *key, uint32 key_len)
{
	const char *pending;
	uint32		value_len;
	char	   *chunk;

	switch (mantis_txn_lookup(key, key_len, &pending, &value_len, NULL))
	{
		case MANTIS_TXN_VALUE:
			return cstring_to_text_with_len(pending, (int) value_len);
		case MANTIS_TXN_DELETED:
			return NULL;
		case MANTIS_TXN_NONE:
			break;
	}
	if (!mantis_store_get(key, key_len, VARHDRSZ, &chunk, &value_len))
		return NULL;
	if (unlikely(!encoding_matches && mantis_store_encoding() < 0))
		pg_verifymbstr(chunk + VARHDRSZ, (int) value_len, false);
	SET_VARSIZE(chunk, VARHDRSZ + value_len);
	return (text *) chunk;
}

/*
 * Write a value (NULL: a deletion marker, mantis_delete()'s) that expires
 * at expires_ms (0: never; a deletion never expires).  With
 * mantis.transactional the write waits for COMMIT and NULL is returned;
 * otherwise it applies now and its HLC is returned.  *replaced_live, if
 * asked, tells whether the key held a live value as this session saw it.
 */
static text *
write_value(text *key, const char *value, uint32 value_len, uint64 expires_ms,
			bool *replaced_live)
{
	const char *key_data;
	uint32		key_len;
	MantisHLC	hlc;
	MantisPutResult result;

	key_data = VARDATA_ANY(key);
	key_len = VARSIZE_ANY_EXHDR(key);
	mantis_store_check_sizes(key_len, value ? value_len : 0);
	if (mantis_txn_buffers_writes())
	{
		if (replaced_live)
			*replaced_live = read_value(key_data, key_len) != NULL;
		mantis_txn_write(key_data, key_len, value, value_len, value ? expires_ms : 0);
		return NULL;
	}
	result = mantis_store_set(key_data, key_len, value, value ? value_len : 0,
							  value == NULL, value ? expires_ms : 0, &hlc, replaced_live);
	mantis_store_raise_put_failure(result);
	mantis_txn_require_postmaster(true);
	mantis_txn_note_applied(&hlc);
	return mantis_clock_hlc_text(&hlc);
}

static Datum
hlc_or_null(FunctionCallInfo fcinfo, text *hlc)
{
	if (hlc == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(hlc);
}

/*
 * The expiry a write's TTL argument gives, if the function has one: now +
 * ttl (see mantis_ttl_expiry()), or 0 (never) for a NULL TTL.
 */
static uint64
ttl_arg_expiry(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	return mantis_ttl_expiry(PG_GETARG_INTERVAL_P(argno), mantis_clock_wall_ms());
}

/*
 * mantis_set(key text, value text) returns text
 * mantis_set(key text, value text, ttl interval) returns text
 *
 * Not STRICT, so that a NULL key or value is an error rather than a silent
 * no-op: neither writes anything (a NULL value deleted the key before 1.3;
 * mantis_delete() deletes).  With a TTL (not NULL) the value expires that
 * long from now.  Returns the HLC of the write, or NULL when it waits for
 * COMMIT.
 */
Datum
mantis_set(PG_FUNCTION_ARGS)
{
	text	   *value;
	uint64		expires_ms;

	begin_set(fcinfo);
	value = PG_GETARG_TEXT_PP(1);
	expires_ms = ttl_arg_expiry(fcinfo, 2);
	return hlc_or_null(fcinfo,
					   write_value(PG_GETARG_TEXT_PP(0), VARDATA_ANY(value),
								   VARSIZE_ANY_EXHDR(value), expires_ms, NULL));
}

/*
 * mantis_set(key text, value anyelement) returns text
 * mantis_set(key text, value anyelement, ttl interval) returns text
 *
 * A value of any type other than text (an integer, a boolean, a jsonb ...)
 * is stored as its text form; NULL is refused, as above.
 */
Datum
mantis_set_any(PG_FUNCTION_ARGS)
{
	char	   *value;
	uint64		expires_ms;

	begin_set(fcinfo);
	value = mantis_value_text_form(fcinfo, 1);
	expires_ms = ttl_arg_expiry(fcinfo, 2);
	return hlc_or_null(fcinfo,
					   write_value(PG_GETARG_TEXT_PP(0), value, (uint32) strlen(value),
								   expires_ms, NULL));
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
	(void) write_value(PG_GETARG_TEXT_PP(0), NULL, 0, 0, &replaced_live);
	PG_RETURN_BOOL(replaced_live);
}

/*
 * mantis_expire(key text, ttl interval) returns boolean
 *
 * A write: the key's live value again, expiring ttl from now, with a new
 * HLC, replicated and persisted like any write; false, and nothing
 * written, when the key has no live value.  Applied at once, the value is
 * read and written under one hold of its partition lock
 * (mantis_store_expire()), so a write made meanwhile is never overwritten
 * with the old value.  Buffered (mantis.transactional), it is a
 * mantis_set() of the value this session sees now: should another session
 * change the key before COMMIT, COMMIT writes back the value seen here.
 */
Datum
mantis_expire(PG_FUNCTION_ARGS)
{
	text	   *key_arg;
	const char *key;
	uint32		key_len;
	uint64		expires_ms;
	text	   *value;

	begin_write(fcinfo, "mantis_expire");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("mantis TTL must not be null"),
				 errhint("Use mantis_set() to write a value that never expires.")));
	expires_ms = ttl_arg_expiry(fcinfo, 1);
	key_arg = PG_GETARG_TEXT_PP(0);
	key_bytes(key_arg, &key, &key_len);
	if (!mantis_txn_buffers_writes())
	{
		MantisHLC	hlc;
		bool		expired = mantis_store_expire(key, key_len, expires_ms, &hlc);

		mantis_txn_require_postmaster(true);
		if (expired)
			mantis_txn_note_applied(&hlc);
		PG_RETURN_BOOL(expired);
	}
	value = read_value(key, key_len);
	if (value == NULL)
		PG_RETURN_BOOL(false);
	(void) write_value(key_arg, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), expires_ms, NULL);
	PG_RETURN_BOOL(true);
}

/*
 * Key argument 0, checked as every reader checks it, once the registers are
 * loaded: its bytes, valid until the call returns.
 */
void
mantis_api_arg_key(FunctionCallInfo fcinfo, const char **key, uint32 *key_len)
{
	begin_read();
	key_bytes(PG_GETARG_TEXT_PP(0), key, key_len);
}

/* The value of key argument 0 as this session sees it, or NULL. */
text *
mantis_api_arg_value(FunctionCallInfo fcinfo)
{
	const char *key;
	uint32		key_len;

	mantis_api_arg_key(fcinfo, &key, &key_len);
	return read_value(key, key_len);
}

/*
 * mantis_get(key text) returns text
 *
 * The live value of a key, or NULL.  Reads shared memory only.
 */
Datum
mantis_get(PG_FUNCTION_ARGS)
{
	text	   *value = mantis_api_arg_value(fcinfo);

	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(value);
}

/*
 * mantis_get(key text, default text) returns text
 *
 * The value, or the default when the key has none.  A NULL key gives NULL.
 */
Datum
mantis_get_default(PG_FUNCTION_ARGS)
{
	text	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	value = mantis_api_arg_value(fcinfo);
	if (value != NULL)
		PG_RETURN_TEXT_P(value);
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/*
 * mantis_get(key text, default anyelement) returns anyelement
 *
 * The value converted to the default's type (mantis_get('limit', 100) is
 * an integer), or the default when the key has none.
 */
Datum
mantis_get_typed(PG_FUNCTION_ARGS)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 1);
	text	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!OidIsValid(type))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of the default")));
	value = mantis_api_arg_value(fcinfo);
	if (value == NULL)
	{
		if (PG_ARGISNULL(1))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	}
	PG_RETURN_DATUM(mantis_value_parse(fcinfo, type, PG_GETARG_TEXT_PP(0), value));
}

/*
 * mantis_get_json(key text) returns jsonb
 *
 * The value parsed as JSON, or NULL; a value that is not JSON is 22P02.
 */
Datum
mantis_get_json(PG_FUNCTION_ARGS)
{
	text	   *value = mantis_api_arg_value(fcinfo);

	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(mantis_value_parse(fcinfo, JSONBOID, PG_GETARG_TEXT_PP(0), value));
}

/*
 * mantis_get_many(keys text[]) returns setof (key text, value text)
 *
 * A row per element of the array, in its order: the key and its value, or
 * NULL when it has none (a NULL element gives a row of NULLs).  The store
 * is read as of one instant: a transaction committed meanwhile is seen
 * whole or not at all.
 */
Datum
mantis_get_many(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	const char **keys;
	uint32	   *key_lens;
	int		   *from_store;
	text	  **pending_values;
	int			nstore = 0;
	bool	   *found;
	MantisRecord *records;

	begin_read();
	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);
	keys = palloc(sizeof(char *) * Max(n, 1));
	key_lens = palloc(sizeof(uint32) * Max(n, 1));
	from_store = palloc(sizeof(int) * Max(n, 1));
	pending_values = palloc(sizeof(text *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		const char *pending;
		uint32		pending_len;

		from_store[i] = -1;
		pending_values[i] = NULL;
		if (elem_nulls[i])
			continue;
		key_bytes(DatumGetTextPP(elems[i]), &keys[nstore], &key_lens[nstore]);
		switch (mantis_txn_lookup(keys[nstore], key_lens[nstore], &pending, &pending_len, NULL))
		{
			case MANTIS_TXN_NONE:
				from_store[i] = nstore++;
				break;
			case MANTIS_TXN_VALUE:
				pending_values[i] = cstring_to_text_with_len(pending, (int) pending_len);
				break;
			case MANTIS_TXN_DELETED:
				break;
		}
	}
	found = palloc(sizeof(bool) * Max(nstore, 1));
	records = palloc(sizeof(MantisRecord) * Max(nstore, 1));
	if (nstore > 0)
		mantis_store_get_many(keys, key_lens, nstore, found, records);

	for (int i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {true, true};

		if (!elem_nulls[i])
		{
			values[0] = elems[i];
			nulls[0] = false;
			if (from_store[i] >= 0)
			{
				MantisRecord *rec = &records[from_store[i]];

				if (found[from_store[i]])
				{
					values[1] = PointerGetDatum(value_text(rec->value, rec->value_len));
					nulls[1] = false;
				}
			}
			else if (pending_values[i] != NULL)
			{
				values[1] = PointerGetDatum(pending_values[i]);
				nulls[1] = false;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* State of a mantis_registers() listing */
typedef struct Listing
{
	ReturnSetInfo *rsinfo;
	bool		include_deleted;
	const char *prefix;
	uint32		prefix_len;
	uint64		now_ms;			/* when the listing started */
} Listing;

/*
 * A row: key, value (NULL when dead: a deletion marker or expired), hlc,
 * node, and (from 1.2 on, when the definition has it) expires_at.
 */
static void
emit_row(Listing *l, const char *key, uint32 key_len, const char *value,
		 uint32 value_len, bool dead, uint64 expires_ms, const MantisHLC *hlc)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, true};
	char		node[MANTIS_NODE_NAME_MAX + 1];

	values[0] = PointerGetDatum(value_text(key, key_len));
	if (dead)
		nulls[1] = true;
	else
		values[1] = PointerGetDatum(value_text(value, value_len));
	if (expires_ms != 0 && l->rsinfo->setDesc->natts >= 5)
	{
		values[4] = TimestampTzGetDatum(mantis_ms_timestamptz(expires_ms));
		nulls[4] = false;
	}
	if (hlc != NULL)
	{
		values[2] = PointerGetDatum(mantis_clock_hlc_text(hlc));
		mantis_nodes_name(hlc->node, node, sizeof(node));
		values[3] = CStringGetTextDatum(node);
	}
	else
	{
		/* a pending write of this transaction: its HLC comes at COMMIT */
		nulls[2] = true;
		values[3] = CStringGetTextDatum(mantis_self_node_name());
	}
	tuplestore_putvalues(l->rsinfo->setResult, l->rsinfo->setDesc, values, nulls);
}

/* One register of the store, unless this transaction has written its key */
static void
emit_register(const MantisRecord *rec, void *arg)
{
	Listing    *l = (Listing *) arg;
	const char *pending;
	uint32		pending_len;
	bool		dead = mantis_register_is_dead(rec->deleted, rec->expires_ms, l->now_ms);

	if (dead && !l->include_deleted)
		return;
	if (mantis_txn_lookup(rec->key, rec->key_len, &pending, &pending_len, NULL) != MANTIS_TXN_NONE)
		return;
	emit_row(l, rec->key, rec->key_len, rec->value, rec->value_len, dead,
			 rec->expires_ms, &rec->hlc);
}

/* One pending write of this transaction */
static void
emit_pending(const char *key, uint32 key_len, const char *value,
			 uint32 value_len, uint64 expires_ms, void *arg)
{
	Listing    *l = (Listing *) arg;
	bool		dead = mantis_register_is_dead(value == NULL, expires_ms, l->now_ms);

	if (dead && !l->include_deleted)
		return;
	if (l->prefix != NULL &&
		(key_len < l->prefix_len || memcmp(key, l->prefix, l->prefix_len) != 0))
		return;
	emit_row(l, key, key_len, value, value_len, dead, expires_ms, NULL);
}

static void
list_registers(FunctionCallInfo fcinfo, Listing *l)
{
	begin_read();
	InitMaterializedSRF(fcinfo, 0);
	l->rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	/* before the store reads its clock: what the store finds live is live here */
	l->now_ms = mantis_clock_wall_ms();
	if (l->prefix != NULL)
		mantis_store_scan_prefix(l->prefix, l->prefix_len, l->include_deleted,
								 emit_register, l);
	else
		mantis_store_scan(l->include_deleted, emit_register, l);
	mantis_txn_foreach(emit_pending, l);
}

/*
 * mantis_registers(include_deleted boolean DEFAULT false)
 *		returns setof (key text, value text, hlc text, node text,
 *					   expires_at timestamptz)
 *
 * Every live register (and, when include_deleted, every dead one, deletion
 * markers and expired values alike, with a NULL value), in no particular
 * order; this transaction's pending writes as it will commit them, with a
 * NULL HLC.  expires_at is NULL for a register that never expires (the
 * 1.1 definitions, without the column, read right too).
 */
Datum
mantis_registers(PG_FUNCTION_ARGS)
{
	Listing		l = {NULL, PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0), NULL, 0, 0};

	list_registers(fcinfo, &l);
	return (Datum) 0;
}

/*
 * mantis_registers(prefix text, include_deleted boolean DEFAULT false)
 *
 * The same, for the keys that start with "prefix".  The empty prefix, and
 * a NULL one (an untyped NULL resolves here, and listed everything in
 * 1.0), list every key.
 */
Datum
mantis_registers_prefix(PG_FUNCTION_ARGS)
{
	Listing		l = {NULL, PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1), NULL, 0, 0};

	if (!PG_ARGISNULL(0))
	{
		text	   *prefix = PG_GETARG_TEXT_PP(0);

		l.prefix = VARDATA_ANY(prefix);
		l.prefix_len = VARSIZE_ANY_EXHDR(prefix);
	}
	list_registers(fcinfo, &l);
	return (Datum) 0;
}
