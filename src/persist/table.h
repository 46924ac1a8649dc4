/*-------------------------------------------------------------------------
 * persist/table.h
 *	  The bottom layer of the persistence (persist/table.c), as the layers
 *	  above it call it: the rows of mantis_stores the worker knows, and
 *	  the transaction bracket its work on the table runs in.
 *
 * The persistence is three layers, each calling only those below it:
 * persist/table.c (the known table and its rows, the work bracket; this
 * header), persist/load.c (merging rows into memory; persist/load.h) and
 * persist/flush.c (writing what changed, compacting this node's rows,
 * the abort after an ERROR).  Only they include this header; the worker
 * calls persist/persist.h.  What is declared here is MANTIS_PRIVATE
 * (mantis.h).
 *
 * IDENTIFICATION	src/persist/table.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_PERSIST_TABLE_H
#define MANTIS_PERSIST_TABLE_H

#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/timeout.h"

#include "mantis.h"
#include "persist/persist.h"

/* A row of mantis_stores the worker has seen. */
typedef struct KnownRow
{
	int64		id;
	TransactionId xmin;			/* with id, the row's identity */
	int64		bytes;
	bool		own;			/* written under this server's node name */
	uint32		held;			/* registers in it not held in memory */
	uint64		hole_ts;		/* the least HLC among those */
	bool		unreadable;		/* corrupt or too large: never merged */
} KnownRow;

#define ROW_MERGED(r)	((r)->held == 0 && !(r)->unreadable)

/*
 * A row the worker inserted in the transaction under way: known once it
 * commits (persist/flush.c).  A flush's rows hold nothing back; a row a
 * compaction rewrote from a held-back one (persist/load.c) holds only
 * registers held back.
 */
typedef struct NewRow
{
	int64		id;
	TransactionId xmin;
	int64		bytes;
	uint32		held;			/* as KnownRow */
	uint64		hole_ts;
} NewRow;

/*
 * What the worker knows of mantis_stores; in TopMemoryContext.  The worker
 * owns it (mantis_persist_table_create()) and passes it down explicitly.
 */
struct KnownTable
{
	char	   *name;			/* "schema"."mantis_stores" */
	Oid			relid;			/* InvalidOid: never seen */
	Oid			relfilenode;
	KnownRow   *rows;			/* sorted by id */
	int			nrows;
	int			maxrows;
	int64		snapshot_bytes; /* of the last full snapshot we wrote */
	bool		rewrite;		/* rows holding registers are gone */
	bool		replaced;		/* find_table() found another table: the
								 * rows known are the old one's */
	int64		sequence_floor; /* the id sequence is known to be past this */
	SPIPlanPtr	insert_plan;	/* insert_row()'s statement, kept; NULL: none */
	char	   *insert_name;	/* the name it was prepared for */
};

extern MANTIS_PRIVATE void begin_work(const char *activity);
extern MANTIS_PRIVATE void end_work(void);
extern MANTIS_PRIVATE void abort_work(void);
extern MANTIS_PRIVATE bool find_table(KnownTable *kt);
extern MANTIS_PRIVATE void known_reserve(KnownTable *kt, int n);
extern MANTIS_PRIVATE void count_rows(const KnownTable *kt, uint64 *held_back,
									  int64 *own_rows, int64 *merged_rows,
									  int64 *merged_bytes);
extern MANTIS_PRIVATE Datum int8_array(const int64 *ids, int n);
extern MANTIS_PRIVATE void row_gone(KnownTable *kt, const KnownRow *row, uint64 *lost_hole);
extern MANTIS_PRIVATE void lost_held_back(uint64 lost_hole);
extern MANTIS_PRIVATE void table_replaced(KnownTable *kt);
extern MANTIS_PRIVATE void insert_row(KnownTable *kt, const char *clock,
									  bytea *registers, NewRow *row);

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

#endif							/* MANTIS_PERSIST_TABLE_H */
