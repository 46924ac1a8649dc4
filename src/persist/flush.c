/*-------------------------------------------------------------------------
 * persist/flush.c
 *	  Writing the registers to mantis_stores: a flush of what changed since
 *	  the last one, a compaction that writes every register and deletes
 *	  this node's older rows, and the abort after an ERROR, which gives
 *	  back what a failed flush took.
 *
 * Rows.  Each row holds a batch of registers in the snapshot format of
 * common/snapshot.h, at most about ROW_TARGET_BYTES, and is inserted as soon
 * as it is full, so a flush or a compaction holds one row in memory, never the
 * store.  A flush writes the registers changed since the previous one; when
 * this node's rows grow past mantis.compact_rows, or their bytes past twice
 * the last full snapshot, a flush writes every register instead and deletes
 * this node's older rows in the same transaction.
 *
 * A compaction first merges again what the rows held back (persist/load.c),
 * rewriting each held row that gave something as a row of only what it
 * still holds back (so a compaction is also how held rows are retried: the
 * worker asks one once room is freed for them, persist/retry.c), and deletes the rows known to be merged and the rows
 * rewritten, each only if it is still the version merged.  So a persisted
 * register is deleted only by a compaction that has merged it and written,
 * in the same transaction, a snapshot holding it or a register with a
 * greater HLC for its key (or that register was collected since, and must
 * not come back).
 *
 * Records.  A compaction also writes the records of dead registers and the
 * leaves' collapsed bounds (R7 of common/rules.h), in rows of their own
 * (persist/dead_rows.c), before it scans the registers; a flush writes the
 * bounds changed since the last flush in a row of their own, first.
 *
 * Adoption.  A compaction also makes adoptions durable (store/sweep.c):
 * its snapshot leaves out the registers adopted away, its last row carries
 * the refusal horizon their adoption raises, and only once it has committed
 * are they dropped from the store and the horizon raised there.
 *
 * IDENTIFICATION	src/persist/flush.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/rules.h"
#include "common/snapshot.h"
#include "store/collect.h"
#include "store/store.h"
#include "persist/dead_rows.h"
#include "persist/load.h"
#include "persist/persist.h"
#include "persist/table.h"

/* a row is closed once it holds this many bytes */
#define ROW_TARGET_BYTES	(16 * 1024 * 1024)

/* snapshot bytes below which the bytes rule never asks for compaction */
#define COMPACT_MIN_BYTES	(1024 * 1024)

/* Rows under construction: the one being filled, inserted once full. */
typedef struct RowBuilder
{
	KnownTable *kt;				/* the table the rows go into */
	StringInfoData cur;			/* VARHDRSZ + snapshot so far; data NULL if none */
	uint32		cur_registers;
	int			nodes;
	MantisNodeEntry node_table[MANTIS_MAX_NODES];
	const char *clock;			/* the flush's HLC, as text */
	uint64		adopted_raise;	/* the refusal horizon the adoptions a
								 * compaction covers raise, 0: none */
	uint64		registers;		/* in all rows */
	uint64		records;		/* of dead registers (R7), in a compaction's */
	int64		bytes;			/* of all inserted rows */
	MemoryContext cxt;			/* outlives the transaction: for "inserted" */
	List	   *inserted;		/* NewRow * */
} RowBuilder;

/* What the flush under way took from the store, to give back on failure. */
static MantisLeafSet taken_leaves;

/* ---- the row builder ---- */

static void
builder_init(RowBuilder *b, KnownTable *kt, const char *clock,
			 MemoryContext cxt)
{
	memset(b, 0, sizeof(RowBuilder));
	b->kt = kt;
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

/* Close the row being filled, if any, and insert it. */
static void
builder_close_row(RowBuilder *b)
{
	NewRow	   *row;
	MemoryContext oldcxt;

	if (b->cur.data == NULL)
		return;
	/*
	 * The refusal horizon travels with every row (store/collect.c); the last
	 * row of a compaction also carries what the adoptions it covers raise,
	 * before the server's own horizon does (after the commit).
	 */
	mantis_snapshot_put_header((unsigned char *) b->cur.data + VARHDRSZ,
							   (uint16) b->nodes, b->cur_registers,
							   Max(mantis_collect_refusal_horizon(), b->adopted_raise));
	SET_VARSIZE(b->cur.data, b->cur.len);
	oldcxt = MemoryContextSwitchTo(b->cxt);
	row = palloc(sizeof(NewRow));
	b->inserted = lappend(b->inserted, row);
	MemoryContextSwitchTo(oldcxt);
	insert_row(b->kt, b->clock, (bytea *) b->cur.data, row);
	row->held = 0;
	row->hole_ts = MANTIS_RULES_NO_HOLE;
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
 * Delete rows a compaction covers, each only if it is still the version we
 * merged: a row changed meanwhile (its xmin differs) stays, to be merged
 * first.  Whatever node name wrote a row, this node's snapshot now holds
 * what it held (or something newer), so it goes too: left, a row under a
 * former node name or restored from another server would bring back, at
 * the next start, a key whose deletion has been collected since.
 */
static void
delete_rows(const KnownTable *kt, const KnownRow *rows, int n)
{
	char	   *sql;
	Oid			types[2] = {INT8ARRAYOID, TEXTARRAYOID};
	Datum		values[2];
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
	sql = psprintf("DELETE FROM %s s USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(id, x)"
				   " WHERE s.id OPERATOR(pg_catalog.=) k.id AND s.xmin::pg_catalog.text OPERATOR(pg_catalog.=) k.x",
				   kt->name);
	statement_begin();
	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from %s", kt->name);
	statement_end();
	pfree(sql);
}

/*
 * Write every register as a fresh snapshot and delete the rows it makes
 * redundant: every row merged, which it now covers (whatever node name
 * wrote it: this node's, one under a former name, one restored from
 * another server), and the delta rows this flush inserted before it found
 * compaction due.  Rows holding registers back stay, each rewritten to
 * hold only those if it held more (persist/load.c: what it held besides
 * may have been deleted and collected since, and must not come back).
 * Returns the ids deleted, in the builder's context.
 *
 * Registers adopted away (store/sweep.c) are left out of the snapshot,
 * flagged as covered by it (*cover); the last row carries the refusal
 * horizon their adoption raises (R4 of common/rules.h), so that the rows
 * refuse their copies from the moment they no longer hold them.  Only
 * once the transaction commits does the caller drop them from the store
 * and raise the horizon there: an adoption is durable before it is
 * visible, or announced to peers.
 */
static int64 *
compact(KnownTable *kt, RowBuilder *b, MantisLeafSet *pending, int *ndeleted,
		MantisAdoptCover *cover)
{
	KnownRow   *gone;
	int64	   *ids;
	int			n = 0;
	ListCell   *lc;
	RowRewrites rw = {0};

	gone = palloc(sizeof(KnownRow) * (kt->nrows + list_length(b->inserted) + 1));
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

	rw.clock = b->clock;
	rw.cxt = b->cxt;
	retry_held_back(kt, &rw);
	for (int i = 0; i < kt->nrows; i++)
	{
		if (ROW_MERGED(&kt->rows[i]))
			gone[n++] = kt->rows[i];
	}
	/* a row rewritten still holds something back: never merged, not above */
	foreach(lc, rw.replaced)
		gone[n++] = *(KnownRow *) lfirst(lc);
	b->inserted = rw.inserted;	/* known, with what they hold back, at commit */

	/* what changed is in the snapshot: clear the flags first */
	take_pending(pending, NULL, NULL);
	/*
	 * Adoptions are covered below our least hole (R6), and only while no
	 * row holds registers back (mantis_collect_cover_hole()).  The others
	 * wait, still read, until the hole closes or the row has merged.
	 */
	cover->hole_ts = mantis_collect_cover_hole();
	/* records first (persist/dead_rows.c): the rows then never miss a key */
	b->bytes += write_dead_rows(kt, b->clock, mantis_collect_refusal_horizon(), b->cxt,
								&b->inserted, &b->records);
	mantis_store_scan_compaction(builder_add, b, cover);
	b->adopted_raise = mantis_collect_adopted_raise(cover->max_ts);
	if (b->cur.data == NULL && (b->registers == 0 || b->adopted_raise != 0))
		builder_open_row(b);	/* an empty store gets its row; the raise its own */
	builder_close_row(b);
	delete_rows(kt, gone, n);
	ids = MemoryContextAlloc(b->cxt, sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
		ids[i] = gone[i].id;
	*ndeleted = n;
	return ids;
}

static bool
compaction_due(KnownTable *kt, const RowBuilder *delta)
{
	uint64		held_back;
	int64		own_rows,
				merged_rows,
				merged_bytes;

	count_rows(kt, &held_back, &own_rows, &merged_rows, &merged_bytes);
	if (kt->snapshot_bytes == 0)
		kt->snapshot_bytes = merged_bytes;	/* not known since start */
	return merged_rows + list_length(delta->inserted) > mantis_compact_rows ||
		merged_bytes + delta->bytes > 2 * Max(kt->snapshot_bytes, COMPACT_MIN_BYTES);
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
sequence_past_rows(KnownTable *kt)
{
	int64		max_id = kt->nrows > 0 ? kt->rows[kt->nrows - 1].id : 0;
	char	   *sql;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	if (max_id <= kt->sequence_floor)
		return;
	values[0] = CStringGetTextDatum(kt->name);
	values[1] = Int64GetDatum(max_id);
	sql = "SELECT pg_catalog.setval(s.seq, $2) FROM"
		" (SELECT pg_catalog.pg_get_serial_sequence($1, 'id')::pg_catalog.regclass AS seq) s"
		" WHERE COALESCE(pg_catalog.pg_sequence_last_value(s.seq), 0) OPERATOR(pg_catalog.<) $2";
	statement_begin();
	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not advance the id sequence of %s", kt->name);
	statement_end();
	kt->sequence_floor = max_id;
}

/* Make what a committed flush inserted and deleted known. */
static void
note_committed(KnownTable *kt, const RowBuilder *b, const int64 *deleted,
			   int ndeleted)
{
	int			keep = 0;
	ListCell   *lc;

	for (int i = 0; i < kt->nrows; i++)
	{
		bool		gone = false;

		for (int j = 0; j < ndeleted && !gone; j++)
			gone = kt->rows[i].id == deleted[j];
		if (!gone)
			kt->rows[keep++] = kt->rows[i];
	}
	kt->nrows = keep;
	known_reserve(kt, kt->nrows + list_length(b->inserted));
	foreach(lc, b->inserted)
	{
		NewRow	   *row = (NewRow *) lfirst(lc);
		KnownRow   *k = &kt->rows[kt->nrows++];

		k->id = row->id;
		k->xmin = row->xmin;
		k->bytes = row->bytes;
		k->own = true;
		k->held = row->held;
		k->hole_ts = row->hole_ts;
		k->unreadable = false;
	}
	/* our ids come from the sequence, but a row added by hand may be ahead */
	qsort(kt->rows, kt->nrows, sizeof(KnownRow), known_row_cmp);
	if (kt->nrows > 0 && kt->rows[kt->nrows - 1].id > 0)
		mantis_collect_note_generation((uint64) kt->rows[kt->nrows - 1].id);
}

/*
 * A compaction that covered registers adopted away has committed: raise
 * the refusal horizon as its rows do, then drop them from the store (in
 * that order: dropped first, a copy from a peer could slip in between).
 * A hole opened since its scan (a register refused from a peer) bounds
 * both again: the horizon must not pass it, and a covered register above
 * the raise stays, still read, for a later compaction (the rows no longer
 * hold it: a crash restart forgets it, as the adoption meant).
 */
static void
drop_adopted(const MantisAdoptCover *cover)
{
	uint64		raise = mantis_collect_adopted_raise(cover->max_ts);
	int			dropped;

	mantis_collect_raise_refusal_horizon(raise);
	dropped = mantis_store_drop_covered(&cover->leaves, raise);
	if (dropped > 0)
		ereport(LOG,
				(errmsg("mantis dropped %d registers adopted away, now that mantis_stores no longer holds them",
						dropped)));
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
mantis_persist_flush(KnownTable *kt, MantisLeafSet *pending, bool compact_asked,
					 MantisFlushResult *result)
{
	char		clock[MANTIS_HLC_TEXT_SIZE];
	RowBuilder	b;
	MantisHLC	now;
	int64	   *deleted = NULL;
	int			ndeleted = 0;
	MantisAdoptCover cover;

	memset(result, 0, sizeof(*result));
	memset(&cover, 0, sizeof(cover));
	builder_init(&b, kt, clock, CurrentMemoryContext);
	begin_work("mantis: flushing to mantis_stores");
	if (!follow_table(kt))
	{
		end_work();
		return false;
	}

	result->compacted = compact_asked || kt->rewrite;
	if (!result->compacted && mantis_leafset_is_empty(pending) &&
		!mantis_store_dead_has_changed())
	{
		end_work();
		return true;
	}
	sequence_past_rows(kt);
	now = mantis_clock_now();
	mantis_hlc_format(&now, clock);
	if (!result->compacted)
	{
		/* the bounds changed since the last flush first (R7) */
		b.bytes += write_bounds_row(kt, clock, mantis_collect_refusal_horizon(), b.cxt,
									&b.inserted);
		take_pending(pending, builder_add, &b);
		builder_close_row(&b);
		result->compacted = compaction_due(kt, &b);
	}
	if (result->compacted)
		deleted = compact(kt, &b, pending, &ndeleted, &cover);
	end_work();

	/* committed */
	if (result->compacted)
	{
		kt->rewrite = false;
		kt->snapshot_bytes = b.bytes;
	}
	if (cover.covered > 0)
		drop_adopted(&cover);
	note_committed(kt, &b, deleted, ndeleted);
	memset(&taken_leaves, 0, sizeof(taken_leaves));
	dead_rows_committed();
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

/*
 * After an ERROR inside a flush or a load (mantis_persist_follow()): abort
 * its transaction and give back what a flush took; a load took nothing.
 * The worker calls this from its error path.
 */
void
mantis_persist_abort(void)
{
	abort_work();
	give_back_taken();
	dead_rows_abort();
}
