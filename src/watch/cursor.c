/*-------------------------------------------------------------------------
 * watch/cursor.c
 *	  Cursors of the change feed: what one means, how the current one is
 *	  taken, and its text form.
 *
 * A cursor says two things.  To the server that gave it: "every entry of
 * my change log through seq, in this run, has been returned" - exact, and
 * cheap to answer from (store/changes.c).  To any server of the cluster:
 * "every write of every member through held_ts has been returned", where
 * held_ts is the least of our clock and of what we hold of each peer's
 * writes (replication/horizon.c's in_held: every write of that peer
 * through it, none refused below it).  A write that reaches a server
 * late, after a partition, carries an HLC at or above what that server
 * held of its writer when it gave a cursor, so it is after the cursor
 * whichever server answers: none is missed.  Not "the greatest HLC seen",
 * which a late write falls under.
 *
 * Taking one: the clock first, one below what it reads (a peek issues
 * nothing: a write later in the same millisecond may take the very ts
 * read, and a scan from the cursor would skip it), then
 * mantis_store_write_barrier(), so that every write that took an HLC at
 * or below it has made its entry, then the log's newest seq.  An expiry
 * is a change at its expiry's millisecond, in the log once the sweep
 * finds it: held_ts stays below what the sweep has not looked at yet
 * (an answer from the log would not return an expiry it has not logged,
 * and a scan from the cursor would take it for returned).  A standby,
 * or a promoted server until it has merged the table once more
 * (persist/), vouches for no HLC: it merges its primary's writes as their
 * rows come, not in the order of their HLCs, so one below its clock may
 * still come; its own log answers its cursors exactly, any other server a
 * scan of every register.  What we hold of peers is published by the
 * replication worker after their registers were merged, entries made.
 *
 * Text: "mc1-" and four 16-digit hex numbers: node, run, seq, held_ts.
 *
 * IDENTIFICATION	src/watch/cursor.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"

#include "mantis.h"
#include "clock.h"
#include "guc.h"
#include "nodes.h"
#include "store/changes.h"
#include "store/store.h"
#include "watch/feed.h"

#define CURSOR_PREFIX		"mc1-"
#define CURSOR_TEXT_LEN		(4 + 4 * 16 + 3)

void
mantis_cursor_now(MantisCursor *c)
{
	/*
	 * One below the clock as read: the next local write may take the very
	 * value read (a new millisecond's first HLC), and a scan returns only
	 * registers above held_ts.  A write that took it earlier comes again.
	 */
	uint64		held = mantis_clock_peek() - 1;
	MantisChangeBounds b;

	if (mantis_replication_enabled())
		held = mantis_changes_members_agree() ?
			Min(held, mantis_changes_peers_held()) : 0;
	held = Min(held, mantis_changes_expiries_held());
	if (RecoveryInProgress() || !mantis_store_is_writable())
		held = 0;
	mantis_store_write_barrier();
	mantis_changes_bounds(&b);
	c->node = mantis_self_node_id();
	c->run = b.run;
	c->seq = b.newest;
	c->held_ts = held;
}

char *
mantis_cursor_to_text(const MantisCursor *c)
{
	return psprintf(CURSOR_PREFIX "%016llx-%016llx-%016llx-%016llx",
					(unsigned long long) c->node, (unsigned long long) c->run,
					(unsigned long long) c->seq, (unsigned long long) c->held_ts);
}

static bool
parse_hex16(const char *p, uint64 *out)
{
	uint64		v = 0;

	for (int i = 0; i < 16; i++)
	{
		int			d;

		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64) d;
	}
	*out = v;
	return true;
}

/* Parse a cursor's text, or raise an ERROR saying it is not one */
void
mantis_cursor_parse(const char *text, MantisCursor *c)
{
	uint64		parts[4];
	const char *p = text;
	bool		ok = strlen(text) == CURSOR_TEXT_LEN &&
		strncmp(text, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) == 0;

	p += strlen(CURSOR_PREFIX);
	for (int i = 0; ok && i < 4; i++)
	{
		ok = parse_hex16(p, &parts[i]) && (i == 3 || p[16] == '-');
		p += 17;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mantis cursor: \"%s\"", text),
				 errhint("Pass a cursor that mantis_changes(), mantis_wait() or mantis_cursor() returned, or NULL to start from every live register.")));
	c->node = parts[0];
	c->run = parts[1];
	c->seq = parts[2];
	c->held_ts = parts[3];
}
