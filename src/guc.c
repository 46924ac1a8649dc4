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
#include "guc.h"
#include "common/frame.h"

char	   *mantis_node_name = NULL;
int			mantis_max_keys = 100000;
int			mantis_max_dead_records = 100000;
int			mantis_store_memory_kb = 64 * 1024;
int			mantis_watch_memory_kb = 8 * 1024;
char	   *mantis_notify_channel = NULL;
int			mantis_max_key_size = 1024;
int			mantis_max_value_size = 1024 * 1024;
char	   *mantis_database = NULL;
int			mantis_flush_interval_ms = 1000;
int			mantis_compact_rows = 1000;
int			mantis_load_timeout_ms = 10000;
bool		mantis_transactional = true;
char	   *mantis_listen = NULL;
char	   *mantis_peer_endpoints = NULL;	/* mantis.peers */
int			mantis_sync_interval_ms = 15000;
int			mantis_max_clock_offset_ms = 500;
int			mantis_peer_timeout_ms = 5000;
int			mantis_tombstone_lifetime_s = 3600;
int			mantis_protocol_max = MANTIS_FRAME_VERSION_MAX;
int			mantis_debug_clock_offset_ms = 0;
bool		mantis_debug_fail_flush = false;
bool		mantis_debug_fail_notify = false;
char	   *mantis_curve_secret_key_file = NULL;
char	   *mantis_curve_peers_file = NULL;
bool		mantis_insecure_network = false;
int			mantis_max_inbound_connections = 64;

/*
 * A node name is 1 to MANTIS_NODE_NAME_MAX characters out of letters,
 * digits, '.', '_' and '-': it appears in logs, in mantis_stores.node and
 * on the wire, so it stays printable and short.
 */
bool
mantis_node_name_is_valid(const char *name)
{
	return mantis_codec_name_is_valid(name, strlen(name));
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

/* Replication runs when this server listens for its peers. */
bool
mantis_replication_enabled(void)
{
	return mantis_listen != NULL && mantis_listen[0] != '\0';
}

static bool
all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

/*
 * A ZeroMQ endpoint we accept: tcp://HOST:PORT (HOST a name, an IPv4
 * address, [an IPv6 address], or "*" when binding) or ipc://PATH.
 */
bool
mantis_endpoint_is_valid(const char *endpoint, bool for_bind)
{
	size_t		len = strlen(endpoint);

	if (len >= MANTIS_ENDPOINT_MAX)
		return false;
	if (strncmp(endpoint, "ipc://", 6) == 0)
		return len > 6;
	if (strncmp(endpoint, "tcp://", 6) == 0)
	{
		const char *host = endpoint + 6;
		const char *colon = strrchr(host, ':');
		size_t		host_len;
		long		port;

		if (colon == NULL || !all_digits(colon + 1, strlen(colon + 1)) ||
			strlen(colon + 1) > 5)
			return false;
		port = strtol(colon + 1, NULL, 10);
		if (port < 1 || port > 65535)
			return false;
		host_len = colon - host;
		if (host_len == 1 && host[0] == '*')
			return for_bind;
		if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']')
			return true;
		if (host_len == 0)
			return false;
		for (size_t i = 0; i < host_len; i++)
		{
			char		c = host[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '.' || c == '-'))
				return false;
		}
		return true;
	}
	return false;
}

/*
 * Split mantis.peers into endpoints.  Returns the number found, or -1 with
 * a reason in *error.
 */
int
mantis_parse_peers(const char *list, char (*endpoints)[MANTIS_ENDPOINT_MAX],
				   const char **error)
{
	int			n = 0;
	const char *p = list ? list : "";

	while (*p)
	{
		const char *start;
		size_t		len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		len = p - start;
		if (n == MANTIS_MAX_CONFIGURED_PEERS)
		{
			*error = "too many peers";
			return -1;
		}
		if (len >= MANTIS_ENDPOINT_MAX)
		{
			*error = "an endpoint is too long";
			return -1;
		}
		memcpy(endpoints[n], start, len);
		endpoints[n][len] = '\0';
		if (!mantis_endpoint_is_valid(endpoints[n], false))
		{
			*error = "an endpoint is not of the form tcp://HOST:PORT or ipc://PATH";
			return -1;
		}
		for (int i = 0; i < n; i++)
		{
			if (strcmp(endpoints[i], endpoints[n]) == 0)
			{
				*error = "an endpoint is listed twice";
				return -1;
			}
		}
		n++;
	}
	return n;
}

static bool
check_listen(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!mantis_endpoint_is_valid(*newval, true))
	{
		GUC_check_errdetail("\"mantis.listen\" must be empty, tcp://HOST:PORT or ipc://PATH, e.g. tcp://127.0.0.1:7701.");
		return false;
	}
	return true;
}

/*
 * A NOTIFY channel: 1 to NAMEDATALEN - 1 lower-case letters, digits and
 * '_', not starting with a digit, so that "LISTEN channel" names it
 * unquoted (an unquoted name is folded to lower case).
 */
static bool
notify_channel_is_valid(const char *s)
{
	size_t		len = strlen(s);

	if (len == 0 || len >= NAMEDATALEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' ||
			  (i > 0 && s[i] >= '0' && s[i] <= '9')))
			return false;
	}
	return true;
}

static bool
check_notify_channel(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;			/* off */
	if (!notify_channel_is_valid(*newval))
	{
		GUC_check_errdetail("A channel has 1 to %d characters, each a lower-case letter, a digit or \"_\", and does not start with a digit.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

static bool
check_peers(char **newval, void **extra, GucSource source)
{
	char		endpoints[MANTIS_MAX_CONFIGURED_PEERS][MANTIS_ENDPOINT_MAX];
	const char *error = NULL;

	if (mantis_parse_peers(*newval, endpoints, &error) < 0)
	{
		GUC_check_errdetail("\"mantis.peers\" is a comma-separated list of at most %d endpoints tcp://HOST:PORT or ipc://PATH: %s.",
							MANTIS_MAX_CONFIGURED_PEERS, error);
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

	DefineCustomIntVariable("mantis.max_dead_records",
							"Most records of dead registers held off mantis.max_keys (issue 20, R7).",
							"Each takes about 60 bytes of shared memory, and the budget is "
							"shared evenly by 128 partitions (rounded up to a multiple of 128).  "
							"0 holds none, and the server then speaks protocol 4 at most.  "
							"Records are made only with "
							"mantis.protocol_max 5 (src/store/DEAD.md).",
							&mantis_max_dead_records,
							100000,
							0, INT_MAX / 4,
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

	DefineCustomIntVariable("mantis.watch_memory",
							"Shared memory for the change log that mantis_changes() and mantis_wait() read.",
							"Each change applied takes about 48 bytes and its key.  A cursor older than "
							"the oldest change held is answered by a scan of the store.",
							&mantis_watch_memory_kb,
							8 * 1024,
							64, 1024 * 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("mantis.notify_channel",
							   "Channel on which the watch worker raises NOTIFY for each key changed.",
							   "Empty turns it off.  The payload is the key, or an empty string "
							   "meaning \"reload\" (changes were lost, or a key cannot be a payload).",
							   &mantis_notify_channel,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_notify_channel, NULL, NULL);

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

	DefineCustomBoolVariable("mantis.transactional",
							 "Whether mantis_set and mantis_delete wait for COMMIT.",
							 "On, a transaction's writes are applied at COMMIT under one HLC, all or none, and discarded by ROLLBACK; off, each applies at once.",
							 &mantis_transactional,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("mantis.listen",
							   "ZeroMQ endpoint where this server listens for its peers.",
							   "Empty turns replication off. Example: tcp://127.0.0.1:7701.",
							   &mantis_listen,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_listen, NULL, NULL);

	DefineCustomStringVariable("mantis.peers",
							   "Comma-separated ZeroMQ endpoints of the other servers.",
							   "A reload adds and removes peers.",
							   &mantis_peer_endpoints,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_peers, NULL, NULL);

	DefineCustomIntVariable("mantis.sync_interval",
							"Average time between repair rounds with each peer.",
							"Each round waits a random 75% to 125% of this.",
							&mantis_sync_interval_ms,
							15000,
							100, 24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.tombstone_lifetime",
							"How long a deletion marker or an expired register is kept for a peer that does not acknowledge it.",
							"Markers every peer acknowledged are collected at once; after this long they are collected anyway, and a server out of touch for longer gives up, on its return, the registers its peers may have collected the deletion of.",
							&mantis_tombstone_lifetime_s,
							3600,
							1, 365 * 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.protocol_max",
							"Highest replication protocol version this server speaks.",
							"Version 5 (hash tombstones of dead registers) only with mantis.max_dead_records above 0.  Set it to 4 before going back to a library without protocol 5, 3 before one older than 1.4; a lower value takes effect at the next greeting of each peer.",
							&mantis_protocol_max,
							MANTIS_FRAME_VERSION_MAX,
							MANTIS_FRAME_VERSION_MIN, MANTIS_FRAME_VERSION_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.max_clock_offset",
							"How far ahead of this server's clock a peer's register may be.",
							"Registers further ahead are rejected, so a fast clock cannot win every write.",
							&mantis_max_clock_offset_ms,
							500,
							1, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.peer_timeout",
							"Silence after which a peer counts as down.",
							"Peers greet each other every second; a peer that answers again after this is repaired at once.",
							&mantis_peer_timeout_ms,
							5000,
							1000, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("mantis.curve_secret_key_file",
							   "File holding this server's CURVE key pair; empty: no encryption.",
							   "Written by mantis_keygen; must not be readable by group or world.",
							   &mantis_curve_secret_key_file,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("mantis.curve_peers_file",
							   "File listing the peers allowed to replicate with this server.",
							   "One line per peer: NODE_NAME PUBLIC_KEY [ENDPOINT]. A reload re-reads it.",
							   &mantis_curve_peers_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("mantis.insecure_network",
							 "Whether replication may listen beyond loopback without CURVE.",
							 "Without CURVE, anyone who can reach \"mantis.listen\" can read and write the whole store. "
							 "Off, a server whose \"mantis.listen\" is not a loopback address refuses to start unless "
							 "\"mantis.curve_secret_key_file\" is set; turn it on only on a network where every host is trusted.",
							 &mantis_insecure_network,
							 false,
							 PGC_POSTMASTER,
							 GUC_SUPERUSER_ONLY,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.max_inbound_connections",
							"Most connections to \"mantis.listen\" open at once.",
							"A connection beyond it is refused at its handshake and counted. Each peer that lists this server holds one.",
							&mantis_max_inbound_connections,
							64,
							1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mantis.debug_clock_offset",
							"For tests: shifts the wall clock mantis reads by this much.",
							"Simulates a server whose clock is wrong; leave it at 0.",
							&mantis_debug_clock_offset_ms,
							0,
							-24 * 3600 * 1000, 24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("mantis.debug_fail_flush",
							 "For tests: every flush fails as if out of memory while building its rows.",
							 "Shows that a failed flush loses nothing and leaves no lock behind; leave it off.",
							 &mantis_debug_fail_flush,
							 false,
							 PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("mantis.debug_fail_notify",
							 "For tests: every NOTIFY transaction of the watch worker fails before it commits.",
							 "Shows that the keys of a failed transaction are notified once it succeeds again; leave it off.",
							 &mantis_debug_fail_notify,
							 false,
							 PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("mantis");
}

/*
 * The highest version we speak: mantis.protocol_max, but 4 at most while
 * records are off (mantis.max_dead_records = 0): version 5 is the one whose
 * repair answers carry hash tombstones (R7), and a server that could not
 * hold them would refuse each one, for lack of room, in every round.
 */
int
mantis_protocol_spoken(void)
{
	if (mantis_max_dead_records == 0)
		return Min(mantis_protocol_max, MANTIS_FRAME_VERSION_TOMBS - 1);
	return mantis_protocol_max;
}
