/*
 * test_snapshot.c
 *	  Round-trip tests of the snapshot format (src/common/snapshot.c, with the
 *	  node and register entries of src/common/frame.c).
 *
 * Snapshots of nodes and registers (values, deletions, values with an expiry,
 * empty and binary values, extreme clocks and expiries) are encoded the way
 * src/persist/flush.c does (header, then codec entries, into memory of exactly
 * the summed sizes), decoded with mantis_snapshot_decode(), and what its
 * callbacks see is compared with what went in; every proper prefix of a
 * snapshot, the snapshot with a byte added, and with either count off by one,
 * is rejected, with and without callbacks alike.  The empty snapshot is
 * compared with bytes written out by hand; a version 1 snapshot (no horizon)
 * still decodes; an expiring entry with no expiry, or one past the year 9999,
 * does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/snapshot.h"
#include "unit.h"

#define MAX_NODES		8
#define MAX_REGISTERS	64

typedef struct Node
{
	uint64_t	id;
	char		name[MANTIS_CODEC_NODE_NAME_MAX + 1];
	size_t		name_len;
} Node;

typedef struct Snapshot
{
	int			nodes;
	Node		node[MAX_NODES];
	int			registers;
	uint64_t	horizon;
	MantisRecord reg[MAX_REGISTERS];
	char		key[MAX_REGISTERS][32];
	char	   *value[MAX_REGISTERS];
} Snapshot;

/* what the decoder's callbacks saw */
typedef struct Seen
{
	const Snapshot *expect;
	uint64_t	horizon;
	int			nodes;
	int			registers;
	int			mismatches;
} Seen;

static void
on_node(void *arg, uint64_t id, const char *name, size_t name_len)
{
	Seen	   *seen = arg;
	const Node *n;

	if (seen->nodes >= seen->expect->nodes || seen->registers > 0)
	{
		seen->mismatches++;
		return;
	}
	n = &seen->expect->node[seen->nodes++];
	if (id != n->id || name_len != n->name_len || memcmp(name, n->name, name_len) != 0)
		seen->mismatches++;
}

static void
on_register(void *arg, const MantisRecord *rec)
{
	Seen	   *seen = arg;
	const MantisRecord *r;

	if (seen->registers >= seen->expect->registers)
	{
		seen->mismatches++;
		return;
	}
	r = &seen->expect->reg[seen->registers++];
	if (rec->hlc.ts != r->hlc.ts || rec->hlc.node != r->hlc.node ||
		rec->deleted != r->deleted || rec->key_len != r->key_len ||
		rec->expires_ms != (r->deleted ? 0 : r->expires_ms) ||
		memcmp(rec->key, r->key, r->key_len) != 0 ||
		rec->value_len != r->value_len ||
		(r->value_len > 0 && memcmp(rec->value, r->value, r->value_len) != 0))
		seen->mismatches++;
}

/* the encoded size: header, then each entry */
static size_t
snapshot_size(const Snapshot *s)
{
	size_t		size = MANTIS_SNAPSHOT_HEADER_SIZE;

	for (int i = 0; i < s->nodes; i++)
		size += mantis_codec_node_size(s->node[i].name_len);
	for (int i = 0; i < s->registers; i++)
		size += mantis_codec_register_size(&s->reg[i]);
	return size;
}

/* encode into exactly snapshot_size() bytes, as persist/flush.c does */
static unsigned char *
encode(const Snapshot *s, size_t *size)
{
	unsigned char *buf;
	unsigned char *p;

	*size = snapshot_size(s);
	buf = malloc(*size);
	if (buf == NULL)
	{
		perror("malloc");
		exit(2);
	}
	mantis_snapshot_put_header(buf, (uint16_t) s->nodes, (uint32_t) s->registers,
							   s->horizon);
	p = buf + MANTIS_SNAPSHOT_HEADER_SIZE;
	for (int i = 0; i < s->nodes; i++)
		p = mantis_codec_put_node(p, s->node[i].id, s->node[i].name, s->node[i].name_len);
	for (int i = 0; i < s->registers; i++)
		p = mantis_codec_put_register(p, &s->reg[i]);
	CHECK((size_t) (p - buf) == *size, "encoded %zu bytes of %zu", (size_t) (p - buf), *size);
	return buf;
}

/* decode from a copy of exactly len bytes, with and without callbacks */
static const char *
decode(const unsigned char *data, size_t len, const Snapshot *expect, Seen *seen)
{
	unsigned char *copy = malloc(len ? len : 1);
	const char *err;
	const char *blind;

	if (copy == NULL)
		exit(2);
	memcpy(copy, data, len);
	memset(seen, 0, sizeof(*seen));
	seen->expect = expect;
	err = mantis_snapshot_decode(copy, len, on_node, on_register, seen, &seen->horizon);
	blind = mantis_snapshot_decode(copy, len, NULL, NULL, NULL, NULL);
	CHECK((err == NULL) == (blind == NULL) &&
		  (err == NULL || strcmp(err, blind) == 0),
		  "with callbacks: %s, without: %s", err ? err : "valid", blind ? blind : "valid");
	free(copy);
	return err;
}

static void
check_snapshot(const char *what, const Snapshot *s, int cut_every_prefix)
{
	size_t		size;
	unsigned char *buf = encode(s, &size);
	unsigned char *bigger;
	Seen		seen;
	const char *err;

	err = decode(buf, size, s, &seen);
	CHECK(err == NULL, "%s: %s", what, err);
	CHECK(seen.nodes == s->nodes, "%s: %d nodes seen of %d", what, seen.nodes, s->nodes);
	CHECK(seen.registers == s->registers, "%s: %d registers seen of %d", what,
		  seen.registers, s->registers);
	CHECK(seen.mismatches == 0, "%s: %d entries differ", what, seen.mismatches);
	CHECK(seen.horizon == s->horizon, "%s: horizon %llu, not %llu", what,
		  (unsigned long long) seen.horizon, (unsigned long long) s->horizon);

	if (cut_every_prefix)
		for (size_t len = 0; len < size; len++)
			CHECK(decode(buf, len, s, &seen) != NULL, "%s: its first %zu of %zu bytes decode",
				  what, len, size);
	else
		CHECK(decode(buf, size - 1, s, &seen) != NULL, "%s: cut by a byte decodes", what);

	bigger = malloc(size + 1);
	if (bigger == NULL)
		exit(2);
	memcpy(bigger, buf, size);
	bigger[size] = 0;
	CHECK(strcmp(decode(bigger, size + 1, s, &seen), "trailing bytes after the last register") == 0,
		  "%s: a byte added", what);
	free(bigger);

	/* the counts in the header are exact */
	mantis_snapshot_put_header(buf, (uint16_t) s->nodes, (uint32_t) s->registers + 1, s->horizon);
	CHECK(decode(buf, size, s, &seen) != NULL, "%s: register count + 1 decodes", what);
	mantis_snapshot_put_header(buf, (uint16_t) (s->nodes + 1), (uint32_t) s->registers, s->horizon);
	CHECK(decode(buf, size, s, &seen) != NULL, "%s: node count + 1 decodes", what);
	if (s->registers > 0)
	{
		mantis_snapshot_put_header(buf, (uint16_t) s->nodes, (uint32_t) s->registers - 1, s->horizon);
		CHECK(decode(buf, size, s, &seen) != NULL, "%s: register count - 1 decodes", what);
	}
	mantis_snapshot_put_header(buf, (uint16_t) s->nodes, (uint32_t) s->registers, s->horizon);

	/* the same entries under a version 1 header: no horizon, read as 0 */
	if (s->horizon == 0)
	{
		unsigned char *v1 = malloc(size);

		if (v1 == NULL)
			exit(2);
		memcpy(v1, buf, MANTIS_SNAPSHOT_V1_HEADER_SIZE);
		v1[4] = 1;
		memcpy(v1 + MANTIS_SNAPSHOT_V1_HEADER_SIZE, buf + MANTIS_SNAPSHOT_HEADER_SIZE,
			   size - MANTIS_SNAPSHOT_HEADER_SIZE);
		err = decode(v1, size - 8, s, &seen);
		CHECK(err == NULL, "%s as version 1: %s", what, err);
		CHECK(seen.registers == s->registers && seen.mismatches == 0,
			  "%s as version 1: %d registers seen, %d differ", what, seen.registers, seen.mismatches);
		CHECK(seen.horizon == 0, "%s as version 1: a horizon", what);
		free(v1);
	}
	free(buf);
}

static void
add_node(Snapshot *s, uint64_t id, const char *name)
{
	Node	   *n = &s->node[s->nodes++];

	n->id = id;
	n->name_len = strlen(name);
	memcpy(n->name, name, n->name_len + 1);
}

static MantisRecord *
add_register(Snapshot *s, const char *key, const char *value, uint32_t value_len,
			 uint64_t ts, uint64_t node)
{
	MantisRecord *r = &s->reg[s->registers++];

	r->expires_ms = 0;
	r->hlc.ts = ts;
	r->hlc.node = node;
	r->deleted = value == NULL;
	r->key = key;
	r->key_len = (uint32_t) strlen(key);
	r->value = value;
	r->value_len = value_len;
	return r;
}

/*
 * A snapshot of one expiring register whose expiry field is then
 * overwritten with "expires": it must not decode, with this message.
 */
static void
check_bad_expiry(uint64_t expires, const char *message)
{
	static Snapshot s;
	size_t		size;
	unsigned char *buf;
	Seen		seen;
	const char *err;

	memset(&s, 0, sizeof(s));
	add_register(&s, "k", "v", 1, mantis_hlc_pack(1764123093123, 0), 1)->expires_ms = 1;
	buf = encode(&s, &size);
	CHECK(buf[MANTIS_SNAPSHOT_HEADER_SIZE + 4] == MANTIS_CODEC_KIND_EXPIRING, "kind 3 written");
	mantis_put_u64(buf + MANTIS_SNAPSHOT_HEADER_SIZE + 21, expires);
	err = decode(buf, size, &s, &seen);
	CHECK(err != NULL && strcmp(err, message) == 0, "expiry %llu: %s", (unsigned long long) expires,
		  err ? err : "decoded");
	free(buf);
}

static void
test_fixed(void)
{
	static const char name63[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
	static const char nul_value[] = "a value with \0 a NUL";
	static const unsigned char empty[] = {'M', 'N', 'T', 'S', 2, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char empty_v1[] = {'M', 'N', 'T', 'S', 1, 0, 0, 0, 0, 0, 0, 0};
	static Snapshot s;
	unsigned char header[MANTIS_SNAPSHOT_HEADER_SIZE];
	char	   *big;

	memset(&s, 0, sizeof(s));
	check_snapshot("empty", &s, 1);
	mantis_snapshot_put_header(header, 0, 0, 0);
	CHECK(sizeof(empty) == MANTIS_SNAPSHOT_HEADER_SIZE &&
		  memcmp(header, empty, sizeof(empty)) == 0, "empty: wire bytes");
	CHECK(mantis_snapshot_decode(empty_v1, sizeof(empty_v1), NULL, NULL, NULL, NULL) == NULL,
		  "empty version 1 rejected");
	CHECK(mantis_snapshot_decode(empty, MANTIS_SNAPSHOT_HEADER_SIZE - 1, NULL, NULL, NULL, NULL) != NULL,
		  "a version 2 header without all its horizon decodes");
	header[4] = 3;
	CHECK(mantis_snapshot_decode(header, sizeof(header), NULL, NULL, NULL, NULL) != NULL,
		  "version 3 decodes");
	mantis_snapshot_put_header(header, 0, 0, mantis_hlc_pack(MANTIS_HLC_MAX_MS + 1, 0));
	CHECK(mantis_snapshot_decode(header, sizeof(header), NULL, NULL, NULL, NULL) != NULL,
		  "a horizon past the year 9999 decodes");
	s.horizon = mantis_hlc_pack(1764123093123, 7);
	check_snapshot("empty with a horizon", &s, 1);
	s.horizon = 0;

	add_node(&s, UINT64_C(0x0123456789abcdef), "alpha");
	add_node(&s, UINT64_C(0xfedcba9876543210), name63);
	add_node(&s, 0, "x");
	check_snapshot("nodes only", &s, 1);

	add_register(&s, "k1", "v1", 2, mantis_hlc_pack(1764123093123, 0), s.node[0].id);
	add_register(&s, "k2", NULL, 0, mantis_hlc_pack(1764123093123, 1), s.node[1].id);
	add_register(&s, "empty", "", 0, mantis_hlc_pack(1764123093123, 2), s.node[0].id);
	add_register(&s, "k3", nul_value, sizeof(nul_value) - 1,
				 mantis_hlc_pack(1764123093123, 0xFFFF), s.node[0].id);
	add_register(&s, "epoch", "1970", 4, 0, 0);
	add_register(&s, "last", "9999", 4, mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF), UINT64_MAX);
	check_snapshot("nodes and registers", &s, 1);
	add_register(&s, "session", "{}", 2, mantis_hlc_pack(1764123093123, 4), 1)->expires_ms =
		UINT64_C(1764123093123) + 1800000;
	add_register(&s, "soon", "", 0, mantis_hlc_pack(1764123093123, 5), 1)->expires_ms = 1;
	add_register(&s, "late", "x", 1, mantis_hlc_pack(1764123093123, 6), 1)->expires_ms =
		MANTIS_HLC_MAX_MS;
	/* a deletion is written as kind 2 whatever its expires_ms says */
	add_register(&s, "gone", NULL, 0, mantis_hlc_pack(1764123093123, 7), 1)->expires_ms = 99;
	check_snapshot("expiring registers", &s, 1);
	s.horizon = mantis_hlc_pack(1764123093000, 0);
	check_snapshot("expiring registers with a horizon", &s, 1);
	s.horizon = 0;

	s.nodes = 0;
	check_snapshot("registers only", &s, 1);

	big = malloc(200000);
	if (big == NULL)
		exit(2);
	for (int i = 0; i < 200000; i++)
		big[i] = (char) ('a' + i % 26);
	add_register(&s, "big", big, 200000, mantis_hlc_pack(1764123093123, 3), 1);
	check_snapshot("a large value", &s, 0);
	free(big);

	check_bad_expiry(0, "expiring register without an expiry");
	check_bad_expiry(MANTIS_HLC_MAX_MS + 1, "expiry beyond year 9999");
	check_bad_expiry(UINT64_MAX, "expiry beyond year 9999");
}

static void
test_random(void)
{
	static Snapshot s;

	for (int round = 0; round < 300; round++)
	{
		memset(&s, 0, sizeof(s));
		if (rnd() % 2)
			s.horizon = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
		s.nodes = (int) (rnd() % (MAX_NODES + 1));
		for (int i = 0; i < s.nodes; i++)
		{
			static const char chars[] = "abcXYZ019._-";
			Node	   *n = &s.node[i];

			n->id = rnd();
			n->name_len = 1 + rnd() % MANTIS_CODEC_NODE_NAME_MAX;
			for (size_t j = 0; j < n->name_len; j++)
				n->name[j] = chars[rnd() % (sizeof(chars) - 1)];
		}
		s.registers = (int) (rnd() % (MAX_REGISTERS + 1));
		for (int i = 0; i < s.registers; i++)
		{
			MantisRecord *r = &s.reg[i];
			uint32_t	key_len = 1 + (uint32_t) (rnd() % sizeof(s.key[i]));
			uint32_t	value_len = rnd() % 16 == 0 ? 5000 + (uint32_t) (rnd() % 50000) :
				(uint32_t) (rnd() % 64);

			for (uint32_t j = 0; j < key_len; j++)
				s.key[i][j] = (char) rnd();
			s.value[i] = malloc(value_len + 1);
			if (s.value[i] == NULL)
				exit(2);
			for (uint32_t j = 0; j < value_len; j++)
				s.value[i][j] = (char) rnd();
			r->hlc.ts = mantis_hlc_pack(rnd() % (MANTIS_HLC_MAX_MS + 1), rnd());
			r->hlc.node = rnd();
			r->deleted = rnd() % 4 == 0;
			r->expires_ms = rnd() % 3 == 0 ? 1 + rnd() % MANTIS_HLC_MAX_MS : 0;
			r->key = s.key[i];
			r->key_len = key_len;
			r->value = r->deleted ? NULL : s.value[i];
			r->value_len = r->deleted ? 0 : value_len;
		}
		check_snapshot("random", &s, round < 20 && snapshot_size(&s) <= 16384);
		for (int i = 0; i < s.registers; i++)
			free(s.value[i]);
	}
}

/* what the records' callbacks saw */
typedef struct SeenDead
{
	int			records;
	int			bounds;
	MantisRecordView rec[4];
	uint32_t	leaf[4];
	MantisLeafBound bound[4];
} SeenDead;

static void
on_dead(void *arg, const MantisRecordView *rec)
{
	SeenDead   *seen = arg;

	if (seen->records < 4)
		seen->rec[seen->records] = *rec;
	seen->records++;
}

static void
on_bound(void *arg, uint32_t leaf, const MantisLeafBound *b)
{
	SeenDead   *seen = arg;

	if (seen->bounds < 4)
	{
		seen->leaf[seen->bounds] = leaf;
		seen->bound[seen->bounds] = *b;
	}
	seen->bounds++;
}

/*
 * Records and bounds after the registers (R7): a round trip of two records
 * and a bound, flagged; every cut refused; the flag unknown to version 1
 * and other flag bits refused; a record of HLC 0 or a bound of a leaf out
 * of range refused.  A reader that knows no records (flags must be 0)
 * refuses the row whole: mantis_snapshot_decode() of releases before.
 */
static void
test_records(void)
{
	unsigned char buf[MANTIS_SNAPSHOT_HEADER_SIZE + 4 + 2 * MANTIS_SNAPSHOT_RECORD_SIZE +
					  4 + MANTIS_SNAPSHOT_BOUND_SIZE];
	unsigned char *p = buf + MANTIS_SNAPSHOT_HEADER_SIZE;
	MantisRecordView r[2] = {
		{UINT64_C(0x1122334455667788), mantis_hlc_pack(1764123093123, 1), 7, 99, 1764123093123},
		{UINT64_MAX, mantis_hlc_pack(MANTIS_HLC_MAX_MS, 0xFFFF), UINT64_MAX, 0, MANTIS_HLC_MAX_MS}
	};
	MantisLeafBound b = {mantis_hlc_pack(1764123090000, 3), UINT64_C(0xdeadbeef), 1764123091000};
	SeenDead	seen;
	uint64_t	horizon = 0;

	mantis_snapshot_put_header(buf, 0, 0, mantis_hlc_pack(1764123000000, 0));
	mantis_snapshot_set_flags(buf, MANTIS_SNAPSHOT_FLAG_RECORDS);
	mantis_put_u32(p, 2);
	mantis_snapshot_put_dead(p + 4, &r[0]);
	mantis_snapshot_put_dead(p + 4 + MANTIS_SNAPSHOT_RECORD_SIZE, &r[1]);
	p += 4 + 2 * MANTIS_SNAPSHOT_RECORD_SIZE;
	mantis_put_u32(p, 1);
	mantis_snapshot_put_bound(p + 4, MANTIS_SNAPSHOT_MAX_LEAVES - 1, &b);

	memset(&seen, 0, sizeof(seen));
	CHECK(mantis_snapshot_decode_all(buf, sizeof(buf), NULL, NULL, on_dead, on_bound, &seen,
									 &horizon) == NULL, "records: decode");
	CHECK(seen.records == 2 && seen.bounds == 1 &&
		  memcmp(&seen.rec[0], &r[0], sizeof(r[0])) == 0 &&
		  memcmp(&seen.rec[1], &r[1], sizeof(r[1])) == 0 &&
		  seen.leaf[0] == MANTIS_SNAPSHOT_MAX_LEAVES - 1 &&
		  memcmp(&seen.bound[0], &b, sizeof(b)) == 0 &&
		  horizon == mantis_hlc_pack(1764123000000, 0), "records: round trip");
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) == NULL,
		  "records: checked by the decoder without their callbacks");
	for (size_t cut = 0; cut < sizeof(buf); cut++)
		CHECK(mantis_snapshot_decode_all(buf, cut, NULL, NULL, NULL, NULL, NULL, NULL) != NULL,
			  "records: a cut snapshot decodes");

	/* a release before records: flags 0 only (its check) */
	CHECK(buf[5] != 0, "records: flagged");
	mantis_snapshot_set_flags(buf, 0x02);
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) != NULL,
		  "records: an unknown flag decodes");
	mantis_snapshot_set_flags(buf, 0);
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) != NULL,
		  "records: unflagged, the records read as trailing bytes");
	mantis_snapshot_set_flags(buf, MANTIS_SNAPSHOT_FLAG_RECORDS);
	buf[4] = 1;
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) != NULL,
		  "records: version 1 with the flag decodes");
	buf[4] = MANTIS_SNAPSHOT_VERSION;

	r[0].ts = 0;
	mantis_snapshot_put_dead(buf + MANTIS_SNAPSHOT_HEADER_SIZE + 4, &r[0]);
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) != NULL,
		  "records: a record of HLC 0 decodes");
	r[0].ts = mantis_hlc_pack(1764123093123, 1);
	mantis_snapshot_put_dead(buf + MANTIS_SNAPSHOT_HEADER_SIZE + 4, &r[0]);
	mantis_snapshot_put_bound(p + 4, MANTIS_SNAPSHOT_MAX_LEAVES, &b);
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) != NULL,
		  "records: a bound of leaf 65536 decodes");
	mantis_snapshot_put_bound(p + 4, 0, &b);
	CHECK(mantis_snapshot_decode(buf, sizeof(buf), NULL, NULL, NULL, NULL) == NULL,
		  "records: put right, decodes again");
}

int
main(void)
{
	rng_state = UINT64_C(0x2545f4914f6cdd1d);
	test_fixed();
	test_random();
	test_records();

	return unit_report("test_snapshot");
}
