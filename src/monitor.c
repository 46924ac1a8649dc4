/*-------------------------------------------------------------------------
 * monitor.c
 *	  The SQL functions behind the mantis_status and mantis_peers views.
 *
 * Both read what the workers publish in shared memory (store counters,
 * the persistence worker's state, the replication worker's peer table)
 * and return it as rows; they never wait for a worker.  The columns are
 * built from text through the declared result type, so one C function
 * serves every version of the SQL definitions: an older definition that
 * takes fewer columns, or text ones, still reads right.
 *
 * IDENTIFICATION	src/monitor.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "mantis.h"

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
			return "waiting for CREATE EXTENSION";
		case MANTIS_PERSIST_READY:
			return "ready";
		case MANTIS_PERSIST_STANDBY:
			return "standby";
	}
	return "unknown";
}

static Datum
uint64_text(uint64 v)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), UINT64_FORMAT, v);
	return CStringGetTextDatum(buf);
}

/*
 * mantis_status() returns one row describing this server's store and
 * worker; the mantis_status view shows it.  Columns are text.
 */
PG_FUNCTION_INFO_V1(mantis_status);

#define STATUS_COLUMNS 16

Datum
mantis_status(PG_FUNCTION_ARGS)
{
	MantisStoreStats stats;
	MantisWorkerState w;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[STATUS_COLUMNS];
	bool		nulls[STATUS_COLUMNS] = {false};
	char		buf[32];

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	mantis_store_stats(&stats);
	mantis_worker_state(&w);

	values[0] = CStringGetTextDatum(mantis_shared->node_name);
	snprintf(buf, sizeof(buf), "%016" INT64_MODIFIER "x", mantis_shared->node_id);
	values[1] = CStringGetTextDatum(buf);
	values[2] = uint64_text(stats.registers - stats.deleted);
	values[3] = uint64_text(stats.deleted);
	values[4] = uint64_text(stats.bytes_used);
	values[5] = uint64_text(stats.bytes_total - Min(stats.bytes_used, stats.bytes_total));
	values[6] = CStringGetTextDatum(persist_state_name(w.persist));
	if (w.last_flush_at == 0)
		nulls[7] = nulls[8] = true;
	else
	{
		values[7] = CStringGetTextDatum(timestamptz_to_str(w.last_flush_at));
		values[8] = uint64_text(w.last_flush_registers);
	}
	values[9] = uint64_text(w.flush_failures);
	if (w.last_flush_error[0] == '\0')
		nulls[10] = true;
	else
		values[10] = CStringGetTextDatum(w.last_flush_error);
	if (w.stored_rows < 0)
		nulls[11] = true;
	else
		values[11] = uint64_text((uint64) w.stored_rows);
	if (mantis_replication_enabled())
	{
		MantisPeerView *views;
		MantisPeerCounters unknown;

		values[12] = CStringGetTextDatum(mantis_listen);
		(void) mantis_replication_snapshot(&views, &unknown);
		values[13] = uint64_text(unknown.malformed);
		values[14] = uint64_text(unknown.refused);
	}
	else
		nulls[12] = nulls[13] = nulls[14] = true;
	/* columns added later come last: an older definition takes a prefix */
	values[15] = uint64_text(w.held_back);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

static const char *
link_state_name(MantisLinkState state)
{
	switch (state)
	{
		case MANTIS_LINK_CONNECTING:
			return "connecting";
		case MANTIS_LINK_CONNECTED:
			return "connected";
		case MANTIS_LINK_DOWN:
			return "down";
		case MANTIS_LINK_REFUSED:
			return "refused";
		case MANTIS_LINK_INBOUND:
			return "inbound";
	}
	return "unknown";
}

#define PEERS_COLUMNS 21

/*
 * mantis_peers() returns a row per peer of this server's replication
 * worker: the configured ones, then nodes that connect to us without being
 * configured here.  Columns are text; the mantis_peers view shows them.
 */
PG_FUNCTION_INFO_V1(mantis_peers);

Datum
mantis_peers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MantisPeerView *views;
	int			n;

	mantis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	n = mantis_replication_snapshot(&views, NULL);
	for (int i = 0; i < n; i++)
	{
		MantisPeerView *v = &views[i];
		MantisPeerCounters *c = &v->counters;
		Datum		values[PEERS_COLUMNS];
		bool		nulls[PEERS_COLUMNS] = {false};
		char		buf[32];
		int			col = 0;

		if (v->endpoint[0])
			values[col] = CStringGetTextDatum(v->endpoint);
		else
			nulls[col] = true;
		col++;
		if (v->name[0])
			values[col] = CStringGetTextDatum(v->name);
		else
			nulls[col] = true;
		col++;
		if (v->node_id != 0 || v->name[0])
		{
			snprintf(buf, sizeof(buf), "%016" INT64_MODIFIER "x", v->node_id);
			values[col] = CStringGetTextDatum(buf);
		}
		else
			nulls[col] = true;
		col++;
		values[col++] = CStringGetTextDatum(link_state_name(v->state));
		values[col++] = CStringGetTextDatum(timestamptz_to_str(v->since));
		if (v->last_message != 0)
			values[col] = CStringGetTextDatum(timestamptz_to_str(v->last_message));
		else
			nulls[col] = true;
		col++;
		values[col++] = uint64_text(c->messages_in);
		values[col++] = uint64_text(c->bytes_in);
		values[col++] = uint64_text(c->messages_out);
		values[col++] = uint64_text(c->bytes_out);
		values[col++] = uint64_text(c->dropped);
		values[col++] = uint64_text(c->applied);
		values[col++] = uint64_text(c->malformed);
		values[col++] = uint64_text(c->skewed);
		values[col++] = uint64_text(c->stale);
		values[col++] = uint64_text(c->no_room);
		if (v->offset_known)
		{
			snprintf(buf, sizeof(buf), INT64_FORMAT, v->clock_offset_ms);
			values[col] = CStringGetTextDatum(buf);
		}
		else
			nulls[col] = true;
		col++;
		if (v->last_error[0])
			values[col] = CStringGetTextDatum(v->last_error);
		else
			nulls[col] = true;
		col++;
		values[col++] = CStringGetTextDatum(v->endpoint[0] ? "outbound" : "inbound");
		values[col++] = uint64_text(c->mismatched);
		values[col++] = uint64_text(c->held);
		Assert(col == PEERS_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
