/*-------------------------------------------------------------------------
 * persist/dead_rows.c
 *	  Records of dead registers and leaves' collapsed bounds (R7 of
 *	  common/rules.h, store/dead.c) in mantis_stores: the rows a compaction
 *	  writes them in, the bounds a flush writes, and their merge when rows
 *	  load.
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
 * compaction writes records: until one has, the rows hold the dead
 * register in full, and a crash restart loads it so, to be compacted
 * again.
 *
 * Bounds.  A flush also writes the whole bound of each leaf whose bound
 * changed since the last flush (a collapse, a record folded into it:
 * store/dead_rows.c marks the leaf), in a row of records with none,
 * inserted before its registers' rows (write_bounds_row()).
 * So a collapse needs no compaction: its bound is in the rows a flush
 * interval later, while the record collapsed is still there as a record
 * (of the last compaction) or a dead register in full (of a later flush).
 *
 * Load (persist/load.c).  The bounds of the rows merge first, oldest row
 * first (mantis_store_dead_load_bound(): a later bound replaces the one
 * held, fingerprint and all; an earlier one changes nothing), noting for
 * each leaf the newest row that changed its bound (one that carries the
 * bound the previous one did - a compaction writing every bound, a copy
 * restored, a row held back beside later ones - changes nothing).  Then
 * the rows merge in order.  A record, or a dead register
 * in full, at or below its leaf's bound and in an older row than that
 * one, collapsed into the bound after its row was written: it is not held
 * again, and takes no room (mantis_store_dead_fold(): what is held of its
 * hash and no newer goes, and its HLC is remembered for the rest of the
 * load, refusing the older copies of later rows).  A live register is
 * never taken as collapsed, and into a store that holds only what rows
 * gave it (a start, a crash restart, a standby following its primary, a
 * promoted server until it is writable) no bound refuses a register of the
 * rows (they are the store's history: a key live at or below a bound was
 * held when it was written); mantis_store_dead_trust_rows().  Any other record merges as its
 * register would, by LWW over what is held of its hash
 * (mantis_store_dead_load()); with no room it is held back in its row, a
 * hole (R5), the row kept whole and retried by each compaction.
 *
 * What a load takes as collapsed may have been kept beside the bound (a
 * record or dead register below a bound that rose past it, owed, or a
 * record the oldest by arrival but not by HLC): the load collapses it.
 * That is a collapse's price (common/rules.h, R7), and its fingerprint
 * leaves the digest, which then differs from the peers' for that leaf
 * until the bound is collected.
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
#include "port/pg_bitutils.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "compat.h"
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

/* The leaves whose bounds the flush under way took, to give back on failure */
static MantisLeafSet taken_bounds;

/*
 * Take the leaves whose bound changed since the last flush, and copy their
 * bounds (those not collected since) into *leaves and *bounds (palloc'd,
 * MANTIS_LEAVES each); returns how many.  What is taken is given back if
 * the flush fails (dead_rows_abort()).
 */
static int
take_changed_bounds(int **leaves, MantisLeafBound **bounds)
{
	MantisLeafSet changed;
	int			n = 0;

	memset(&changed, 0, sizeof(changed));
	mantis_store_dead_take_changed(&changed);
	*leaves = palloc(sizeof(int) * MANTIS_LEAVES);
	*bounds = palloc(sizeof(MantisLeafBound) * MANTIS_LEAVES);
	for (int w = 0; w < MANTIS_LEAVES / 32; w++)
	{
		taken_bounds.words[w] |= changed.words[w];
		for (uint32 bits = changed.words[w]; bits != 0; bits &= bits - 1)
		{
			int			leaf = w * 32 + pg_rightmost_one_pos32(bits);

			if (mantis_store_dead_bound(leaf, &(*bounds)[n]))
				(*leaves)[n++] = leaf;
		}
	}
	return n;
}

/* A flush failed: its bounds are written by the next */
void
dead_rows_abort(void)
{
	mantis_store_dead_give_back_changed(&taken_bounds);
	memset(&taken_bounds, 0, sizeof(taken_bounds));
}

/* A flush committed */
void
dead_rows_committed(void)
{
	memset(&taken_bounds, 0, sizeof(taken_bounds));
}

typedef struct DeadRows
{
	KnownTable *kt;
	const char *clock;
	uint64		horizon;
	MemoryContext cxt;			/* of the NewRows: outlives the transaction */
	List	   *inserted;
	StringInfoData cur;			/* VARHDRSZ, header, record count, records */
	uint32		nrec;
	int			nbounds;		/* the bounds the row closes with */
	int		   *leaves;			/* MANTIS_LEAVES of room */
	MantisLeafBound *bounds;
	int64		bytes;
} DeadRows;

static void
dead_row_open(DeadRows *d)
{
	initStringInfo(&d->cur);
	appendStringInfoSpaces(&d->cur, VARHDRSZ + MANTIS_SNAPSHOT_HEADER_SIZE + 4);
	d->nrec = 0;
	d->nbounds = 0;
}

/* Close the row with its bounds after its records, and insert it */
static void
dead_row_close(DeadRows *d)
{
	unsigned char *head = (unsigned char *) d->cur.data + VARHDRSZ;
	MemoryContext oldcxt;
	NewRow	   *row;

	mantis_snapshot_put_header(head, 0, 0, d->horizon);
	mantis_snapshot_set_flags(head, MANTIS_SNAPSHOT_FLAG_RECORDS);
	mantis_put_u32(head + MANTIS_SNAPSHOT_HEADER_SIZE, d->nrec);
	enlargeStringInfo(&d->cur, 4 + d->nbounds * MANTIS_SNAPSHOT_BOUND_SIZE);
	mantis_put_u32((unsigned char *) d->cur.data + d->cur.len, (uint32) d->nbounds);
	d->cur.len += 4;
	for (int i = 0; i < d->nbounds; i++)
	{
		mantis_snapshot_put_bound((unsigned char *) d->cur.data + d->cur.len,
								  (uint32) d->leaves[i], &d->bounds[i]);
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
		dead_row_close(d);
}

/*
 * Write every record and bound the store holds as rows of their own, in
 * the compaction's transaction (persist/flush.c, before its scan of the
 * registers: see the file header), each row carrying "horizon".  A
 * partition's records and bounds are copied at once, under its lock, and
 * its bounds go in the row of its first record (or a later one with none):
 * so no record of the compaction lies in a row older than its leaf's bound
 * (a load would take it as collapsed since).  The rows inserted are
 * appended to *inserted (NewRow *, in cxt); returns the bytes written, and
 * the records in *records.  Nothing when records are off.
 */
int64
write_dead_rows(KnownTable *kt, const char *clock, uint64 horizon, MemoryContext cxt,
				List **inserted, uint64 *records)
{
	uint32		capacity = mantis_store_dead_capacity();
	MantisRecordView *recs;
	DeadRows	d;

	*records = 0;
	if (capacity == 0)
		return 0;
	/* every bound is written: the marks taken now are given back on failure */
	mantis_store_dead_take_changed(&taken_bounds);
	memset(&d, 0, sizeof(d));
	d.kt = kt;
	d.clock = clock;
	d.horizon = horizon;
	d.cxt = cxt;
	d.inserted = *inserted;
	recs = palloc(sizeof(MantisRecordView) * capacity);
	d.leaves = palloc(sizeof(int) * MANTIS_LEAVES);
	d.bounds = palloc(sizeof(MantisLeafBound) * MANTIS_LEAVES);
	for (int p = 0; p < MANTIS_PARTITIONS; p++)
	{
		int			n;
		uint32		nrec;

		if (d.cur.data == NULL)
			dead_row_open(&d);
		nrec = mantis_store_dead_copy(p, recs, d.leaves + d.nbounds,
									  d.bounds + d.nbounds, &n);
		d.nbounds += n;
		for (uint32 i = 0; i < nrec; i++)
			dead_row_add(&d, &recs[i]);
		*records += nrec;
		CHECK_FOR_INTERRUPTS();
	}
	if (d.cur.data != NULL && (d.nrec > 0 || d.nbounds > 0))
		dead_row_close(&d);
	else if (d.cur.data != NULL)
		pfree(d.cur.data);
	pfree(recs);
	pfree(d.leaves);
	pfree(d.bounds);
	*inserted = d.inserted;
	return d.bytes;
}

/*
 * A flush (not a compaction): write the bounds changed since the last
 * flush in a row of their own, before the flush's registers (so that none
 * of them lies in an older row than the bound: see the file header), a
 * row of records with none, carrying "horizon".  A row of registers is
 * never flagged: a release before records, which skips flagged rows, then
 * loses no register.  Appends the row to *inserted (NewRow *, in cxt);
 * returns the bytes written.
 */
int64
write_bounds_row(KnownTable *kt, const char *clock, uint64 horizon, MemoryContext cxt,
				 List **inserted)
{
	DeadRows	d;
	int			n;

	if (!mantis_store_dead_has_changed())
		return 0;
	memset(&d, 0, sizeof(d));
	d.kt = kt;
	d.clock = clock;
	d.horizon = horizon;
	d.cxt = cxt;
	d.inserted = *inserted;
	n = take_changed_bounds(&d.leaves, &d.bounds);
	if (n > 0)
	{
		dead_row_open(&d);
		d.nbounds = n;
		dead_row_close(&d);
	}
	pfree(d.leaves);
	pfree(d.bounds);
	*inserted = d.inserted;
	return d.bytes;
}

/* ---- loading ---- */

/* A hash's newest HLC taken as collapsed at this load */
typedef struct FoldedEntry
{
	uint64		hash;			/* the key */
	uint64		ts;
	uint64		node;
} FoldedEntry;

static inline int
leaf_of_hash(uint64 hash)
{
	return (int) (hash & (MANTIS_LEAVES - 1));
}

/* A bound as a 64-bit value, never 0: two rows carry the same bound or not */
static uint64
bound_sig(const MantisLeafBound *b)
{
	uint64		sig = b->bound_ts * UINT64CONST(0x9E3779B97F4A7C15);

	sig ^= b->fingerprint;
	sig ^= (b->death_ms + 1) * UINT64CONST(0xC2B2AE3D27D4EB4F);
	return sig != 0 ? sig : 1;
}

/*
 * The first pass of a load (persist/load.c): a row's bound merges now,
 * before any record or register of the rows, and the row is noted as the
 * newest that changed the leaf's bound (rows come oldest first): one that
 * carries it as the last row seen did (a compaction writing every bound,
 * a row restored or held back beside a later one, a standby following its
 * primary) tells nothing collapsed since that row, whose records of the
 * leaf lie beside the bound, not in it.  (A sig shared by two bounds only
 * keeps a collapsed record or dead register held: the bound refuses all
 * it would.)
 */
void
gather_bound(void *arg, uint32_t leaf, const MantisLeafBound *b)
{
	LoadState  *st = (LoadState *) arg;
	uint64		sig = bound_sig(b);

	mantis_clock_witness(b->bound_ts);
	if (!mantis_store_dead_load_bound((int) leaf, b))
		return;
	if (sig != st->bound_sig[leaf])
		st->bound_row[leaf] = st->row_id;
	st->bound_sig[leaf] = sig;
	st->bound_ts[leaf] = Max(st->bound_ts[leaf], b->bound_ts);
}

/* Prepare a load whose bounds merge first (gather_bound()) */
void
dead_load_begin(LoadState *st)
{
	HASHCTL		ctl;

	st->bounds_first = true;
	st->bound_row = palloc0(sizeof(int64) * MANTIS_LEAVES);
	st->bound_ts = palloc0(sizeof(uint64) * MANTIS_LEAVES);
	st->bound_sig = palloc0(sizeof(uint64) * MANTIS_LEAVES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(FoldedEntry);
	ctl.hcxt = CurrentMemoryContext;
	st->folded = hash_create("mantis folded at load", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Note a hash's HLC taken as collapsed: its older copies are not merged */
static void
note_folded(LoadState *st, uint64 hash, uint64 ts, uint64 node)
{
	FoldedEntry *e;
	bool		found;

	e = hash_search(st->folded, &hash, HASH_ENTER, &found);
	if (!found || ts > e->ts || (ts == e->ts && node > e->node))
	{
		e->ts = ts;
		e->node = node;
	}
	st->dead_folded++;
}

/*
 * Whether a register or record of the row being merged (its key's hash,
 * HLC, whether dead) collapsed into its leaf's bound after the row was
 * written, or is older than one that did: then it is not merged (see the
 * file header).  A dead one at or below the bound the rows carry, in a row
 * older than the newest that changed it, folds (mantis_store_dead_fold()).
 */
bool
dead_load_folds(LoadState *st, uint64 hash, uint64 ts, uint64 node, bool dead)
{
	int			leaf = leaf_of_hash(hash);
	FoldedEntry *e;

	if (!st->bounds_first)
		return false;
	e = hash_search(st->folded, &hash, HASH_FIND, NULL);
	if (e != NULL && (ts < e->ts || (ts == e->ts && node <= e->node)))
		return true;			/* an older copy of one folded */
	if (!dead || st->bound_row[leaf] <= st->row_id || ts > st->bound_ts[leaf])
		return false;
	if (!mantis_store_dead_fold(hash, ts, node))
		return true;			/* beaten by what is held */
	note_folded(st, hash, ts, node);
	return true;
}

/*
 * A record of a dead register (R7, a compaction's row: persist/dead_rows.c)
 * merges as its register would: held, beaten by what is held of its hash,
 * or, with no room, held back in the row as a hole (R5: store/dead.c
 * collapses nothing at load); unless it collapsed since its row was
 * written (dead_load_folds()).  Again at each retry: a record held or
 * beaten merges as beaten.  One kept beside its leaf's bound that found
 * no room joined the bound: its further copies (a row restored, a row of
 * records held back beside a later compaction's) are taken as collapsed,
 * or each would take its fingerprint out of the bound again.
 */
void
load_dead(void *arg, const MantisRecordView *rec)
{
	LoadState  *st = (LoadState *) arg;

	mantis_clock_witness(rec->ts);
	if (dead_load_folds(st, rec->hash, rec->ts, rec->node, true))
		return;
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
		case MANTIS_DEAD_JOINED:
			if (st->bounds_first)
				note_folded(st, rec->hash, rec->ts, rec->node);
			else
				st->dead_folded++;
			break;
	}
}

/*
 * A leaf's collapsed bound, in the rows' order: merged by the first pass
 * already (gather_bound()).  Without one (records off, which only a
 * restart changes: every row's bound is held back; or a retry, whose row
 * merged its bound when first loaded), it joins the bound held, or is held
 * back with its row.
 */
void
load_bound(void *arg, uint32_t leaf, const MantisLeafBound *b)
{
	LoadState  *st = (LoadState *) arg;

	if (st->retry || st->bounds_first)
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
	if (st->dead_held + st->dead_stale + st->dead_folded + st->dead_no_room > 0)
		ereport(st->dead_no_room > 0 ? WARNING : LOG,
				(errmsg("mantis loaded %llu records of dead registers from %s",
						(unsigned long long) st->dead_held, kt->name),
				 errdetail("%llu superseded, %llu records or dead registers taken as collapsed into their leaves' bounds, %llu records or bounds held back (no room under \"mantis.max_dead_records\").",
						   (unsigned long long) st->dead_stale,
						   (unsigned long long) st->dead_folded,
						   (unsigned long long) st->dead_no_room)));
}
