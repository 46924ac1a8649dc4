/*-------------------------------------------------------------------------
 * replication/news.c
 *	  What a greeting to a peer would tell it that it does not know yet:
 *	  the acknowledgement of its writes, or our "stable", changed since our
 *	  last HELLO to it.
 *
 * A dead register is collected once every member's "stable" has passed it
 * (the rules R2 and R3 of common/rules.h, replication/horizon.c), which
 * takes, after each member's flush, a greeting each way.  Greetings go each
 * second; waiting for them kept an expired register a second or two longer
 * than the rules need, holding its room under mantis.max_keys.  So the
 * replication worker greets a peer at once when we have news for it
 * (replication/protocol.c, at most every NEWS_HELLO_MS), and ticks again at
 * once when a greeting changed what a peer acknowledged, so that our
 * "stable" and the collection horizon follow and the news goes on.  The
 * rules are the same; only the timers are gone: an acknowledgement still
 * covers only what its sender has flushed.
 *
 * IDENTIFICATION	src/replication/news.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mantis.h"
#include "common/rules.h"
#include "store/collect.h"
#include "replication/horizon.h"
#include "replication/news.h"
#include "replication/peers.h"

/* our "stable" as of the last tick, and whether a greeting came since */
static uint64 our_stable = 0;
static bool greeted_since_tick = false;

/* The tick worked out our "stable" (replication/horizon.c) */
void
mantis_news_stable(uint64 stable)
{
	our_stable = stable;
}

/* A greeting changed what a peer acknowledged, or its "stable" */
void
mantis_news_greeted(void)
{
	greeted_since_tick = true;
}

/* The tick has taken every greeting so far into account */
void
mantis_news_ticked(void)
{
	greeted_since_tick = false;
}

/* Whether the worker should tick again at once (see the file header) */
bool
mantis_news_retick(void)
{
	return greeted_since_tick;
}

/*
 * Whether a greeting to a peer would tell it something new that collection
 * waits for.  Peers of protocol 3 are acknowledged nothing
 * (replication/horizon.c): never.  Nor while no dead register waits, here
 * or, as every register goes everywhere, anywhere (mantis_collect_busy()):
 * idle, acknowledgements rise with the watermarks of the empty batches,
 * and greeting for that alone would double the traffic of an idle server.
 */
bool
mantis_news_for(const Peer *peer)
{
	if (peer->proto < MANTIS_RULES_PROTOCOL || !mantis_collect_busy())
		return false;
	return peer->acks.in_durable != peer->acks.told_acked ||
		our_stable != peer->acks.told_stable;
}

/* A HELLO went to the peer: what it said */
void
mantis_news_told(Peer *peer)
{
	peer->acks.told_acked = peer->acks.in_durable;
	peer->acks.told_stable = our_stable;
}
