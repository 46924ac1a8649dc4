/*-------------------------------------------------------------------------
 * repair.c
 *	  The simulated repair rounds (replication/repair.c, the rule R6), and
 *	  the persistence worker's flush and sweep (persist/flush.c,
 *	  store/sweep.c, the rules R3 and R4).
 *
 * IDENTIFICATION	test/sim/repair.c
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

static uint64_t lifetime_bound_ms(const Server *s);

/*
 * Whether a repair frame to server "to" carries a register: a record goes
 * as a hash tombstone only to a server that reads them (protocol 5 here:
 * the new rules), and not at all with --wrong tombstone.
 */
static bool
sim_frame_carries(const Reg *r, int to)
{
	return !r->record || (sim_new_rules(&W.s[to]) && !(W.wrong & X_TOMBSTONE));
}

/* Our round with a peer ended (mantis_horizon_round_end) */
void
sim_round_end(int a, int b, bool completed, bool tainted, const Msg *m)
{
	Server	   *s = &W.s[a];
	Entry	   *e = &s->peer[b];

	if (!e->round_active)
		return;
	e->round_active = false;
	if (!completed || tainted || m == NULL || m->incarnation != e->in_incarnation)
	{
		sim_log("%s: round with %s ends without mending (%s)", s->name, W.s[b].name,
				!completed ? "given up" : tainted ? "tainted" : "other incarnation");
		return;
	}
	if (sim_new_rules(s) && e->hole_count == e->round_hole_count && e->hole_ts != MANTIS_RULES_NO_HOLE)
	{
		sim_log("%s: the hole from %s closes", s->name, W.s[b].name);
		e->hole_ts = MANTIS_RULES_NO_HOLE;
	}
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Hole	   *h = &s->hole[b][k];

		if (h->open && h->step < e->round_begun_step)
		{
			sim_log("%s: the hole from %s for k%d closes", s->name, W.s[b].name, k);
			h->open = false;
		}
	}
	if (s->caught_up_ms == 0)
		s->caught_up_ms = sim_wait_clock(s);
	e->caught_up = true;
	e->in_held = MAX(e->in_held, m->watermark);
	if (e->in_unbroken && !sim_seq_after(m->seq, e->in_seq))
		return;
	if (e->run_valid && !sim_seq_after(e->run_start, m->seq + 1) && sim_seq_after(e->run_end, m->seq))
	{
		e->in_seq = e->run_end;
		e->in_held = MAX(e->in_held, e->run_watermark);
	}
	else
		e->in_seq = m->seq;
	e->in_unbroken = true;
	e->run_valid = false;
}

void
sim_round_begin(int a, int b)
{
	Server	   *s = &W.s[a];
	Entry	   *e = &s->peer[b];
	Msg			m;

	if (!sim_connected(a, b) || !s->listed[b] || !e->used || !e->greeted || e->round_active)
		return;
	e->round_active = true;
	e->round_id = ++W.rounds;
	e->round_deadline = W.T + W.cfg.round_timeout_ms;
	e->round_begun_T = W.T;
	e->round_begun_step = W.step;
	e->round_collected = e->collected;
	e->round_hole_count = e->hole_count;
	memset(&m, 0, sizeof(m));
	m.type = M_SUMMARY;
	m.hlc = sim_clock_peek(s);
	m.incarnation = s->incarnation;
	m.round = e->round_id;
	for (int l = 0; l < W.cfg.leaves; l++)
		e->round_sent[l] = m.digest[l] = sim_leaf_digest(s, l);
	sim_link_push(a, b, &m);
}

/* The peer answers a SUMMARY: its registers that differ, its digests, its mark */
void
sim_on_summary(int b, int a, const Msg *m)
{
	Server	   *s = &W.s[b];
	Msg			ans;

	memset(&ans, 0, sizeof(ans));
	ans.type = M_ANSWER;
	ans.hlc = sim_clock_peek(s);
	ans.incarnation = s->incarnation;
	ans.round = m->round;
	ans.seq = s->live_seq;
	ans.watermark = s->live_wm;
	for (int l = 0; l < W.cfg.leaves; l++)
		ans.digest[l] = sim_leaf_digest(s, l);
	memcpy(ans.truth, s->mem, sizeof(ans.truth));
	for (int k = 0; k < W.cfg.keys; k++)
	{
		int			l = k % W.cfg.leaves;

		if (ans.digest[l] != m->digest[l] && s->mem[k].present &&
			sim_frame_carries(&s->mem[k], a))
		{
			ans.regs[ans.nregs] = s->mem[k];
			ans.regs[ans.nregs++].flags = 0;
		}
	}
	sim_link_push(b, a, &ans);
}

/*
 * The puller merges the answer, adopts what the peer collected (R6), sends
 * back what still differs, and ends the round (repair.c).
 */
void
sim_on_answer(int a, int b, const Msg *m)
{
	Server	   *s = &W.s[a];
	Entry	   *e = &s->peer[b];
	bool		seen[SIM_KEYS] = {false};
	bool		clean;
	Msg			back;

	if (!e->round_active || e->round_id != m->round)
		return;
	clean = sim_merge_frame(a, b, m->regs, m->nregs, seen);
	if (clean && sim_new_rules(s) && sim_new_rules(&W.s[b]))
		check_answer(a, b, m, e->round_sent);
	/* R6: no adoption before a round with each member merged all it holds */
	if (clean && (!sim_new_rules(s) || sim_caught_up_with_all(s)))
	{
		uint64_t	bound = mantis_hlc_pack(s->wall + W.cfg.max_offset_ms, 0);
		uint64_t	upto;
		uint64_t	max_ts = 0;
		bool		dropped[SIM_KEYS] = {false};
		int			n = 0;
		bool		deferred = sim_new_rules(s) && !(W.unfixed & U_ADOPT);

		if (sim_new_rules(s))
			upto = mantis_rules_adopt_upto(e->round_collected, e->collected, bound,
										   sim_least_hole(s));
		else
			upto = e->round_collected != 0 ? MIN(e->collected, bound) : 0;
		uint64_t	ours[SIM_KEYS];
		bool		adopt[SIM_KEYS];

		for (int l = 0; l < W.cfg.leaves; l++)
		{
			ours[l] = sim_leaf_digest(s, l);
			if (!(W.unfixed & U_LEAF))
				adopt[l] = mantis_rules_adopt_leaf(e->round_sent[l], m->digest[l], ours[l]);
			else
				adopt[l] = m->digest[l] != ours[l];	/* R6 as repair.c has it */
		}
		for (int k = 0; k < W.cfg.keys; k++)
		{
			Reg		   *r = &s->mem[k];
			char		bb[96];

			if (!r->present || !adopt[k % W.cfg.leaves])
				continue;
			if (mantis_rules_adopt(seen[k], sim_owed(r), sim_new_rules(s) && reg_dead(r, s->wall),
								   r->ts, upto) && deferred)
			{
				/* flagged, still read, until a compaction drops it (sim_flush) */
				if (!(r->flags & RF_ADOPTED))
					sim_log("%s: adopts away %s (%s's horizon covers it), once compacted",
							s->name, reg_text(r, bb), W.s[b].name);
				r->flags |= RF_ADOPTED;
				s->compaction_asked = true;
			}
			else if (mantis_rules_adopt(seen[k], sim_owed(r), sim_new_rules(s) && reg_dead(r, s->wall),
										r->ts, upto))
			{
				sim_log("%s: adopts away %s (%s's horizon covers it)", s->name,
						reg_text(r, bb), W.s[b].name);
				if (sim_new_rules(s))
					s->gone[k] = *r;
				max_ts = MAX(max_ts, r->ts);
				memset(r, 0, sizeof(*r));
				W.kver[k]++;
				dropped[k] = true;
				n++;
			}
		}
		if (n > 0)
		{
			W.n_adopted += n;
			if (sim_new_rules(s))
			{
				uint64_t	lifetime_ms = lifetime_bound_ms(s);

				max_ts = mantis_rules_adopted_raise(max_ts, s->published,
													lifetime_ms ? mantis_hlc_pack(lifetime_ms, 0) : 0,
													sim_least_hole(s), sim_caught_up_with_all(s));
			}
			s->R = MAX(s->R, max_ts);
			s->compaction_asked = true;
			for (int k = 0; k < W.cfg.keys; k++)
				if (dropped[k])
					check_dropped(a, k);
			check_raised(a);
		}
	}
	memset(&back, 0, sizeof(back));
	back.type = M_PUSH;
	back.hlc = sim_clock_peek(s);
	back.incarnation = s->incarnation;
	for (int k = 0; k < W.cfg.keys; k++)
	{
		if (s->mem[k].present && sim_leaf_digest(s, k % W.cfg.leaves) != m->digest[k % W.cfg.leaves] &&
			sim_frame_carries(&s->mem[k], b))
		{
			back.regs[back.nregs] = s->mem[k];
			back.regs[back.nregs++].flags = 0;
		}
	}
	if (back.nregs > 0)
		sim_link_push(a, b, &back);
	sim_round_end(a, b, true, !clean, m);
}

/*
 * A compaction that left registers adopted away out of the rows committed
 * (persist/flush.c): the rows carry the raise, and they are dropped.
 */
static void
drop_covered(int i, const bool *covered, uint64_t covered_max)
{
	Server	   *s = &W.s[i];
	uint64_t	lifetime_ms = lifetime_bound_ms(s);
	char		bb[96];

	s->R = MAX(s->R, mantis_rules_adopted_raise(covered_max, s->published,
												lifetime_ms ? mantis_hlc_pack(lifetime_ms, 0) : 0,
												sim_least_hole(s), true));
	for (int k = 0; k < W.cfg.keys; k++)
	{
		if (!covered[k])
			continue;
		sim_log("%s: drops %s, adopted away, its rows compacted", s->name,
				reg_text(&s->mem[k], bb));
		s->gone[k] = s->mem[k];
		s->gone[k].flags = 0;
		memset(&s->mem[k], 0, sizeof(s->mem[k]));
		W.n_adopted++;
		check_dropped(i, k);
	}
	check_raised(i);
}

void
sim_flush(int i, bool compact)
{
	Server	   *s = &W.s[i];

	uint64_t	covered_max = 0;
	bool		covered[SIM_KEYS] = {false};

	if (!s->up)
		return;
	compact |= s->compaction_asked;
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Reg		   *r = &s->mem[k];

		if (r->present && r->record && (r->flags & RF_UNFLUSHED) && (W.wrong & X_PERSIST))
			r->flags &= ~RF_UNFLUSHED;	/* wrong: the record row never written */
		if (r->present && (r->flags & RF_UNFLUSHED))
		{
			/* a row more: loading merges the rows by LWW */
			MantisRegisterView vr = sim_view(r);
			MantisRegisterView vrow = sim_view(&s->rows[k]);

			if (!s->rows[k].present || mantis_lww_merge(&vrow, &vr) == &vr)
			{
				s->rows[k] = *r;
				s->rows[k].flags = 0;
				W.kver[k]++;
			}
			r->flags &= ~RF_UNFLUSHED;
		}
		if (compact && r->present && (r->flags & RF_ADOPTED) &&
			mantis_rules_adoption_covered(reg_dead(r, s->wall), r->ts, sim_least_hole(s)))
		{
			/* left out of the rows: dropped once they are written (below) */
			memset(&s->rows[k], 0, sizeof(s->rows[k]));
			covered[k] = true;
			covered_max = MAX(covered_max, r->ts);
			W.kver[k]++;
		}
		else if (compact && !(r->record && (W.wrong & X_PERSIST)))
		{
			s->rows[k] = *r;
			s->rows[k].flags = 0;
			W.kver[k]++;
		}
		if (reg_cmp(&s->floor[k], &s->floor_durable[k]) > 0)
			s->floor_durable[k] = s->floor[k];
	}
	s->compaction_asked = false;
	/* R7: the bounds go with a compaction, which drops the rows collapsed */
	if (compact)
		memcpy(s->rows_bound, s->bound, sizeof(s->rows_bound));
	if (covered_max != 0)
		drop_covered(i, covered, covered_max);
	s->rows_R = MAX(s->rows_R, s->R);
	check_durable(i, false);
	for (int j = 0; j < W.cfg.slots; j++)
		s->peer[j].in_durable = MAX(s->peer[j].in_durable, s->peer[j].in_held);
}

/*
 * A server's least hole (R5): of its peers' entries, and of the registers it
 * refused (a hole closes once it holds that register or a newer one).
 * NO_HOLE under the old rules.
 */
uint64_t
sim_least_hole(Server *s)
{
	uint64_t	hole = MANTIS_RULES_NO_HOLE;

	if (!sim_new_rules(s))
		return hole;
	for (int j = 0; j < W.cfg.slots; j++)
	{
		if (s->peer[j].used)
			hole = MIN(hole, s->peer[j].hole_ts);
		for (int k = 0; k < W.cfg.keys; k++)
		{
			Hole	   *h = &s->hole[j][k];

			/* held now, that register or a newer one: closed */
			if (h->open && reg_cmp(&s->mem[k], &h->greatest) >= 0)
				h->open = false;
			if (h->open)
				hole = MIN(hole, h->least_ts);
		}
	}
	return hole;
}

/* Whether a round with each peer entry in this run merged all it holds */
bool
sim_caught_up_with_all(Server *s)
{
	bool		any = false;

	for (int j = 0; j < W.cfg.slots; j++)
	{
		if (!s->peer[j].used)
			continue;
		if (!s->peer[j].caught_up)
			return false;
		any = true;
	}
	return any;
}

/*
 * The lifetime bound in ms, 0 while the lifetime may not collect (until a
 * lifetime after the first catch-up, by sim_wait_clock()):
 * on the least clock among ours and our members' (R3); the old rules, and
 * --unfixed clock, on ours alone.
 */
static uint64_t
lifetime_bound_ms(const Server *s)
{
	uint64_t	members = sim_new_rules(s) && !(W.unfixed & U_CLOCK) ?
		sim_members_clock(s) : UINT64_MAX;

	if (s->caught_up_ms == 0 || sim_wait_clock(s) < s->caught_up_ms + W.cfg.lifetime_ms)
		return 0;
	return mantis_rules_lifetime_bound(s->wall, members, W.cfg.lifetime_ms);
}

/*
 * R7: a dead register kept becomes a record once dead since the compaction
 * bound, owed nothing, if the budget has room (a collapse may make it).
 */
static void
compact(int i, int k, const MantisDeadRegister *d)
{
	Server	   *s = &W.s[i];
	Reg		   *r = &s->mem[k];
	char		b[96];

	if (r->record || s->wall <= W.cfg.compact_ms)
		return;
	if (!mantis_rules_compact(d, s->wall - W.cfg.compact_ms,
							  sim_new_rules(s) ? MANTIS_RULES_RECORDS_PROTOCOL : 3))
		return;
	if (!sim_record_room(i))
		return;
	sim_log("%s: compacts %s into a record", s->name, reg_text(r, b));
	r->record = true;
	r->flags |= RF_UNFLUSHED;	/* its row is rewritten as a record row */
	W.kver[k]++;
	W.n_compacted++;
}

/* R7: collapsed bounds collected as one register each; the raise */
static uint64_t
sweep_bounds(int i, const MantisSweepBounds *bounds)
{
	Server	   *s = &W.s[i];
	uint64_t	raise = 0;

	for (int l = 0; l < W.cfg.leaves; l++)
	{
		MantisSweepVerdict v = mantis_rules_bound_sweep(&s->bound[l], bounds);

		if (v == MANTIS_SWEEP_KEEP)
			continue;
		sim_log("%s: collects the bound of leaf %d (+%lld ms) by %s, raising R", s->name, l,
				(long long) (mantis_hlc_ms(s->bound[l].bound_ts) - EPOCH_MS),
				v == MANTIS_SWEEP_BY_HORIZON ? "horizon" : "lifetime");
		raise = MAX(raise, s->bound[l].bound_ts);
		memset(&s->bound[l], 0, sizeof(s->bound[l]));
		s->compaction_asked = true;
		for (int k = l; k < W.cfg.keys; k += W.cfg.leaves)
			W.kver[k]++;
	}
	return raise;
}

void
sim_sweep(int i)
{
	Server	   *s = &W.s[i];
	MantisSweepBounds bounds;
	bool		dropped[SIM_KEYS] = {false};
	uint64_t	raise = 0;
	uint64_t	bound_raise;
	int			n = 0;

	if (!s->up)
		return;
	sim_horizon_tick(i);
	bounds.horizon_ts = s->published;
	bounds.lifetime_ms = lifetime_bound_ms(s);
	bounds.hole_ts = sim_least_hole(s);
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Reg		   *r = &s->mem[k];
		MantisDeadRegister d;
		MantisSweepVerdict v;
		bool		raises;
		char		b[96];

		if (!reg_dead(r, s->wall))
			continue;
		d.hlc_ts = r->ts;
		d.death_ms = mantis_hlc_ms(r->ts);
		if (!r->deleted)
			d.death_ms = MAX(d.death_ms, r->expires);
		d.owed = sim_owed(r);
		if ((W.wrong & X_MARKER) && !r->deleted && !d.owed && sim_new_rules(s))
		{
			/* wrong: an expired register needs no marker */
			sim_log("%s: drops %s, expired, with no marker", s->name, reg_text(r, b));
			memset(r, 0, sizeof(*r));
			W.kver[k]++;
			dropped[k] = true;
			n++;
			continue;
		}
		v = mantis_rules_sweep(&d, &bounds);
		if (v == MANTIS_SWEEP_KEEP)
		{
			compact(i, k, &d);
			continue;
		}
		raises = sim_new_rules(s) ? mantis_rules_sweep_raises(v, true) : v == MANTIS_SWEEP_BY_LIFETIME;
		sim_log("%s: collects %s by %s%s", s->name, reg_text(r, b),
				v == MANTIS_SWEEP_BY_HORIZON ? "horizon" : "lifetime",
				raises ? ", raising R" : "");
		if (raises)
			raise = MAX(raise, r->ts);
		memset(r, 0, sizeof(*r));
		W.kver[k]++;
		dropped[k] = true;
		n++;
	}
	bound_raise = sweep_bounds(i, &bounds);	/* once: MAX() evaluates twice */
	raise = MAX(raise, bound_raise);
	if (n == 0 && raise == 0)
		return;
	W.n_collected += n;
	s->R = MAX(s->R, raise);
	for (int k = 0; k < W.cfg.keys; k++)
		if (dropped[k])
			check_dropped(i, k);
	check_raised(i);
}
