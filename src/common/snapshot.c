/*-------------------------------------------------------------------------
 * common/snapshot.c
 *	  The snapshot format of mantis_stores.registers: encoder and decoder.
 *
 * Pure C: no server headers, no allocation.  A snapshot is written as this
 * header followed by the node and register entries of common/frame.c, each
 * encoded into memory its writer sized (src/persist/flush.c, and
 * test/unit/test_snapshot.c and test/fuzz/make_corpus.c).  The decoder reads a
 * table row that anyone with the right privileges could have written, so it
 * trusts nothing: each length is compared with the bytes remaining (never
 * added to a pointer first), counts are bounded by what the remaining bytes
 * could hold, and any violation returns a static message naming it.
 *
 * Tested by test/unit/test_snapshot.c and fuzzed by
 * test/fuzz/fuzz_snapshot.c.
 *
 * IDENTIFICATION	src/common/snapshot.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/snapshot.h"

_Static_assert(sizeof(MANTIS_SNAPSHOT_MAGIC) - 1 == 4, "the magic is 4 bytes");
_Static_assert(MANTIS_SNAPSHOT_V1_HEADER_SIZE == 4 + 1 + 1 + 2 + 4,
			   "version 1 header: magic, version, flags, node count, register count");
_Static_assert(MANTIS_SNAPSHOT_HEADER_SIZE == MANTIS_SNAPSHOT_V1_HEADER_SIZE + 8,
			   "version 2 header: version 1's, then the horizon");

/* Write a version 2 header: MANTIS_SNAPSHOT_HEADER_SIZE bytes. */
void
mantis_snapshot_put_header(unsigned char *p, uint16_t nodes, uint32_t registers,
						   uint64_t horizon)
{
	memcpy(p, MANTIS_SNAPSHOT_MAGIC, 4);
	p[4] = MANTIS_SNAPSHOT_VERSION;
	p[5] = 0;
	mantis_put_u16(p + 6, nodes);
	mantis_put_u32(p + 8, registers);
	mantis_put_u64(p + 12, horizon);
}

/* Set a header's flags (MANTIS_SNAPSHOT_FLAG_*) */
void
mantis_snapshot_set_flags(unsigned char *p, uint8_t flags)
{
	p[5] = flags;
}

/* Write a record: MANTIS_SNAPSHOT_RECORD_SIZE bytes */
void
mantis_snapshot_put_dead(unsigned char *p, const MantisRecordView *rec)
{
	mantis_put_u64(p, rec->hash);
	mantis_put_u64(p + 8, rec->ts);
	mantis_put_u64(p + 16, rec->node);
	mantis_put_u64(p + 24, rec->fingerprint);
	mantis_put_u64(p + 32, rec->death_ms);
}

/* Write a leaf's bound: MANTIS_SNAPSHOT_BOUND_SIZE bytes */
void
mantis_snapshot_put_bound(unsigned char *p, uint32_t leaf, const MantisLeafBound *b)
{
	mantis_put_u32(p, leaf);
	mantis_put_u64(p + 4, b->bound_ts);
	mantis_put_u64(p + 12, b->fingerprint);
	mantis_put_u64(p + 20, b->death_ms);
}

/* An HLC time or a death no writer could have written */
static int
time_bad(uint64_t ts, uint64_t death_ms)
{
	return ts == 0 || mantis_hlc_ms(ts) > MANTIS_HLC_MAX_MS || death_ms > MANTIS_HLC_MAX_MS;
}

/*
 * Decode the records and bounds after the registers (the flag
 * MANTIS_SNAPSHOT_FLAG_RECORDS), up to *pp; the counts are checked against
 * the bytes left, as the registers' are.
 */
static const char *
decode_dead(const unsigned char **pp, const unsigned char *end,
			MantisSnapshotDeadFn on_dead, MantisSnapshotBoundFn on_bound, void *arg)
{
	const unsigned char *p = *pp;
	uint32_t	n;

	if (end - p < 4)
		return "records truncated";
	n = mantis_get_u32(p);
	p += 4;
	if (n > (size_t) (end - p) / MANTIS_SNAPSHOT_RECORD_SIZE)
		return "record count larger than the snapshot";
	for (uint32_t i = 0; i < n; i++, p += MANTIS_SNAPSHOT_RECORD_SIZE)
	{
		MantisRecordView rec;

		rec.hash = mantis_get_u64(p);
		rec.ts = mantis_get_u64(p + 8);
		rec.node = mantis_get_u64(p + 16);
		rec.fingerprint = mantis_get_u64(p + 24);
		rec.death_ms = mantis_get_u64(p + 32);
		if (time_bad(rec.ts, rec.death_ms))
			return "record time out of range";
		if (on_dead)
			on_dead(arg, &rec);
	}
	if (end - p < 4)
		return "bounds truncated";
	n = mantis_get_u32(p);
	p += 4;
	if (n > (size_t) (end - p) / MANTIS_SNAPSHOT_BOUND_SIZE)
		return "bound count larger than the snapshot";
	for (uint32_t i = 0; i < n; i++, p += MANTIS_SNAPSHOT_BOUND_SIZE)
	{
		uint32_t	leaf = mantis_get_u32(p);
		MantisLeafBound b;

		b.bound_ts = mantis_get_u64(p + 4);
		b.fingerprint = mantis_get_u64(p + 12);
		b.death_ms = mantis_get_u64(p + 20);
		if (leaf >= MANTIS_SNAPSHOT_MAX_LEAVES)
			return "bound of a leaf out of range";
		if (time_bad(b.bound_ts, b.death_ms))
			return "bound time out of range";
		if (on_bound)
			on_bound(arg, leaf, &b);
	}
	*pp = p;
	return NULL;
}

/*
 * Decode a whole snapshot of version 1 or 2, calling on_node / on_register
 * (either may be NULL) for each entry, and setting *horizon_out (if not
 * NULL) to its horizon, 0 for version 1.  Returns NULL if the snapshot is
 * well-formed to its last byte, else what is wrong; callbacks may already
 * have run for the entries before the fault, so a caller that must not act
 * on part of a bad snapshot decodes it once without callbacks first.  The
 * records and bounds of a snapshot that has them are checked, not passed:
 * mantis_snapshot_decode_all() passes them too.
 */
const char *
mantis_snapshot_decode(const void *data, size_t len,
					   MantisSnapshotNodeFn on_node,
					   MantisSnapshotRegisterFn on_register, void *arg,
					   uint64_t *horizon_out)
{
	return mantis_snapshot_decode_all(data, len, on_node, on_register, NULL, NULL, arg,
									  horizon_out);
}

/* The same, with the records and bounds (on_dead, on_bound: may be NULL) */
const char *
mantis_snapshot_decode_all(const void *data, size_t len,
						   MantisSnapshotNodeFn on_node,
						   MantisSnapshotRegisterFn on_register,
						   MantisSnapshotDeadFn on_dead,
						   MantisSnapshotBoundFn on_bound, void *arg,
						   uint64_t *horizon_out)
{
	const unsigned char *p = data;
	const unsigned char *end;
	uint32_t	nodes;
	uint32_t	registers;
	uint64_t	horizon = 0;
	uint8_t		flags;

	if (horizon_out)
		*horizon_out = 0;
	if (data == NULL || len < MANTIS_SNAPSHOT_V1_HEADER_SIZE)
		return "shorter than a snapshot header";
	end = p + len;
	if (memcmp(p, MANTIS_SNAPSHOT_MAGIC, 4) != 0)
		return "not a mantis snapshot (bad magic bytes)";
	if (p[4] != 1 && p[4] != MANTIS_SNAPSHOT_VERSION)
		return "unsupported snapshot format version";
	flags = p[5];
	if ((flags & ~MANTIS_SNAPSHOT_FLAG_RECORDS) != 0 ||
		(flags != 0 && p[4] == 1))
		return "unknown snapshot flags";
	nodes = mantis_get_u16(p + 6);
	registers = mantis_get_u32(p + 8);
	if (p[4] == 1)
		p += MANTIS_SNAPSHOT_V1_HEADER_SIZE;
	else
	{
		if (len < MANTIS_SNAPSHOT_HEADER_SIZE)
			return "shorter than a snapshot header";
		horizon = mantis_get_u64(p + 12);
		if (mantis_hlc_ms(horizon) > MANTIS_HLC_MAX_MS)
			return "horizon beyond year 9999";
		p += MANTIS_SNAPSHOT_HEADER_SIZE;
	}

	/* each entry takes bytes: a count larger than that is a lie */
	if (nodes > (size_t) (end - p) / (MANTIS_CODEC_NODE_OVERHEAD + 1) ||
		registers > (size_t) (end - p) / (MANTIS_CODEC_REGISTER_OVERHEAD + 1))
		return "entry count larger than the snapshot";

	for (uint32_t i = 0; i < nodes; i++)
	{
		uint64_t	id;
		const char *name;
		size_t		name_len;
		const char *err = mantis_codec_get_node(&p, end, &id, &name, &name_len);

		if (err)
			return err;
		if (on_node)
			on_node(arg, id, name, name_len);
	}
	for (uint32_t i = 0; i < registers; i++)
	{
		MantisRecord rec;
		const char *err = mantis_codec_get_register(&p, end, &rec);

		if (err)
			return err;
		if (on_register)
			on_register(arg, &rec);
	}
	if (flags & MANTIS_SNAPSHOT_FLAG_RECORDS)
	{
		const char *err = decode_dead(&p, end, on_dead, on_bound, arg);

		if (err)
			return err;
	}
	if (p != end)
		return "trailing bytes after the last register";
	if (horizon_out)
		*horizon_out = horizon;
	return NULL;
}
