/*-------------------------------------------------------------------------
 * watch/feed.c
 *	  What changed after a cursor (mantis_changes(), mantis_wait()).
 *
 * Three ways to answer, by the cursor given:
 *
 *	- none: every live register under the prefix, a snapshot to start from;
 *	- one this server gave in this run, whose entries the change log still
 *	  holds: the keys of the entries after its seq, each as the store holds
 *	  it now (a value, or dead), or, if the store holds nothing of it any
 *	  more, as the deletion the entry says.  Work in proportion to the
 *	  changes, not to the keys;
 *	- any other cursor of a server of this cluster (another server, this
 *	  one before a restart, or one older than the log): a scan of the store
 *	  for registers above its held_ts (or whose expiry passed after it),
 *	  and of the log for deaths of keys the store no longer holds.  Exact
 *	  only if no key died above held_ts without an entry to name it (the
 *	  log's keyless bound, store/changes.c); else, and for a cursor of a
 *	  server this one does not know, or that does not report this one's
 *	  member set (a hub and its leaves: a leaf's cursor speaks only for
 *	  the writers it counts), an ERROR of SQLSTATE MT001 with a hint to
 *	  start again from NULL.  Never a silently incomplete answer.
 *
 * The answer's cursor is taken before anything is read, so a change made
 * meanwhile may come in this answer and again in the next (at least once).
 * Each key comes once per answer, as the store holds it when read.
 *
 * IDENTIFICATION	src/watch/feed.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "mantis.h"
#include "clock.h"
#include "nodes.h"
#include "store/changes.h"
#include "store/store.h"
#include "watch/feed.h"

/* The feed's own SQLSTATE: the cursor cannot be answered exactly */
#define ERRCODE_MANTIS_CURSOR_LOST	MAKE_SQLSTATE('M','T','0','0','1')

/* Keys looked up at once: bounds how many partition locks one hold spans */
#define LOOKUP_BATCH	1024

/* A key an answer names, and the last entry that named it */
typedef struct Named
{
	const char *key;
	uint32		key_len;
	uint64		seq;
	MantisHLC	hlc;
} Named;

typedef struct Rows
{
	int			n;
	int			cap;
	MantisFeedRow *rows;
} Rows;

static MantisFeedRow *
rows_add(Rows *r)
{
	if (r->n == r->cap)
	{
		r->cap = r->cap == 0 ? 64 : r->cap * 2;
		r->rows = r->rows == NULL ? palloc(sizeof(MantisFeedRow) * r->cap) :
			repalloc_huge(r->rows, sizeof(MantisFeedRow) * r->cap);
	}
	return &r->rows[r->n++];
}

static bool
has_prefix(const char *key, uint32 key_len, const char *prefix, uint32 prefix_len)
{
	return key_len >= prefix_len && memcmp(key, prefix, prefix_len) == 0;
}

/* Whether a register held reads as absent now (deleted, or expired) */
static bool
record_dead(const MantisRecord *rec, uint64 now_ms)
{
	return rec->deleted || (rec->expires_ms != 0 && rec->expires_ms <= now_ms);
}

static int
named_cmp_key(const void *a, const void *b)
{
	const Named *x = a;
	const Named *y = b;
	int			c = memcmp(x->key, y->key, Min(x->key_len, y->key_len));

	if (c != 0)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	/* the last entry first */
	return x->seq > y->seq ? -1 : x->seq < y->seq ? 1 : 0;
}

static int
named_cmp_seq(const void *a, const void *b)
{
	const Named *x = a;
	const Named *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/*
 * The distinct keys of entries under the prefix (the last entry of each),
 * in the order of their last entries; only deaths when deaths_after is
 * not 0, and only those whose change is above it.
 */
static Named *
distinct_keys(const MantisChangeCopy *log, const char *prefix, uint32 prefix_len,
			  bool deaths_only, uint64 deaths_after, int *n_out)
{
	Named	   *named = palloc(sizeof(Named) * Max(log->n, 1));
	int			n = 0;
	int			kept = 0;

	for (int i = 0; i < log->n; i++)
	{
		const MantisChange *c = &log->entries[i];

		if (!has_prefix(c->key, c->key_len, prefix, prefix_len))
			continue;
		if (deaths_only && (c->kind == MANTIS_CHANGE_WRITE || c->change_ts <= deaths_after))
			continue;
		named[n].key = c->key;
		named[n].key_len = c->key_len;
		named[n].seq = c->seq;
		named[n].hlc = c->hlc;
		n++;
	}
	if (n > 1)
	{
		qsort(named, n, sizeof(Named), named_cmp_key);
		for (int i = 0; i < n; i++)
		{
			if (kept > 0 && named[kept - 1].key_len == named[i].key_len &&
				memcmp(named[kept - 1].key, named[i].key, named[i].key_len) == 0)
				continue;		/* an earlier entry of a key kept */
			named[kept++] = named[i];
		}
		n = kept;
		qsort(named, n, sizeof(Named), named_cmp_seq);
	}
	*n_out = n;
	return named;
}

/*
 * Add a row for each named key: as the store holds it now, or as the
 * deletion its entry says when the store holds nothing of it - unless
 * only_gone, when a key the store holds is left to the caller's scan.
 */
static void
rows_for_keys(const Named *named, int n, bool only_gone, Rows *out)
{
	const char **keys = palloc(sizeof(char *) * LOOKUP_BATCH);
	uint32	   *lens = palloc(sizeof(uint32) * LOOKUP_BATCH);
	bool	   *found = palloc(sizeof(bool) * LOOKUP_BATCH);
	MantisRecord *recs = palloc(sizeof(MantisRecord) * LOOKUP_BATCH);
	uint64		now_ms = mantis_clock_wall_ms();

	for (int from = 0; from < n; from += LOOKUP_BATCH)
	{
		int			k = Min(LOOKUP_BATCH, n - from);

		for (int i = 0; i < k; i++)
		{
			keys[i] = named[from + i].key;
			lens[i] = named[from + i].key_len;
		}
		mantis_store_get_many_any(keys, lens, k, found, recs);
		for (int i = 0; i < k; i++)
		{
			MantisFeedRow *row;

			if (found[i] && only_gone)
				continue;
			row = rows_add(out);
			if (found[i])
			{
				row->rec = recs[i];
				row->dead = record_dead(&recs[i], now_ms);
				continue;
			}
			memset(&row->rec, 0, sizeof(row->rec));
			row->rec.key = keys[i];
			row->rec.key_len = lens[i];
			row->rec.hlc = named[from + i].hlc;
			row->rec.deleted = true;
			row->dead = true;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---- a cursor of this run, from the log ---- */

static bool
answer_from_log(uint64 after_seq, uint64 upto_seq, const char *prefix, uint32 prefix_len,
				Rows *out)
{
	MantisChangeCopy log;
	Named	   *named;
	int			n;

	if (!mantis_changes_copy(after_seq, upto_seq, &log))
		return false;
	named = distinct_keys(&log, prefix, prefix_len, false, 0, &n);
	rows_for_keys(named, n, false, out);
	return true;
}

/* ---- any cursor of the cluster, from a scan ---- */

typedef struct ScanState
{
	uint64		after_ts;
	uint64		after_ms;
	uint64		now_ms;
	Rows	   *out;
} ScanState;

/* mantis_store_scan_prefix()'s callback: the copy it passes is its own */
static void
scan_one(const MantisRecord *rec, void *arg)
{
	ScanState  *st = arg;
	bool		expired_after = rec->expires_ms != 0 && rec->expires_ms <= st->now_ms &&
		rec->expires_ms > st->after_ms;
	MantisFeedRow *row;
	char	   *copy;

	if (rec->hlc.ts <= st->after_ts && !expired_after)
		return;
	row = rows_add(st->out);
	copy = palloc(rec->key_len + rec->value_len + 1);
	memcpy(copy, rec->key, rec->key_len);
	if (rec->value_len > 0)
		memcpy(copy + rec->key_len, rec->value, rec->value_len);
	row->rec = *rec;
	row->rec.key = copy;
	row->rec.value = copy + rec->key_len;
	row->dead = record_dead(rec, st->now_ms);
}

static void
cursor_lost(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_MANTIS_CURSOR_LOST),
			 errmsg("mantis cannot answer this cursor exactly: %s", why),
			 errhint("Load every register again with mantis_changes(NULL) and follow the cursor it returns.")));
}

/*
 * The registers above after_ts, and the deaths above it of keys the store
 * no longer holds, from the log's entries still held once copied: a death
 * evicted meanwhile raised the keyless bound, read after the copy and
 * after the scan (a register compacted or collected during the scan had
 * its entry, or raised the bound when that went).
 */
static void
answer_from_scan(uint64 after_ts, const char *prefix, uint32 prefix_len, Rows *out)
{
	MantisChangeBounds b;
	MantisChangeCopy log;
	ScanState	st;
	Named	   *named;
	int			n;

	mantis_changes_copy_held(&log);
	st.after_ts = after_ts;
	st.after_ms = mantis_hlc_ms(after_ts);
	st.now_ms = mantis_clock_wall_ms();
	st.out = out;
	mantis_store_scan_prefix(prefix, prefix_len, true, scan_one, &st);
	mantis_changes_bounds(&b);
	if (b.keyless_ts > after_ts)
		cursor_lost("keys deleted after it are known here only by their hash (compacted, collected, or loaded so at start)");
	named = distinct_keys(&log, prefix, prefix_len, true, after_ts, &n);
	rows_for_keys(named, n, true, out);
}

/* ---- the snapshot ---- */

static void
answer_snapshot(const char *prefix, uint32 prefix_len, Rows *out)
{
	ScanState	st;

	st.after_ts = 0;
	st.after_ms = PG_UINT64_MAX;	/* no expiry is a change here */
	st.now_ms = mantis_clock_wall_ms();
	st.out = out;
	mantis_store_scan_prefix(prefix, prefix_len, false, scan_one, &st);
}

/*
 * What changed under the prefix after "since" (NULL: every live register),
 * with the cursor to pass next.
 */
void
mantis_feed_changes(const MantisCursor *since, const char *prefix, uint32 prefix_len,
					MantisFeedAnswer *out)
{
	Rows		rows = {0};
	uint64		held;

	mantis_store_wait_loaded();
	mantis_cursor_now(&out->next);
	if (since == NULL)
		answer_snapshot(prefix, prefix_len, &rows);
	else if (since->node == out->next.node && since->run == out->next.run &&
			 since->seq > out->next.seq)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mantis cursor is ahead of this server's changes"),
				 errhint("Pass a cursor that this cluster returned.")));
	else if (since->node == out->next.node && since->run == out->next.run &&
			 answer_from_log(since->seq, out->next.seq, prefix, prefix_len, &rows))
		;						/* exact, from the log */
	else if (since->node != out->next.node && !mantis_changes_peer_held(since->node, &held))
		cursor_lost("it comes from a server that is not a peer of this one");
	else if (since->node != out->next.node && !mantis_changes_peer_same_members(since->node))
		cursor_lost("it comes from a server that does not count the same members as this one (not a full mesh)");
	else
		answer_from_scan(since->held_ts, prefix, prefix_len, &rows);
	out->n = rows.n;
	out->rows = rows.rows;
}
