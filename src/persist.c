/*-------------------------------------------------------------------------
 * persist.c
 *	  The registers in the table mantis_stores: following the table's rows,
 *	  flushing what changed, and compacting this node's rows.
 *
 * Called only by the persistence worker, each entry point inside a
 * transaction the worker opened (begin_work .. end_work, as worker_spi
 * does), with search_path set to pg_catalog and every name
 * schema-qualified.  An ERROR escapes to the worker, which aborts the
 * transaction and then calls mantis_persist_abort(): every leaf a failed
 * flush took is given back whole, so a failed flush loses nothing.
 *
 * Rows.  Each row holds a batch of registers in the snapshot format of
 * snapshot.h, at most about ROW_TARGET_BYTES, and is inserted as soon as it is
 * full, so a flush or a compaction holds one row in memory, never the
 * store.  A flush writes the registers changed since the previous one; when
 * this node's rows grow past mantis.compact_rows, or their bytes past twice
 * the last full snapshot, a flush writes every register instead and deletes
 * this node's older rows in the same transaction.
 *
 * Known rows.  The worker remembers every row of the table it has seen (by
 * id, with the table's oid and relfilenode), and whether that row is
 * merged: every register in it is held in memory or beaten there by a
 * register with a greater HLC.  Before each flush, and every
 * mantis.flush_interval when idle, it compares the table with what it
 * knows (sync_table):
 *	- a row it does not know (a restore, a row added by hand, the primary's
 *	  flush seen on a standby) is merged into memory at once;
 *	- a row of this node it knew that is gone (TRUNCATE, DROP and CREATE
 *	  EXTENSION, a DELETE), or a new table, means rows that held registers
 *	  are gone: the next flush writes a full snapshot.
 * A row whose registers could not all be held (larger than the limits of
 * this start, not valid in the database encoding, another node's clock
 * more than a day ahead, no room in the store) is "held back": it is never
 * deleted, its registers are counted in mantis_status.held_back, and each
 * compaction tries it again, so it comes back once the limits allow.  So a
 * persisted register is deleted only by a compaction that has merged it and
 * written, in the same transaction, a snapshot holding it or a register
 * with a greater HLC for its key.
 *
 * IDENTIFICATION	src/persist.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "postmaster/interrupt.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "miscadmin.h"
#include "nodes.h"
#include "persist.h"
#include "pgstat.h"
#include "snapshot.h"
#include "store.h"

/* a row is closed once it holds this many bytes */
#define ROW_TARGET_BYTES	(16 * 1024 * 1024)

/* rows larger than this are not even read */
#define ROW_MAX_BYTES		(256 * 1024 * 1024)

/* snapshot bytes below which the bytes rule never asks for compaction */
#define COMPACT_MIN_BYTES	(1024 * 1024)

/* how far ahead of the wall clock another node's register may be at load */
#define LOAD_MAX_AHEAD_MS	(24 * 3600 * 1000)

/* A row of mantis_stores the worker has seen. */
typedef struct KnownRow
{
	int64		id;
	TransactionId xmin;			/* with id, the row's identity */
	int64		bytes;
	bool		own;			/* written under this server's node name */
	uint32		held;			/* registers in it not held in memory */
	bool		unreadable;		/* corrupt or too large: never merged */
} KnownRow;

#define ROW_MERGED(r)	((r)->held == 0 && !(r)->unreadable)

/* What the worker knows of mantis_stores; in TopMemoryContext. */
typedef struct KnownTable
{
	char	   *name;			/* "schema"."mantis_stores" */
	Oid			relid;			/* InvalidOid: never seen */
	Oid			relfilenode;
	KnownRow   *rows;			/* sorted by id */
	int			nrows;
	int			maxrows;
	int64		snapshot_bytes; /* of the last full snapshot we wrote */
	bool		rewrite;		/* rows holding registers are gone */
	int64		sequence_floor; /* the id sequence is known to be past this */
} KnownTable;

static KnownTable table = {NULL, InvalidOid, InvalidOid, NULL, 0, 0, 0, false, 0};

/* Rows inserted by the flush under way; known once it commits. */
typedef struct NewRow
{
	int64		id;
	TransactionId xmin;
	int64		bytes;
} NewRow;

/* Rows under construction: the one being filled, inserted once full. */
typedef struct RowBuilder
{
	StringInfoData cur;			/* VARHDRSZ + snapshot so far; data NULL if none */
	uint32		cur_registers;
	int			nodes;
	MantisNodeEntry node_table[MANTIS_MAX_NODES];
	const char *clock;			/* the flush's HLC, as text */
	uint64		registers;		/* in all rows */
	int64		bytes;			/* of all inserted rows */
	MemoryContext cxt;			/* outlives the transaction: for "inserted" */
	List	   *inserted;		/* NewRow * */
} RowBuilder;

/* What the flush under way took from the store, to give back on failure. */
static MantisLeafSet taken_leaves;

static void give_back_taken(void);
static inline void statement_begin(void);
static inline void statement_end(void);

/* ---- the row builder ---- */

static void
builder_init(RowBuilder *b, const char *clock, MemoryContext cxt)
{
	memset(b, 0, sizeof(RowBuilder));
	b->nodes = mantis_nodes_copy(b->node_table);
	b->clock = clock;
	b->cxt = cxt;
}

static void
builder_open_row(RowBuilder *b)
{
	initStringInfo(&b->cur);
	appendStringInfoSpaces(&b->cur, VARHDRSZ + MANTIS_SNAPSHOT_HEADER_SIZE);
	for (int i = 0; i < b->nodes; i++)
	{
		size_t		len = strlen(b->node_table[i].name);
		size_t		size = mantis_codec_node_size(len);

		enlargeStringInfo(&b->cur, (int) size);
		mantis_codec_put_node((unsigned char *) b->cur.data + b->cur.len,
							 b->node_table[i].id, b->node_table[i].name, len);
		b->cur.len += (int) size;
	}
	b->cur_registers = 0;
}

/* Insert one row; fills in its id and xmin. */
static void
insert_row(const char *clock, bytea *registers, NewRow *row)
{
	char	   *sql = psprintf("INSERT INTO %s (clock, node, registers) VALUES ($1, $2, $3) RETURNING id, xmin",
							   table.name);
	Oid			types[3] = {TEXTOID, TEXTOID, BYTEAOID};
	Datum		values[3];
	bool		isnull;

	values[0] = CStringGetTextDatum(clock);
	values[1] = CStringGetTextDatum(mantis_self_node_name());
	values[2] = PointerGetDatum(registers);
	statement_begin();
	if (SPI_execute_with_args(sql, 3, types, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not insert into %s", table.name);
	statement_end();
	row->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	row->xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	pfree(sql);
}

/* Close the row being filled, if any, and insert it. */
static void
builder_close_row(RowBuilder *b)
{
	NewRow	   *row;
	MemoryContext oldcxt;

	if (b->cur.data == NULL)
		return;
	mantis_snapshot_put_header((unsigned char *) b->cur.data + VARHDRSZ,
							   (uint16) b->nodes, b->cur_registers);
	SET_VARSIZE(b->cur.data, b->cur.len);
	oldcxt = MemoryContextSwitchTo(b->cxt);
	row = palloc(sizeof(NewRow));
	b->inserted = lappend(b->inserted, row);
	MemoryContextSwitchTo(oldcxt);
	insert_row(b->clock, (bytea *) b->cur.data, row);
	row->bytes = b->cur.len;
	table.sequence_floor = Max(table.sequence_floor, row->id);
	b->bytes += b->cur.len;
	pfree(b->cur.data);
	b->cur.data = NULL;
}

/* MantisRecordCallback: append one register, inserting the row once full */
static void
builder_add(const MantisRecord *rec, void *arg)
{
	RowBuilder *b = (RowBuilder *) arg;
	size_t		size = mantis_codec_register_size(rec);

	if (b->cur.data == NULL)
		builder_open_row(b);
	if (unlikely(mantis_debug_fail_flush))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request by \"mantis.debug_fail_flush\".")));
	enlargeStringInfo(&b->cur, (int) size);
	mantis_codec_put_register((unsigned char *) b->cur.data + b->cur.len, rec);
	b->cur.len += (int) size;
	b->cur_registers++;
	b->registers++;
	if (b->cur.len >= ROW_TARGET_BYTES)
		builder_close_row(b);
}

/* ---- the transaction bracket ---- */

/*
 * Set while the worker is inside begin_work .. end_work: its SIGTERM
 * handler then cancels the statement under way, so that a lock wait, a
 * long statement or a COMMIT waiting for a synchronous standby never
 * delays a shutdown (the worker's final flush follows).
 */
volatile sig_atomic_t mantis_persist_in_work = false;

/* the caller's memory context, current again once the work is over */
static MemoryContext work_caller_cxt = NULL;

static void
begin_work(const char *activity)
{
	work_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	mantis_persist_in_work = true;
}

/*
 * statement_timeout is armed by PostgreSQL for client statements only: the
 * worker arms it around each of its own statements (a fetch of the load
 * cursor counts as one).
 */
static inline void
statement_begin(void)
{
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
}

static inline void
statement_end(void)
{
	if (StatementTimeout > 0)
		disable_timeout(STATEMENT_TIMEOUT, false);
}

/*
 * Leave the work.  A cancel still pending was meant for it (our SIGTERM
 * handler's, or a timeout that fired after the last interrupt check): it
 * must not end the worker outside a transaction.
 */
static void
leave_work(void)
{
	mantis_persist_in_work = false;
	statement_end();
	QueryCancelPending = false;
	pgstat_report_activity(STATE_IDLE, NULL);
	/* a transaction's end leaves TopMemoryContext current */
	if (work_caller_cxt)
		MemoryContextSwitchTo(work_caller_cxt);
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	leave_work();
	pgstat_report_stat(true);
}

/*
 * After an ERROR inside the work: abort its transaction and give back what
 * a flush took.  The worker calls this from its error path.
 */
void
mantis_persist_abort(void)
{
	AbortCurrentTransaction();
	leave_work();
	give_back_taken();
}

/* ---- finding the table ---- */

/*
 * Find mantis_stores: the extension's schema in this database.  Needs a
 * connected SPI.  False while CREATE EXTENSION mantis has not run here.
 * A table other than the one known (a new oid or relfilenode: DROP and
 * CREATE EXTENSION, TRUNCATE) is taken as new: every row in it unknown,
 * and this node's registers to be written in full.
 */
static bool
find_table(void)
{
	bool		isnull;
	Oid			relid;
	Oid			relfilenode;
	char	   *schema;

	if (!OidIsValid(get_extension_oid("mantis", true)))
		return false;
	if (SPI_execute("SELECT c.oid, c.relfilenode, n.nspname FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
					"  AND c.relname OPERATOR(pg_catalog.=) 'mantis_stores'"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'mantis'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return false;
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	relfilenode = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

	if (table.name)
		pfree(table.name);
	table.name = MemoryContextStrdup(TopMemoryContext,
									 quote_qualified_identifier(schema, "mantis_stores"));
	if (relid != table.relid || relfilenode != table.relfilenode)
	{
		if (OidIsValid(table.relid))
		{
			ereport(LOG,
					(errmsg("mantis_stores was replaced; the next flush writes every register"),
					 errdetail("The table is oid %u, relfilenode %u; it was oid %u, relfilenode %u.",
							   relid, relfilenode, table.relid, table.relfilenode)));
			table.rewrite = true;
		}
		table.relid = relid;
		table.relfilenode = relfilenode;
		table.nrows = 0;
		table.sequence_floor = 0;
	}
	return true;
}

/* ---- loading rows ---- */

typedef struct LoadState
{
	int64		row_id;
	uint64		now_ms;
	MantisMergeTally merged;
	uint64		refused;		/* size, encoding or clock */
} LoadState;

static void
load_node(void *arg, uint64_t id, const char *name, size_t name_len)
{
	char		buf[MANTIS_NODE_NAME_MAX + 1];

	memcpy(buf, name, name_len);
	buf[name_len] = '\0';
	mantis_nodes_remember(id, buf);
}

/*
 * Whether a decoded register may enter the store: within the size limits,
 * valid in the database encoding, and, unless written by this node, not
 * from the far future (a server whose clock was set back keeps its own
 * history; its clock moves past it).
 */
static bool
register_acceptable(const MantisRecord *rec, uint64 now_ms)
{
	if (rec->hlc.node != mantis_self_node_id() &&
		mantis_hlc_ms(rec->hlc.ts) > now_ms + LOAD_MAX_AHEAD_MS)
		return false;
	return mantis_store_admits(rec);
}

static void
load_register(void *arg, const MantisRecord *rec)
{
	LoadState  *st = (LoadState *) arg;

	if (!register_acceptable(rec, st->now_ms))
	{
		/* beaten here by a later write of its key: nothing to hold back */
		if (rec->key_len <= (uint32) mantis_max_key_size &&
			mantis_store_beats(rec->key, rec->key_len, &rec->hlc))
		{
			st->merged.stale++;
			return;
		}

		/*
		 * Held back, it may come back with other limits: a write made
		 * meanwhile must still beat it.  (Only another node's register from
		 * the far future leaves the clock alone: that is why it is refused.)
		 */
		if (rec->hlc.node == mantis_self_node_id() ||
			mantis_hlc_ms(rec->hlc.ts) <= st->now_ms + LOAD_MAX_AHEAD_MS)
			mantis_hlc_witness(rec->hlc.ts);
		st->refused++;
		return;
	}
	mantis_store_merge_tallied(rec, 0, &st->merged);
}

/*
 * Merge one row's registers into memory, unless any part of the row is
 * malformed; fills in row->held and row->unreadable.
 */
static void
load_row(LoadState *st, KnownRow *row, const char *node, bytea *registers)
{
	const char *data = VARDATA_ANY(registers);
	size_t		len = VARSIZE_ANY_EXHDR(registers);
	const char *err = mantis_snapshot_decode(data, len, NULL, NULL, NULL);
	uint64		before;

	if (err != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("mantis skipped row %lld of %s (node \"%s\"): %s",
						(long long) row->id, table.name, node, err)));
		row->unreadable = true;
		return;
	}
	before = st->refused + st->merged.no_room;
	st->row_id = row->id;
	(void) mantis_snapshot_decode(data, len, load_node, load_register, st);
	row->held = (uint32) Min(st->refused + st->merged.no_room - before, PG_UINT32_MAX);
	row->unreadable = false;
}

static Datum
int8_array(const int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Merge the rows of "rows" (n of them, sorted by id) into memory, one at a
 * time through a cursor.  Rows that vanished meanwhile stay as they were.
 */
static void
load_rows(KnownRow **rows, int n, LoadState *st)
{
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		values[2];
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	MemoryContext row_cxt;
	MemoryContext outer = CurrentMemoryContext;
	Portal		portal;
	int			next = 0;

	for (int i = 0; i < n; i++)
		ids[i] = rows[i]->id;
	values[0] = int8_array(ids, n);
	values[1] = Int32GetDatum(ROW_MAX_BYTES);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "mantis load row",
									ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT id, node, CASE WHEN pg_catalog.octet_length(registers) OPERATOR(pg_catalog.<=) $2 THEN registers END"
												" FROM %s WHERE id OPERATOR(pg_catalog.=) ANY ($1) ORDER BY id",
												table.name),
									   2, types, values, NULL, true, 0);
	for (;;)
	{
		HeapTuple	tuple;
		TupleDesc	desc;
		bool		isnull;
		int64		id;
		Datum		d;
		char	   *node;

		statement_begin();
		SPI_cursor_fetch(portal, true, 1);
		statement_end();
		if (SPI_processed == 0)
			break;
		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		while (next < n && rows[next]->id < id)
			next++;
		if (next == n || rows[next]->id != id)
			elog(ERROR, "mantis_stores row %lld was not asked for", (long long) id);

		MemoryContextSwitchTo(row_cxt);
		node = SPI_getvalue(tuple, desc, 2);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("mantis skipped row %lld of %s (node \"%s\"): larger than %d bytes",
							(long long) id, table.name, node ? node : "", ROW_MAX_BYTES)));
			rows[next]->unreadable = true;
		}
		else
			load_row(st, rows[next], node ? node : "", DatumGetByteaPP(d));
		MemoryContextSwitchTo(outer);
		MemoryContextReset(row_cxt);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);
	pfree(ids);
}

/* ---- following the table ---- */

static void
known_reserve(int n)
{
	if (n <= table.maxrows)
		return;
	table.maxrows = Max(n, Max(64, table.maxrows * 2));
	if (table.rows == NULL)
		table.rows = MemoryContextAlloc(TopMemoryContext, sizeof(KnownRow) * table.maxrows);
	else
		table.rows = repalloc(table.rows, sizeof(KnownRow) * table.maxrows);
}

/*
 * Compare the table with the rows we know, merge the rows we do not, and
 * note when rows of ours are gone.  Returns how many rows were merged.
 * Inside begin_work/end_work, after find_table().
 */
static int
sync_table(LoadState *st)
{
	char	   *sql = psprintf("SELECT id, node OPERATOR(pg_catalog.=) $1, pg_catalog.octet_length(registers)::pg_catalog.int8, xmin"
							   " FROM %s ORDER BY id", table.name);
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(mantis_self_node_name())};
	KnownRow   *now;
	KnownRow  **fresh;
	int			nnow;
	int			nfresh = 0;
	int			k = 0;

	statement_begin();
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the rows of %s", table.name);
	statement_end();
	nnow = (int) SPI_processed;
	now = palloc(sizeof(KnownRow) * Max(nnow, 1));
	fresh = palloc(sizeof(KnownRow *) * Max(nnow, 1));
	for (int i = 0; i < nnow; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		KnownRow   *row = &now[i];

		row->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		row->own = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
		row->bytes = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		row->xmin = DatumGetTransactionId(SPI_getbinval(tuple, desc, 4, &isnull));
		row->held = 0;
		row->unreadable = false;

		/* walk the known rows alongside: both are sorted by id */
		while (k < table.nrows && table.rows[k].id < row->id)
		{
			if (table.rows[k].own)
				table.rewrite = true;	/* a row of ours is gone */
			k++;
		}
		if (k < table.nrows && table.rows[k].id == row->id &&
			table.rows[k].xmin == row->xmin)
		{
			row->held = table.rows[k].held;
			row->unreadable = table.rows[k].unreadable;
			k++;
		}
		else
		{
			/* an id we knew with other contents: that row is gone too */
			if (k < table.nrows && table.rows[k].id == row->id)
			{
				if (table.rows[k].own)
					table.rewrite = true;
				k++;
			}
			fresh[nfresh++] = row;
		}
	}
	for (; k < table.nrows; k++)
	{
		if (table.rows[k].own)
			table.rewrite = true;
	}
	SPI_freetuptable(SPI_tuptable);

	if (nfresh > 0)
		load_rows(fresh, nfresh, st);

	known_reserve(nnow);
	memcpy(table.rows, now, sizeof(KnownRow) * nnow);
	table.nrows = nnow;
	pfree(now);
	pfree(fresh);
	pfree(sql);
	return nfresh;
}

/* Registers of known rows not held in memory, and this node's rows. */
static void
count_rows(uint64 *held_back, int64 *own_rows, int64 *own_merged_rows,
		   int64 *own_merged_bytes)
{
	*held_back = 0;
	*own_rows = *own_merged_rows = *own_merged_bytes = 0;
	for (int i = 0; i < table.nrows; i++)
	{
		KnownRow   *row = &table.rows[i];

		*held_back += row->held;
		if (!row->own)
			continue;
		(*own_rows)++;
		if (ROW_MERGED(row))
		{
			(*own_merged_rows)++;
			*own_merged_bytes += row->bytes;
		}
	}
}

void
mantis_persist_counts(uint64 *held_back, int64 *own_rows)
{
	int64		merged_rows,
				merged_bytes;

	count_rows(held_back, own_rows, &merged_rows, &merged_bytes);
}

static void
log_load(const LoadState *st, int rows)
{
	if (rows == 0)
		return;
	ereport(LOG,
			(errmsg("mantis loaded %llu registers from %d rows of %s",
					(unsigned long long) st->merged.applied, rows, table.name),
			 errdetail("%llu registers superseded, %llu held back (size, encoding or clock), %llu found no room.",
					   (unsigned long long) st->merged.stale, (unsigned long long) st->refused,
					   (unsigned long long) st->merged.no_room)));
	if (st->merged.no_room > 0)
		ereport(WARNING,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store filled up while loading: %llu registers were not loaded",
						(unsigned long long) st->merged.no_room),
				 errdetail("They stay in mantis_stores, counted in mantis_status.held_back."),
				 errhint("Raise \"mantis.max_keys\" or \"mantis.store_memory\" and restart the server.")));
}

/* Find the table and merge the rows we do not know; false if no table. */
static bool
follow_table(void)
{
	LoadState	st = {0};
	int			rows;

	if (!find_table())
		return false;
	st.now_ms = mantis_wall_ms();
	rows = sync_table(&st);
	log_load(&st, rows);
	return true;
}

/*
 * Follow mantis_stores: merge every row not yet merged into memory, in a
 * transaction of its own (read-only: this runs on a standby too).  At
 * start this loads the whole table.  Returns false when the extension
 * does not exist in this database.
 */
bool
mantis_persist_follow(void)
{
	bool		found;

	begin_work("mantis: reading mantis_stores");
	found = follow_table();
	end_work();
	return found;
}

/* ---- flushing ---- */

/*
 * Take the changes of the pending leaves, each through "callback"; each
 * leaf is noted as taken first, so a failure halfway gives it back.
 */
static void
take_pending(MantisLeafSet *pending, MantisRecordCallback callback, void *arg)
{
	mantis_store_take_leaves(MANTIS_CONSUMER_PERSIST, pending, &taken_leaves,
							 callback, arg);
}

/*
 * Merge again the rows that were held back: the store may have room now,
 * or the clock may have caught up.  Before a compaction's snapshot, so
 * that whatever merges is in it.
 */
static void
retry_held_back(void)
{
	KnownRow  **retry = palloc(sizeof(KnownRow *) * Max(table.nrows, 1));
	int			n = 0;
	LoadState	st = {0};

	for (int i = 0; i < table.nrows; i++)
	{
		if (table.rows[i].held > 0)
			retry[n++] = &table.rows[i];
	}
	if (n > 0)
	{
		st.now_ms = mantis_wall_ms();
		load_rows(retry, n, &st);
		if (st.merged.applied > 0)
			ereport(LOG,
					(errmsg("mantis loaded %llu registers held back in %s",
							(unsigned long long) st.merged.applied, table.name)));
	}
	pfree(retry);
}

/*
 * Delete rows of ours, each only if it is still the version we merged: a
 * row changed meanwhile (its xmin differs) stays, to be merged first.
 */
static void
delete_rows(const KnownRow *rows, int n)
{
	char	   *sql;
	Oid			types[3] = {INT8ARRAYOID, TEXTARRAYOID, TEXTOID};
	Datum		values[3];
	int64	   *ids;
	Datum	   *xmins;

	if (n == 0)
		return;
	ids = palloc(sizeof(int64) * n);
	xmins = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		char		buf[16];

		ids[i] = rows[i].id;
		snprintf(buf, sizeof(buf), "%u", rows[i].xmin);
		xmins[i] = CStringGetTextDatum(buf);
	}
	values[0] = int8_array(ids, n);
	values[1] = PointerGetDatum(construct_array(xmins, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = CStringGetTextDatum(mantis_self_node_name());
	sql = psprintf("DELETE FROM %s s USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(id, x)"
				   " WHERE s.id OPERATOR(pg_catalog.=) k.id AND s.xmin::pg_catalog.text OPERATOR(pg_catalog.=) k.x"
				   " AND s.node OPERATOR(pg_catalog.=) $3",
				   table.name);
	statement_begin();
	if (SPI_execute_with_args(sql, 3, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from %s", table.name);
	statement_end();
	pfree(sql);
}

/*
 * Write every register as a fresh snapshot and delete the rows of ours it
 * makes redundant: those merged, which it now covers, and the delta rows
 * this flush inserted before it found compaction due.  Returns the ids
 * deleted, in the builder's context.
 */
static int64 *
compact(RowBuilder *b, MantisLeafSet *pending, int *ndeleted)
{
	KnownRow   *gone;
	int64	   *ids;
	int			n = 0;
	ListCell   *lc;

	retry_held_back();
	gone = palloc(sizeof(KnownRow) * (table.nrows + list_length(b->inserted) + 1));
	for (int i = 0; i < table.nrows; i++)
	{
		if (table.rows[i].own && ROW_MERGED(&table.rows[i]))
			gone[n++] = table.rows[i];
	}
	foreach(lc, b->inserted)
	{
		NewRow	   *row = (NewRow *) lfirst(lc);

		gone[n].id = row->id;
		gone[n].xmin = row->xmin;
		n++;
	}
	b->inserted = NIL;
	b->registers = 0;
	b->bytes = 0;

	/* what changed is in the snapshot: clear the flags first */
	take_pending(pending, NULL, NULL);
	mantis_store_scan(true, builder_add, b);
	if (b->inserted == NIL && b->cur.data == NULL)
		builder_open_row(b);	/* an empty store still gets its row */
	builder_close_row(b);
	delete_rows(gone, n);
	ids = MemoryContextAlloc(b->cxt, sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
		ids[i] = gone[i].id;
	*ndeleted = n;
	return ids;
}

static bool
compaction_due(const RowBuilder *delta)
{
	uint64		held_back;
	int64		own_rows,
				merged_rows,
				merged_bytes;

	count_rows(&held_back, &own_rows, &merged_rows, &merged_bytes);
	if (table.snapshot_bytes == 0)
		table.snapshot_bytes = merged_bytes;	/* not known since start */
	return merged_rows + list_length(delta->inserted) > mantis_compact_rows ||
		merged_bytes + delta->bytes > 2 * Max(table.snapshot_bytes, COMPACT_MIN_BYTES);
}

static int
known_row_cmp(const void *a, const void *b)
{
	int64		x = ((const KnownRow *) a)->id;
	int64		y = ((const KnownRow *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Rows added by hand or restored may carry ids the id sequence has not
 * reached: move it past them, or our next inserts would collide.
 */
static void
sequence_past_rows(void)
{
	int64		max_id = table.nrows > 0 ? table.rows[table.nrows - 1].id : 0;
	char	   *sql;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	if (max_id <= table.sequence_floor)
		return;
	values[0] = CStringGetTextDatum(table.name);
	values[1] = Int64GetDatum(max_id);
	sql = "SELECT pg_catalog.setval(s.seq, $2) FROM"
		" (SELECT pg_catalog.pg_get_serial_sequence($1, 'id')::pg_catalog.regclass AS seq) s"
		" WHERE COALESCE(pg_catalog.pg_sequence_last_value(s.seq), 0) OPERATOR(pg_catalog.<) $2";
	statement_begin();
	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not advance the id sequence of %s", table.name);
	statement_end();
	table.sequence_floor = max_id;
}

/* Make what a committed flush inserted and deleted known. */
static void
note_committed(const RowBuilder *b, const int64 *deleted, int ndeleted)
{
	int			keep = 0;
	ListCell   *lc;

	for (int i = 0; i < table.nrows; i++)
	{
		bool		gone = false;

		for (int j = 0; j < ndeleted && !gone; j++)
			gone = table.rows[i].id == deleted[j];
		if (!gone)
			table.rows[keep++] = table.rows[i];
	}
	table.nrows = keep;
	known_reserve(table.nrows + list_length(b->inserted));
	foreach(lc, b->inserted)
	{
		NewRow	   *row = (NewRow *) lfirst(lc);
		KnownRow   *k = &table.rows[table.nrows++];

		k->id = row->id;
		k->xmin = row->xmin;
		k->bytes = row->bytes;
		k->own = true;
		k->held = 0;
		k->unreadable = false;
	}
	/* our ids come from the sequence, but a row added by hand may be ahead */
	qsort(table.rows, table.nrows, sizeof(KnownRow), known_row_cmp);
}

/*
 * Write the registers changed since the last flush, in a transaction of
 * its own: follow the table, then take the changes (clearing their
 * UNFLUSHED flags) from the leaves set in "pending", which is emptied, and
 * insert them row by row.  Compacts when due, when "compact" asks, or when
 * rows of ours are gone.  Returns false, having taken nothing, if the
 * extension has gone from this database.  On ERROR the worker calls
 * mantis_persist_abort(), which gives back what was taken.
 */
bool
mantis_persist_flush(MantisLeafSet *pending, bool compact_asked, MantisFlushResult *result)
{
	char		clock[MANTIS_HLC_TEXT_SIZE];
	RowBuilder	b;
	MantisHLC	now;
	int64	   *deleted = NULL;
	int			ndeleted = 0;

	memset(result, 0, sizeof(*result));
	builder_init(&b, clock, CurrentMemoryContext);
	begin_work("mantis: flushing to mantis_stores");
	if (!follow_table())
	{
		end_work();
		return false;
	}

	result->compacted = compact_asked || table.rewrite;
	if (!result->compacted && mantis_leafset_is_empty(pending))
	{
		end_work();
		return true;
	}
	sequence_past_rows();
	now = mantis_hlc_now();
	mantis_hlc_format(&now, clock);
	if (!result->compacted)
	{
		take_pending(pending, builder_add, &b);
		builder_close_row(&b);
		result->compacted = compaction_due(&b);
	}
	if (result->compacted)
		deleted = compact(&b, pending, &ndeleted);
	end_work();

	/* committed */
	if (result->compacted)
	{
		table.rewrite = false;
		table.snapshot_bytes = b.bytes;
	}
	note_committed(&b, deleted, ndeleted);
	memset(&taken_leaves, 0, sizeof(taken_leaves));
	result->registers = b.registers;
	result->rows = list_length(b.inserted);
	return true;
}

/*
 * After a flush's transaction aborted: give back every leaf it took.  Its
 * rows were rolled back, so nothing of it becomes known.
 */
static void
give_back_taken(void)
{
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		for (uint32 bits = taken_leaves.words[w]; bits != 0; bits &= bits - 1)
			mantis_store_give_back_leaf(MANTIS_CONSUMER_PERSIST,
										w * 32 + pg_rightmost_one_pos32(bits));
		taken_leaves.words[w] = 0;
	}
}
