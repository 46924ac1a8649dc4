/*-------------------------------------------------------------------------
 * common/records.c
 *	  A fixed-size table of records (R7), in memory its caller gives: see
 *	  common/records.h.
 *
 * IDENTIFICATION	src/common/records.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/records.h"

#define ALIGN8(n)	(((n) + 7) & ~(size_t) 7)

/* Buckets for a capacity: a power of two, at least half the slots */
static uint32_t
bucket_count(uint32_t capacity)
{
	uint32_t	n = 1;

	while (n < capacity / 2 && n < (UINT32_C(1) << 31))
		n <<= 1;
	return n;
}

static uint32_t *
buckets(const MantisRecordTable *t)
{
	return (uint32_t *) ((char *) t + ALIGN8(sizeof(MantisRecordTable)));
}

/* Slot n, 1-based */
static MantisRecordSlot *
slot(const MantisRecordTable *t, uint32_t n)
{
	size_t		off = ALIGN8(sizeof(MantisRecordTable)) +
		ALIGN8((size_t) (t->bucket_mask + 1) * sizeof(uint32_t));

	return (MantisRecordSlot *) ((char *) t + off) + (n - 1);
}

static uint32_t *
bucket_of(const MantisRecordTable *t, uint64_t hash)
{
	return &buckets(t)[(uint32_t) (hash >> 32) & t->bucket_mask];
}

/* The bytes a table of "capacity" records takes */
size_t
mantis_records_size(uint32_t capacity)
{
	return ALIGN8(sizeof(MantisRecordTable)) +
		ALIGN8((size_t) bucket_count(capacity) * sizeof(uint32_t)) +
		(size_t) capacity * sizeof(MantisRecordSlot);
}

/* Lay out an empty table in place (mantis_records_size(capacity) bytes) */
MantisRecordTable *
mantis_records_init(void *place, uint32_t capacity)
{
	MantisRecordTable *t = (MantisRecordTable *) place;

	t->capacity = capacity;
	t->bucket_mask = bucket_count(capacity) - 1;
	t->count = 0;
	t->oldest = t->newest = 0;
	memset(buckets(t), 0, (size_t) (t->bucket_mask + 1) * sizeof(uint32_t));
	for (uint32_t n = 1; n <= capacity; n++)
	{
		MantisRecordSlot *s = slot(t, n);

		memset(s, 0, sizeof(*s));
		s->next = n < capacity ? n + 1 : 0;
	}
	t->free = capacity > 0 ? 1 : 0;
	return t;
}

/* The slot number holding a hash's record, 0 if none; *link its link */
static uint32_t
find_slot(const MantisRecordTable *t, uint64_t hash, uint32_t **link)
{
	uint32_t   *prev = bucket_of(t, hash);

	while (*prev != 0)
	{
		MantisRecordSlot *s = slot(t, *prev);

		if (s->rec.hash == hash)
			break;
		prev = &s->next;
	}
	if (link)
		*link = prev;
	return *prev;
}

const MantisRecordView *
mantis_records_find(const MantisRecordTable *t, uint64_t hash)
{
	uint32_t	n = find_slot(t, hash, NULL);

	return n == 0 ? NULL : &slot(t, n)->rec;
}

/* Take slot n out of the order records came in */
static void
order_unlink(MantisRecordTable *t, uint32_t n)
{
	MantisRecordSlot *s = slot(t, n);

	if (s->older)
		slot(t, s->older)->newer = s->newer;
	else
		t->oldest = s->newer;
	if (s->newer)
		slot(t, s->newer)->older = s->older;
	else
		t->newest = s->older;
	s->older = s->newer = 0;
}

/* Put slot n last: the newest */
static void
order_append(MantisRecordTable *t, uint32_t n)
{
	MantisRecordSlot *s = slot(t, n);

	s->older = t->newest;
	s->newer = 0;
	if (t->newest)
		slot(t, t->newest)->newer = n;
	else
		t->oldest = n;
	t->newest = n;
}

/*
 * Hold a record for its hash, replacing the one held (which then counts as
 * come in now).  False, and nothing done, when a new hash finds the table
 * full: the caller collapses the oldest first (mantis_rules_collapse()).
 * A record's ts must not be 0, which marks a free slot.
 */
bool
mantis_records_put(MantisRecordTable *t, const MantisRecordView *rec)
{
	uint32_t   *link;
	uint32_t	n = find_slot(t, rec->hash, &link);
	MantisRecordSlot *s;

	if (rec->ts == 0)
		return false;
	if (n != 0)
	{
		s = slot(t, n);
		s->rec = *rec;
		order_unlink(t, n);
		order_append(t, n);
		return true;
	}
	if (t->free == 0)
		return false;
	n = t->free;
	s = slot(t, n);
	t->free = s->next;
	s->rec = *rec;
	s->next = 0;
	*link = n;					/* the bucket's tail */
	order_append(t, n);
	t->count++;
	return true;
}

/* Drop a hash's record, copied to *out if not NULL; false if none */
bool
mantis_records_remove(MantisRecordTable *t, uint64_t hash, MantisRecordView *out)
{
	uint32_t   *link;
	uint32_t	n = find_slot(t, hash, &link);
	MantisRecordSlot *s;

	if (n == 0)
		return false;
	s = slot(t, n);
	if (out)
		*out = s->rec;
	*link = s->next;
	order_unlink(t, n);
	memset(&s->rec, 0, sizeof(s->rec));
	s->next = t->free;
	t->free = n;
	t->count--;
	return true;
}

/* The record that came in first of those held, NULL if none */
const MantisRecordView *
mantis_records_oldest(const MantisRecordTable *t)
{
	return t->oldest == 0 ? NULL : &slot(t, t->oldest)->rec;
}

/*
 * The record in slot n (1..capacity), NULL if the slot is free: to visit
 * every record (the sweep), removing as it goes.
 */
const MantisRecordView *
mantis_records_at(const MantisRecordTable *t, uint32_t n)
{
	const MantisRecordSlot *s;

	if (n == 0 || n > t->capacity)
		return NULL;
	s = slot(t, n);
	return s->rec.ts == 0 ? NULL : &s->rec;
}
