/*-------------------------------------------------------------------------
 * replication/security.h
 *	  CURVE key files and the peers allow-list (replication/security.c).
 *
 * IDENTIFICATION	src/replication/security.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SECURITY_H
#define MANTIS_SECURITY_H

#include "mantis.h"

#define MANTIS_KEY_TEXT_LEN		40	/* Z85 text of a 32-byte key */

typedef struct MantisKeyPair
{
	char		public_key[MANTIS_KEY_TEXT_LEN + 1];
	char		secret_key[MANTIS_KEY_TEXT_LEN + 1];
} MantisKeyPair;

typedef struct MantisPeerKey
{
	char		name[MANTIS_NODE_NAME_MAX + 1];
	char		public_key[MANTIS_KEY_TEXT_LEN + 1];
	unsigned char raw_key[32];
	char		endpoint[MANTIS_ENDPOINT_MAX];	/* "" if we never connect to it */
} MantisPeerKey;

extern bool mantis_curve_enabled(void);
extern bool mantis_endpoint_is_loopback(const char *endpoint);
extern void mantis_security_check_at_start(void);
extern bool mantis_z85_decode_key(const char *text, unsigned char *key);
extern bool mantis_security_read_keypair(const char *path, MantisKeyPair *keys,
										 char *error, size_t error_size);
extern int	mantis_security_read_peers(const char *path, MantisPeerKey *peers,
									   int max, char *error, size_t error_size);

/* the replication worker's keys and allow-list */
extern void mantis_curve_load(void);
extern const MantisKeyPair *mantis_curve_keys(void);
extern void mantis_curve_reload_peers(void);
extern const char *mantis_curve_key_for_endpoint(const char *endpoint, char *name);
extern bool mantis_curve_name_allowed(const char *name);
extern bool mantis_curve_key_allowed(const unsigned char *key, char *name,
									 size_t name_size);

#endif							/* MANTIS_SECURITY_H */
