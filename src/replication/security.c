/*-------------------------------------------------------------------------
 * replication/security.c
 *	  CURVE key material for replication: this server's key pair file, the
 *	  allow-list of peer keys, the checks that keep secrets secret, and
 *	  the one that keeps a server without CURVE on loopback.
 *
 * Closed by default: without CURVE, the postmaster refuses to start when
 * mantis.listen is not provably loopback, unless mantis.insecure_network
 * says every host that can reach it is trusted (mantis_endpoint_is_loopback
 * and check_listen_closed below).
 *
 * Settings name files, never key material: mantis.curve_secret_key_file
 * holds this server's key pair (written by the mantis_keygen command) and
 * must not be readable by group or world, which the postmaster checks at
 * start as PostgreSQL does for ssl_key_file; mantis.curve_peers_file lists
 * the peers allowed in, one per line:
 *
 *		NODE_NAME  PUBLIC_KEY  [ENDPOINT]
 *
 * where ENDPOINT, when this server connects to that peer, is the entry of
 * mantis.peers it is reached at (so that we know which server key to
 * expect there).  The ZeroMQ side of CURVE is in replication/transport.c.  The
 * replication worker keeps its key pair and the allow-list here (the
 * policy: who is allowed in, as which node, with which key at an
 * endpoint); what it does with a refusal (count it, log it) is
 * replication/protocol.c's.
 *
 * Keys are Z85 text (40 characters for 32 bytes), decoded here without
 * libzmq, so that this file can be used by the postmaster.
 *
 * IDENTIFICATION	src/replication/security.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "mantis.h"
#include "guc.h"
#include "common/frame.h"
#include "replication/security.h"

static const char z85_chars[] =
"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/*
 * Decode a 40-character Z85 key into 32 bytes; false if it is not one.
 */
bool
mantis_z85_decode_key(const char *text, unsigned char *key)
{
	if (strlen(text) != MANTIS_KEY_TEXT_LEN)
		return false;
	for (int i = 0; i < MANTIS_KEY_TEXT_LEN; i += 5)
	{
		uint64		value = 0;

		for (int j = 0; j < 5; j++)
		{
			const char *d = strchr(z85_chars, text[i + j]);

			if (text[i + j] == '\0' || d == NULL)
				return false;
			value = value * 85 + (uint64) (d - z85_chars);
		}
		if (value > PG_UINT32_MAX)
			return false;
		key[i / 5 * 4] = (unsigned char) (value >> 24);
		key[i / 5 * 4 + 1] = (unsigned char) (value >> 16);
		key[i / 5 * 4 + 2] = (unsigned char) (value >> 8);
		key[i / 5 * 4 + 3] = (unsigned char) value;
	}
	return true;
}

/* Split a line into at most "max" whitespace-separated words, in place. */
static int
split_words(char *line, char **words, int max)
{
	int			n = 0;
	char	   *p = line;

	while (*p)
	{
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			*p++ = '\0';
		if (*p == '\0' || *p == '#')
			break;
		if (n == max)
			return max + 1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
	}
	return n;
}

/*
 * Refuse a secret key file others may read, like PostgreSQL does for
 * ssl_key_file: owned by the server user with no group or world access, or
 * owned by root and readable by its group only.
 */
static bool
key_file_private(const char *path, char *error, size_t error_size)
{
	struct stat st;

	if (stat(path, &st) != 0)
	{
		snprintf(error, error_size, "could not access file \"%s\": %m", path);
		return false;
	}
	if (!S_ISREG(st.st_mode))
	{
		snprintf(error, error_size, "\"%s\" is not a regular file", path);
		return false;
	}
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0) ||
		(st.st_uid != geteuid() && st.st_uid != 0))
	{
		snprintf(error, error_size,
				 "\"%s\" has group or world access, or an owner other than the database user or root; "
				 "it must be mode 0600 or less if owned by the database user, 0640 or less if owned by root",
				 path);
		return false;
	}
	return true;
}

/*
 * Read this server's key pair: lines "public = KEY" and "secret = KEY".
 * Returns false with a reason; the reason never contains key material.
 */
bool
mantis_security_read_keypair(const char *path, MantisKeyPair *keys,
							 char *error, size_t error_size)
{
	FILE	   *f;
	char		line[256];
	bool		have_public = false,
				have_secret = false;
	int			lineno = 0;
	bool		ok = true;

	memset(keys, 0, sizeof(*keys));
	if (!key_file_private(path, error, error_size))
		return false;
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		snprintf(error, error_size, "could not open file \"%s\": %m", path);
		return false;
	}
	while (ok && fgets(line, sizeof(line), f) != NULL)
	{
		char	   *words[4];
		int			n = split_words(line, words, 3);
		unsigned char raw[32];

		lineno++;
		if (n == 0)
			continue;
		if (n != 3 || strcmp(words[1], "=") != 0 ||
			!mantis_z85_decode_key(words[2], raw) ||
			(strcmp(words[0], "public") != 0 && strcmp(words[0], "secret") != 0))
		{
			snprintf(error, error_size, "line %d of \"%s\" is not \"public = KEY\" or \"secret = KEY\"",
					 lineno, path);
			ok = false;
			break;
		}
		if (strcmp(words[0], "public") == 0)
		{
			strlcpy(keys->public_key, words[2], sizeof(keys->public_key));
			have_public = true;
		}
		else
		{
			strlcpy(keys->secret_key, words[2], sizeof(keys->secret_key));
			have_secret = true;
		}
		explicit_bzero(line, sizeof(line));
	}
	FreeFile(f);
	if (ok && !(have_public && have_secret))
	{
		snprintf(error, error_size, "\"%s\" lacks a %s key", path,
				 have_public ? "secret" : "public");
		ok = false;
	}
	if (!ok)
		explicit_bzero(keys, sizeof(*keys));
	return ok;
}

/*
 * Read the allow-list.  Returns the number of peers, or -1 with a reason.
 */
int
mantis_security_read_peers(const char *path, MantisPeerKey *peers, int max,
						   char *error, size_t error_size)
{
	FILE	   *f;
	char		line[1024];
	int			n = 0;
	int			lineno = 0;

	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		snprintf(error, error_size, "could not open file \"%s\": %m", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *words[4];
		int			count = split_words(line, words, 3);
		unsigned char raw[32];

		lineno++;
		if (count == 0)
			continue;
		if (count < 2 || count > 3 ||
			!mantis_codec_name_is_valid(words[0], strlen(words[0])) ||
			!mantis_z85_decode_key(words[1], raw) ||
			(count == 3 && !mantis_endpoint_is_valid(words[2], false)))
		{
			snprintf(error, error_size,
					 "line %d of \"%s\" is not \"NODE_NAME PUBLIC_KEY [ENDPOINT]\"", lineno, path);
			n = -1;
			break;
		}
		if (n == max)
		{
			snprintf(error, error_size, "\"%s\" lists more than %d peers", path, max);
			n = -1;
			break;
		}
		memset(&peers[n], 0, sizeof(MantisPeerKey));
		strlcpy(peers[n].name, words[0], sizeof(peers[n].name));
		strlcpy(peers[n].public_key, words[1], sizeof(peers[n].public_key));
		memcpy(peers[n].raw_key, raw, sizeof(raw));
		if (count == 3)
			strlcpy(peers[n].endpoint, words[2], sizeof(peers[n].endpoint));
		n++;
	}
	FreeFile(f);
	return n;
}

bool
mantis_curve_enabled(void)
{
	return mantis_curve_secret_key_file != NULL && mantis_curve_secret_key_file[0] != '\0';
}

/*
 * Whether only this machine can reach an endpoint we bind: ipc:// and
 * inproc://, or tcp:// on an address of 127.0.0.0/8 or on ::1 (or
 * ::ffff:127.x.x.x).  Only what is provably loopback counts: "*",
 * 0.0.0.0, an interface name and any host name are not, "localhost"
 * included: libzmq binds an address or an interface, never a host name,
 * so it takes "localhost" for the name of an interface (which may be any)
 * and, without one so named, fails to listen at all.
 */
bool
mantis_endpoint_is_loopback(const char *endpoint)
{
	const char *host;
	const char *colon;
	char		name[MANTIS_ENDPOINT_MAX];
	size_t		len;
	unsigned char addr[16];

	if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
		return true;
	if (strncmp(endpoint, "tcp://", 6) != 0)
		return false;
	host = endpoint + 6;
	colon = strrchr(host, ':');
	if (colon == NULL || colon - host >= (ptrdiff_t) sizeof(name))
		return false;
	len = colon - host;
	memcpy(name, host, len);
	name[len] = '\0';
	if (inet_pton(AF_INET, name, addr) == 1)
		return addr[0] == 127;
	if (len > 2 && name[0] == '[' && name[len - 1] == ']')
	{
		name[len - 1] = '\0';
		if (inet_pton(AF_INET6, name + 1, addr) != 1)
			return false;
		return IN6_IS_ADDR_LOOPBACK((struct in6_addr *) addr) ||
			(IN6_IS_ADDR_V4MAPPED((struct in6_addr *) addr) && addr[12] == 127);
	}
	return false;
}

/*
 * Closed by default: without CURVE, replication is neither authenticated
 * nor encrypted, so it may listen only where nobody but this machine can
 * connect, unless mantis.insecure_network says the network is trusted.
 */
static void
check_listen_closed(void)
{
	if (!mantis_replication_enabled() || mantis_curve_enabled() ||
		mantis_insecure_network || mantis_endpoint_is_loopback(mantis_listen))
		return;
	ereport(FATAL,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("mantis replication would listen on \"%s\", which is not a loopback address, without CURVE",
					mantis_listen),
			 errdetail("Anyone who can reach it could read and write the whole store."),
			 errhint("Set \"mantis.curve_secret_key_file\" and \"mantis.curve_peers_file\" (keys made by mantis_keygen), "
					 "or, only on a network where every host is trusted, \"mantis.insecure_network = on\".")));
}

/*
 * At server start: replication without CURVE listens on loopback only
 * (unless the network is declared trusted); with CURVE configured, the key
 * pair must be private and readable, and the allow-list readable, or the
 * server does not start.
 */
void
mantis_security_check_at_start(void)
{
	MantisKeyPair keys;
	MantisPeerKey *peers;
	char		error[MANTIS_ERROR_TEXT_SIZE * 2];

	check_listen_closed();
	if (!mantis_curve_enabled())
		return;
	if (!mantis_replication_enabled())
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"mantis.curve_secret_key_file\" is set but \"mantis.listen\" is not")));
	if (!mantis_security_read_keypair(mantis_curve_secret_key_file, &keys, error, sizeof(error)))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("invalid \"mantis.curve_secret_key_file\": %s", error),
				 errhint("Create the key pair with mantis_keygen and give it mode 0600.")));
	explicit_bzero(&keys, sizeof(keys));
	if (mantis_curve_peers_file == NULL || mantis_curve_peers_file[0] == '\0')
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("\"mantis.curve_peers_file\" must be set when \"mantis.curve_secret_key_file\" is")));
	peers = palloc(sizeof(MantisPeerKey) * MANTIS_MAX_PEERS);
	if (mantis_security_read_peers(mantis_curve_peers_file, peers, MANTIS_MAX_PEERS,
								   error, sizeof(error)) < 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("invalid \"mantis.curve_peers_file\": %s", error)));
	pfree(peers);
}

/* ---- the replication worker's keys and allow-list ---- */

/* In the replication worker, with CURVE: in TopMemoryContext */
static MantisKeyPair *my_keys = NULL;
static MantisPeerKey *allowed = NULL;
static int	allowed_count = 0;

/*
 * Read this server's key pair and the allow-list, once the worker starts;
 * an unreadable key pair is an ERROR (the worker is restarted).
 */
void
mantis_curve_load(void)
{
	char		error[MANTIS_ERROR_TEXT_SIZE * 2];

	if (!mantis_curve_enabled())
		return;
	my_keys = MemoryContextAlloc(TopMemoryContext, sizeof(MantisKeyPair));
	if (!mantis_security_read_keypair(mantis_curve_secret_key_file, my_keys,
									  error, sizeof(error)))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("invalid \"mantis.curve_secret_key_file\": %s", error)));
	mantis_curve_reload_peers();
}

/* This server's key pair, or NULL without CURVE */
const MantisKeyPair *
mantis_curve_keys(void)
{
	return my_keys;
}

/*
 * (Re-)read mantis.curve_peers_file.  On a bad file, keep the list we have
 * and say why: a typo must not lock every peer out.
 */
void
mantis_curve_reload_peers(void)
{
	MantisPeerKey *list;
	char		error[MANTIS_ERROR_TEXT_SIZE * 2];
	int			n;

	if (my_keys == NULL)
		return;
	list = MemoryContextAlloc(TopMemoryContext, sizeof(MantisPeerKey) * MANTIS_MAX_PEERS);
	n = mantis_security_read_peers(mantis_curve_peers_file, list,
								   MANTIS_MAX_PEERS, error, sizeof(error));
	if (n < 0)
	{
		ereport(WARNING,
				(errmsg("mantis kept its previous peer keys: invalid \"mantis.curve_peers_file\": %s", error)));
		pfree(list);
		return;
	}
	if (allowed)
		pfree(allowed);
	allowed = list;
	allowed_count = n;
}

/*
 * The key to expect at an endpoint ("" if none), and (into name, when not
 * NULL, MANTIS_NODE_NAME_MAX + 1 bytes) the node it is bound to.
 */
const char *
mantis_curve_key_for_endpoint(const char *endpoint, char *name)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (strcmp(allowed[i].endpoint, endpoint) == 0)
		{
			if (name)
				strlcpy(name, allowed[i].name, MANTIS_NODE_NAME_MAX + 1);
			return allowed[i].public_key;
		}
	}
	return "";
}

/* Whether a node is (still) in the allow-list */
bool
mantis_curve_name_allowed(const char *name)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (strcmp(allowed[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Whether a client's key is in the allow-list; if so, the node it is bound to */
bool
mantis_curve_key_allowed(const unsigned char *key, char *name, size_t name_size)
{
	for (int i = 0; i < allowed_count; i++)
	{
		if (memcmp(allowed[i].raw_key, key, 32) == 0)
		{
			strlcpy(name, allowed[i].name, name_size);
			return true;
		}
	}
	return false;
}
