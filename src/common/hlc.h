/*-------------------------------------------------------------------------
 * common/hlc.h
 *	  The hybrid logical clock and the last-writer-wins order of the
 *	  registers it stamps, as pure functions of their arguments
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
/*
 * What mantis_hlc_format_cached() keeps from one call to the next, owned by
 * its caller: the date and time to the second, and the node id in hex, of
 * the last HLC it formatted.  Zeroed: empty.
 */
typedef struct MantisHLCTextCache
{
	bool		valid;
	uint64_t	secs;
	uint64_t	node;
	char		secs_text[19];	/* "2026-11-26T02:11:33", no terminator */
	char		node_text[16];	/* no terminator */
} MantisHLCTextCache;

extern size_t mantis_hlc_format(const MantisHLC *hlc, char *buf);
extern size_t mantis_hlc_format_cached(const MantisHLC *hlc, char *buf,
									   MantisHLCTextCache *cache);
extern bool mantis_hlc_parse(const char *text, size_t len, MantisHLC *hlc);

/*
 * Registers and their last-writer-wins order (common/hlc.c), over the
 * HLCs that stamp them.
 */

/*
 * A register as the merge rule sees it: its clock, its value (NULL with
 * value_len 0 for a deletion marker, a "tombstone"), and its expiry.
 *
 * expires_ms is 0 for a register that never expires, otherwise an absolute
 * time in milliseconds since the Unix epoch on the HLC's physical timeline
 * (comparable to mantis_hlc_ms() of an HLC and to the server's wall clock):
 * from then on the register reads as absent, as a deletion marker does.  A
 * deletion marker never carries an expiry.
 */
typedef struct MantisRegisterView
{
	MantisHLC	hlc;
	bool		deleted;
	const char *value;
	uint32_t	value_len;
	uint64_t	expires_ms;		/* 0: never */
} MantisRegisterView;

/*
 * A whole register: key, clock and value or deletion.  Pointers refer to
 * memory owned by whoever filled it in (shared memory under a lock, a
 * decoded buffer, a copy).
 */
typedef struct MantisRecord
{
	MantisHLC	hlc;
	bool		deleted;
	uint32_t	key_len;
	uint32_t	value_len;		/* 0 for a deletion marker */
	const char *key;
	const char *value;
	uint64_t	expires_ms;		/* 0: never; see MantisRegisterView */
} MantisRecord;

/*
 * Whether a register reads as absent at now_ms: a deletion marker, or a
 * value whose expiry has come.
 */
static inline bool
mantis_register_is_dead(bool deleted, uint64_t expires_ms, uint64_t now_ms)
{
	return deleted || (expires_ms != 0 && expires_ms <= now_ms);
}

extern int	mantis_register_cmp(const MantisRegisterView *a,
								const MantisRegisterView *b);
extern const MantisRegisterView *mantis_lww_merge(const MantisRegisterView *a,
												  const MantisRegisterView *b);

#endif							/* MANTIS_HLC_H */
