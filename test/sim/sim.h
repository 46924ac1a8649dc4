/*-------------------------------------------------------------------------
 * sim.h
 *	  The deterministic simulator of mantis's collection rules: what its
 *	  three files share (test/sim/sim.c has the model and the invariants
 *	  in its header comment).
 *
 * model.c	the servers, the network and every event applied to them,
 *			each decision taken by the functions of src/common/rules.c
 *			and src/common/hlc.c
 * check.c	the history of acknowledged writes, the price, and the
 *			invariants
 * sim.c	the seed's cluster, the random events, quiescence, shrinking
 *			a failing trace, and main()
 *
 * IDENTIFICATION	test/sim/sim.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_SIM_H
#define MANTIS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hlc.h"
#include "common/rules.h"

#define EPOCH_MS		UINT64_C(1800000000000)	/* T at the start */
#define MAX(a, b)		((a) > (b) ? (a) : (b))
#define MIN(a, b)		((a) < (b) ? (a) : (b))

#define SIM_SERVERS		6		/* server slots, joiners included */
#define SIM_KEYS		10
#define SIM_QUEUE		48		/* messages in flight per directed link */
#define SIM_SNAPS		4		/* backups kept per server, for a rewind */
#define SIM_NAME		12

/* register flags: what the workers still owe it ("owed", R3 and R6) */
#define RF_UNFLUSHED	0x01
#define RF_UNSENT		0x02
#define RF_ADOPTED		0x04	/* adopted away, until a compaction drops it (R6) */

/* One register as a simulated store holds it; value = the write's id */
typedef struct Reg
{
	bool		present;
	bool		deleted;
	uint8_t		flags;
	uint8_t		key;
	uint64_t	ts;
	uint64_t	node;
	uint64_t	expires;		/* ms, 0: never */
	uint32_t	value;			/* the id of the write that made it */
	bool		record;			/* R7: a record (in a frame, a hash tombstone;
								 * in the rows, a record row): the key stands
								 * for its hash, the rest for its HLC,
								 * fingerprint and death */
} Reg;

/* What a server knows of another (one entry per slot: listed or inbound) */
typedef struct Entry
{
	bool		used;
	bool		inbound;		/* it connects to us (it lists us) */
	bool		greeted;		/* identified: a greeting of it in this run */
	bool		knows_us;		/* its last greeting named our incarnation */
	char		name[SIM_NAME];
	uint64_t	id;
	int			protocol;		/* the version in use with it */
	uint64_t	members;		/* its member set's digest, 0: unknown */
	uint64_t	acked;			/* it holds our writes through this */
	uint64_t	stable;
	uint64_t	collected;		/* its refusal horizon */
	uint64_t	last_heard;		/* T of its last message */
	bool		clock_known;	/* its clock, as its last frame read it */
	uint64_t	clock_ms;
	uint64_t	clock_T;		/* when (true time: a monotonic clock) */

	/* its live stream (replication/horizon.c) */
	uint64_t	in_incarnation;
	bool		in_unbroken;
	uint32_t	in_seq;
	uint64_t	in_held;
	uint64_t	in_durable;
	bool		run_valid;
	uint32_t	run_start;
	uint32_t	run_end;
	uint64_t	run_watermark;

	/* R5's hole as the peer's entry keeps it (--unfixed hole) */
	uint64_t	hole_ts;
	uint32_t	hole_count;

	/* our repair round with it, as the puller */
	bool		round_active;
	uint32_t	round_id;
	uint64_t	round_deadline;
	uint64_t	round_collected;	/* R6: its horizon when the round began */
	uint32_t	round_hole_count;
	uint64_t	round_begun_T;
	long		round_begun_step;
	uint64_t	round_sent[SIM_KEYS];	/* the leaf digests we sent */
	bool		caught_up;		/* a round merged all it holds, in this run */
} Entry;

/*
 * A hole kept by the server rather than in the peer's entry (the proposed
 * R5): per sender and key, the least HLC refused and the greatest register.
 */
typedef struct Hole
{
	bool		open;
	uint64_t	least_ts;
	Reg			greatest;
	long		step;			/* of the last refusal */
} Hole;

/* A backup of a server's rows: what a rewind restores */
typedef struct Snapshot
{
	bool		valid;
	uint64_t	T;
	uint64_t	rows_R;
	Reg			rows[SIM_KEYS];
	Reg			floor[SIM_KEYS];
	MantisLeafBound bound[SIM_KEYS];
} Snapshot;

typedef struct Server
{
	bool		exists;
	bool		up;
	int			version;		/* protocol 3 (the old rules) or 4 */
	char		name[SIM_NAME];
	uint64_t	id;
	int64_t		skew;
	uint64_t	wall;			/* its wall clock, ms (steps back only when a
								 * jump is put right) */
	uint64_t	hlc;			/* last HLC issued or witnessed */
	uint64_t	incarnation;
	int			capacity;		/* mantis.max_keys */

	Reg			mem[SIM_KEYS];	/* the store in shared memory */
	Reg			rows[SIM_KEYS]; /* mantis_stores: every row merged */
	uint64_t	rows_R;			/* the refusal horizon the rows carry */
	uint64_t	R;				/* the refusal horizon (R4) */
	uint64_t	published;		/* the collection horizon published */
	uint64_t	started_ms;		/* by sim_wait_clock() */
	uint64_t	caught_up_ms;
	bool		compaction_asked;
	uint32_t	live_seq;
	uint64_t	live_wm;
	bool		listed[SIM_SERVERS];	/* mantis.peers, by endpoint */
	Entry		peer[SIM_SERVERS];
	Hole		hole[SIM_SERVERS][SIM_KEYS];	/* by sender and key */
	uint64_t	down_until;		/* T, when down after a crash */
	int			max_records;	/* R7: the records' budget */
	MantisLeafBound bound[SIM_KEYS];	/* R7: the collapsed bounds, by leaf */
	MantisLeafBound rows_bound[SIM_KEYS];	/* ... as the rows carry them */

	/* timers (the random generator's, never read by the model) */
	uint64_t	next_live;
	uint64_t	next_greet;
	uint64_t	next_flush;
	uint64_t	next_sweep;
	uint64_t	next_round[SIM_SERVERS];

	/* the checker's */
	Reg			floor[SIM_KEYS];	/* greatest dead register served */
	Reg			floor_durable[SIM_KEYS];	/* as of the last flush */
	Reg			gone[SIM_KEYS];	/* the greatest register it adopted away */
	Snapshot	snap[SIM_SNAPS];
	int			renames;
} Server;

typedef enum MsgType
{
	M_LIVE,
	M_GREET,
	M_SUMMARY,
	M_ANSWER,
	M_PUSH
} MsgType;

typedef struct Msg
{
	MsgType		type;
	uint64_t	hlc;			/* the sender's clock, in every frame */
	uint64_t	incarnation;
	uint64_t	sent_T;
	uint32_t	seq;			/* live: sequence; answer: mark */
	uint64_t	watermark;		/* live: watermark; answer: mark */
	uint32_t	round;
	/* greeting */
	char		name[SIM_NAME];
	uint64_t	id;
	int			version;
	uint64_t	members;
	uint64_t	acked;
	uint64_t	stable;
	uint64_t	collected;
	uint64_t	echo;			/* the addressee's incarnation, as the sender knows it */
	/* registers, and digests (summary: the puller's, answer: the peer's) */
	int			nregs;
	Reg			regs[SIM_KEYS];
	uint64_t	digest[SIM_KEYS];	/* by leaf */
	/* the checker's, never read by the model: what an answer's sender held */
	Reg			truth[SIM_KEYS];
} Msg;

typedef struct Link
{
	int			head;
	int			count;
	Msg			q[SIM_QUEUE];
} Link;

/* Features of a seed's cluster, and the scenarios made of them */
#define F_PARTITION		0x0001
#define F_CRASH			0x0002
#define F_MEMBERSHIP	0x0004	/* peers removed and added, inbound forgotten */
#define F_RENAME		0x0008
#define F_REWIND		0x0010
#define F_HUB			0x0020
#define F_ROOM			0x0040	/* a store too small */
#define F_MIXED			0x0080	/* protocol 3 servers, upgraded one by one */
#define F_SKEW			0x0100
#define F_JOIN			0x0200
#define F_EXPIRY		0x0400
#define F_DROP			0x0800
#define F_JUMP			0x2000	/* a clock ahead past the lifetime, put right */
#define F_ALL			(0x0FFF | F_JUMP)
#define F_MIXED_ROOM	0x1000	/* a protocol-3 server's store too small */

typedef struct Config
{
	int			slots;			/* servers, the joiner included */
	int			initial;		/* servers at the start */
	int			keys;
	int			leaves;			/* key k is in leaf k % leaves */
	unsigned	features;
	bool		old_rules;		/* every server speaks 3 */
	uint64_t	lifetime_ms;	/* mantis.tombstone_lifetime */
	uint64_t	max_offset_ms;	/* mantis.max_clock_offset */
	uint64_t	skew_bound;		/* |skew| of any clock, but a jumped one */
	bool		jumps;			/* a clock may jump ahead past the lifetime */
	uint64_t	forget_ms;		/* silence after which inbound is forgotten */
	uint64_t	round_ms;		/* mantis.sync_interval */
	uint64_t	round_timeout_ms;
	uint64_t	greet_ms;
	uint64_t	flush_ms;
	uint64_t	sweep_ms;
	uint64_t	live_ms;
	uint64_t	max_delay_ms;	/* a message older than this is delivered */
	uint64_t	compact_ms;		/* R7: dead this long, a register becomes a record */
	int			topology;		/* 0 full mesh, 1 hub, 2 partial */
	int			hub;
	bool		initial_listed[SIM_SERVERS][SIM_SERVERS];
} Config;

typedef enum EventType
{
	E_TICK,						/* d: ms */
	E_WRITE,					/* a server, b key, c kind, d ttl */
	E_LIVE,						/* a */
	E_DELIVER,					/* a -> b, the first in flight */
	E_DROP,						/* a -> b, c-th in flight */
	E_GREET,					/* a greets b */
	E_ROUND,					/* a pulls from b */
	E_ROUND_TIMEOUT,			/* a's round with b */
	E_FLUSH,					/* a, c: compact */
	E_SWEEP,					/* a */
	E_CUT,						/* a - b */
	E_HEAL,						/* a - b */
	E_CRASH,					/* a, d: down for ms */
	E_RESTART,					/* a, after a crash */
	E_CLEAN_RESTART,			/* a */
	E_UNLIST,					/* a stops listing b */
	E_LIST,						/* a lists b */
	E_FORGET,					/* a forgets silent inbound b */
	E_RENAME,					/* a */
	E_SNAPSHOT,					/* a: a backup, slot c */
	E_REWIND,					/* a: restored from backup c */
	E_JOIN,						/* a: a new server, empty */
	E_SKEW,						/* a, d: skew (signed) */
	E_UPGRADE,					/* a: restarted with protocol 4 */
	E_JUMP,						/* a, d: skew (signed), the wall set to it */
	E_QUIESCE,					/* heal all, full mesh, converge, check */
	E_COUNT
} EventType;

typedef struct Event
{
	uint8_t		type;
	int8_t		a;
	int8_t		b;
	int32_t		c;
	int64_t		d;
} Event;

/*
 * What the simulator found, each modelled as the server and rules have it
 * today (--unfixed) or as test/sim proposes (the default): see sim.c.
 */
#define U_WATERMARK		0x01	/* a batch's watermark read, not issued */
#define U_LEAF			0x02	/* R6 adopts in leaves the answer did not cover */
#define U_HOLE			0x04	/* R5's holes live in the peer's entry */
#define U_GREETING		0x08	/* R2 counts greetings of an earlier run */
#define U_ADOPT			0x10	/* R6 drops at once, before a compaction */
#define U_CLOCK			0x20	/* R3's lifetime on our clock alone */
#define U_ALL			0x3F

/*
 * Wrong variants of R7 (--wrong), each of which must fail a seed: records
 * that refuse nothing, answers without hash tombstones, collapse without a
 * bound, records the flush does not write, and an expired register
 * dropped with no marker while a member is away.
 */
#define X_REFUSE		0x01
#define X_TOMBSTONE		0x02
#define X_COLLAPSE		0x04
#define X_PERSIST		0x08
#define X_MARKER		0x10

/* The violations, by invariant */
typedef enum ViolationKind
{
	V_NONE = 0,
	V_UNDONE_LOCAL,				/* (a) a server served an older value after a deletion */
	V_UNDONE_GLOBAL,			/* (a) after every member held the deletion */
	V_LOST,						/* (b) */
	V_DIVERGED,					/* (c) */
	V_INCOMPLETE				/* (d) */
} ViolationKind;

typedef struct World
{
	Config		cfg;
	uint64_t	seed;
	uint64_t	T;				/* the one true time, ms */
	long		step;			/* events applied */
	long		gen_step;		/* the generator's steps */
	Server		s[SIM_SERVERS];
	Link		link[SIM_SERVERS][SIM_SERVERS];
	bool		cut[SIM_SERVERS][SIM_SERVERS];
	uint64_t	heal_at[SIM_SERVERS][SIM_SERVERS];
	uint64_t	incarnations;
	uint32_t	rounds;
	uint64_t	kver[SIM_KEYS];	/* a key's registers or rows changed */
	bool		trace;
	bool		quiet;
	unsigned	unfixed;		/* U_*: the findings modelled as they are */
	unsigned	wrong;			/* X_*: a wrong variant of R7 */
	/* the first violation */
	ViolationKind violation;
	long		violation_step;
	char		violation_text[1024];
	/* counters, for the report */
	long		n_writes;
	long		n_collected;
	long		n_adopted;
	long		n_refused;
	long		n_holes;
	long		n_priced;
	long		n_excused;
	long		n_unexcused;	/* gone at a crash or restore, durable elsewhere */
	long		n_compacted;	/* R7: registers become records */
	long		n_tombstones;	/* records taken from a peer's frame */
	long		n_collapsed;	/* records collapsed into a bound */
	long		n_collapse_priced;	/* writes a bound refuses (R7's price) */
} World;

extern World W;

/* model.c: registers, clocks, the network, peers, merges, live batches */
extern const char *sim_event_name(int type);
extern void sim_log(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern uint64_t sim_name_id(const char *name);
extern bool sim_new_rules(const Server *s);
extern MantisRegisterView sim_view(const Reg *r);
extern int	reg_cmp(const Reg *a, const Reg *b);
extern bool reg_dead(const Reg *r, uint64_t now_ms);
extern const char *reg_text(const Reg *r, char *buf);
extern uint64_t sim_fingerprint(const Reg *r);
extern uint64_t sim_leaf_digest(const Server *s, int leaf);
extern int	sim_count_regs(const Server *s);
extern bool sim_record_room(int i);
extern MantisRecordView sim_record_view(const Reg *r);
extern bool sim_owed(const Reg *r);
extern uint64_t sim_wall(int i);
extern uint64_t sim_members_clock(const Server *s);
extern uint64_t sim_wait_clock(const Server *s);
extern uint64_t sim_clock_peek(const Server *s);
extern void sim_witness(Server *s, uint64_t ts);
extern bool sim_connected(int a, int b);
extern void sim_link_clear(int a, int b);
extern void sim_link_clear_all(int a);
extern void sim_link_push(int from, int to, Msg *m);
extern void sim_entry_reset(Entry *e, bool used);
extern bool sim_seq_after(uint32_t a, uint32_t b);
extern void sim_horizon_tick(int i);
extern bool sim_merge_frame(int i, int from, const Reg *regs, int n, bool *seen);
extern void sim_local_write(int i, int k, int kind, int64_t ttl);
extern void sim_live_send(int i);
extern void sim_greet(int a, int b);
extern void sim_deliver(int from, int to);
extern void sim_drop_message(int from, int to, int c);

/* repair.c: rounds, flush, sweep */
extern void sim_round_begin(int a, int b);
extern void sim_on_summary(int b, int a, const Msg *m);
extern void sim_on_answer(int a, int b, const Msg *m);
extern void sim_round_end(int a, int b, bool completed, bool tainted, const Msg *m);
extern void sim_flush(int i, bool compact);
extern void sim_sweep(int i);

/* events.c: starts, crashes, restores, membership; applying an event */
extern void sim_start_server(int i, bool crashed);
extern void sim_init_world(void);
extern void sim_format_event(const Event *e, char *buf, size_t size);
extern void sim_apply(const Event *e);

/* sim.c: options, runs, replay and shrinking, main() */
typedef struct Options
{
	long		steps;
	long		quiesce_every;
	unsigned	features;
	unsigned	forced;			/* features every seed has */
	bool		old_rules;
	bool		shrink;
	bool		expect_violations;
	int			records;		/* R7: every server's budget, 0: drawn */
} Options;

extern Options sim_opt;
extern void sim_emit(int type, int a, int b, int c, int64_t d);

/* gen.c: the seed's cluster, random steps, quiescence */
extern void sim_gen_config(uint64_t seed);
extern void sim_gen_seed(uint64_t seed);
extern void sim_gen_step(void);
extern void sim_quiesce(void);
extern bool sim_live_equal(void);

/* check.c */
extern void check_reset(void);
extern void check_free(void);
extern uint32_t check_new_write(int server, int key, Reg *r);
extern void check_hold(int server, int key);
extern void check_dropped(int server, int key);
extern void check_offered(int server, const Reg *r);
extern void check_raised(int server);
extern void check_collapsed(int server, int leaf);
extern void check_answer(int puller, int peer, const Msg *m, const uint64_t *sent);
extern void check_durable(int server, bool rewound);
extern void check_lost(int server, const Reg *before, uint64_t before_R,
					   const MantisLeafBound *before_bound);
extern void check_revived(int server);
extern void check_started(int server);
extern void check_tick(void);
extern void check_step(void);
extern void check_quiescent(void);
extern bool check_counts(int p, int s);
extern void violation(ViolationKind kind, const char *fmt,...) __attribute__((format(printf, 2, 3)));

extern uint64_t sim_least_hole(Server *s);
extern bool sim_caught_up_with_all(Server *s);

#endif							/* MANTIS_SIM_H */
