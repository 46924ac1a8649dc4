/*-------------------------------------------------------------------------
 * api/monitor.c
 *	  The SQL functions behind the mantis_status and mantis_peers views.
 *
 * Both read what the workers publish in shared memory (store counters,
 * the persistence worker's state, the replication worker's peer table)
 * and return it as rows; they never wait for a worker.  The columns are
 * built from text through the declared result type, so one C function
 * serves every version of the SQL definitions: an older definition that
 * takes fewer columns, or text ones, still reads right.
 *
 * IDENTIFICATION	src/api/monitor.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "common/hlc.h"
#include "common/rules.h"
#include "store/collect.h"
#include "store/store.h"
#include "persist/worker.h"
#include "replication/links.h"
#include "replication/peer_view.h"
#include "api/values.h"

static const char *
persist_state_name(MantisPersistState state)
{
	switch (state)
	{
		case MANTIS_PERSIST_STOPPED:
			return "worker not running";
		case MANTIS_PERSIST_STARTING:
			return "loading";
		case MANTIS_PERSIST_NO_EXTENSION:
			/* 1.4: naming the database it waits in (mantis.database) */
			return psprintf("waiting for CREATE EXTENSION in database \"%s\"", mantis_database);
		case MANTIS_PERSIST_READY:
			return "ready";
		case MANTIS_PERSIST_STANDBY:
			return "standby";
	}
	return "unknown";
}

/*
 * A row under construction: each column's text form, or NULL.  The row is
 * made by the input functions of the declared column types, so a column
 * declared bigint or timestamptz (1.1) and one declared text (1.0) are
 * both right, and an older definition with fewer columns takes a prefix.
 */
typedef struct TextRow
{
	int			ncols;
	char	  **cols;
} TextRow;

static void
row_init(TextRow *row, int ncols)
{
	row->ncols = ncols;
	row->cols = palloc0(sizeof(char *) * ncols);
}

static void
row_set(TextRow *row, int col, const char *value)
{
	Assert(col < row->ncols);
	row->cols[col] = value ? pstrdup(value) : NULL;
}

static void
row_set_uint64(TextRow *row, int col, uint64 v)
{
	row->cols[col] = psprintf(UINT64_FORMAT, v);
}

static void
row_set_time(TextRow *row, int col, TimestampTz t)
{
	row_set(row, col, t == 0 ? NULL : timestamptz_to_str(t));
}

static void
row_set_node_id(TextRow *row, int col, uint64 id)
{
	row->cols[col] = mantis_node_id_text(id, palloc(MANTIS_NODE_ID_TEXT_SIZE));
}

/* Emit the row, taking as many columns as the declared result has. */
static void
row_emit(TextRow *row, ReturnSetInfo *rsinfo, AttInMetadata *attinmeta)
{
	if (rsinfo->setDesc->natts > row->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the definition of this mantis function does not match the library"),
				 errhint("Run ALTER EXTENSION mantis UPDATE.")));
	tuplestore_puttuple(rsinfo->setResult, BuildTupleFromCStrings(attinmeta, row->cols));
}

/*
 * A collection mode's text, and the holes if any are open (the rule R5 of
 * common/rules.h): a register refused from a peer (no room, limits, a
 * clock far ahead) or lost with rows of mantis_stores, at or above which nothing is collected until it is
 * merged; registers held back in mantis_stores, whose keys' dead registers
 * wait for them.  Then the registers adopted away (R6) that are still read
 * until a compaction has rewritten mantis_stores without them.
 */
static const char *
with_hole(const char *text)
{
	uint64		hole = mantis_collect_peer_hole();

	if (hole != MANTIS_RULES_NO_HOLE)
		text = psprintf("%s; nothing collected at or after %s: a register refused from a peer, or lost with rows of mantis_stores",
						text, timestamptz_to_str(mantis_ms_timestamptz(mantis_hlc_ms(hole))));
	if (mantis_collect_rows_held_back())
		text = psprintf("%s; keys held back in mantis_stores wait", text);
	if (mantis_store_adopting() > 0)
		text = psprintf("%s; " UINT64_FORMAT " registers adopted away wait for a compaction",
						text, mantis_store_adopting());
	return text;
}

/*
 * How deletion markers are collected (common/rules.h), and the member that
 * keeps them from being collected by acknowledgement; then how many members
 * this server counts.  Without replication, the server's own clock
 * collects; on a standby, the lifetime alone.
 */
static void
set_collection(TextRow *row, int col)
{
	int			mode;
	int			members;
	char		who[MANTIS_COLLECT_WHO_SIZE];
	const char *text;

	if (RecoveryInProgress())
	{
		row_set(row, col, with_hole("lifetime only: a standby"));
		return;
	}
	if (!mantis_replication_enabled())
	{
		row_set(row, col, with_hole("by this server alone: no replication"));
		row_set(row, col + 1, "1");
		return;
	}
	mantis_collect_mode(&mode, who, sizeof(who), &members);
	if (mode < 0)
		return;					/* no replication worker has said yet */
	text = mantis_rules_mode_text((MantisCollectMode) mode);
	if (who[0] != '\0')
		text = psprintf("%s (%s)", text, who);
	row_set(row, col, with_hole(text));
	row_set(row, col + 1, psprintf("%d", members));
}

/*
 * mantis_status() returns one row describing this server's store and
 * worker; the mantis_status view shows it.
 */
PG_FUNCTION_INFO_V1(mantis_status);

#define STATUS_COLUMNS 32

/* An HLC time of the collection horizons as a time, or NULL for 0 */
static void
row_set_hlc_time(TextRow *row, int col, uint64 ts)
{
	if (ts != 0)
		row_set_time(row, col, mantis_ms_timestamptz(mantis_hlc_ms(ts)));
}

Datum
mantis_status(PG_FUNCTION_ARGS)
{
	MantisStoreStats stats;
	MantisPersistStatus w;
	uint64		stable_ts;
	uint64		lifetime_ts;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TextRow		row;
	uint64		dead;

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_stats(&stats);
	mantis_persist_worker_status(&w);

	row_init(&row, STATUS_COLUMNS);
	row_set(&row, 0, mantis_self_node_name());
	row_set_node_id(&row, 1, mantis_self_node_id());
	/* live keys: neither deletion markers nor expired (as of the last sweep) */
	dead = stats.deleted + stats.expired_held;
	row_set_uint64(&row, 2, stats.registers > dead ? stats.registers - dead : 0);
	row_set_uint64(&row, 3, stats.deleted);
	row_set_uint64(&row, 4, stats.bytes_used);
	row_set_uint64(&row, 5, stats.bytes_total - Min(stats.bytes_used, stats.bytes_total));
	row_set(&row, 6, persist_state_name(w.persist));
	row_set_time(&row, 7, w.last_flush_at);
	if (w.last_flush_at != 0)
		row_set_uint64(&row, 8, w.last_flush_registers);
	row_set_uint64(&row, 9, w.flush_failures);
	row_set(&row, 10, w.last_flush_error[0] ? w.last_flush_error : NULL);
	if (w.stored_rows >= 0)
		row_set_uint64(&row, 11, (uint64) w.stored_rows);
	if (mantis_replication_enabled())
	{
		MantisPeerView *views;
		MantisPeerCounters unknown;

		row_set(&row, 12, mantis_listen);
		(void) mantis_peer_view_copy(&views, &unknown);
		row_set_uint64(&row, 13, unknown.malformed);
		row_set_uint64(&row, 14, unknown.refused);
		/* 1.4: the listener's connections, those refused past the limit */
		row_set_uint64(&row, 24, unknown.inbound);
		row_set_uint64(&row, 25, unknown.over_limit);
	}
	/* columns added later come last: an older definition takes a prefix */
	row_set_uint64(&row, 15, w.held_back);
	/* 1.2: expiry and the collection of dead registers */
	mantis_collect_horizons(&stable_ts, &lifetime_ts);
	row_set_uint64(&row, 16, stats.expired_held);
	row_set_uint64(&row, 17, stats.collected_deletions);
	row_set_uint64(&row, 18, stats.collected_expired);
	row_set_hlc_time(&row, 19, mantis_replication_enabled() ? stable_ts : mantis_clock_peek());
	row_set_hlc_time(&row, 20, mantis_collect_refusal_horizon());
	row_set_uint64(&row, 21, mantis_collect_refused());
	set_collection(&row, 22);
	/* 1.4: another server greeting with our node id */
	if (mantis_replication_enabled())
	{
		char		clash[MANTIS_ERROR_TEXT_SIZE];

		mantis_peer_view_clash(clash, sizeof(clash));
		row_set(&row, 26, clash[0] ? clash : NULL);
	}
	/* 1.4: the records of dead registers (R7; 0 when none are kept) */
	row_set_uint64(&row, 27, stats.dead_records);
	row_set_uint64(&row, 28, stats.dead_records_max);
	row_set_uint64(&row, 29, stats.collapsed_records);
	row_set_uint64(&row, 30, stats.leaves_with_bound);
	row_set_uint64(&row, 31, stats.collected_records);
	row_emit(&row, rsinfo, TupleDescGetAttInMetadata(rsinfo->setDesc));
	return (Datum) 0;
}

static const char *
peer_state_name(MantisPeerState state)
{
	switch (state)
	{
		case MANTIS_PEER_CONNECTING:
			return "connecting";
		case MANTIS_PEER_CONNECTED:
			return "connected";
		case MANTIS_PEER_DOWN:
			return "down";
		case MANTIS_PEER_REFUSED:
			return "refused";
		case MANTIS_PEER_INBOUND:
			return "inbound";
	}
	return "unknown";
}

#define PEERS_COLUMNS 30

static const char *
listing_name(int listing)
{
	switch ((MantisListing) listing)
	{
		case MANTIS_LISTING_UNKNOWN:
			return NULL;
		case MANTIS_LISTING_BOTH:
			return "both";
		case MANTIS_LISTING_HERE_ONLY:
			return "here only";
		case MANTIS_LISTING_THERE_ONLY:
			return "there only";
	}
	return NULL;
}

/*
 * mantis_peers() returns a row per peer of this server's replication
 * worker: the configured ones, then nodes that connect to us without being
 * configured here; the mantis_peers view shows them.
 */
PG_FUNCTION_INFO_V1(mantis_peers);

Datum
mantis_peers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AttInMetadata *attinmeta;
	MantisPeerView *views;
	int			n;

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);
	n = mantis_peer_view_copy(&views, NULL);
	for (int i = 0; i < n; i++)
	{
		MantisPeerView *v = &views[i];
		MantisPeerCounters *c = &v->counters;
		TextRow		row;
		int			col = 0;

		row_init(&row, PEERS_COLUMNS);
		row_set(&row, col++, v->endpoint[0] ? v->endpoint : NULL);
		row_set(&row, col++, v->name[0] ? v->name : NULL);
		if (v->node_id != 0 || v->name[0])
			row_set_node_id(&row, col, v->node_id);
		col++;
		row_set(&row, col++, peer_state_name(v->state));
		row_set_time(&row, col++, v->since);
		row_set_time(&row, col++, v->last_message);
		row_set_uint64(&row, col++, c->messages_in);
		row_set_uint64(&row, col++, c->bytes_in);
		row_set_uint64(&row, col++, c->messages_out);
		row_set_uint64(&row, col++, c->bytes_out);
		row_set_uint64(&row, col++, c->dropped);
		row_set_uint64(&row, col++, c->applied);
		row_set_uint64(&row, col++, c->malformed);
		row_set_uint64(&row, col++, c->skewed);
		row_set_uint64(&row, col++, c->stale);
		row_set_uint64(&row, col++, c->no_room);
		if (v->offset_known)
			row.cols[col] = psprintf(INT64_FORMAT, v->clock_offset_ms);
		col++;
		row_set(&row, col++, v->last_error[0] ? v->last_error : NULL);
		row_set(&row, col++, v->endpoint[0] ? "outbound" : "inbound");
		row_set_uint64(&row, col++, c->mismatched);
		row_set_uint64(&row, col++, c->held);
		if (v->acked != 0)
			row_set_hlc_time(&row, col, v->acked);
		col++;
		row_set_uint64(&row, col++, c->collected);
		/* 1.4: the protocol version in use, the versions it advertised, our
		 * repair rounds with it, and the registers adopted away from it */
		if (v->protocol != 0)
			row.cols[col] = psprintf("%d", v->protocol);
		col++;
		if (v->proto_min != 0)
			row.cols[col] = psprintf("%d-%d", v->proto_min, v->proto_max);
		col++;
		row_set_uint64(&row, col++, c->rounds);
		row_set_time(&row, col++, v->last_repair);
		row_set_uint64(&row, col++, c->adopted);
		/* 1.4: our connection made again; whether both list each other */
		if (v->endpoint[0])
			row_set_uint64(&row, col, v->reconnects);
		col++;
		row_set(&row, col++, listing_name(v->listing));
		Assert(col == PEERS_COLUMNS);
		row_emit(&row, rsinfo, attinmeta);
	}
	return (Datum) 0;
}
