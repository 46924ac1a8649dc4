/*-------------------------------------------------------------------------
 * fuzz_snapshot.c
 *	  libFuzzer harness for mantis_snapshot_decode(), the reader of the
 *	  "registers" column of mantis_stores.
 *
 * The input is decoded twice: with callbacks that read every byte of every
 * node name, key and value they are given (so ASan reports any span that
 * reaches outside the input) and check what the decoder promises, then with
 * NULL callbacks, which must give the same verdict.  A snapshot that decodes
 * must also be canonical: re-encoding what the callbacks saw (under a header
 * of the input's version, 1 or 2, with its horizon) gives back the input
 * byte for byte, and the input minus its last byte must be rejected.
 *
 * IDENTIFICATION	test/fuzz/fuzz_snapshot.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/snapshot.h"
#include "fuzz_util.h"

typedef struct SnapshotState
{
	const uint8_t *data;
	size_t		size;
	uint32_t	nodes;			/* on_node calls so far */
	uint32_t	registers;		/* on_register calls so far */
	int			in_registers;	/* an on_register call has been made */
	unsigned char *copy;		/* re-encoding, when not NULL */
	unsigned char *out;			/* next byte of the re-encoding */
	size_t		copy_left;		/* room left in it */
} SnapshotState;

static void
on_node(void *arg, uint64_t id, const char *name, size_t name_len)
{
	SnapshotState *st = arg;

	(void) id;
	FUZZ_CHECK(!st->in_registers);	/* the node table comes first */
	FUZZ_CHECK(name_len >= 1 && name_len <= MANTIS_CODEC_NODE_NAME_MAX);
	FUZZ_CHECK(fuzz_inside(st->data, st->size, name, name_len));
	fuzz_touch(name, name_len);
	FUZZ_CHECK(mantis_codec_name_is_valid(name, name_len));
	st->nodes++;

	if (st->copy)
	{
		FUZZ_CHECK(mantis_codec_node_size(name_len) <= st->copy_left);
		st->copy_left -= mantis_codec_node_size(name_len);
		st->out = mantis_codec_put_node(st->out, id, name, name_len);
	}
}

static void
on_register(void *arg, const MantisRecord *rec)
{
	SnapshotState *st = arg;

	st->in_registers = 1;
	FUZZ_CHECK(rec->key_len > 0);
	FUZZ_CHECK(!rec->deleted || rec->value_len == 0);
	FUZZ_CHECK(mantis_hlc_ms(rec->hlc.ts) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(rec->expires_ms <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(!rec->deleted || rec->expires_ms == 0);
	FUZZ_CHECK(fuzz_inside(st->data, st->size, rec->key, rec->key_len));
	FUZZ_CHECK(fuzz_inside(st->data, st->size, rec->value, rec->value_len));
	fuzz_touch(rec->key, rec->key_len);
	fuzz_touch(rec->value, rec->value_len);
	st->registers++;

	if (st->copy)
	{
		FUZZ_CHECK(mantis_codec_register_size(rec) <= st->copy_left);
		st->copy_left -= mantis_codec_register_size(rec);
		st->out = mantis_codec_put_register(st->out, rec);
	}
}

/* both NULL, or the same message */
static int
same_verdict(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * A snapshot that decoded: the callbacks saw exactly the counts of its
 * header, and encoding what they saw again gives back the same bytes.
 */
static void
check_canonical(const uint8_t *data, size_t size, const SnapshotState *seen,
				uint64_t horizon)
{
	SnapshotState st;
	const char *err;
	unsigned char header[MANTIS_SNAPSHOT_HEADER_SIZE];
	size_t		header_size = data[4] == 1 ? MANTIS_SNAPSHOT_V1_HEADER_SIZE :
		MANTIS_SNAPSHOT_HEADER_SIZE;
	int			records = data[4] == 2 && (data[5] & MANTIS_SNAPSHOT_FLAG_RECORDS);

	FUZZ_CHECK(seen->nodes == mantis_get_u16(data + 6));
	FUZZ_CHECK(seen->registers == mantis_get_u32(data + 8));
	FUZZ_CHECK(data[4] == 2 || horizon == 0);
	FUZZ_CHECK(size >= header_size);

	memset(&st, 0, sizeof(st));
	st.data = data;
	st.size = size;
	st.copy = malloc(size);
	FUZZ_CHECK(st.copy != NULL);
	/* a version 1 header is the first 12 bytes of version 2's */
	mantis_snapshot_put_header(header, (uint16_t) seen->nodes, seen->registers, horizon);
	if (header_size == MANTIS_SNAPSHOT_V1_HEADER_SIZE)
		header[4] = 1;
	if (records)
		header[5] = data[5];
	memcpy(st.copy, header, header_size);
	st.out = st.copy + header_size;
	st.copy_left = size - header_size;

	err = mantis_snapshot_decode(data, size, on_node, on_register, &st, NULL);
	FUZZ_CHECK(err == NULL);
	/*
	 * The records and bounds after the registers (flag bit 0) reach no
	 * callback here: copied as they are (test_snapshot round-trips them).
	 */
	if (records)
	{
		memcpy(st.out, data + size - st.copy_left, st.copy_left);
		st.copy_left = 0;
	}
	FUZZ_CHECK(st.copy_left == 0);
	FUZZ_CHECK(memcmp(st.copy, data, size) == 0);
	free(st.copy);

	/* every length is exact: no proper prefix is a snapshot */
	FUZZ_CHECK(mantis_snapshot_decode(data, size - 1, NULL, NULL, NULL, NULL) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SnapshotState st;
	const char *err;
	const char *err_blind;
	uint64_t	horizon = 1;

	memset(&st, 0, sizeof(st));
	st.data = data;
	st.size = size;
	err = mantis_snapshot_decode(data, size, on_node, on_register, &st, &horizon);
	err_blind = mantis_snapshot_decode(data, size, NULL, NULL, NULL, NULL);
	FUZZ_CHECK(same_verdict(err, err_blind));

	if (err != NULL)
	{
		/* callbacks may have run for the entries before the fault, no more */
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(horizon == 0);
		if (size >= MANTIS_SNAPSHOT_V1_HEADER_SIZE)
		{
			FUZZ_CHECK(st.nodes <= mantis_get_u16(data + 6));
			FUZZ_CHECK(st.registers <= mantis_get_u32(data + 8));
		}
		return 0;
	}
	check_canonical(data, size, &st, horizon);
	return 0;
}
