/*-------------------------------------------------------------------------
 * check.c
 *	  The simulator's checker: the history of acknowledged writes, which of
 *	  them the rules may give up (the price, tracked as the run goes), and
 *	  the invariants (a), (b) and (c) defined in test/sim/sim.c's header.
 *
 * IDENTIFICATION	test/sim/check.c
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* An acknowledged write: a client's call that returned */
typedef struct Write
{
	Reg			reg;			/* the register it made (value = its id) */
	int			server;
	long		step;
	uint64_t	T;
	bool		priced;			/* the rules may give it up: the price */
	bool		excused;		/* lost with a crash or a restore, which
								 * took the last copy of it none other had
								 * made durable (check_lost) */
	bool		exposed;		/* only its writer held it, while uncounted */
	bool		closed;			/* its lifetime window has passed */
	bool		in_pending;
	bool		revived;		/* a rewind brought it back after a deletion */
	uint32_t	held;			/* servers that held it (or newer) in its window,
								 * or were offered it */
	uint32_t	pending;		/* servers it is exposed to, not holding it */
} Write;

typedef struct IdList
{
	uint32_t   *ids;
	uint32_t	n;
	uint32_t	cap;
} IdList;

static Write *writes;
static uint32_t nwrites;
static uint32_t wcap;
static IdList by_key[SIM_KEYS];
static IdList by_sk[SIM_SERVERS][SIM_KEYS];
static IdList deletions[SIM_KEYS];
static IdList pending;

/* A write a server lacks at its start, that others hold */
typedef struct Lack
{
	uint32_t	id;
	int			server;
	uint64_t	since;
} Lack;
static Lack *lacks;
static uint32_t nlacks;
static uint32_t lackcap;
static uint32_t window_next;
static Reg gfloor[SIM_KEYS];	/* the greatest deletion every server held */
static long gfloor_step[SIM_KEYS];
static uint32_t gfloor_servers[SIM_KEYS];	/* the servers that held it */
static Reg gmin[SIM_KEYS];
/* the greatest register each server's rows held since its last rewind */
static Reg durable_max[SIM_SERVERS][SIM_KEYS];
static uint32_t frontier[SIM_KEYS];	/* the newest write of each key */
static uint64_t floor_seen[SIM_KEYS];	/* W.kver when last looked at */
static uint64_t exposure_seen[SIM_KEYS];
static uint32_t uncounted_seen;

#define BIT(i)	(UINT32_C(1) << (i))

static void
id_push(IdList *l, uint32_t id)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 64;
		l->ids = realloc(l->ids, l->cap * sizeof(uint32_t));
		if (l->ids == NULL)
			abort();
	}
	l->ids[l->n++] = id;
}

void
check_free(void)
{
	free(writes);
	writes = NULL;
	wcap = 0;
	for (int k = 0; k < SIM_KEYS; k++)
	{
		free(by_key[k].ids);
		free(deletions[k].ids);
		for (int i = 0; i < SIM_SERVERS; i++)
			free(by_sk[i][k].ids);
	}
	free(pending.ids);
	free(lacks);
	lacks = NULL;
	nlacks = lackcap = 0;
	memset(by_key, 0, sizeof(by_key));
	memset(deletions, 0, sizeof(deletions));
	memset(by_sk, 0, sizeof(by_sk));
	memset(&pending, 0, sizeof(pending));
}

void
check_reset(void)
{
	check_free();
	nwrites = 0;
	window_next = 1;
	memset(gfloor, 0, sizeof(gfloor));
	memset(gmin, 0, sizeof(gmin));
	memset(durable_max, 0, sizeof(durable_max));
	memset(gfloor_step, 0, sizeof(gfloor_step));
	memset(gfloor_servers, 0, sizeof(gfloor_servers));
	memset(frontier, 0, sizeof(frontier));
	memset(floor_seen, 0, sizeof(floor_seen));
	memset(exposure_seen, 0, sizeof(exposure_seen));
	uncounted_seen = 0;
}

void
violation(ViolationKind kind, const char *fmt,...)
{
	va_list		ap;

	if (W.violation != V_NONE)
		return;
	W.violation = kind;
	W.violation_step = W.step;
	va_start(ap, fmt);
	vsnprintf(W.violation_text, sizeof(W.violation_text), fmt, ap);
	va_end(ap);
	if (!W.quiet)
		printf("sim: seed %llu step %ld (event %ld): %s\n", (unsigned long long) W.seed,
			   W.gen_step, W.step, W.violation_text);
}

/* What a server holds of a key: its store, or its rows while it is down */
static const Reg *
holding(int p, int k)
{
	return W.s[p].up ? &W.s[p].mem[k] : &W.s[p].rows[k];
}

static bool
holds(int p, const Write *w)
{
	return W.s[p].exists && reg_cmp(holding(p, w->reg.key), &w->reg) >= 0;
}

/* Whether p counts s as a member (R1): it lists it, or s connects to it */
bool
check_counts(int p, int s)
{
	const Server *x = &W.s[p];
	const Entry *e = &x->peer[s];

	if (x->listed[s])
		return true;
	return x->up && e->used && e->greeted && strcmp(e->name, W.s[s].name) == 0;
}

uint32_t
check_new_write(int server, int key, Reg *r)
{
	Write	   *w;

	if (nwrites + 1 >= wcap)
	{
		wcap = wcap ? wcap * 2 : 4096;
		writes = realloc(writes, wcap * sizeof(Write));
		if (writes == NULL)
			abort();
	}
	r->value = ++nwrites;
	w = &writes[nwrites];
	memset(w, 0, sizeof(*w));
	w->reg = *r;
	w->reg.flags = 0;
	w->server = server;
	w->step = W.step;
	w->T = W.T;
	w->held = BIT(server);
	for (int p = 0; p < W.cfg.slots; p++)
		if (holds(p, w))
			w->held |= BIT(p);
	id_push(&by_key[key], nwrites);
	id_push(&by_sk[server][key], nwrites);
	if (r->deleted)
		id_push(&deletions[key], nwrites);
	if (frontier[key] == 0 || reg_cmp(&w->reg, &writes[frontier[key]].reg) > 0)
		frontier[key] = nwrites;
	W.n_writes++;
	return nwrites;
}

static void
price(Write *w, int p)
{
	char		b[96];

	w->priced = true;
	w->pending = 0;
	W.n_priced++;
	sim_log("priced: %s, by %s, lies at or below %s's refusal horizon, which does not hold it",
			reg_text(&w->reg, b), W.s[w->server].name, W.s[p].name);
}

/* p "passes" w: its refusal horizon covers w while it holds nothing of its key */
static void
try_pass(Write *w, int p)
{
	const Server *s = &W.s[p];

	if ((w->pending & BIT(p)) && s->up && !s->mem[w->reg.key].present &&
		(s->R >= w->reg.ts || s->bound[w->reg.key % W.cfg.leaves].bound_ts >= w->reg.ts))
		price(w, p);
}

static void
expose(Write *w, uint32_t mask)
{
	for (int p = 0; p < W.cfg.slots; p++)
	{
		if (!(mask & BIT(p)) || !W.s[p].exists || holds(p, w))
			continue;
		w->pending |= BIT(p);
	}
	if (w->pending && !w->in_pending)
	{
		w->in_pending = true;
		id_push(&pending, (uint32_t) (w - writes));
	}
	for (int p = 0; p < W.cfg.slots && !w->priced; p++)
		try_pass(w, p);
}

/* p's register for a key was set: it holds the writes at or below it */
void
check_hold(int p, int k)
{
	const Reg  *r = holding(p, k);

	for (uint32_t i = by_key[k].n; i-- > 0;)
	{
		Write	   *w = &writes[by_key[k].ids[i]];

		if (w->closed)
			break;
		if (!(w->held & BIT(p)) && reg_cmp(r, &w->reg) >= 0)
			w->held |= BIT(p);
	}
	for (uint32_t i = 0; i < pending.n; i++)
	{
		Write	   *w = &writes[pending.ids[i]];

		if (w->reg.key == k && (w->pending & BIT(p)) && reg_cmp(r, &w->reg) >= 0)
			w->pending &= ~BIT(p);
	}
}

/*
 * p was offered a register and refused it for room or skew: it was not away
 * from the writes it covers, whatever it does with them (case ii).
 */
void
check_offered(int p, const Reg *r)
{
	for (uint32_t i = by_key[r->key].n; i-- > 0;)
	{
		Write	   *w = &writes[by_key[r->key].ids[i]];

		if (w->closed)
			break;
		if (reg_cmp(r, &w->reg) >= 0)
			w->held |= BIT(p);
	}
	for (uint32_t i = 0; i < nlacks;)
	{
		if (lacks[i].server == p && writes[lacks[i].id].reg.key == r->key &&
			reg_cmp(r, &writes[lacks[i].id].reg) >= 0)
			lacks[i] = lacks[--nlacks];
		else
			i++;
	}
}

/* p dropped its register for a key (collected, adopted away) */
void
check_dropped(int p, int k)
{
	for (uint32_t i = 0; i < pending.n; i++)
	{
		Write	   *w = &writes[pending.ids[i]];

		if (w->reg.key == k && !w->priced)
			try_pass(w, p);
	}
}

/* p's refusal horizon was raised (or reloaded) */
void
check_raised(int p)
{
	for (uint32_t i = 0; i < pending.n; i++)
	{
		Write	   *w = &writes[pending.ids[i]];

		if (!w->priced)
			try_pass(w, p);
	}
}

/*
 * p collapsed records into a leaf's bound (R7), which refuses every
 * register of a key it holds nothing of at or below it: the newest write
 * of a key there, live, that has not reached p is R7's price (refused here
 * once p holds nothing of its key, adopted away where it is held once the
 * bound is collected; an older write is beaten by it).
 * Counted apart, to be measured.  A write made after the collapse at or
 * below the bound is not priced: (b) catches it.
 */
void
check_collapsed(int p, int leaf)
{
	const Server *s = &W.s[p];
	uint64_t	bound = s->bound[leaf].bound_ts;

	for (int k = leaf; k < W.cfg.keys; k += W.cfg.leaves)
	{
		Write	   *w = frontier[k] ? &writes[frontier[k]] : NULL;

		/*
		 * The newest write of the key, live (an older one is beaten by it),
		 * not held: refused once p holds nothing of its key, which may be
		 * later (what p holds of it is collected).
		 */
		if (w == NULL || w->priced || w->excused ||
			w->reg.ts > bound || reg_dead(&w->reg, W.T + W.cfg.skew_bound) || holds(p, w))
			continue;
		price(w, p);
		W.n_collapse_priced++;
	}
}

/*
 * (d) A round acknowledges what it merged (replication/horizon.c): once the
 * puller has merged an answer cleanly, it holds, for every key of a leaf
 * the answer covered, what the peer held there or newer, or refuses it as
 * collected (its refusal horizon or, R7, its leaf's bound covers it and it
 * holds nothing of the key).  Between servers that both read records.
 */
void
check_answer(int puller, int peer, const Msg *m, const uint64_t *sent)
{
	const Server *s = &W.s[puller];

	for (int k = 0; k < W.cfg.keys; k++)
	{
		const Reg  *t = &m->truth[k];
		const Reg  *held = &s->mem[k];
		int			l = k % W.cfg.leaves;
		char		b1[96],
					b2[96];

		if (m->digest[l] == sent[l] || !t->present || reg_cmp(held, t) >= 0)
			continue;
		if (!held->present && (s->R >= t->ts || s->bound[l].bound_ts >= t->ts))
			continue;
		violation(V_INCOMPLETE,
				  "(d) repair incomplete: %s merged %s's answer cleanly, holding %s of k%d where %s held %s",
				  s->name, W.s[peer].name, reg_text(held, b1), k, W.s[peer].name,
				  reg_text(t, b2));
		return;
	}
}

/*
 * Whether server p keeps w: it holds w or newer, or w is dead and p, holding
 * nothing of its key, refuses it (its horizon covers it: collected there;
 * or its leaf's collapsed bound does, R7: refuse_of()).
 */
static bool
keeps(const Reg *held, uint64_t R, const Write *w)
{
	/* R: the refusal horizon, or R7's bound of the key's leaf if higher */
	return reg_cmp(held, &w->reg) >= 0 ||
		(!held->present && R >= w->reg.ts && reg_dead(&w->reg, W.T));
}

/* What refuses a key held nothing of: R, or its leaf's bound (R7) */
static uint64_t
refuse_of(uint64_t R, const MantisLeafBound *bounds, int k)
{
	return MAX(R, bounds[k % W.cfg.leaves].bound_ts);
}

/*
 * p's rows changed (a flush, a compaction), or were replaced by a backup
 * (rewound: what they held before is no longer durable there).
 */
void
check_durable(int p, bool rewound)
{
	for (int k = 0; k < W.cfg.keys; k++)
		if (rewound || reg_cmp(&W.s[p].rows[k], &durable_max[p][k]) > 0)
		{
			durable_max[p][k] = W.s[p].rows[k];
			durable_max[p][k].flags = 0;
		}
}

/*
 * Whether a server other than x made w durable (w or newer in its rows, or,
 * w dead, its rows' refusal horizon covering it) since that server's last
 * rewind: whatever it did with w since, it was not a crash or restore of x
 * that took w from it.
 */
static bool
durable_elsewhere(int x, const Write *w)
{
	for (int p = 0; p < W.cfg.slots; p++)
		if (p != x && W.s[p].exists &&
			keeps(&durable_max[p][w->reg.key],
				  refuse_of(W.s[p].rows_R, W.s[p].rows_bound, w->reg.key), w))
			return true;
	return false;
}

/*
 * w, lost with x's state, had superseded older writes of its key: those x
 * no longer kept once w took their place (a set followed by a write with an
 * expiry, which x collected; its refusal horizon keeps only dead ones).
 * That no server keeps them now, and none other made them durable, is the
 * same loss as w's: it is what x alone held of the key.
 */
static void
excuse_superseded(int x, const Write *w)
{
	int			k = w->reg.key;

	for (uint32_t i = 0; i < by_key[k].n; i++)
	{
		Write	   *older = &writes[by_key[k].ids[i]];
		bool		kept = false;
		char		b[96];

		if (older->excused || older->priced || reg_cmp(&older->reg, &w->reg) >= 0)
			continue;
		for (int p = 0; p < W.cfg.slots && !kept; p++)
			kept = W.s[p].exists &&
				keeps(holding(p, k), W.s[p].up ? refuse_of(W.s[p].R, W.s[p].bound, k) :
					  refuse_of(W.s[p].rows_R, W.s[p].rows_bound, k), older);
		if (kept || durable_elsewhere(x, older))
			continue;
		older->excused = true;
		older->pending = 0;
		W.n_excused++;
		sim_log("lost with %s's state, superseded by a write lost with it: %s",
				W.s[x].name, reg_text(&older->reg, b));
	}
}

/*
 * A crash or a restore of x: the acknowledged writes it kept (held, or for
 * a collected deletion, refused) that no server keeps any more, and that no
 * other server ever made durable (but in rows a restore of that server took
 * back since), are lost with it: the documented loss of unflushed writes
 * (a crash loses what no peer holds), or of a restore.  A write that another
 * server made durable and that is gone all the same was given up by the
 * rules, whatever crash or restore came last (say, a rewound server's old
 * state adopted by its peers): the price must cover it, or (b) fails.
 */
void
check_lost(int x, const Reg *before, uint64_t before_R, const MantisLeafBound *before_bound)
{
	for (int k = 0; k < W.cfg.keys; k++)
	{
		for (uint32_t i = 0; i < by_key[k].n; i++)
		{
			Write	   *w = &writes[by_key[k].ids[i]];
			bool		kept = false;
			char		b[96];

			if (w->excused || w->priced ||
				!keeps(&before[k], refuse_of(before_R, before_bound, k), w))
				continue;
			for (int p = 0; p < W.cfg.slots && !kept; p++)
				kept = W.s[p].exists &&
					keeps(holding(p, k), W.s[p].up ? refuse_of(W.s[p].R, W.s[p].bound, k) :
						  refuse_of(W.s[p].rows_R, W.s[p].rows_bound, k), w);
			if (kept)
				continue;
			if (durable_elsewhere(x, w))
			{
				W.n_unexcused++;
				sim_log("not excused by %s's crash or restore, made durable elsewhere: %s",
						W.s[x].name, reg_text(&w->reg, b));
				continue;
			}
			w->excused = true;
			w->pending = 0;
			W.n_excused++;
			sim_log("lost with %s's state: %s", W.s[x].name, reg_text(&w->reg, b));
			excuse_superseded(x, w);
		}
	}
}

/*
 * A start of x (after a crash, a restore, a restart): what others hold that
 * x lacks, x must get back before its lifetime passes it (a start forgets
 * the holes); if it stays apart from all of them for the lifetime, that is
 * case ii of the price, counted from now.
 */
void
check_started(int x)
{
	for (int k = 0; k < W.cfg.keys; k++)
		for (int p = 0; p < W.cfg.slots; p++)
		{
			const Reg  *r = holding(p, k);
			Write	   *w;

			if (p == x || !W.s[p].exists || !r->present || reg_cmp(r, holding(x, k)) <= 0)
				continue;
			w = &writes[r->value];
			if (w->priced || w->excused)
				continue;
			if (nlacks == lackcap)
			{
				lackcap = lackcap ? lackcap * 2 : 256;
				lacks = realloc(lacks, lackcap * sizeof(Lack));
				if (lacks == NULL)
					abort();
			}
			lacks[nlacks].id = r->value;
			lacks[nlacks].server = x;
			lacks[nlacks++].since = W.T;
		}
}

/*
 * A rewind of x: the older values its backup brings back, under deletions
 * every server held, are a restore's doing; they may reach servers that
 * neither hold their key nor ever collected it (a joiner, another restored
 * server) until adoption gives them up.  (a)'s local half still holds for
 * them, and (b) at quiescence.
 */
void
check_revived(int x)
{
	for (int k = 0; k < W.cfg.keys; k++)
	{
		const Reg  *r = &W.s[x].mem[k];

		if (r->present && !reg_dead(r, W.s[x].wall) && gfloor[k].present &&
			reg_cmp(r, &gfloor[k]) < 0)
			writes[r->value].revived = true;
	}
}

/*
 * Time passed: the writes whose lifetime window closed are exposed to every
 * server that did not hold them in it (price, case ii).
 */
void
check_tick(void)
{
	uint64_t	window = W.cfg.lifetime_ms - 2 * W.cfg.skew_bound;

	while (window_next <= nwrites && writes[window_next].T + window <= W.T)
	{
		Write	   *w = &writes[window_next++];
		uint32_t	late = 0;

		w->closed = true;
		if (w->priced || w->excused)
			continue;
		for (int p = 0; p < W.cfg.slots; p++)
			if (W.s[p].exists && p != w->server && !(w->held & BIT(p)))
				late |= BIT(p);
		if (late)
			expose(w, late);
	}

	/* the writes a crash or a restore took from a server, still missing */
	for (uint32_t i = 0; i < nlacks;)
	{
		Lack	   *l = &lacks[i];
		Write	   *w = &writes[l->id];

		if (w->priced || w->excused || holds(l->server, w))
			lacks[i] = lacks[--nlacks];
		else if (l->since + window <= W.T)
		{
			expose(w, BIT(l->server));
			lacks[i] = lacks[--nlacks];
		}
		else
			i++;
	}
}

/* Case i of the price: writes of an uncounted server that only it holds */
static void
check_exposure(void)
{
	uint32_t	uncounted = 0;

	for (int s = 0; s < W.cfg.slots; s++)
		for (int p = 0; p < W.cfg.slots; p++)
			if (p != s && W.s[s].exists && W.s[p].exists && !check_counts(p, s))
				uncounted |= BIT(s);
	for (int s = 0; s < W.cfg.slots; s++)
	{
		if (!(uncounted & BIT(s)))
			continue;
		for (int k = 0; k < W.cfg.keys; k++)
		{
			const Reg  *own = holding(s, k);
			Reg			most = {0};
			int			misses = 0;

			/* nothing new since last looked at */
			if (uncounted == uncounted_seen && exposure_seen[k] == W.kver[k])
				continue;
			if (!own->present)
				continue;
			for (int p = 0; p < W.cfg.slots; p++)
				if (p != s && W.s[p].exists && reg_cmp(holding(p, k), &most) > 0)
					most = *holding(p, k);
			if (reg_cmp(own, &most) <= 0)
				continue;
			for (uint32_t i = by_sk[s][k].n; i-- > 0 && misses < 8;)
			{
				Write	   *w = &writes[by_sk[s][k].ids[i]];
				char		b[96];

				if (reg_cmp(&w->reg, own) > 0)
					continue;
				if (reg_cmp(&w->reg, &most) <= 0)
				{
					misses++;
					continue;
				}
				if (w->exposed || w->priced || w->excused)
					continue;
				w->exposed = true;
				sim_log("exposed: %s is held by its writer alone, which a server does not count",
						reg_text(&w->reg, b));
				expose(w, ~BIT(s));
			}
		}
	}
	uncounted_seen = uncounted;
	memcpy(exposure_seen, W.kver, sizeof(exposure_seen));
}

/* (a), the global half: the greatest deletion every server holds, durably */
static void
check_global_floor(void)
{
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Reg			least = {0};
		bool		first = true;
		const Write *best = NULL;

		if (floor_seen[k] == W.kver[k])
			continue;
		floor_seen[k] = W.kver[k];
		for (int p = 0; p < W.cfg.slots; p++)
		{
			const Server *s = &W.s[p];

			if (!s->exists)
				continue;
			if (first || reg_cmp(&s->rows[k], &least) < 0)
				least = s->rows[k];
			first = false;
			if (s->up && reg_cmp(&s->mem[k], &least) < 0)
				least = s->mem[k];
		}
		if (!least.present || reg_cmp(&least, &gmin[k]) == 0)
			continue;
		gmin[k] = least;
		for (uint32_t i = 0; i < deletions[k].n; i++)
		{
			const Write *w = &writes[deletions[k].ids[i]];

			if (reg_cmp(&w->reg, &least) <= 0 && reg_cmp(&w->reg, &gfloor[k]) > 0 &&
				(best == NULL || reg_cmp(&w->reg, &best->reg) > 0))
				best = w;
		}
		if (best)
		{
			char		b[96];

			gfloor[k] = best->reg;
			gfloor_step[k] = W.step;
			gfloor_servers[k] = 0;
			for (int p = 0; p < W.cfg.slots; p++)
				if (W.s[p].exists)
					gfloor_servers[k] |= BIT(p);
			sim_log("every server holds %s or newer, durably", reg_text(&best->reg, b));
		}
	}
}

/* The invariants checked after every event: (a), and the price's exposure */
void
check_step(void)
{
	for (int i = 0; i < W.cfg.slots; i++)
	{
		Server	   *s = &W.s[i];

		if (!s->exists || !s->up)
			continue;
		for (int k = 0; k < W.cfg.keys; k++)
		{
			const Reg  *r = &s->mem[k];
			char		b1[96],
						b2[96];

			if (!r->present)
				continue;
			if (reg_dead(r, s->wall))
			{
				if (reg_cmp(r, &s->floor[k]) > 0)
				{
					s->floor[k] = *r;
					s->floor[k].flags = 0;
				}
				continue;
			}
			if (s->gone[k].present && reg_cmp(r, &s->gone[k]) <= 0)
				violation(V_UNDONE_LOCAL,
						  "(a) adoption undone: %s serves %s after dropping %s, adopted away",
						  s->name, reg_text(r, b1), reg_text(&s->gone[k], b2));
			if (s->floor[k].present && reg_cmp(r, &s->floor[k]) < 0)
				violation(V_UNDONE_LOCAL,
						  "(a) deletion undone: %s serves %s after serving k%d as dead by %s",
						  s->name, reg_text(r, b1), k, reg_text(&s->floor[k], b2));
			if (gfloor[k].present && !writes[r->value].revived &&
				(gfloor_servers[k] & BIT(i)) && reg_cmp(r, &gfloor[k]) < 0 &&
				writes[r->value].step < gfloor_step[k])
				violation(V_UNDONE_GLOBAL,
						  "(a) deletion undone: %s serves %s, older than %s which every server held (event %ld)",
						  s->name, reg_text(r, b1), reg_text(&gfloor[k], b2), gfloor_step[k]);
		}
	}
	check_exposure();
	check_global_floor();

	/*
	 * (b), as it happens: the newest write of a key, live and not priced,
	 * is never at or below the refusal horizon of a server that holds
	 * nothing of its key (that server refuses it, and its peers adopt it
	 * away: the way every loss by the rules goes).
	 */
	for (int k = 0; k < W.cfg.keys; k++)
	{
		const Write *f = frontier[k] ? &writes[frontier[k]] : NULL;

		if (f == NULL || f->priced || f->excused || reg_dead(&f->reg, W.T + W.cfg.skew_bound))
			continue;
		for (int p = 0; p < W.cfg.slots; p++)
		{
			const Server *s = &W.s[p];
			char		b[96];

			if (s->exists && s->up && !s->mem[k].present &&
				(s->R >= f->reg.ts || s->bound[k % W.cfg.leaves].bound_ts >= f->reg.ts))
				violation(V_LOST,
						  "(b) acknowledged write given up: %s holds nothing of k%d and its refusal horizon covers %s (by %s, event %ld), the newest write of k%d%s",
						  s->name, k, reg_text(&f->reg, b), W.s[f->server].name, f->step, k,
						  f->exposed ? " (exposed)" : "");
		}
	}
	/* forget the exposures that are settled */
	if (pending.n > 256)
	{
		uint32_t	n = 0;

		for (uint32_t i = 0; i < pending.n; i++)
		{
			Write	   *w = &writes[pending.ids[i]];

			if (w->pending && !w->priced && !w->excused)
				pending.ids[n++] = pending.ids[i];
			else
				w->in_pending = false;
		}
		pending.n = n;
	}
}

/* (b) and (c), at quiescence */
void
check_quiescent(void)
{
	uint64_t	now = W.T;
	uint64_t	fuzz = W.cfg.skew_bound + 1;
	int			first = -1;

	for (int i = 0; i < W.cfg.slots; i++)
		if (W.s[i].exists && W.s[i].up && first < 0)
			first = i;
	if (first < 0)
		return;
	for (int k = 0; k < W.cfg.keys; k++)
	{
		bool		near_expiry = false;
		Reg			cover = {0};
		Reg			ref = {0};

		/* (c): the same live registers everywhere */
		for (int i = 0; i < W.cfg.slots; i++)
		{
			const Reg  *r = &W.s[i].mem[k];

			if (W.s[i].up && r->present && !r->deleted && r->expires &&
				r->expires + fuzz >= now && r->expires <= now + fuzz)
				near_expiry = true;
		}
		for (int i = 0; i < W.cfg.slots && !near_expiry; i++)
		{
			Reg			l;
			char		b1[96],
						b2[96];

			if (!W.s[i].exists || !W.s[i].up)
				continue;
			l = W.s[i].mem[k];
			if (reg_dead(&l, now))
				memset(&l, 0, sizeof(l));
			if (i == first)
				ref = l;
			else if (reg_cmp(&l, &ref) != 0)
				violation(V_DIVERGED, "(c) diverged at quiescence: %s holds %s, %s holds %s",
						  W.s[first].name, reg_text(&ref, b1), W.s[i].name, reg_text(&l, b2));
		}

		/* (b): every acknowledged write not priced is there, or beaten */
		for (uint32_t j = 0; j < by_key[k].n; j++)
		{
			const Write *w = &writes[by_key[k].ids[j]];

			if ((w->priced || w->excused || reg_dead(&w->reg, now + fuzz)) &&
				reg_cmp(&w->reg, &cover) > 0)
				cover = w->reg;
		}
		for (int i = 0; i < W.cfg.slots; i++)
		{
			const Reg  *s = &W.s[i].mem[k];
			bool		reads_absent;

			if (!W.s[i].exists || !W.s[i].up)
				continue;
			reads_absent = !s->present || reg_dead(s, now);
			for (uint32_t j = 0; j < by_key[k].n; j++)
			{
				const Write *w = &writes[by_key[k].ids[j]];
				char		b1[96],
							b2[96];

				if (w->priced || w->excused || reg_cmp(s, &w->reg) >= 0)
					continue;
				if (reads_absent && (reg_dead(&w->reg, now + fuzz) || reg_cmp(&cover, &w->reg) > 0))
					continue;
				violation(V_LOST,
						  "(b) acknowledged write lost: %s holds %s, but %s (by %s, event %ld) was acknowledged%s",
						  W.s[i].name, reg_text(s, b1), reg_text(&w->reg, b2),
						  W.s[w->server].name, w->step, w->exposed ? " (exposed)" : "");
				break;
			}
		}
	}
}
