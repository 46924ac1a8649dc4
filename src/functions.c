/*-------------------------------------------------------------------------
 * functions.c
 *	  The SQL-callable functions of mantis.
 *
 * Each function checks that mantis is preloaded, that the registers are
 * loaded (and, to write, writable: not on a standby), that the database
 * speaks the store's encoding, validates its arguments, and calls the
 * store (store.h; or txn.c, which buffers a transaction's writes until
 * COMMIT); none of them touches a lock, the network or the disk.
 *
 * Values are text.  A value of another type is stored as its text form
 * (what a cast to text gives) and read back through the input function of
 * the type the caller asks for, so a boolean, a number or a jsonb round-
 * trips without the store knowing kinds: every node holds, persists,
 * replicates and validates text only.
 *
 * IDENTIFICATION	src/functions.c
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
#include "utils/bytea.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "mantis.h"
#include "clock.h"
#include "fmgr.h"
#include "funcapi.h"
#include "guc.h"
#include "miscadmin.h"
#include "nodes.h"
#include "store.h"
#include "txn.h"

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

/*
 * The store holds text in the encoding of mantis.database, which peers and
 * mantis_stores share: a database of another encoding would hand back, or
 * write, bytes invalid in one of them.  Until the worker has connected the
 * encoding is unknown, and values read are checked instead.
 */
static void
check_encoding(void)
{
	int			store_encoding = mantis_store_encoding();

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
	if (unlikely(mantis_store_encoding() < 0))
		pg_verifymbstr(value, (int) len, false);
	return cstring_to_text_with_len(value, (int) len);
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

	switch (mantis_txn_lookup(key, key_len, &pending, &value_len))
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
	if (unlikely(mantis_store_encoding() < 0))
		pg_verifymbstr(chunk + VARHDRSZ, (int) value_len, false);
	SET_VARSIZE(chunk, VARHDRSZ + value_len);
	return (text *) chunk;
}

/*
 * Write a value (NULL: a deletion marker).  With mantis.transactional the
 * write waits for COMMIT and NULL is returned; otherwise it applies now and
 * its HLC is returned.  *replaced_live, if asked, tells whether the key
 * held a live value as this session saw it.
 */
static text *
write_value(text *key, const char *value, uint32 value_len, bool *replaced_live)
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
		mantis_txn_write(key_data, key_len, value, value_len);
		return NULL;
	}
	result = mantis_store_set(key_data, key_len, value, value ? value_len : 0,
							  value == NULL, &hlc, replaced_live);
	mantis_store_raise_put_failure(result);
	return mantis_hlc_text(&hlc);
}

static Datum
hlc_or_null(FunctionCallInfo fcinfo, text *hlc)
{
	if (hlc == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(hlc);
}

/*
 * mantis_set(key text, value text) returns text
 *
 * Not STRICT: a NULL value deletes the key, so "set NULL, get NULL"
 * round-trips; a NULL key is an error rather than a silent no-op.  Returns
 * the HLC of the write, or NULL when it waits for COMMIT.
 */
Datum
mantis_set(PG_FUNCTION_ARGS)
{
	text	   *value = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);

	begin_write(fcinfo, "mantis_set");
	return hlc_or_null(fcinfo,
					   write_value(PG_GETARG_TEXT_PP(0),
								   value ? VARDATA_ANY(value) : NULL,
								   value ? VARSIZE_ANY_EXHDR(value) : 0, NULL));
}

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
static char *
text_form(FunctionCallInfo fcinfo, int argno)
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

/*
 * mantis_set(key text, value anyelement) returns text
 *
 * A value of any type other than text (an integer, a boolean, a jsonb ...)
 * is stored as its text form; NULL deletes the key.
 */
Datum
mantis_set_any(PG_FUNCTION_ARGS)
{
	char	   *value = PG_ARGISNULL(1) ? NULL : text_form(fcinfo, 1);

	begin_write(fcinfo, "mantis_set");
	return hlc_or_null(fcinfo,
					   write_value(PG_GETARG_TEXT_PP(0), value,
								   value ? (uint32) strlen(value) : 0, NULL));
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
	(void) write_value(PG_GETARG_TEXT_PP(0), NULL, 0, &replaced_live);
	PG_RETURN_BOOL(replaced_live);
}

/* The value of key argument 0 as this session sees it, or NULL. */
static text *
get_arg_value(FunctionCallInfo fcinfo)
{
	const char *key;
	uint32		key_len;

	begin_read();
	key_bytes(PG_GETARG_TEXT_PP(0), &key, &key_len);
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
	text	   *value = get_arg_value(fcinfo);

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
	value = get_arg_value(fcinfo);
	if (value != NULL)
		PG_RETURN_TEXT_P(value);
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
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
static Datum
parse_value(FunctionCallInfo fcinfo, Oid type, text *key, text *value)
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
	value = get_arg_value(fcinfo);
	if (value == NULL)
	{
		if (PG_ARGISNULL(1))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	}
	PG_RETURN_DATUM(parse_value(fcinfo, type, PG_GETARG_TEXT_PP(0), value));
}

/*
 * mantis_get_json(key text) returns jsonb
 *
 * The value parsed as JSON, or NULL; a value that is not JSON is 22P02.
 */
Datum
mantis_get_json(PG_FUNCTION_ARGS)
{
	text	   *value = get_arg_value(fcinfo);

	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(parse_value(fcinfo, JSONBOID, PG_GETARG_TEXT_PP(0), value));
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
		switch (mantis_txn_lookup(keys[nstore], key_lens[nstore], &pending, &pending_len))
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
} Listing;

static void
emit_row(Listing *l, const char *key, uint32 key_len, const char *value,
		 uint32 value_len, bool deleted, const MantisHLC *hlc)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char		node[MANTIS_NODE_NAME_MAX + 1];

	values[0] = PointerGetDatum(value_text(key, key_len));
	if (deleted)
		nulls[1] = true;
	else
		values[1] = PointerGetDatum(value_text(value, value_len));
	if (hlc != NULL)
	{
		values[2] = PointerGetDatum(mantis_hlc_text(hlc));
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
	const char *pending;
	uint32		pending_len;

	if (mantis_txn_lookup(rec->key, rec->key_len, &pending, &pending_len) != MANTIS_TXN_NONE)
		return;
	emit_row((Listing *) arg, rec->key, rec->key_len, rec->value, rec->value_len,
			 rec->deleted, &rec->hlc);
}

/* One pending write of this transaction */
static void
emit_pending(const char *key, uint32 key_len, const char *value,
			 uint32 value_len, void *arg)
{
	Listing    *l = (Listing *) arg;

	if (value == NULL && !l->include_deleted)
		return;
	if (l->prefix != NULL &&
		(key_len < l->prefix_len || memcmp(key, l->prefix, l->prefix_len) != 0))
		return;
	emit_row(l, key, key_len, value, value_len, value == NULL, NULL);
}

static void
list_registers(FunctionCallInfo fcinfo, Listing *l)
{
	begin_read();
	InitMaterializedSRF(fcinfo, 0);
	l->rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (l->prefix != NULL)
		mantis_store_scan_prefix(l->prefix, l->prefix_len, l->include_deleted,
								 emit_register, l);
	else
		mantis_store_scan(l->include_deleted, emit_register, l);
	mantis_txn_foreach(emit_pending, l);
}

/*
 * mantis_registers(include_deleted boolean DEFAULT false)
 *		returns setof (key text, value text, hlc text, node text)
 *
 * Every live register (and every deletion marker, with a NULL value, when
 * include_deleted), in no particular order; this transaction's pending
 * writes as it will commit them, with a NULL HLC.
 */
Datum
mantis_registers(PG_FUNCTION_ARGS)
{
	Listing		l = {NULL, PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0), NULL, 0};

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
	Listing		l = {NULL, PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1), NULL, 0};

	if (!PG_ARGISNULL(0))
	{
		text	   *prefix = PG_GETARG_TEXT_PP(0);

		l.prefix = VARDATA_ANY(prefix);
		l.prefix_len = VARSIZE_ANY_EXHDR(prefix);
	}
	list_registers(fcinfo, &l);
	return (Datum) 0;
}
