/*-------------------------------------------------------------------------
 * nodes.c
 *	  Node ids, and the directory that turns them back into node names.
 *
 * A register carries only the 64-bit id of the node that wrote it.  The id
 * is a stable hash of the node's name, so it survives restarts and every
 * node derives the same id from the same name.  To show names, the
 * directory in shared memory remembers the names of this node and of the
 * peers it has met; an id it has never met is shown in hex.
 *
 * Locking: the directory's spinlock guards a copy of at most one entry.
 *
 * IDENTIFICATION	src/nodes.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mantis.h"

uint64
mantis_node_id_of(const char *name)
{
	return mantis_hash(name, strlen(name));
}

void
mantis_nodes_init(MantisNodeDirectory *dir)
{
	SpinLockInit(&dir->mutex);
	dir->count = 0;
}

/*
 * Remember the name of a node id.  A name that changes for a known id
 * replaces the old one; when the directory is full, the id stays nameless.
 */
void
mantis_nodes_remember(uint64 id, const char *name)
{
	MantisNodeDirectory *dir = &mantis_shared->nodes;
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
	MantisNodeDirectory *dir = &mantis_shared->nodes;
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
		snprintf(buf, bufsize, "%016" INT64_MODIFIER "x", id);
}

/*
 * Copy the directory (at most MANTIS_MAX_NODES entries) into "out";
 * returns the number of entries.
 */
int
mantis_nodes_copy(MantisNodeEntry *out)
{
	MantisNodeDirectory *dir = &mantis_shared->nodes;
	int			n;

	SpinLockAcquire(&dir->mutex);
	n = dir->count;
	memcpy(out, dir->nodes, sizeof(MantisNodeEntry) * n);
	SpinLockRelease(&dir->mutex);
	return n;
}
