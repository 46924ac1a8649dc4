/*-------------------------------------------------------------------------
 * guc.h
 *	  Every mantis.* setting (guc.c) and the checks other modules share.
 *
 * IDENTIFICATION	src/guc.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_GUC_H
#define MANTIS_GUC_H

#include "mantis.h"

extern char *mantis_node_name;
extern int	mantis_max_keys;
extern int	mantis_max_dead_records;
extern int	mantis_store_memory_kb;
extern int	mantis_watch_memory_kb;
extern char *mantis_notify_channel;
extern int	mantis_max_key_size;
extern int	mantis_max_value_size;
extern char *mantis_database;
extern int	mantis_flush_interval_ms;
extern int	mantis_compact_rows;
extern int	mantis_load_timeout_ms;
extern bool mantis_transactional;
extern char *mantis_listen;
extern char *mantis_peer_endpoints;	/* mantis.peers */
extern int	mantis_sync_interval_ms;
extern int	mantis_max_clock_offset_ms;
extern int	mantis_peer_timeout_ms;
extern int	mantis_tombstone_lifetime_s;
extern int	mantis_protocol_max;
extern int	mantis_debug_clock_offset_ms;
extern bool mantis_debug_fail_flush;
extern bool mantis_debug_fail_notify;
extern char *mantis_curve_secret_key_file;
extern char *mantis_curve_peers_file;
extern bool mantis_insecure_network;
extern int	mantis_max_inbound_connections;

extern void mantis_define_gucs(void);
extern bool mantis_node_name_is_valid(const char *name);
extern bool mantis_replication_enabled(void);
extern bool mantis_endpoint_is_valid(const char *endpoint, bool for_bind);
extern int	mantis_parse_peers(const char *list,
							   char (*endpoints)[MANTIS_ENDPOINT_MAX],
							   const char **error);

extern int	mantis_protocol_spoken(void);

#endif							/* MANTIS_GUC_H */
