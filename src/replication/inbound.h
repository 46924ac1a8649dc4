/*-------------------------------------------------------------------------
 * replication/inbound.h
 *	  The count of connections admitted to our listener, which
 *	  mantis.max_inbound_connections bounds (replication/inbound.c); the
 *	  listener's gate (replication/gate.c) owns one and feeds it.
 *
 * IDENTIFICATION	src/replication/inbound.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_INBOUND_H
#define MANTIS_INBOUND_H

typedef struct MantisInbound
{
	uint8	   *state;			/* by file descriptor: FREE, OPEN, SPOKE, GONE */
	int			size;			/* descriptors "state" covers */
	int			open;			/* OPEN and SPOKE */
	int			spoke;			/* SPOKE */
	int			gone;			/* GONE */
	int			pending;		/* admissions not matched to a descriptor */
} MantisInbound;

extern void mantis_inbound_reset(MantisInbound *in);
extern void mantis_inbound_accepted(MantisInbound *in, int fd);
extern bool mantis_inbound_closed(MantisInbound *in, int fd);
extern void mantis_inbound_admitted(MantisInbound *in);
extern bool mantis_inbound_spoke(MantisInbound *in, int fd);
extern bool mantis_inbound_settled(MantisInbound *in);
extern int	mantis_inbound_count(const MantisInbound *in);

#endif							/* MANTIS_INBOUND_H */
