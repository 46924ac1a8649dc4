/*-------------------------------------------------------------------------
 * replication/inbound.c
 *	  The count of connections admitted to our listener, which
 *	  mantis.max_inbound_connections bounds (replication/gate.c).
 *
 * libzmq tells three things, none tied to the others: the listener's
 * monitor says which file descriptor was accepted and which was closed;
 * the ZAP handler admits a handshake, but does not learn its descriptor;
 * and each message the listener receives names the descriptor it came
 * from (ZMQ_SRCFD, replication/transport.c).  Every peer speaks at once
 * once admitted (its greeting), so a connection is known to be admitted
 * from its first message on: it is counted by its descriptor, and its
 * closing gives its place back exactly, whatever else is open.  An
 * admission not yet matched to a descriptor is a token ("pending"): its
 * connection's first message turns it into a known connection.
 *
 * Each descriptor is FREE, OPEN (accepted, not heard from), SPOKE (heard
 * from: admitted) or GONE (closed before we read a message from it).  The
 * count is the SPOKE descriptors plus the tokens.  A token whose
 * connection closed before we read its first message is used up by that
 * message, read later (GONE, then FREE).  Tokens never outnumber the
 * descriptors that may hold one, OPEN and GONE: a GONE one holds its place
 * until the listener has been read empty since its closing was told
 * (mantis_inbound_settled(): libzmq queues a connection's messages before
 * it tells its closing, so none can come after), then its token, if it
 * had one, is dropped.  So strangers who never finish a handshake, however
 * many, hold no peer's place, peers that come and go do not leak places,
 * and a connection that speaks and leaves at once does not take the place
 * of another still open (it did when the tokens were cut to the OPEN ones
 * at its closing, before its message was read: its message then used up
 * a token of a silent admitted connection, and the limit admitted one
 * connection more each time).
 *
 * What stays inexact, and how it heals: a message read after its
 * descriptor was closed and reused takes the new connection for admitted
 * (the count is one too high, until it closes; if it took a silent
 * admitted connection's token, one too low, until that one speaks).
 *
 * The worker alone calls this, through the gate: no locking.
 *
 * IDENTIFICATION	src/replication/inbound.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "replication/inbound.h"

/* descriptors past this are not followed (RLIMIT_NOFILE is far lower) */
#define MAX_FD				(1 << 20)

#define FD_FREE				0
#define FD_OPEN				1
#define FD_SPOKE			2
#define FD_GONE				3

/* Forget everything: the listener is (re)made, or gone. */
void
mantis_inbound_reset(MantisInbound *in)
{
	if (in->state)
		pfree(in->state);
	memset(in, 0, sizeof(*in));
}

/* Make room for descriptor fd; false if it is not followed. */
static bool
room_for(MantisInbound *in, int fd)
{
	int			size;

	if (fd < 0 || fd >= MAX_FD)
		return false;
	if (fd < in->size)
		return true;
	size = Min(Max(fd + 1, in->size * 2), MAX_FD);
	if (in->state == NULL)
		in->state = MemoryContextAllocZero(TopMemoryContext, size);
	else
	{
		in->state = repalloc(in->state, size);
		memset(in->state + in->size, FD_FREE, size - in->size);
	}
	in->size = size;
	return true;
}

/* The listener accepted a connection on fd. */
void
mantis_inbound_accepted(MantisInbound *in, int fd)
{
	if (!room_for(in, fd) || in->state[fd] == FD_OPEN || in->state[fd] == FD_SPOKE)
		return;
	if (in->state[fd] == FD_GONE)
	{
		/* reused: no message of the old connection is still to come */
		in->gone--;
		in->pending = Min(in->pending, in->open - in->spoke + in->gone);
	}
	in->state[fd] = FD_OPEN;
	in->open++;
}

/* The connection on fd is gone.  Returns whether the count changed. */
bool
mantis_inbound_closed(MantisInbound *in, int fd)
{
	int			before = mantis_inbound_count(in);

	if (fd < 0 || fd >= in->size ||
		(in->state[fd] != FD_OPEN && in->state[fd] != FD_SPOKE))
		return false;
	in->open--;
	if (in->state[fd] == FD_SPOKE)
	{
		in->spoke--;
		in->state[fd] = FD_FREE;
	}
	else
	{
		in->state[fd] = FD_GONE;
		in->gone++;
	}
	return mantis_inbound_count(in) != before;
}

/*
 * The listener has no message left to read, and every closing the monitor
 * told so far was served before: no GONE descriptor has a message still to
 * come, and a token none can use up goes (no more tokens than silent
 * connections still open).  Returns whether the count changed.
 */
bool
mantis_inbound_settled(MantisInbound *in)
{
	int			before = mantis_inbound_count(in);

	if (in->gone == 0)
		return false;
	for (int fd = 0; fd < in->size; fd++)
	{
		if (in->state[fd] == FD_GONE)
			in->state[fd] = FD_FREE;
	}
	in->gone = 0;
	in->pending = Min(in->pending, in->open - in->spoke);
	return mantis_inbound_count(in) != before;
}

/* The ZAP handler admitted a handshake. */
void
mantis_inbound_admitted(MantisInbound *in)
{
	in->pending++;
}

/*
 * The listener read a message from fd: the connection there was admitted.
 * Returns whether the count changed.
 */
bool
mantis_inbound_spoke(MantisInbound *in, int fd)
{
	int			before = mantis_inbound_count(in);

	if (fd < 0 || fd >= in->size)
		return false;
	switch (in->state[fd])
	{
		case FD_OPEN:
			in->state[fd] = FD_SPOKE;
			in->spoke++;
			if (in->pending > 0)
				in->pending--;
			break;
		case FD_GONE:
			/* closed before we heard it: its token is used up */
			in->state[fd] = FD_FREE;
			in->gone--;
			if (in->pending > 0)
				in->pending--;
			break;
		default:
			break;
	}
	return mantis_inbound_count(in) != before;
}

/* The connections admitted now. */
int
mantis_inbound_count(const MantisInbound *in)
{
	return in->spoke + in->pending;
}
