/*-------------------------------------------------------------------------
 * persist.c
 *	  The registers in the table mantis_stores: flushing what changed,
 *	  compacting this node's rows, and loading every row back at start.
 *
 * Called only by the worker, each entry point in a transaction of its own
 * (StartTransactionCommand .. CommitTransactionCommand, as worker_spi does),
 * with search_path set to pg_catalog by the worker and every name
 * schema-qualified.  An ERROR escapes to the worker, which aborts the
 * transaction and retries: nothing here clears a register's UNFLUSHED flag
 * before the rows holding it have committed, so a failed flush loses
 * nothing.
 *
 * Rows.  Each row holds a batch of registers in the snapshot format of
 * wire.h, at most about ROW_TARGET_BYTES.  A flush writes the registers
 * changed since the previous one; when this node's rows grow past
 * mantis.compact_rows, or their bytes past twice the last full snapshot, a
 * flush writes every register instead and deletes this node's older rows
 * in the same transaction.  Since merging is last-writer-wins, loading any
 * subset of rows in any order gives the same registers.
 *
 * Loading trusts no row: each is decoded completely before any of it is
 * merged, and a row that is corrupt, oversized or holds registers the store
 * cannot take is logged and skipped, or has those registers skipped.
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
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "mantis.h"
#include "wire.h"

/* a row is closed once it holds this many bytes */
#define ROW_TARGET_BYTES	(16 * 1024 * 1024)

/* rows larger than this are not even read */
#define ROW_MAX_BYTES		(256 * 1024 * 1024)

/* snapshot bytes below which the bytes rule never asks for compaction */
#define COMPACT_MIN_BYTES	(1024 * 1024)

/* how far ahead of the wall clock a stored register may be and still load */
#define LOAD_MAX_AHEAD_MS	(24 * 3600 * 1000)

/* "schema"."mantis_stores", in TopMemoryContext once found */
static char *stores_table = NULL;

/* this node's rows, as far as the worker knows */
static int64 stored_rows = -1;
static int64 stored_bytes = 0;
static int64 snapshot_bytes = 0;

/* Rows under construction: completed bytea rows plus the one being filled. */
typedef struct RowBuilder
{
	List	   *rows;			/* bytea * */
	StringInfoData cur;			/* VARHDRSZ + snapshot so far; data NULL if none */
	uint32		cur_registers;
	int			nodes;
	MantisNodeEntry node_table[MANTIS_MAX_NODES];
	uint64		registers;		/* in all rows */
	int64		bytes;			/* of all completed rows */
} RowBuilder;

static void
builder_init(RowBuilder *b)
{
	memset(b, 0, sizeof(RowBuilder));
	b->nodes = mantis_nodes_copy(b->node_table);
}

static void
builder_open_row(RowBuilder *b)
{
	initStringInfo(&b->cur);
	appendStringInfoSpaces(&b->cur, VARHDRSZ + MANTIS_SNAPSHOT_HEADER_SIZE);
	for (int i = 0; i < b->nodes; i++)
	{
		size_t		len = strlen(b->node_table[i].name);
		size_t		size = mantis_wire_node_size(len);

		enlargeStringInfo(&b->cur, (int) size);
		mantis_wire_put_node((unsigned char *) b->cur.data + b->cur.len,
							 b->node_table[i].id, b->node_table[i].name, len);
		b->cur.len += (int) size;
	}
	b->cur_registers = 0;
}

static void
builder_close_row(RowBuilder *b)
{
	if (b->cur.data == NULL)
		return;
	mantis_snapshot_put_header((unsigned char *) b->cur.data + VARHDRSZ,
							   (uint16) b->nodes, b->cur_registers);
	SET_VARSIZE(b->cur.data, b->cur.len);
	b->rows = lappend(b->rows, b->cur.data);
	b->bytes += b->cur.len;
	b->cur.data = NULL;
}

/* MantisRecordCallback: append one register to the row being filled */
static void
builder_add(const MantisRecord *rec, void *arg)
{
	RowBuilder *b = (RowBuilder *) arg;
	size_t		size = mantis_wire_register_size(rec);

	if (b->cur.data == NULL)
		builder_open_row(b);
	enlargeStringInfo(&b->cur, (int) size);
	mantis_wire_put_register((unsigned char *) b->cur.data + b->cur.len, rec);
	b->cur.len += (int) size;
	b->cur_registers++;
	b->registers++;
	if (b->cur.len >= ROW_TARGET_BYTES)
		builder_close_row(b);
}

/*
 * Find mantis_stores: the extension's schema in this database.  Needs a
 * connected SPI.  False while CREATE EXTENSION mantis has not run here.
 */
static bool
find_table(void)
{
	char	   *schema;

	if (!OidIsValid(get_extension_oid("mantis", true)))
		return false;
	if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'mantis'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return false;
	schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (stores_table)
		pfree(stores_table);
	stores_table = MemoryContextStrdup(TopMemoryContext,
									   quote_qualified_identifier(schema, "mantis_stores"));
	return true;
}

static void
begin_work(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Count this node's rows and their bytes; inside begin_work/end_work. */
static void
count_node_rows(void)
{
	char	   *sql = psprintf("SELECT count(*), coalesce(sum(pg_catalog.octet_length(registers)), 0)::pg_catalog.int8"
							   " FROM %s WHERE node OPERATOR(pg_catalog.=) $1",
							   stores_table);
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(mantis_shared->node_name)};
	bool		isnull;

	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the rows of %s", stores_table);
	stored_rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored_bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	/* we do not know which rows are full snapshots: assume all of them */
	snapshot_bytes = stored_bytes;
}

int64
mantis_persist_stored_rows(void)
{
	return stored_rows;
}

/* ---- loading ---- */

typedef struct LoadState
{
	int64		row_id;
	uint64		now_ms;
	uint64		applied;
	uint64		stale;
	uint64		rejected;
	uint64		no_room;
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
 * valid in the database encoding, and not from the far future.
 */
static bool
register_acceptable(const MantisRecord *rec, uint64 now_ms)
{
	if (rec->key_len > (uint32) mantis_max_key_size ||
		rec->value_len > (uint32) mantis_max_value_size)
		return false;
	if (mantis_hlc_ms(rec->hlc.ts) > now_ms + LOAD_MAX_AHEAD_MS)
		return false;
	if (!pg_verify_mbstr(GetDatabaseEncoding(), rec->key, (int) rec->key_len, true))
		return false;
	if (!rec->deleted &&
		!pg_verify_mbstr(GetDatabaseEncoding(), rec->value, (int) rec->value_len, true))
		return false;
	return true;
}

static void
load_register(void *arg, const MantisRecord *rec)
{
	LoadState  *st = (LoadState *) arg;

	if (!register_acceptable(rec, st->now_ms))
	{
		st->rejected++;
		return;
	}
	switch (mantis_store_merge(rec, 0))
	{
		case MANTIS_PUT_APPLIED:
			st->applied++;
			break;
		case MANTIS_PUT_STALE:
			st->stale++;
			break;
		case MANTIS_PUT_NO_KEYS:
		case MANTIS_PUT_NO_MEMORY:
			st->no_room++;
			break;
	}
}

/* Load one row's bytes, unless any part of them is malformed. */
static bool
load_row(LoadState *st, const char *node, bytea *registers)
{
	const char *data = VARDATA_ANY(registers);
	size_t		len = VARSIZE_ANY_EXHDR(registers);
	const char *err = mantis_snapshot_decode(data, len, NULL, NULL, NULL);

	if (err != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("mantis skipped row %lld of %s (node \"%s\"): %s",
						(long long) st->row_id, stores_table, node, err)));
		return false;
	}
	(void) mantis_snapshot_decode(data, len, load_node, load_register, st);
	return true;
}

/*
 * Load every row of mantis_stores into the store, merging register by
 * register.  Returns false (and does nothing) when the extension does not
 * exist in this database yet.
 */
bool
mantis_persist_hydrate(void)
{
	LoadState	st = {0};
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(ROW_MAX_BYTES)};
	MemoryContext row_cxt;
	MemoryContext spi_cxt;
	Portal		portal;
	int64		rows = 0,
				skipped = 0;

	begin_work("mantis: loading mantis_stores");
	if (!find_table())
	{
		end_work();
		return false;
	}

	st.now_ms = mantis_wall_ms();
	spi_cxt = CurrentMemoryContext;
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "mantis load row",
									ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT id, node, CASE WHEN pg_catalog.octet_length(registers) OPERATOR(pg_catalog.<=) $1 THEN registers END"
												" FROM %s ORDER BY id", stores_table),
									   1, types, values, NULL, true, 0);
	for (;;)
	{
		HeapTuple	tuple;
		TupleDesc	desc;
		bool		isnull;
		Datum		d;
		char	   *node;

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		rows++;

		MemoryContextSwitchTo(row_cxt);
		st.row_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		node = SPI_getvalue(tuple, desc, 2);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("mantis skipped row %lld of %s (node \"%s\"): larger than %d bytes",
							(long long) st.row_id, stores_table, node ? node : "", ROW_MAX_BYTES)));
			skipped++;
		}
		else if (!load_row(&st, node ? node : "", DatumGetByteaPP(d)))
			skipped++;
		MemoryContextSwitchTo(spi_cxt);
		MemoryContextReset(row_cxt);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	count_node_rows();
	end_work();

	ereport(LOG,
			(errmsg("mantis loaded %llu registers from %lld rows of %s",
					(unsigned long long) st.applied, (long long) rows, stores_table),
			 errdetail("%lld rows skipped as corrupt; %llu registers superseded, %llu refused (size, encoding or clock), %llu found no room.",
					   (long long) skipped, (unsigned long long) st.stale,
					   (unsigned long long) st.rejected, (unsigned long long) st.no_room)));
	if (st.no_room > 0)
		ereport(WARNING,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store filled up while loading: %llu registers were not loaded",
						(unsigned long long) st.no_room),
				 errhint("Raise \"mantis.max_keys\" or \"mantis.store_memory\" and restart the server.")));
	return true;
}

/* ---- flushing ---- */

static void
reflag_unflushed(void *arg, const MantisRecord *rec)
{
	mantis_store_reflag(MANTIS_CONSUMER_PERSIST, rec->key, rec->key_len, &rec->hlc);
}

/* Give back the registers of rows that were not written. */
static void
give_back(RowBuilder *b)
{
	ListCell   *lc;

	foreach(lc, b->rows)
	{
		bytea	   *row = (bytea *) lfirst(lc);

		(void) mantis_snapshot_decode(VARDATA(row), VARSIZE(row) - VARHDRSZ,
									  NULL, reflag_unflushed, NULL);
	}
}

/* Insert the builder's rows; returns the id of the first. */
static int64
insert_rows(RowBuilder *b, const char *clock)
{
	char	   *sql = psprintf("INSERT INTO %s (clock, node, registers) VALUES ($1, $2, $3) RETURNING id",
							   stores_table);
	Oid			types[3] = {TEXTOID, TEXTOID, BYTEAOID};
	Datum		values[3];
	int64		first = -1;
	ListCell   *lc;

	values[0] = CStringGetTextDatum(clock);
	values[1] = CStringGetTextDatum(mantis_shared->node_name);
	foreach(lc, b->rows)
	{
		bool		isnull;

		values[2] = PointerGetDatum(lfirst(lc));
		if (SPI_execute_with_args(sql, 3, types, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not insert into %s", stores_table);
		if (first < 0)
			first = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return first;
}

static void
delete_rows_before(int64 first_kept)
{
	char	   *sql = psprintf("DELETE FROM %s WHERE node OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.<) $2",
							   stores_table);
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(mantis_shared->node_name), Int64GetDatum(first_kept)};

	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from %s", stores_table);
}

static bool
compaction_due(const RowBuilder *delta)
{
	int64		rows = stored_rows + list_length(delta->rows);
	int64		bytes = stored_bytes + delta->bytes;

	return rows > mantis_compact_rows ||
		bytes > 2 * Max(snapshot_bytes, COMPACT_MIN_BYTES);
}

/*
 * Write the delta, or every register when compacting, in one transaction.
 * Returns false if the extension has gone from this database.
 */
static bool
write_rows(RowBuilder *delta, bool compact, MantisFlushResult *result)
{
	RowBuilder	full;
	RowBuilder *write;
	char		clock[MANTIS_HLC_TEXT_SIZE];
	MantisHLC	now;
	int64		first;

	begin_work("mantis: flushing to mantis_stores");
	if (!find_table())
	{
		end_work();
		return false;
	}
	if (stored_rows < 0)
		count_node_rows();

	now = mantis_hlc_now();
	mantis_hlc_format(&now, clock);
	result->compacted = compact || compaction_due(delta);
	if (result->compacted)
	{
		builder_init(&full);
		mantis_store_scan(true, builder_add, &full);
		if (full.rows == NIL && full.cur.data == NULL)
			builder_open_row(&full);	/* an empty store still gets its row */
		builder_close_row(&full);
		write = &full;
	}
	else
		write = delta;

	first = insert_rows(write, clock);
	if (result->compacted && first >= 0)
		delete_rows_before(first);
	end_work();

	if (result->compacted)
	{
		stored_rows = list_length(full.rows);
		stored_bytes = snapshot_bytes = full.bytes;
	}
	else
	{
		stored_rows += list_length(delta->rows);
		stored_bytes += delta->bytes;
	}
	result->registers = write->registers;
	result->rows = list_length(write->rows);
	return true;
}

/*
 * Write the registers changed since the last flush: take them (clearing
 * their UNFLUSHED flags) from the leaves set in "pending", which is
 * emptied, and write them; should that fail or find no table, give them
 * back, flagged again, before anything else.  Compacts when due, or when
 * "compact" asks.  Returns false, having written nothing, if the extension
 * has gone from this database.
 */
bool
mantis_persist_flush(uint32 *pending, bool compact, MantisFlushResult *result)
{
	RowBuilder	delta;
	bool		written = false;

	memset(result, 0, sizeof(*result));

	/* take first: no transaction needed to read shared memory */
	builder_init(&delta);
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		for (uint32 bits = pending[w]; bits != 0; bits &= bits - 1)
			mantis_store_take_changes(MANTIS_CONSUMER_PERSIST,
									  w * 32 + pg_rightmost_one_pos32(bits),
									  builder_add, &delta);
		pending[w] = 0;
	}
	builder_close_row(&delta);
	if (delta.registers == 0 && !compact)
		return true;

	PG_TRY();
	{
		written = write_rows(&delta, compact, result);
	}
	PG_CATCH();
	{
		/*
		 * The failed transaction may still hold LWLocks, even a partition
		 * lock if compaction's scan failed; its abort, which follows,
		 * releases them first thing too.
		 */
		LWLockReleaseAll();
		give_back(&delta);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!written)
		give_back(&delta);
	return written;
}
