/*-------------------------------------------------------------------------
 * nodes.c
 *	  This server's identity, node ids, and the directory that turns ids
 *	  back into node names.
 *
 * A register carries only the 64-bit id of the node that wrote it.  The id
 * is a stable hash of the node's name, so it survives restarts and every
 * node derives the same id from the same name.  To show names, the
 * directory in shared memory remembers the names of this node and of the
 * peers it has met; an id it has never met is shown in hex.
 *
 * This server's name is mantis.node_name, or when that is empty one
 * derived from the system identifier, which is stable for the life of the
 * cluster; it is fixed when shared memory is made.
 *
 * Locking: the directory's spinlock (see locks.h) guards a copy of the
 * directory; the identity never changes once set.
 *
 * IDENTIFICATION	src/nodes.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "storage/spin.h"

#include "guc.h"
#include "nodes.h"
#include "common/keyhash.h"

/* This server's identity and the directory, in shared memory */
typedef struct NodesShared
{
	uint64		self_id;
	char		self_name[MANTIS_NODE_NAME_MAX + 1];

	slock_t		mutex;			/* guards count and nodes */
	int			count;
	MantisNodeEntry nodes[MANTIS_MAX_NODES];
} NodesShared;

static NodesShared *shared = NULL;

Size
mantis_nodes_shmem_size(void)
{
	return sizeof(NodesShared);
}

void
mantis_nodes_shmem_init(void *place, bool found)
{
	shared = (NodesShared *) place;
	if (found)
		return;
	memset(shared, 0, sizeof(NodesShared));
	SpinLockInit(&shared->mutex);
	if (mantis_node_name != NULL && mantis_node_name[0] != '\0')
		strlcpy(shared->self_name, mantis_node_name, sizeof(shared->self_name));
	else
		snprintf(shared->self_name, sizeof(shared->self_name),
				 "node-" UINT64_FORMAT, GetSystemIdentifier());
	shared->self_id = mantis_node_id_of(shared->self_name);
	mantis_nodes_remember(shared->self_id, shared->self_name);
}

uint64
mantis_self_node_id(void)
{
	return shared->self_id;
}

const char *
mantis_self_node_name(void)
{
	return shared->self_name;
}

uint64
mantis_node_id_of(const char *name)
{
	return mantis_hash(name, strlen(name));
}

/* A node id as shown when its name is unknown; buf has MANTIS_NODE_ID_TEXT_SIZE bytes */
char *
mantis_node_id_text(uint64 id, char *buf)
{
	snprintf(buf, MANTIS_NODE_ID_TEXT_SIZE, "%016llx", (unsigned long long) id);
	return buf;
}

/*
 * Remember the name of a node id.  A name that changes for a known id
 * replaces the old one; when the directory is full, the id stays nameless.
 */
void
mantis_nodes_remember(uint64 id, const char *name)
{
	NodesShared *dir = shared;
	int			i;

	SpinLockAcquire(&dir->mutex);
	for (i = 0; i < dir->count; i++)
	{
		if (dir->nodes[i].id == id)
			break;
	}
	if (i == dir->count && dir->count < MANTIS_MAX_NODES)
		dir->count++;
	if (i < dir->count)
	{
		dir->nodes[i].id = id;
		strlcpy(dir->nodes[i].name, name, sizeof(dir->nodes[i].name));
	}
	SpinLockRelease(&dir->mutex);
}

/*
 * The name of a node id, or its id in hex when the name is unknown.
 */
void
mantis_nodes_name(uint64 id, char *buf, size_t bufsize)
{
	NodesShared *dir = shared;
	bool		found = false;

	SpinLockAcquire(&dir->mutex);
	for (int i = 0; i < dir->count; i++)
	{
		if (dir->nodes[i].id == id)
		{
			strlcpy(buf, dir->nodes[i].name, bufsize);
			found = true;
			break;
		}
	}
	SpinLockRelease(&dir->mutex);

	if (!found)
	{
		char		text[MANTIS_NODE_ID_TEXT_SIZE];

		strlcpy(buf, mantis_node_id_text(id, text), bufsize);
	}
}

/*
 * Copy the directory (at most MANTIS_MAX_NODES entries) into "out";
 * returns the number of entries.
 */
int
mantis_nodes_copy(MantisNodeEntry *out)
{
	NodesShared *dir = shared;
	int			n;

	SpinLockAcquire(&dir->mutex);
	n = dir->count;
	memcpy(out, dir->nodes, sizeof(MantisNodeEntry) * n);
	SpinLockRelease(&dir->mutex);
	return n;
}
