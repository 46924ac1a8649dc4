/*-------------------------------------------------------------------------
 * guc.c
 *	  Every mantis.* setting, in one place, with the checks that make a bad
 *	  value fail at server start or reload instead of later.
 *
 * The sizing settings fix the shared memory the server requests, so they
 * are PGC_POSTMASTER and only defined while mantis is being preloaded
 * (mantis.c does not call in here otherwise).
 *
 * IDENTIFICATION	src/guc.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "mantis.h"
#include "wire.h"

char	   *mantis_node_name = NULL;
int			mantis_max_keys = 100000;
int			mantis_store_memory_kb = 64 * 1024;
int			mantis_max_key_size = 1024;
int			mantis_max_value_size = 1024 * 1024;
char	   *mantis_database = NULL;
int			mantis_flush_interval_ms = 1000;
int			mantis_compact_rows = 1000;
int			mantis_load_timeout_ms = 10000;

/*
 * A node name is 1 to MANTIS_NODE_NAME_MAX characters out of letters,
 * digits, '.', '_' and '-': it appears in logs, in mantis_stores.node and
 * on the wire, so it stays printable and short.
 */
bool
mantis_node_name_is_valid(const char *name)
{
	return mantis_wire_name_is_valid(name, strlen(name));
}

static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	/* empty: derive a name from the system identifier at startup */
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!mantis_node_name_is_valid(*newval))
	{
		GUC_check_errdetail("A node name has 1 to %d characters, each a letter, a digit, \".\", \"_\" or \"-\".",
							MANTIS_NODE_NAME_MAX);
		return false;
	}
	return true;
}

void
mantis_define_gucs(void)
{
	DefineCustomStringVariable("mantis.node_name",
							   "Name of this server among its mantis peers.",
							   "Empty means a name derived from the system identifier. "
							   "The node id that orders concurrent writes is a hash of the name.",
							   &mantis_node_name,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_node_name, NULL, NULL);

	DefineCustomIntVariable("mantis.max_keys",
							"Most registers held in shared memory, deletion markers included.",
							NULL,
							&mantis_max_keys,
							100000,
							16, INT_MAX / 4,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.store_memory",
							"Shared memory for the keys and values of the registers.",
							"Each register also takes about 50 bytes of it for its header.",
							&mantis_store_memory_kb,
							64 * 1024,
							1024, MANTIS_STORE_MEMORY_CEILING_KB,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.max_key_size",
							"Longest key, in bytes.",
							NULL,
							&mantis_max_key_size,
							1024,
							1, MANTIS_KEY_SIZE_CEILING,
							PGC_POSTMASTER,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.max_value_size",
							"Longest value, in bytes.",
							NULL,
							&mantis_max_value_size,
							1024 * 1024,
							0, MANTIS_VALUE_SIZE_CEILING,
							PGC_POSTMASTER,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomStringVariable("mantis.database",
							   "Database whose mantis_stores table the worker uses.",
							   "The worker loads and flushes registers once CREATE EXTENSION mantis has run there.",
							   &mantis_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.flush_interval",
							"Time between flushes of changed registers to mantis_stores.",
							"0 turns periodic flushes off: only mantis_flush() and shutdown flush.",
							&mantis_flush_interval_ms,
							1000,
							0, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.compact_rows",
							"Rows of this node in mantis_stores beyond which a flush compacts them.",
							"A compacting flush writes every register and deletes the node's older rows.",
							&mantis_compact_rows,
							1000,
							1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.load_timeout",
							"How long a call waits for the worker to load the registers after a restart.",
							"After that it fails with \"mantis is loading\" rather than answer from a half-loaded store.",
							&mantis_load_timeout_ms,
							10000,
							0, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("mantis");
}
