/*-------------------------------------------------------------------------
 * sim.c
 *	  A deterministic simulator of the rules of collection, refusal and
 *	  adoption (src/common/rules.h, R1-R7) over a cluster of simulated
 *	  servers, in the manner of FoundationDB's simulation and TigerBeetle's
 *	  VOPR: one seed gives one run, event by event, with its own random
 *	  numbers (no clock, no rand()); a failing seed replays exactly
 *	  (--seed N --trace prints every event), and --shrink cuts its events
 *	  down to a short trace that still fails.
 *
 * THE MODEL (model.c, repair.c, events.c; the random side is gen.c).  Every
 * decision is taken by the server's pure functions: mantis_rules_agreement,
 * _horizon, _members_digest, _sweep, _sweep_raises, _refuse, _adopt_upto,
 * _adopt_leaf, _adopt, _hole_after (rules.c), mantis_lww_merge and
 * mantis_register_cmp (hlc.c, every merge and every order), mantis_hlc_next
 * (every HLC issued).  Around them the model follows the server's files:
 *  - a server (3 to 5, and maybe one that joins later, empty) has a node
 *	  name (its id the name's hash), a protocol (3: the OLD rules, as
 *	  replication/horizon.c, store/sweep.c and repair.c had them before
 *	  rules.c; 4: R1-R6), a store of registers (a handful of keys, several
 *	  to a digest leaf) with room for mantis.max_keys registers, its rows
 *	  (mantis_stores: every flushed register merged by LWW as loading does,
 *	  rewritten from the store by a compaction) with the refusal horizon R
 *	  they carry, an HLC over a wall clock skewed within a bound (never
 *	  stepping back, but when a jump is put right), mantis.peers by endpoint (a full mesh, a hub, or
 *	  partial), and per peer, listed or inbound, an entry: identity and
 *	  greeting of this run, protocol, member digest, acked, stable,
 *	  collected, the live chain (in_seq, in_held, runs: horizon.c),
 *	  in_durable (what a flush made durable), a hole (R5), our round;
 *  - a client write (set, delete, set with an expiry) takes an HLC and is
 *	  acknowledged when it returns (a new key in a full store fails);
 *  - live batches carry the unsent registers, a sequence number and a
 *	  watermark to every connected, greeted peer; the receiver merges them
 *	  through the clock bound (too far ahead: a hole), R4's refusal, LWW
 *	  and the room left (none: a hole), and follows the chain;
 *  - greetings carry acked (in_durable), stable, collected (R), the member
 *	  digest, the protocol; a protocol-4 server acknowledges nothing to a
 *	  protocol-3 peer; the receiver bounds them as horizon.c does;
 *  - a repair round is three messages: the puller's leaf digests
 *	  (SUMMARY), the peer's registers of the leaves that differ with its
 *	  digests and live mark (ANSWER, taken when it arrives), and the
 *	  puller's registers of the leaves that still differ (PUSH); the puller
 *	  merges the answer marking what it saw, adopts (R6) unless something
 *	  could not be merged, raises R by what it dropped, asks a compaction,
 *	  and ends the round: the chain mended, holes closed, caught up;
 *  - a sweep publishes the horizon (R2: only while the members agree; the
 *	  old rules: the least acknowledgement of every peer) and collects by
 *	  R3 with the lifetime bound (a lifetime after the first catch-up, on
 *	  the least clock among its own and the ones its members' frames
 *	  carried in this run, each plus the true time since) and the least hole, raising R by every collection (old: lifetime only);
 *  - a flush writes the unflushed registers and R to the rows, and makes
 *	  the chains durable (in_durable = in_held);
 *  - faults: messages delayed (FIFO per link), dropped, lost with a
 *	  partition; partitions of a pair or of a server, for up to 2.5
 *	  lifetimes; crashes (the store and the run's state lost, the rows
 *	  reloaded, R from the rows, the horizon 0, a new incarnation) and clean
 *	  restarts; peers removed from mantis.peers and added back, silent
 *	  inbound peers forgotten; renames (a restart under a new name); rewinds
 *	  (the rows replaced by an older backup: a restore, a PITR, a lagging
 *	  standby promoted); a server joining empty; skew changes; a clock
 *	  jump ahead by more than the lifetime, later put right (the wall steps
 *	  back; one server at a time, one that has heard from a member in this
 *	  run and is not left alone while ahead - no crash, rename, rewind,
 *	  unlisting or forgetting of its peers - for alone it measures the
 *	  lifetime on its own clock, rules.h's price; not among protocol-3
 *	  servers; no expiries in such a run, which the wall stepping back
 *	  would revive; quiescence puts it right and waits past its HLC); a
 *	  rolling upgrade from protocol 3 to 4.
 * Records (R7): a dead register kept dead since the compaction bound
 *	  (compact_ms, 200-1000 ms) and owed nothing becomes a record (the key
 *	  standing for its hash: no collision is modelled), off max_keys, under
 *	  a budget per server of 1, 2, 3 or 1000 records; a full budget
 *	  collapses the oldest record owed nothing, below the least clock, into
 *	  its leaf's bound; records refuse older registers of their key, bounds
 *	  those of keys held nothing of; answers and pushes carry records as
 *	  tombstones to servers of the new rules (protocol 3 ones read none);
 *	  a compaction's flush writes records as record rows and the bounds
 *	  (which a start loads), the sweep collects records as dead registers
 *	  and bounds as one, raising R.
 * Abstracted: the digest tree's groups and windows, frames per batch,
 * held-back leaves, limits other than max_keys, values of one size, the
 * persistence worker's two-phase durability (a flush is atomic),
 * transactions, hot standbys (only their promotion, as a rewind).
 *
 * THE INVARIANTS (check.c), after every event ((a), (b) as it happens) or
 * at quiescence ((b), (c)):
 *  (a) No deletion undone.  Locally: once a server has held a key's
 *	  register dead (a deletion, or a value past its expiry by its clock),
 *	  it never serves a live value older (LWW) than that register; a crash
 *	  or a rewind starts it again from what its rows made durable (the
 *	  floor as of its last flush, or of the backup); and once it has
 *	  dropped a value it adopted away, it never serves it, or an older one,
 *	  again, crash restart included (but after a rewind).  Globally: once every
 *	  server holds a deletion d of k, or newer, in its rows and its store,
 *	  none of them ever serves a value of k older than d written before
 *	  then, but the copies a rewind brought back.
 *  (b) No acknowledged write lost outside the price.  As it happens: the
 *	  newest write of a key, live and not priced, never lies at or below
 *	  the refusal horizon of a server that holds nothing of its key (that
 *	  server refuses it, and its peers adopt it away: every loss by the
 *	  rules goes that way).  At quiescence (partitions healed, every server
 *	  up in a full mesh with room enough, the workers run until the live
 *	  registers agree): for every acknowledged write w of k neither priced
 *	  nor lost with a crash or restore, every server holds for k a register
 *	  >= w, or reads k as absent while w is dead or a newer write of k is
 *	  dead, priced, or lost with a crash or restore.
 *  (c) Convergence: at quiescence every server reads the same live
 *	  register for every key (but keys expiring within the skew bound).
 *  (d) A round holds what it acknowledges: a puller that merged an answer
 *	  cleanly (which mends the chain, and is acknowledged: horizon.c) holds
 *	  for every key of a leaf the answer covered what the peer held there,
 *	  or newer, or refuses it as collected (R4, or R7's bound), between
 *	  servers that both read records.
 * R7's price: when a collapse raises a leaf's bound at P, the newest write
 * of a key there, live, that has not reached P and lies at or below the
 * bound is priced (counted apart: "writes priced by a bound"); a write
 * below a bound raised before it was made is not, and fails (b).
 * The price (rules.h), tracked as the run goes, never from the outcome: a
 * write w of server S is exposed to a server P when
 *  (i) at some moment only S holds w (or newer) while a server does not
 *	  count S (lists it not, has no identified inbound entry of its current
 *	  name): before S reached the cluster, while it is removed, forgotten;
 *  (ii) P holds neither w nor newer, and was not offered it, within the
 *	  lifetime less twice the skew bound of w's writing, or of P's latest
 *	  start (a start forgets holes and what a crash or restore lost): P was
 *	  away from w longer than the lifetime;
 * and w is priced once such a P holds nothing of its key while R_P >= w.
 * A write that a crash (unflushed) or a restore took from the only server
 * keeping it (holding it, or refusing older copies once it collected it)
 * is lost with it: the persistence's documented loss, not the rules' -
 * but only if no other server had made it durable (its rows held it or
 * newer, or covered it dead, since that server's last rewind): a write
 * another server had flushed and then gave up, before the last copy went
 * with a crash or restore, was given up by the rules (say, a cascade of
 * adoptions that a rewound server's old state started), and counts as
 * lost unless priced.
 *
 * WHAT IT FOUND in the rules and the server as they were, each kept as an
 * option (--unfixed) that models it as it was; the default models the fix
 * (see rules.h and the report of this branch):
 *  watermark  live.c's batch watermark is read (mantis_clock_peek), not
 *			   issued: a write of the same millisecond takes that very
 *			   HLC, and is acknowledged by a peer that has not got it;
 *  leaf	   R6 adopts in a leaf that was equal when the puller sent its
 *			   digests and changed since (a write, a live batch): the
 *			   answer holds none of the peer's registers there, and every
 *			   register of the leaf at or below its horizon is dropped,
 *			   those the peer holds too (mantis_rules_adopt_leaf);
 *  hole	   R5's holes live in the peer's entry: removing or forgetting
 *			   the peer forgets them, and the lifetime passes the register
 *			   refused;
 *  greeting   R2 counts a member's greeting made before it knew this run,
 *			   and acknowledgements of its earlier run: restored from a
 *			   backup, a server counts the acks it gave before the restore,
 *			   collects, and refuses what it lost;
 *  adopt	   R6 drops what it adopts at once, and raises the refusal
 *			   horizon, while the rows still hold it until the compaction
 *			   it asks for: a crash before that brings the value back, read
 *			   again after the server stopped reading it (the fix: flagged,
 *			   still read, until a compaction leaves it out of the rows and
 *			   drops it, its rows carrying the raise);
 *  clock	   R3's lifetime on a server's own clock alone (--scenario
 *			   clock): ahead of the others' by more than the lifetime, it
 *			   collects its own marker of the real future, and its refusal
 *			   horizon covers the writes the others make next
 *			   (mantis_rules_lifetime_bound; the operator's review).
 * And R7 done wrong (--wrong, each of which "make sim-wrong" checks fails):
 *  refuse	   records refuse nothing: an older copy of a deleted key comes
 *			   back from a member that missed the deletion ((a));
 *  tombstone  answers carry no records: a member that missed a deletion
 *			   compacted elsewhere acknowledges it unheld ((d)), and serves
 *			   the older value until the record is collected and adopted
 *			   away; no deletion comes back ((a) holds without them);
 *  collapse   a full budget drops the oldest record with no bound ((a));
 *  persist	   records never reach the rows: a crash restart brings back
 *			   the value a tombstone replaced ((a));
 *  marker	   an expired register goes with no marker (the rule judged
 *			   unsound): a member that missed it brings back an older
 *			   write of its key ((a)).
 * And, with protocol-3 servers left in a cluster (--scenario mixed-room): a
 * protocol-3 server with a full store collects by lifetime past what it
 * refused (the old rules have no holes), and every peer adopts that away.
 *
 * Usage: sim [--seeds N] [--first N] [--seed N] [--steps N] [--trace]
 *			  [--shrink] [--old] [--unfixed watermark,leaf,hole,greeting,adopt,clock|all]
 *			  [--scenario all|hub|readd|rewind|room|mixed|mixed-room|clock|outage]
 *			  [--wrong refuse,tombstone,collapse,persist,marker] [--records N]
 *			  [--quiesce-every N] [--expect-violations] [--quiet]
 * It prints one line, "sim: N seeds x N steps, N violations (...)", after a
 * line per violation (seed, step, invariant, key, evidence) and the command
 * that replays it (not with --quiet).  --old runs every server on protocol 3 and the server as
 * it was (--unfixed all); --expect-violations succeeds only if it fails.
 *
 * IDENTIFICATION	test/sim/sim.c
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- options ---- */

Options		sim_opt = {20000, 10000, F_ALL, 0, false, false, false, 0};

/* ---- recording, for shrinking ---- */

static Event *recorded;
static long nrecorded;
static long reccap;
static bool recording;

void
sim_emit(int type, int a, int b, int c, int64_t d)
{
	Event		e = {(uint8_t) type, (int8_t) a, (int8_t) b, c, d};

	if (recording)
	{
		if (nrecorded == reccap)
		{
			reccap = reccap ? reccap * 2 : 4096;
			recorded = realloc(recorded, reccap * sizeof(Event));
			if (recorded == NULL)
				abort();
		}
		recorded[nrecorded++] = e;
	}
	sim_apply(&e);
}

/* The seed's cluster, as a trace's first lines */
static void
print_config(void)
{
	const Config *c = &W.cfg;

	printf("cluster: %d servers%s, %d keys in %d leaves, lifetime %llu ms, max offset %llu ms, skew bound %llu ms, %s%s\n",
		   c->initial, c->slots > c->initial ? " and one to join" : "", c->keys, c->leaves,
		   (unsigned long long) c->lifetime_ms, (unsigned long long) c->max_offset_ms,
		   (unsigned long long) c->skew_bound,
		   c->topology == 0 ? "full mesh" : c->topology == 1 ? "hub" : "partial mesh",
		   c->old_rules ? ", OLD rules" : "");
	for (int i = 0; i < c->slots; i++)
	{
		const Server *s = &W.s[i];

		printf("  s%d: protocol %d, skew %+lld ms, max_keys %d, peers", i, s->version,
			   (long long) s->skew, s->capacity);
		for (int j = 0; j < c->slots; j++)
			if (c->initial_listed[i][j])
				printf(" s%d", j);
		putchar('\n');
	}
}

static void
world_reset(uint64_t seed)
{
	bool		trace = W.trace;
	bool		quiet = W.quiet;
	unsigned	unfixed = W.unfixed;
	unsigned	wrong_ = W.wrong;

	memset(&W, 0, sizeof(W));
	W.trace = trace;
	W.quiet = quiet;
	W.unfixed = unfixed;
	W.wrong = wrong_;
	W.seed = seed;
	W.T = UINT64_C(1800000000000);
	check_reset();
	sim_gen_config(seed);
	if (W.trace)
		print_config();
	sim_init_world();
	sim_gen_seed(seed);
}

/* ---- runs ---- */

static ViolationKind
run_seed(uint64_t seed)
{
	world_reset(seed);
	nrecorded = 0;
	while (W.gen_step < sim_opt.steps && W.violation == V_NONE)
	{
		sim_gen_step();
		if (sim_opt.quiesce_every > 0 && W.gen_step % sim_opt.quiesce_every == 0 &&
			W.gen_step < sim_opt.steps && W.violation == V_NONE)
			sim_emit(E_QUIESCE, -1, -1, 0, 0);
	}
	if (W.violation == V_NONE)
		sim_emit(E_QUIESCE, -1, -1, 0, 0);
	return W.violation;
}

/* Apply a recorded list of events to the seed's cluster; *at: where it failed */
static ViolationKind
replay(uint64_t seed, const Event *ev, long n, long *at)
{
	world_reset(seed);
	for (long i = 0; i < n && W.violation == V_NONE; i++)
	{
		sim_apply(&ev[i]);
		if (W.violation != V_NONE && at)
			*at = i + 1;
	}
	return W.violation;
}

/*
 * Shrink a failing trace (delta debugging): drop chunks of events, halving
 * them, while the same invariant still fails.
 */
static long
shrink(uint64_t seed, Event *ev, long n, ViolationKind kind)
{
	Event	   *try = malloc(n * sizeof(Event));
	long		chunk = n / 2;
	bool		quiet = W.quiet;

	W.quiet = true;
	while (chunk >= 1)
	{
		bool		removed = false;

		for (long start = 0; start < n;)
		{
			long		len = start + chunk > n ? n - start : chunk;
			long		m = 0,
						at = 0;

			memcpy(try, ev, start * sizeof(Event));
			memcpy(try + start, ev + start + len, (n - start - len) * sizeof(Event));
			m = n - len;
			if (replay(seed, try, m, &at) == kind)
			{
				memcpy(ev, try, at * sizeof(Event));
				n = at;
				removed = true;
			}
			else
				start += chunk;
		}
		if (!removed)
			chunk /= 2;
	}
	free(try);
	W.quiet = quiet;
	return n;
}

static const char *
kind_name(ViolationKind k)
{
	switch (k)
	{
		case V_UNDONE_LOCAL:
			return "(a) deletion undone, locally";
		case V_UNDONE_GLOBAL:
			return "(a) deletion undone, after every server held it";
		case V_LOST:
			return "(b) acknowledged write lost";
		case V_DIVERGED:
			return "(c) diverged";
		case V_INCOMPLETE:
			return "(d) repair incomplete";
		case V_NONE:
			break;
	}
	return "none";
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: sim [--seeds N] [--first N] [--seed N] [--steps N] [--trace]\n"
			"           [--old] [--scenario all|hub|readd|rewind|room|mixed|mixed-room|clock|outage]\n"
			"           [--quiesce-every N] [--shrink]\n"
			"           [--unfixed watermark,leaf,hole,greeting,adopt,clock|all] [--expect-violations]\n"
			"           [--wrong refuse,tombstone,collapse,persist,marker] [--records N]\n"
			"           [--quiet]\n");
	exit(2);
}

/* --unfixed watermark,leaf,hole,greeting,adopt,clock or all */
static void
unfixed(const char *list)
{
	static const struct
	{
		const char *name;
		unsigned	bit;
	}			names[] = {
		{"watermark", U_WATERMARK}, {"leaf", U_LEAF}, {"hole", U_HOLE},
		{"greeting", U_GREETING}, {"adopt", U_ADOPT}, {"clock", U_CLOCK}, {"all", U_ALL}
	};
	char		buf[128];

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
	{
		size_t		i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(t, names[i].name) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			usage();
		W.unfixed |= names[i].bit;
	}
}

/* --wrong refuse,tombstone,collapse,persist,marker: a wrong R7 (sim.h) */
static void
wrong(const char *list)
{
	static const struct
	{
		const char *name;
		unsigned	bit;
	}			names[] = {
		{"refuse", X_REFUSE}, {"tombstone", X_TOMBSTONE}, {"collapse", X_COLLAPSE},
		{"persist", X_PERSIST}, {"marker", X_MARKER}
	};
	char		buf[128];

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
	{
		size_t		i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(t, names[i].name) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			usage();
		W.wrong |= names[i].bit;
	}
}

static void
scenario(const char *name)
{
	if (strcmp(name, "all") == 0)
		return;
	if (strcmp(name, "hub") == 0)
		sim_opt.features = F_HUB | F_PARTITION | F_DROP | F_EXPIRY, sim_opt.forced = F_HUB;
	else if (strcmp(name, "readd") == 0)
		sim_opt.features = F_MEMBERSHIP | F_PARTITION | F_DROP | F_EXPIRY;
	else if (strcmp(name, "rewind") == 0)
		sim_opt.features = F_REWIND | F_CRASH | F_DROP | F_EXPIRY;
	else if (strcmp(name, "room") == 0)
		sim_opt.features = F_ROOM | F_DROP | F_EXPIRY, sim_opt.forced = F_ROOM;
	else if (strcmp(name, "mixed") == 0)
		sim_opt.features = F_MIXED | F_PARTITION | F_CRASH | F_DROP | F_EXPIRY | F_ROOM,
			sim_opt.forced = F_MIXED;
	else if (strcmp(name, "outage") == 0)
		sim_opt.features = F_CRASH | F_PARTITION | F_DROP | F_EXPIRY;
	else if (strcmp(name, "clock") == 0)
		sim_opt.features = F_JUMP | F_PARTITION | F_DROP, sim_opt.forced = F_JUMP;
	else if (strcmp(name, "mixed-room") == 0)
		sim_opt.features = F_MIXED | F_DROP | F_EXPIRY | F_ROOM,
			sim_opt.forced = F_MIXED | F_ROOM | F_MIXED_ROOM;
	else
		usage();
}

int
main(int argc, char **argv)
{
	uint64_t	first = 1;
	long		seeds = 200;
	bool		one = false;
	long		failed = 0;
	char		failures[512] = "";
	char		flags[256] = "";	/* what a replay needs besides the seed */
	long		totals[11] = {0};

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--steps") == 0 || strcmp(a, "--quiesce-every") == 0 ||
			strcmp(a, "--scenario") == 0 || strcmp(a, "--unfixed") == 0 ||
			strcmp(a, "--wrong") == 0 || strcmp(a, "--records") == 0)
			snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), " %s %s", a, v ? v : "");
		else if (strcmp(a, "--old") == 0)
			snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), " %s", a);

		if (strcmp(a, "--seeds") == 0 && v)
			seeds = atol(v), i++;
		else if (strcmp(a, "--first") == 0 && v)
			first = strtoull(v, NULL, 10), i++;
		else if (strcmp(a, "--seed") == 0 && v)
			first = strtoull(v, NULL, 10), seeds = 1, one = true, i++;
		else if (strcmp(a, "--steps") == 0 && v)
			sim_opt.steps = atol(v), i++;
		else if (strcmp(a, "--quiesce-every") == 0 && v)
			sim_opt.quiesce_every = atol(v), i++;
		else if (strcmp(a, "--scenario") == 0 && v)
			scenario(v), i++;
		else if (strcmp(a, "--trace") == 0)
			W.trace = true;
		else if (strcmp(a, "--quiet") == 0)
			W.quiet = true;
		else if (strcmp(a, "--old") == 0)
			sim_opt.old_rules = true, W.unfixed = U_ALL;
		else if (strcmp(a, "--shrink") == 0)
			sim_opt.shrink = true;
		else if (strcmp(a, "--unfixed") == 0 && v)
			unfixed(v), i++;
		else if (strcmp(a, "--wrong") == 0 && v)
			wrong(v), i++;
		else if (strcmp(a, "--records") == 0 && v)
			sim_opt.records = atoi(v), i++;
		else if (strcmp(a, "--expect-violations") == 0)
			sim_opt.expect_violations = true;
		else
			usage();
	}
	recording = sim_opt.shrink;
	for (long n = 0; n < seeds; n++)
	{
		uint64_t	seed = first + (uint64_t) n;
		ViolationKind kind = run_seed(seed);

		totals[0] += W.n_writes;
		totals[1] += W.n_collected;
		totals[2] += W.n_adopted;
		totals[3] += W.n_refused;
		totals[4] += W.n_priced;
		totals[5] += W.n_excused;
		totals[6] += W.n_unexcused;
		totals[7] += W.n_compacted;
		totals[8] += W.n_tombstones;
		totals[9] += W.n_collapsed;
		totals[10] += W.n_collapse_priced;
		if (kind == V_NONE)
			continue;
		if (failed++ < 20)
			snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
					 " %llu", (unsigned long long) seed);
		if (!one && !W.quiet)
			printf("sim: replay with: test/sim/sim --seed %llu%s --trace (or --shrink)\n",
				   (unsigned long long) seed, flags);
		if (sim_opt.shrink)
		{
			long		len = nrecorded;
			bool		trace = W.trace;

			len = shrink(seed, recorded, len, kind);
			printf("sim: seed %llu, %s: shrunk from %ld to %ld events:\n",
				   (unsigned long long) seed, kind_name(kind), nrecorded, len);
			W.trace = true;
			(void) replay(seed, recorded, len, NULL);
			printf("sim: %s\n", W.violation_text);
			W.trace = trace;
		}
	}
	printf("sim: %ld seeds x %ld steps, %ld violations%s%s%s (%ld writes, %ld collected, %ld adopted, %ld refused, %ld priced, %ld lost with a crash or restore, %ld gone at one but made durable elsewhere)\n",
		   seeds, sim_opt.steps, failed, failed ? " (seeds" : "", failures, failed ? ")" : "",
		   totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6]);
	printf("sim: records (R7): %ld compacted, %ld taken as tombstones, %ld collapsed into bounds, %ld writes priced by a bound\n",
		   totals[7], totals[8], totals[9], totals[10]);
	check_free();
	free(recorded);
	if (sim_opt.expect_violations)
	{
		/* the simulator can fail: the old rules must */
		if (failed == 0)
			printf("sim: FAILED: no violation found, where some were expected\n");
		return failed > 0 ? 0 : 1;
	}
	return failed == 0 ? 0 : 1;
}
