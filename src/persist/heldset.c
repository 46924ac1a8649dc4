/*-------------------------------------------------------------------------
 * persist/heldset.c
 *	  The held set: every register the rows of mantis_stores hold back
 *	  (its key's hash and its HLC), in the persistence worker's memory,
 *	  and what the worker tells the others of it.
 *
 * persist/load.c adds each register it holds back (held_add()); a retry
 * of the held rows merges only the registers of the set (held_contains()),
 * and rebuilds it from what the rows still hold back (held_rebuilt()).  Two
 * registers of one key in different rows are the same one only with the
 * same HLC.  The price: 32 bytes of the worker's memory per register held
 * back.
 *
 * Published twice (held_publish()):
 *	- its keys (sorted, each once) for the sweep, in the worker itself
 *	  (store/collect.c): a dead register of such a key must outlive the
 *	  held one (store/sweep.c).  All of them, always: an unbounded array.
 *	  Not the hashes of records held back (held_add_dead()): dead
 *	  themselves, they bring nothing back.
 *	- each key with the greatest HLC held back for it, in shared memory
 *	  (store/held.c), for the replication worker: a peer's register refused
 *	  for room that our rows hold back (its key at its HLC) is
 *	  no hole (the rule R5 of common/rules.h).  So it must name only what
 *	  the rows still hold: once rows that held registers back are gone (a
 *	  TRUNCATE, persist/table.c's lost_held_back()), the set may name
 *	  registers no row holds, and nothing is published there ("lost")
 *	  until a retry has rebuilt it from the rows that are left.  Bounded:
 *	  past the bound a refusal stays a hole, and the worker logs it.
 *
 * IDENTIFICATION	src/persist/heldset.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "mantis.h"
#include "common/keyhash.h"
#include "store/collect.h"
#include "store/held.h"
#include "persist/heldset.h"

typedef MantisHeldRegister HeldRegister;

static struct
{
	HeldRegister *regs;			/* sorted, each once, but for a tail added
								 * since the last held_sort() */
	int			n;
	int			max;
	uint64	   *keys;			/* for the sweep */
	int			nkeys;
	int			maxkeys;
	bool		lost;			/* rows holding some are gone: publish none */
}			held;

static int
held_cmp(const void *a, const void *b)
{
	const HeldRegister *x = (const HeldRegister *) a;
	const HeldRegister *y = (const HeldRegister *) b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return (x->node > y->node) - (x->node < y->node);
}

static void
held_append(uint64 hash, uint64 ts, uint64 node, bool dead)
{
	HeldRegister *r;

	if (held.n == held.max)
	{
		held.max = held.max == 0 ? 64 : held.max * 2;
		held.regs = held.regs == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(HeldRegister) * held.max) :
			repalloc(held.regs, sizeof(HeldRegister) * held.max);
	}
	r = &held.regs[held.n++];
	r->hash = hash;
	r->ts = ts;
	r->node = node;
	r->dead = dead;
}

/* A register of a row stays in mantis_stores, not in memory */
void
held_add(const MantisRecord *rec)
{
	held_append(mantis_hash(rec->key, rec->key_len), rec->hlc.ts, rec->hlc.node, false);
}

/*
 * A record of a dead register of a row stays in mantis_stores, not in
 * memory (no room under mantis.max_dead_records): published, it refuses
 * what it would refuse loaded (store/held.c's mantis_held_dead())
 */
void
held_add_dead(const MantisRecordView *rec)
{
	held_append(rec->hash, rec->ts, rec->node, true);
}

/*
 * Sort the held set, keep each register once, and give its keys to the
 * sweep (which may have moved: they are published again).
 */
void
held_sort(void)
{
	int			unique = 0;

	if (held.n > 1)
		qsort(held.regs, held.n, sizeof(HeldRegister), held_cmp);
	for (int i = 0; i < held.n; i++)
	{
		if (unique == 0 || held_cmp(&held.regs[i], &held.regs[unique - 1]) != 0)
			held.regs[unique++] = held.regs[i];
	}
	held.n = unique;
	if (held.n > held.maxkeys)
	{
		held.maxkeys = held.n;
		held.keys = held.keys == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * held.maxkeys) :
			repalloc(held.keys, sizeof(uint64) * held.maxkeys);
	}
	held.nkeys = 0;
	for (int i = 0; i < held.n; i++)
	{
		/*
		 * Not a record's: it is dead itself, and a dead register of its key
		 * waiting for it could wait for ever (a budget of 0 holds it back
		 * until a restart)
		 */
		if (held.regs[i].dead)
			continue;
		if (held.nkeys == 0 || held.keys[held.nkeys - 1] != held.regs[i].hash)
			held.keys[held.nkeys++] = held.regs[i].hash;
	}
	mantis_collect_set_held_keys(held.keys, held.nkeys);
}

int
held_count(void)
{
	return held.n;
}

/* Whether the first "n" of the held set (sorted) hold this register */
bool
held_contains(int n, const MantisRecord *rec)
{
	HeldRegister r;

	r.hash = mantis_hash(rec->key, rec->key_len);
	r.ts = rec->hlc.ts;
	r.node = rec->hlc.node;
	return n > 0 && bsearch(&r, held.regs, n, sizeof(HeldRegister), held_cmp) != NULL;
}

/*
 * A retry merged the rows again, from the first "merged" of the set: what
 * the rows that are left still hold back was added after them.
 */
void
held_rebuilt(int merged)
{
	if (merged > 0)
	{
		memmove(held.regs, held.regs + merged, sizeof(HeldRegister) * (held.n - merged));
		held.n -= merged;
	}
	held.lost = false;
}

/* Rows that held registers back are gone: the set may name what none holds */
void
held_lost(void)
{
	held.lost = true;
}

/*
 * Publish the held set, sorted, to the sweep and to replication; "none":
 * no row holds anything back, the set is emptied.
 */
void
held_publish(bool none)
{
	int			left_out;

	if (none)
	{
		held.n = 0;
		held.lost = false;
	}
	held_sort();
	left_out = mantis_held_publish(held.regs, held.lost ? 0 : held.n);
	if (left_out > 0)
		ereport(LOG,
				(errmsg("mantis: %d keys held back in mantis_stores are too many to publish to replication",
						left_out),
				 errdetail("A peer's register of such a key that the full store refuses is a hole: collection may stop until the rows are loaded."),
				 errhint("Raise \"mantis.max_keys\" or \"mantis.store_memory\" and restart the server.")));
}
