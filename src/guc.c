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

char	   *mantis_node_name = NULL;
int			mantis_max_keys = 100000;
int			mantis_store_memory_kb = 64 * 1024;
int			mantis_max_key_size = 1024;
int			mantis_max_value_size = 1024 * 1024;

/*
 * A node name is 1 to MANTIS_NODE_NAME_MAX characters out of letters,
 * digits, '.', '_' and '-': it appears in logs, in mantis_stores.node and
 * on the wire, so it stays printable and short.
 */
bool
mantis_node_name_is_valid(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > MANTIS_NODE_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	}
	return true;
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

	MarkGUCPrefixReserved("mantis");
}
