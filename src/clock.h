/*-------------------------------------------------------------------------
 * clock.h
 *	  This server's hybrid logical clock in shared memory (clock.c).
 *
 * IDENTIFICATION	src/clock.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_CLOCK_H
#define MANTIS_CLOCK_H

#include "datatype/timestamp.h"

#include "common/hlc.h"

extern Size mantis_clock_shmem_size(void);
extern void mantis_clock_shmem_init(void *place, bool found);

extern uint64 mantis_clock_wall_ms(void);
extern uint64 mantis_clock_monotonic_ms(void);
extern MantisHLC mantis_clock_now(void);
extern void mantis_clock_witness(uint64 ts);
extern uint64 mantis_clock_peek(void);
extern text *mantis_clock_hlc_text(const MantisHLC *hlc);
extern long mantis_clock_ms_until(TimestampTz wake);

#endif							/* MANTIS_CLOCK_H */
