/*-------------------------------------------------------------------------
 * replication/version.c
 *	  The replication protocol's version in use with each peer, and the
 *	  greetings that find it out (replication/protocol.c's conversation).
 *
 * Protocol versions.  A peer may run a library that speaks only version 3
 * (1.2, 1.3), and such a server drops anything else as malformed; so we
 * greet each peer in the version in use with it, Peer.proto: 3 until a frame
 * of higher version comes from it in its current incarnation (a restart, or
 * a silence that made it "down", starts over at 3), and never above
 * mantis.protocol_max.  To find out, a peer at 3 gets, besides its
 * greetings, one version-4 HELLO, a probe: at our first greeting after we
 * hear from an incarnation of it, then at most every PROBE_INTERVAL_MS while
 * it stays at 3.  A HELLO is answered in its own version, at most our
 * mantis.protocol_max; a version-4 peer answers the probe in 4, and from
 * then on both greet each other in 4 (a version-3 peer counts one malformed
 * message per probe).  Frames other than greetings are version 3 for every
 * peer (replication/outbox.c), but TOMBS, which goes only to a peer at 5.
 * Version 5 came the same way: a peer below our version (3 or 4) is probed
 * with a HELLO of our version; a server of version 4 (1.4) drops a version-5
 * probe as malformed, but probes us in 4 itself, and we answer in 4, so two
 * servers settle on the higher version both speak.  A server whose records
 * are off (mantis.max_dead_records = 0) speaks 4 at most (guc.c's
 * mantis_protocol_spoken()).  A peer that lowers its mantis.protocol_max
 * greets us in a lower version again (and answers our HELLOs in it): a
 * greeting of a version below the one in use, from a peer we have greeted in
 * it for more than PROTO_SETTLE_MS (so not one sent before it went up and
 * delivered late), brings it down to that version.  Lowering our own
 * mantis.protocol_max takes effect at the next greeting; raising it probes
 * every peer left below it at once.
 *
 * Runs in the replication worker.  Locking: none.
 *
 * IDENTIFICATION	src/replication/version.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mantis.h"
#include "guc.h"
#include "log_limit.h"
#include "common/frame.h"
#include "replication/outbox.h"
#include "replication/peers.h"
#include "replication/version.h"

#define PROBE_INTERVAL_MS		60000	/* HELLOs of our version to a peer below it */
#define PROTO_SETTLE_MS			5000	/* a version-3 greeting sooner after we
										 * went to 4 may predate it */

/* the mantis_protocol_spoken() (guc.c) the peers' versions were last capped at */
static int	protocol_max_applied = 0;

/* Set Peer.proto from what the peer speaks and mantis.protocol_max. */
static void
proto_update(Peer *peer, TimestampTz now)
{
	int			proto = Min(peer->proto_heard, mantis_protocol_spoken());

	if (proto == peer->proto)
		return;
	if (proto > peer->proto)
		peer->proto_since = now;
	peer->proto = proto;
	mantis_peer_changed();
	/* at most once a minute: frames of new incarnations could flip it */
	if (mantis_log_due(peer, "protocol"))
		ereport(LOG,
				(errmsg("mantis: replication protocol with peer %s is now version %d",
						mantis_peer_label(peer), proto),
				 errdetail("mantis_peers shows the version in use; a change within a minute of this one is not logged.")));
}

/* Back to version 3, until the peer's next frame starts over. */
void
mantis_version_forget(Peer *peer, TimestampTz now)
{
	peer->proto_known = false;
	peer->proto_heard = MANTIS_FRAME_VERSION_MIN;
	peer->proto_min = 0;
	peer->proto_max = 0;
	proto_update(peer, now);
}

/*
 * What a frame from a peer tells of the versions it speaks: a new
 * incarnation starts over at 3 (and is probed at our next greeting); a
 * frame of a higher version raises it; a greeting of a lower version,
 * from a peer we have greeted in ours for a while, lowers it (see the
 * file header).
 */
void
mantis_version_note(Peer *peer, const MantisFrame *f, TimestampTz now)
{
	bool		greeting = f->type == MANTIS_FRAME_HELLO || f->type == MANTIS_FRAME_WELCOME;

	if (peer == NULL)
		return;
	if (!peer->proto_known || peer->proto_incarnation != f->incarnation)
	{
		mantis_version_forget(peer, now);
		peer->proto_known = true;
		peer->proto_incarnation = f->incarnation;
		peer->last_probe = 0;
	}
	if (f->version > MANTIS_FRAME_VERSION_MIN)
	{
		peer->proto_heard = Max(peer->proto_heard, f->version);
		if (greeting && (peer->proto_min != f->greeting.proto_min ||
						 peer->proto_max != f->greeting.proto_max))
		{
			peer->proto_min = f->greeting.proto_min;
			peer->proto_max = f->greeting.proto_max;
			mantis_peer_changed();
		}
	}
	if (greeting && f->version < peer->proto &&
		TimestampDifferenceExceeds(peer->proto_since, now, PROTO_SETTLE_MS))
	{
		/* its mantis.protocol_max went down: what it advertised before goes */
		peer->proto_heard = f->version;
		if (f->version == MANTIS_FRAME_VERSION_MIN)
		{
			peer->proto_min = 0;
			peer->proto_max = 0;
		}
	}
	proto_update(peer, now);
}

/*
 * A new mantis.protocol_max (a reload) caps every peer at once; a higher
 * one probes the peers left at 3 at their next greeting.
 */
void
mantis_version_apply_max(TimestampTz now)
{
	bool		raised = mantis_protocol_spoken() > protocol_max_applied;

	if (mantis_protocol_spoken() == protocol_max_applied)
		return;
	for (int i = 0; i < MANTIS_MAX_PEERS; i++)
	{
		Peer	   *peer = &mantis_peer_table[i];

		if (!peer->used)
			continue;
		if (raised)
			peer->last_probe = 0;
		proto_update(peer, now);
	}
	protocol_max_applied = mantis_protocol_spoken();
}

/*
 * Whether a peer gets a probe with this greeting: it is at a version below
 * ours, we have heard from its current incarnation, and we have not probed
 * it for PROBE_INTERVAL_MS.
 */
static bool
probe_due(const Peer *peer, TimestampTz now)
{
	return peer->proto < mantis_protocol_spoken() && peer->proto_known &&
		(peer->last_probe == 0 ||
		 TimestampDifferenceExceeds(peer->last_probe, now, PROBE_INTERVAL_MS));
}

/* Greet a peer on our connection in its version, and probe it if due. */
void
mantis_version_greet(Peer *peer, TimestampTz now)
{
	proto_update(peer, now);
	mantis_outbox_hello(peer, peer->proto);
	mantis_outbox_send(peer);
	if (probe_due(peer, now))
	{
		mantis_outbox_hello(peer, mantis_protocol_spoken());
		mantis_outbox_send(peer);
		peer->last_probe = now;
	}
}
