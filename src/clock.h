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

extern uint64 mantis_wall_ms(void);
extern MantisHLC mantis_hlc_now(void);
extern void mantis_hlc_witness(uint64 ts);
extern uint64 mantis_hlc_peek(void);
extern text *mantis_hlc_text(const MantisHLC *hlc);
extern long mantis_ms_until(TimestampTz wake);

#endif							/* MANTIS_CLOCK_H */
