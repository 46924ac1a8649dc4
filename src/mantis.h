/*-------------------------------------------------------------------------
 * mantis.h
 *	  The limits every file of mantis shares, and the preload check
 *	  (mantis.c).
 *
 * Each module has its own header (store/store.h, api/txn.h, clock.h, nodes.h,
 * guc.h, persist/persist.h, persist/worker.h, replication/peer_view.h,
 * replication/peers.h ...); this one includes none of them.  The pure cores
 * (common/hlc.h, common/keyhash.h, common/frame.h, common/snapshot.h)
 * include no server header at all.  shmem.c lays out shared memory; locks.h
 * lists every lock and the order they are taken in.
 *
 * IDENTIFICATION	src/mantis.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_H
#define MANTIS_H

/* Number of partition locks over the registers; a power of two. */
#define MANTIS_PARTITIONS		128

/*
 * Number of repair digest leaves; a power of two, at least MANTIS_PARTITIONS.
 * A key's leaf is the low bits of its hash, so a leaf lies inside one
 * partition and its registers sit in a known, small set of hash buckets.
 */
#define MANTIS_LEAVES			65536

/* Longest node name, and the nodes whose names we remember for display. */
#define MANTIS_NODE_NAME_MAX	63
#define MANTIS_MAX_NODES		64

/*
 * Peers: the endpoints mantis.peers may list, and the peers the
 * replication worker keeps track of (those and the ones that connect to
 * us without being listed).
 */
#define MANTIS_MAX_CONFIGURED_PEERS	32
#define MANTIS_MAX_PEERS		64
#define MANTIS_ENDPOINT_MAX		256

/* Hard ceilings for the size GUCs. */
#define MANTIS_KEY_SIZE_CEILING		(64 * 1024)
#define MANTIS_VALUE_SIZE_CEILING	(64 * 1024 * 1024)
#define MANTIS_STORE_MEMORY_CEILING_KB	(32 * 1024 * 1024)	/* 32GB: see store/store.c */

/* Room for the text of an error kept for a view. */
#define MANTIS_ERROR_TEXT_SIZE	256

/*
 * What the files of one module share and no other module may use (the
 * declarations of store/internal.h, persist/table.h, persist/load.h):
 * hidden from the server's symbol namespace, so that no symbol of the server
 * or of another library can stand in for it, and reached as directly as a
 * static.
 */
#if defined(__GNUC__)
#define MANTIS_PRIVATE __attribute__((visibility("hidden")))
#else
#define MANTIS_PRIVATE
#endif

/* ---- mantis.c ---- */
extern void mantis_check_loaded(void);

#endif							/* MANTIS_H */
