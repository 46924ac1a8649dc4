/*-------------------------------------------------------------------------
 * persist/table.c
 *	  The table mantis_stores as the persistence worker knows it: finding
 *	  it, the rows of it the worker has seen, and the transaction bracket
 *	  the worker's work on it runs in.
 *
 * The bottom layer of the persistence: persist/load.c (merging the table's
 * rows into memory) and persist/flush.c (writing what changed, compacting
 * this node's rows) call it through persist/table.h; the worker
 * (persist/worker.c) calls persist/persist.h.
 *
 * Called only by the persistence worker, each entry point inside a
 * transaction the worker opened (begin_work .. end_work, as worker_spi
 * does), with search_path set to pg_catalog and every name
 * schema-qualified.  An ERROR escapes to the worker, which calls
 * mantis_persist_abort() (persist/flush.c): that aborts the transaction
 * (abort_work) and gives back whole every leaf a failed flush took, so a
 * failed flush loses nothing.  This file calls neither of the others.
 *
 * Known rows.  The worker remembers every row of the table it has seen (by
 * id, with the table's oid and relfilenode), and whether that row is
 * merged: every register in it is held in memory or beaten there by a
 * register with a greater HLC.  persist/load.c compares the table with
 * what the worker knows and merges what it does not; persist/flush.c adds
 * the rows a flush inserted and drops those it deleted once it commits.
 * A row known that is gone (row_gone(), table_replaced()) means the next
 * flush writes every register; one that held registers back lowers our
 * refusal horizon below them (lost_held_back()).
 * All this is one KnownTable, which the worker creates
 * (mantis_persist_table_create()), keeps, and passes to each function that
 * reads or changes it: none of the persistence's files has a copy.
 *
 * IDENTIFICATION	src/persist/table.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "mantis.h"
#include "compat.h"
#include "nodes.h"
#include "persist/heldset.h"
#include "persist/persist.h"
#include "persist/table.h"
#include "store/collect.h"
#include "common/rules.h"
#include "access/xlog.h"

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

void
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

void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	leave_work();
	pgstat_report_stat(true);
}

/*
 * After an ERROR inside the work: abort its transaction.  Called through
 * mantis_persist_abort(), which also gives back what a flush took.
 */
void
abort_work(void)
{
	AbortCurrentTransaction();
	leave_work();
}

/* ---- finding the table ---- */

/* A table never seen yet (relid InvalidOid, no rows); for the worker. */
KnownTable *
mantis_persist_table_create(void)
{
	return MemoryContextAllocZero(TopMemoryContext, sizeof(KnownTable));
}

/*
 * Find mantis_stores: the extension's schema in this database.  Needs a
 * connected SPI.  False while CREATE EXTENSION mantis has not run here.
 * A table other than the one known (a new oid or relfilenode: DROP and
 * CREATE EXTENSION, TRUNCATE) is taken as new: every row in it unknown,
 * and this node's registers to be written in full.
 */
bool
find_table(KnownTable *kt)
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

	if (kt->name)
		pfree(kt->name);
	kt->name = MemoryContextStrdup(TopMemoryContext,
								   quote_qualified_identifier(schema, "mantis_stores"));
	if (relid != kt->relid || relfilenode != kt->relfilenode)
	{
		if (OidIsValid(kt->relid))
		{
			ereport(LOG,
					(errmsg("mantis_stores was replaced; the next flush writes every register"),
					 errdetail("The table is oid %u, relfilenode %u; it was oid %u, relfilenode %u.",
							   relid, relfilenode, kt->relid, kt->relfilenode)));
			kt->rewrite = true;
			kt->replaced = true;	/* persist/load.c forgets its rows */
		}
		kt->relid = relid;
		kt->relfilenode = relfilenode;
		kt->sequence_floor = 0;
	}
	return true;
}

/* ---- the known rows ---- */

void
known_reserve(KnownTable *kt, int n)
{
	if (n <= kt->maxrows)
		return;
	kt->maxrows = Max(n, Max(64, kt->maxrows * 2));
	if (kt->rows == NULL)
		kt->rows = MemoryContextAlloc(TopMemoryContext, sizeof(KnownRow) * kt->maxrows);
	else
		kt->rows = repalloc(kt->rows, sizeof(KnownRow) * kt->maxrows);
}

/*
 * Registers of known rows not held in memory; this node's rows; and the
 * merged rows, which a compaction replaces whatever node name wrote them.
 */
void
count_rows(const KnownTable *kt, uint64 *held_back, int64 *own_rows,
		   int64 *merged_rows, int64 *merged_bytes)
{
	*held_back = 0;
	*own_rows = *merged_rows = *merged_bytes = 0;
	for (int i = 0; i < kt->nrows; i++)
	{
		KnownRow   *row = &kt->rows[i];

		*held_back += row->held;
		if (row->own)
			(*own_rows)++;
		if (ROW_MERGED(row))
		{
			(*merged_rows)++;
			*merged_bytes += row->bytes;
		}
	}
}

void
mantis_persist_counts(const KnownTable *kt, uint64 *held_back, int64 *own_rows)
{
	int64		merged_rows,
				merged_bytes;

	count_rows(kt, held_back, own_rows, &merged_rows, &merged_bytes);
}

/* ---- rows gone ---- */

/*
 * A row we knew is gone from the table: one of ours means the next flush
 * writes every register; one that held registers back (whoever wrote it)
 * took them with it, the least of them noted in *lost_hole, and the next
 * flush writes every register too, under the horizon that lowers.
 */
void
row_gone(KnownTable *kt, const KnownRow *row, uint64 *lost_hole)
{
	if (row->own)
		kt->rewrite = true;
	if (row->held > 0 && !row->unreadable)
	{
		*lost_hole = mantis_rules_hole_after(*lost_hole, row->hole_ts);
		kt->rewrite = true;		/* our rows carry the horizon it lowers */
	}
}

/*
 * Rows that held registers back are gone while we run, not by our own
 * compaction: what they held is ours no more, and our refusal horizon must
 * not cover it, or we would refuse it from the peers that hold it and they
 * would adopt it away (store/collect.c).  Before the load hole that kept
 * them from doing so is lifted (publish_load_hole()).
 */
void
lost_held_back(uint64 lost_hole)
{
	held_lost();				/* until a retry rebuilds the held set */
	/*
	 * A standby sees rows go as its primary compacts them (a held row
	 * rewritten as a row of what it still holds back): the primary decides.
	 */
	if (RecoveryInProgress())
		return;
	ereport(WARNING,
			(errmsg("mantis: rows of mantis_stores that held registers back are gone"),
			 errdetail("The registers they held are no longer in this server: it lowers its refusal horizon below them, to take them back from its peers."),
			 errhint("Raise the limits that held them back (see mantis_status.held_back) before removing rows of mantis_stores.")));
	mantis_collect_lower_refusal_horizon(lost_hole);
}

/*
 * The table was replaced (persist/table.c's find_table()): every row we
 * knew is gone, and forgotten.
 */
void
table_replaced(KnownTable *kt)
{
	uint64		lost_hole = MANTIS_RULES_NO_HOLE;

	for (int i = 0; i < kt->nrows; i++)
		row_gone(kt, &kt->rows[i], &lost_hole);
	if (lost_hole != MANTIS_RULES_NO_HOLE)
		lost_held_back(lost_hole);
	kt->nrows = 0;
	kt->replaced = false;
}

/*
 * The INSERT of insert_row(), prepared once for the table's name and kept:
 * planned once, and generic, so that a row's bytes are passed to the
 * executor as they are.  A statement run with its parameters
 * (SPI_execute_with_args()) is planned for their values, which copies the
 * row, up to ROW_TARGET_BYTES, into the plan as a constant before the
 * tuple copies it again.  The plan cache revalidates the kept plan when
 * the table changes; a table under another name (the extension moved to
 * another schema, or created again elsewhere) gets a plan of its own.
 */
static SPIPlanPtr
insert_plan(KnownTable *kt)
{
	Oid			types[3] = {TEXTOID, TEXTOID, BYTEAOID};
	char	   *sql;
	SPIPlanPtr	plan;
	int			rc;

	if (kt->insert_plan != NULL && strcmp(kt->insert_name, kt->name) == 0)
		return kt->insert_plan;
	if (kt->insert_plan != NULL)
	{
		SPI_freeplan(kt->insert_plan);
		kt->insert_plan = NULL;
		pfree(kt->insert_name);
		kt->insert_name = NULL;
	}
	sql = psprintf("INSERT INTO %s (clock, node, registers) VALUES ($1, $2, $3) RETURNING id, xmin",
				   kt->name);
	plan = SPI_prepare_cursor(sql, 3, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare an insert into %s: %s", kt->name,
			 SPI_result_code_string(SPI_result));
	rc = SPI_keepplan(plan);
	if (rc != 0)
		elog(ERROR, "could not keep the insert into %s: %s", kt->name,
			 SPI_result_code_string(rc));
	pfree(sql);
	kt->insert_plan = plan;
	kt->insert_name = MemoryContextStrdup(TopMemoryContext, kt->name);
	return plan;
}

/*
 * Insert one row under this server's node name; fills in its id, xmin and
 * bytes, and moves what the id sequence is known to be past.
 */
void
insert_row(KnownTable *kt, const char *clock, bytea *registers, NewRow *row)
{
	SPIPlanPtr	plan = insert_plan(kt);
	Datum		values[3];
	bool		isnull;

	values[0] = CStringGetTextDatum(clock);
	values[1] = CStringGetTextDatum(mantis_self_node_name());
	values[2] = PointerGetDatum(registers);
	statement_begin();
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not insert into %s", kt->name);
	statement_end();
	row->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	row->xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	row->bytes = VARSIZE(registers);
	SPI_freetuptable(SPI_tuptable);
	kt->sequence_floor = Max(kt->sequence_floor, row->id);
}

/* An int8[] of ids, to pass to a statement */
Datum
int8_array(const int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
