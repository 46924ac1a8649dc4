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

/*
 * Decode a whole snapshot of version 1 or 2, calling on_node / on_register
 * (either may be NULL) for each entry, and setting *horizon_out (if not
 * NULL) to its horizon, 0 for version 1.  Returns NULL if the snapshot is
 * well-formed to its last byte, else what is wrong; callbacks may already
 * have run for the entries before the fault, so a caller that must not act
 * on part of a bad snapshot decodes it once without callbacks first.
 */
const char *
mantis_snapshot_decode(const void *data, size_t len,
					   MantisSnapshotNodeFn on_node,
					   MantisSnapshotRegisterFn on_register, void *arg,
					   uint64_t *horizon_out)
{
	const unsigned char *p = data;
	const unsigned char *end;
	uint32_t	nodes;
	uint32_t	registers;
	uint64_t	horizon = 0;

	if (horizon_out)
		*horizon_out = 0;
	if (data == NULL || len < MANTIS_SNAPSHOT_V1_HEADER_SIZE)
		return "shorter than a snapshot header";
	end = p + len;
	if (memcmp(p, MANTIS_SNAPSHOT_MAGIC, 4) != 0)
		return "not a mantis snapshot (bad magic bytes)";
	if (p[4] != 1 && p[4] != MANTIS_SNAPSHOT_VERSION)
		return "unsupported snapshot format version";
	if (p[5] != 0)
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
	if (p != end)
		return "trailing bytes after the last register";
	if (horizon_out)
		*horizon_out = horizon;
	return NULL;
}
