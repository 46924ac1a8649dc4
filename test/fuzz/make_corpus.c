/*-------------------------------------------------------------------------
 * make_corpus.c
 *	  Write the seed corpora of the fuzz harnesses:
 *	  <dir>/snapshot/, <dir>/frame/ and <dir>/hlc/ (default dir:
 *	  test/fuzz/corpus, relative to the repository root).
 *
 * Valid seeds are built with the encoders: a snapshot is
 * mantis_snapshot_put_header() and the entries of src/common/frame.c, a frame
 * one of the per-type encoders of src/common/frame.c (with the registers of
 * src/common/frame.c in UPDATES).  Invalid ones are valid seeds with one thing
 * broken: cut short, a byte added, a field overwritten, garbage appended,
 * or an encoder given what the decoder must refuse.  Each seed is decoded
 * before it is written and must give the expected verdict: NULL for a valid
 * one, otherwise the exact message the decoder returns for the fault it was
 * crafted to have, so every seed is known to reach the check it aims at.
 * Exits 1 (after writing everything) if any seed does not.
 *
 * Usage: make_corpus [dir]
 *
 * IDENTIFICATION	test/fuzz/make_corpus.c
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/frame.h"
#include "common/keyhash.h"
#include "common/snapshot.h"
#include "common/tombs.h"

/* a growable byte buffer; allocation failure ends the program */
typedef struct Buf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
} Buf;

static const char *outdir = "test/fuzz/corpus";
static int	mismatches = 0;
static int	written = 0;

/* a clock in late 2025, and the node ids and names the seeds use */
#define SEED_MS		UINT64_C(1764123093123)
#define NODE_A		UINT64_C(0x0123456789abcdef)
#define NODE_B		UINT64_C(0xfedcba9876543210)

/*
 * The HLCs of version 3 in frame seeds (common/frame.h): a greeting's
 * horizons, acked, stable and collected, a little behind the clock; the
 * watermark of a live batch; the live stream's mark in INSYNC and GROUPS.
 */
#define SEED_ACKED		mantis_hlc_pack(SEED_MS - 1000, 0)
#define SEED_STABLE		mantis_hlc_pack(SEED_MS - 2000, 0)
#define SEED_COLLECTED	mantis_hlc_pack(SEED_MS - 60000, 0)
#define SEED_WATERMARK	mantis_hlc_pack(SEED_MS, 2)
#define SEED_LIVE_SEQ	41
/* the last HLC of 9999, and the first one past it */
#define LAST_HLC		mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF)
#define PAST_9999		mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0)

/*
 * Where fault seeds overwrite a field (the layouts are in common/frame.h,
 * common/snapshot.h and common/frame.h): in a frame header, and in a node
 * entry.
 */
#define AT_VERSION			4
#define AT_TYPE				5
#define AT_FLAGS			6
#define AT_NODE_NAME_LEN	8
/* the watermark of UPDATES, after round, group and register count */
#define AT_WATERMARK		(MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 4)
/* the mark of INSYNC and GROUPS, after the round */
#define AT_MARK				(MANTIS_FRAME_HEADER_SIZE + 4)

/* the header of every frame seed: node A, in late 2025 */
static MantisFrameHeader header;

static unsigned char *
buf_grow(Buf *b, size_t n)
{
	unsigned char *p;

	if (b->cap - b->len < n)
	{
		size_t		cap = b->cap ? b->cap : 64;

		while (cap - b->len < n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
		{
			perror("realloc");
			exit(2);
		}
		b->cap = cap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

static void
buf_reset(Buf *b)
{
	b->len = 0;
}

static void
put_bytes(Buf *b, const void *p, size_t n)
{
	if (n > 0)
		memcpy(buf_grow(b, n), p, n);
}

static void
put_u8(Buf *b, unsigned v)
{
	*buf_grow(b, 1) = (unsigned char) v;
}

/* ---- the two formats, through their encoders ---- */

static void
put_expiring_register(Buf *b, const char *key, const char *value, size_t value_len,
					  uint64_t ts, uint64_t node, uint64_t expires_ms)
{
	MantisRecord rec;

	rec.expires_ms = expires_ms;
	rec.hlc.ts = ts;
	rec.hlc.node = node;
	rec.deleted = value == NULL;
	rec.key = key;
	rec.key_len = (uint32_t) strlen(key);
	rec.value = value;
	rec.value_len = (uint32_t) value_len;
	mantis_codec_put_register(buf_grow(b, mantis_codec_register_size(&rec)), &rec);
}

static void
put_register(Buf *b, const char *key, const char *value, size_t value_len,
			 uint64_t ts, uint64_t node)
{
	put_expiring_register(b, key, value, value_len, ts, node, 0);
}

/* a value that expires half an hour after it was written (kind 3) */
static void
put_expiring(Buf *b, const char *key, const char *value, uint64_t logical)
{
	put_expiring_register(b, key, value, strlen(value),
						  mantis_hlc_pack(SEED_MS, logical), NODE_A, SEED_MS + 1800000);
}

static void
put_value(Buf *b, const char *key, const char *value, uint64_t logical)
{
	put_register(b, key, value, strlen(value),
				 mantis_hlc_pack(SEED_MS, logical), NODE_A);
}

static void
put_deletion(Buf *b, const char *key, uint64_t logical)
{
	put_register(b, key, NULL, 0, mantis_hlc_pack(SEED_MS, logical), NODE_B);
}

static void
put_node(Buf *b, uint64_t id, const char *name)
{
	size_t		len = strlen(name);

	mantis_codec_put_node(buf_grow(b, mantis_codec_node_size(len)), id, name, len);
}

static void
snapshot_header_horizon(Buf *b, uint16_t nodes, uint32_t registers, uint64_t horizon)
{
	buf_reset(b);
	mantis_snapshot_put_header(buf_grow(b, MANTIS_SNAPSHOT_HEADER_SIZE),
							   nodes, registers, horizon);
}

static void
snapshot_header(Buf *b, uint16_t nodes, uint32_t registers)
{
	snapshot_header_horizon(b, nodes, registers, 0);
}

/* the header of format version 1: version 2's without the horizon */
static void
snapshot_header_v1(Buf *b, uint16_t nodes, uint32_t registers)
{
	snapshot_header(b, nodes, registers);
	b->data[4] = 1;
	b->len = MANTIS_SNAPSHOT_V1_HEADER_SIZE;
}

/* a HELLO or WELCOME of this greeting in this version */
static void
frame_greeting_version(Buf *b, int type, uint8_t version, const MantisGreeting *g)
{
	MantisFrameHeader h = header;
	unsigned char *p;

	h.version = version;
	buf_reset(b);
	p = buf_grow(b, mantis_frame_greeting_frame_size(version, g));
	if (type == MANTIS_FRAME_HELLO)
		mantis_frame_put_hello(p, &h, g);
	else
		mantis_frame_put_welcome(p, &h, g);
}

/* a HELLO or WELCOME of these limits and horizons, of version 3 */
static void
frame_greeting_horizons(Buf *b, int type, const char *name, uint32_t max_key_size,
						uint32_t max_value_size, const char *encoding,
						uint64_t acked, uint64_t stable, uint64_t collected)
{
	MantisGreeting g;

	memset(&g, 0, sizeof(g));
	g.name = name;
	g.name_len = strlen(name);
	g.max_key_size = max_key_size;
	g.max_value_size = max_value_size;
	g.encoding = encoding;
	g.encoding_len = strlen(encoding);
	g.acked = acked;
	g.stable = stable;
	g.collected = collected;
	frame_greeting_version(b, type, 3, &g);
}

/*
 * A version-4 HELLO or WELCOME from "alpha" with the default limits, the
 * seed horizons and these fields of version 4
 */
static void
frame_greeting_v4(Buf *b, int type, uint8_t proto_min, uint8_t proto_max,
				  uint64_t members, uint16_t member_count, uint64_t generation)
{
	MantisGreeting g;

	memset(&g, 0, sizeof(g));
	g.name = "alpha";
	g.name_len = 5;
	g.max_key_size = 1024;
	g.max_value_size = 1024 * 1024;
	g.encoding = "UTF8";
	g.encoding_len = 4;
	g.acked = SEED_ACKED;
	g.stable = SEED_STABLE;
	g.collected = SEED_COLLECTED;
	g.proto_min = proto_min;
	g.proto_max = proto_max;
	g.members = members;
	g.member_count = member_count;
	g.generation = generation;
	g.acked_incarnation = generation == 0 ? 0 : UINT64_C(0x0102030405060708);
	frame_greeting_version(b, type, 4, &g);
}

/* a HELLO or WELCOME of these limits, and the seed horizons */
static void
frame_greeting_limits(Buf *b, int type, const char *name, uint32_t max_key_size,
					  uint32_t max_value_size, const char *encoding)
{
	frame_greeting_horizons(b, type, name, max_key_size, max_value_size, encoding,
							SEED_ACKED, SEED_STABLE, SEED_COLLECTED);
}

/* with the default limits of mantis.max_key_size and max_value_size */
static void
frame_greeting(Buf *b, int type, const char *name, const char *encoding)
{
	frame_greeting_limits(b, type, name, 1024, 1024 * 1024, encoding);
}

/* with the default limits and these horizons */
static void
frame_greeting_at(Buf *b, int type, uint64_t acked, uint64_t stable, uint64_t collected)
{
	frame_greeting_horizons(b, type, "alpha", 1024, 1024 * 1024, "UTF8",
							acked, stable, collected);
}

/* an UPDATES frame of no registers yet: put them, then updates_count() */
static void
updates_head(Buf *b, uint32_t round, uint16_t group)
{
	buf_reset(b);
	mantis_frame_put_updates_head(buf_grow(b, MANTIS_FRAME_UPDATES_HEAD_SIZE),
								  &header, round, group);
}

static void
updates_count(Buf *b, uint32_t count)
{
	mantis_frame_updates_set_count(b->data, count);
}

/* the last frame of a live batch: BATCH_END, and this watermark */
static void
updates_end_batch(Buf *b, uint64_t watermark)
{
	mantis_frame_updates_end_batch(b->data, watermark);
}

static void
frame_summary(Buf *b, uint32_t round, uint64_t root)
{
	buf_reset(b);
	mantis_frame_put_summary(buf_grow(b, MANTIS_FRAME_SUMMARY_SIZE), &header,
							 round, root);
}

static void
frame_insync_mark(Buf *b, uint32_t round, uint32_t seq, uint64_t watermark)
{
	MantisLiveMark mark;

	mark.seq = seq;
	mark.watermark = watermark;
	buf_reset(b);
	mantis_frame_put_insync(buf_grow(b, MANTIS_FRAME_INSYNC_SIZE), &header, round, &mark);
}

/* with the seed mark */
static void
frame_insync(Buf *b, uint32_t round)
{
	frame_insync_mark(b, round, SEED_LIVE_SEQ, SEED_WATERMARK);
}

/* GROUPS and LEAVES carry 256 distinct digests */
static void
seed_digests(uint64_t *d)
{
	for (uint64_t i = 0; i < 256; i++)
		d[i] = mantis_mix64(i + 1);
}

static void
frame_groups_mark(Buf *b, uint32_t round, uint32_t seq, uint64_t watermark)
{
	uint64_t	d[MANTIS_DIGEST_GROUPS];
	MantisLiveMark mark;

	mark.seq = seq;
	mark.watermark = watermark;
	seed_digests(d);
	buf_reset(b);
	mantis_frame_put_groups(buf_grow(b, MANTIS_FRAME_GROUPS_SIZE), &header,
							round, &mark, d);
}

/* with the seed mark */
static void
frame_groups(Buf *b, uint32_t round)
{
	frame_groups_mark(b, round, SEED_LIVE_SEQ, SEED_WATERMARK);
}

/* a LEAVES frame with these header flags (MANTIS_FRAME_HELD_BACK) */
static void
frame_leaves_flags(Buf *b, uint32_t round, uint16_t group, uint16_t flags)
{
	MantisFrameHeader h = header;
	uint64_t	d[MANTIS_DIGEST_GROUP_LEAVES];

	h.flags = flags;
	seed_digests(d);
	buf_reset(b);
	mantis_frame_put_leaves(buf_grow(b, MANTIS_FRAME_LEAVES_SIZE), &h,
							round, group, d);
}

static void
frame_leaves(Buf *b, uint32_t round, uint16_t group)
{
	frame_leaves_flags(b, round, group, 0);
}

/* ---- writing and checking ---- */

static void
make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "make_corpus: cannot create %s: %s\n", path,
				strerror(errno));
		exit(2);
	}
}

static void
write_seed(const char *target, const char *name, const void *data, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
	{
		fprintf(stderr, "make_corpus: cannot write %s\n", path);
		exit(2);
	}
	written++;
}

/* compare a decoder's verdict with the one the seed was crafted for */
static void
verdict(const char *target, const char *name, const char *got,
		const char *expected)
{
	if (got == NULL && expected == NULL)
		return;
	if (got != NULL && expected != NULL && strcmp(got, expected) == 0)
		return;
	fprintf(stderr, "make_corpus: %s/%s: expected %s, decoder says %s\n",
			target, name, expected ? expected : "valid", got ? got : "valid");
	mismatches++;
}

static void
snapshot_seed(const char *name, const Buf *b, const char *expected)
{
	verdict("snapshot", name,
			mantis_snapshot_decode(b->data, b->len, NULL, NULL, NULL, NULL), expected);
	write_seed("snapshot", name, b->data, b->len);
}

static void
frame_seed(const char *name, const Buf *b, const char *expected)
{
	MantisFrame f;

	verdict("frame", name, mantis_frame_decode(b->data, b->len, &f), expected);
	write_seed("frame", name, b->data, b->len);
}

/* the same frame or snapshot with a byte added, or with its last one cut */
static void
frame_seed_plus(const char *name, Buf *b, const char *expected)
{
	put_u8(b, 0);
	frame_seed(name, b, expected);
	b->len--;
}

static void
frame_seed_minus(const char *name, Buf *b, const char *expected)
{
	b->len--;
	frame_seed(name, b, expected);
	b->len++;
}

static void
hlc_seed(const char *name, const char *text, size_t len, int valid)
{
	MantisHLC	hlc;
	bool		ok = mantis_hlc_parse(text, len, &hlc);

	verdict("hlc", name, ok ? NULL : "rejected", valid ? NULL : "rejected");
	write_seed("hlc", name, text, len);
}

/* ---- the seeds ---- */

static void
snapshot_valid(Buf *b)
{
	char	   *big;

	snapshot_header(b, 0, 0);
	snapshot_seed("ok-empty", b, NULL);

	snapshot_header(b, 0, 1);
	put_value(b, "greeting", "hello, world", 0);
	snapshot_seed("ok-one-value", b, NULL);

	snapshot_header(b, 0, 1);
	put_value(b, "empty", "", 0);
	snapshot_seed("ok-empty-value", b, NULL);

	snapshot_header(b, 0, 1);
	put_deletion(b, "gone", 3);
	snapshot_seed("ok-one-deletion", b, NULL);

	snapshot_header(b, 3, 0);
	put_node(b, NODE_A, "alpha");
	put_node(b, NODE_B, "node-b.example_2");
	put_node(b, 42, "x");
	snapshot_seed("ok-node-table", b, NULL);

	snapshot_header(b, 2, 5);
	put_node(b, NODE_A, "alpha");
	put_node(b, NODE_B, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.");
	put_value(b, "k1", "v1", 0);
	put_deletion(b, "k2", 1);
	put_register(b, "k3", "a value with \0 a NUL", 20,
				 mantis_hlc_pack(SEED_MS, 0xFFFF), NODE_A);
	put_register(b, "epoch", "1970", 4, 0, 0);
	put_register(b, "last", "9999", 4,
				 mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF), UINT64_MAX);
	snapshot_seed("ok-nodes-and-registers", b, NULL);

	big = malloc(40000);
	if (big == NULL)
		exit(2);
	for (int i = 0; i < 40000; i++)
		big[i] = (char) ('a' + i % 26);
	snapshot_header(b, 0, 2);
	put_register(b, "big", big, 40000, mantis_hlc_pack(SEED_MS, 0), NODE_A);
	put_value(b, "small", "s", 0);
	snapshot_seed("ok-large-value", b, NULL);
	free(big);

	snapshot_header(b, 0, 4);
	put_expiring(b, "session:8f3a", "{\"user\": 42}", 0);
	put_expiring(b, "empty", "", 1);
	put_expiring_register(b, "first", "1", 1, mantis_hlc_pack(SEED_MS, 2), NODE_A, 1);
	put_expiring_register(b, "last", "9999", 4, mantis_hlc_pack(SEED_MS, 3), NODE_B,
						  MANTIS_HLC_MAX_MS);
	snapshot_seed("ok-expiring", b, NULL);

	snapshot_header_horizon(b, 1, 3, mantis_hlc_pack(SEED_MS - 1000, 5));
	put_node(b, NODE_A, "alpha");
	put_value(b, "k1", "v1", 0);
	put_deletion(b, "k2", 1);
	put_expiring(b, "k3", "v3", 2);
	snapshot_seed("ok-horizon", b, NULL);

	snapshot_header_horizon(b, 0, 0, mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF));
	snapshot_seed("ok-horizon-max", b, NULL);

	/* version 1, as 1.0 and 1.1 wrote it: still read */
	snapshot_header_v1(b, 0, 0);
	snapshot_seed("ok-v1-empty", b, NULL);

	snapshot_header_v1(b, 1, 2);
	put_node(b, NODE_A, "alpha");
	put_value(b, "k1", "v1", 0);
	put_deletion(b, "k2", 1);
	snapshot_seed("ok-v1-registers", b, NULL);

	snapshot_header_v1(b, 0, 1);
	put_expiring(b, "k", "v", 0);
	snapshot_seed("ok-v1-expiring", b, NULL);
}

static void
snapshot_header_faults(Buf *b)
{
	buf_reset(b);
	snapshot_seed("bad-zero-length", b, "shorter than a snapshot header");

	snapshot_header(b, 0, 0);
	b->len--;
	snapshot_seed("bad-short-header", b, "shorter than a snapshot header");

	snapshot_header(b, 0, 0);
	memcpy(b->data, "MNTZ", 4);
	snapshot_seed("bad-magic", b, "not a mantis snapshot (bad magic bytes)");

	snapshot_header(b, 0, 0);
	b->data[4] = 3;
	snapshot_seed("bad-version", b, "unsupported snapshot format version");

	snapshot_header(b, 0, 0);
	b->data[4] = 0;
	snapshot_seed("bad-version-0", b, "unsupported snapshot format version");

	/* a version 2 header cut inside its horizon */
	snapshot_header(b, 0, 0);
	b->len = MANTIS_SNAPSHOT_HEADER_SIZE - 1;
	snapshot_seed("bad-short-horizon", b, "shorter than a snapshot header");

	snapshot_header_v1(b, 0, 0);
	b->len--;
	snapshot_seed("bad-short-v1-header", b, "shorter than a snapshot header");

	snapshot_header_horizon(b, 0, 0, mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0));
	snapshot_seed("bad-horizon-past-9999", b, "horizon beyond year 9999");

	/* bit 0 says records follow the registers (R7): the first bit after it */
	snapshot_header(b, 0, 0);
	b->data[5] = 2;
	snapshot_seed("bad-flags", b, "unknown snapshot flags");

	snapshot_header(b, 0, 0xFFFFFFFF);
	put_value(b, "k", "v", 0);
	snapshot_seed("bad-register-count-ffffffff", b,
				  "entry count larger than the snapshot");

	snapshot_header(b, 0xFFFF, 0);
	put_node(b, NODE_A, "alpha");
	snapshot_seed("bad-node-count-ffff", b,
				  "entry count larger than the snapshot");

	snapshot_header(b, 0, 0);
	put_value(b, "k", "v", 0);
	snapshot_seed("bad-trailing-register", b,
				  "trailing bytes after the last register");

	snapshot_header(b, 0, 1);
	put_value(b, "k", "v", 0);
	put_u8(b, 0);
	snapshot_seed("bad-trailing-byte", b,
				  "trailing bytes after the last register");
}

static void
snapshot_node_faults(Buf *b)
{
	snapshot_header(b, 2, 0);
	put_node(b, NODE_A, "abcdefghijk");
	put_bytes(b, "\0\0\0\0\0", 5);
	snapshot_seed("bad-node-truncated", b, "node entry truncated");

	snapshot_header(b, 1, 0);
	put_node(b, NODE_A, "alpha");
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + AT_NODE_NAME_LEN] = 20;
	snapshot_seed("bad-node-name-past-end", b, "node name past the end");

	snapshot_header(b, 1, 0);
	put_node(b, NODE_A, "a/b");
	snapshot_seed("bad-node-name-char", b, "invalid node name");

	snapshot_header(b, 1, 0);
	put_node(b, NODE_A, "a");
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + AT_NODE_NAME_LEN] = 0;
	snapshot_seed("bad-node-name-empty", b, "invalid node name");

	snapshot_header(b, 1, 0);
	put_node(b, NODE_A, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
	snapshot_seed("bad-node-name-64", b, "invalid node name");
}

/* one register "k" = "v" whose field at offset "at" is overwritten */
static void
snapshot_register_patched(Buf *b, size_t at, uint32_t v)
{
	snapshot_header(b, 0, 1);
	put_value(b, "k", "v", 0);
	mantis_put_u32(b->data + MANTIS_SNAPSHOT_HEADER_SIZE + at, v);
}

static void
snapshot_register_faults(Buf *b)
{
	static const unsigned char zeros[20];

	snapshot_header(b, 0, 2);
	put_value(b, "k", "a value of thirty bytes, yes..", 0);
	put_bytes(b, zeros, 20);
	snapshot_seed("bad-register-truncated", b, "register entry truncated");

	snapshot_header(b, 0, 1);
	put_value(b, "key", "value", 0);
	b->len--;
	snapshot_seed("bad-register-cut", b, "register entry length past the end");

	snapshot_register_patched(b, 0, 20);
	snapshot_seed("bad-entry-length-small", b, "register entry length too small");

	snapshot_register_patched(b, 0, 0xFFFFFFFF);
	snapshot_seed("bad-entry-length-ffffffff", b,
				  "register entry length past the end");

	snapshot_register_patched(b, 21, 3);
	snapshot_seed("bad-key-length-past-entry", b,
				  "key length past the end of its entry");

	snapshot_register_patched(b, 21, 0xFFFFFFFF);
	snapshot_seed("bad-key-length-ffffffff", b,
				  "key length past the end of its entry");

	snapshot_register_patched(b, 21, 0);
	snapshot_seed("bad-empty-key", b, "empty key");

	snapshot_header(b, 0, 1);
	put_value(b, "k", "v", 0);
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + 4] = 4;
	snapshot_seed("bad-kind", b, "unknown register kind");

	/* a kind 1 entry relabelled kind 3: too short to hold an expiry */
	snapshot_header(b, 0, 1);
	put_value(b, "k", "v", 0);
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + 4] = MANTIS_CODEC_KIND_EXPIRING;
	snapshot_seed("bad-expiring-too-short", b, "register entry length too small");

	/* the expiry of kind 3 is at 21 in its entry */
	snapshot_header(b, 0, 1);
	put_expiring(b, "k", "v", 0);
	mantis_put_u64(b->data + MANTIS_SNAPSHOT_HEADER_SIZE + 21, 0);
	snapshot_seed("bad-expiring-no-expiry", b, "expiring register without an expiry");

	snapshot_header(b, 0, 1);
	put_expiring(b, "k", "v", 0);
	mantis_put_u64(b->data + MANTIS_SNAPSHOT_HEADER_SIZE + 21, MANTIS_HLC_MAX_MS + 1);
	snapshot_seed("bad-expiry-past-9999", b, "expiry beyond year 9999");

	/* a kind 1 entry relabelled kind 3 but long enough: its "expiry" is key and value */
	snapshot_header(b, 0, 1);
	put_expiring(b, "k", "v", 0);
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + 4] = MANTIS_CODEC_KIND_VALUE;
	snapshot_seed("bad-expiring-as-value", b, "key length past the end of its entry");

	snapshot_header(b, 0, 1);
	put_value(b, "k", "v", 0);
	b->data[MANTIS_SNAPSHOT_HEADER_SIZE + 4] = MANTIS_CODEC_KIND_DELETION;
	snapshot_seed("bad-deletion-with-value", b, "deletion marker with a value");

	snapshot_header(b, 0, 1);
	put_register(b, "k", "v", 1, mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0), NODE_A);
	snapshot_seed("bad-clock-past-9999", b, "clock beyond year 9999");
}

static void
frame_valid(Buf *b)
{
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	frame_seed("ok-hello", b, NULL);

	frame_greeting(b, MANTIS_FRAME_WELCOME,
				   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
				   "abcdefghijklmnopqrstuvwxyz_0123");
	frame_seed("ok-welcome", b, NULL);

	frame_greeting_limits(b, MANTIS_FRAME_WELCOME, "x", 0, UINT32_MAX, "SQL_ASCII");
	frame_seed("ok-welcome-extreme-limits", b, NULL);

	/* horizons: none yet (0), and the last HLC of 9999 */
	frame_greeting_at(b, MANTIS_FRAME_HELLO, 0, 0, 0);
	frame_seed("ok-hello-no-horizons", b, NULL);
	frame_greeting_at(b, MANTIS_FRAME_WELCOME, LAST_HLC, LAST_HLC, LAST_HLC);
	frame_seed("ok-welcome-last-horizons", b, NULL);

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k1", "v1", 0);
	put_deletion(b, "k2", 1);
	put_value(b, "k3", "", 2);
	updates_count(b, 3);
	frame_seed("ok-updates-live", b, NULL);

	/* the last frame of a live batch, with its watermark */
	updates_head(b, 8, MANTIS_LIVE_GROUP);
	put_value(b, "k4", "v4", 2);
	put_deletion(b, "k5", 3);
	updates_count(b, 2);
	updates_end_batch(b, SEED_WATERMARK);
	frame_seed("ok-updates-live-batch-end", b, NULL);

	/* a batch that ends in a frame of no registers, at the last watermark */
	updates_head(b, 9, MANTIS_LIVE_GROUP);
	updates_end_batch(b, LAST_HLC);
	frame_seed("ok-updates-live-batch-end-empty", b, NULL);

	/* a batch end of no watermark */
	updates_head(b, 10, MANTIS_LIVE_GROUP);
	put_value(b, "k6", "v6", 4);
	updates_count(b, 1);
	updates_end_batch(b, 0);
	frame_seed("ok-updates-live-batch-end-no-watermark", b, NULL);

	updates_head(b, 7, 42);
	put_value(b, "repaired", "value", 0);
	put_register(b, "last", "9999", 4,
				 mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF), UINT64_MAX);
	updates_count(b, 2);
	frame_seed("ok-updates-repair", b, NULL);

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_expiring(b, "session:8f3a", "{\"user\": 42}", 0);
	put_value(b, "k1", "v1", 1);
	put_expiring(b, "k2", "", 2);
	updates_count(b, 3);
	frame_seed("ok-updates-expiring", b, NULL);

	updates_head(b, 7, 255);
	frame_seed("ok-updates-empty", b, NULL);

	frame_summary(b, 7, UINT64_C(0x0badc0ffee0ddf00));
	frame_seed("ok-summary", b, NULL);

	frame_insync(b, 7);
	frame_seed("ok-insync", b, NULL);

	frame_insync_mark(b, 7, 0, 0);
	frame_seed("ok-insync-no-live-frame", b, NULL);

	frame_insync_mark(b, UINT32_MAX, UINT32_MAX, LAST_HLC);
	frame_seed("ok-insync-last-mark", b, NULL);

	frame_groups(b, 7);
	frame_seed("ok-groups", b, NULL);

	frame_groups_mark(b, 7, UINT32_MAX, LAST_HLC);
	frame_seed("ok-groups-last-mark", b, NULL);

	frame_leaves(b, 7, 255);
	frame_seed("ok-leaves", b, NULL);

	frame_leaves_flags(b, 7, 0, MANTIS_FRAME_HELD_BACK);
	frame_seed("ok-leaves-held-back", b, NULL);
}

static void
frame_header_faults(Buf *b)
{
	MantisFrameHeader late = header;
	MantisLiveMark mark = {SEED_LIVE_SEQ, SEED_WATERMARK};

	frame_insync(b, 7);
	b->len = MANTIS_FRAME_HEADER_SIZE - 1;
	frame_seed("bad-short-header", b, "shorter than a frame header");

	frame_insync(b, 7);
	memcpy(b->data, MANTIS_SNAPSHOT_MAGIC, 4);
	frame_seed("bad-magic", b, "bad magic bytes");

	frame_insync(b, 7);
	b->data[AT_VERSION] = MANTIS_FRAME_VERSION_MAX + 1;
	frame_seed("bad-version", b, "unsupported protocol version");

	/* a version-1 HELLO: no limits in its greeting */
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->data[AT_VERSION] = 1;
	b->len = MANTIS_FRAME_HEADER_SIZE + 1 + 5;
	frame_seed("bad-version-1-hello", b, "unsupported protocol version");

	/* the first flag bit after BATCH_END and HELD_BACK, the last, all */
	frame_insync(b, 7);
	mantis_put_u16(b->data + AT_FLAGS, 0x0004);
	frame_seed("bad-flags", b, "unknown frame flags");

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	updates_end_batch(b, SEED_WATERMARK);
	mantis_put_u16(b->data + AT_FLAGS, MANTIS_FRAME_BATCH_END | 0x8000);
	frame_seed("bad-flags-8000-batch-end", b, "unknown frame flags");

	frame_leaves_flags(b, 7, 0, 0xFFFF);
	frame_seed("bad-flags-ffff-leaves", b, "unknown frame flags");

	late.hlc = mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0);
	buf_reset(b);
	mantis_frame_put_insync(buf_grow(b, MANTIS_FRAME_INSYNC_SIZE), &late, 7, &mark);
	frame_seed("bad-clock-past-9999", b, "clock beyond year 9999");

	frame_insync(b, 7);
	b->data[AT_TYPE] = 0;
	frame_seed("bad-type-0", b, "unknown frame type");

	frame_insync(b, 7);
	b->data[AT_TYPE] = MANTIS_FRAME_TOMBS + 1;
	frame_seed("bad-type-9", b, "unknown frame type");
}

static void
frame_body_faults(Buf *b)
{
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->len = MANTIS_FRAME_HEADER_SIZE;
	frame_seed("bad-hello-no-name", b, "name truncated");

	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	frame_seed_plus("bad-hello-trailing", b, "encoding length does not match the frame");
	frame_seed_minus("bad-hello-cut", b, "encoding length does not match the frame");

	/* the body of a version-1 HELLO behind a version-3 header, then its limits */
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->len = MANTIS_FRAME_HEADER_SIZE + 1 + 5;
	frame_seed("bad-hello-no-limits", b, "greeting limits truncated");
	b->len += 4 + 4;
	frame_seed("bad-hello-no-encoding", b, "greeting limits truncated");

	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->len = MANTIS_FRAME_HEADER_SIZE + 1 + 5;
	b->data[MANTIS_FRAME_HEADER_SIZE] = 200;
	frame_seed("bad-hello-name-past-end", b, "name past the end of the frame");

	frame_greeting(b, MANTIS_FRAME_WELCOME, "x", "UTF8");
	b->data[MANTIS_FRAME_HEADER_SIZE] = 0;
	frame_seed("bad-welcome-empty-name", b, "invalid node name");

	frame_greeting(b, MANTIS_FRAME_WELCOME, "al ha", "UTF8");
	frame_seed("bad-welcome-name-char", b, "invalid node name");

	frame_greeting(b, MANTIS_FRAME_WELCOME, "alpha", "");
	frame_seed("bad-welcome-empty-encoding", b, "invalid encoding name");

	frame_greeting(b, MANTIS_FRAME_WELCOME, "alpha", "UTF-8");
	frame_seed("bad-welcome-encoding-char", b, "invalid encoding name");

	frame_greeting(b, MANTIS_FRAME_WELCOME, "alpha", "abcdefghijklmnopqrstuvwxyz_01234");
	frame_seed("bad-welcome-encoding-32", b, "invalid encoding name");

	/* the encoding's length byte, just before "UTF8" and the horizons */
	frame_greeting(b, MANTIS_FRAME_WELCOME, "alpha", "UTF8");
	b->data[b->len - 24 - 5] = 200;
	frame_seed("bad-welcome-encoding-past-end", b,
			   "encoding length does not match the frame");

	frame_summary(b, 7, 1);
	frame_seed_plus("bad-summary-long", b, "summary of the wrong size");
	frame_seed_minus("bad-summary-short", b, "summary of the wrong size");

	frame_insync(b, 7);
	frame_seed_plus("bad-insync-long", b, "insync of the wrong size");

	frame_groups(b, 7);
	frame_seed_minus("bad-groups-short", b, "groups of the wrong size");

	frame_leaves(b, 7, 256);
	frame_seed("bad-leaves-group-256", b, "invalid group");
	frame_seed_plus("bad-leaves-long", b, "leaves of the wrong size");
}

static void
frame_updates_faults(Buf *b)
{
	/* round and group, no count */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	b->len -= 4 + 8;
	frame_seed("bad-updates-prefix-cut", b, "updates header truncated");

	/* round, group and count, and 7 bytes of the watermark */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	updates_end_batch(b, SEED_WATERMARK);
	b->len -= 1;
	frame_seed("bad-updates-watermark-cut", b, "updates header truncated");

	updates_head(b, 7, 256);
	frame_seed("bad-updates-group-256", b, "invalid group");

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k", "v", 0);
	updates_count(b, 0xFFFFFFFF);
	frame_seed("bad-updates-count-ffffffff", b,
			   "register count larger than the frame");

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k1", "v1", 0);
	updates_count(b, 1);
	frame_seed_plus("bad-updates-trailing", b,
					"trailing bytes after the last register");
	frame_seed_minus("bad-updates-cut", b, "register entry length past the end");

	/* the key length of the last register (of 29 bytes, at 21 in it) */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k1", "v1", 0);
	put_value(b, "k2", "v2", 0);
	updates_count(b, 2);
	mantis_put_u32(b->data + b->len - 29 + 21, 0);
	frame_seed("bad-updates-empty-key", b, "empty key");

	/* a deletion given a value byte, and an entry length that covers it */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_deletion(b, "k", 0);
	updates_count(b, 1);
	put_u8(b, 'v');
	mantis_put_u32(b->data + b->len - 27, 23);
	frame_seed("bad-updates-deletion-with-value", b,
			   "deletion marker with a value");

	/* the expiry of the last register (of 35 bytes, at 21 in it) */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k1", "v1", 0);
	put_expiring(b, "k2", "v2", 1);
	updates_count(b, 2);
	mantis_put_u64(b->data + b->len - 37 + 21, 0);
	frame_seed("bad-updates-expiring-no-expiry", b, "expiring register without an expiry");
}

/* the fields of version 3 out of bounds, and frames of version 2 */
static void
frame_v3_faults(Buf *b)
{
	static const char outside[] = "watermark outside the end of a live batch";
	size_t		n;

	/* each horizon of a greeting past 9999 */
	frame_greeting_at(b, MANTIS_FRAME_HELLO, PAST_9999, SEED_STABLE, SEED_COLLECTED);
	frame_seed("bad-hello-acked-past-9999", b, "greeting horizon beyond year 9999");
	frame_greeting_at(b, MANTIS_FRAME_WELCOME, SEED_ACKED, PAST_9999, SEED_COLLECTED);
	frame_seed("bad-welcome-stable-past-9999", b, "greeting horizon beyond year 9999");
	frame_greeting_at(b, MANTIS_FRAME_HELLO, SEED_ACKED, SEED_STABLE, UINT64_MAX);
	frame_seed("bad-hello-collected-ffffffffffffffff", b,
			   "greeting horizon beyond year 9999");

	/* a version-2 greeting body (no horizons) behind a version-3 header */
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->len -= 24;
	frame_seed("bad-hello-no-horizons", b, "encoding length does not match the frame");

	/* a watermark outside the end of a live batch */
	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k", "v", 0);
	updates_count(b, 1);
	mantis_put_u64(b->data + AT_WATERMARK, SEED_WATERMARK);
	frame_seed("bad-updates-watermark-no-batch-end", b, outside);

	updates_head(b, 7, 42);
	put_value(b, "k", "v", 0);
	updates_count(b, 1);
	updates_end_batch(b, SEED_WATERMARK);
	frame_seed("bad-updates-repair-batch-end", b, outside);

	updates_head(b, 7, 0);
	updates_end_batch(b, 0);
	frame_seed("bad-updates-repair-batch-end-no-watermark", b, outside);

	updates_head(b, 7, 255);
	mantis_put_u64(b->data + AT_WATERMARK, SEED_WATERMARK);
	frame_seed("bad-updates-repair-watermark", b, outside);

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	updates_end_batch(b, PAST_9999);
	frame_seed("bad-updates-watermark-past-9999", b, "watermark beyond year 9999");

	/* a mark's watermark past 9999 */
	frame_insync_mark(b, 7, SEED_LIVE_SEQ, PAST_9999);
	frame_seed("bad-insync-watermark-past-9999", b, "watermark beyond year 9999");
	frame_groups_mark(b, 7, SEED_LIVE_SEQ, UINT64_MAX);
	frame_seed("bad-groups-watermark-ffffffffffffffff", b, "watermark beyond year 9999");

	/*
	 * Frames of version 2, in its layout: no horizons, no watermark, no
	 * mark, no flags.  Refused for their version; their bodies behind a
	 * version-3 header, for their size.
	 */
	frame_greeting(b, MANTIS_FRAME_HELLO, "alpha", "UTF8");
	b->len -= 24;
	b->data[AT_VERSION] = 2;
	frame_seed("bad-version-2-hello", b, "unsupported protocol version");

	updates_head(b, 0, MANTIS_LIVE_GROUP);
	put_value(b, "k1", "v1", 0);
	updates_count(b, 1);
	n = b->len - MANTIS_FRAME_UPDATES_HEAD_SIZE;
	memmove(b->data + AT_WATERMARK, b->data + MANTIS_FRAME_UPDATES_HEAD_SIZE, n);
	b->len -= 8;
	b->data[AT_VERSION] = 2;
	frame_seed("bad-version-2-updates", b, "unsupported protocol version");

	frame_insync(b, 7);
	b->len = AT_MARK;
	b->data[AT_VERSION] = 2;
	frame_seed("bad-version-2-insync", b, "unsupported protocol version");
	b->data[AT_VERSION] = 3;
	frame_seed("bad-insync-no-mark", b, "insync of the wrong size");

	frame_groups(b, 7);
	memmove(b->data + AT_MARK, b->data + AT_MARK + MANTIS_FRAME_MARK_SIZE,
			8 * MANTIS_DIGEST_GROUPS);
	b->len -= MANTIS_FRAME_MARK_SIZE;
	b->data[AT_VERSION] = 2;
	frame_seed("bad-version-2-groups", b, "unsupported protocol version");
	b->data[AT_VERSION] = 3;
	frame_seed("bad-groups-no-mark", b, "groups of the wrong size");

	frame_leaves(b, 7, 255);
	b->data[AT_VERSION] = 2;
	frame_seed("bad-version-2-leaves", b, "unsupported protocol version");
}

/*
 * Version 4: greetings with the protocol range, member set and generation
 * after the horizons, each of their faults, a greeting of the length of
 * the other version; and frames of the other types, whose layout is that
 * of version 3.
 */
static void
frame_v4(Buf *b)
{
	static const char length[] = "encoding length does not match the frame";
	const uint64_t members = UINT64_C(0x5eedc0de5eedc0de);
	const uint64_t generation = 42;

	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 3, 4, members, 3, generation);
	frame_seed("ok-hello-v4", b, NULL);
	frame_seed_plus("bad-hello-v4-trailing", b, length);
	frame_seed_minus("bad-hello-v4-cut", b, length);
	b->len -= MANTIS_GREETING_V4_SIZE;
	frame_seed("bad-hello-v4-without-its-fields", b, length);
	b->len += MANTIS_GREETING_V4_SIZE;
	b->data[AT_VERSION] = 3;
	frame_seed("bad-hello-v4-as-v3", b, length);

	/* a member set not known yet, of any count; no generation yet */
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 3, 4, 0, 0, 0);
	frame_seed("ok-welcome-v4-members-unknown", b, NULL);
	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 3, 4, 0, 2, 7);
	frame_seed("ok-hello-v4-count-members-unknown", b, NULL);

	/* a server of the future: no longer 3, up to 255 */
	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 4, 255, members, 1, UINT64_MAX);
	frame_seed("ok-hello-v4-range-4-255", b, NULL);
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 4, 4, UINT64_MAX, UINT16_MAX, generation);
	frame_seed("ok-welcome-v4-extreme-members", b, NULL);

	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 2, 4, members, 3, generation);
	frame_seed("bad-hello-v4-range-from-2", b, "greeting protocol range below version 3");
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 0, 0, members, 3, generation);
	frame_seed("bad-welcome-v4-range-0", b, "greeting protocol range below version 3");
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 4, 3, members, 3, generation);
	frame_seed("bad-welcome-v4-range-empty", b, "greeting protocol range is empty");
	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 3, 3, members, 3, generation);
	frame_seed("bad-hello-v4-range-3-3", b, "greeting version outside its protocol range");
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 5, 9, members, 3, generation);
	frame_seed("bad-welcome-v4-range-5-9", b, "greeting version outside its protocol range");
	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 3, 4, members, 0, generation);
	frame_seed("bad-hello-v4-members-no-count", b,
			   "greeting member digest without a member count");

	/* the checks of version 3 come first */
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 3, 4, members, 3, generation);
	mantis_put_u64(b->data + b->len - MANTIS_GREETING_V4_SIZE - 16, PAST_9999);
	frame_seed("bad-welcome-v4-stable-past-9999", b, "greeting horizon beyond year 9999");

	/* a version-3 greeting relabelled 4: its fields of version 4 are missing */
	frame_greeting(b, MANTIS_FRAME_WELCOME, "alpha", "UTF8");
	b->data[AT_VERSION] = 4;
	frame_seed("bad-welcome-v3-as-v4", b, length);

	/* the other types: version 3's layout under a version-4 header */
	updates_head(b, 8, MANTIS_LIVE_GROUP);
	put_value(b, "k4", "v4", 2);
	put_expiring(b, "k5", "v5", 3);
	updates_count(b, 2);
	updates_end_batch(b, SEED_WATERMARK);
	b->data[AT_VERSION] = 4;
	frame_seed("ok-updates-live-batch-end-v4", b, NULL);

	frame_summary(b, 7, UINT64_C(0x0badc0ffee0ddf00));
	b->data[AT_VERSION] = 4;
	frame_seed("ok-summary-v4", b, NULL);

	frame_insync(b, 7);
	b->data[AT_VERSION] = 4;
	frame_seed("ok-insync-v4", b, NULL);
	frame_seed_minus("bad-insync-v4-short", b, "insync of the wrong size");

	frame_groups(b, 7);
	b->data[AT_VERSION] = 4;
	frame_seed("ok-groups-v4", b, NULL);

	frame_leaves_flags(b, 7, 0, MANTIS_FRAME_HELD_BACK);
	b->data[AT_VERSION] = 4;
	frame_seed("ok-leaves-held-back-v4", b, NULL);
}

/*
 * Version 5: a greeting of the range 3-5 (version 4's layout), and TOMBS,
 * the hash tombstones of R7, with each fault of its decoder.
 */
static void
frame_tombs(Buf *b, uint16_t group, int nrec, int nbound)
{
	MantisFrameHeader h = header;
	unsigned char *p;

	h.version = MANTIS_FRAME_VERSION_TOMBS;
	buf_reset(b);
	p = buf_grow(b, MANTIS_FRAME_TOMBS_HEAD_SIZE);
	mantis_frame_put_tombs_head(p, &h, 7, group);
	for (int i = 0; i < nrec; i++)
	{
		MantisRecordView r;

		r.hash = (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t) (i + 1)) << 16 |
			(uint64_t) group << 8 | (uint64_t) (i * 37 % 256);
		r.ts = mantis_hlc_pack(SEED_MS - 60000 + (uint64_t) i, (uint16_t) i);
		r.node = NODE_B;
		r.fingerprint = UINT64_C(0x0f1e2d3c4b5a6978) ^ (uint64_t) i;
		r.death_ms = SEED_MS - 60000 + (uint64_t) i;
		mantis_tomb_put_record(buf_grow(b, MANTIS_TOMB_RECORD_SIZE), &r);
	}
	for (int i = 0; i < nbound; i++)
	{
		MantisTombBound t;

		t.leaf = (uint16_t) (group * MANTIS_DIGEST_GROUP_LEAVES + i * 5 % 256);
		t.bound.bound_ts = mantis_hlc_pack(SEED_MS - 120000, (uint16_t) i);
		t.bound.fingerprint = UINT64_C(0x1122334455667788) + (uint64_t) i;
		t.bound.death_ms = SEED_MS - 120000;
		mantis_tomb_put_bound(buf_grow(b, MANTIS_TOMB_BOUND_SIZE), &t);
	}
	mantis_frame_tombs_set_counts(b->data, (uint32_t) nrec, (uint16_t) nbound);
}

#define AT_TOMBS		MANTIS_FRAME_TOMBS_HEAD_SIZE

static void
frame_v5(Buf *b)
{
	frame_greeting_v4(b, MANTIS_FRAME_HELLO, 3, 5, UINT64_C(0x0123456789abcdef), 3, 42);
	b->data[AT_VERSION] = 5;
	frame_seed("ok-hello-v5", b, NULL);
	frame_greeting_v4(b, MANTIS_FRAME_WELCOME, 3, 4, UINT64_C(0x0123456789abcdef), 3, 42);
	b->data[AT_VERSION] = 5;
	frame_seed("bad-welcome-v5-range-3-4", b, "greeting version outside its protocol range");

	frame_tombs(b, 3, 3, 2);
	frame_seed("ok-tombs", b, NULL);
	frame_seed_plus("bad-tombs-long", b, "tombstone counts do not match the frame");
	frame_seed_minus("bad-tombs-short", b, "tombstone counts do not match the frame");
	b->data[AT_VERSION] = 4;
	frame_seed("bad-tombs-v4", b, "hash tombstones before protocol version 5");
	frame_tombs(b, 255, 0, 0);
	frame_seed("ok-tombs-empty", b, NULL);
	frame_tombs(b, 0, 40, 0);
	frame_seed("ok-tombs-records", b, NULL);
	frame_tombs(b, 9, 0, 256);
	frame_seed("ok-tombs-every-bound", b, NULL);

	frame_tombs(b, 256, 0, 0);
	frame_seed("bad-tombs-group-256", b, "invalid group");
	frame_tombs(b, 3, 3, 2);
	b->data[AT_TOMBS + 6] ^= 1;	/* the first record's hash: leaf of group 2 */
	frame_seed("bad-tombs-record-other-group", b, "tombstone outside its group");
	frame_tombs(b, 3, 3, 2);
	memset(b->data + AT_TOMBS + MANTIS_TOMB_RECORD_SIZE + 8, 0, 8);
	frame_seed("bad-tombs-clock-0", b, "tombstone clock 0 or beyond year 9999");
	frame_tombs(b, 3, 3, 2);
	mantis_put_u64(b->data + AT_TOMBS + 8, PAST_9999);
	frame_seed("bad-tombs-clock-past-9999", b, "tombstone clock 0 or beyond year 9999");
	frame_tombs(b, 3, 3, 2);
	mantis_put_u64(b->data + AT_TOMBS + 32, UINT64_MAX);
	frame_seed("bad-tombs-death-ffffffffffffffff", b, "tombstone death beyond year 9999");
	frame_tombs(b, 3, 1, 2);
	b->data[AT_TOMBS + MANTIS_TOMB_RECORD_SIZE] = 4;
	frame_seed("bad-tombs-bound-other-group", b, "bound outside its group");
	frame_tombs(b, 3, 1, 2);
	memset(b->data + AT_TOMBS + MANTIS_TOMB_RECORD_SIZE + MANTIS_TOMB_BOUND_SIZE + 2, 0, 8);
	frame_seed("bad-tombs-bound-0", b, "bound 0 or beyond year 9999");
	frame_tombs(b, 3, 1, 1);
	mantis_put_u64(b->data + AT_TOMBS + MANTIS_TOMB_RECORD_SIZE + 18, PAST_9999);
	frame_seed("bad-tombs-bound-death-past-9999", b, "bound death beyond year 9999");
	frame_tombs(b, 3, 3, 0);
	mantis_frame_tombs_set_counts(b->data, UINT32_MAX, 0);
	frame_seed("bad-tombs-count-ffffffff", b, "tombstone count larger than the frame");
	frame_tombs(b, 3, 3, 2);
	mantis_frame_tombs_set_counts(b->data, 2, 3);	/* 158 bytes of 172 */
	frame_seed("bad-tombs-counts-swapped", b, "tombstone counts do not match the frame");
	frame_tombs(b, 0, 0, 256);
	{
		unsigned char first[MANTIS_TOMB_BOUND_SIZE];

		memcpy(first, b->data + AT_TOMBS, sizeof(first));
		put_bytes(b, first, sizeof(first));
	}
	mantis_frame_tombs_set_counts(b->data, 0, 257);
	frame_seed("bad-tombs-257-bounds", b, "more bounds than the group has leaves");
	frame_tombs(b, 3, 1, 0);
	b->data[AT_FLAGS + 1] = MANTIS_FRAME_HELD_BACK;
	frame_seed("bad-tombs-held-back", b, "held-back flag on a frame other than LEAVES");
}

static void
hlc_seeds(void)
{
	static const struct
	{
		const char *name;
		const char *text;
		int			valid;
	}			seeds[] = {
		{"ok-typical", "2026-11-26T02:11:33.123Z-0001-0123456789abcdef", 1},
		{"ok-epoch", "1970-01-01T00:00:00.000Z-0000-0000000000000000", 1},
		{"ok-max", "9999-12-31T23:59:59.999Z-ffff-ffffffffffffffff", 1},
		{"ok-leap-day", "2024-02-29T12:00:00.500Z-00a0-00000000000000ff", 1},
		{"ok-leap-day-2000", "2000-02-29T23:59:59.999Z-0000-8000000000000000", 1},
		{"bad-feb-30", "2026-02-30T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-feb-29-not-leap", "2023-02-29T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-feb-29-2100", "2100-02-29T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-apr-31", "2026-04-31T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-year-1969", "1969-12-31T23:59:59.999Z-0000-0000000000000001", 0},
		{"bad-month-13", "2026-13-01T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-month-00", "2026-00-01T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-day-00", "2026-01-00T00:00:00.000Z-0000-0000000000000001", 0},
		{"bad-hour-24", "2026-01-01T24:00:00.000Z-0000-0000000000000001", 0},
		{"bad-minute-60", "2026-01-01T00:60:00.000Z-0000-0000000000000001", 0},
		{"bad-second-60", "2026-12-31T23:59:60.000Z-0000-0000000000000001", 0},
		{"bad-upper-hex", "2026-11-26T02:11:33.123Z-0001-0123456789ABCDEF", 0},
		{"bad-no-z", "2026-11-26T02:11:33.123+-0001-0123456789abcdef", 0},
		{"bad-space", "2026-11-26 02:11:33.123Z-0001-0123456789abcdef", 0},
		{"bad-sign", "2026-11-26T02:11:33.12-Z-0001-0123456789abcdef", 0},
		{"bad-short", "2026-11-26T02:11:33.123Z-0001-0123456789abcde", 0},
		{"bad-long", "2026-11-26T02:11:33.123Z-0001-0123456789abcdef\n", 0},
		{"bad-empty", "", 0},
	};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		hlc_seed(seeds[i].name, seeds[i].text, strlen(seeds[i].text),
				 seeds[i].valid);

	/* a NUL where a hex digit should be (memchr finds the terminator) */
	hlc_seed("bad-nul-in-node", "2026-11-26T02:11:33.123Z-0001-0123456789ab\0def",
			 MANTIS_HLC_TEXT_LEN, 0);
}

int
main(int argc, char **argv)
{
	Buf			b = {NULL, 0, 0};

	if (argc > 2)
	{
		fprintf(stderr, "usage: make_corpus [dir]\n");
		return 2;
	}
	if (argc == 2)
		outdir = argv[1];
	make_dir(outdir);
	header.version = 3;
	header.sender = NODE_A;
	header.incarnation = UINT64_C(1764123000000);
	header.hlc = mantis_hlc_pack(SEED_MS, 7);
	header.flags = 0;

	snapshot_valid(&b);
	snapshot_header_faults(&b);
	snapshot_node_faults(&b);
	snapshot_register_faults(&b);
	frame_valid(&b);
	frame_header_faults(&b);
	frame_body_faults(&b);
	frame_updates_faults(&b);
	frame_v3_faults(&b);
	frame_v4(&b);
	frame_v5(&b);
	hlc_seeds();
	free(b.data);

	printf("make_corpus: %d seeds written to %s, %d with an unexpected verdict\n",
		   written, outdir, mismatches);
	return mismatches ? 1 : 0;
}
