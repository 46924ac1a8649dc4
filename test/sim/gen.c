/*-------------------------------------------------------------------------
 * gen.c
 *	  The simulator's random side: a seed's cluster, one random step (a
 *	  fault, a write, a delivery, or time passing with the workers' timers),
 *	  and quiescence.  Everything random is drawn here, from the seed; the
 *	  events it emits carry every choice, so a recorded list of them
 *	  replays without it (sim.c's shrinking).
 *
 * IDENTIFICATION	test/sim/gen.c
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* ---- the generator's random numbers: xorshift64*, from the seed ---- */

static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

static uint64_t
below(uint64_t n)
{
	return n == 0 ? 0 : rnd() % n;
}

static bool
chance(int percent)
{
	return (int) below(100) < percent;
}

static uint64_t
mix(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return (x ^ (x >> 31)) | 1;
}

/* ---- a seed's cluster ---- */

void
sim_gen_config(uint64_t seed)
{
	Config	   *c = &W.cfg;
	unsigned	f = sim_opt.features;
	bool		mixed;

	rng = mix(seed ^ UINT64_C(0xC0F16));
	memset(c, 0, sizeof(*c));
	c->features = f;
	c->old_rules = sim_opt.old_rules;
	c->initial = 3 + (int) below(3);
	c->slots = c->initial + ((f & F_JOIN) && chance(40) ? 1 : 0);
	c->keys = 5 + (int) below(SIM_KEYS - 4);
	c->leaves = (int[]) {c->keys, c->keys, (c->keys + 1) / 2, (c->keys + 2) / 3}[below(4)];
	c->lifetime_ms = 1500 + below(3500);
	c->max_offset_ms = 50;
	c->skew_bound = (f & F_SKEW) ? (uint64_t[]) {0, 10, 40}[below(3)] : 0;
	c->forget_ms = 1000;
	c->round_ms = 300;
	c->round_timeout_ms = 1000;
	c->greet_ms = 150;
	c->flush_ms = 200;
	c->sweep_ms = 150;
	c->live_ms = 20;
	c->max_delay_ms = 250;
	c->hub = (int) below(c->initial);
	if ((sim_opt.forced & F_HUB) || ((f & F_HUB) && chance(30)))
		c->topology = 1;
	else if ((f & F_MEMBERSHIP) && chance(20))
		c->topology = 2;
	for (int i = 0; i < c->initial; i++)
	{
		int			n = 0;

		for (int j = 0; j < c->initial; j++)
		{
			bool		on = i != j;

			if (c->topology == 1)
				on = i != j && (i == c->hub ? chance(50) : j == c->hub);
			else if (c->topology == 2)
				on = i != j && chance(60);
			c->initial_listed[i][j] = on;
			n += on;
		}
		if (n == 0 && c->topology == 2)
			c->initial_listed[i][(i + 1) % c->initial] = true;
	}
	mixed = !c->old_rules && ((sim_opt.forced & F_MIXED) || ((f & F_MIXED) && chance(25)));

	/*
	 * A clock jumps ahead past the lifetime and is put right (R3's least
	 * clock): not among protocol-3 servers, whose old rules measure the
	 * lifetime on their own clock, and without expiries, which a wall
	 * stepping back would bring back to life by that clock.
	 */
	c->jumps = !mixed && ((sim_opt.forced & F_JUMP) || ((f & F_JUMP) && chance(25)));
	if (c->jumps)
		c->features &= ~F_EXPIRY;
	for (int i = 0; i < c->slots; i++)
	{
		Server	   *s = &W.s[i];

		s->version = c->old_rules ? 3 : mixed && (i == 0 || chance(50)) ? 3 : 4;
		s->capacity = 1000;
		s->skew = c->skew_bound ? (int64_t) below(2 * c->skew_bound + 1) - (int64_t) c->skew_bound : 0;
	}
	if ((sim_opt.forced & F_ROOM) || ((f & F_ROOM) && chance(40)))
	{
		int			n = 1 + (int) below(2);

		for (int i = 0; i < n; i++)
		{
			int			j = (int) below(c->initial);

			/*
			 * A protocol-3 server with a full store loses writes whatever
			 * its peers do (the old rules have no holes): only the scenario
			 * mixed-room shows it.
			 */
			if (W.s[j].version < MANTIS_RULES_PROTOCOL && !c->old_rules &&
				!(sim_opt.forced & F_MIXED_ROOM))
				continue;
			W.s[j].capacity = c->keys - 2 - (int) below(2);
		}
	}

	/*
	 * R7: registers dead a little while become records, under a budget
	 * small enough that most seeds collapse records into bounds (drawn
	 * last, so that the draws above stay those of the seeds before R7).
	 */
	c->compact_ms = 200 + below(800);
	for (int i = 0; i < c->slots; i++)
		W.s[i].max_records = (int[]) {1, 2, 3, 1000}[below(4)];
	for (int i = 0; i < c->slots && sim_opt.records > 0; i++)
		W.s[i].max_records = sim_opt.records;
}

/* ---- picking ---- */

static int
pick_server(bool up)
{
	int			c[SIM_SERVERS],
				n = 0;

	for (int i = 0; i < W.cfg.slots; i++)
		if (W.s[i].exists && (!up || W.s[i].up))
			c[n++] = i;
	return n == 0 ? -1 : c[below(n)];
}

/* A pair (a, b): 0 any two servers, 1 connected, 2 a lists b, 3 a does not list b, 4 cut */
static bool
pick_pair(int kind, int *a, int *b)
{
	int			ca[SIM_SERVERS * SIM_SERVERS],
				cb[SIM_SERVERS * SIM_SERVERS],
				n = 0;

	for (int i = 0; i < W.cfg.slots; i++)
		for (int j = 0; j < W.cfg.slots; j++)
		{
			bool		ok = i != j && W.s[i].exists && W.s[j].exists;

			if (kind == 1)
				ok = ok && sim_connected(i, j);
			else if (kind == 2)
				ok = ok && W.s[i].listed[j];
			else if (kind == 3)
				ok = ok && !W.s[i].listed[j] &&
					(i >= W.cfg.initial || j >= W.cfg.initial || W.cfg.initial_listed[i][j] || chance(30));
			else if (kind == 4)
				ok = ok && W.cut[i][j];
			if (ok)
			{
				ca[n] = i;
				cb[n++] = j;
			}
		}
	if (n == 0)
		return false;
	n = (int) below(n);
	*a = ca[n];
	*b = cb[n];
	return true;
}

static bool
pick_link(int *a, int *b)
{
	int			n = 0,
				k;

	for (int i = 0; i < W.cfg.slots; i++)
		for (int j = 0; j < W.cfg.slots; j++)
			n += W.link[i][j].count > 0;
	if (n == 0)
		return false;
	k = (int) below(n);
	for (int i = 0; i < W.cfg.slots; i++)
		for (int j = 0; j < W.cfg.slots; j++)
			if (W.link[i][j].count > 0 && k-- == 0)
			{
				*a = i;
				*b = j;
				return true;
			}
	return false;
}

/* Whether a's clock is jumped ahead, past the skew bound */
static bool
jumped(int a)
{
	return a >= 0 && W.s[a].skew > (int64_t) W.cfg.skew_bound;
}

/*
 * Whether a's clock reads ahead of true time past the skew bound: jumped,
 * or its HLC not yet caught up with since it was put right.  One clock at
 * a time: with two ahead (one by its wall, one by its HLC, which stands
 * still until its wall catches up), the least clock of the members a
 * server hears may be ahead too, rules.h's price.
 */
static bool
reads_ahead(int a)
{
	return W.s[a].exists && (jumped(a) ||
							 mantis_hlc_ms(W.s[a].hlc) > W.T + W.cfg.skew_bound + W.cfg.max_offset_ms);
}

/*
 * Whether a server has heard from a member in this run: only such a one
 * jumps, and a jumped one is not left alone (crashed, restarted, renamed,
 * rewound, its peers unlisted or forgotten).  Alone, it measures the
 * lifetime on its own clock: the price of rules.h, not modelled.
 */
static bool
hears_members(int a)
{
	return sim_members_clock(&W.s[a]) != UINT64_MAX;
}

/* ---- the timers: what the workers do by themselves as time passes ---- */

static void
timers(void)
{
	const Config *c = &W.cfg;

	for (int i = 0; i < c->slots; i++)
		if (W.s[i].exists && !W.s[i].up && W.s[i].down_until <= W.T)
			sim_emit(E_RESTART, i, -1, 0, 0);
	for (int i = 0; i < c->slots; i++)
		for (int j = i + 1; j < c->slots; j++)
			if (W.cut[i][j] && W.heal_at[i][j] <= W.T)
				sim_emit(E_HEAL, i, j, 0, 0);
	for (int i = 0; i < c->slots; i++)
		for (int j = 0; j < c->slots; j++)
			while (W.link[i][j].count > 0 &&
				   W.link[i][j].q[W.link[i][j].head].sent_T + c->max_delay_ms <= W.T)
				sim_emit(E_DELIVER, i, j, 0, 0);
	for (int i = 0; i < c->slots; i++)
	{
		Server	   *s = &W.s[i];

		if (!s->up)
			continue;
		if (s->next_live <= W.T)
		{
			s->next_live = W.T + c->live_ms;
			sim_emit(E_LIVE, i, -1, 0, 0);
		}
		if (s->next_greet <= W.T)
		{
			s->next_greet = W.T + c->greet_ms;
			for (int j = 0; j < c->slots; j++)
				if (sim_connected(i, j))
					sim_emit(E_GREET, i, j, 0, 0);
		}
		if (s->next_flush <= W.T)
		{
			s->next_flush = W.T + c->flush_ms;
			sim_emit(E_FLUSH, i, -1, 0, 0);
		}
		if (s->next_sweep <= W.T)
		{
			s->next_sweep = W.T + c->sweep_ms;
			sim_emit(E_SWEEP, i, -1, 0, 0);
		}
		for (int j = 0; j < c->slots; j++)
		{
			Entry	   *e = &s->peer[j];

			if (e->round_active && e->round_deadline <= W.T)
				sim_emit(E_ROUND_TIMEOUT, i, j, 0, 0);
			if (s->listed[j] && s->next_round[j] <= W.T && sim_connected(i, j) &&
				e->greeted && !e->round_active)
			{
				s->next_round[j] = W.T + c->round_ms * 3 / 4 + below(c->round_ms / 2 + 1);
				sim_emit(E_ROUND, i, j, 0, 0);
			}
			if (e->used && !s->listed[j] && W.T - e->last_heard >= c->forget_ms && !jumped(i))
				sim_emit(E_FORGET, i, j, 0, 0);
		}
	}
}

/* ---- one random step ---- */

typedef struct Weight
{
	int			type;
	int			weight;
	unsigned	feature;
} Weight;

static const Weight weights[] = {
	{E_TICK, 300, 0}, {E_WRITE, 60, 0}, {E_DELIVER, 250, 0}, {E_DROP, 6, F_DROP},
	{E_LIVE, 30, 0}, {E_GREET, 20, 0}, {E_ROUND, 20, 0}, {E_FLUSH, 15, 0},
	{E_SWEEP, 15, 0}, {E_CUT, 6, F_PARTITION}, {E_HEAL, 2, F_PARTITION},
	{E_CRASH, 2, F_CRASH}, {E_CLEAN_RESTART, 2, F_CRASH}, {E_UNLIST, 3, F_MEMBERSHIP},
	{E_LIST, 4, F_MEMBERSHIP}, {E_RENAME, 1, F_RENAME}, {E_SNAPSHOT, 4, F_REWIND},
	{E_REWIND, 2, F_REWIND}, {E_JOIN, 2, F_JOIN}, {E_SKEW, 3, F_SKEW},
	{E_UPGRADE, 2, F_MIXED}, {E_JUMP, 2, F_JUMP}
};

void
sim_gen_step(void)
{
	const Config *c = &W.cfg;
	int			total = 0,
				x,
				type = E_TICK,
				a = -1,
				b = -1;

	W.gen_step++;
	for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
		if (weights[i].feature == 0 || (c->features & weights[i].feature))
			total += weights[i].weight;
	x = (int) below(total);
	for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
	{
		if (weights[i].feature != 0 && !(c->features & weights[i].feature))
			continue;
		if (x < weights[i].weight)
		{
			type = weights[i].type;
			break;
		}
		x -= weights[i].weight;
	}
	switch (type)
	{
		case E_WRITE:
			if ((a = pick_server(true)) < 0)
				break;
			x = (int) below(100);
			sim_emit(E_WRITE, a, (int) below(c->keys),
				 x < 60 ? 0 : (x < 90 || !(c->features & F_EXPIRY)) ? 1 : 2,
				 50 + (int64_t) below(3000));
			return;
		case E_DELIVER:
		case E_DROP:
			if (!pick_link(&a, &b))
				break;
			sim_emit(type, a, b, (int) below(SIM_QUEUE), 0);
			return;
		case E_LIVE:
		case E_SWEEP:
		case E_CLEAN_RESTART:
		case E_RENAME:
			if ((a = pick_server(true)) < 0 || jumped(a))
				break;
			sim_emit(type, a, -1, 0, 0);
			return;
		case E_FLUSH:
			if ((a = pick_server(true)) < 0)
				break;
			sim_emit(type, a, -1, chance(20), 0);
			return;
		case E_GREET:
			if (!pick_pair(1, &a, &b))
				break;
			sim_emit(E_GREET, a, b, 0, 0);
			sim_emit(E_GREET, b, a, 0, 0);
			return;
		case E_ROUND:
			if (!pick_pair(2, &a, &b))
				break;
			sim_emit(E_ROUND, a, b, 0, 0);
			return;
		case E_CUT:
			if (!pick_pair(0, &a, &b))
				break;
			{
				int64_t		d = (int64_t) below(c->lifetime_ms * 5 / 2);

				if (chance(30))
				{
					for (int j = 0; j < c->slots; j++)
						if (j != a && W.s[j].exists)
							sim_emit(E_CUT, a, j, 0, d);
				}
				else
					sim_emit(E_CUT, a, b, 0, d);
			}
			return;
		case E_HEAL:
			if (!pick_pair(4, &a, &b))
				break;
			sim_emit(E_HEAL, a, b, 0, 0);
			return;
		case E_CRASH:
			if ((a = pick_server(true)) < 0 || jumped(a))
				break;
			sim_emit(E_CRASH, a, -1, 0, chance(70) ? (int64_t) below(500) :
				 (int64_t) below(2 * c->lifetime_ms));
			return;
		case E_UNLIST:
			if (!pick_pair(2, &a, &b) || jumped(a))
				break;
			sim_emit(E_UNLIST, a, b, 0, 0);
			return;
		case E_LIST:
			if (!pick_pair(3, &a, &b))
				break;
			sim_emit(E_LIST, a, b, 0, 0);
			return;
		case E_SNAPSHOT:
		case E_REWIND:
			if ((a = pick_server(false)) < 0 || (type == E_REWIND && jumped(a)))
				break;
			sim_emit(type, a, -1, (int) below(SIM_SNAPS), 0);
			return;
		case E_JOIN:
			if (c->slots == c->initial || W.s[c->slots - 1].exists)
				break;
			sim_emit(E_JOIN, c->slots - 1, -1, 0, 0);
			return;
		case E_SKEW:
			if ((a = pick_server(false)) < 0 || c->skew_bound == 0 || jumped(a))
				break;
			sim_emit(E_SKEW, a, -1, 0, (int64_t) below(2 * c->skew_bound + 1) - (int64_t) c->skew_bound);
			return;
		case E_JUMP:
			if (!c->jumps || (a = pick_server(true)) < 0)
				break;
			if (jumped(a))
			{
				/* put right */
				sim_emit(E_JUMP, a, -1, 0, c->skew_bound ?
					 (int64_t) below(2 * c->skew_bound + 1) - (int64_t) c->skew_bound : 0);
				return;
			}
			for (int i = 0; i < c->slots; i++)
				if (reads_ahead(i))
					a = -1;		/* one at a time: the others' clocks are right */
			if (a < 0 || !hears_members(a))
				break;
			sim_emit(E_JUMP, a, -1, 0, (int64_t) (c->lifetime_ms + 1 + below(c->lifetime_ms)));
			return;
		case E_UPGRADE:
			for (int i = 0; i < c->slots; i++)
				if (W.s[i].up && W.s[i].version < MANTIS_RULES_PROTOCOL && !c->old_rules)
				{
					sim_emit(E_UPGRADE, i, -1, 0, 0);
					return;
				}
			break;
		default:
			break;
	}
	sim_emit(E_TICK, -1, -1, 0, 1 + (int64_t) below(40));
	timers();
}

/* ---- quiescence ---- */

static void
sub(int type, int a, int b, int c, int64_t d)
{
	Event		e = {(uint8_t) type, (int8_t) a, (int8_t) b, c, d};

	sim_apply(&e);
}

static void
deliver_all(void)
{
	for (int guard = 0; guard < 100000; guard++)
	{
		bool		any = false;

		for (int i = 0; i < W.cfg.slots; i++)
			for (int j = 0; j < W.cfg.slots; j++)
				while (W.link[i][j].count > 0)
				{
					sub(E_DELIVER, i, j, 0, 0);
					any = true;
				}
		if (!any)
			return;
	}
}

/* Whether every server up reads the same live register for every key */
bool
sim_live_equal(void)
{
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Reg			ref = {0};
		bool		first = true;

		for (int i = 0; i < W.cfg.slots; i++)
		{
			Reg			l;

			if (!W.s[i].exists || !W.s[i].up)
				continue;
			l = W.s[i].mem[k];
			if (reg_dead(&l, W.T))
				memset(&l, 0, sizeof(l));
			if (first)
				ref = l;
			else if (reg_cmp(&l, &ref) != 0)
				return false;
			first = false;
		}
	}
	return true;
}

/*
 * Heal everything, bring every server up in a full mesh with room enough,
 * run the workers until the live registers agree, and check (b) and (c);
 * then mantis.peers goes back to what it was.
 */
void
sim_quiesce(void)
{
	const Config *c = &W.cfg;
	bool		added[SIM_SERVERS][SIM_SERVERS] = {{false}};
	int			stable = 0;

	uint64_t	ahead = 0;

	for (int i = 0; i < c->slots; i++)
		for (int j = i + 1; j < c->slots; j++)
			if (W.cut[i][j])
				sub(E_HEAL, i, j, 0, 0);

	/*
	 * Jumped clocks put right, and time past their HLCs, which the others
	 * refuse as skewed until then.
	 */
	for (int i = 0; i < c->slots; i++)
		if (jumped(i))
			sub(E_JUMP, i, -1, 0, 0);
	for (int i = 0; i < c->slots; i++)
		if (W.s[i].exists)
			ahead = MAX(ahead, mantis_hlc_ms(W.s[i].hlc));
	if (ahead > W.T + c->skew_bound)
		sub(E_TICK, -1, -1, 0, (int64_t) (ahead + c->skew_bound - W.T));
	for (int i = 0; i < c->slots; i++)
	{
		if (W.s[i].exists && !W.s[i].up)
			sub(E_RESTART, i, -1, 0, 0);
		if (W.s[i].exists && W.s[i].capacity < c->keys)
		{
			W.s[i].capacity = 1000;
			sub(E_CLEAN_RESTART, i, -1, 0, 0);
		}
	}
	for (int i = 0; i < c->slots; i++)
		for (int j = 0; j < c->slots; j++)
			if (i != j && W.s[i].exists && W.s[j].exists && !W.s[i].listed[j])
			{
				added[i][j] = true;
				sub(E_LIST, i, j, 0, 0);
			}
	sub(E_TICK, -1, -1, 0, (int64_t) c->round_timeout_ms);
	for (int it = 0; it < 400 && W.violation == V_NONE; it++)
	{
		sub(E_TICK, -1, -1, 0, 25);
		for (int i = 0; i < c->slots; i++)
			for (int j = 0; j < c->slots; j++)
				if (W.s[i].up && W.s[i].peer[j].round_active && W.s[i].peer[j].round_deadline <= W.T)
					sub(E_ROUND_TIMEOUT, i, j, 0, 0);
		for (int i = 0; i < c->slots; i++)
			if (W.s[i].up)
				sub(E_LIVE, i, -1, 0, 0);
		deliver_all();
		for (int i = 0; i < c->slots; i++)
			for (int j = 0; j < c->slots; j++)
				if (sim_connected(i, j))
					sub(E_GREET, i, j, 0, 0);
		deliver_all();
		for (int i = 0; i < c->slots; i++)
			for (int j = 0; j < c->slots; j++)
				if (W.s[i].up && W.s[i].listed[j])
				{
					sub(E_ROUND, i, j, 0, 0);
					deliver_all();
				}
		for (int i = 0; i < c->slots; i++)
			if (W.s[i].up)
			{
				sub(E_FLUSH, i, -1, 0, 0);
				sub(E_SWEEP, i, -1, 0, 0);
			}
		if (sim_live_equal())
		{
			if (++stable >= 5 && it >= 10)
				break;
		}
		else
			stable = 0;
	}
	if (W.violation == V_NONE)
		check_quiescent();
	for (int i = 0; i < c->slots; i++)
		for (int j = 0; j < c->slots; j++)
			if (added[i][j])
				sub(E_UNLIST, i, j, 0, 0);
}

/* The event stream's random numbers, once the cluster is made */
void
sim_gen_seed(uint64_t seed)
{
	rng = mix(seed);
}
