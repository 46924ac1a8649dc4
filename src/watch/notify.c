/*-------------------------------------------------------------------------
 * watch/notify.c
 *	  NOTIFY for those who prefer LISTEN: while mantis.notify_channel is
 *	  set, the watch worker raises NOTIFY <channel>, '<key>' in
 *	  mantis.database for every key the change log names.
 *
 * The worker follows the log from the seq through which it notified, a
 * batch of at most NOTIFY_BATCH entries a pass, in a transaction of its
 * own, never the writer's: a write pays nothing for it but the SetLatch
 * of the watch worker (store/changes.c).  A key changed many times in a
 * batch is notified once (its newest change's place gives the order).
 * The notifications leave at the COMMIT of the batch, all or none, at
 * most one batch each NOTIFY_INTERVAL_MS.  The worker commits them with
 * synchronous_commit off: a notification does not outlive a crash anyway.
 *
 * The payload is the key.  An empty payload (no key is empty) means
 * "reload": entries were evicted from the log before the worker read
 * them, or a key cannot be a payload (NOTIFY_PAYLOAD_MAX bytes or more,
 * which mantis.max_key_size allows, or bytes the database's encoding
 * refuses, which a peer could send).  A listener that gets it reads the
 * keys it cares for again.
 *
 * Failures: an ERROR in the transaction (the NOTIFY queue full, say) is
 * logged and the transaction rolled back, which discards its
 * notifications; the same entries are tried again NOTIFY_RETRY_MS later,
 * and the waiters of mantis_wait() are served meanwhile.  If the worker
 * exits (SIGTERM, an ERROR elsewhere), the postmaster starts it again and
 * it resumes from the seq published in the log (mantis_changes_notified()),
 * so the changes applied while it was away are notified late, not lost;
 * if the log evicted them meanwhile, the reload marker says so.
 *
 * On a hot standby nobody can LISTEN nor NOTIFY: the worker skips the
 * entries.
 *
 * IDENTIFICATION	src/watch/notify.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "store/changes.h"
#include "watch/notify.h"

/* Entries read per transaction, at most: the rest waits for the next pass */
#define NOTIFY_BATCH		4096

/*
 * The least time between two NOTIFY transactions: each takes a
 * transaction id and the lock every NOTIFY of the cluster takes at
 * COMMIT, so under a steady stream of writes the worker raises at most
 * 1000 / NOTIFY_INTERVAL_MS of them a second, each for what came meanwhile.
 * The first change after a quiet spell goes at once.
 */
#define NOTIFY_INTERVAL_MS	10

/* After a failed transaction, the wait before the same entries are retried */
#define NOTIFY_RETRY_MS		5000

/*
 * The longest payload NOTIFY takes is one byte less than this: commands/
 * async.c's NOTIFY_PAYLOAD_MAX_LENGTH, which no header exports.
 */
#define NOTIFY_PAYLOAD_MAX	(BLCKSZ - NAMEDATALEN - 128)

/* The payload that means "reload": no key is empty */
#define NOTIFY_RELOAD		""

/* At the start of the watch worker */
void
mantis_notify_init(MantisNotify *n)
{
	memset(n, 0, sizeof(*n));
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	mantis_notify_configure(n);
}

/*
 * After a reload of the settings, and at the start: follow the log while
 * a channel is set.  A worker that starts resumes where the one before it
 * stopped, if that one followed the log; otherwise the notifications
 * begin with the changes applied from now on.
 */
void
mantis_notify_configure(MantisNotify *n)
{
	bool		on = mantis_notify_channel != NULL && mantis_notify_channel[0] != '\0';

	if (on)
		strlcpy(n->channel, mantis_notify_channel, sizeof(n->channel));
	if (on && !n->on)
	{
		MantisChangeBounds b;
		uint64		seq;

		mantis_changes_bounds(&b);
		if (!mantis_changes_notify_following(&seq) || seq > b.newest)
			seq = b.newest;
		n->seq = seq;
		n->next_at = 0;
		mantis_changes_notify_follow(true, seq);
	}
	else if (!on)
		mantis_changes_notify_follow(false, 0);
	n->on = on;
}

/* Order of the keys, and of one key's entries by seq */
static int
key_cmp(const void *a, const void *b)
{
	const MantisChange *x = *(const MantisChange *const *) a;
	const MantisChange *y = *(const MantisChange *const *) b;
	int			c = memcmp(x->key, y->key, Min(x->key_len, y->key_len));

	if (c != 0)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

static int
seq_cmp(const void *a, const void *b)
{
	const MantisChange *x = *(const MantisChange *const *) a;
	const MantisChange *y = *(const MantisChange *const *) b;

	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

static bool
same_key(const MantisChange *x, const MantisChange *y)
{
	return x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

/* Whether NOTIFY can carry the key as its payload, unchanged */
static bool
payload_ok(const MantisChange *c)
{
	return c->key_len < NOTIFY_PAYLOAD_MAX &&
		memchr(c->key, '\0', c->key_len) == NULL &&
		pg_verifymbstr(c->key, (int) c->key_len, true);
}

/*
 * The payloads of a batch: each key once, in the order of its newest
 * change, and the reload marker first if *reload or a key cannot be a
 * payload.  Returns their number.
 */
static int
batch_payloads(const MantisChangeCopy *changes, bool reload, const char ***out)
{
	const MantisChange **byk = palloc(sizeof(MantisChange *) * Max(changes->n, 1));
	const char **payloads;
	int			nkeys = 0;
	int			n = 0;

	for (int i = 0; i < changes->n; i++)
		byk[i] = &changes->entries[i];
	qsort(byk, changes->n, sizeof(MantisChange *), key_cmp);
	/* keep the newest entry of each key: the last of its run */
	for (int i = 0; i < changes->n; i++)
	{
		if (i + 1 < changes->n && same_key(byk[i], byk[i + 1]))
			continue;
		if (payload_ok(byk[i]))
			byk[nkeys++] = byk[i];
		else
			reload = true;
	}
	qsort(byk, nkeys, sizeof(MantisChange *), seq_cmp);
	payloads = palloc(sizeof(char *) * (nkeys + 1));
	if (reload)
		payloads[n++] = NOTIFY_RELOAD;
	for (int i = 0; i < nkeys; i++)
		payloads[n++] = pnstrdup(byk[i]->key, byk[i]->key_len);
	*out = payloads;
	return n;
}

/*
 * One transaction that raises the notifications and commits.  False if
 * it failed: the ERROR is logged and the transaction rolled back, with
 * its notifications.
 */
static bool
send_batch(const char *channel, const char **payloads, int n)
{
	MemoryContext old = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "mantis NOTIFY");
	PG_TRY();
	{
		for (int i = 0; i < n; i++)
			Async_Notify(channel, payloads[i]);
		if (unlikely(mantis_debug_fail_notify))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("mantis NOTIFY failed"),
					 errdetail("Failed on request by \"mantis.debug_fail_notify\".")));
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(old);
		EmitErrorReport();
		AbortCurrentTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* Every entry through seq is notified (or skipped, on a standby) */
static void
advance(MantisNotify *n, uint64 seq)
{
	n->seq = seq;
	mantis_changes_notified(seq);
}

/*
 * One pass: notify the keys of the entries after n->seq, a batch of them.
 * Returns 0 if entries are left for another pass at once, the ms to wait
 * before the next pass if entries wait for it, -1 if none does.
 */
long
mantis_notify_pass(MantisNotify *n, MemoryContext cxt)
{
	TimestampTz now;
	MantisChangeBounds b;
	MantisChangeCopy changes;
	MemoryContext old;
	uint64		after;
	uint64		upto;
	bool		reload = false;
	const char **payloads;
	int			npayloads;

	if (!n->on)
		return -1;
	mantis_changes_bounds(&b);
	if (b.newest <= n->seq)
		return -1;
	if (RecoveryInProgress())
	{
		advance(n, b.newest);	/* nobody can LISTEN on a standby */
		return -1;
	}
	now = GetCurrentTimestamp();
	if (now < n->next_at)
		return Max(1, (long) ((n->next_at - now + 999) / 1000));

	after = n->seq;
	if (after + 1 < b.oldest)
	{
		reload = true;			/* evicted before we read them */
		after = b.oldest - 1;
	}
	upto = Min(b.newest, after + NOTIFY_BATCH);
	old = MemoryContextSwitchTo(cxt);
	if (!mantis_changes_copy(after, upto, &changes))
	{
		/* evicted while we read them: the reload covers all to now */
		reload = true;
		upto = b.newest;
	}
	npayloads = batch_payloads(&changes, reload, &payloads);
	MemoryContextSwitchTo(old);

	if (!send_batch(n->channel, payloads, npayloads))
	{
		MemoryContextReset(cxt);
		n->next_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), NOTIFY_RETRY_MS);
		ereport(LOG,
				(errmsg("mantis watch will notify the changes after seq " UINT64_FORMAT " in %d ms",
						n->seq, NOTIFY_RETRY_MS)));
		return NOTIFY_RETRY_MS;
	}
	MemoryContextReset(cxt);
	n->next_at = TimestampTzPlusMilliseconds(now, NOTIFY_INTERVAL_MS);
	advance(n, upto);
	return upto < b.newest ? NOTIFY_INTERVAL_MS : -1;
}
