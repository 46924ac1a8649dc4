/*-------------------------------------------------------------------------
 * persist/dead_rows.c
 *	  Records of dead registers and leaves' collapsed bounds (R7 of
 *	  common/rules.h, store/dead.c) in mantis_stores: the rows a compaction
 *	  writes them in, and their merge when rows load.
 *
 * Rows.  A compaction (persist/flush.c) writes every record and every bound
 * the store holds, in rows of their own (no node, no register, the flag
 * MANTIS_SNAPSHOT_FLAG_RECORDS of common/snapshot.h), in the transaction
 * that writes every register and deletes the rows it covers: so the rows
 * that held a compacted register in full go only with a snapshot that
 * holds its record (or the bound it collapsed into, or a newer register of
 * its key).  Records are copied before the registers are scanned: a write
 * that replaces a record in between is then in the registers' scan, or
 * after both, in the next flush, and the rows never hold neither.  Only a
 * compaction writes them: until one has, the rows hold the dead register
 * in full, and a crash restart loads it so, to be compacted again.  A
 * record collapsed, collected or replaced since the last compaction stays
 * in the rows until the next: loaded, it is what the store held before
 * (a record refuses no more than the refusal horizon the rows carry, and a
 * newer register of its hash, flushed since, replaces it again).
 *
 * Load.  A record merges as its register would, by LWW over what is held
 * of its hash (mantis_store_dead_load()); with no room it is held back in
 * its row, a hole (R5), the row kept whole and retried by each compaction.
 * A bound joins the leaf's bound held; once per row.
 *
 * A release before records refuses a flagged row (common/snapshot.h) and
 * keeps it: a downgrade loses no row, only the refusals of the records.
 *
 * IDENTIFICATION	src/persist/dead_rows.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "clock.h"
#include "common/rules.h"
#include "common/snapshot.h"
#include "store/store.h"
#include "persist/dead_rows.h"
#include "persist/heldset.h"
#include "persist/load.h"
#include "persist/table.h"

/* a row of records is closed once it holds this many bytes */
#define DEAD_ROW_TARGET_BYTES	(16 * 1024 * 1024)

/* ---- writing ---- */

typedef struct DeadRows
{
	KnownTable *kt;
	const char *clock;
	uint64		horizon;
	MemoryContext cxt;			/* of the NewRows: outlives the transaction */
	List	   *inserted;
	StringInfoData cur;			/* VARHDRSZ, header, record count, records */
	uint32		nrec;
	int64		bytes;
} DeadRows;

static void
dead_row_open(DeadRows *d)
{
	initStringInfo(&d->cur);
	appendStringInfoSpaces(&d->cur, VARHDRSZ + MANTIS_SNAPSHOT_HEADER_SIZE + 4);
	d->nrec = 0;
}

/* Close the row with these bounds after its records, and insert it */
static void
dead_row_close(DeadRows *d, const int *leaves, const MantisLeafBound *bounds, int nbounds)
{
	unsigned char *head = (unsigned char *) d->cur.data + VARHDRSZ;
	MemoryContext oldcxt;
	NewRow	   *row;

	mantis_snapshot_put_header(head, 0, 0, d->horizon);
	mantis_snapshot_set_flags(head, MANTIS_SNAPSHOT_FLAG_RECORDS);
	mantis_put_u32(head + MANTIS_SNAPSHOT_HEADER_SIZE, d->nrec);
	enlargeStringInfo(&d->cur, 4 + nbounds * MANTIS_SNAPSHOT_BOUND_SIZE);
	mantis_put_u32((unsigned char *) d->cur.data + d->cur.len, (uint32) nbounds);
	d->cur.len += 4;
	for (int i = 0; i < nbounds; i++)
	{
		mantis_snapshot_put_bound((unsigned char *) d->cur.data + d->cur.len,
								  (uint32) leaves[i], &bounds[i]);
		d->cur.len += MANTIS_SNAPSHOT_BOUND_SIZE;
	}
	SET_VARSIZE(d->cur.data, d->cur.len);
	oldcxt = MemoryContextSwitchTo(d->cxt);
	row = palloc(sizeof(NewRow));
	d->inserted = lappend(d->inserted, row);
	MemoryContextSwitchTo(oldcxt);
	insert_row(d->kt, d->clock, (bytea *) d->cur.data, row);
	row->held = 0;
	row->hole_ts = MANTIS_RULES_NO_HOLE;
	d->bytes += d->cur.len;
	pfree(d->cur.data);
	d->cur.data = NULL;
}

static void
dead_row_add(DeadRows *d, const MantisRecordView *rec)
{
	if (d->cur.data == NULL)
		dead_row_open(d);
	enlargeStringInfo(&d->cur, MANTIS_SNAPSHOT_RECORD_SIZE);
	mantis_snapshot_put_dead((unsigned char *) d->cur.data + d->cur.len, rec);
	d->cur.len += MANTIS_SNAPSHOT_RECORD_SIZE;
	d->nrec++;
	if (d->cur.len >= DEAD_ROW_TARGET_BYTES)
		dead_row_close(d, NULL, NULL, 0);
}

/*
 * Write every record and bound the store holds as rows of their own, in
 * the compaction's transaction (persist/flush.c, before its scan of the
 * registers: see the file header), each row carrying "horizon".  The rows
 * inserted are appended to *inserted (NewRow *, in cxt); returns the bytes
 * written, and the records in *records.  Nothing when records are off.
 */
int64
write_dead_rows(KnownTable *kt, const char *clock, uint64 horizon, MemoryContext cxt,
				List **inserted, uint64 *records)
{
	uint32		capacity = mantis_store_dead_capacity();
	MantisRecordView *recs;
	int		   *leaves;
	MantisLeafBound *bounds;
	int			nbounds = 0;
	DeadRows	d;

	*records = 0;
	if (capacity == 0)
		return 0;
	memset(&d, 0, sizeof(d));
	d.kt = kt;
	d.clock = clock;
	d.horizon = horizon;
	d.cxt = cxt;
	d.inserted = *inserted;
	recs = palloc(sizeof(MantisRecordView) * capacity);
	leaves = palloc(sizeof(int) * MANTIS_LEAVES);
	bounds = palloc(sizeof(MantisLeafBound) * MANTIS_LEAVES);
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
	{
		int			n;
		uint32		nrec = mantis_store_dead_copy(p, recs, leaves + nbounds,
												  bounds + nbounds, &n);

		nbounds += n;
		for (uint32 i = 0; i < nrec; i++)
			dead_row_add(&d, &recs[i]);
		*records += nrec;
		CHECK_FOR_INTERRUPTS();
	}
	if (d.cur.data != NULL || nbounds > 0)
	{
		if (d.cur.data == NULL)
			dead_row_open(&d);
		dead_row_close(&d, leaves, bounds, nbounds);
	}
	pfree(recs);
	pfree(leaves);
	pfree(bounds);
	*inserted = d.inserted;
	return d.bytes;
}

/* ---- loading ---- */

/*
 * A record of a dead register (R7, a compaction's row: persist/dead_rows.c)
 * merges as its register would: held, beaten by what is held of its hash,
 * or, with no room, held back in the row as a hole (R5: store/dead.c
 * collapses nothing at load).  Again at each retry: a record held or
 * beaten merges as beaten.
 */
void
load_dead(void *arg, const MantisRecordView *rec)
{
	LoadState  *st = (LoadState *) arg;

	mantis_clock_witness(rec->ts);
	switch (mantis_store_dead_load(rec))
	{
		case MANTIS_DEAD_HELD:
			st->dead_held++;
			break;
		case MANTIS_DEAD_STALE:
			st->dead_stale++;
			break;
		case MANTIS_DEAD_NO_ROOM:
			st->dead_no_room++;
			st->hole_ts = mantis_rules_hole_after(st->hole_ts, rec->ts);
			held_add_dead(rec);	/* it refuses still (store/held.c) */
			break;
	}
}

/*
 * A leaf's collapsed bound: joins the bound held.  Not at a retry: it
 * merged when the row first loaded (a bound joins by XOR, twice is none),
 * or records are off, which only a restart changes.
 */
void
load_bound(void *arg, uint32_t leaf, const MantisLeafBound *b)
{
	LoadState  *st = (LoadState *) arg;

	if (st->retry)
		return;
	mantis_clock_witness(b->bound_ts);
	if (!mantis_store_dead_load_bound((int) leaf, b))
	{
		st->dead_no_room++;
		st->hole_ts = mantis_rules_hole_after(st->hole_ts, b->bound_ts);
	}
}


/* The records a load merged, after its registers' line */
void
log_load_dead(const KnownTable *kt, const LoadState *st)
{
	if (st->dead_held + st->dead_stale + st->dead_no_room > 0)
		ereport(st->dead_no_room > 0 ? WARNING : LOG,
				(errmsg("mantis loaded %llu records of dead registers from %s",
						(unsigned long long) st->dead_held, kt->name),
				 errdetail("%llu superseded, %llu records or bounds held back (no room under \"mantis.max_dead_records\").",
						   (unsigned long long) st->dead_stale,
						   (unsigned long long) st->dead_no_room)));
}
