/*-------------------------------------------------------------------------
 * model.c
 *	  The simulated servers and network: every event of test/sim applied
 *	  to them.  Each decision of collection, refusal, adoption, agreement
 *	  and merge is taken by the server's own pure functions
 *	  (src/common/rules.c, src/common/hlc.c); this file only gathers their
 *	  inputs and applies their results, as the server's C files do.  What
 *	  is modelled, and where it follows which file of the server, is in
 *	  test/sim/sim.c's header.
 *
 * IDENTIFICATION	test/sim/model.c
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

World		W;

static const char *const event_names[E_COUNT] = {
	"tick", "write", "live", "deliver", "drop", "greet", "round", "round-timeout",
	"flush", "sweep", "cut", "heal", "crash", "restart", "clean-restart",
	"unlist", "list", "forget", "rename", "snapshot", "rewind", "join", "skew",
	"upgrade", "jump", "quiesce"
};

const char *
sim_event_name(int type)
{
	return type >= 0 && type < E_COUNT ? event_names[type] : "?";
}

void
sim_log(const char *fmt,...)
{
	va_list		ap;

	if (!W.trace)
		return;
	fputs("        ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

uint64_t
sim_name_id(const char *name)
{
	return mantis_rules_member_hash(name, strlen(name));
}

bool
sim_new_rules(const Server *s)
{
	return !W.cfg.old_rules && s->version >= MANTIS_RULES_PROTOCOL;
}

/* ---- registers ---- */

MantisRegisterView
sim_view(const Reg *r)
{
	MantisRegisterView v;

	v.hlc.ts = r->ts;
	v.hlc.node = r->node;
	v.deleted = r->deleted;
	v.value = r->deleted ? NULL : (const char *) &r->value;
	v.value_len = r->deleted ? 0 : sizeof(r->value);
	v.expires_ms = r->deleted ? 0 : r->expires;
	return v;
}

/* The LWW order (mantis_register_cmp), an absent register below all */
int
reg_cmp(const Reg *a, const Reg *b)
{
	MantisRegisterView va,
				vb;

	if (!a->present || !b->present)
		return (int) a->present - (int) b->present;
	/* distinct clocks: the order of mantis_register_cmp, without the views */
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	va = sim_view(a);
	vb = sim_view(b);
	return mantis_register_cmp(&va, &vb);
}

bool
reg_dead(const Reg *r, uint64_t now_ms)
{
	return r->present && mantis_register_is_dead(r->deleted, r->expires, now_ms);
}

static const char *
node_name(uint64_t id)
{
	static char buf[4][24];
	static int	next;

	for (int i = 0; i < W.cfg.slots; i++)
		if (W.s[i].exists && W.s[i].id == id)
			return W.s[i].name;
	next = (next + 1) % 4;
	snprintf(buf[next], sizeof(buf[next]), "%04llx", (unsigned long long) (id & 0xFFFF));
	return buf[next];
}

/* "#12 del k3 @+1234.5/s1" and the like; buf of 96 */
const char *
reg_text(const Reg *r, char *buf)
{
	char		exp[32] = "";

	if (!r->present)
		return strcpy(buf, "nothing");
	if (!r->deleted && r->expires)
		snprintf(exp, sizeof(exp), " exp%+lld",
				 (long long) (r->expires - EPOCH_MS));
	snprintf(buf, 96, "#%u %s k%d @%+lld.%u/%s%s", r->value,
			 r->deleted ? "del" : "val", r->key,
			 (long long) (mantis_hlc_ms(r->ts) - EPOCH_MS),
			 (unsigned) (r->ts & MANTIS_HLC_LOGICAL_MASK), node_name(r->node), exp);
	return buf;
}

/* A register's sim_fingerprint, as a leaf digest would see it: 0 for nothing */
uint64_t
sim_fingerprint(const Reg *r)
{
	uint64_t	h;

	if (!r->present)
		return 0;
	h = r->ts * UINT64_C(0x9E3779B97F4A7C15) ^ r->node;
	h ^= ((uint64_t) r->deleted << 63) ^ r->expires * UINT64_C(0xC2B2AE3D27D4EB4F);
	h ^= (uint64_t) r->value * UINT64_C(0x165667B19E3779F9);
	return h == 0 ? 1 : h;
}

/* A leaf's digest: the XOR of its registers' fingerprints (store.c) */
uint64_t
sim_leaf_digest(const Server *s, int leaf)
{
	uint64_t	d = 0;

	for (int k = leaf; k < W.cfg.keys; k += W.cfg.leaves)
		d ^= sim_fingerprint(&s->mem[k]);
	return d ^ s->bound[leaf].fingerprint;	/* R7: collapsed, still in it */
}

int
sim_count_regs(const Server *s)
{
	int			n = 0;

	for (int k = 0; k < W.cfg.keys; k++)
		n += s->mem[k].present && !s->mem[k].record;	/* R7: records are not */
	return n;
}

/* A register or record as R7's functions see it (the key for its hash) */
MantisRecordView
sim_record_view(const Reg *r)
{
	MantisRecordView v;

	v.hash = r->key;
	v.ts = r->ts;
	v.node = r->node;
	v.fingerprint = sim_fingerprint(r);
	v.death_ms = r->deleted ? mantis_hlc_ms(r->ts) : MAX(mantis_hlc_ms(r->ts), r->expires);
	return v;
}

/*
 * Room for one more record (R7): under the budget, or made by collapsing
 * the oldest record owed nothing, below the least clock and the least
 * hole, into its leaf's bound; false if there is none (the caller keeps
 * its register in full, or refuses the tombstone as a hole).
 */
bool
sim_record_room(int i)
{
	Server	   *s = &W.s[i];
	int			n = 0;
	int			oldest = -1;
	uint64_t	clock_ts = mantis_hlc_pack(MIN(s->wall, sim_members_clock(s)), 0);
	uint64_t	hole = sim_least_hole(s);
	char		b[96];

	for (int k = 0; k < W.cfg.keys; k++)
	{
		const Reg  *r = &s->mem[k];

		if (!r->present || !r->record)
			continue;
		n++;
		if (!sim_owed(r) && r->ts < clock_ts && r->ts < hole &&
			(oldest < 0 || reg_cmp(r, &s->mem[oldest]) < 0))
			oldest = k;
	}
	if (n < s->max_records)
		return true;
	if (oldest < 0)
		return false;
	if (!(W.wrong & X_COLLAPSE))
	{
		MantisRecordView v = sim_record_view(&s->mem[oldest]);

		if (!mantis_rules_collapse(&s->bound[oldest % W.cfg.leaves], &v, clock_ts, hole))
			return false;
	}
	sim_log("%s: collapses %s into the bound of leaf %d", s->name,
			reg_text(&s->mem[oldest], b), oldest % W.cfg.leaves);
	memset(&s->mem[oldest], 0, sizeof(s->mem[oldest]));
	W.kver[oldest]++;
	W.n_collapsed++;
	s->compaction_asked = true; /* the rows drop its row and take the bound at once */
	check_dropped(i, oldest);
	check_collapsed(i, oldest % W.cfg.leaves);
	return true;
}

bool
sim_owed(const Reg *r)
{
	return (r->flags & (RF_UNFLUSHED | RF_UNSENT)) != 0;
}

/* ---- clocks (clock.c) ---- */

uint64_t
sim_wall(int i)
{
	return W.s[i].wall;
}

uint64_t
sim_clock_peek(const Server *s)
{
	return MAX(s->hlc, mantis_hlc_pack(s->wall, 0));
}

void
sim_witness(Server *s, uint64_t ts)
{
	if (ts > s->hlc)
		s->hlc = ts;
}

/*
 * The clock that times the lifetime's waits after a start and a catch-up
 * (replication/horizon.c): a monotonic one, true time here; the old rules,
 * and --unfixed clock, the wall clock, which a jump cuts short.
 */
uint64_t
sim_wait_clock(const Server *s)
{
	return sim_new_rules(s) && !(W.unfixed & U_CLOCK) ? W.T : s->wall;
}

/* Every frame carries the sender's clock: ours moves past it if not too far */
static void
witness_frame(Server *s, const Msg *m)
{
	if (mantis_hlc_ms(m->hlc) <= s->wall + W.cfg.max_offset_ms)
		sim_witness(s, m->hlc);
}

/* ---- the network ---- */

bool
sim_connected(int a, int b)
{
	const Server *x = &W.s[a];
	const Server *y = &W.s[b];

	return a != b && x->exists && y->exists && x->up && y->up && !W.cut[a][b] &&
		(x->listed[b] || y->listed[a]);
}

void
sim_link_clear(int a, int b)
{
	W.link[a][b].count = 0;
	W.link[a][b].head = 0;
	W.link[b][a].count = 0;
	W.link[b][a].head = 0;
}

void
sim_link_clear_all(int a)
{
	for (int j = 0; j < W.cfg.slots; j++)
		sim_link_clear(a, j);
}

void
sim_link_push(int from, int to, Msg *m)
{
	Link	   *l = &W.link[from][to];

	if (l->count == SIM_QUEUE)
	{
		sim_log("%s -> %s: queue full, frame dropped", W.s[from].name, W.s[to].name);
		return;
	}
	m->sent_T = W.T;
	l->q[(l->head + l->count) % SIM_QUEUE] = *m;
	l->count++;
}

/* ---- peers ---- */

void
sim_entry_reset(Entry *e, bool used)
{
	memset(e, 0, sizeof(*e));
	e->used = used;
	e->hole_ts = MANTIS_RULES_NO_HOLE;
}

static void
chain_break(Entry *e)
{
	e->in_unbroken = false;
	e->run_valid = false;
}

bool
sim_seq_after(uint32_t a, uint32_t b)
{
	return (int32_t) (a - b) > 0;
}

/* R1: the member views of a server, and its member set's digest */
static int
member_views(const Server *s, MantisMemberView *v, uint64_t *digest)
{
	uint64_t	hashes[SIM_SERVERS + 1];
	int			nh = 0;
	int			n = 0;
	bool		known = true;

	hashes[nh++] = mantis_rules_member_hash(s->name, strlen(s->name));
	for (int j = 0; j < W.cfg.slots; j++)
	{
		const Entry *e = &s->peer[j];

		if (!e->used)
			continue;
		if (!e->greeted)
		{
			known = false;		/* a listed peer has not said its name */
			if (!s->listed[j])
				continue;
		}
		v[n].identified = e->greeted;
		v[n].greeted = e->greeted && ((W.unfixed & U_GREETING) || e->knows_us);
		v[n].protocol = e->protocol;
		v[n].members = e->members;
		v[n].acked = e->acked;
		v[n].stable = e->stable;
		n++;
		if (e->greeted)
			hashes[nh++] = mantis_rules_member_hash(e->name, strlen(e->name));
	}
	*digest = known ? mantis_rules_members_digest(hashes, nh) : 0;
	return n;
}

/* The old rules' stable and horizon (replication/horizon.c before rules.c) */
static uint64_t
old_stable(const Server *s, uint64_t *horizon)
{
	uint64_t	stable = UINT64_MAX;
	uint64_t	least = UINT64_MAX;
	bool		any = false;

	for (int j = 0; j < W.cfg.slots; j++)
	{
		const Entry *e = &s->peer[j];
		uint64_t	acked;

		if (!e->used)
			continue;
		any = true;
		acked = e->greeted ? e->acked : 0;
		stable = MIN(stable, acked);
		least = MIN(least, acked == 0 ? 0 : e->stable);
	}
	if (!any)
		stable = least = 0;
	if (horizon)
		*horizon = MIN(stable, least);
	return stable;
}

static uint64_t
our_stable(const Server *s)
{
	MantisMemberView v[SIM_SERVERS];
	uint64_t	digest;
	uint64_t	stable;
	int			n;

	if (!sim_new_rules(s))
		return old_stable(s, NULL);
	n = member_views(s, v, &digest);
	(void) mantis_rules_horizon(v, n, &stable);
	return stable;
}

/*
 * The replication worker's tick (mantis_horizon_tick): the collection
 * horizon (R2), and when the lifetime may collect.
 */
void
sim_horizon_tick(int i)
{
	Server	   *s = &W.s[i];
	uint64_t	horizon = 0;
	bool		configured = false;

	if (sim_new_rules(s))
	{
		MantisMemberView v[SIM_SERVERS];
		uint64_t	digest;
		int			n = member_views(s, v, &digest);
		int			culprit;
		MantisCollectMode mode = mantis_rules_agreement(digest, v, n, &culprit);

		if (mode == MANTIS_COLLECT_AGREED)
			horizon = mantis_rules_horizon(v, n, NULL);
	}
	else
		(void) old_stable(s, &horizon);
	s->published = MAX(s->published, horizon);
	if (s->caught_up_ms == 0 && sim_wait_clock(s) >= s->started_ms + W.cfg.lifetime_ms)
		s->caught_up_ms = sim_wait_clock(s);
	for (int j = 0; j < W.cfg.slots; j++)
		configured |= s->listed[j];
	if (s->caught_up_ms == 0 && !configured)
		s->caught_up_ms = sim_wait_clock(s);
}

/* ---- merging registers from a peer (live.c, write.c) ---- */

typedef enum PutResult
{
	PUT_APPLIED,
	PUT_STALE,
	PUT_COLLECTED,
	PUT_NO_ROOM,
	PUT_SKEWED,
	PUT_NO_RECORD_ROOM			/* R7: a tombstone with no room: not a hole */
} PutResult;

/* A hash tombstone from a peer's answer or push (R7) */
static PutResult
merge_tombstone(int i, const Reg *in, bool *seen)
{
	Server	   *s = &W.s[i];
	Reg		   *held = &s->mem[in->key];
	MantisRecordView t = sim_record_view(in);
	MantisTombstoneAction act;
	char		b[96];

	act = mantis_rules_tombstone(held->present, held->ts, held->node,
								 s->bound[in->key % W.cfg.leaves].bound_ts, &t);
	if (seen)
		seen[in->key] = true;	/* the peer holds something of it */
	if (act == MANTIS_TOMB_IGNORE)
		return PUT_STALE;
	if (!(held->present && held->record) && !sim_record_room(i))
	{
		sim_log("%s: tombstone %s refused: no room for records", s->name, reg_text(in, b));
		check_offered(i, in);
		return PUT_NO_RECORD_ROOM;
	}
	sim_log("%s: takes tombstone %s%s", s->name, reg_text(in, b),
			act == MANTIS_TOMB_REPLACE ? ", replacing what it held" : "");
	*held = *in;
	held->record = true;
	held->flags = RF_UNFLUSHED;
	W.kver[in->key]++;
	W.n_tombstones++;
	sim_witness(s, in->ts);
	check_hold(i, in->key);
	return PUT_APPLIED;
}

static PutResult
merge_one(int i, const Reg *in, bool *seen)
{
	Server	   *s = &W.s[i];
	Reg		   *held = &s->mem[in->key];
	char		b[96];

	if (mantis_hlc_ms(in->ts) > s->wall + W.cfg.max_offset_ms)
	{
		sim_log("%s: %s skewed (too far ahead)", s->name, reg_text(in, b));
		check_offered(i, in);
		return PUT_SKEWED;
	}
	if (mantis_rules_refuse(held->present, in->ts, s->R))
	{
		W.n_refused++;
		sim_log("%s: %s refused as collected (R %s)", s->name, reg_text(in, b),
				held->present ? "" : "covers it");
		return PUT_COLLECTED;
	}
	if (in->record)
		return merge_tombstone(i, in, seen);
	if (!(W.wrong & X_REFUSE))
	{
		MantisRecordView rv = sim_record_view(held);

		if (mantis_rules_record_refuses(held->present && !held->record,
										held->present ? &rv : NULL,
										s->bound[in->key % W.cfg.leaves].bound_ts,
										in->ts, in->node, sim_fingerprint(in)))
		{
			W.n_refused++;
			sim_log("%s: %s refused by %s", s->name, reg_text(in, b),
					held->present ? "a record" : "the leaf's collapsed bound");
			if (seen && held->present)
				seen[in->key] = true;
			return PUT_COLLECTED;
		}
	}
	if (held->present && !held->record)
	{
		MantisRegisterView vh = sim_view(held);
		MantisRegisterView vi = sim_view(in);

		if (mantis_lww_merge(&vh, &vi) == &vh)
		{
			if (seen)
				seen[in->key] = true;
			return PUT_STALE;
		}
	}
	else if (sim_count_regs(s) >= s->capacity)
	{
		sim_log("%s: %s refused: no room", s->name, reg_text(in, b));
		check_offered(i, in);
		return PUT_NO_ROOM;
	}
	*held = *in;
	held->flags = RF_UNFLUSHED;
	W.kver[in->key]++;
	if (seen)
		seen[in->key] = true;
	sim_witness(s, in->ts);
	check_hold(i, in->key);
	return PUT_APPLIED;
}

/*
 * Merge registers a peer sent (mantis_live_merge): true when every one was
 * stored or superseded (or refused as collected); anything refused for
 * room or skew is a hole (R5) under the new rules.
 */
bool
sim_merge_frame(int i, int from, const Reg *regs, int n, bool *seen)
{
	Server	   *s = &W.s[i];
	uint64_t	hole = MANTIS_RULES_NO_HOLE;
	bool		clean = true;
	bool		was_refused[SIM_KEYS] = {false};

	for (int r = 0; r < n; r++)
	{
		PutResult	res = merge_one(i, &regs[r], seen);

		if (res == PUT_NO_RECORD_ROOM)
			clean = false;		/* not acknowledged, but no hole (R7) */
		else if (res == PUT_NO_ROOM || res == PUT_SKEWED)
		{
			clean = false;
			was_refused[r] = true;
			hole = mantis_rules_hole_after(hole, regs[r].ts);
		}
	}
	if (hole != MANTIS_RULES_NO_HOLE && sim_new_rules(s) && !(W.unfixed & U_HOLE))
	{
		/* the proposed R5: kept by the server, per sender and key */
		for (int r = 0; r < n; r++)
		{
			Hole	   *h = &s->hole[from][regs[r].key];

			if (!was_refused[r])
				continue;
			if (!h->open)
			{
				h->open = true;
				h->least_ts = regs[r].ts;
				h->greatest = regs[r];
			}
			h->least_ts = MIN(h->least_ts, regs[r].ts);
			if (reg_cmp(&regs[r], &h->greatest) > 0)
				h->greatest = regs[r];
			h->step = W.step;
		}
		W.n_holes++;
		sim_log("%s: a hole from %s (least +%lld ms)", s->name, W.s[from].name,
				(long long) (mantis_hlc_ms(hole) - EPOCH_MS));
	}
	else if (hole != MANTIS_RULES_NO_HOLE && sim_new_rules(s) && s->peer[from].used)
	{
		Entry	   *e = &s->peer[from];

		e->hole_ts = mantis_rules_hole_after(e->hole_ts, hole);
		e->hole_count++;
		W.n_holes++;
		sim_log("%s: a hole from %s (least +%lld ms)", s->name, W.s[from].name,
				(long long) (mantis_hlc_ms(e->hole_ts) - EPOCH_MS));
	}
	return clean;
}

/* ---- the live stream and acknowledgements (horizon.c) ---- */

static void
run_note(Entry *e, const Msg *m)
{
	if (!e->run_valid || m->seq != e->run_end + 1)
	{
		e->run_valid = true;
		e->run_start = m->seq;
		e->run_watermark = 0;
	}
	e->run_end = m->seq;
	e->run_watermark = MAX(e->run_watermark, m->watermark);
}

static void
on_live(const Server *s, Entry *e, const Msg *m, bool clean)
{
	if (e->in_incarnation != m->incarnation)
	{
		e->in_incarnation = m->incarnation;
		chain_break(e);
		if (sim_new_rules(s) && !(W.unfixed & U_GREETING))
		{
			e->acked = e->stable = 0;
			e->knows_us = false;
		}
	}
	if (!clean)
	{
		chain_break(e);
		return;
	}
	if (e->in_unbroken)
	{
		if (!sim_seq_after(m->seq, e->in_seq))
			return;
		if (m->seq == e->in_seq + 1)
		{
			e->in_seq = m->seq;
			e->in_held = MAX(e->in_held, m->watermark);
			return;
		}
		chain_break(e);
	}
	run_note(e, m);
}

/* ---- the events ---- */

void
sim_local_write(int i, int k, int kind, int64_t ttl)
{
	Server	   *s = &W.s[i];
	Reg			r = {0};
	char		b[96];

	if (!s->up || !s->exists)
		return;
	if ((!s->mem[k].present || s->mem[k].record) && sim_count_regs(s) >= s->capacity)
	{
		sim_log("%s: write to k%d fails: the store is full", s->name, k);
		return;
	}
	r.present = true;
	r.deleted = kind == 1;
	r.key = (uint8_t) k;
	r.ts = mantis_hlc_next(s->hlc, s->wall);
	s->hlc = r.ts;
	r.node = s->id;
	r.expires = kind == 2 ? s->wall + (uint64_t) ttl : 0;
	(void) check_new_write(i, k, &r);	/* sets r.value */
	r.flags = RF_UNFLUSHED | RF_UNSENT;
	s->mem[k] = r;
	W.kver[k]++;
	check_hold(i, k);
	sim_log("%s: wrote %s", s->name, reg_text(&r, b));
}

void
sim_live_send(int i)
{
	Server	   *s = &W.s[i];
	Msg			m;

	if (!s->up)
		return;
	memset(&m, 0, sizeof(m));
	m.type = M_LIVE;
	m.incarnation = s->incarnation;
	m.seq = ++s->live_seq;
	if (W.unfixed & U_WATERMARK)
		m.watermark = sim_clock_peek(s);	/* live.c's batch_watermark() today */
	else
	{
		/* an HLC issued (mantis_clock_now()): every later write is above it */
		m.watermark = mantis_hlc_next(s->hlc, s->wall);
		s->hlc = m.watermark;
	}
	m.hlc = m.watermark;
	for (int k = 0; k < W.cfg.keys; k++)
	{
		Reg		   *r = &s->mem[k];

		if (r->present && (r->flags & RF_UNSENT))
		{
			m.regs[m.nregs] = *r;
			m.regs[m.nregs++].flags = 0;
			r->flags &= ~RF_UNSENT;
		}
	}
	s->live_wm = m.watermark;
	for (int j = 0; j < W.cfg.slots; j++)
		if (sim_connected(i, j) && s->peer[j].used && s->peer[j].greeted)
			sim_link_push(i, j, &m);
}

void
sim_greet(int a, int b)
{
	Server	   *s = &W.s[a];
	Entry	   *e = &s->peer[b];
	Msg			m;
	int			protocol = MIN(s->version, W.s[b].version);

	if (!sim_connected(a, b))
		return;
	memset(&m, 0, sizeof(m));
	m.type = M_GREET;
	m.hlc = sim_clock_peek(s);
	m.incarnation = s->incarnation;
	strcpy(m.name, s->name);
	m.id = s->id;
	m.version = s->version;
	m.collected = sim_new_rules(s) ? mantis_rules_announced(s->R, sim_least_hole(s)) : s->R;
	m.echo = e->used ? e->in_incarnation : 0;
	if (sim_new_rules(s))
	{
		if (protocol >= MANTIS_RULES_PROTOCOL)
		{
			MantisMemberView v[SIM_SERVERS];

			(void) member_views(s, v, &m.members);
			m.acked = e->used ? e->in_durable : 0;
			m.stable = our_stable(s);
		}
		/* to protocol 3: acknowledge nothing, they have no agreement */
	}
	else
	{
		m.acked = e->used ? e->in_durable : 0;
		m.stable = our_stable(s);
	}
	sim_link_push(a, b, &m);
}

static void
on_greeting(int b, int a, const Msg *m)
{
	Server	   *s = &W.s[b];
	Entry	   *e = &s->peer[a];
	uint64_t	limit = mantis_hlc_pack(s->wall + W.cfg.max_offset_ms, MANTIS_HLC_LOGICAL_MASK);

	if (!e->used)
	{
		sim_entry_reset(e, true);
		sim_log("%s: %s connects to us (inbound)", s->name, m->name);
	}
	if (!s->listed[a])
		e->inbound = true;
	if (!e->greeted || e->in_incarnation != m->incarnation)
		s->next_round[a] = W.T;	/* a repair round at once (protocol.c) */
	/* a greeting of a new run of it brings that run's acked and stable */
	e->greeted = true;
	e->knows_us = m->echo == s->incarnation;
	strcpy(e->name, m->name);
	e->id = m->id;
	e->protocol = MIN(s->version, m->version);
	e->members = e->protocol >= MANTIS_RULES_PROTOCOL ? m->members : 0;
	e->acked = m->acked > sim_clock_peek(s) ? 0 : m->acked;
	e->stable = m->stable > limit ? 0 : m->stable;
	e->collected = m->collected > limit ? 0 : m->collected;
	if (e->in_incarnation != m->incarnation)
	{
		e->in_incarnation = m->incarnation;
		chain_break(e);
	}
}

/* A frame's clock, for R3's least clock (replication/peer_clock.c) */
static void
heard_clock(Entry *e, const Msg *m)
{
	e->clock_known = true;
	e->clock_ms = mantis_hlc_ms(m->hlc);
	e->clock_T = W.T;
}

/*
 * The least clock among a server's members heard from in this run, as it
 * reads now by estimate (mantis_peer_clocks_least); UINT64_MAX if none.
 */
uint64_t
sim_members_clock(const Server *s)
{
	uint64_t	least = UINT64_MAX;

	for (int j = 0; j < W.cfg.slots; j++)
	{
		const Entry *e = &s->peer[j];

		if (e->used && e->clock_known)
			least = MIN(least, e->clock_ms + (W.T - e->clock_T));
	}
	return least;
}

void
sim_deliver(int from, int to)
{
	Link	   *l = &W.link[from][to];
	Server	   *s = &W.s[to];
	Entry	   *e = &s->peer[from];
	Msg			m;

	if (l->count == 0)
		return;
	m = l->q[l->head];
	l->head = (l->head + 1) % SIM_QUEUE;
	l->count--;
	if (!s->up)
		return;
	witness_frame(s, &m);
	if (m.type == M_GREET)
	{
		on_greeting(to, from, &m);
		e->last_heard = W.T;
		heard_clock(e, &m);
		return;
	}
	if (!e->used || !e->greeted)
	{
		sim_log("%s: frame from unknown %s dropped", s->name, W.s[from].name);
		return;
	}
	e->last_heard = W.T;
	heard_clock(e, &m);
	switch (m.type)
	{
		case M_LIVE:
			on_live(s, e, &m, sim_merge_frame(to, from, m.regs, m.nregs, NULL));
			break;
		case M_SUMMARY:
			sim_on_summary(to, from, &m);
			break;
		case M_ANSWER:
			sim_on_answer(to, from, &m);
			break;
		case M_PUSH:
			(void) sim_merge_frame(to, from, m.regs, m.nregs, NULL);
			break;
		case M_GREET:
			break;
	}
}

void
sim_drop_message(int from, int to, int c)
{
	Link	   *l = &W.link[from][to];
	int			idx;

	if (l->count == 0)
		return;
	idx = c % l->count;
	for (int i = idx; i < l->count - 1; i++)
		l->q[(l->head + i) % SIM_QUEUE] = l->q[(l->head + i + 1) % SIM_QUEUE];
	l->count--;
}
