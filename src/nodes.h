/*-------------------------------------------------------------------------
 * nodes.h
 *	  This server's identity, node ids, and the directory of the names they
 *	  stand for (nodes.c).
 *
 * IDENTIFICATION	src/nodes.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_NODES_H
#define MANTIS_NODES_H

#include "mantis.h"

typedef struct MantisNodeEntry
{
	uint64		id;
	char		name[MANTIS_NODE_NAME_MAX + 1];
} MantisNodeEntry;

/* "0123456789abcdef" and a NUL: how a node id without a name is shown */
#define MANTIS_NODE_ID_TEXT_SIZE	17

extern Size mantis_nodes_shmem_size(void);
extern void mantis_nodes_shmem_init(void *place, bool found);

extern uint64 mantis_self_node_id(void);
extern const char *mantis_self_node_name(void);
extern uint64 mantis_node_id_of(const char *name);
extern char *mantis_node_id_text(uint64 id, char *buf);
extern void mantis_nodes_remember(uint64 id, const char *name);
extern void mantis_nodes_name(uint64 id, char *buf, size_t bufsize);
extern int	mantis_nodes_copy(MantisNodeEntry *out);

#endif							/* MANTIS_NODES_H */
