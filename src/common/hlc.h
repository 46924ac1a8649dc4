/*-------------------------------------------------------------------------
 * common/hlc.h
 *	  The hybrid logical clock, as pure functions of their arguments
 *	  (common/hlc.c); the server's shared clock is clock.h.
 *
 * An HLC is 48 bits of Unix milliseconds and a 16-bit logical counter packed
 * into one uint64 ("ts"), plus the 64-bit id of the node that made it.
 * Two HLCs compare by ts, then by node, so any two writes from distinct
 * nodes, or from one node at distinct moments, are strictly ordered.
 *
 * IDENTIFICATION	src/common/hlc.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_HLC_H
#define MANTIS_HLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANTIS_HLC_LOGICAL_BITS	16
#define MANTIS_HLC_LOGICAL_MASK	((uint64_t) 0xFFFF)

/*
 * The greatest wall-clock part we accept: 9999-12-31T23:59:59.999Z.  It keeps
 * the text form fixed-width; a clock that claims more is garbage.
 */
#define MANTIS_HLC_MAX_MS		UINT64_C(253402300799999)

/* "2026-11-26T02:11:33.123Z-0001-0123456789abcdef" and a NUL */
#define MANTIS_HLC_TEXT_LEN		46
#define MANTIS_HLC_TEXT_SIZE	(MANTIS_HLC_TEXT_LEN + 1)

typedef struct MantisHLC
{
	uint64_t	ts;				/* ms << 16 | logical */
	uint64_t	node;			/* node id of the writer */
} MantisHLC;

static inline uint64_t
mantis_hlc_ms(uint64_t ts)
{
	return ts >> MANTIS_HLC_LOGICAL_BITS;
}

static inline uint64_t
mantis_hlc_pack(uint64_t ms, uint64_t logical)
{
	return (ms << MANTIS_HLC_LOGICAL_BITS) | (logical & MANTIS_HLC_LOGICAL_MASK);
}

extern int	mantis_hlc_cmp(const MantisHLC *a, const MantisHLC *b);
extern uint64_t mantis_hlc_next(uint64_t last, uint64_t now_ms);
extern size_t mantis_hlc_format(const MantisHLC *hlc, char *buf);
extern bool mantis_hlc_parse(const char *text, size_t len, MantisHLC *hlc);

#endif							/* MANTIS_HLC_H */
