/*-------------------------------------------------------------------------
 * events.c
 *	  The simulated servers' lives - start, crash, restore, rename, join,
 *	  mantis.peers reloaded - and sim_apply(), which applies any event and
 *	  then checks the invariants.
 *
 * IDENTIFICATION	test/sim/events.c
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* A start: load the rows (persist/load.c), a new run of the worker */
void
sim_start_server(int i, bool crashed)
{
	Server	   *s = &W.s[i];

	(void) crashed;
	s->up = true;
	s->incarnation = ++W.incarnations;
	s->hlc = 0;
	for (int k = 0; k < W.cfg.keys; k++)
	{
		W.kver[k]++;
		s->mem[k] = s->rows[k];
		s->mem[k].flags = 0;
		if (s->mem[k].present)
			sim_witness(s, s->mem[k].ts);
		s->floor[k] = s->floor_durable[k];
	}
	s->R = s->rows_R;
	memcpy(s->bound, s->rows_bound, sizeof(s->bound));	/* R7: and the records, above */
	s->published = 0;
	s->started_ms = sim_wait_clock(s);
	s->caught_up_ms = 0;
	s->compaction_asked = false;
	s->live_seq = 0;
	s->live_wm = 0;
	for (int j = 0; j < W.cfg.slots; j++)
	{
		sim_entry_reset(&s->peer[j], s->listed[j]);
		s->next_round[j] = W.T;
	}
	memset(s->hole, 0, sizeof(s->hole));	/* in memory: a start forgets them */
	for (int k = 0; k < W.cfg.keys; k++)
	{
		if (s->mem[k].present)
			check_hold(i, k);
		else
			check_dropped(i, k);
	}
	check_raised(i);
	check_started(i);
}

static void
crash(int i, uint64_t down_ms)
{
	Server	   *s = &W.s[i];
	Reg			pre[SIM_KEYS];
	MantisLeafBound pre_bound[SIM_KEYS];
	uint64_t	pre_R = s->R;

	if (!s->up)
		return;
	memcpy(pre, s->mem, sizeof(pre));
	memcpy(pre_bound, s->bound, sizeof(pre_bound));
	s->up = false;
	s->down_until = W.T + down_ms;
	sim_link_clear_all(i);
	memset(s->mem, 0, sizeof(s->mem));
	memset(s->bound, 0, sizeof(s->bound));
	for (int k = 0; k < W.cfg.keys; k++)
		W.kver[k]++;
	for (int j = 0; j < W.cfg.slots; j++)
		sim_entry_reset(&s->peer[j], false);
	check_lost(i, pre, pre_R, pre_bound);
}

static void
clean_restart(int i)
{
	if (!W.s[i].up)
		return;
	sim_flush(i, false);
	sim_link_clear_all(i);
	sim_start_server(i, false);
}

static void
rewind_server(int i, int c)
{
	Server	   *s = &W.s[i];
	Snapshot   *snap = &s->snap[c % SIM_SNAPS];
	Reg			pre[SIM_KEYS];
	MantisLeafBound pre_bound[SIM_KEYS];
	uint64_t	pre_R = s->up ? s->R : s->rows_R;

	if (!s->exists || !snap->valid)
		return;
	memcpy(pre, s->up ? s->mem : s->rows, sizeof(pre));
	memcpy(pre_bound, s->up ? s->bound : s->rows_bound, sizeof(pre_bound));
	memcpy(s->rows, snap->rows, sizeof(s->rows));
	memcpy(s->floor_durable, snap->floor, sizeof(s->floor_durable));
	memset(s->gone, 0, sizeof(s->gone));	/* a restore may bring them back */
	s->rows_R = snap->rows_R;
	memcpy(s->rows_bound, snap->bound, sizeof(s->rows_bound));
	check_durable(i, true);
	sim_link_clear_all(i);
	for (int j = 0; j < W.cfg.slots; j++)
		sim_entry_reset(&s->peer[j], false);
	sim_log("%s: restored from its backup of T+%llu", s->name,
			(unsigned long long) (snap->T - EPOCH_MS));
	sim_start_server(i, true);
	check_lost(i, pre, pre_R, pre_bound);
	check_revived(i);
}

static void
set_listed(int a, int b, bool on)
{
	Server	   *s = &W.s[a];

	if (a == b || !s->exists || !W.s[b].exists || s->listed[b] == on)
		return;
	s->listed[b] = on;
	if (on)
	{
		if (!s->peer[b].used)
			sim_entry_reset(&s->peer[b], true);
		s->next_round[b] = W.T;
	}
	else
	{
		/* the configured peer's entry goes; an inbound one comes back by itself */
		sim_entry_reset(&s->peer[b], false);
		if (!W.s[b].listed[a])
			sim_link_clear(a, b);
	}
}

static void
forget(int a, int b)
{
	Server	   *s = &W.s[a];
	Entry	   *e = &s->peer[b];

	if (!s->up || !e->used || s->listed[b] || W.T - e->last_heard < W.cfg.forget_ms)
		return;
	sim_log("%s: forgets silent inbound %s", s->name, e->name);
	sim_entry_reset(e, false);
}

static void
set_name(int i)
{
	Server	   *s = &W.s[i];

	if (s->renames == 0)
		snprintf(s->name, sizeof(s->name), "s%d", i);
	else
		snprintf(s->name, sizeof(s->name), "s%dr%d", i, s->renames);
	s->id = sim_name_id(s->name);
}

static void
join(int i)
{
	Server	   *s = &W.s[i];

	if (s->exists)
		return;
	s->exists = true;
	set_name(i);
	s->wall = W.T + (uint64_t) s->skew;
	for (int j = 0; j < W.cfg.slots; j++)
		s->listed[j] = j != i && W.s[j].exists &&
			(W.cfg.topology != 1 || j == W.cfg.hub);
	sim_start_server(i, false);
}

void
sim_init_world(void)
{
	for (int i = 0; i < W.cfg.slots; i++)
	{
		Server	   *s = &W.s[i];

		set_name(i);
		s->wall = W.T + (uint64_t) s->skew;
		if (i >= W.cfg.initial)
			continue;
		s->exists = true;
		for (int j = 0; j < W.cfg.slots; j++)
			s->listed[j] = W.cfg.initial_listed[i][j];
		sim_start_server(i, false);
	}
}

void
sim_format_event(const Event *e, char *buf, size_t size)
{
	const char *a = e->a >= 0 && e->a < SIM_SERVERS ? W.s[(int) e->a].name : "-";
	const char *b = e->b >= 0 && e->b < SIM_SERVERS ? W.s[(int) e->b].name : "-";

	switch (e->type)
	{
		case E_TICK:
			snprintf(buf, size, "tick %lld ms", (long long) e->d);
			break;
		case E_WRITE:
			snprintf(buf, size, "write %s k%d %s", a, e->b,
					 e->c == 1 ? "delete" : e->c == 2 ? "set with expiry" : "set");
			break;
		case E_CRASH:
			snprintf(buf, size, "crash %s (down %lld ms)", a, (long long) e->d);
			break;
		case E_CUT:
			snprintf(buf, size, "cut %s - %s (for %lld ms)", a, b, (long long) e->d);
			break;
		case E_SKEW:
		case E_JUMP:
			snprintf(buf, size, "%s %s %+lld ms", sim_event_name(e->type), a, (long long) e->d);
			break;
		case E_FLUSH:
			snprintf(buf, size, "flush %s%s", a, e->c ? " (compaction)" : "");
			break;
		case E_SNAPSHOT:
		case E_REWIND:
			snprintf(buf, size, "%s %s (backup %d)", sim_event_name(e->type), a,
					 e->c % SIM_SNAPS);
			break;
		case E_DELIVER:
		case E_DROP:
		case E_GREET:
		case E_ROUND:
		case E_ROUND_TIMEOUT:
			snprintf(buf, size, "%s %s -> %s", sim_event_name(e->type), a, b);
			break;
		case E_HEAL:
		case E_UNLIST:
		case E_LIST:
		case E_FORGET:
			snprintf(buf, size, "%s %s %s", sim_event_name(e->type), a, b);
			break;
		case E_QUIESCE:
			snprintf(buf, size, "quiesce");
			break;
		default:
			snprintf(buf, size, "%s %s", sim_event_name(e->type), a);
			break;
	}
}

/* Apply one event, then check the invariants that hold at every step */
void
sim_apply(const Event *e)
{
	int			a = e->a;
	int			b = e->b;

	W.step++;
	if (W.trace)
	{
		char		buf[128];

		sim_format_event(e, buf, sizeof(buf));
		printf("%6ld T+%-7llu %s\n", W.step, (unsigned long long) (W.T - EPOCH_MS), buf);
	}
	switch ((EventType) e->type)
	{
		case E_TICK:
			W.T += (uint64_t) e->d;
			for (int i = 0; i < W.cfg.slots; i++)
				W.s[i].wall = MAX(W.s[i].wall, W.T + (uint64_t) W.s[i].skew);
			check_tick();
			break;
		case E_WRITE:
			sim_local_write(a, b, e->c, e->d);
			break;
		case E_LIVE:
			sim_live_send(a);
			break;
		case E_DELIVER:
			sim_deliver(a, b);
			break;
		case E_DROP:
			sim_drop_message(a, b, e->c);
			break;
		case E_GREET:
			sim_greet(a, b);
			break;
		case E_ROUND:
			sim_round_begin(a, b);
			break;
		case E_ROUND_TIMEOUT:
			if (W.s[a].up && W.s[a].peer[b].round_active && W.T >= W.s[a].peer[b].round_deadline)
				sim_round_end(a, b, false, false, NULL);
			break;
		case E_FLUSH:
			sim_flush(a, e->c != 0);
			break;
		case E_SWEEP:
			sim_sweep(a);
			break;
		case E_CUT:
			if (a == b)
				break;
			W.cut[a][b] = W.cut[b][a] = true;
			W.heal_at[a][b] = W.heal_at[b][a] = W.T + (uint64_t) e->d;
			sim_link_clear(a, b);
			break;
		case E_HEAL:
			W.cut[a][b] = W.cut[b][a] = false;
			break;
		case E_CRASH:
			crash(a, (uint64_t) e->d);
			break;
		case E_RESTART:
			if (W.s[a].exists && !W.s[a].up)
				sim_start_server(a, true);
			break;
		case E_CLEAN_RESTART:
			clean_restart(a);
			break;
		case E_UNLIST:
			set_listed(a, b, false);
			break;
		case E_LIST:
			set_listed(a, b, true);
			break;
		case E_FORGET:
			forget(a, b);
			break;
		case E_RENAME:
			if (!W.s[a].up)
				break;
			sim_flush(a, false);
			sim_link_clear_all(a);
			W.s[a].renames++;
			set_name(a);
			sim_start_server(a, false);
			break;
		case E_SNAPSHOT:
			if (W.s[a].exists)
			{
				Snapshot   *snap = &W.s[a].snap[e->c % SIM_SNAPS];

				snap->valid = true;
				snap->T = W.T;
				snap->rows_R = W.s[a].rows_R;
				memcpy(snap->bound, W.s[a].rows_bound, sizeof(snap->bound));
				memcpy(snap->rows, W.s[a].rows, sizeof(snap->rows));
				memcpy(snap->floor, W.s[a].floor_durable, sizeof(snap->floor));
			}
			break;
		case E_REWIND:
			rewind_server(a, e->c);
			break;
		case E_JOIN:
			join(a);
			break;
		case E_SKEW:
			W.s[a].skew = e->d;
			W.s[a].wall = MAX(W.s[a].wall, W.T + (uint64_t) e->d);
			break;
		case E_JUMP:
			/* a clock set ahead, or put right: the wall steps with it */
			W.s[a].skew = e->d;
			W.s[a].wall = W.T + (uint64_t) e->d;
			break;
		case E_UPGRADE:
			if (W.s[a].up && W.s[a].version < MANTIS_RULES_PROTOCOL)
			{
				sim_flush(a, false);
				sim_link_clear_all(a);
				W.s[a].version = MANTIS_RULES_PROTOCOL;
				sim_start_server(a, false);
			}
			break;
		case E_QUIESCE:
			sim_quiesce();
			break;
		case E_COUNT:
			break;
	}
	check_step();
}
