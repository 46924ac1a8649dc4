/*-------------------------------------------------------------------------
 * store/collect.h
 *	  The sweep's schedule and the collection horizons in shared memory
 *	  (store/collect.c).
 *
 * IDENTIFICATION	src/store/collect.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_COLLECT_H
#define MANTIS_COLLECT_H

#include "mantis.h"

extern Size mantis_collect_shmem_size(void);
extern void mantis_collect_shmem_init(void *place, bool found);

/* the persistence worker */
extern void mantis_collect_tick(void);
extern void mantis_collect_sweep(void);
extern long mantis_collect_sleep_ms(void);
extern void mantis_collect_note_flush(void);
extern bool mantis_collect_busy(void);

/* the horizons */
extern void mantis_collect_publish(uint64 stable_ts, uint64 lifetime_ts, uint64 hole_ts,
								   uint64 lifetime_bound_ms);
extern void mantis_collect_horizons(uint64 *stable_ts, uint64 *lifetime_ts);
extern uint64 mantis_collect_hole(void);
extern uint64 mantis_collect_collapse_below(void);
extern uint64 mantis_collect_peer_hole(void);
extern bool mantis_collect_rows_held_back(void);
extern uint64 mantis_collect_cover_hole(void);
extern void mantis_collect_set_load_hole(uint64 hole_ts);
extern void mantis_collect_set_held_keys(const uint64 *hashes, int n);
extern void mantis_collect_note_hole(uint64 hole_ts);

/* how collection goes (common/rules.h), for mantis_status */
#define MANTIS_COLLECT_WHO_SIZE	128 /* a peer's label: its name or endpoint */
extern void mantis_collect_publish_mode(int mode, const char *who, int members);
extern void mantis_collect_mode(int *mode, char *who, size_t who_size, int *members);

/* the generation of what mantis_stores holds, for greetings */
extern void mantis_collect_note_generation(uint64 generation);
extern uint64 mantis_collect_generation(void);
extern uint64 mantis_collect_refusal_horizon(void);
extern void mantis_collect_raise_refusal_horizon(uint64 ts);
extern void mantis_collect_lower_refusal_horizon(uint64 below_ts);
extern uint64 mantis_collect_lost_hole(void);
extern void mantis_collect_lost_hole_taken(uint64 hole_ts);
extern uint64 mantis_collect_adopted_raise(uint64 covered_max_ts);
extern void mantis_collect_count_refused(uint64 n);
extern uint64 mantis_collect_refused(void);

/* durability of what we hold, for acknowledgements */
extern uint64 mantis_collect_gathered(void);
extern uint64 mantis_collect_gathered_now(void);
extern void mantis_collect_durable(uint64 gathered);
extern uint64 mantis_collect_durable_upto(void);

/* registers dropped outside the sweep: the rows must be rewritten */
extern void mantis_collect_ask_compaction(void);
extern bool mantis_collect_compaction_asked(void);

#endif							/* MANTIS_COLLECT_H */
