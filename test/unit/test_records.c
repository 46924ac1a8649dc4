/*
 * test_records.c
 *	  Unit tests of the record table (src/common/records.c, R7): random
 *	  puts, replacements and removals against a plain model, checking
 *	  find, count, the oldest (the order records came in), the visit of
 *	  every slot, and that a full table refuses a new hash but takes a
 *	  replacement.  Hashes share their low bits, as in one partition.
 */
#include <stdlib.h>
#include <string.h>

#include "common/records.h"
#include "unit.h"

#define UNIVERSE	64

typedef struct Model
{
	bool		held;
	MantisRecordView rec;
	uint64_t	seq;			/* when it came in */
} Model;

static uint64_t
hash_of(int i)
{
	/* the same low 16 bits for all: one leaf, one partition */
	return ((uint64_t) (i * 2654435761u) << 32) | ((uint64_t) i << 16) | 0x2A;
}

static void
check_against(const MantisRecordTable *t, const Model *m, uint32_t capacity)
{
	uint32_t	n = 0;
	int			oldest = -1;
	uint32_t	visited = 0;

	for (int i = 0; i < UNIVERSE; i++)
	{
		const MantisRecordView *r = mantis_records_find(t, hash_of(i));

		if (m[i].held)
		{
			n++;
			CHECK(r != NULL && memcmp(r, &m[i].rec, sizeof(*r)) == 0, "record %d found as put", i);
			if (oldest < 0 || m[i].seq < m[oldest].seq)
				oldest = i;
		}
		else
			CHECK(r == NULL, "record %d not held", i);
	}
	CHECK(mantis_records_count(t) == n, "count %u, model %u", mantis_records_count(t), n);
	if (oldest < 0)
		CHECK(mantis_records_oldest(t) == NULL, "empty: no oldest");
	else
		CHECK(mantis_records_oldest(t) != NULL &&
			  mantis_records_oldest(t)->hash == hash_of(oldest), "the oldest is the first come");
	for (uint32_t s = 1; s <= capacity; s++)
		visited += mantis_records_at(t, s) != NULL;
	CHECK(visited == n, "a visit of every slot finds every record");
	CHECK(mantis_records_at(t, 0) == NULL && mantis_records_at(t, capacity + 1) == NULL,
		  "slots out of range: none");
}

static void
test_random(uint32_t capacity)
{
	size_t		size = mantis_records_size(capacity);
	void	   *place = malloc(size + 8);
	MantisRecordTable *t;
	Model		m[UNIVERSE];
	uint64_t	seq = 0;

	memset(place, 0xAB, size + 8);
	t = mantis_records_init(place, capacity);
	memset(m, 0, sizeof(m));
	check_against(t, m, capacity);
	for (int step = 0; step < 20000; step++)
	{
		int			i = (int) (rnd() % UNIVERSE);
		uint32_t	held = mantis_records_count(t);

		if (rnd() % 3 != 0)
		{
			MantisRecordView r = {hash_of(i), 1 + rnd() % 1000, rnd() % 5, rnd(), rnd() % 9999};
			bool		ok = mantis_records_put(t, &r);

			CHECK(ok == (m[i].held || held < capacity),
				  "put: taken unless a new hash finds the table full");
			if (ok)
			{
				m[i].held = true;
				m[i].rec = r;
				m[i].seq = ++seq;
			}
		}
		else
		{
			MantisRecordView out;
			bool		ok = mantis_records_remove(t, hash_of(i), &out);

			CHECK(ok == m[i].held, "remove: true if held");
			if (ok)
				CHECK(memcmp(&out, &m[i].rec, sizeof(out)) == 0, "remove gives the record back");
			m[i].held = false;
		}
		if (step % 97 == 0)
			check_against(t, m, capacity);
	}
	check_against(t, m, capacity);
	CHECK(((unsigned char *) place)[size] == 0xAB, "nothing written past the table's size");

	/* emptied through the oldest, as collapsing does */
	while (mantis_records_oldest(t) != NULL)
	{
		uint64_t	h = mantis_records_oldest(t)->hash;

		CHECK(mantis_records_remove(t, h, NULL), "the oldest removes");
		for (int i = 0; i < UNIVERSE; i++)
			if (hash_of(i) == h)
				m[i].held = false;
	}
	check_against(t, m, capacity);
	free(place);
}

static void
test_edges(void)
{
	char		place[1024];
	MantisRecordTable *t = mantis_records_init(place, 2);
	MantisRecordView a = {hash_of(1), 10, 1, 7, 100};
	MantisRecordView b = {hash_of(2), 20, 1, 8, 200};
	MantisRecordView c = {hash_of(3), 30, 1, 9, 300};
	MantisRecordView zero = {hash_of(4), 0, 1, 9, 300};

	CHECK(mantis_records_size(2) <= sizeof(place), "a small table fits");
	CHECK(!mantis_records_put(t, &zero), "ts 0 marks a free slot: refused");
	CHECK(mantis_records_put(t, &a) && mantis_records_put(t, &b), "two fit");
	CHECK(!mantis_records_put(t, &c), "a third hash: full");
	a.ts = 11;
	CHECK(mantis_records_put(t, &a), "a replacement fits when full");
	CHECK(mantis_records_oldest(t)->hash == b.hash, "a replaced record counts as come in now");
	CHECK(mantis_records_find(t, a.hash)->ts == 11, "replaced");
	t = mantis_records_init(place, 0);
	CHECK(!mantis_records_put(t, &a) && mantis_records_oldest(t) == NULL,
		  "no capacity: nothing held");
}

int
main(void)
{
	rng_state = UINT64_C(0x9E3779B97F4A7C15);
	test_edges();
	test_random(1);
	test_random(7);
	test_random(40);
	test_random(UNIVERSE);
	return unit_report("test_records");
}
