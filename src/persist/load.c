/*-------------------------------------------------------------------------
 * persist/load.c
 *	  Merging the rows of mantis_stores into memory: the whole table at
 *	  start, the rows the worker does not know yet as it follows the
 *	  table, and the rows held back, again.
 *
 * Before each flush, and every mantis.flush_interval when idle, the worker
 * compares the table with what it knows (sync_table):
 *	- a row it does not know (a restore, a row added by hand, the primary's
 *	  flush seen on a standby) is merged into memory at once;
 *	- a row of this node it knew that is gone (TRUNCATE, DROP and CREATE
 *	  EXTENSION, a DELETE), or a new table, means rows that held registers
 *	  are gone: the next flush writes a full snapshot.
 * A row whose registers could not all be held (larger than the limits of
 * this start, not valid in the database encoding, another node's clock
 * more than a day ahead, no room in the store) is "held back": it is never
 * deleted, its registers are counted in mantis_status.held_back, and each
 * compaction tries it again (retry_held_back()), so it comes back once the
 * limits allow.  What was held back for room asks for a compaction itself
 * once room is freed for it (persist/retry.c): a store that is not busy
 * might otherwise compact never.
 *
 * Only what is held back.  Such a row holds other registers too, merged
 * like any; one of their keys may be deleted since, and its marker
 * collected and compacted out of the rows.  Merged again, the row's old
 * register of that key would bring the key back (and replicate it).  So a
 * held row must give only what it still holds back:
 *	- in this run, the worker remembers each register it held back (key
 *	  hash, HLC: the held set, persist/heldset.c) and a retry merges only
 *	  those of the row;
 *	- across a restart, which merges every row whole, the compaction that
 *	  retries a row rewrites it, in its own transaction, as a new row
 *	  holding only the registers still held back, and deletes the old one.
 *	  Every register it leaves out was merged (or beaten) here, so the
 *	  compaction's snapshot holds it or a newer register of its key, or
 *	  that register was collected - which is why it must go.  A row whose
 *	  registers are all still held back stays as it is.
 * Whatever node name wrote the held row (a restored row, a former name),
 * its rewrite is written under ours, with the row's node entries and
 * refusal horizon, as the compaction's snapshot replaces every merged row
 * (persist/flush.c).  A standby, which never compacts, never retries: it
 * merges the primary's rewritten rows as it follows the table.
 *
 * IDENTIFICATION	src/persist/load.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "compat.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/keyhash.h"
#include "common/rules.h"
#include "common/snapshot.h"
#include "store/changes.h"
#include "store/collect.h"
#include "store/store.h"
#include "persist/dead_rows.h"
#include "persist/heldset.h"
#include "persist/load.h"
#include "persist/persist.h"
#include "persist/retry.h"
#include "persist/table.h"

/* rows larger than this are not even read */
#define ROW_MAX_BYTES		(256 * 1024 * 1024)

/* how far ahead of the wall clock another node's register may be at load */
#define LOAD_MAX_AHEAD_MS	(24 * 3600 * 1000)

/* ---- loading rows ---- */

/*
 * What the rows hold that memory does not: registers held back (over this
 * server's limits, from the far future, or no room) are holes (the rule R5
 * of common/rules.h).  Until they are merged, peers must not adopt away
 * what lies at or above the least of them on our word
 * (replication/horizon.c), nor may we collect there.  A row that cannot be
 * read is no hole: it is never merged, so nothing it holds can come back
 * from it, and a hole would stop collection for as long as it stays.
 */
static void
publish_load_hole(const KnownTable *kt)
{
	uint64		hole = MANTIS_RULES_NO_HOLE;

	if (kt->nrows > 0 && kt->rows[kt->nrows - 1].id > 0)
		mantis_collect_note_generation((uint64) kt->rows[kt->nrows - 1].id);
	for (int i = 0; i < kt->nrows; i++)
	{
		if (kt->rows[i].held > 0 && !kt->rows[i].unreadable)
			hole = mantis_rules_hole_after(hole, kt->rows[i].hole_ts);
	}
	mantis_collect_set_load_hole(hole);
	/* every row merged: none held back */
	held_publish(hole == MANTIS_RULES_NO_HOLE);
}


static void
load_node(void *arg, uint64_t id, const char *name, size_t name_len)
{
	LoadState  *st = (LoadState *) arg;
	char		buf[MANTIS_NODE_NAME_MAX + 1];

	memcpy(buf, name, name_len);
	buf[name_len] = '\0';
	mantis_nodes_remember(id, buf);
	if (st->retry)
	{
		/* a rewrite keeps the row's node entries, whichever it still needs */
		size_t		size = mantis_codec_node_size(name_len);

		enlargeStringInfo(&st->kept, (int) size);
		mantis_codec_put_node((unsigned char *) st->kept.data + st->kept.len,
							  id, name, name_len);
		st->kept.len += (int) size;
		st->row_nodes++;
	}
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

/*
 * A register of a row stays in mantis_stores, not in memory: a hole, and
 * a key whose dead register must wait for it (publish_load_hole()).
 */
static void
hold_back(LoadState *st, const MantisRecord *rec)
{
	st->hole_ts = mantis_rules_hole_after(st->hole_ts, rec->hlc.ts);
	held_add(rec);
	if (st->retry)
	{
		size_t		size = mantis_codec_register_size(rec);

		enlargeStringInfo(&st->kept, (int) size);
		mantis_codec_put_register((unsigned char *) st->kept.data + st->kept.len, rec);
		st->kept.len += (int) size;
		st->row_kept++;
	}
}

static void
load_register(void *arg, const MantisRecord *rec)
{
	LoadState  *st = (LoadState *) arg;
	MantisPutResult result;

	st->row_registers++;
	/* merged, or beaten, when the row was loaded: see the file header */
	if (st->retry && !held_contains(st->only, rec))
		return;
	/* collapsed into its leaf's bound since its row was written (R7) */
	if (st->bounds_first &&
		dead_load_folds(st, mantis_hash(rec->key, rec->key_len), rec->hlc.ts, rec->hlc.node,
						rec->deleted))
	{
		st->merged.stale++;
		return;
	}
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
			mantis_clock_witness(rec->hlc.ts);
		st->refused++;
		hold_back(st, rec);
		return;
	}
	result = mantis_store_merge(rec, 0, false, &st->merged);
	if (result == MANTIS_PUT_NO_KEYS || result == MANTIS_PUT_NO_MEMORY)
	{
		/* it comes back once there is room (persist/retry.c) */
		held_for_room_add(&st->room, result == MANTIS_PUT_NO_KEYS,
						  (uint64) rec->key_len + rec->value_len);
		hold_back(st, rec);
	}
}

/*
 * In a retry: a row that gave something now (or before) and holds
 * something back still is replaced by a new row holding only that, in the
 * compaction's transaction (see the file header).  Its old version goes
 * with the merged rows; both are known once the compaction commits.
 */
static void
rewrite_row(KnownTable *kt, LoadState *st, const KnownRow *row, uint64 horizon)
{
	RowRewrites *rw = st->rw;
	MemoryContext oldcxt;
	NewRow	   *fresh;
	KnownRow   *old;

	if (row->held == 0 || st->row_kept == st->row_registers || st->row_dead_kept > 0)
		return;					/* records held back: the row stays whole */
	mantis_snapshot_put_header((unsigned char *) st->kept.data + VARHDRSZ,
							   st->row_nodes, st->row_kept, horizon);
	SET_VARSIZE(st->kept.data, st->kept.len);
	oldcxt = MemoryContextSwitchTo(rw->cxt);
	fresh = palloc(sizeof(NewRow));
	old = palloc(sizeof(KnownRow));
	MemoryContextSwitchTo(oldcxt);
	insert_row(kt, rw->clock, (bytea *) st->kept.data, fresh);
	fresh->held = row->held;
	fresh->hole_ts = row->hole_ts;
	*old = *row;
	oldcxt = MemoryContextSwitchTo(rw->cxt);
	rw->inserted = lappend(rw->inserted, fresh);
	rw->replaced = lappend(rw->replaced, old);
	MemoryContextSwitchTo(oldcxt);
	st->rewritten++;
}

/*
 * A server left on the default name (node-<system identifier>) changes
 * identity when its system identifier changes: pg_upgrade and a new
 * initdb make a new one.  Its rows still bear the old name: remember the
 * first such name, for a warning (warn_other_default_name()).  Rows of
 * another name written by this server's primary bear its name, the same
 * system identifier's.
 */
static void
note_other_default_name(LoadState *st, const char *node)
{
	const char *self = mantis_self_node_name();
	size_t		len = strlen(node);

	/* a standby's rows are its primary's: the primary warns */
	if (st->other_default[0] != '\0' ||
		(mantis_node_name != NULL && mantis_node_name[0] != '\0') ||
		RecoveryInProgress())
		return;
	/* "node-" and the 1 to 20 digits of a uint64 */
	if (len <= 5 || len > 25 || strncmp(node, "node-", 5) != 0 ||
		strspn(node + 5, "0123456789") != len - 5 || strcmp(node, self) == 0)
		return;
	strlcpy(st->other_default, node, sizeof(st->other_default));
}

/* Once per process: see note_other_default_name() */
static void
warn_other_default_name(const KnownTable *kt, const LoadState *st)
{
	static bool warned = false;

	if (st->other_default[0] == '\0' || warned)
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("mantis runs as node \"%s\", the default name, but %s holds rows written as node \"%s\"",
					mantis_self_node_name(), kt->name, st->other_default),
			 errdetail("A server without \"mantis.node_name\" is named after its system identifier, which pg_upgrade and a new initdb change; its peers, CURVE keys, read-your-writes tokens and change-feed cursors know it by its former name."),
			 errhint("If this server was node \"%s\", set \"mantis.node_name\" = '%s' and restart the server; if those rows were restored or replicated from another server that still runs under that name, keep this one's name.",
					 st->other_default, st->other_default)));
}

/*
 * Merge one row's registers into memory, unless any part of the row is
 * malformed; fills in row->held and row->unreadable.  In a retry, merges
 * only what the row held back, and rewrites it (rewrite_row()).
 */
static void
load_row(KnownTable *kt, LoadState *st, KnownRow *row, const char *node,
		 bytea *registers)
{
	const char *data = VARDATA_ANY(registers);
	size_t		len = VARSIZE_ANY_EXHDR(registers);
	uint64		horizon = 0;
	const char *err = mantis_snapshot_decode(data, len, NULL, NULL, NULL, &horizon);
	uint64		before;
	uint64		dead_before;

	if (err != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("mantis skipped row %lld of %s (node \"%s\"): %s",
						(long long) row->id, kt->name, node, err)));
		row->unreadable = true;
		return;
	}
	note_other_default_name(st, node);
	before = st->refused + st->merged.no_room + st->dead_no_room;
	dead_before = st->dead_no_room;
	st->row_id = row->id;
	st->hole_ts = MANTIS_RULES_NO_HOLE;
	st->row_registers = st->row_kept = st->row_nodes = 0;
	if (st->retry)
	{
		/* in the row's memory context (load_rows()) */
		initStringInfo(&st->kept);
		appendStringInfoSpaces(&st->kept, VARHDRSZ + MANTIS_SNAPSHOT_HEADER_SIZE);
	}
	(void) mantis_snapshot_decode_all(data, len, load_node, load_register, load_dead, load_bound,
									  st, NULL);
	st->row_dead_kept = st->dead_no_room - dead_before;
	/*
	 * What was collected before this start is refused still; and our clock
	 * starts past it, so that no write made here falls under it.  Not again
	 * at a retry: the row's horizon was taken when it first merged, and ours
	 * may have been lowered since, below what held rows lost took with them
	 * (lost_held_back()); the rewrite keeps no more than ours.
	 */
	if (!st->retry)
	{
		mantis_collect_raise_refusal_horizon(horizon);
		/* what was collected has no key left for a feed (store/changes.c) */
		mantis_changes_keyless(horizon);
	}
	else
		horizon = Min(horizon, mantis_collect_refusal_horizon());
	if (horizon != 0)
		mantis_clock_witness(horizon);
	row->held = (uint32) Min(st->refused + st->merged.no_room + st->dead_no_room - before,
							 PG_UINT32_MAX);
	row->hole_ts = st->hole_ts;
	row->unreadable = false;
	if (st->retry)
		rewrite_row(kt, st, row, horizon);
}

/*
 * The rows flagged as holding records (and bounds): the flags byte of the
 * snapshot header, read without reading the whole row where it is stored
 * out of line.
 */
#define ROWS_WITH_RECORDS \
	" AND CASE WHEN pg_catalog.octet_length(registers) OPERATOR(pg_catalog.>) 5" \
	" THEN pg_catalog.get_byte(pg_catalog.substring(registers, 6, 1), 0) OPERATOR(pg_catalog.&) 1 OPERATOR(pg_catalog.=) 1" \
	" ELSE false END"

/*
 * The first pass of a load: merge the bounds a row carries
 * (persist/dead_rows.c, gather_bound()), before any row's records and
 * registers.  A malformed row gives nothing: the second pass skips it.
 */
static void
gather_row(LoadState *st, const KnownRow *row, bytea *registers)
{
	const char *data = VARDATA_ANY(registers);
	size_t		len = VARSIZE_ANY_EXHDR(registers);

	if (mantis_snapshot_decode_all(data, len, NULL, NULL, NULL, NULL, NULL, NULL) != NULL)
		return;
	st->row_id = row->id;
	(void) mantis_snapshot_decode_all(data, len, NULL, NULL, NULL, gather_bound, st, NULL);
}

/*
 * Merge the rows of "rows" (n of them, sorted by id) into memory, one at a
 * time through a cursor, or with bounds_only their bounds alone (the first
 * pass).  Rows that vanished meanwhile stay as they were.
 */
static void
load_rows(KnownTable *kt, KnownRow **rows, int n, LoadState *st, bool bounds_only)
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
												" FROM %s WHERE id OPERATOR(pg_catalog.=) ANY ($1)%s ORDER BY id",
												kt->name, bounds_only ? ROWS_WITH_RECORDS : ""),
									   2, types, values, NULL, true, 0);
	for (;;)
	{
		SPITupleTable *fetched;
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
		/* a retry's rewrite (an INSERT) replaces SPI_tuptable */
		fetched = SPI_tuptable;
		tuple = fetched->vals[0];
		desc = fetched->tupdesc;
		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		while (next < n && rows[next]->id < id)
			next++;
		if (next == n || rows[next]->id != id)
			elog(ERROR, "mantis_stores row %lld was not asked for", (long long) id);

		MemoryContextSwitchTo(row_cxt);
		node = SPI_getvalue(tuple, desc, 2);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		if (bounds_only)
		{
			if (!isnull)
				gather_row(st, rows[next], DatumGetByteaPP(d));
		}
		else if (isnull)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("mantis skipped row %lld of %s (node \"%s\"): larger than %d bytes",
							(long long) id, kt->name, node ? node : "", ROW_MAX_BYTES)));
			rows[next]->unreadable = true;
		}
		else
			load_row(kt, st, rows[next], node ? node : "", DatumGetByteaPP(d));
		MemoryContextSwitchTo(outer);
		MemoryContextReset(row_cxt);
		SPI_freetuptable(fetched);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(row_cxt);
	pfree(ids);
}

/* ---- following the table ---- */

/*
 * Merge rows the worker did not know: their bounds first, then each row
 * (persist/dead_rows.c).  Into a store that holds only what rows gave it,
 * no bound refuses a register of the rows (mantis_store_dead_trust_rows()):
 * one that holds nothing (a start, a crash restart), and one not yet
 * writable (a standby following its primary, a promoted server merging
 * the rows replayed last), which nothing but loads and the lifetime's
 * collection (which raises the refusal horizon) has changed: the rows are
 * its history, and a register of theirs live below a bound gathered in
 * the same follow was live when the bound was written.  Into a store that
 * has been written (a worker restarted over it), what it holds decides,
 * as for a peer's register: it may hold the collapse of a key the rows
 * hold alive.
 */
static void
load_fresh(KnownTable *kt, KnownRow **fresh, int nfresh, LoadState *st)
{
	bool		records = mantis_store_dead_capacity() > 0;
	bool		history = mantis_store_holds_nothing() || !mantis_store_is_writable();

	if (records)
	{
		dead_load_begin(st);
		load_rows(kt, fresh, nfresh, st, true);
	}
	mantis_store_dead_trust_rows(history);
	PG_TRY();
	{
		load_rows(kt, fresh, nfresh, st, false);
	}
	PG_FINALLY();
	{
		mantis_store_dead_trust_rows(false);
	}
	PG_END_TRY();
}

/*
 * Compare the table with the rows we know, merge the rows we do not, and
 * note when rows of ours are gone.  Returns how many rows were merged.
 * Inside begin_work/end_work, after find_table().
 */
static int
sync_table(KnownTable *kt, LoadState *st)
{
	char	   *sql = psprintf("SELECT id, node OPERATOR(pg_catalog.=) $1, pg_catalog.octet_length(registers)::pg_catalog.int8, xmin"
							   " FROM %s ORDER BY id", kt->name);
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(mantis_self_node_name())};
	KnownRow   *now;
	KnownRow  **fresh;
	int			nnow;
	int			nfresh = 0;
	int			k = 0;
	uint64		lost_hole = MANTIS_RULES_NO_HOLE;

	statement_begin();
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the rows of %s", kt->name);
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
		row->hole_ts = MANTIS_RULES_NO_HOLE;
		row->unreadable = false;

		/* walk the known rows alongside: both are sorted by id */
		while (k < kt->nrows && kt->rows[k].id < row->id)
			row_gone(kt, &kt->rows[k++], &lost_hole);
		if (k < kt->nrows && kt->rows[k].id == row->id &&
			kt->rows[k].xmin == row->xmin)
		{
			row->held = kt->rows[k].held;
			row->hole_ts = kt->rows[k].hole_ts;
			row->unreadable = kt->rows[k].unreadable;
			k++;
		}
		else
		{
			/* an id we knew with other contents: that row is gone too */
			if (k < kt->nrows && kt->rows[k].id == row->id)
				row_gone(kt, &kt->rows[k++], &lost_hole);
			fresh[nfresh++] = row;
		}
	}
	for (; k < kt->nrows; k++)
		row_gone(kt, &kt->rows[k], &lost_hole);
	SPI_freetuptable(SPI_tuptable);
	if (lost_hole != MANTIS_RULES_NO_HOLE)
		lost_held_back(lost_hole);

	if (nfresh > 0)
		load_fresh(kt, fresh, nfresh, st);

	known_reserve(kt, nnow);
	memcpy(kt->rows, now, sizeof(KnownRow) * nnow);
	kt->nrows = nnow;
	pfree(now);
	pfree(fresh);
	pfree(sql);
	publish_load_hole(kt);
	return nfresh;
}

static void
log_load(const KnownTable *kt, const LoadState *st, int rows)
{
	if (rows == 0)
		return;
	warn_other_default_name(kt, st);
	ereport(LOG,
			(errmsg("mantis loaded %llu registers from %d rows of %s",
					(unsigned long long) st->merged.applied, rows, kt->name),
			 errdetail("%llu registers superseded, %llu held back (size, encoding or clock), %llu found no room.",
					   (unsigned long long) st->merged.stale, (unsigned long long) st->refused,
					   (unsigned long long) st->merged.no_room)));
	log_load_dead(kt, st);
	if (st->merged.no_room > 0)
		ereport(WARNING,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("mantis store filled up while loading: %llu registers were not loaded",
						(unsigned long long) st->merged.no_room),
				 errdetail("They stay in mantis_stores, counted in mantis_status.held_back, and are loaded as room is freed for them (registers collected)."),
				 errhint("Delete keys to make room, or raise \"mantis.max_keys\" or \"mantis.store_memory\" and restart the server.")));
}

/* Find the table and merge the rows we do not know; false if no table. */
bool
follow_table(KnownTable *kt)
{
	LoadState	st = {0};
	int			rows;

	if (!find_table(kt))
		return false;
	if (kt->replaced)
		table_replaced(kt);
	st.now_ms = mantis_clock_wall_ms();
	rows = sync_table(kt, &st);
	log_load(kt, &st, rows);
	if (st.room.keys > 0 || st.room.memory > 0)
		retry_note_held(&st.room, false);
	return true;
}

/*
 * Follow mantis_stores: merge every row not yet merged into memory, in a
 * transaction of its own (read-only: this runs on a standby too).  At
 * start this loads the whole table.  Returns false when the extension
 * does not exist in this database.
 */
bool
mantis_persist_follow(KnownTable *kt)
{
	bool		found;

	begin_work("mantis: reading mantis_stores");
	found = follow_table(kt);
	end_work();
	return found;
}

/*
 * Merge again what the rows held back: the store may have room now, or the
 * clock may have caught up.  Only that: a register of theirs merged before
 * may have been deleted and collected since (see the file header).  Each
 * row that has given something is rewritten to hold only what it still
 * holds back, its rewrite and the old row added to "rw"; the compaction
 * inserts the rewrites and deletes the old rows in its transaction.  Before
 * its snapshot, so that whatever merges is in it.
 */
void
retry_held_back(KnownTable *kt, RowRewrites *rw)
{
	KnownRow  **retry = palloc(sizeof(KnownRow *) * Max(kt->nrows, 1));
	int			n = 0;
	LoadState	st = {0};

	for (int i = 0; i < kt->nrows; i++)
	{
		if (kt->rows[i].held > 0)
			retry[n++] = &kt->rows[i];
	}
	/* a retry that failed (ERROR) left what it found held after the set */
	held_sort();
	st.retry = true;
	st.only = held_count();
	st.rw = rw;
	if (n > 0)
	{
		st.now_ms = mantis_clock_wall_ms();
		load_rows(kt, retry, n, &st, false);
		if (st.merged.applied > 0)
			ereport(LOG,
					(errmsg("mantis loaded %llu registers held back in %s",
							(unsigned long long) st.merged.applied, kt->name)));
		if (st.rewritten > 0)
			ereport(LOG,
					(errmsg("mantis rewrote %d rows of %s to hold only the registers they hold back",
							st.rewritten, kt->name)));
	}
	/* what the rows hold back now was added after the first "only" */
	held_rebuilt(st.only);
	pfree(retry);
	publish_load_hole(kt);
	retry_note_held(&st.room, true);
}
